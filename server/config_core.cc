#include "server/config_core.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/names.h"
#include "server/rollback_plan.h"
#include "spdlog/spdlog.h"
#include "storage/key_codec.h"

namespace confcenter {

using storage::Change;
using storage::ChangeSet;
using storage::EntryRecord;
using storage::ServiceRecord;
using storage::TenantRecord;

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kMaxLabels = 64;
constexpr size_t kMaxLabelValue = 1024;
constexpr int32_t kContentTypeText = 1;
constexpr int32_t kMaxContentType = 4;

std::string OpField(bool single, size_t i, absl::string_view field) {
  return single ? std::string(field) : absl::StrCat("ops[", i, "].", field);
}

std::string DescribeKey(absl::string_view tenant, absl::string_view service, absl::string_view key) {
  return absl::StrCat("tenant ", QuoteForError(tenant), " service ", QuoteForError(service),
                      " key ", QuoteForError(key));
}

absl::Status ValidatePageSize(int page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", page_size, " is out of range; use 0 (default 100) to 1000"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DecodePageToken(const std::string& token) {
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(token, &decoded) || decoded.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: ", QuoteForError(token), " is not a next_page_token this server returned"));
  }
  return decoded;
}

bool SameMetadata(const ServiceRecord& record, const std::map<std::string, std::string>& metadata) {
  if (static_cast<size_t>(record.metadata_size()) != metadata.size()) return false;
  for (const auto& [k, v] : metadata) {
    auto it = record.metadata().find(k);
    if (it == record.metadata().end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

// A queued write: the command and whom to tell when it is done.
struct ConfigCore::PendingWrite {
  struct TxnWrite {
    std::vector<WriteOp> ops;
    bool single;
    TxnDone done;
  };
  struct RegisterWrite {
    RegisterCommand command;
    RegisterDone done;
  };
  struct DeregisterWrite {
    DeregisterCommand command;
    DeregisterDone done;
  };
  struct RollbackWrite {
    RollbackCommand command;
    RollbackDone done;
    std::shared_ptr<PendingWrite> txn;  // the planned writes, once planned
  };
  // A write rejected before planning: only audited, then failed with `status`.
  struct RejectedWrite {
    absl::Status status;
    AuditTargets targets;
    std::function<void(const absl::Status&)> done;
  };
  std::variant<TxnWrite, RegisterWrite, DeregisterWrite, RollbackWrite, RejectedWrite> write;
  WriteContext context;

  // Register and Deregister are committed in a batch of their own, so the entry overlay of a
  // batch never has to follow tenant changes.
  bool exclusive() const { return !std::holds_alternative<TxnWrite>(write); }

  void Fail(const absl::Status& status) {
    std::visit([&](auto& w) { w.done(status); }, write);
  }

  // History and audit (see below).
  std::string Rpc() const;
  AuditTargets Targets() const;
  // Stamps author, message, origin and the release flag on the write's change set.
  void Describe(ChangeSet& change_set) const;
  // The audit record of the write, planned into `change_set` or rejected with `status`.
  storage::AuditRecord Audit(const ChangeSet& change_set, const absl::Status& status,
                             int64_t now_micros) const;
};

// ---------------------------------------------------------------------------------------------
// History and audit of writes

std::string ConfigCore::PendingWrite::Rpc() const {
  if (!context.rpc.empty()) return context.rpc;
  if (const auto* txn = std::get_if<TxnWrite>(&write)) {
    return txn->single ? "ConfigService.Put" : "ConfigService.Txn";
  }
  if (std::holds_alternative<RegisterWrite>(write)) return "TenantService.Register";
  if (std::holds_alternative<DeregisterWrite>(write)) return "TenantService.Deregister";
  if (std::holds_alternative<RollbackWrite>(write)) return "HistoryService.Rollback";
  return "";
}

AuditTargets ConfigCore::PendingWrite::Targets() const {
  constexpr size_t kMaxKeys = 128;
  constexpr size_t kMaxName = 300;
  std::set<std::string> tenants, services;
  AuditTargets targets;
  auto cut = [](const std::string& name) { return name.substr(0, kMaxName); };
  auto add_key = [&](const std::string& t, const std::string& s, const std::string& k) {
    tenants.insert(cut(t));
    services.insert(cut(s));
    if (targets.keys.size() < kMaxKeys) targets.keys.push_back(cut(absl::StrCat(t, "/", s, "/", k)));
  };
  if (const auto* txn = std::get_if<TxnWrite>(&write)) {
    for (const WriteOp& op : txn->ops) add_key(op.tenant, op.service, op.key);
  } else if (const auto* reg = std::get_if<RegisterWrite>(&write)) {
    tenants.insert(cut(reg->command.tenant));
    for (const ServiceSpec& spec : reg->command.services) services.insert(cut(spec.name));
    if (!reg->command.parent.empty()) targets.detail = cut("parent=" + reg->command.parent);
    if (reg->command.root) targets.detail = "root";
  } else if (const auto* dereg = std::get_if<DeregisterWrite>(&write)) {
    tenants.insert(cut(dereg->command.tenant));
    for (const std::string& service : dereg->command.services) services.insert(cut(service));
    if (dereg->command.all) targets.detail = "all";
  } else if (const auto* rollback = std::get_if<RollbackWrite>(&write)) {
    const storage::HistoryScope& scope = rollback->command.scope;
    tenants.insert(cut(scope.tenant));
    if (!scope.service.empty()) services.insert(cut(scope.service));
    if (!scope.key.empty()) add_key(scope.tenant, scope.service, scope.key);
    targets.detail = absl::StrCat("to_revision=", rollback->command.to_revision);
  } else if (const auto* rejected = std::get_if<RejectedWrite>(&write)) {
    return rejected->targets;
  }
  targets.tenants.assign(tenants.begin(), tenants.end());
  targets.services.assign(services.begin(), services.end());
  return targets;
}

void ConfigCore::PendingWrite::Describe(ChangeSet& change_set) const {
  change_set.set_author(context.user.empty() ? "anonymous" : context.user);
  change_set.set_message(context.message);
  change_set.set_origin(Rpc());
  const auto* txn = std::get_if<TxnWrite>(&write);
  change_set.set_release((txn != nullptr && !txn->single) ||
                         std::holds_alternative<RollbackWrite>(write));
}

storage::AuditRecord ConfigCore::PendingWrite::Audit(const ChangeSet& change_set,
                                                     const absl::Status& status,
                                                     int64_t now_micros) const {
  storage::AuditRecord record;
  record.set_time_micros(now_micros);
  record.set_rpc(Rpc());
  record.set_user(context.user.empty() ? "anonymous" : context.user);
  record.set_peer(context.peer);
  AuditTargets targets = Targets();
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

// The entries as they will be once the batch planned so far commits.
class ConfigCore::Overlay {
 public:
  explicit Overlay(const ConfigState& base) : base_(base) {}

  const EntryRecord* Find(const std::string& tenant, const std::string& service,
                          const std::string& key) const {
    auto it = entries_.find(storage::EncodeEntryKey({tenant, service, key}));
    if (it != entries_.end()) return it->second ? &*it->second : nullptr;
    return base_.FindEntry(tenant, service, key);
  }

  int64_t KeyCount(const std::string& tenant) const {
    const TenantState* t = base_.FindTenant(tenant);
    auto d = delta_.find(tenant);
    return (t ? t->key_count : 0) + (d == delta_.end() ? 0 : d->second);
  }

  void Set(const storage::EntryKey& key, std::optional<EntryRecord> entry) {
    bool existed = Find(key.tenant, key.service, key.key) != nullptr;
    delta_[key.tenant] += (entry ? 1 : 0) - (existed ? 1 : 0);
    entries_[storage::EncodeEntryKey(key)] = std::move(entry);
  }

 private:
  const ConfigState& base_;
  absl::flat_hash_map<std::string, std::optional<EntryRecord>> entries_;
  absl::flat_hash_map<std::string, int64_t> delta_;
};

absl::StatusOr<std::unique_ptr<ConfigCore>> ConfigCore::Open(
    std::unique_ptr<storage::Store> store, const CoreOptions& options, Clock* clock) {
  absl::StatusOr<storage::LoadedState> loaded = store->LoadAll();
  if (!loaded.ok()) return loaded.status();
  std::unique_ptr<ConfigCore> core(new ConfigCore(std::move(store), options, clock));
  bool fresh = loaded->revision == 0 && loaded->tenants.empty();
  {
    absl::MutexLock lock(&core->state_mu_);
    core->state_.Load(*std::move(loaded));
  }
  if (fresh) {
    ChangeSet created;
    created.set_revision(1);
    created.set_commit_time_micros(absl::ToUnixMicros(clock->Now()));
    Change* change = created.add_changes();
    change->set_type(Change::TENANT_PUT);
    change->set_tenant(std::string(kIntegrationTenant));
    TenantRecord* record = change->mutable_tenant_record();
    record->set_name(std::string(kIntegrationTenant));
    record->set_create_revision(1);
    record->set_mod_revision(1);
    absl::Status st = core->store_->Commit({created});
    if (!st.ok()) return st;
    absl::MutexLock lock(&core->state_mu_);
    core->state_.Apply(created);
  }
  ConfigCore* c = core.get();
  core->hub_ = std::make_unique<WatchHub>(
      c->store_.get(),
      [c](const std::function<void(const ConfigState&)>& fn) {
        absl::ReaderMutexLock lock(&c->state_mu_);
        fn(c->state_);
      },
      options.watch, clock);
  core->committer_ = std::thread([c] { c->CommitLoop(); });
  return core;
}

ConfigCore::ConfigCore(std::unique_ptr<storage::Store> store, const CoreOptions& options,
                       Clock* clock)
    : options_(options), clock_(clock), store_(std::move(store)) {}

ConfigCore::~ConfigCore() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();
  hub_.reset();
}

bool ConfigCore::WaitForWritesDrained(absl::Duration timeout) {
  absl::MutexLock lock(&queue_mu_);
  return queue_mu_.AwaitWithTimeout(
      absl::Condition(
          +[](ConfigCore* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->queue_mu_) {
            return c->queue_.empty() && !c->committing_;
          },
          this),
      timeout);
}

int64_t ConfigCore::revision() const {
  absl::ReaderMutexLock lock(&state_mu_);
  return state_.revision();
}

// ---------------------------------------------------------------------------------------------
// Writes

absl::Status ConfigCore::ValidateOps(const std::vector<WriteOp>& ops, bool single) const {
  if (ops.empty()) return absl::InvalidArgumentError("ops: a Txn needs at least one operation");
  if (ops.size() > static_cast<size_t>(options_.max_txn_ops)) {
    return absl::InvalidArgumentError(absl::StrCat("ops: ", ops.size(),
                                                   " operations exceed the limit of ",
                                                   options_.max_txn_ops, " (--max_txn_ops)"));
  }
  absl::flat_hash_map<std::string, size_t> seen;
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    if (absl::Status s = ValidateTenantName(OpField(single, i, "tenant"), op.tenant); !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateServiceName(OpField(single, i, "service"), op.service);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateKey(OpField(single, i, "key"), op.key); !s.ok()) return s;
    if (op.type == WriteOpType::kPut) {
      if (static_cast<int64_t>(op.value.size()) > options_.max_value_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            OpField(single, i, "value"), ": ", op.value.size(), " bytes exceed the limit of ",
            options_.max_value_bytes, " bytes (--max_value_bytes)"));
      }
      if (op.content_type < 0 || op.content_type > kMaxContentType) {
        return absl::InvalidArgumentError(absl::StrCat(OpField(single, i, "content_type"), ": ",
                                                       op.content_type,
                                                       " is not a known ContentType"));
      }
    } else if (!op.value.empty() || op.content_type != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          OpField(single, i, op.value.empty() ? "content_type" : "value"),
          ": must be empty for ", op.type == WriteOpType::kDelete ? "DELETE" : "MASK"));
    }
    if (op.expected_revision && *op.expected_revision < 0) {
      return absl::InvalidArgumentError(absl::StrCat(OpField(single, i, "expected_revision"),
                                                     ": ", *op.expected_revision,
                                                     " is negative"));
    }
    auto [it, inserted] = seen.emplace(storage::EncodeEntryKey({op.tenant, op.service, op.key}), i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          OpField(single, i, "key"), ": ", DescribeKey(op.tenant, op.service, op.key),
          " already appears in ops[", it->second, "]; a Txn writes each key once"));
    }
  }
  return absl::OkStatus();
}

