// The group committer: one thread takes whatever write requests are waiting, plans them in
// order against the state (consecutive revisions), writes the batch and every attempt's audit
// record in one synced store commit, applies the batch to the state, tells the listener and
// then acknowledges the writers. Knows no write kind: each is a Write (write.h).
//
// On a shared store (several replicas commit to one etcd) it is also where the other replicas'
// commits are applied (ApplyCommitted, from the store's follow thread): applying and
// publishing are serialized, each revision is applied and published once, whichever thread
// learns of it first. A batch is cut into groups the store takes in one request
// (Store::Limits); a group another replica beat to the revision (ABORTED) goes back to the
// front of the queue and is planned again on the newer state, so nothing is lost or doubled.
#ifndef CONFCENTER_SERVER_CORE_COMMITTER_H_
#define CONFCENTER_SERVER_CORE_COMMITTER_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/caller_limits.h"
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

  // Applies and publishes `change_sets` committed to the shared store (by any replica), skipping
  // revisions already applied. A gap (a first new revision that is not the next one) is logged
  // and dropped: the store's contract rules it out. Thread-safe; must not be called with the
  // state lock held.
  void ApplyCommitted(const std::vector<storage::ChangeSet>& change_sets, absl::Time durable_at);
  // Replaces the whole state (the store reloaded it after falling behind a compaction) and tells
  // the listener, which resynchronizes its streams.
  void ReplaceState(storage::LoadedState loaded);

  // Calls `fn` with OK once the state has applied `revision` (at once if it has), or with
  // UNAVAILABLE naming both revisions once `deadline` passes first. `fn` runs on the thread
  // that applied the revision, on the expiry thread, or inline; it must not block or call
  // back into the committer.
  void WhenApplied(int64_t revision, absl::Time deadline, std::function<void(absl::Status)> fn);

 private:
  struct Pending {
    std::unique_ptr<Write> write;
    WriteContext context;
    int attempts = 0;  // plans dropped after a conflict with another replica
    absl::Time first_conflict = absl::InfinitePast();
  };
  // One write of a batch, planned.
  struct Planned;
  struct RevisionWaiter {
    int64_t revision;
    absl::Time deadline;
    std::function<void(absl::Status)> fn;
  };

  void Enqueue(Pending pending);
  // Puts writes back at the front of the queue, in order, to be planned again.
  void RequeueFront(std::vector<Pending> pendings);
  void Loop();
  // Takes the next batch off the queue; empty once stopping with nothing queued.
  std::vector<Pending> TakeBatch();
  void CommitBatch(std::vector<Pending>& batch);
  // Commits planned[begin, end) as one store request and answers its writes. False if the
  // batch stops there: every write from `begin` on was then answered or moved to `requeue`.
  bool CommitGroup(std::vector<Planned>& planned, size_t begin, size_t end,
                   std::vector<Pending>& requeue);
  // Applies (under apply_mu_) and publishes the change sets not applied yet.
  void ApplyAndPublish(const std::vector<storage::ChangeSet>& change_sets, absl::Time durable_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  // Waits (bounded) until the state reached the store's known head, so a plan is not doomed.
  void CatchUpWithStore();
  // Runs the waiters whose revision is applied, or whose deadline passed.
  void WakeWaiters();
  void ExpiryLoop();

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
  // --write_rate_per_caller (thread-safe itself).
  CallerRateLimiter write_limiter_;
  // refusal_audits_per_caller (thread-safe itself).
  CallerRateLimiter refusal_limiter_;
  // Store time per write of recent commits (nanoseconds, smoothed); 0 before the first.
  std::atomic<int64_t> per_write_nanos_{0};

  // Read by the committer thread under state_->mu (shared); set under it (exclusive).
  CommitListener* listener_ = nullptr;

  // Serializes applying and publishing between the committer and the store's follow thread.
  // Lock order: apply_mu_, then state_->mu.
  absl::Mutex apply_mu_;

  absl::Mutex waiters_mu_;
  std::vector<RevisionWaiter> waiters_ ABSL_GUARDED_BY(waiters_mu_);
  bool waiters_stopping_ ABSL_GUARDED_BY(waiters_mu_) = false;
  uint64_t waiters_generation_ ABSL_GUARDED_BY(waiters_mu_) = 0;  // bumped by each new waiter

  std::thread thread_;
  std::thread expiry_thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_COMMITTER_H_
