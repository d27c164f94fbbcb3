// The in-memory index of current state: tenants, their registrations and their own entries.
// Rebuilt from the store at start-up and advanced by applying committed change sets, so reads
// (Get, List, Resolve) never touch the disk. Not thread-safe: ConfigCore guards it.
#ifndef CONFCENTER_SERVER_CORE_CONFIG_STATE_H_
#define CONFCENTER_SERVER_CORE_CONFIG_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "confcenter/v1/tenant.pb.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// key -> entry, ordered.
using KeyMap = absl::btree_map<std::string, storage::EntryRecord>;

// One tenant: its registration and its own entries by service.
struct TenantState {
  storage::TenantRecord record;
  // The definition of each registered service as the API shows it, in the order of
  // record.services(): converted from the records once, when ConfigState takes a record, so
  // reads and registry checks use them as they are.
  std::vector<v1::ServiceDefinition> definitions;
  absl::btree_map<std::string, KeyMap> services;  // service -> its keys; no empty maps
  int64_t key_count = 0;                          // entries over all services
  // What --max_tenant_bytes limits: the bytes of the tenant's own entries (EntryBytes each)
  // and of its history versions, as last counted (ConfigState::SetHistoryBytes) plus what
  // commits added since.
  int64_t value_bytes = 0;
  int64_t history_bytes = 0;
  // History bytes applied since the state was loaded; only grows. A recount that read the
  // store up to some revision adds what was applied after it from the difference of two
  // readings of this.
  int64_t history_bytes_added = 0;
  int64_t stored_bytes() const { return value_bytes + history_bytes; }
};

// The bytes one own entry (or one history version holding it) counts against the byte quotas:
// its service, key and value. A mask or deletion counts its service and key.
inline int64_t EntryBytes(absl::string_view service, absl::string_view key,
                          const storage::EntryRecord* entry) {
  return static_cast<int64_t>(service.size() + key.size() +
                              (entry != nullptr ? entry->value().size() : 0));
}

// One key of a resolved view.
struct ResolvedEntry {
  std::string service;
  std::string key;
  std::string value;
  int32_t content_type = 0;
  std::string source_tenant;  // the tenant of the chain whose entry won
  int64_t revision = 0;       // mod revision of the winning entry
  bool secret = false;        // the winning entry's value is a secret
};

// NOT_FOUND naming the request field: `<field>: tenant "<tenant>" not found`. Every "no such
// tenant" answer of the server is this one.
absl::Status TenantNotFoundError(absl::string_view field, absl::string_view tenant);

class ConfigState {
 public:
  // Replaces the whole state with what a store loaded.
  void Load(storage::LoadedState loaded);

  // Applies one committed change set and advances revision() to its revision.
  void Apply(const storage::ChangeSet& change_set);

  // The revision of the last applied change set.
  int64_t revision() const { return revision_; }
  // The store's epoch (storage/store_epoch.h): revisions name a state only within it.
  const std::string& epoch() const { return epoch_; }

  // The tenant, or nullptr if it does not exist.
  const TenantState* FindTenant(absl::string_view tenant) const;

  // The tenant's own entry, or nullptr.
  const storage::EntryRecord* FindEntry(absl::string_view tenant, absl::string_view service,
                                        absl::string_view key) const;

  // [tenant, parent, ..., root]. NOT_FOUND naming `field` if the tenant does not exist.
  absl::StatusOr<std::vector<std::string>> Chain(absl::string_view field,
                                                 absl::string_view tenant) const;

  // The definition of `service` that `tenant` sees: its own registration's, else the nearest
  // ancestor's; nullptr if none along the chain (or no such tenant).
  const v1::ServiceDefinition* DefinitionSeenBy(absl::string_view tenant,
                                                absl::string_view service) const;

  // Names of the tenants whose parent is `tenant`, ordered; its gray tenant is not one.
  std::vector<std::string> Children(absl::string_view tenant) const;

  // Every service that a tenant of `chain` registered or holds entries for, ordered.
  std::vector<std::string> ServicesOf(const std::vector<std::string>& chain) const;

  // The merged view of `services` along `chain` (nearest first): per key, the first tenant of
  // the chain with an entry wins; a winning mask hides the key. Ordered by (service, key).
  std::vector<ResolvedEntry> Resolve(const std::vector<std::string>& chain,
                                     const std::vector<std::string>& services) const;

  // All tenants by name.
  const absl::btree_map<std::string, TenantState>& tenants() const { return tenants_; }

  // Sets each tenant's history bytes from a count of the store's history up to a revision
  // (tenants not in `counted` hold none up to it): `counted` plus what was applied after the
  // count's revision, which is history_bytes_added now minus `added_at_count[tenant]` (the
  // values read together with the revision).
  void SetHistoryBytes(const absl::flat_hash_map<std::string, int64_t>& counted,
                       const absl::flat_hash_map<std::string, int64_t>& added_at_count);

  // For every tenant deregistered and not registered again, the parent it had: where the
  // streams of a deregistered tenant fall back, also after a restart.
  const absl::flat_hash_map<std::string, std::string>& former_parents() const {
    return former_parents_;
  }

  // Estimated heap bytes of this index (entries, registrations, maps): what
  // confcenter_index_bytes reports and --max_index_bytes limits.
  int64_t index_bytes() const { return index_bytes_; }

 private:
  absl::btree_map<std::string, TenantState> tenants_;
  int64_t revision_ = 0;
  std::string epoch_;
  int64_t index_bytes_ = 0;
  absl::flat_hash_map<std::string, std::string> former_parents_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_CONFIG_STATE_H_
