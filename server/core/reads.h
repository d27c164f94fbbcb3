// The read side of the core: answers from the in-memory state, never from the disk. Pure
// functions over a ConfigState the caller holds read-locked (ConfigCore does); every error
// names the request field it is about.
#ifndef CONFCENTER_SERVER_CORE_READS_H_
#define CONFCENTER_SERVER_CORE_READS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "confcenter/v1/tenant.pb.h"
#include "server/core/config_state.h"
#include "storage/records.pb.h"

namespace confcenter {

// A tenant as the API describes it.
struct TenantInfo {
  storage::TenantRecord record;
  std::vector<std::string> chain;
  std::vector<std::string> children;
  int64_t key_count = 0;
  // Whether the tenant stays when its last service goes: set by Register's keep, and always
  // for a root.
  bool keep = false;
  // Per registered service (as record.services()), its definition as the API shows it.
  std::vector<v1::ServiceDefinition> definitions;
  // Per registered service (as record.services()), its endpoints rendered for this tenant.
  std::vector<std::map<std::string, std::string>> endpoints;
  // Its open gray release (the gray tenant's create revision), 0 if none.
  int64_t gray_release_id = 0;
};

struct EntryView {
  int64_t revision = 0;  // store revision of the read
  storage::EntryRecord entry;
};

struct ListedEntry {
  std::string service;
  std::string key;
  storage::EntryRecord entry;
};

struct ListResult {
  int64_t revision = 0;
  std::vector<ListedEntry> entries;
  std::string next_page_token;
};

struct ResolveResult {
  int64_t revision = 0;
  std::vector<std::string> chain;
  std::vector<ResolvedEntry> entries;
};

struct ListTenantsResult {
  int64_t revision = 0;
  std::vector<TenantInfo> tenants;
  std::string next_page_token;
};

struct DependenciesResult {
  int64_t revision = 0;
  std::string source_tenant;  // whose registration of the service was used
  v1::DependencyMap map;
};

// One tenant of a chain and its own entry for a key (Explain).
struct ExplainedStep {
  std::string tenant;
  std::optional<storage::EntryRecord> entry;  // none: the key falls through
  bool decides = false;                       // the first entry from the tenant up
};

// What a gray release or a draft of a chain tenant would make of its own entry for a key.
struct PendingChange {
  std::string tenant;
  int64_t gray_release_id = 0;
  int64_t draft_id = 0;
  std::optional<storage::EntryRecord> entry;  // none: removed (a draft's delete)
  std::string author;
};

struct ExplainResult {
  int64_t revision = 0;
  std::vector<ExplainedStep> steps;    // from the tenant up
  bool present = false;                // a value decides
  std::vector<PendingChange> pending;  // only those that would change what the tenant sees
};

// Why (tenant, service, key) resolves as it does, without the history of the writes (see
// HistoryCore::Explain). Errors: INVALID_ARGUMENT naming tenant, service or key; NOT_FOUND
// naming the tenant.
absl::StatusOr<ExplainResult> ExplainKey(const ConfigState& state, const std::string& tenant,
                                         const std::string& service, const std::string& key);

// The tenant as the API describes it.
TenantInfo DescribeTenant(const ConfigState& state, const TenantState& tenant);

// The tenant's own entry. NOT_FOUND for the tenant or the entry.
absl::StatusOr<EntryView> ReadEntry(const ConfigState& state, const std::string& tenant,
                                    const std::string& service, const std::string& key);

// One page of the tenant's own entries (service empty = all), keys starting with `prefix`.
// page_size 0 = 100, at most 1000.
absl::StatusOr<ListResult> ListEntries(const ConfigState& state, const std::string& tenant,
                                       const std::string& service, const std::string& prefix,
                                       int page_size, const std::string& page_token);

// The resolved view of `services` (empty = every service of the chain) from `tenant`.
absl::StatusOr<ResolveResult> ResolveView(const ConfigState& state, const std::string& tenant,
                                          const std::vector<std::string>& services);

// The tenant. NOT_FOUND if it does not exist.
absl::StatusOr<TenantInfo> ReadTenant(const ConfigState& state, const std::string& tenant);

// The dependency map of `service` (registered in the tenant's chain) in the tenant's view.
absl::StatusOr<DependenciesResult> ReadDependencies(const ConfigState& state,
                                                    const std::string& tenant,
                                                    const std::string& service);

// One page of tenants by name. page_size as ListEntries.
absl::StatusOr<ListTenantsResult> ListTenantPage(const ConfigState& state, int page_size,
                                                 const std::string& page_token);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_READS_H_
