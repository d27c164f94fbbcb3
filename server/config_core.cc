#include "server/config_core.h"

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/names.h"
#include "server/registry.h"
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

std::string NotFoundTenant(absl::string_view tenant) {
  return absl::StrCat("tenant: tenant ", QuoteForError(tenant), " not found");
}

// The entry a write of (value or mask) makes of `current`.
EntryRecord NextEntry(const EntryRecord* current, bool mask, const std::string& value,
                      int32_t content_type, int64_t revision) {
  EntryRecord entry;
  entry.set_mask(mask);
  if (!mask) {
    entry.set_value(value);
    entry.set_content_type(content_type);
  }
  entry.set_mod_revision(revision);
  if (current != nullptr && current->mask() == mask) {  // same kind: the entry lives on
    entry.set_create_revision(current->create_revision());
    entry.set_version(current->version() + 1);
  } else {
    entry.set_create_revision(revision);
    entry.set_version(1);
  }
  return entry;
}

void AddEntryChange(ChangeSet& change_set, const std::string& tenant, const std::string& service,
                    const std::string& key, const EntryRecord* before,
                    const EntryRecord* after) {
  Change* change = change_set.add_changes();
  change->set_type(after != nullptr ? Change::ENTRY_PUT : Change::ENTRY_DELETE);
  change->set_tenant(tenant);
  change->set_service(service);
  change->set_key(key);
  if (after != nullptr) *change->mutable_entry() = *after;
  if (before != nullptr) {
    *change->mutable_previous_entry() = *before;
    change->set_had_previous(true);
  }
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
  struct TouchWrite {
    std::string tenant;
    TouchDone done;
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
  std::variant<TxnWrite, RegisterWrite, DeregisterWrite, TouchWrite, RollbackWrite,
               RejectedWrite>
      write;
  WriteContext context;

  // Tenant writes (Register, Deregister, Touch) and rollbacks are committed in a batch of
  // their own, so the entry overlay of a batch never has to follow tenant changes. A rejected
  // write only adds its audit record: it joins any batch.
  bool exclusive() const {
    return !std::holds_alternative<TxnWrite>(write) &&
           !std::holds_alternative<RejectedWrite>(write);
  }

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
  if (std::holds_alternative<TouchWrite>(write)) return "TenantService.Touch";
  if (std::holds_alternative<RollbackWrite>(write)) return "HistoryService.Rollback";
  return "";
}

AuditTargets ConfigCore::PendingWrite::Targets() const {
  constexpr size_t kMaxKeys = 128;
  constexpr size_t kMaxName = 300;
  std::set<std::string> tenants, services;
  AuditTargets targets;
  auto cut = [](const std::string& name) { return CutUtf8(name, kMaxName); };
  auto add_key = [&](const std::string& t, const std::string& s, const std::string& k) {
    tenants.insert(cut(t));
    services.insert(cut(s));
    if (targets.keys.size() < kMaxKeys) targets.keys.push_back(cut(absl::StrCat(t, "/", s, "/", k)));
  };
  if (const auto* txn = std::get_if<TxnWrite>(&write)) {
    for (const WriteOp& op : txn->ops) add_key(op.tenant, op.service, op.key);
  } else if (const auto* reg = std::get_if<RegisterWrite>(&write)) {
    tenants.insert(cut(reg->command.tenant));
    for (const v1::ServiceDefinition& def : reg->command.services) {
      services.insert(cut(def.name()));
    }
    if (!reg->command.parent.empty()) targets.detail = cut("parent=" + reg->command.parent);
    if (reg->command.root) targets.detail = "root";
  } else if (const auto* dereg = std::get_if<DeregisterWrite>(&write)) {
    tenants.insert(cut(dereg->command.tenant));
    for (const std::string& service : dereg->command.services) services.insert(cut(service));
    if (dereg->command.all) targets.detail = "all";
    if (dereg->command.only_if_expired_at) targets.detail = "all (TTL expired)";
  } else if (const auto* touch = std::get_if<TouchWrite>(&write)) {
    tenants.insert(cut(touch->tenant));
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
      c->options_.watch, clock);
  core->committer_ = std::thread([c] { c->CommitLoop(); });
  if (options.reclaim_interval > absl::ZeroDuration()) {
    core->reclaimer_ = std::thread([c] { c->ReclaimLoop(); });
  }
  return core;
}

ConfigCore::ConfigCore(std::unique_ptr<storage::Store> store, const CoreOptions& options,
                       Clock* clock)
    : owned_metrics_(options.watch.metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      options_(WithMetrics(options, owned_metrics_.get())),
      clock_(clock),
      store_(std::move(store)) {}

ConfigCore::~ConfigCore() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (reclaimer_.joinable()) reclaimer_.join();
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

size_t ConfigCore::queued_writes() const {
  absl::MutexLock lock(&queue_mu_);
  return queue_.size();
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
  if (s.ok() && command.ttl != absl::ZeroDuration() && command.ttl < absl::Seconds(1)) {
    s = absl::InvalidArgumentError(absl::StrCat(
        "ttl: ", absl::FormatDuration(command.ttl), " is shorter than the minimum of 1s"));
  }
  if (s.ok() && command.ttl > absl::Hours(24 * 366 * 100)) {
    s = absl::InvalidArgumentError(absl::StrCat(
        "ttl: ", absl::FormatDuration(command.ttl), " is longer than the maximum of 100 years"));
  }
  if (s.ok() && command.ttl != absl::ZeroDuration() && command.root) {
    s = absl::InvalidArgumentError("ttl: a root tenant cannot expire");
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; s.ok() && i < command.services.size(); ++i) {
    const v1::ServiceDefinition& def = command.services[i];
    std::string field = absl::StrCat("services[", i, "]");
    s = ValidateDefinition(field, def, options_.max_value_bytes);
    if (s.ok() && !names.insert(def.name()).second) {
      s = absl::InvalidArgumentError(absl::StrCat(field, ".name: ", QuoteForError(def.name()),
                                                  " appears twice in services"));
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
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; s.ok() && i < command.services.size(); ++i) {
    s = ValidateServiceName(absl::StrCat("services[", i, "]"), command.services[i]);
    if (s.ok() && !seen.insert(command.services[i]).second) {
      s = absl::InvalidArgumentError(absl::StrCat("services[", i, "]: ",
                                                  QuoteForError(command.services[i]),
                                                  " appears twice in services"));
    }
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

void ConfigCore::Touch(std::string tenant, TouchDone done, WriteContext context) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) {
    Reject({PendingWrite::TouchWrite{std::move(tenant), std::move(done)}, std::move(context)}, s);
    return;
  }
  Enqueue({PendingWrite::TouchWrite{std::move(tenant), std::move(done)}, std::move(context)});
}

std::vector<std::string> ConfigCore::ReclaimExpired() {
  const absl::Time now = clock_->Now();
  const int64_t now_micros = absl::ToUnixMicros(now);
  std::vector<std::pair<size_t, std::string>> expired;  // (chain length, tenant)
  {
    absl::ReaderMutexLock lock(&state_mu_);
    for (const auto& [name, tenant] : state_.tenants()) {
      int64_t expires = tenant.record.expire_time_micros();
      if (expires > 0 && expires <= now_micros) {
        expired.emplace_back(state_.Chain("tenant", name).value_or(std::vector<std::string>{}).size(), name);
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
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.AwaitWithTimeout(
          absl::Condition(
              +[](ConfigCore* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->queue_mu_) {
                return c->stopping_;
              },
              this),
          options_.reclaim_interval);
      if (stopping_) return;
    }
    ReclaimExpired();
  }
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
            write.context.deadline <= absl::Now()
                ? absl::DeadlineExceededError(
                      "the client's deadline passed while the write waited for the committer; "
                      "nothing was written")
                : Plan(write, overlay, next, change_set);
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

    const absl::Time sync_start = absl::Now();
    absl::Status committed = store_->CommitWithAudit(change_sets, audit);
    const absl::Time durable_at = absl::Now();
    metrics()->CommitDone(batch.size(), change_sets.size(), durable_at - sync_start,
                                       committed.ok());
    if (committed.ok()) {
      absl::MutexLock lock(&state_mu_);
      for (const ChangeSet& change_set : change_sets) state_.Apply(change_set);
    } else {
      spdlog::error("commit of {} revisions and {} audit records failed, nothing applied: {}",
                    change_sets.size(), audit.size(), committed.ToString());
      committed = absl::Status(
          committed.code(), absl::StrCat("the write was not applied: ", committed.message()));
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
    }
    // Publish first: it only queues the events for the writer threads, while each ack is a
    // gRPC send on this thread (~0.1 ms alone, ~35 us each in a batch of 50): a batch's acks
    // would delay every event of it by milliseconds.
    if (committed.ok() && !change_sets.empty()) {
      absl::ReaderMutexLock lock(&state_mu_);
      hub_->Publish(change_sets, state_, durable_at);
    }
    for (auto& complete : completions) complete(committed);
    for (auto& [write, status] : rejected) write->Fail(status);
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
  if (std::holds_alternative<PendingWrite::TouchWrite>(write.write)) {
    return PlanTouch(write, revision, change_set);
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
  const TenantState* tenant = state_.FindTenant(cmd.scope.tenant);
  if (tenant == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("tenant: tenant ", QuoteForError(cmd.scope.tenant), " not found"));
  }
  if (cmd.tenant_create_revision != 0 &&
      tenant->record.create_revision() != cmd.tenant_create_revision) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tenant: tenant ", QuoteForError(cmd.scope.tenant), " was removed and created again (at "
        "revision ", tenant->record.create_revision(), ") while the rollback was prepared"));
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
    EntryRecord entry =
        NextEntry(current, op.type == WriteOpType::kMask, op.value,
                  op.content_type == 0 ? kContentTypeText : op.content_type, revision);
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
    AddEntryChange(change_set, p.key.tenant, p.key.service, p.key.key, p.before,
                   p.after ? &*p.after : nullptr);
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
  const int64_t now_micros = absl::ToUnixMicros(clock_->Now());

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
  std::vector<std::string> chain = {cmd.tenant};  // after the registration
  if (!parent.empty()) {
    if (parent == cmd.tenant) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parent: ", QuoteForError(parent), " is the tenant itself; that would be a cycle"));
    }
    absl::StatusOr<std::vector<std::string>> parent_chain = state_.Chain("parent", parent);
    if (!parent_chain.ok()) return parent_chain.status();
    if (std::find(parent_chain->begin(), parent_chain->end(), cmd.tenant) !=
        parent_chain->end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parent: ", QuoteForError(parent), " would make a cycle: ", cmd.tenant, " -> ",
          absl::StrJoin(*parent_chain, " -> ")));
    }
    chain.insert(chain.end(), parent_chain->begin(), parent_chain->end());
  }

  TenantRecord record;
  if (existing != nullptr) {
    record = existing->record;
  } else {
    record.set_name(cmd.tenant);
    record.set_create_revision(revision);
  }
  record.set_parent(parent);
  if (cmd.ttl != absl::ZeroDuration()) {
    if (parent.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ttl: tenant ", QuoteForError(cmd.tenant), " is a root; a root cannot expire"));
    }
    record.set_ttl_seconds(absl::ToInt64Seconds(cmd.ttl));
  }
  if (parent.empty()) {  // a tenant that became a root keeps no TTL
    record.set_ttl_seconds(0);
    record.set_expire_time_micros(0);
  }
  if (record.ttl_seconds() > 0) {
    record.set_expire_time_micros(now_micros + record.ttl_seconds() * 1'000'000);
  }
  if (cmd.keep) record.set_keep(true);

  // The services after the registration, and which of them it (re)defines.
  std::map<std::string, ServiceRecord> services;
  for (const ServiceRecord& s : record.services()) services[s.name()] = s;
  std::set<std::string> changed;
  for (const v1::ServiceDefinition& def : cmd.services) changed.insert(def.name());
  std::map<std::string, const ServiceRecord*> previous;  // changed service -> its old record
  if (existing != nullptr) {
    for (const ServiceRecord& s : existing->record.services()) {
      if (changed.count(s.name()) > 0) previous[s.name()] = &s;
    }
  }
  for (const v1::ServiceDefinition& def : cmd.services) {
    ServiceRecord& s = services[def.name()];
    s.set_name(def.name());
    s.clear_metadata();
    *s.mutable_definition() = def;
  }
  std::vector<ServiceRecord> after;
  after.reserve(services.size());
  for (auto& [name, s] : services) after.push_back(s);

  // Compatibility in the tenant's view and in each descendant's view, after the change.
  const bool moved = existing != nullptr && existing->record.parent() != parent;
  std::vector<std::unique_ptr<RegistryView>> after_views =
      ViewsAfterChange(state_, chain, after, existing != nullptr && (!changed.empty() || moved));
  const RegistryView& own_view = *after_views.front();
  std::vector<const RegistryView*> views;
  for (const auto& v : after_views) views.push_back(v.get());
  CompatibilityReport report = CheckCompatibility(views, cmd.tenant, changed, moved);
  if (!report.conflicts.empty() && !cmd.force) {
    constexpr size_t kListed = 20;  // keeps the status message far below gRPC's trailer limit
    std::vector<std::string> listed(report.conflicts.begin(), report.conflicts.end());
    const size_t more = listed.size() > kListed ? listed.size() - kListed : 0;
    listed.resize(std::min(listed.size(), kListed));
    return absl::FailedPreconditionError(absl::StrCat(
        moved && changed.empty() ? "parent" : "services", ": ", report.conflicts.size(),
        " version conflict", report.conflicts.size() == 1 ? "" : "s",
        " (set force to register anyway and record ",
        report.conflicts.size() == 1 ? "it" : "them", " as warnings): ",
        absl::StrJoin(listed, "; "), more > 0 ? absl::StrCat("; and ", more, " more") : ""));
  }
  for (ServiceRecord& s : after) {
    if (changed.count(s.name()) == 0) continue;
    s.clear_warnings();
    for (const std::string& w : report.by_service[s.name()]) s.add_warnings(w);
    auto old = previous.find(s.name());
    if (old != previous.end()) {  // the same registration again changes nothing
      ServiceRecord same = s;
      same.set_mod_revision(old->second->mod_revision());
      same.set_register_time_micros(old->second->register_time_micros());
      if (google::protobuf::util::MessageDifferencer::Equals(*old->second, same)) {
        s = *old->second;
        continue;
      }
    }
    s.set_mod_revision(revision);
    s.set_register_time_micros(now_micros);
  }

  // The entries the definitions generate.
  int64_t added_keys = 0;
  for (const v1::ServiceDefinition& def : cmd.services) {
    auto old = previous.find(def.name());
    if (absl::Status s =
            PlanGeneratedEntries(cmd.tenant, chain, def,
                                 old != previous.end() ? &DefinitionOf(*old->second) : nullptr,
                                 revision, change_set, &added_keys);
        !s.ok()) {
      return s;
    }
  }
  if (added_keys > 0) {
    int64_t total = (existing ? existing->key_count : 0) + added_keys;
    if (total > options_.max_keys_per_tenant) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "services: tenant ", QuoteForError(cmd.tenant), " would hold ", total,
          " keys; the limit is ", options_.max_keys_per_tenant, " (--max_keys_per_tenant)"));
    }
  }

  // The maps read the view, which points into `after`: build them before it is moved.
  auto result = std::make_shared<RegisterResult>();
  for (const v1::ServiceDefinition& def : cmd.services) {
    result->dependency_maps.push_back(BuildDependencyMap(own_view, def));
  }
  record.clear_services();
  for (ServiceRecord& s : after) *record.add_services() = std::move(s);
  const bool created = existing == nullptr;
  result->created = created;
  const bool tenant_changed =
      created || !google::protobuf::util::MessageDifferencer::Equals(record, existing->record);
  if (tenant_changed) {
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

  if (cmd.force) {
    result->warnings.insert(result->warnings.end(), report.conflicts.begin(),
                            report.conflicts.end());
  }
  result->warnings.insert(result->warnings.end(), report.warnings.begin(),
                          report.warnings.end());
  return [this, &reg, result](const absl::Status& committed) {
    if (!committed.ok()) {
      reg.done(committed);
      return;
    }
    absl::ReaderMutexLock lock(&state_mu_);
    result->revision = state_.revision();
    if (const TenantState* t = state_.FindTenant(reg.command.tenant)) {
      result->tenant = DescribeTenant(*t);
    }
    reg.done(std::move(*result));
  };
}

