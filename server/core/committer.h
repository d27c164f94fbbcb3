// The group committer: one thread takes whatever write requests are waiting, plans them in
// order against the state (consecutive revisions), writes the batch and every attempt's audit
// record in one synced store commit, applies the batch to the state, tells the listener and
// then acknowledges the writers. Knows no write kind: each is a Write (write.h).
#ifndef CONFCENTER_SERVER_CORE_COMMITTER_H_
#define CONFCENTER_SERVER_CORE_COMMITTER_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/commit_listener.h"
#include "server/core/config_state.h"
#include "server/core/core_options.h"
#include "server/core/metrics.h"
#include "server/core/write.h"
#include "storage/store.h"

namespace confcenter {

// The state and its lock, shared by the committer (the only writer) and the readers.
struct GuardedState {
  mutable absl::Mutex mu;
  ConfigState state ABSL_GUARDED_BY(mu);
};

// Thread-safe.
class Committer {
 public:
  // `store`, `state`, `clock` and `metrics` must outlive the committer. Starts its thread.
  Committer(storage::Store* store, GuardedState* state, const CoreOptions& options, Clock* clock,
            Metrics* metrics);
  // Commits the writes already queued, then stops.
  ~Committer();

  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Validates `write` and queues it; an invalid one is queued as rejected (audited, then
  // failed). Never blocks on I/O. After the committer stopped, fails it with UNAVAILABLE.
  void Submit(std::unique_ptr<Write> write, WriteContext context);

  // Who hears of every committed batch (null: nobody). Waits for a batch being published to
  // the previous listener, so after it returns the previous one is never called again.
  void SetListener(CommitListener* listener);

  // Waits until no write is queued or being committed, or `timeout` passes; false on timeout.
  bool WaitForDrained(absl::Duration timeout);
  // Write requests waiting (not counting the batch being committed).
  size_t queued() const;

  // Runs `fn` with the current state under the reader lock. Valid as long as the committer.
  const ReadStateFn& read_state() const { return read_state_; }

 private:
  struct Pending {
    std::unique_ptr<Write> write;
    WriteContext context;
  };

  void Enqueue(Pending pending);
  void Loop();
  // Takes the next batch off the queue; empty once stopping with nothing queued.
  std::vector<Pending> TakeBatch();
  void CommitBatch(std::vector<Pending>& batch);

  // Const after construction.
  storage::Store* const store_;
  GuardedState* const state_;
  const CoreOptions options_;
  Clock* const clock_;
  Metrics* const metrics_;
  const ReadStateFn read_state_;

  // Lock order: queue_mu_ and state_->mu are never held together.
  mutable absl::Mutex queue_mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;  // a taken batch is not done yet

  // Read by the committer thread under state_->mu (shared); set under it (exclusive).
  CommitListener* listener_ = nullptr;

  std::thread thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_COMMITTER_H_
