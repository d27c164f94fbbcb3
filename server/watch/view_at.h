// The resolved view of a tenant at any revision since a set of change sets began, and the
// change events of one change set for a tenant's view: the watch hub's event computation,
// apart from its streams so that it can be tested in-process. Decides every key through the
// one resolution rule (server/core/resolution.h).
#ifndef CONFCENTER_SERVER_WATCH_VIEW_AT_H_
#define CONFCENTER_SERVER_WATCH_VIEW_AT_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "confcenter/v1/watch.pb.h"
#include "server/core/config_state.h"
#include "server/core/gray.h"
#include "storage/records.pb.h"

namespace confcenter {

// Whether the change is to an own entry (not to a tenant).
inline bool IsEntryChange(const storage::Change& c) {
  return c.type() == storage::Change::ENTRY_PUT || c.type() == storage::Change::ENTRY_DELETE;
}

// Which services a stream (or a tenant's streams together) follows.
struct Interest {
  bool all = false;
  absl::flat_hash_set<std::string> services;
  bool Has(const std::string& service) const { return all || services.contains(service); }
};

using KeySet = absl::btree_set<std::pair<std::string, std::string>>;  // (service, key)

// The state at any revision t since the first of `later` (or now), computed from the current
// state and the change sets that led to it: an entry at time t is the `previous` of its first
// change after t, or the current entry if it has not changed since.
class ViewAt {
 public:
  // A key of a view: the winning entry and the tenant it came from.
  struct Effective {
    const storage::EntryRecord* entry = nullptr;  // nullptr: absent from the view
    const std::string* source = nullptr;
  };

  // `deleted_parents`: for tenants deregistered before `later`, the parent each had. Keeps
  // pointers into `state`, `later` and `deleted_parents`, which must outlive it.
  ViewAt(const ConfigState& state, const std::vector<storage::ChangeSet>& later,
         const absl::flat_hash_map<std::string, std::string>& deleted_parents);

  // The own entry of (tenant, service, key) at revision t, or nullptr.
  const storage::EntryRecord* Entry(const std::string& tenant, const std::string& service,
                                    const std::string& key, int64_t t) const;

  // The tenant's record at revision t, or nullptr if it did not exist then.
  const storage::TenantRecord* Tenant(const std::string& name, int64_t t) const;

  // The chain a stream of `tenant` follows at t: the tenant's own chain while it exists;
  // a tenant that does not exist (deregistered) is replaced by the parent it had, so its
  // streams follow that parent's view.
  std::vector<std::string> Chain(const std::string& tenant, int64_t t) const;

  // The parent `tenant` had when it was last deregistered at or before t ("" if unknown).
  std::string DeletedParent(const std::string& tenant, int64_t t) const;

  // Adds every (service, key) of `interest` that a tenant of `chain` had an entry for at t.
  void CollectKeys(const std::vector<std::string>& chain, int64_t t, const Interest& interest,
                   KeySet* out) const;

  // The key in the view along `chain` at t, by the resolution rule.
  Effective Resolve(const std::vector<std::string>& chain, const std::string& service,
                    const std::string& key, int64_t t) const;

  // The changes of `set` to the view of a stream of `tenant` that follows `interest`,
  // ordered by (service, key). With `instance`, the stream is that instance's: at each
  // revision it follows the tenant's gray tenant while one exists whose audience holds it
  // (server/core/gray.h). Keys decided by a gray tenant name its base tenant as their source
  // and carry the gray release id; a key whose value stays the same while it moves between a
  // gray tenant and its base (a promotion) is no event.
  std::vector<v1::WatchEvent> Events(const storage::ChangeSet& set, const std::string& tenant,
                                     const Interest& interest,
                                     const InstanceIdentity* instance = nullptr) const;

  // The tenant whose chain a stream of `tenant` for `instance` follows at t: its gray tenant
  // while one exists whose audience holds the instance, else `tenant`.
  std::string ViewTenant(const std::string& tenant, const InstanceIdentity* instance,
                         int64_t t) const;

 private:
  const ConfigState& state_;
  const absl::flat_hash_map<std::string, std::string>& deleted_parents_;
  absl::flat_hash_map<std::string, std::vector<std::pair<int64_t, const storage::Change*>>>
      entries_;
  absl::flat_hash_map<std::string, std::vector<std::pair<int64_t, const storage::Change*>>>
      tenants_;
  absl::flat_hash_map<std::string, KeySet> touched_keys_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_WATCH_VIEW_AT_H_