absl::Status ConfigCore::PlanGeneratedEntries(const std::string& tenant,
                                              const std::vector<std::string>& chain,
                                              const v1::ServiceDefinition& def,
                                              const v1::ServiceDefinition* previous,
                                              int64_t revision, ChangeSet& change_set,
                                              int64_t* added_keys) {
  const std::string& service = def.name();
  const TenantState* t = state_.FindTenant(tenant);
  const KeyMap* own = nullptr;
  if (t != nullptr) {
    if (auto it = t->services.find(service); it != t->services.end()) own = &it->second;
  }
  auto own_entry = [&](const std::string& key) -> const EntryRecord* {
    if (own == nullptr) return nullptr;
    auto it = own->find(key);
    return it == own->end() ? nullptr : &it->second;
  };
  // What the tenant would see for the key without an own entry: the parent chain's winner.
  auto inherited = [&](const std::string& key) -> const EntryRecord* {
    for (size_t i = 1; i < chain.size(); ++i) {
      if (const EntryRecord* e = state_.FindEntry(chain[i], service, key)) {
        return e->mask() ? nullptr : e;
      }
    }
    return nullptr;
  };

  // key -> the own entry wanted: a value, a mask (nullopt value), or removal (absent).
  struct Wanted {
    bool remove = false;
    bool mask = false;
    std::string value;
  };
  std::map<std::string, Wanted> wanted;

  // Endpoints: this registration's, and masks over the parent chain's other endpoints of the
  // service, so the view routes to exactly this registration's endpoints.
  for (auto& [name, address] : RenderEndpoints(def, tenant)) {
    wanted[absl::StrCat(kEndpointKeyPrefix, name)] = {false, false, std::move(address)};
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    const TenantState* ancestor = state_.FindTenant(chain[i]);
    if (ancestor == nullptr) continue;
    auto keys = ancestor->services.find(service);
    if (keys == ancestor->services.end()) continue;
    for (auto k = keys->second.lower_bound(std::string(kEndpointKeyPrefix));
         k != keys->second.end() && absl::StartsWith(k->first, kEndpointKeyPrefix); ++k) {
      if (wanted.count(k->first) == 0 && inherited(k->first) != nullptr) {
        wanted[k->first] = {false, true, ""};
      }
    }
  }
  if (own != nullptr) {
    for (auto k = own->lower_bound(std::string(kEndpointKeyPrefix));
         k != own->end() && absl::StartsWith(k->first, kEndpointKeyPrefix); ++k) {
      if (wanted.count(k->first) == 0) wanted[k->first] = {true, false, ""};
    }
  }

  // Defaults: a root carries them all; a branch only where it would inherit another value. A
  // value that differs from what the previous registration wrote was set by hand: kept.
  const bool root = chain.size() == 1;
  auto previous_default = [&](const std::string& key) -> const std::string* {
    if (previous == nullptr) return nullptr;
    auto it = previous->defaults().find(key);
    return it == previous->defaults().end() ? nullptr : &it->second;
  };
  auto previously_generated = [&](const std::string& key) {
    if (previous == nullptr) return false;
    for (const v1::GeneratedKey& g : previous->generated_keys()) {
      if (g.key() == key) return true;
    }
    return false;
  };
  // Whether the own entry is the registration's to rewrite: absent, the previous default
  // unchanged, or a key the previous registration generated (now a default).
  auto managed = [&](const std::string& key) {
    const EntryRecord* current = own_entry(key);
    if (current == nullptr || previously_generated(key)) return true;
    const std::string* before = previous_default(key);
    return before != nullptr && !current->mask() && current->value() == *before;
  };
  for (const auto& [key, value] : def.defaults()) {
    if (!managed(key)) continue;
    const EntryRecord* from_parent = inherited(key);
    if (root || from_parent == nullptr || from_parent->value() != value ||
        from_parent->content_type() != kContentTypeText) {
      wanted[key] = {false, false, value};
    } else {
      wanted[key] = {true, false, ""};
    }
  }
  if (previous != nullptr) {
    for (const auto& [key, value] : previous->defaults()) {
      if (def.defaults().count(key) == 0 && own_entry(key) != nullptr && managed(key)) {
        wanted[key] = {true, false, ""};
      }
    }
  }

  // Generated keys: once per (tenant, service, key), then kept. A key that was a default
  // before is generated now, whatever its value.
  for (const v1::GeneratedKey& g : def.generated_keys()) {
    if (own_entry(g.key()) != nullptr && previous_default(g.key()) == nullptr) continue;
    absl::StatusOr<std::string> value = GenerateValue(g);
    if (!value.ok()) return value.status();
    wanted[g.key()] = {false, false, *std::move(value)};
  }

  for (const auto& [key, want] : wanted) {
    const EntryRecord* current = own_entry(key);
    if (want.remove) {
      if (current == nullptr) continue;
      AddEntryChange(change_set, tenant, service, key, current, nullptr);
      --*added_keys;
      continue;
    }
    if (current != nullptr && current->mask() == want.mask &&
        (want.mask ||
         (current->value() == want.value && current->content_type() == kContentTypeText))) {
      continue;
    }
    EntryRecord entry = NextEntry(current, want.mask, want.value, kContentTypeText, revision);
    AddEntryChange(change_set, tenant, service, key, current, &entry);
    if (current == nullptr) ++*added_keys;
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::PlanTouch(PendingWrite& write,
                                                             int64_t revision,
                                                             ChangeSet& change_set) {
  auto& touch = std::get<PendingWrite::TouchWrite>(write.write);
  const TenantState* tenant = state_.FindTenant(touch.tenant);
  if (tenant == nullptr) return absl::NotFoundError(NotFoundTenant(touch.tenant));
  auto result = std::make_shared<TouchResult>();
  result->revision = state_.revision();
  if (tenant->record.ttl_seconds() > 0) {
    const absl::Time expires = clock_->Now() + absl::Seconds(tenant->record.ttl_seconds());
    TenantRecord record = tenant->record;
    record.set_expire_time_micros(absl::ToUnixMicros(expires));
    record.set_mod_revision(revision);
    Change* change = change_set.add_changes();
    change->set_type(Change::TENANT_PUT);
    change->set_tenant(touch.tenant);
    *change->mutable_tenant_record() = std::move(record);
    *change->mutable_previous_tenant() = tenant->record;
    change->set_had_previous(true);
    result->revision = revision;
    result->expire_time = expires;
  }
  return [&touch, result](const absl::Status& committed) {
    if (committed.ok()) {
      touch.done(std::move(*result));
    } else {
      touch.done(committed);
    }
  };
}

absl::StatusOr<ConfigCore::Completion> ConfigCore::PlanDeregister(
    PendingWrite& write, int64_t revision, ChangeSet& change_set) {
  auto& dereg = std::get<PendingWrite::DeregisterWrite>(write.write);
  const DeregisterCommand& cmd = dereg.command;
  auto result = std::make_shared<DeregisterResult>();
  const TenantState* tenant = state_.FindTenant(cmd.tenant);
  if (tenant != nullptr && cmd.only_if_expired_at) {
    const int64_t expires = tenant->record.expire_time_micros();
    if (expires == 0 || expires > absl::ToUnixMicros(*cmd.only_if_expired_at)) {
      tenant = nullptr;  // renewed since it was found expired: nothing to reclaim
    }
  }
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
                              !record.keep() && record.services().empty() &&
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
      // Who routed to the removed registrations now routes to an ancestor's: say if that
      // breaks a range (the removal goes ahead: cleanup is never blocked).
      std::set<std::string> removed(result->removed_services.begin(),
                                    result->removed_services.end());
      absl::StatusOr<std::vector<std::string>> chain = state_.Chain("tenant", cmd.tenant);
      if (chain.ok()) {
        std::vector<ServiceRecord> remaining(record.services().begin(), record.services().end());
        std::vector<std::unique_ptr<RegistryView>> after_views =
            ViewsAfterChange(state_, *chain, remaining, true);
        std::vector<const RegistryView*> views;
        for (const auto& v : after_views) views.push_back(v.get());
        CompatibilityReport report = CheckDependentsOf(views, removed, *chain);
        result->warnings.assign(report.conflicts.begin(), report.conflicts.end());
        result->warnings.insert(result->warnings.end(), report.warnings.begin(),
                                report.warnings.end());
      }
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

absl::StatusOr<DependenciesResult> ConfigCore::ResolveDependencies(
    const std::string& tenant, const std::string& service) const {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  absl::ReaderMutexLock lock(&state_mu_);
  absl::StatusOr<std::vector<std::string>> chain = state_.Chain("tenant", tenant);
  if (!chain.ok()) return chain.status();
  RegistryView view(state_, *chain);
  const RegistryView::Registration* registration = view.Find(service);
  if (registration == nullptr) {
    return absl::NotFoundError(absl::StrCat("service: ", QuoteForError(service),
                                            " is not registered in any tenant of [",
                                            absl::StrJoin(*chain, ", "), "]"));
  }
  DependenciesResult result;
  result.revision = state_.revision();
  result.source_tenant = registration->tenant;
  result.map = BuildDependencyMap(view, DefinitionOf(*registration->record));
  return result;
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
