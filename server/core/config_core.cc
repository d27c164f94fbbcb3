#include "server/core/config_core.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/synchronization/notification.h"
#include "common/names.h"
#include "server/core/writes/rejected.h"
#include "spdlog/spdlog.h"

namespace confcenter {

using storage::Change;
using storage::ChangeSet;
using storage::TenantRecord;

namespace {

// Fills in `owned` as the metrics when the options name none.
CoreOptions WithMetrics(CoreOptions options, Metrics* owned) {
  if (options.metrics == nullptr) options.metrics = owned;
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigCore>> ConfigCore::Open(std::unique_ptr<storage::Store> store,
                                                             const CoreOptions& options,
                                                             Clock* clock) {
  absl::StatusOr<storage::LoadedState> loaded = store->LoadAll();
  if (!loaded.ok()) return loaded.status();
  std::unique_ptr<ConfigCore> core(new ConfigCore(std::move(store), options, clock));
  bool fresh = loaded->revision == 0 && loaded->tenants.empty();
  {
    absl::MutexLock lock(&core->state_.mu);
    core->state_.state.Load(*std::move(loaded));
  }
  if (fresh) {
    // On a shared store another replica may create it at the same time: the loser's commit is
    // ABORTED and it loads what the winner wrote.
    ChangeSet created;
    created.set_revision(1);
    created.set_commit_time_micros(absl::ToUnixMicros(clock->Now()));
    TenantRecord record;
    record.set_name(std::string(kIntegrationTenant));
    record.set_create_revision(1);
    record.set_mod_revision(1);
    AddTenantPut(created, std::move(record), nullptr);
    absl::Status st = core->store_->Commit({created});
    if (st.code() == absl::StatusCode::kAborted && core->store_->shared()) {
      absl::StatusOr<storage::LoadedState> reloaded = core->store_->LoadAll();
      if (!reloaded.ok()) return reloaded.status();
      absl::MutexLock lock(&core->state_.mu);
      core->state_.state.Load(*std::move(reloaded));
    } else if (!st.ok()) {
      return st;
    } else {
      absl::MutexLock lock(&core->state_.mu);
      core->state_.state.Apply(created);
    }
  }
  if (absl::Status s = core->RecountHistoryBytes(); !s.ok()) return s;
  ConfigCore* c = core.get();
  core->committer_ = std::make_unique<Committer>(c->store_.get(), &c->state_, c->options_, clock,
                                                 c->options_.metrics);
  if (core->store_->shared()) {
    {
      absl::MutexLock lock(&core->follow_mu_);
      core->following_ = true;
    }
    if (absl::Status st = core->store_->Follow(c); !st.ok()) return st;
  }
  if (options.reclaim_interval > absl::ZeroDuration()) {
    core->reclaimer_ = std::thread([c] { c->ReclaimLoop(); });
  }
  return core;
}

ConfigCore::ConfigCore(std::unique_ptr<storage::Store> store, const CoreOptions& options,
                       Clock* clock)
    : owned_metrics_(options.metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      options_(WithMetrics(options, owned_metrics_.get())),
      clock_(clock),
      store_(std::move(store)) {}

ConfigCore::~ConfigCore() {
  {
    absl::MutexLock lock(&reclaim_mu_);
    stopping_ = true;
  }
  if (reclaimer_.joinable()) reclaimer_.join();
  {
    // Waits for a follow callback in progress; later ones do nothing (the store, destroyed
    // last, stops its follow thread).
    absl::MutexLock lock(&follow_mu_);
    following_ = false;
  }
  committer_.reset();  // finishes the queued writes
}

void ConfigCore::Committed(std::vector<ChangeSet> change_sets, absl::Time durable_at) {
  absl::ReaderMutexLock lock(&follow_mu_);
  if (following_) committer_->ApplyCommitted(change_sets, durable_at);
}

int64_t ConfigCore::AppliedRevision() const {
  absl::ReaderMutexLock lock(&state_.mu);
  return state_.state.revision();
}

void ConfigCore::Reloaded(storage::LoadedState state) {
  absl::ReaderMutexLock lock(&follow_mu_);
  if (following_) committer_->ReplaceState(std::move(state));
}

void ConfigCore::WhenApplied(int64_t revision, absl::Time deadline,
                             std::function<void(absl::Status)> fn) {
  committer_->WhenApplied(revision, std::min(deadline, absl::Now() + options_.max_revision_wait),
                          std::move(fn));
}

void ConfigCore::SetCommitListener(CommitListener* listener) { committer_->SetListener(listener); }

bool ConfigCore::WaitForWritesDrained(absl::Duration timeout) {
  return committer_->WaitForDrained(timeout);
}

size_t ConfigCore::queued_writes() const { return committer_->queued(); }

int64_t ConfigCore::revision() const {
  absl::ReaderMutexLock lock(&state_.mu);
  return state_.state.revision();
}

void ConfigCore::ReadState(const std::function<void(const ConfigState&)>& fn) const {
  absl::ReaderMutexLock lock(&state_.mu);
  fn(state_.state);
}

// ---------------------------------------------------------------------------------------------
// Writes

void ConfigCore::Submit(std::unique_ptr<Write> write, WriteContext context) {
  committer_->Submit(std::move(write), std::move(context));
}

void ConfigCore::Txn(std::vector<WriteOp> ops, bool single, TxnDone done, WriteContext context) {
  Submit(MakeTxnWrite(std::move(ops), single, std::move(done)), std::move(context));
}

void ConfigCore::Register(RegisterCommand command, RegisterDone done, WriteContext context) {
  Submit(MakeRegisterWrite(std::move(command), std::move(done)), std::move(context));
}

void ConfigCore::Deregister(DeregisterCommand command, DeregisterDone done, WriteContext context) {
  Submit(MakeDeregisterWrite(std::move(command), std::move(done)), std::move(context));
}

void ConfigCore::Touch(std::string tenant, TouchDone done, WriteContext context) {
  Submit(MakeTouchWrite(std::move(tenant), std::move(done)), std::move(context));
}

void ConfigCore::Rollback(RollbackCommand command, RollbackDone done, WriteContext context) {
  Submit(MakeRollbackWrite(std::move(command), std::move(done)), std::move(context));
}

void ConfigCore::RejectWrite(WriteContext context, AuditTargets targets, absl::Status status,
                             std::function<void(const absl::Status&)> done) {
  context.refusal_record = true;  // limited by refusal_audits_per_caller, not the write rate
  Submit(MakeRejectedWrite(std::move(status), std::move(targets), std::move(done)),
         std::move(context));
}

void ConfigCore::AuditRead(WriteContext context, AuditTargets targets) {
  context.caller.clear();  // nor does the record of a read
  Submit(MakeRejectedWrite(absl::OkStatus(), std::move(targets), nullptr), std::move(context));
}

absl::Status ConfigCore::RecountHistoryBytes() {
  const absl::Time start = absl::Now();
  int64_t at = 0;
  std::vector<std::string> tenants;
  absl::flat_hash_map<std::string, int64_t> added_at_count;
  {
    absl::ReaderMutexLock lock(&state_.mu);
    at = state_.state.revision();
    for (const auto& [name, tenant] : state_.state.tenants()) {
      tenants.push_back(name);
      added_at_count[name] = tenant.history_bytes_added;
    }
  }
  absl::flat_hash_map<std::string, int64_t> counted;
  int64_t total = 0;
  for (const std::string& tenant : tenants) {
    int64_t& bytes = counted[tenant];
    absl::Status s = store_->ReadHistory(
        {tenant, "", "", ""}, {}, 0,
        [&](const storage::EntryKey& key, const storage::HistoryRecord& version) {
          if (version.revision() <= at) {  // later ones are in history_bytes_added
            bytes +=
                EntryBytes(key.service, key.key, version.deleted() ? nullptr : &version.entry());
          }
          return true;
        });
    if (!s.ok()) return s;
    total += bytes;
  }
  {
    absl::MutexLock lock(&state_.mu);
    state_.state.SetHistoryBytes(counted, added_at_count);
  }
  spdlog::debug("counted {} bytes of history of {} tenants in {}", total, tenants.size(),
                absl::FormatDuration(absl::Now() - start));
  return absl::OkStatus();
}

std::vector<std::string> ConfigCore::ReclaimExpired() {
  // On a shared store one replica reclaims, so the others do not race it to the same removals.
  if (!store_->MaintenanceLeader()) return {};
  const absl::Time now = clock_->Now();
  const int64_t now_micros = absl::ToUnixMicros(now);
  std::vector<std::pair<size_t, std::string>> expired;  // (chain length, tenant)
  {
    absl::ReaderMutexLock lock(&state_.mu);
    const ConfigState& state = state_.state;
    for (const auto& [name, tenant] : state.tenants()) {
      int64_t expires = tenant.record.expire_time_micros();
      if (expires > 0 && expires <= now_micros) {
        expired.emplace_back(
            state.Chain("tenant", name).value_or(std::vector<std::string>{}).size(), name);
      }
    }
  }
  // Deepest first, so a parent that expired with its children goes in the same pass.
  std::sort(expired.begin(), expired.end(), std::greater<>());
  std::vector<std::string> removed;
  for (const auto& [depth, tenant] : expired) {
    DeregisterCommand command;
    command.tenant = tenant;
    command.all = true;
    command.only_if_expired_at = now;
    absl::Notification finished;
    absl::StatusOr<DeregisterResult> result;
    WriteContext context;
    context.rpc = "TenantService.Deregister";
    context.user = "confcenterd (TTL expired)";
    Deregister(
        std::move(command),
        [&](absl::StatusOr<DeregisterResult> r) {
          result = std::move(r);
          finished.Notify();
        },
        std::move(context));
    finished.WaitForNotification();
    if (!result.ok()) {
      spdlog::warn("tenant {} expired but was not reclaimed: {}", tenant,
                   result.status().ToString());
    } else if (result->tenant_removed) {
      spdlog::info("reclaimed expired tenant {} at revision {} ({} services, {} keys)", tenant,
                   result->revision, result->removed_services.size(), result->removed_keys);
      removed.push_back(tenant);
    }
  }
  return removed;
}

void ConfigCore::ReclaimLoop() {
  while (true) {
    {
      absl::MutexLock lock(&reclaim_mu_);
      reclaim_mu_.AwaitWithTimeout(absl::Condition(
                                       +[](ConfigCore* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                            c->reclaim_mu_) { return c->stopping_; },
                                       this),
                                   options_.reclaim_interval);
      if (stopping_) return;
    }
    ReclaimExpired();
  }
}

// ---------------------------------------------------------------------------------------------
// Reads

absl::StatusOr<EntryView> ConfigCore::Get(const std::string& tenant, const std::string& service,
                                          const std::string& key) const {
  absl::ReaderMutexLock lock(&state_.mu);
  return ReadEntry(state_.state, tenant, service, key);
}

absl::StatusOr<ListResult> ConfigCore::List(const std::string& tenant, const std::string& service,
                                            const std::string& prefix, int page_size,
                                            const std::string& page_token) const {
  absl::ReaderMutexLock lock(&state_.mu);
  return ListEntries(state_.state, tenant, service, prefix, page_size, page_token);
}

absl::StatusOr<ResolveResult> ConfigCore::Resolve(const std::string& tenant,
                                                  const std::vector<std::string>& services) const {
  absl::ReaderMutexLock lock(&state_.mu);
  return ResolveView(state_.state, tenant, services);
}

absl::StatusOr<TenantInfo> ConfigCore::GetTenant(const std::string& tenant,
                                                 int64_t* revision) const {
  absl::ReaderMutexLock lock(&state_.mu);
  absl::StatusOr<TenantInfo> info = ReadTenant(state_.state, tenant);
  if (info.ok()) *revision = state_.state.revision();
  return info;
}

absl::StatusOr<DependenciesResult> ConfigCore::ResolveDependencies(
    const std::string& tenant, const std::string& service) const {
  absl::ReaderMutexLock lock(&state_.mu);
  return ReadDependencies(state_.state, tenant, service);
}

absl::StatusOr<ListTenantsResult> ConfigCore::ListTenants(int page_size,
                                                          const std::string& page_token) const {
  absl::ReaderMutexLock lock(&state_.mu);
  return ListTenantPage(state_.state, page_size, page_token);
}

}  // namespace confcenter
