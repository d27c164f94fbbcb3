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
  return (t ? t->key_count : 0) + (d == delta_.end() ? 0 : d->second);
}

void Overlay::Set(const storage::EntryKey& key, std::optional<EntryRecord> entry) {
  bool existed = Find(key.tenant, key.service, key.key) != nullptr;
  delta_[key.tenant] += (entry ? 1 : 0) - (existed ? 1 : 0);
  entries_[storage::EncodeEntryKey(key)] = std::move(entry);
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
