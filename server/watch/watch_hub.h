// The watch hub: turns committed change sets into change events of resolved views and fans
// them out to subscribed streams; replays the change log for resuming streams; sends
// progress; compacts the change log.
//
// Events are computed once per subscribed tenant (not per stream) and serialized once per
// group of streams with the same service filter; the bytes are shared by every stream of the
// group. Streams are indexed by every tenant of their chain, so a write to integration visits
// only the tenants that inherit from it.
#ifndef CONFCENTER_SERVER_WATCH_WATCH_HUB_H_
#define CONFCENTER_SERVER_WATCH_WATCH_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/caller_limits.h"
#include "server/core/clock.h"
#include "server/core/commit_listener.h"
#include "server/core/config_state.h"
#include "server/core/gray.h"
#include "server/core/log_burst.h"
#include "server/core/metrics.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// Where the hub sends one stream's messages; implemented by the gRPC reactor. The hub calls
// it with its own lock held, so implementations must not block and must not call the hub.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Queues one serialized confcenter.v1.SubscribeResponse. Returns false if the stream's
  // queue is full; the hub then ends the stream.
  virtual bool Send(std::shared_ptr<const std::string> message) = 0;
  // Ends the stream with `status` once the message being written (if any) is out; queued
  // messages are dropped. Called at most once.
  virtual void End(const absl::Status& status) = 0;
};

// Told when the hub begins and ends a burst of Sends on the calling thread (one publish, one
// progress tick), so that sinks may hold their writes until the burst is over and then write
// what they got at once: a stream carrying many views then gets one write, not one per view.
class SendBurstListener {
 public:
  virtual ~SendBurstListener() = default;
  virtual void BurstBegins() = 0;
  virtual void BurstEnds() = 0;
};

struct WatchOptions {
  // Messages one stream may have queued; when full the stream is ended with
  // RESOURCE_EXHAUSTED. Default 1024. Also bounds a replay: a resume that needs more
  // messages than this gets a resync snapshot instead.
  size_t max_queued_messages = 1024;
  // How far back a resume is replayed from the change log; an older start_revision gets a
  // resync snapshot instead. Bounds the memory of a replay. Default 100,000 revisions.
  int64_t max_replay_revisions = 100'000;
  // On a shared store (several replicas): how long a resume from a revision this replica has
  // not applied yet (the client got it from another replica) waits for it before it gets a
  // resync snapshot. Default 5 s.
  absl::Duration max_resume_wait = absl::Seconds(5);
  // Entries per snapshot message. Default 1000.
  size_t snapshot_chunk_entries = 1000;
  // How often every stream gets a PROGRESS message. Default 10 s; zero disables the ticker.
  absl::Duration progress_interval = absl::Seconds(10);
  // Change-log retention: a change set is compacted once it is more than this many
  // revisions behind the head AND older than log_retention_age. Default 1,000,000.
  int64_t log_retention_revisions = 1'000'000;
  // See log_retention_revisions. Default 7 days.
  absl::Duration log_retention_age = absl::Hours(24 * 7);
  // Most open streams; one more is refused with RESOURCE_EXHAUSTED. Default 100,000.
  size_t max_streams = 100'000;
  // Most open streams (views) of one caller (SubscribeCommand::caller), and on one tenant;
  // 0 = no cap. One more is refused with RESOURCE_EXHAUSTED naming the cap.
  size_t max_streams_per_caller = 0;
  size_t max_streams_per_tenant = 0;
  // New streams per second of one caller, with a burst; more are refused with
  // RESOURCE_EXHAUSTED and retry advice. Default unlimited.
  RateLimit stream_rate_per_caller;
  // Where fan-out, cut-offs and resyncs are counted; not owned. Null: the hub keeps its own.
  Metrics* metrics = nullptr;
  // Cut-offs of one tenant's subscribers within this long are logged as one line (LogBurst;
  // each is still counted in metrics). Zero: a line each. Default 1 s.
  absl::Duration log_burst_window = absl::Seconds(1);
};

