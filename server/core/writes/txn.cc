#include "server/core/writes/txn.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/rollback_plan.h"
#include "server/core/writes/release.h"
#include "storage/key_codec.h"

namespace confcenter {
namespace {

using storage::EntryRecord;

std::string OpField(bool single, size_t i, absl::string_view field) {
  return single ? std::string(field) : absl::StrCat("ops[", i, "].", field);
}

// The shape checks of a Txn's ops, before it is queued.
absl::Status ValidateOps(const std::vector<WriteOp>& ops, bool single, const CoreOptions& options) {
  if (ops.empty()) return absl::InvalidArgumentError("ops: a Txn needs at least one operation");
  if (ops.size() > static_cast<size_t>(options.max_txn_ops)) {
    return absl::InvalidArgumentError(absl::StrCat("ops: ", ops.size(),
                                                   " operations exceed the limit of ",
                                                   options.max_txn_ops, " (--max_txn_ops)"));
  }
  absl::flat_hash_map<std::string, size_t> seen;
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    if (absl::Status s = ValidateTenantName(OpField(single, i, "tenant"), op.tenant); !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateServiceName(OpField(single, i, "service"), op.service); !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateKey(OpField(single, i, "key"), op.key); !s.ok()) return s;
    if (op.type == WriteOpType::kPut) {
      if (static_cast<int64_t>(op.value.size()) > options.max_value_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            OpField(single, i, "value"), ": ", op.value.size(), " bytes exceed the limit of ",
            options.max_value_bytes, " bytes (--max_value_bytes)"));
      }
      if (op.content_type < 0 || op.content_type > kMaxContentType) {
        return absl::InvalidArgumentError(absl::StrCat(OpField(single, i, "content_type"), ": ",
                                                       op.content_type,
                                                       " is not a known ContentType"));
      }
    } else if (!op.value.empty() || op.content_type != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          OpField(single, i, op.value.empty() ? "content_type" : "value"), ": must be empty for ",
          op.type == WriteOpType::kDelete ? "DELETE" : "MASK"));
    }
    if (op.expected_revision && *op.expected_revision < 0) {
      return absl::InvalidArgumentError(absl::StrCat(OpField(single, i, "expected_revision"), ": ",
                                                     *op.expected_revision, " is negative"));
    }
    auto [it, inserted] = seen.emplace(storage::EncodeEntryKey({op.tenant, op.service, op.key}), i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(OpField(single, i, "key"), ": ", DescribeKey(op.tenant, op.service, op.key),
                       " already appears in ops[", it->second, "]; a Txn writes each key once"));
    }
  }
  return absl::OkStatus();
}

class TxnWrite final : public Write {
 public:
  TxnWrite(std::vector<WriteOp> ops, bool single, TxnDone done)
      : ops_(std::move(ops)), single_(single), done_(std::move(done)) {}

  absl::string_view default_rpc() const override {
    return single_ ? "ConfigService.Put" : "ConfigService.Txn";
  }
  bool exclusive() const override { return false; }
  bool release() const override { return !single_; }

  absl::Status Validate(const CoreOptions& options, const WriteContext& context) const override {
    if (absl::Status s = ValidateOps(ops_, single_, options); !s.ok()) return s;
    return ValidateReleaseMessage("release_message", context.message);
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    for (const WriteOp& op : ops_) targets.AddKey(op.tenant, op.service, op.key);
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (absl::Status s = CheckDirectWrite(context.state, ops_[i], OpField(single_, i, "tenant"));
          !s.ok()) {
        return s;
      }
    }
    auto result = std::make_shared<TxnResult>();
    if (absl::Status s = PlanOps(ops_, single_, context, change_set, *result); !s.ok()) return s;
    return CompleteWith(done_, result);
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const std::vector<WriteOp> ops_;
  const bool single_;
  TxnDone done_;
};

}  // namespace

