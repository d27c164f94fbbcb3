#include "server/core/committer.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/retry_advice.h"
#include "server/core/writes/rejected.h"
#include "spdlog/spdlog.h"

namespace confcenter {
namespace {

using storage::ChangeSet;

std::string RpcOf(const Write& write, const WriteContext& context) {
  return context.rpc.empty() ? std::string(write.default_rpc()) : context.rpc;
}

std::string UserOf(const WriteContext& context) {
  return context.user.empty() ? "anonymous" : context.user;
}

// Stamps author, message, origin and the release flag on the write's change set.
void Describe(const Write& write, const WriteContext& context, ChangeSet& change_set) {
  change_set.set_author(UserOf(context));
  change_set.set_message(context.message);
  change_set.set_origin(RpcOf(write, context));
  change_set.set_release(write.release());
}

// The audit record of the write, planned into `change_set` or rejected with `status`.
storage::AuditRecord Audit(const Write& write, const WriteContext& context,
                           const ChangeSet& change_set, const absl::Status& status,
                           int64_t now_micros) {
  storage::AuditRecord record;
  record.set_time_micros(now_micros);
  record.set_rpc(RpcOf(write, context));
  record.set_user(UserOf(context));
  record.set_peer(context.peer);
  AuditTargets targets = write.Targets();
  for (std::string& t : targets.tenants) record.add_tenants(std::move(t));
  for (std::string& s : targets.services) record.add_services(std::move(s));
  for (std::string& k : targets.keys) record.add_keys(std::move(k));
  record.set_detail(std::move(targets.detail));
  record.set_message(context.message);
  if (status.ok()) {
    if (change_set.changes_size() > 0) record.set_revision(change_set.revision());
  } else {
    record.set_error_code(static_cast<int32_t>(status.code()));
    record.set_error_message(std::string(status.message()));
  }
  return record;
}

}  // namespace

// One write of a batch, planned: its change set (if it changes anything), its audit record,
// and what to run once committed (or the error it was rejected with).
struct Committer::Planned {
  Pending pending;
  std::optional<ChangeSet> change_set;
  storage::AuditRecord audit;
  Completion completion;
  absl::Status rejected;
  bool skip_audit = false;  // its record is not written (see CommitBatch)
};

namespace {

// How long a write keeps being planned again while other replicas win the revisions it asks
// for. Optimistic commits are not fair: a replica whose round trip to the store is longer can
// lose many times in a row while others write, so the bound is time, not a count.
constexpr absl::Duration kMaxConflictTime = absl::Seconds(10);
// How long a plan waits for the state to catch up with what the shared store knows.
constexpr absl::Duration kCatchUpWait = absl::Seconds(5);

}  // namespace

Committer::Committer(storage::Store* store, GuardedState* state, const CoreOptions& options,
                     Clock* clock, Metrics* metrics)
    : store_(store),
      state_(state),
      options_(options),
      clock_(clock),
      metrics_(metrics),
      read_state_([state](const std::function<void(const ConfigState&)>& fn) {
        absl::ReaderMutexLock lock(&state->mu);
        fn(state->state);
      }),
      write_limiter_(options.write_rate_per_caller, clock),
      refusal_limiter_(options.refusal_audits_per_caller, clock) {
  thread_ = std::thread([this] { Loop(); });
  expiry_thread_ = std::thread([this] { ExpiryLoop(); });
}

Committer::~Committer() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&waiters_mu_);
    waiters_stopping_ = true;
  }
  if (expiry_thread_.joinable()) expiry_thread_.join();
  std::vector<RevisionWaiter> left;
  {
    absl::MutexLock lock(&waiters_mu_);
    left.swap(waiters_);
  }
  for (RevisionWaiter& w : left) w.fn(absl::UnavailableError("the server is shutting down"));
}

