// Prometheus metrics of confcenterd. Event metrics (RPCs, commits, fan-out, stream cut-offs)
// are counted where they happen through Metrics; state metrics (revision, tenants, keys,
// subscriptions, store size) are read when scraped, by a collector the server registers.
#ifndef CONFCENTER_SERVER_CORE_METRICS_H_
#define CONFCENTER_SERVER_CORE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace confcenter {

// Thread-safe. Every method is cheap (atomic increments or a short lock) and never blocks on
// I/O, so it may be called from the committer, the hub and reactors.
class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The registry every family lives in; the admin listener serializes it.
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // One finished RPC: `method` is the full gRPC name (/pkg.Service/Method); `code` the gRPC
  // status code name. Latency is observed for unary calls only (a stream's lifetime is not
  // a latency).
  void RpcFinished(const std::string& method, const std::string& code, bool unary,
                   absl::Duration latency);
  // One store commit of the committer: `writes` requests in the batch, `revisions` of them
  // changed something, `sync` the time the store took to write and sync it.
  void CommitDone(size_t writes, size_t revisions, absl::Duration sync, bool ok);
  // A write refused because the committer's queue was full.
  void WriteShed() { writes_shed_->Increment(); }
  // A write refused because its caller was over --write_rate_per_caller.
  void WriteThrottled() { writes_throttled_->Increment(); }
  // A refusal answered but not written to the audit log (its caller was over
  // refusal_audits_per_caller).
  void RefusalAuditDropped() { refusal_audits_dropped_->Increment(); }
  // One Publish: `lag` from the commit being durable to the last stream's message being
  // handed to its stream for writing; `events` events handed to streams in all.
  void FanoutDone(absl::Duration lag, int64_t events);
  // A stream ended because its queue was full.
  void SubscriberCutOff();
  // A resuming stream got a resync snapshot instead of a replay.
  void Resync();
  // A stream's queue reached `depth` messages, more than it ever had before.
  void QueueDepthRaised(size_t depth);
  // A stream ended; `high_water` is the most messages it ever had queued.
  void StreamEnded(size_t high_water);
  // One message written to a stream.
  void MessageWritten() { messages_written_->Increment(); }
  // The access policy was reloaded (`ok`), or a changed file failed to load and the previous
  // policy stays in force.
  void PolicyReloaded(bool ok) { (ok ? policy_reloads_ : policy_reload_failures_)->Increment(); }
  // The most messages any stream has had queued since start-up.
  size_t max_queue_depth() const { return max_queue_depth_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* rpc_requests_;
  prometheus::Family<prometheus::Histogram>* rpc_duration_;
  prometheus::Counter* commits_ok_;
  prometheus::Counter* commits_failed_;
  prometheus::Histogram* commit_batch_writes_;
  prometheus::Histogram* commit_sync_seconds_;
  prometheus::Counter* revisions_committed_;
  prometheus::Histogram* fanout_lag_seconds_;
  prometheus::Counter* events_delivered_;
  prometheus::Counter* messages_written_;
  prometheus::Counter* cutoffs_;
  prometheus::Counter* resyncs_;
  prometheus::Counter* policy_reloads_;
  prometheus::Counter* policy_reload_failures_;
  prometheus::Counter* writes_shed_;
  prometheus::Counter* writes_throttled_;
  prometheus::Counter* refusal_audits_dropped_;
  prometheus::Histogram* stream_high_water_;
  std::atomic<size_t> max_queue_depth_{0};
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_METRICS_H_
