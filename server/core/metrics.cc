#include "server/core/metrics.h"

#include <algorithm>

namespace confcenter {
namespace {

using prometheus::Histogram;

// Latencies from 100 µs (a read from memory) to 10 s (a write stuck behind a slow disk).
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  rpc_requests_ = &prometheus::BuildCounter()
                       .Name("confcenter_rpc_requests_total")
                       .Help("RPCs finished, by full method name and gRPC status code.")
                       .Register(r);
  rpc_duration_ = &prometheus::BuildHistogram()
                       .Name("confcenter_rpc_duration_seconds")
                       .Help("Latency of unary RPCs from arrival to status, by method.")
                       .Register(r);
  auto& commits = prometheus::BuildCounter()
                      .Name("confcenter_commits_total")
                      .Help("Store commits of the committer, by result.")
                      .Register(r);
  commits_ok_ = &commits.Add({{"result", "ok"}});
  commits_failed_ = &commits.Add({{"result", "failed"}});
  commit_batch_writes_ =
      &prometheus::BuildHistogram()
           .Name("confcenter_commit_batch_size")
           .Help("Write requests per store commit (group commit of WAL syncs).")
           .Register(r)
           .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512});
  commit_sync_seconds_ = &prometheus::BuildHistogram()
                              .Name("confcenter_commit_sync_seconds")
                              .Help("Time one store commit took to write and sync the WAL.")
                              .Register(r)
                              .Add({}, LatencyBuckets());
  policy_reloads_ = &prometheus::BuildCounter()
                         .Name("confcenter_auth_policy_reloads_total")
                         .Help("Access policy reloads after its files changed.")
                         .Register(r)
                         .Add({});
  policy_reload_failures_ =
      &prometheus::BuildCounter()
           .Name("confcenter_auth_policy_reload_failures_total")
           .Help("Changed access policy files that did not load; the previous policy stays.")
           .Register(r)
           .Add({});
  writes_shed_ = &prometheus::BuildCounter()
                      .Name("confcenter_writes_shed_total")
                      .Help(
                          "Writes refused at once because the committer's queue was full "
                          "(--max_queued_writes).")
                      .Register(r)
                      .Add({});
  writes_throttled_ = &prometheus::BuildCounter()
                           .Name("confcenter_writes_throttled_total")
                           .Help(
                               "Writes refused because their caller was over its write rate "
                               "(--write_rate_per_caller).")
                           .Register(r)
                           .Add({});
  refusal_audits_dropped_ =
      &prometheus::BuildCounter()
           .Name("confcenter_refusal_audits_dropped_total")
           .Help(
               "Refused calls answered but not written to the audit log, their caller being "
               "over --refusal_audits_per_caller.")
           .Register(r)
           .Add({});
  revisions_committed_ = &prometheus::BuildCounter()
                              .Name("confcenter_revisions_committed_total")
                              .Help("Revisions committed (writes that changed something).")
                              .Register(r)
                              .Add({});
  fanout_lag_seconds_ =
      &prometheus::BuildHistogram()
           .Name("confcenter_fanout_lag_seconds")
           .Help(
               "From a commit being durable to the last subscribed stream's message being "
               "handed to gRPC for writing.")
           .Register(r)
           .Add({}, LatencyBuckets());
  events_delivered_ = &prometheus::BuildCounter()
                           .Name("confcenter_watch_events_delivered_total")
                           .Help("Change events handed to subscribed streams (one per stream).")
                           .Register(r)
                           .Add({});
  messages_written_ = &prometheus::BuildCounter()
                           .Name("confcenter_watch_messages_written_total")
                           .Help(
                               "Subscribe stream messages written (events, snapshots, "
                               "progress).")
                           .Register(r)
                           .Add({});
  cutoffs_ = &prometheus::BuildCounter()
                  .Name("confcenter_subscriber_cutoffs_total")
                  .Help(
                      "Streams ended with RESOURCE_EXHAUSTED because their queue was full "
                      "(slow subscribers; they resume from their last revision).")
                  .Register(r)
                  .Add({});
  resyncs_ = &prometheus::BuildCounter()
                  .Name("confcenter_resyncs_total")
                  .Help(
                      "Resumes answered with a full snapshot instead of a replay (the "
                      "revision was compacted or too far behind).")
                  .Register(r)
                  .Add({});
  stream_high_water_ =
      &prometheus::BuildHistogram()
           .Name("confcenter_subscription_queue_high_water_messages")
           .Help("Per ended stream, the most messages it ever had queued.")
           .Register(r)
           .Add({}, Histogram::BucketBoundaries{0, 1, 2, 4, 8, 16, 64, 256, 1024, 4096});
}

void Metrics::RpcFinished(const std::string& method, const std::string& code, bool unary,
                          absl::Duration latency) {
  rpc_requests_->Add({{"method", method}, {"code", code}}).Increment();
  if (unary) {
    rpc_duration_->Add({{"method", method}}, LatencyBuckets())
        .Observe(absl::ToDoubleSeconds(latency));
  }
}

void Metrics::CommitDone(size_t writes, size_t revisions, absl::Duration sync, bool ok) {
  (ok ? commits_ok_ : commits_failed_)->Increment();
  commit_batch_writes_->Observe(static_cast<double>(writes));
  commit_sync_seconds_->Observe(absl::ToDoubleSeconds(sync));
  if (ok) revisions_committed_->Increment(static_cast<double>(revisions));
}

void Metrics::FanoutDone(absl::Duration lag, int64_t events) {
  fanout_lag_seconds_->Observe(absl::ToDoubleSeconds(lag));
  events_delivered_->Increment(static_cast<double>(events));
}

void Metrics::SubscriberCutOff() { cutoffs_->Increment(); }

void Metrics::Resync() { resyncs_->Increment(); }

void Metrics::QueueDepthRaised(size_t depth) {
  size_t seen = max_queue_depth_.load(std::memory_order_relaxed);
  while (depth > seen && !max_queue_depth_.compare_exchange_weak(seen, depth)) {
  }
}

void Metrics::StreamEnded(size_t high_water) {
  stream_high_water_->Observe(static_cast<double>(high_water));
}

}  // namespace confcenter
