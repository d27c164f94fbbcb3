// The service registry's rules, apart from the committer: validating definitions, rendering
// endpoints, generating secrets, routing dependencies through a tenant's chain and checking
// version compatibility. Pure functions over ConfigState; ConfigCore plans writes with them.
#ifndef CONFCENTER_SERVER_CORE_REGISTRY_H_
#define CONFCENTER_SERVER_CORE_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "confcenter/v1/tenant.pb.h"
#include "server/core/config_state.h"

namespace confcenter {

// Endpoints live in their service's config under "_endpoint.<endpoint name>".
inline constexpr absl::string_view kEndpointKeyPrefix = "_endpoint.";

// Validates a definition as sent to Register. `field` is its path in the request
// ("services[0]"); errors name the path inside it ("services[0].dependencies[2].range: ...").
// `max_value_bytes` bounds default values.
absl::Status ValidateDefinition(absl::string_view field, const v1::ServiceDefinition& definition,
                                int64_t max_value_bytes);

// The definition's endpoints rendered for `tenant`, by endpoint name. Assumes a valid
// definition.
std::map<std::string, std::string> RenderEndpoints(const v1::ServiceDefinition& definition,
                                                   absl::string_view tenant);

// A fresh value for a generated key, from the kernel's CSPRNG. Assumes a valid `key`.
absl::StatusOr<std::string> GenerateValue(const v1::GeneratedKey& key);

// "name@version", or "name" for an unversioned service.
std::string DescribeService(const v1::ServiceDefinition& definition);

// The registrations seen from one tenant: per service, the nearest tenant of the chain that
// registered it. Holds pointers into the state (and into `override_services`): use it while
// both are unchanged.
class RegistryView {
 public:
  struct Registration {
    std::string tenant;
    // The registered definition (TenantState::definitions, or one of `override_services`).
    const v1::ServiceDefinition* definition = nullptr;
  };

  // The view along `chain` (nearest first). If `override_tenant` is in the chain, its
  // registrations are `override_services` instead of the stored ones (the view after a
  // planned change).
  RegistryView(const ConfigState& state, const std::vector<std::string>& chain,
               absl::string_view override_tenant = {},
               const std::vector<v1::ServiceDefinition>* override_services = nullptr);

  // The nearest registration of `service`, or nullptr.
  const Registration* Find(absl::string_view service) const;
  // Every visible registration, by service name.
  const std::map<std::string, Registration>& registrations() const { return registrations_; }
  // The tenant the view is of (the chain's first).
  const std::string& tenant() const { return chain_.front(); }
  const std::vector<std::string>& chain() const { return chain_; }

 private:
  std::vector<std::string> chain_;
  std::map<std::string, Registration> registrations_;
};

// The views of `chain.front()` and (with `descendants`) of every tenant below it, in which that
// tenant's registrations are `services` (the state after a planned change); the tenant's own
// view first. `chain` is the tenant's chain after the change.
std::vector<std::unique_ptr<RegistryView>> ViewsAfterChange(
    const ConfigState& state, const std::vector<std::string>& chain,
    const std::vector<v1::ServiceDefinition>& services, bool descendants);

// `definition`'s dependencies routed in `view`.
v1::DependencyMap BuildDependencyMap(const RegistryView& view,
                                     const v1::ServiceDefinition& definition);

// What a registration changes for compatibility.
struct CompatibilityReport {
  // Incompatible pairs, in words ("b@1.4.0 requires a ^1.2; in f1 it would route to
  // a@2.0.0"), ordered and unique.
  std::set<std::string> conflicts;
  // Unregistered or unversioned dependencies, ordered and unique.
  std::set<std::string> warnings;
  // Conflicts and warnings by the registered service they involve.
  std::map<std::string, std::set<std::string>> by_service;
};

// Checks, in `views` (the registering tenant's view first, then its descendants' views, all
// after the change), every dependent -> dependency pair in which one of `changed` (services
// registered by the change in `registering_tenant`) takes part through that tenant's
// registration; with `every_pair` (the tenant moved to another parent) every pair. A pair of
// the same two registrations is reported once.
CompatibilityReport CheckCompatibility(const std::vector<const RegistryView*>& views,
                                       absl::string_view registering_tenant,
                                       const std::set<std::string>& changed, bool every_pair);

// After `services` were deregistered from `chain.front()`: checks, in `views` (that tenant's
// and its descendants'), every pair whose dependency is one of `services` and now routes to a
// registration in `chain` (an ancestor's) or to none.
CompatibilityReport CheckDependentsOf(const std::vector<const RegistryView*>& views,
                                      const std::set<std::string>& services,
                                      const std::vector<std::string>& chain);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_REGISTRY_H_