void Committer::Submit(std::unique_ptr<Write> write, WriteContext context) {
  size_t queued_now = 0;
  {
    absl::MutexLock lock(&queue_mu_);
    queued_now = queue_.size();
  }
  if (context.refusal_record) {
    if (!context.caller.empty() && refusal_limiter_.TryTake(context.caller).has_value()) {
      metrics_->RefusalAuditDropped();
      write->Fail(absl::OkStatus());  // answered with its refusal; only the record is dropped
      return;
    }
  } else if (!context.caller.empty()) {
    if (std::optional<absl::Duration> wait = write_limiter_.TryTake(context.caller)) {
      // Before validating or auditing, as a full queue: a flood costs only its refusals.
      metrics_->WriteThrottled();
      write->Fail(WithRetryAdvice(
          absl::ResourceExhaustedError(absl::StrCat(
              context.caller, " is over its write rate (--write_rate_per_caller=",
              options_.write_rate_per_caller.per_second, "/s, --write_burst_per_caller=",
              options_.write_rate_per_caller.burst, "); nothing was written")),
          *wait));
      return;
    }
  }
  if (static_cast<int64_t>(queued_now) >= options_.max_queued_writes) {
    // Shed before validating or auditing: a flood must not cost more than its refusals.
    metrics_->WriteShed();
    const absl::Duration per_write = absl::Nanoseconds(per_write_nanos_.load());
    const absl::Duration drain = per_write * static_cast<double>(queued_now);
    write->Fail(WithRetryAdvice(
        absl::ResourceExhaustedError(absl::StrCat(
            "the write queue is full: ", queued_now,
            " writes wait for the committer (--max_queued_writes); nothing was written")),
        std::clamp(drain, absl::Milliseconds(10), absl::Seconds(5))));
    return;
  }
  if (absl::Status s = write->Validate(options_, context); !s.ok()) {
    if (!context.caller.empty() && refusal_limiter_.TryTake(context.caller).has_value()) {
      // A caller sending bad writes in a flood: each is answered, not each recorded.
      metrics_->RefusalAuditDropped();
      write->Fail(s);
      return;
    }
    write = MakeRejectedWrite(std::move(write), std::move(s));
  }
  Enqueue({std::move(write), std::move(context)});
}

void Committer::SetListener(CommitListener* listener) {
  absl::MutexLock lock(&state_->mu);
  listener_ = listener;
}

void Committer::Enqueue(Pending pending) {
  {
    absl::MutexLock lock(&queue_mu_);
    if (!stopping_) {
      queue_.push_back(std::move(pending));
      return;
    }
  }
  pending.write->Fail(absl::UnavailableError("the server is shutting down"));
}

void Committer::RequeueFront(std::vector<Pending> pendings) {
  absl::MutexLock lock(&queue_mu_);
  for (auto it = pendings.rbegin(); it != pendings.rend(); ++it) {
    queue_.push_front(std::move(*it));
  }
}

bool Committer::WaitForDrained(absl::Duration timeout) {
  absl::MutexLock lock(&queue_mu_);
  return queue_mu_.AwaitWithTimeout(
      absl::Condition(
          +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->queue_mu_) {
            return c->queue_.empty() && !c->committing_;
          },
          this),
      timeout);
}

size_t Committer::queued() const {
  absl::MutexLock lock(&queue_mu_);
  return queue_.size();
}

std::vector<Committer::Pending> Committer::TakeBatch() {
  std::vector<Pending> batch;
  absl::MutexLock lock(&queue_mu_);
  committing_ = false;  // the previous batch, if any, is done
  queue_mu_.Await(absl::Condition(
      +[](Committer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->queue_mu_) {
        return !c->queue_.empty() || c->stopping_;
      },
      this));
  if (queue_.empty()) return batch;  // stopping, and every queued write is done
  committing_ = true;
  if (queue_.front().write->exclusive()) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  } else {
    while (!queue_.empty() && !queue_.front().write->exclusive() &&
           batch.size() < static_cast<size_t>(options_.max_commit_batch)) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  return batch;
}

void Committer::Loop() {
  while (true) {
    std::vector<Pending> batch = TakeBatch();
    if (batch.empty()) return;
    CommitBatch(batch);
  }
}

void Committer::CatchUpWithStore() {
  if (!store_->shared()) return;
  const int64_t head = store_->CurrentRevision();
  absl::MutexLock lock(&state_->mu);
  auto caught_up = [&]() ABSL_SHARED_LOCKS_REQUIRED(state_->mu) {
    return state_->state.revision() >= head;
  };
  if (!state_->mu.AwaitWithTimeout(absl::Condition(&caught_up), kCatchUpWait)) {
    spdlog::warn(
        "the state is at revision {} but the store knows revision {}; planning anyway (the "
        "commit fails if another replica holds the revisions)",
        state_->state.revision(), head);
  }
}