struct SubscribeCommand {
  std::string tenant;
  std::vector<std::string> services;  // empty = all
  std::optional<int64_t> start_revision;
  // The store epoch start_revision belongs to; another than the state's gets a resync
  // snapshot. Empty: the current one.
  std::string epoch = {};
  // Without a start revision: the snapshot reflects at least this revision (waited for up to
  // max_resume_wait, else the stream ends UNAVAILABLE). 0 = any.
  int64_t min_revision = 0;
  // Whom per-caller caps and rates count the stream against (Gatekeeper::CallerOf); empty =
  // not counted.
  std::string caller = {};
  // The instance the stream is (InstanceInfo on Subscribe): while the tenant has a gray
  // release whose audience holds it, the stream follows the gray view (server/core/gray.h).
  std::optional<InstanceIdentity> instance = {};
};

// Thread-safe.
class WatchHub : public CommitListener {
 public:
  // Runs `fn` with the config state under a reader lock (the caller's lock order: state
  // first, then the hub).
  using WithState = std::function<void(const std::function<void(const ConfigState&)>& fn)>;

  // `store` (for replays and compaction) must outlive the hub. Starts the catch-up worker and,
  // unless progress_interval is zero, the ticker.
  WatchHub(storage::Store* store, WithState with_state, const WatchOptions& options, Clock* clock);
  // Ends every stream with UNAVAILABLE and stops the threads.
  ~WatchHub();

  // Starts a stream for `command`. Validates names; NOT_FOUND if the tenant does not exist.
  // On success the stream is registered under the returned id: without a start revision its
  // snapshot is already queued on `sink`; with one, the replay is queued by the catch-up
  // worker shortly. `sink` must stay valid until Unsubscribe(id) returns.
  absl::StatusOr<uint64_t> Subscribe(const SubscribeCommand& command, WatchSink* sink);
  // Forgets the stream; after this returns the hub never touches its sink again.
  void Unsubscribe(uint64_t id);
  // Tells `listener` (null: nobody) about bursts of Sends from now on. Set once, before
  // streams subscribe; `listener` must outlive the hub.
  void SetSendBurstListener(SendBurstListener* listener);

  // Sends the events of `change_sets` (just applied, in order; `state` is the state after the
  // last of them, read-locked by the caller) to the streams they concern. `durable_at` is
  // when the commit became durable; the fan-out lag is measured from it.
  void Publish(const std::vector<storage::ChangeSet>& change_sets, const ConfigState& state,
               absl::Time durable_at);
  // CommitListener: publishes what the core committed.
  void Committed(const std::vector<storage::ChangeSet>& change_sets, const ConfigState& state,
                 absl::Time durable_at) override {
    Publish(change_sets, state, durable_at);
  }

  // CommitListener: the state was replaced by a reload from a shared store; every live stream
  // starts again from a snapshot of the new state (resync), never from a silent gap.
  void Reloaded(const ConfigState& state) override;

  // Where a stream stands, for the instance table (server/watch/instance_registry.h).
  struct StreamPosition {
    bool live = false;                 // its snapshot or replay is done
    int64_t last_change_revision = 0;  // the last revision whose change its view was sent
    int64_t published_revision = 0;    // the hub's: every stream has what concerns it to here
  };
  // Nullopt once the stream is gone.
  std::optional<StreamPosition> Position(uint64_t id) const;
  // The last revision published to the streams.
  int64_t published_revision() const;
  // Called with the revision after every publish, outside the hub's lock (null: nobody). Set
  // once, before streams subscribe; what it calls must outlive the hub.
  void SetPublishListener(std::function<void(int64_t)> listener);

  // Open streams per subscribed tenant.
  std::vector<std::pair<std::string, int64_t>> SubscribersPerTenant() const;

  // Sends every live stream a PROGRESS message with the last published revision. The ticker
  // calls it every progress_interval; tests may call it directly.
  void SendProgress();

  // Compacts the change log as the retention options say. The ticker calls it; tests may too.
  absl::Status CompactLog();

  // Ends every stream with UNAVAILABLE (the server is stopping) and refuses new ones.
  void Shutdown();

 private:
  struct Stream;
  struct Topic;
  struct TenantWatch;
  struct PendingResume;

