#include "server/auth/access.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace confcenter::auth {
namespace {

constexpr Right kAllRights[] = {Right::kRead,     Right::kReadSecrets, Right::kWrite,
                                Right::kRegister, Right::kPublish,     Right::kManageProtected,
                                Right::kAudit,    Right::kAdmin};

// Whether a grant's tenant pattern covers `tenant`; "" (every tenant) only by "*".
bool Covers(const Grant& grant, absl::string_view tenant) {
  if (tenant.empty()) return grant.tenant_pattern == "*";
  return GlobMatches(grant.tenant_pattern, tenant);
}

std::string Denied(const Identity& id, Right right, absl::string_view tenant,
                   absl::string_view extra = "") {
  return absl::StrCat(
      DescribeIdentity(id), " lacks the \"", RightName(right), "\" right on ",
      tenant.empty() ? std::string("every tenant") : absl::StrCat("tenant \"", tenant, "\""), extra,
      "; WhoAmI lists the caller's rights");
}

}  // namespace

bool RoleHas(const Policy& policy, Role role, Right right) {
  switch (role) {
    case Role::kAdmin:
      return true;
    case Role::kCd:
      return right == Right::kRegister || right == Right::kRead ||
             (right == Right::kManageProtected && policy.ManagesProtected(role));
    case Role::kEditor:
      return right == Right::kWrite || right == Right::kRead ||
             (right == Right::kManageProtected && policy.ManagesProtected(role));
    case Role::kPublisher:
      return right == Right::kPublish || right == Right::kWrite || right == Right::kRead ||
             (right == Right::kManageProtected && policy.ManagesProtected(role));
    case Role::kReader:
      return right == Right::kRead;
    case Role::kSecretReader:
      return right == Right::kRead || right == Right::kReadSecrets;
    case Role::kAuditor:
      return right == Right::kAudit;
    case Role::kInstance:
      return false;  // scoped to one service: see Access::InstanceReach
  }
  return false;
}

Access::Access(Identity identity, std::shared_ptr<const Policy> policy,
               DependencyLookup dependencies)
    : identity_(std::move(identity)),
      policy_(std::move(policy)),
      dependencies_(std::move(dependencies)),
      grants_(policy_->GrantsFor(identity_)) {}

bool Access::Holds(Right right, absl::string_view tenant) const {
  for (const Grant& g : grants_) {
    if (RoleHas(*policy_, g.role, right) && Covers(g, tenant)) return true;
  }
  return false;
}

absl::Status Access::Require(Right right, absl::string_view tenant) const {
  if (Holds(right, tenant)) return absl::OkStatus();
  std::string extra;
  if ((right == Right::kPublish || right == Right::kManageProtected) && !tenant.empty() &&
      policy_->IsProtected(tenant)) {
    extra = " (a protected tenant)";
  }
  return absl::PermissionDeniedError(Denied(identity_, right, tenant, extra));
}

int Access::InstanceReach(absl::string_view tenant, absl::string_view service) const {
  int reach = 0;
  for (const Grant& g : grants_) {
    if (g.role != Role::kInstance || !Covers(g, tenant)) continue;
    if (g.service == service) return 1;
    if (dependencies_ && reach == 0) {
      for (const std::string& d : dependencies_(std::string(tenant), g.service)) {
        if (d == service) reach = 2;
      }
    }
  }
  return reach;
}

absl::Status Access::RequireRead(absl::string_view tenant, absl::string_view service) const {
  if (Holds(Right::kRead, tenant)) return absl::OkStatus();
  if (!service.empty() && InstanceReach(tenant, service) != 0) return absl::OkStatus();
  return absl::PermissionDeniedError(
      Denied(identity_, Right::kRead, tenant,
             service.empty() ? std::string() : absl::StrCat(" for service \"", service, "\"")));
}

bool Access::MaySeeSecrets(absl::string_view tenant, absl::string_view service) const {
  return Holds(Right::kReadSecrets, tenant) || InstanceReach(tenant, service) == 1;
}

bool Access::MaySeeKey(absl::string_view tenant, absl::string_view service,
                       absl::string_view key) const {
  if (Holds(Right::kRead, tenant)) return true;
  switch (InstanceReach(tenant, service)) {
    case 1:
      return true;
    case 2:
      return absl::StartsWith(key, kEndpointKeyPrefixForAccess);
    default:
      return false;
  }
}

bool Access::SeesEverything(absl::string_view tenant) const {
  return Holds(Right::kRead, tenant) && Holds(Right::kReadSecrets, tenant);
}

bool Access::ActsForOthers() const {
  return std::any_of(grants_.begin(), grants_.end(),
                     [](const Grant& g) { return g.act_for_others; });
}

std::vector<Right> Access::RightsOn(absl::string_view tenant) const {
  std::vector<Right> out;
  for (Right r : kAllRights) {
    if (Holds(r, tenant)) out.push_back(r);
  }
  return out;
}

}  // namespace confcenter::auth