void Committer::CommitBatch(std::vector<Pending>& batch) {
  if (store_->shared()) {
    if (storage::StoreHealth health = store_->Health(); !health.serving) {
      // The store is out of reach: neither the writes nor their audit records can be written.
      const absl::Status down = absl::UnavailableError(
          absl::StrCat("this replica cannot reach its store (", health.reason,
                       "); nothing was written; retry, possibly on another replica"));
      metrics_->CommitDone(batch.size(), 0, absl::ZeroDuration(), false);
      for (Pending& pending : batch) pending.write->Fail(down);
      return;
    }
    CatchUpWithStore();
  }

  int64_t store_bytes = 0;
  if (options_.max_store_bytes > 0) {
    store_bytes = store_->Stats().stored_bytes();
  }
  const bool disk_full = store_->DiskFull();
  std::vector<Planned> planned;
  planned.reserve(batch.size());
  {
    absl::ReaderMutexLock lock(&state_->mu);
    Overlay overlay(state_->state);
    int64_t next = state_->state.revision() + 1;
    const absl::Time now = clock_->Now();
    const int64_t now_micros = absl::ToUnixMicros(now);
    for (Pending& pending : batch) {
      ChangeSet change_set;
      change_set.set_revision(next);
      change_set.set_commit_time_micros(now_micros);
      Describe(*pending.write, pending.context, change_set);
      absl::StatusOr<Completion> plan =
          pending.context.deadline <= absl::Now()
              ? absl::DeadlineExceededError(
                    "the client's deadline passed while the write waited for the committer; "
                    "nothing was written")
              : pending.write->Plan(PlanContext{state_->state, overlay, next, now, options_,
                                                read_state_, store_bytes, disk_full},
                                    change_set);
      Planned p;
      p.audit = Audit(*pending.write, pending.context, change_set, plan.status(), now_micros);
      // On a full disk the records of refusals and reads would only eat the space deletions
      // need: they are dropped (counted), the writes that free space keep theirs.
      p.skip_audit = disk_full && (!plan.ok() || change_set.changes_size() == 0);
      if (p.skip_audit) metrics_->RefusalAuditDropped();
      p.pending = std::move(pending);
      if (!plan.ok()) {
        p.rejected = plan.status();
      } else {
        p.completion = *std::move(plan);
        if (change_set.changes_size() > 0) {
          p.change_set = std::move(change_set);
          ++next;
        }
      }
      planned.push_back(std::move(p));
    }
  }

  // Cut the batch into groups the store takes in one request. A write too large for one
  // request alone is refused (audited as rejected), and the writes after it are planned again,
  // since their revisions assumed it.
  const storage::CommitLimits limits = store_->Limits();
  std::vector<Pending> requeue;
  size_t begin = 0;
  storage::CommitCost group;
  for (size_t i = 0; i <= planned.size(); ++i) {
    storage::CommitCost cost;
    if (i < planned.size()) {
      const Planned& p = planned[i];
      const storage::CommitCost audit_cost = store_->CostOf(p.audit);
      cost.ops = audit_cost.ops;
      cost.bytes = audit_cost.bytes;
      if (p.change_set) {
        const storage::CommitCost set_cost = store_->CostOf(*p.change_set);
        cost.ops += set_cost.ops;
        cost.bytes += set_cost.bytes;
      }
      if (group.ops + cost.ops <= limits.max_ops && group.bytes + cost.bytes <= limits.max_bytes) {
        group.ops += cost.ops;
        group.bytes += cost.bytes;
        continue;
      }
    }
    // planned[begin, i) is a group; planned[i] (if any) does not fit in it.
    if (i > begin && !CommitGroup(planned, begin, i, requeue)) break;
    if (i == planned.size()) break;
    if (cost.ops > limits.max_ops || cost.bytes > limits.max_bytes) {
      Planned& p = planned[i];
      const absl::Status too_large = absl::ResourceExhaustedError(
          absl::StrCat("this write needs ", cost.ops, " operations and ", cost.bytes,
                       " bytes in one store request; the store accepts ", limits.max_ops, " and ",
                       limits.max_bytes,
                       " (for etcd: its --max-txn-ops and --max-request-bytes, and confcenterd's "
                       "--etcd_max_txn_ops and --etcd_max_request_bytes); nothing was written"));
      requeue.push_back({MakeRejectedWrite(std::move(p.pending.write), too_large),
                         std::move(p.pending.context), p.pending.attempts,
                         p.pending.first_conflict});
      for (size_t j = i + 1; j < planned.size(); ++j) {
        requeue.push_back(std::move(planned[j].pending));
      }
      break;
    }
    begin = i;
    group = cost;
  }
  if (!requeue.empty()) RequeueFront(std::move(requeue));
}

