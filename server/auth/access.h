// What one authenticated caller may do: its identity and the roles the policy grants it,
// asked per request. Cheap to build (one pass over the policy's bindings) and immutable.
#ifndef CONFCENTER_SERVER_AUTH_ACCESS_H_
#define CONFCENTER_SERVER_AUTH_ACCESS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/auth/identity.h"
#include "server/auth/policy.h"

namespace confcenter::auth {

// The services `service` declares as dependencies in the definition `tenant` sees (its own
// registration, else the nearest ancestor's); empty if it is not registered along the chain.
using DependencyLookup =
    std::function<std::vector<std::string>(const std::string& tenant, const std::string& service)>;

// The key prefix an instance may read in its dependencies' views.
inline constexpr char kEndpointKeyPrefixForAccess[] = "_endpoint.";

class Access {
 public:
  Access(Identity identity, std::shared_ptr<const Policy> policy, DependencyLookup dependencies);

  const Identity& identity() const { return identity_; }
  const std::vector<Grant>& grants() const { return grants_; }
  const Policy& policy() const { return *policy_; }

  // OK if the caller holds `right` on `tenant` through a role that is not scoped to one
  // service; an empty `tenant` means every tenant (a grant on "*"). Else PERMISSION_DENIED
  // naming the caller, the right and the tenant.
  absl::Status Require(Right right, absl::string_view tenant) const;

  // OK if the caller may read `service`'s view in `tenant`: a tenant-wide read right, or an
  // instance grant for that service or for a service that depends on it (which sees only its
  // `_endpoint.*` keys: see MaySeeKey). Else PERMISSION_DENIED.
  absl::Status RequireRead(absl::string_view tenant, absl::string_view service) const;

  // Whether the caller sees the value of a secret key of `service` in `tenant`'s view.
  bool MaySeeSecrets(absl::string_view tenant, absl::string_view service) const;

  // Whether the caller sees `key` of `service` in `tenant`'s view at all (false only for
  // keys of a dependency's view other than its endpoints, for instance callers).
  bool MaySeeKey(absl::string_view tenant, absl::string_view service, absl::string_view key) const;

  // Whether every key of the caller's reads is visible, so responses need no filtering.
  bool SeesEverything(absl::string_view tenant) const;

  // Whether the caller may name another author (x-confcenter-user), recorded as "on behalf of".
  bool ActsForOthers() const;

  // The rights the caller holds on `tenant` (tenant-wide ones), in Right order.
  std::vector<Right> RightsOn(absl::string_view tenant) const;

 private:
  bool Holds(Right right, absl::string_view tenant) const;
  // Whether an instance grant on `tenant` is for `service` itself (1), for a service that
  // depends on it (2), or neither (0).
  int InstanceReach(absl::string_view tenant, absl::string_view service) const;

  Identity identity_;
  std::shared_ptr<const Policy> policy_;
  DependencyLookup dependencies_;
  std::vector<Grant> grants_;
};

// Whether `role` carries `right` (kManageProtected: see Policy::ManagesProtected).
bool RoleHas(const Policy& policy, Role role, Right right);

}  // namespace confcenter::auth

#endif  // CONFCENTER_SERVER_AUTH_ACCESS_H_