void ConfigCore::Txn(std::vector<WriteOp> ops, bool single, TxnDone done, WriteContext context) {
  absl::Status s = ValidateOps(ops, single);
  if (s.ok()) s = ValidateReleaseMessage("release_message", context.message);
  if (!s.ok()) {
    Reject({PendingWrite::TxnWrite{std::move(ops), single, std::move(done)}, std::move(context)},
           s);
    return;
  }
  Enqueue({PendingWrite::TxnWrite{std::move(ops), single, std::move(done)}, std::move(context)});
}

void ConfigCore::Rollback(RollbackCommand command, RollbackDone done, WriteContext context) {
  if (absl::Status s = ValidateReleaseMessage("message", context.message); !s.ok()) {
    Reject({PendingWrite::RollbackWrite{std::move(command), std::move(done), nullptr},
            std::move(context)},
           s);
    return;
  }
  Enqueue({PendingWrite::RollbackWrite{std::move(command), std::move(done), nullptr},
           std::move(context)});
}

void ConfigCore::RejectWrite(WriteContext context, AuditTargets targets, absl::Status status,
                             std::function<void(const absl::Status&)> done) {
  Enqueue({PendingWrite::RejectedWrite{std::move(status), std::move(targets), std::move(done)},
           std::move(context)});
}