bool Committer::CommitGroup(std::vector<Planned>& planned, size_t begin, size_t end,
                            std::vector<Pending>& requeue) {
  std::vector<ChangeSet> change_sets;
  std::vector<storage::AuditRecord> audit;
  for (size_t i = begin; i < end; ++i) {
    if (planned[i].change_set) change_sets.push_back(*planned[i].change_set);
    if (!planned[i].skip_audit) audit.push_back(planned[i].audit);
  }
  const absl::Time sync_start = absl::Now();
  absl::Status committed = store_->CommitWithAudit(change_sets, audit);
  const absl::Time durable_at = absl::Now();
  metrics_->CommitDone(end - begin, change_sets.size(), durable_at - sync_start, committed.ok());
  if (end > begin) {
    // What one write costs the committer now, smoothed: the retry advice of a full queue.
    const int64_t sample =
        absl::ToInt64Nanoseconds(durable_at - sync_start) / static_cast<int64_t>(end - begin);
    const int64_t old = per_write_nanos_.load();
    per_write_nanos_.store(old == 0 ? sample : (old * 7 + sample) / 8);
  }

  if (committed.ok()) {
    // Publish first: it only queues the events for the writer threads, while each ack is a
    // gRPC send on this thread (~0.1 ms alone, ~35 us each in a batch of 50): a batch's acks
    // would delay every event of it by milliseconds.
    {
      absl::MutexLock lock(&apply_mu_);
      ApplyAndPublish(change_sets, durable_at);
    }
    for (size_t i = begin; i < end; ++i) {
      Planned& p = planned[i];
      if (p.rejected.ok()) {
        p.completion(absl::OkStatus());
      } else {
        p.pending.write->Fail(p.rejected);
      }
    }
    WakeWaiters();
    return true;
  }

  if (committed.code() == absl::StatusCode::kAborted && store_->shared()) {
    // Another replica committed first; nothing of the group was written. Plan it again on the
    // newer state, unless it keeps losing.
    spdlog::info("commit of {} revisions lost to another replica, planning again: {}",
                 change_sets.size(), std::string(committed.message()));
    bool stopping = false;
    {
      absl::MutexLock lock(&queue_mu_);
      stopping = stopping_;
    }
    for (size_t i = begin; i < planned.size(); ++i) {  // later groups assumed its revisions
      Pending& pending = planned[i].pending;
      if (stopping) {
        pending.write->Fail(absl::UnavailableError(
            "another replica committed first and this one is shutting down; nothing was "
            "written; retry on another replica"));
        continue;
      }
      ++pending.attempts;
      if (pending.first_conflict == absl::InfinitePast()) pending.first_conflict = absl::Now();
      if (absl::Now() - pending.first_conflict > kMaxConflictTime) {
        pending.write->Fail(absl::AbortedError(
            absl::StrCat("other replicas' writes won the revision this write asked for ",
                         pending.attempts, " times over ", absl::FormatDuration(kMaxConflictTime),
                         "; nothing was written; retry")));
        continue;
      }
      requeue.push_back(std::move(pending));
    }
    return false;
  }

  spdlog::error("commit of {} revisions and {} audit records failed, nothing applied: {}",
                change_sets.size(), audit.size(), committed.ToString());
  committed = absl::Status(committed.code(),
                           absl::StrCat("the write was not applied: ", committed.message()));
  // The attempts still get their audit records (now all failed), if the store takes them.
  for (storage::AuditRecord& record : audit) {
    if (record.error_code() != 0) continue;  // rejected while planning: keeps its error
    record.clear_revision();
    record.set_error_code(static_cast<int32_t>(committed.code()));
    record.set_error_message(std::string(committed.message()));
  }
  if (absl::Status retry = store_->CommitWithAudit({}, audit); !retry.ok()) {
    spdlog::error("{} audit records lost with the failed commit: {}", audit.size(),
                  retry.ToString());
  }
  for (size_t i = begin; i < planned.size(); ++i) {
    Planned& p = planned[i];
    if (i >= end) {
      // Later groups assumed this one's revisions: they fail with it.
      p.pending.write->Fail(committed);
    } else if (p.rejected.ok()) {
      p.completion(committed);
    } else {
      p.pending.write->Fail(p.rejected);
    }
  }
  return false;
}

