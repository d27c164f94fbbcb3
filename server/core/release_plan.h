// Planning of the release workflow (drafts, promotion, reset): what a change set does to a
// tenant's resolved view, whom it reaches, and which changes promote or reset a tenant. Pure
// functions over a ConfigState the caller holds read-locked; the write kinds of
// writes/release.h run them on the committer thread, the gRPC edge for previews.
#ifndef CONFCENTER_SERVER_CORE_RELEASE_PLAN_H_
#define CONFCENTER_SERVER_CORE_RELEASE_PLAN_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/core/config_state.h"
#include "server/core/core_options.h"
#include "server/core/history_core.h"
#include "server/core/writes/txn.h"
#include "storage/records.pb.h"

namespace confcenter {

// storage::DraftChangeRecord.op values (confcenter.v1.DraftOp numbers).
inline constexpr int32_t kDraftPut = 1;
inline constexpr int32_t kDraftDelete = 2;
inline constexpr int32_t kDraftMask = 3;

// Most drafts one tenant holds at once.
inline constexpr int kMaxDraftsPerTenant = 64;
// Most bytes (serialized) all drafts of one tenant hold: they live in the tenant's record,
// which every change to them writes whole (twice in the change log: before and after).
inline constexpr int64_t kMaxDraftBytesPerTenant = 256 << 10;

using DraftChanges = google::protobuf::RepeatedPtrField<storage::DraftChangeRecord>;

// Orders changes by (service, key), the order drafts keep them in.
void SortByKey(DraftChanges& changes);

// INVALID_ARGUMENT naming `field` (e.g. "changes[2]") and its member if the change is
// malformed: service or key names, an op that is not PUT/DELETE/MASK, a value or content
// type on DELETE/MASK, a value over --max_value_bytes.
absl::Status ValidateDraftChange(const CoreOptions& options, absl::string_view field,
                                 const storage::DraftChangeRecord& change);

// INVALID_ARGUMENT naming "<field>[i].value" (with `per_change`, else "<field>") if a PUT
// of `changes` would write a secret in `tenant` (declared secret by the definition it sees,
// or the current own entry is one): drafts hold values in the tenant's record, which is not
// sealed at rest.
absl::Status CheckNoSecretValues(const ConfigState& state, const std::string& tenant,
                                 const DraftChanges& changes, absl::string_view field,
                                 bool per_change = true);

// What applying `changes` to `tenant`'s own entries does to its resolved view: one entry per
// key whose visible value (or content type, or presence) differs, left = now, right = after
// (source `tenant`, revision 0). Ordered by (service, key). The tenant must exist.
std::vector<DiffEntry> DiffOfChanges(const ConfigState& state, const std::string& tenant,
                                     const DraftChanges& changes);

// The tenants whose views `changes` to `tenant` reach: the tenant and every descendant that
// does not override all changed keys on its way down; and the services changed.
struct Reach {
  std::vector<std::string> tenants;  // ordered
  std::set<std::string> services;
};
Reach ReachOf(const ConfigState& state, const std::string& tenant, const DraftChanges& changes);

// "service/key" of each change whose key's own entry in `tenant` is no longer at the change's
// base_revision.
std::vector<std::string> ConflictsOf(const ConfigState& state, const std::string& tenant,
                                     const DraftChanges& changes);

// The Txn operations that apply `changes` to `tenant`; with `check_base` each compares the
// own entry's revision with the change's base_revision (a conflict fails the Txn).
std::vector<WriteOp> OpsOf(const std::string& tenant, const DraftChanges& changes, bool check_base);

// The changes to `to_tenant`'s own entries that make its view of `services` (empty: every
// service of from_tenant's view, and of to_tenant's with remove_missing) equal from_tenant's,
// except keys that are generated (in either tenant's definition), secret or `_endpoint.*`:
// those are counted in `skipped`. Keys missing in from_tenant are hidden in to_tenant (own
// entry removed, masked if still inherited) only with `remove_missing`. Errors:
// NOT_FOUND (either tenant), INVALID_ARGUMENT (to_tenant is from_tenant or its ancestor).
struct PromotionPlan {
  DraftChanges changes;  // ordered by (service, key), base revisions set
  int32_t skipped = 0;
};
absl::StatusOr<PromotionPlan> PlanPromotion(const ConfigState& state,
                                            const std::string& from_tenant,
                                            const std::string& to_tenant,
                                            const std::vector<std::string>& services,
                                            bool remove_missing);

// The changes that take `tenant`'s own entries of `services` (empty: all) back to what its
// registrations write: a default of a service it registered is set again (or removed where
// the parent already gives it, as Register does), every other own entry is removed; generated
// keys, secrets and `_endpoint.*` keys stay. NOT_FOUND for the tenant.
absl::StatusOr<PromotionPlan> PlanReset(const ConfigState& state, const std::string& tenant,
                                        const std::vector<std::string>& services);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_RELEASE_PLAN_H_