void ConfigCore::Reject(PendingWrite write, absl::Status status) {
  AuditTargets targets = write.Targets();
  WriteContext context = write.context;
  auto shared = std::make_shared<PendingWrite>(std::move(write));
  RejectWrite(std::move(context), std::move(targets), std::move(status),
              [shared](const absl::Status& s) { shared->Fail(s); });
}

void ConfigCore::ReadState(const std::function<void(const ConfigState&)>& fn) const {
  absl::ReaderMutexLock lock(&state_mu_);
  fn(state_);
}

void ConfigCore::Register(RegisterCommand command, RegisterDone done, WriteContext context) {
  absl::Status s = ValidateTenantName("tenant", command.tenant);
  if (s.ok() && !command.parent.empty()) s = ValidateTenantName("parent", command.parent);
  if (s.ok() && command.root && !command.parent.empty()) {
    s = absl::InvalidArgumentError(absl::StrCat("parent: ", QuoteForError(command.parent),
                                                " must be empty when root is set"));
  }
  if (s.ok() && command.services.size() > static_cast<size_t>(options_.max_services_per_request)) {
    s = absl::InvalidArgumentError(absl::StrCat("services: ", command.services.size(),
                                                " services exceed the limit of ",
                                                options_.max_services_per_request));
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; s.ok() && i < command.services.size(); ++i) {
    const ServiceSpec& spec = command.services[i];
    std::string field = absl::StrCat("services[", i, "]");
    s = ValidateServiceName(absl::StrCat(field, ".name"), spec.name);
    if (s.ok() && !names.insert(spec.name).second) {
      s = absl::InvalidArgumentError(absl::StrCat(field, ".name: ", QuoteForError(spec.name),
                                                  " appears twice in services"));
    }
    if (s.ok() && spec.metadata.size() > kMaxLabels) {
      s = absl::InvalidArgumentError(absl::StrCat(field, ".metadata: ", spec.metadata.size(),
                                                  " labels exceed the limit of ", kMaxLabels));
    }
    for (auto it = spec.metadata.begin(); s.ok() && it != spec.metadata.end(); ++it) {
      s = ValidateLabelKey(absl::StrCat(field, ".metadata"), it->first);
      if (s.ok() && it->second.size() > kMaxLabelValue) {
        s = absl::InvalidArgumentError(absl::StrCat(
            field, ".metadata[", QuoteForError(it->first), "]: ", it->second.size(),
            " bytes exceed the limit of ", kMaxLabelValue));
      }
    }
  }
  if (!s.ok()) {
    Reject({PendingWrite::RegisterWrite{std::move(command), std::move(done)}, std::move(context)},
           s);
    return;
  }
  Enqueue({PendingWrite::RegisterWrite{std::move(command), std::move(done)}, std::move(context)});
}