  // Publish without telling the publish listener.
  void PublishToStreams(const std::vector<storage::ChangeSet>& change_sets,
                        const ConfigState& state, absl::Time durable_at);
  void CatchUpLoop();
  // Moves the deferred resumes whose revision is published (or whose wait ran out) to the
  // pending resumes.
  void PromoteDeferred(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TickerLoop();
  // Replays (or resyncs) the pending resumes `ids` and makes them live.
  void CatchUp(std::vector<uint64_t> ids);
  void RegisterLive(Stream* stream, const ConfigState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the stream to the watch of its view tenant (created if new).
  void Watch(Stream* stream, const ConfigState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the stream from its watch (the watch goes with its last stream).
  void Unwatch(Stream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A gray release of `tenant` starts with `gray` (its gray tenant's record): every live
  // stream of the tenant moves to the gray tenant's watch if the audience holds it, back to
  // the tenant's otherwise. Called before the revision's events are computed, so each moved
  // stream gets the events of its new view.
  void RetargetGray(const std::string& tenant, const storage::TenantRecord& gray,
                    const ConfigState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells a resuming stream it has everything up to `revision` (a PROGRESS message).
  bool SendCaughtUp(Stream* stream, int64_t revision, const std::string& epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReindexChains(const ConfigState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the snapshot of the stream's view at the state's revision; false if it overflowed.
  bool SendSnapshot(Stream* stream, const ConfigState& state, bool resync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `message` to `stream`, ending the stream if its queue is full.
  bool SendTo(Stream* stream, const std::shared_ptr<const std::string>& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the stream with `status` (once) and detaches it.
  void EndStream(Stream* stream, const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The per-caller and per-tenant caps and the caller's stream rate, for a new stream.
  absl::Status AdmitCounted(const SubscribeCommand& command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a removed stream out of the per-caller and per-tenant counts.
  void Uncount(const Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the stream from its topic (and its tenant's watch if it was the last one).
  void Detach(Stream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Detaches the streams EndStream ended; called when no topic or watch is being iterated.
  void DetachEnded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Const after construction.
  storage::Store* const store_;
  const WithState with_state_;
  const WatchOptions options_;
  Clock* const clock_;
  std::unique_ptr<Metrics> owned_metrics_;  // when options.metrics is null
  Metrics* const metrics_;
  std::atomic<SendBurstListener*> burst_listener_{nullptr};
  std::function<void(int64_t)> publish_listener_;  // set before streams subscribe

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t published_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // The state's epoch, for PROGRESS messages (set by Subscribe and Reloaded).
  std::string epoch_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<TenantWatch>> watches_ ABSL_GUARDED_BY(mu_);
  // tenant -> the watches whose current chain includes it.
  absl::flat_hash_map<std::string, absl::flat_hash_set<TenantWatch*>> by_chain_member_
      ABSL_GUARDED_BY(mu_);
  // Open streams per caller and per subscribed tenant, for the caps (only counted keys).
  absl::flat_hash_map<std::string, size_t> streams_of_caller_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> streams_of_tenant_ ABSL_GUARDED_BY(mu_);
  CallerRateLimiter stream_limiter_;  // thread-safe itself
  LogBurst log_burst_;                // thread-safe itself
  std::vector<uint64_t> pending_resumes_ ABSL_GUARDED_BY(mu_);
  // Resumes from a revision ahead of this replica (shared store), until it is published or
  // the deadline passes; then they become pending resumes.
  std::vector<std::pair<uint64_t, absl::Time>> deferred_resumes_ ABSL_GUARDED_BY(mu_);
  bool deferred_added_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<uint64_t> ended_ ABSL_GUARDED_BY(mu_);  // ended, not yet detached
  // For every tenant ever deregistered (since start-up), the parent it had: streams of a
  // deregistered tenant follow that parent's view.
  absl::flat_hash_map<std::string, std::string> deleted_parents_ ABSL_GUARDED_BY(mu_);

  std::thread catch_up_thread_;
  std::thread ticker_thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_WATCH_WATCH_HUB_H_