std::unique_ptr<Write> MakeTxnWrite(std::vector<WriteOp> ops, bool single, TxnDone done) {
  return std::make_unique<TxnWrite>(std::move(ops), single, std::move(done));
}

absl::Status PlanOps(const std::vector<WriteOp>& ops, bool single, const PlanContext& context,
                     storage::ChangeSet& change_set, TxnResult& result) {
  struct Planned {
    storage::EntryKey key;
    std::optional<EntryRecord> after;
    const EntryRecord* before;  // valid until the overlay changes
  };
  const int64_t revision = context.revision;
  Overlay& overlay = context.overlay;
  std::vector<Planned> planned;
  result.revision = revision;
  absl::flat_hash_map<std::string, std::pair<int64_t, size_t>> added;  // tenant -> (keys, op)
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    if (context.state.FindTenant(op.tenant) == nullptr) {
      return absl::NotFoundError(absl::StrCat(OpField(single, i, "tenant"), ": tenant ",
                                              QuoteForError(op.tenant),
                                              " not found; Register it first"));
    }
    const EntryRecord* current = overlay.Find(op.tenant, op.service, op.key);
    const int64_t current_revision = current ? current->mod_revision() : 0;
    if (op.expected_revision && *op.expected_revision != current_revision) {
      return absl::FailedPreconditionError(
          absl::StrCat(OpField(single, i, "expected_revision"), ": expected ",
                       *op.expected_revision, " but ", DescribeKey(op.tenant, op.service, op.key),
                       current ? absl::StrCat(" is at revision ", current_revision)
                               : std::string(" has no own entry (revision 0)")));
    }
    storage::EntryKey key{op.tenant, op.service, op.key};
    if (op.type == WriteOpType::kDelete) {
      if (current == nullptr) {
        return absl::NotFoundError(absl::StrCat(OpField(single, i, "key"), ": ",
                                                DescribeKey(op.tenant, op.service, op.key),
                                                " has no own entry to delete"));
      }
      result.entries.push_back(*current);
      auto& [count, first_op] = added.try_emplace(op.tenant, 0, i).first->second;
      --count;
      planned.push_back({std::move(key), std::nullopt, current});
      continue;
    }
    EntryRecord entry =
        NextEntry(current, op.type == WriteOpType::kMask, op.value,
                  op.content_type == 0 ? kContentTypeText : op.content_type, revision,
                  op.secret || DeclaredSecret(context.state, op.tenant, op.service, op.key));
    if (current == nullptr) ++added.try_emplace(op.tenant, 0, i).first->second.first;
    result.entries.push_back(entry);
    planned.push_back({std::move(key), std::move(entry), current});
  }
  for (const auto& [tenant, change] : added) {
    const auto& [count, first_op] = change;
    if (count <= 0) continue;
    int64_t total = overlay.KeyCount(tenant) + count;
    if (total > context.options.max_keys_per_tenant) {
      return absl::ResourceExhaustedError(
          absl::StrCat(OpField(single, first_op, "tenant"), ": tenant ", QuoteForError(tenant),
                       " would hold ", total, " keys; the limit is ",
                       context.options.max_keys_per_tenant, " (--max_keys_per_tenant)"));
    }
  }
  const int first_change = change_set.changes_size();
  for (Planned& p : planned) {
    AddEntryChange(change_set, p.key.tenant, p.key.service, p.key.key, p.before,
                   p.after ? &*p.after : nullptr);
  }
  if (absl::Status s = CheckQuotas(context, change_set, first_change,
                                   [&](const std::string& tenant) {
                                     size_t i = 0;
                                     while (i + 1 < ops.size() && ops[i].tenant != tenant) ++i;
                                     return OpField(single, i, "tenant");
                                   });
      !s.ok()) {
    return s;
  }
  for (Planned& p : planned) {  // after every change copied its `before`
    overlay.Set(p.key, std::move(p.after));
  }
  return absl::OkStatus();
}

}  // namespace confcenter