void ConfigCore::Deregister(DeregisterCommand command, DeregisterDone done,
                            WriteContext context) {
  absl::Status s = ValidateTenantName("tenant", command.tenant);
  if (s.ok() && command.all && !command.services.empty()) {
    s = absl::InvalidArgumentError("services: must be empty when all is set");
  }
  if (s.ok() && !command.all && command.services.empty()) {
    s = absl::InvalidArgumentError("services: name at least one service, or set all");
  }
  for (size_t i = 0; s.ok() && i < command.services.size(); ++i) {
    s = ValidateServiceName(absl::StrCat("services[", i, "]"), command.services[i]);
  }
  if (!s.ok()) {
    Reject({PendingWrite::DeregisterWrite{std::move(command), std::move(done)},
            std::move(context)},
           s);
    return;
  }
  Enqueue(
      {PendingWrite::DeregisterWrite{std::move(command), std::move(done)}, std::move(context)});
}

void ConfigCore::Enqueue(PendingWrite write) {
  {
    absl::MutexLock lock(&queue_mu_);
    if (!stopping_) {
      queue_.push_back(std::move(write));
      return;
    }
  }
  write.Fail(absl::UnavailableError("the server is shutting down"));
}

void ConfigCore::CommitLoop() {
  while (true) {
    std::vector<PendingWrite> batch;
    {
      absl::MutexLock lock(&queue_mu_);
      committing_ = false;  // the previous batch, if any, is done
      queue_mu_.Await(absl::Condition(
          +[](ConfigCore* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->queue_mu_) {
            return !c->queue_.empty() || c->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, and every queued write is done
      committing_ = true;
      if (queue_.front().exclusive()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && !queue_.front().exclusive() &&
               batch.size() < static_cast<size_t>(options_.max_commit_batch)) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }

    std::vector<ChangeSet> change_sets;
    std::vector<Completion> completions;
    std::vector<std::pair<PendingWrite*, absl::Status>> rejected;
    std::vector<storage::AuditRecord> audit;
    {
      absl::ReaderMutexLock lock(&state_mu_);
      Overlay overlay(state_);
      int64_t next = state_.revision() + 1;
      const int64_t now_micros = absl::ToUnixMicros(clock_->Now());
      for (PendingWrite& write : batch) {
        ChangeSet change_set;
        change_set.set_revision(next);
        change_set.set_commit_time_micros(now_micros);
        write.Describe(change_set);
        absl::StatusOr<ConfigCore::Completion> planned =
            Plan(write, overlay, next, change_set);
        audit.push_back(write.Audit(change_set, planned.status(), now_micros));
        if (!planned.ok()) {
          rejected.emplace_back(&write, planned.status());
          continue;
        }
        completions.push_back(*std::move(planned));
        if (change_set.changes_size() > 0) {
          change_sets.push_back(std::move(change_set));
          ++next;
        }
      }
    }

    absl::Status committed = store_->CommitWithAudit(change_sets, audit);
    if (committed.ok()) {
      absl::MutexLock lock(&state_mu_);
      for (const ChangeSet& change_set : change_sets) state_.Apply(change_set);
    } else {
      spdlog::error("commit of {} revisions and {} audit records failed, nothing applied: {}",
                    change_sets.size(), audit.size(), committed.ToString());
      committed = absl::Status(
          committed.code(), absl::StrCat("the write was not applied: ", committed.message()));
    }
    for (auto& complete : completions) complete(committed);
    for (auto& [write, status] : rejected) write->Fail(status);
    if (committed.ok() && !change_sets.empty()) {  // after the acks: off the write path
      absl::ReaderMutexLock lock(&state_mu_);
      hub_->Publish(change_sets, state_);
    }
  }
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::Plan(
    PendingWrite& write, Overlay& overlay, int64_t revision, ChangeSet& change_set) {
  if (std::holds_alternative<PendingWrite::TxnWrite>(write.write)) {
    return PlanTxn(write, overlay, revision, change_set);
  }
  if (std::holds_alternative<PendingWrite::RegisterWrite>(write.write)) {
    return PlanRegister(write, revision, change_set);
  }
  if (std::holds_alternative<PendingWrite::RollbackWrite>(write.write)) {
    return PlanRollback(write, overlay, revision, change_set);
  }
  if (auto* rejected = std::get_if<PendingWrite::RejectedWrite>(&write.write)) {
    return rejected->status;
  }
  return PlanDeregister(write, revision, change_set);
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::PlanRollback(
    PendingWrite& write, Overlay& overlay, int64_t revision, ChangeSet& change_set) {
  auto& rollback = std::get<PendingWrite::RollbackWrite>(write.write);
  const RollbackCommand& cmd = rollback.command;
  if (state_.FindTenant(cmd.scope.tenant) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("tenant: tenant ", QuoteForError(cmd.scope.tenant), " not found"));
  }
  // Rollbacks commit in batches of their own, so the state is the overlay.
  auto changes = std::make_shared<std::vector<RollbackChange>>(
      PlanRollbackChanges(state_, cmd.scope, cmd.past));
  if (changes->empty()) {
    return [this, &rollback](const absl::Status& committed) {
      if (!committed.ok()) {
        rollback.done(committed);
        return;
      }
      absl::ReaderMutexLock lock(&state_mu_);
      rollback.done(RollbackResult{state_.revision(), {}});
    };
  }
  auto done = [&rollback, changes](absl::StatusOr<TxnResult> result) {
    if (!result.ok()) {
      rollback.done(result.status());
      return;
    }
    rollback.done(RollbackResult{result->revision, std::move(*changes)});
  };
  rollback.txn = std::make_shared<PendingWrite>(PendingWrite{
      PendingWrite::TxnWrite{RollbackOps(*changes), /*single=*/true, std::move(done)},
      write.context});
  return PlanTxn(*rollback.txn, overlay, revision, change_set);
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::PlanTxn(
    PendingWrite& write, Overlay& overlay, int64_t revision, ChangeSet& change_set) {
  auto& txn = std::get<PendingWrite::TxnWrite>(write.write);
  struct Planned {
    storage::EntryKey key;
    std::optional<EntryRecord> after;
    const EntryRecord* before;  // valid until the overlay changes
  };
  std::vector<Planned> planned;
  auto result = std::make_shared<TxnResult>();
  result->revision = revision;
  absl::flat_hash_map<std::string, std::pair<int64_t, size_t>> added;  // tenant -> (keys, op)
  for (size_t i = 0; i < txn.ops.size(); ++i) {
    const WriteOp& op = txn.ops[i];
    if (state_.FindTenant(op.tenant) == nullptr) {
      return absl::NotFoundError(absl::StrCat(OpField(txn.single, i, "tenant"), ": tenant ",
                                              QuoteForError(op.tenant),
                                              " not found; Register it first"));
    }
    const EntryRecord* current = overlay.Find(op.tenant, op.service, op.key);
    const int64_t current_revision = current ? current->mod_revision() : 0;
    if (op.expected_revision && *op.expected_revision != current_revision) {
      return absl::FailedPreconditionError(absl::StrCat(
          OpField(txn.single, i, "expected_revision"), ": expected ", *op.expected_revision,
          " but ", DescribeKey(op.tenant, op.service, op.key),
          current ? absl::StrCat(" is at revision ", current_revision)
                  : std::string(" has no own entry (revision 0)")));
    }
    storage::EntryKey key{op.tenant, op.service, op.key};
    if (op.type == WriteOpType::kDelete) {
      if (current == nullptr) {
        return absl::NotFoundError(absl::StrCat(OpField(txn.single, i, "key"), ": ",
                                                DescribeKey(op.tenant, op.service, op.key),
                                                " has no own entry to delete"));
      }
      result->entries.push_back(*current);
      auto& [count, first_op] = added.try_emplace(op.tenant, 0, i).first->second;
      --count;
      planned.push_back({std::move(key), std::nullopt, current});
      continue;
    }
    const bool mask = op.type == WriteOpType::kMask;
    EntryRecord entry;
    entry.set_mask(mask);
    if (!mask) {
      entry.set_value(op.value);
      entry.set_content_type(op.content_type == 0 ? kContentTypeText : op.content_type);
    }
    entry.set_mod_revision(revision);
    if (current != nullptr && current->mask() == mask) {  // same kind: the entry lives on
      entry.set_create_revision(current->create_revision());
      entry.set_version(current->version() + 1);
    } else {
      entry.set_create_revision(revision);
      entry.set_version(1);
    }
    if (current == nullptr) ++added.try_emplace(op.tenant, 0, i).first->second.first;
    result->entries.push_back(entry);
    planned.push_back({std::move(key), std::move(entry), current});
  }
  for (const auto& [tenant, change] : added) {
    const auto& [count, first_op] = change;
    if (count <= 0) continue;
    int64_t total = overlay.KeyCount(tenant) + count;
    if (total > options_.max_keys_per_tenant) {
      return absl::ResourceExhaustedError(absl::StrCat(
          OpField(txn.single, first_op, "tenant"), ": tenant ", QuoteForError(tenant),
          " would hold ", total, " keys; the limit is ", options_.max_keys_per_tenant,
          " (--max_keys_per_tenant)"));
    }
  }
  for (Planned& p : planned) {
    Change* change = change_set.add_changes();
    change->set_type(p.after ? Change::ENTRY_PUT : Change::ENTRY_DELETE);
    change->set_tenant(p.key.tenant);
    change->set_service(p.key.service);
    change->set_key(p.key.key);
    if (p.after) *change->mutable_entry() = *p.after;
    if (p.before != nullptr) {
      *change->mutable_previous_entry() = *p.before;
      change->set_had_previous(true);
    }
  }
  for (Planned& p : planned) {  // after every change copied its `before`
    overlay.Set(p.key, std::move(p.after));
  }
  return [&txn, result](const absl::Status& committed) {
    if (committed.ok()) {
      txn.done(std::move(*result));
    } else {
      txn.done(committed);
    }
  };
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::PlanRegister(
    PendingWrite& write, int64_t revision, ChangeSet& change_set) {
  auto& reg = std::get<PendingWrite::RegisterWrite>(write.write);
  const RegisterCommand& cmd = reg.command;
  const TenantState* existing = state_.FindTenant(cmd.tenant);

  std::string parent;
  if (cmd.root) {
    parent = "";
  } else if (!cmd.parent.empty()) {
    parent = cmd.parent;
  } else if (existing != nullptr) {
    parent = existing->record.parent();
  } else if (cmd.tenant != kIntegrationTenant) {
    parent = std::string(kIntegrationTenant);
  }
  if (!parent.empty()) {
    if (parent == cmd.tenant) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parent: ", QuoteForError(parent), " is the tenant itself; that would be a cycle"));
    }
    absl::StatusOr<std::vector<std::string>> chain = state_.Chain("parent", parent);
    if (!chain.ok()) return chain.status();
    if (std::find(chain->begin(), chain->end(), cmd.tenant) != chain->end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parent: ", QuoteForError(parent), " would make a cycle: ", cmd.tenant, " -> ",
          absl::StrJoin(*chain, " -> ")));
    }
  }

  TenantRecord record;
  if (existing != nullptr) {
    record = existing->record;
  } else {
    record.set_name(cmd.tenant);
    record.set_create_revision(revision);
  }
  bool changed = existing == nullptr || record.parent() != parent;
  record.set_parent(parent);
  std::map<std::string, ServiceRecord> services;
  for (const ServiceRecord& s : record.services()) services[s.name()] = s;
  for (const ServiceSpec& spec : cmd.services) {
    auto it = services.find(spec.name);
    if (it != services.end() && SameMetadata(it->second, spec.metadata)) continue;
    ServiceRecord service;
    service.set_name(spec.name);
    service.mutable_metadata()->insert(spec.metadata.begin(), spec.metadata.end());
    service.set_mod_revision(revision);
    services[spec.name] = std::move(service);
    changed = true;
  }
  const bool created = existing == nullptr;
  if (changed) {
    record.clear_services();
    for (auto& [name, service] : services) *record.add_services() = std::move(service);
    record.set_mod_revision(revision);
    Change* change = change_set.add_changes();
    change->set_type(Change::TENANT_PUT);
    change->set_tenant(cmd.tenant);
    *change->mutable_tenant_record() = std::move(record);
    if (existing != nullptr) {
      *change->mutable_previous_tenant() = existing->record;
      change->set_had_previous(true);
    }
  }
  return [this, &reg, created](const absl::Status& committed) {
    if (!committed.ok()) {
      reg.done(committed);
      return;
    }
    RegisterResult result;
    result.created = created;
    absl::ReaderMutexLock lock(&state_mu_);
    result.revision = state_.revision();
    if (const TenantState* t = state_.FindTenant(reg.command.tenant)) {
      result.tenant = DescribeTenant(*t);
    }
    reg.done(std::move(result));
  };
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::PlanDeregister(
    PendingWrite& write, int64_t revision, ChangeSet& change_set) {
  auto& dereg = std::get<PendingWrite::DeregisterWrite>(write.write);
  const DeregisterCommand& cmd = dereg.command;
  auto result = std::make_shared<DeregisterResult>();
  const TenantState* tenant = state_.FindTenant(cmd.tenant);
  if (tenant != nullptr) {
    std::vector<std::string> children = state_.Children(cmd.tenant);
    std::vector<std::string> services = cmd.services;
    if (cmd.all) {
      if (cmd.tenant == kIntegrationTenant && !cmd.force) {
        return absl::FailedPreconditionError(
            "force: removing tenant \"integration\" wholesale needs force = true");
      }
      services = state_.ServicesOf({cmd.tenant});
    }
    TenantRecord record = tenant->record;
    for (const std::string& service : services) {
      bool removed = false;
      auto registered = std::find_if(record.services().begin(), record.services().end(),
                                     [&](const ServiceRecord& s) { return s.name() == service; });
      if (registered != record.services().end()) {
        record.mutable_services()->erase(registered);
        removed = true;
      }
      if (auto keys = tenant->services.find(service); keys != tenant->services.end()) {
        for (const auto& [key, entry] : keys->second) {
          Change* change = change_set.add_changes();
          change->set_type(Change::ENTRY_DELETE);
          change->set_tenant(cmd.tenant);
          change->set_service(service);
          change->set_key(key);
          *change->mutable_previous_entry() = entry;
          change->set_had_previous(true);
          ++result->removed_keys;
        }
        removed = true;
      }
      if (removed) result->removed_services.push_back(service);
    }
    // A branch tenant left with nothing is cleaned up with its last service.
    const bool empty_branch = !record.parent().empty() && cmd.tenant != kIntegrationTenant &&
                              record.services().empty() &&
                              result->removed_keys == tenant->key_count;
    const bool remove_tenant = cmd.all || (empty_branch && !result->removed_services.empty());
    if (remove_tenant && !children.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tenant: ", QuoteForError(cmd.tenant), " has child tenants [",
          absl::StrJoin(children, ", "), "]; deregister them first"));
    }
    if (remove_tenant) {
      Change* change = change_set.add_changes();
      change->set_type(Change::TENANT_DELETE);
      change->set_tenant(cmd.tenant);
      *change->mutable_previous_tenant() = tenant->record;
      change->set_had_previous(true);
      result->tenant_removed = true;
    } else if (record.services_size() != tenant->record.services_size()) {
      record.set_mod_revision(revision);
      Change* change = change_set.add_changes();
      change->set_type(Change::TENANT_PUT);
      change->set_tenant(cmd.tenant);
      *change->mutable_tenant_record() = std::move(record);
      *change->mutable_previous_tenant() = tenant->record;
      change->set_had_previous(true);
    }
  }
  result->revision = change_set.changes_size() > 0 ? revision : state_.revision();
  return [&dereg, result](const absl::Status& committed) {
    if (committed.ok()) {
      dereg.done(std::move(*result));
    } else {
      dereg.done(committed);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Reads

TenantInfo ConfigCore::DescribeTenant(const TenantState& tenant) const {
  TenantInfo info;
  info.record = tenant.record;
  info.chain = state_.Chain("tenant", tenant.record.name()).value_or(std::vector<std::string>{});
  info.children = state_.Children(tenant.record.name());
  info.key_count = tenant.key_count;
  return info;
}

absl::StatusOr<EntryView> ConfigCore::Get(const std::string& tenant, const std::string& service,
                                          const std::string& key) const {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  if (absl::Status s = ValidateKey("key", key); !s.ok()) return s;
  absl::ReaderMutexLock lock(&state_mu_);
  if (state_.FindTenant(tenant) == nullptr) {
    return absl::NotFoundError(absl::StrCat("tenant: tenant ", QuoteForError(tenant),
                                            " not found"));
  }
  const EntryRecord* entry = state_.FindEntry(tenant, service, key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("key: ", DescribeKey(tenant, service, key), " has no own entry"));
  }
  return EntryView{state_.revision(), *entry};
}

absl::StatusOr<ListResult> ConfigCore::List(const std::string& tenant, const std::string& service,
                                            const std::string& prefix, int page_size,
                                            const std::string& page_token) const {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (!service.empty()) {
    if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  }
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  if (absl::Status s = ValidatePageSize(page_size); !s.ok()) return s;
  std::string after_service, after_key;
  if (!page_token.empty()) {
    absl::StatusOr<std::string> decoded = DecodePageToken(page_token);
    if (!decoded.ok()) return decoded.status();
    size_t sep = decoded->find('\0');
    if (sep == std::string::npos) return DecodePageToken("").status();
    after_service = decoded->substr(0, sep);
    after_key = decoded->substr(sep + 1);
  }
  const size_t limit = page_size == 0 ? kDefaultPageSize : page_size;

  absl::ReaderMutexLock lock(&state_mu_);
  const TenantState* t = state_.FindTenant(tenant);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat("tenant: tenant ", QuoteForError(tenant),
                                            " not found"));
  }
  ListResult result;
  result.revision = state_.revision();
  auto services_begin =
      service.empty() ? t->services.lower_bound(after_service) : t->services.find(service);
  for (auto s = services_begin; s != t->services.end(); ++s) {
    if (!service.empty() && s->first != service) break;
    // A page token names the last entry returned; it matched the prefix, so resume after it.
    auto k = s->first == after_service && after_key >= prefix ? s->second.upper_bound(after_key)
                                                                : s->second.lower_bound(prefix);
    for (; k != s->second.end() && k->first.compare(0, prefix.size(), prefix) == 0; ++k) {
      if (result.entries.size() == limit) {
        const ListedEntry& last = result.entries.back();
        result.next_page_token =
            absl::WebSafeBase64Escape(absl::StrCat(last.service, absl::string_view("\0", 1),
                                                   last.key));
        return result;
      }
      result.entries.push_back({s->first, k->first, k->second});
    }
  }
  return result;
}

absl::StatusOr<ResolveResult> ConfigCore::Resolve(const std::string& tenant,
                                                  const std::vector<std::string>& services) const {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  for (size_t i = 0; i < services.size(); ++i) {
    if (absl::Status s = ValidateServiceName(absl::StrCat("services[", i, "]"), services[i]);
        !s.ok()) {
      return s;
    }
  }
  absl::ReaderMutexLock lock(&state_mu_);
  absl::StatusOr<std::vector<std::string>> chain = state_.Chain("tenant", tenant);
  if (!chain.ok()) return chain.status();
  ResolveResult result;
  result.revision = state_.revision();
  if (services.empty()) {
    result.entries = state_.Resolve(*chain, state_.ServicesOf(*chain));
  } else {
    std::vector<std::string> sorted = services;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    result.entries = state_.Resolve(*chain, sorted);
  }
  result.chain = *std::move(chain);
  return result;
}

absl::StatusOr<TenantInfo> ConfigCore::GetTenant(const std::string& tenant,
                                                 int64_t* revision) const {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  absl::ReaderMutexLock lock(&state_mu_);
  const TenantState* t = state_.FindTenant(tenant);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat("tenant: tenant ", QuoteForError(tenant),
                                            " not found"));
  }
  *revision = state_.revision();
  return DescribeTenant(*t);
}

absl::StatusOr<ListTenantsResult> ConfigCore::ListTenants(int page_size,
                                                          const std::string& page_token) const {
  if (absl::Status s = ValidatePageSize(page_size); !s.ok()) return s;
  std::string after;
  if (!page_token.empty()) {
    absl::StatusOr<std::string> decoded = DecodePageToken(page_token);
    if (!decoded.ok()) return decoded.status();
    after = *std::move(decoded);
  }
  const size_t limit = page_size == 0 ? kDefaultPageSize : page_size;
  absl::ReaderMutexLock lock(&state_mu_);
  ListTenantsResult result;
  result.revision = state_.revision();
  const auto& tenants = state_.tenants();
  for (auto it = after.empty() ? tenants.begin() : tenants.upper_bound(after);
       it != tenants.end(); ++it) {
    if (result.tenants.size() == limit) {
      result.next_page_token = absl::WebSafeBase64Escape(result.tenants.back().record.name());
      break;
    }
    result.tenants.push_back(DescribeTenant(it->second));
  }
  return result;
}

}  // namespace confcenter