void Committer::ApplyAndPublish(const std::vector<ChangeSet>& change_sets, absl::Time durable_at) {
  // The sets applied here are a run [first, end): those before were applied by the other
  // thread, and a gap ends the run.
  size_t first = 0, end = 0;
  {
    absl::MutexLock lock(&state_->mu);
    const int64_t applied = state_->state.revision();
    while (first < change_sets.size() && change_sets[first].revision() <= applied) ++first;
    for (end = first; end < change_sets.size(); ++end) {
      const int64_t now_at = state_->state.revision();
      if (change_sets[end].revision() != now_at + 1) {
        spdlog::error("revision {} arrived while the state is at {}: dropped (a store bug)",
                      change_sets[end].revision(), now_at);
        break;
      }
      state_->state.Apply(change_sets[end]);
    }
  }
  if (first == end) return;
  absl::ReaderMutexLock lock(&state_->mu);
  if (listener_ == nullptr) return;
  if (first == 0 && end == change_sets.size()) {
    listener_->Committed(change_sets, state_->state, durable_at);  // the usual case: no copy
  } else {
    listener_->Committed(
        std::vector<ChangeSet>(change_sets.begin() + first, change_sets.begin() + end),
        state_->state, durable_at);
  }
}

void Committer::ApplyCommitted(const std::vector<ChangeSet>& change_sets, absl::Time durable_at) {
  {
    absl::MutexLock lock(&apply_mu_);
    ApplyAndPublish(change_sets, durable_at);
  }
  WakeWaiters();
}

void Committer::ReplaceState(storage::LoadedState loaded) {
  {
    absl::MutexLock apply(&apply_mu_);
    absl::MutexLock lock(&state_->mu);
    spdlog::warn("state replaced by a reload from the store at revision {} (was {})",
                 loaded.revision, state_->state.revision());
    state_->state.Load(std::move(loaded));
    if (listener_ != nullptr) listener_->Reloaded(state_->state);
  }
  WakeWaiters();
}

void Committer::WhenApplied(int64_t revision, absl::Time deadline,
                            std::function<void(absl::Status)> fn) {
  int64_t applied = 0;
  {
    absl::ReaderMutexLock lock(&state_->mu);
    applied = state_->state.revision();
  }
  if (applied >= revision) {
    fn(absl::OkStatus());
    return;
  }
  {
    absl::MutexLock lock(&waiters_mu_);
    if (!waiters_stopping_) {
      waiters_.push_back({revision, deadline, std::move(fn)});
      ++waiters_generation_;
      fn = nullptr;
    }
  }
  if (fn) {
    fn(absl::UnavailableError("the server is shutting down"));
    return;
  }
  WakeWaiters();  // the revision may have been applied since it was read
}

void Committer::WakeWaiters() {
  {
    absl::MutexLock lock(&waiters_mu_);
    if (waiters_.empty()) return;  // the usual case after a commit
  }
  int64_t applied = 0;
  {
    absl::ReaderMutexLock lock(&state_->mu);
    applied = state_->state.revision();
  }
  const absl::Time now = absl::Now();
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    absl::MutexLock lock(&waiters_mu_);
    auto keep = waiters_.begin();
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (it->revision <= applied) {
        ready.emplace_back(std::move(it->fn), absl::OkStatus());
      } else if (it->deadline <= now) {
        ready.emplace_back(std::move(it->fn),
                           absl::UnavailableError(absl::StrCat(
                               "this replica is at revision ", applied, ", behind the requested ",
                               it->revision, "; retry, or use another replica")));
      } else {
        if (keep != it) *keep = std::move(*it);
        ++keep;
      }
    }
    waiters_.erase(keep, waiters_.end());
  }
  for (auto& [fn, status] : ready) fn(status);
}

void Committer::ExpiryLoop() {
  while (true) {
    {
      absl::MutexLock lock(&waiters_mu_);
      absl::Time earliest = absl::InfiniteFuture();
      for (const RevisionWaiter& w : waiters_) earliest = std::min(earliest, w.deadline);
      const uint64_t generation = waiters_generation_;
      auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(waiters_mu_) {
        return waiters_stopping_ || waiters_generation_ != generation;
      };
      waiters_mu_.AwaitWithDeadline(absl::Condition(&changed), earliest);
      if (waiters_stopping_) return;
    }
    WakeWaiters();
  }
}

}  // namespace confcenter
