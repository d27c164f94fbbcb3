#include "server/core/write.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "storage/key_codec.h"

namespace confcenter {

using storage::Change;
using storage::ChangeSet;
using storage::EntryRecord;

std::string AuditName(absl::string_view name) { return CutUtf8(name, kMaxAuditNameBytes); }

void AuditTargetsBuilder::AddKey(absl::string_view tenant, absl::string_view service,
                                 absl::string_view key) {
  AddTenant(tenant);
  AddService(service);
  if (keys_.size() < kMaxAuditKeys) {
    keys_.push_back(AuditName(absl::StrCat(tenant, "/", service, "/", key)));
  }
}

AuditTargets AuditTargetsBuilder::Build() const {
  AuditTargets targets;
  targets.tenants.assign(tenants_.begin(), tenants_.end());
  targets.services.assign(services_.begin(), services_.end());
  targets.keys = keys_;
  targets.detail = detail_;
  return targets;
}

const EntryRecord* Overlay::Find(const std::string& tenant, const std::string& service,
                                 const std::string& key) const {
  auto it = entries_.find(storage::EncodeEntryKey({tenant, service, key}));
  if (it != entries_.end()) return it->second ? &*it->second : nullptr;
  return base_.FindEntry(tenant, service, key);
}

int64_t Overlay::KeyCount(const std::string& tenant) const {
  const TenantState* t = base_.FindTenant(tenant);
  auto d = delta_.find(tenant);
  return (t ? t->key_count : 0) + (d == delta_.end() ? 0 : d->second.keys);
}

namespace {

// What an entry going from `before` to `after` (null: none) adds to its tenant's stored bytes:
// the value's change plus one history version (as ConfigState::Apply counts them).
int64_t BytesAdded(absl::string_view service, absl::string_view key, const EntryRecord* before,
                   const EntryRecord* after) {
  return (after ? EntryBytes(service, key, after) : 0) -
         (before ? EntryBytes(service, key, before) : 0) + EntryBytes(service, key, after);
}

}  // namespace

int64_t Overlay::StoredBytes(const std::string& tenant) const {
  const TenantState* t = base_.FindTenant(tenant);
  auto d = delta_.find(tenant);
  return (t ? t->stored_bytes() : 0) + (d == delta_.end() ? 0 : d->second.bytes);
}

void Overlay::Set(const storage::EntryKey& key, std::optional<EntryRecord> entry) {
  const EntryRecord* before = Find(key.tenant, key.service, key.key);
  const EntryRecord* after = entry ? &*entry : nullptr;
  Delta& delta = delta_[key.tenant];
  delta.keys += (after ? 1 : 0) - (before ? 1 : 0);
  // The value changes and one history version is added (as ConfigState::Apply counts).
  delta.bytes += BytesAdded(key.service, key.key, before, after);
  entries_[storage::EncodeEntryKey(key)] = std::move(entry);
}

absl::Status CheckQuotas(const PlanContext& context, const storage::ChangeSet& change_set,
                         int first_change,
                         const std::function<std::string(const std::string& tenant)>& field_of) {
  const CoreOptions& options = context.options;
  if (options.max_tenant_bytes <= 0 && options.max_store_bytes <= 0 && options.max_tenants <= 0 &&
      !context.disk_full) {
    return absl::OkStatus();
  }
  absl::flat_hash_map<std::string, int64_t> growth;  // tenant -> bytes added (may be < 0)
  std::string created_tenant;
  int64_t created = 0;
  for (int i = first_change; i < change_set.changes_size(); ++i) {
    const Change& change = change_set.changes(i);
    switch (change.type()) {
      case Change::ENTRY_PUT:
      case Change::ENTRY_DELETE: {
        const EntryRecord* after = change.type() == Change::ENTRY_PUT ? &change.entry() : nullptr;
        const EntryRecord* before = change.had_previous() ? &change.previous_entry() : nullptr;
        growth[change.tenant()] += BytesAdded(change.service(), change.key(), before, after);
        break;
      }
      case Change::TENANT_PUT:
        if (!change.had_previous()) {
          ++created;
          created_tenant = change.tenant();
        }
        break;
      default:
        break;
    }
  }
  if (options.max_tenants > 0 && created > 0) {
    const int64_t tenants = static_cast<int64_t>(context.state.tenants().size()) + created;
    if (tenants > options.max_tenants) {
      return absl::ResourceExhaustedError(absl::StrCat(
          field_of(created_tenant), ": there would be ", tenants, " tenants; the quota is ",
          options.max_tenants,
          " (--max_tenants); deregister unused branch tenants first; nothing was written"));
    }
  }
  int64_t total_growth = 0;
  for (const auto& [tenant, bytes] : growth) {
    if (bytes <= 0) continue;
    total_growth += bytes;
    if (options.max_tenant_bytes <= 0) continue;
    const int64_t after = context.overlay.StoredBytes(tenant) + bytes;
    if (after > options.max_tenant_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          field_of(tenant), ": tenant ", QuoteForError(tenant), " would hold ", after,
          " bytes of values and history; the quota is ", options.max_tenant_bytes,
          " (--max_tenant_bytes); delete keys, or drop old history (AdminService.CompactHistory);"
          " nothing was written"));
    }
  }
  if (context.disk_full && total_growth > 0) {
    return absl::ResourceExhaustedError(
        "the store's disk is full: only writes that free space (deletions, "
        "AdminService.CompactHistory) are taken until space is freed; nothing was written");
  }
  if (options.max_store_bytes > 0 && total_growth > 0 &&
      context.store_bytes >= options.max_store_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the store holds ", context.store_bytes, " bytes; the quota is ", options.max_store_bytes,
        " (--max_store_bytes); only deletions are taken until old history is dropped "
        "(AdminService.CompactHistory) or keys are deleted; nothing was written"));
  }
  return absl::OkStatus();
}

EntryRecord NextEntry(const EntryRecord* current, bool mask, const std::string& value,
                      int32_t content_type, int64_t revision, bool secret) {
  EntryRecord entry;
  entry.set_mask(mask);
  if (!mask) {
    entry.set_value(value);
    entry.set_content_type(content_type);
    entry.set_secret(secret || (current != nullptr && !current->mask() && current->secret()));
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

bool DeclaredSecret(const ConfigState& state, const std::string& tenant, const std::string& service,
                    const std::string& key) {
  const v1::ServiceDefinition* def = state.DefinitionSeenBy(tenant, service);
  if (def == nullptr) return false;
  for (const v1::GeneratedKey& g : def->generated_keys()) {
    if (g.key() == key) return true;
  }
  for (const std::string& k : def->secret_keys()) {
    if (k == key) return true;
  }
  return false;
}

void AddEntryChange(ChangeSet& change_set, const std::string& tenant, const std::string& service,
                    const std::string& key, const EntryRecord* before, const EntryRecord* after) {
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

void AddTenantPut(ChangeSet& change_set, storage::TenantRecord record,
                  const storage::TenantRecord* previous) {
  Change* change = change_set.add_changes();
  change->set_type(Change::TENANT_PUT);
  change->set_tenant(record.name());
  *change->mutable_tenant_record() = std::move(record);
  if (previous != nullptr) {
    *change->mutable_previous_tenant() = *previous;
    change->set_had_previous(true);
  }
}

namespace {

std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {  // the streams flush and trim `bytes` when they go
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&out);
  }
  return bytes;
}

}  // namespace

bool SameRecord(const google::protobuf::MessageLite& a, const google::protobuf::MessageLite& b) {
  return a.GetTypeName() == b.GetTypeName() && DeterministicBytes(a) == DeterministicBytes(b);
}

std::string DescribeKey(absl::string_view tenant, absl::string_view service,
                        absl::string_view key) {
  return absl::StrCat("tenant ", QuoteForError(tenant), " service ", QuoteForError(service),
                      " key ", QuoteForError(key));
}

}  // namespace confcenter
