// The access policy: which identities hold which roles on which tenants, which tenants are
// protected, and how callers authenticate. Loaded from one YAML file (--auth_policy) and
// reloaded when it changes; an immutable value, swapped whole.
//
//   authentication:
//     static_tokens_file: /etc/confcenter/tokens.yaml   # optional
//     jwt_issuers:                                      # optional
//       - issuer: https://kubernetes.default.svc.cluster.local
//         audiences: [confcenter]
//         jwks_file: /etc/confcenter/k8s-jwks.json
//         allow_hs256: false                            # default false
//   protected:
//     tenants: [integration, "pre-*"]    # default [integration]
//     roles: [admin]                     # who may deregister, re-parent, set a TTL on them
//                                        # or re-register their services; default [admin]
//   bindings:
//     - subjects:
//         - {kind: token, name: "ops-*"}
//         - {kind: certificate, name: "spiffe://corp/ops/*"}
//       roles: [admin]
//       tenants: ["*"]
//     - subjects:
//         - kind: jwt
//           issuer: https://gitlab.example.com
//           claims: {project_path: "team/*", ref_type: branch}
//       roles: [cd, editor]
//       tenants: ["{branch}"]     # only the tenant of the branch the token was issued for
//     - subjects: [{kind: jwt, name: "system:serviceaccount:*:*"}]
//       roles: [instance]         # reads its own service's view and its dependencies' endpoints
//       tenants: ["{namespace}"]
//       service: "{serviceaccount}"
//     - subjects: [{kind: token, name: console}]
//       roles: [reader]
//       tenants: ["*"]
//       act_for_others: true      # its x-confcenter-user header is recorded as "on behalf of"
//
// Patterns are shell globs (fnmatch). Tenant patterns and `service` may use placeholders taken
// from the identity: {branch} (the tenant of a CI token's branch), {namespace} and
// {serviceaccount} (a Kubernetes service-account token's), {name} (the identity's name); a
// binding whose placeholder the identity lacks grants nothing.
#ifndef CONFCENTER_SERVER_AUTH_POLICY_H_
#define CONFCENTER_SERVER_AUTH_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/identity.h"
#include "server/auth/token_verifier.h"

namespace confcenter::auth {

// What a caller may do. Each RPC needs one or more of these on the tenant it names.
enum class Right : uint8_t {
  kRead,             // Get, List, Resolve, History, releases, Diff, Subscribe, tenants
  kReadSecrets,      // see the values of secret keys (others see them redacted)
  kWrite,            // Put, Delete, Mask, Txn
  kRegister,         // Register, Deregister, Touch
  kPublish,          // Rollback, and writes to protected tenants
  kManageProtected,  // Register, Deregister, Touch on protected tenants
  kAudit,            // QueryAudit
  kAdmin,            // Backup
};
// "read", "read-secrets", "write", "register", "publish", "manage-protected", "audit", "admin".
const char* RightName(Right right);

enum class Role : uint8_t {
  kAdmin,         // every right
  kCd,            // register + read
  kEditor,        // write + read
  kPublisher,     // publish + write + read
  kReader,        // read
  kSecretReader,  // read + read-secrets
  kAuditor,       // audit
  kInstance,      // read + read-secrets of one service's view, read of its dependencies'
                  // `_endpoint.*` keys; nothing else
};
// "admin", "cd", "editor", "publisher", "reader", "secret-reader", "auditor", "instance".
const char* RoleName(Role role);

// One role an identity holds, with its placeholders filled in.
struct Grant {
  Role role;
  std::string tenant_pattern;  // a glob
  std::string service;         // kInstance only: the service whose view it reads
  bool act_for_others = false;
};

// Which identities a binding applies to; every field set must match.
struct SubjectMatcher {
  std::optional<IdentityKind> kind;
  std::string name = "*";
  std::string issuer = "*";
  std::map<std::string, std::string> claims;  // claim -> glob; the claim must be present
};

struct Binding {
  std::vector<SubjectMatcher> subjects;  // any of them
  std::vector<Role> roles;
  std::vector<std::string> tenants;  // globs with placeholders
  std::string service;               // kInstance: the service (placeholders allowed)
  bool act_for_others = false;
};

class Policy {
 public:
  // Parses the policy file's text; INVALID_ARGUMENT naming `origin`, the line and the problem
  // for anything unknown or malformed (an unknown role, field or placeholder, an instance
  // binding without `service`, a JWT issuer without audiences, ...).
  static absl::StatusOr<Policy> Parse(absl::string_view yaml, absl::string_view origin);
  // Reads and parses `path`.
  static absl::StatusOr<Policy> Load(const std::string& path);
  // The built-in policy of a server with no --auth_policy: nobody authenticates, and the
  // anonymous caller is admin on everything (the loopback default).
  static Policy AllowAll();

  // The roles `identity` holds, placeholders filled in.
  std::vector<Grant> GrantsFor(const Identity& identity) const;
  // Whether `tenant` is protected.
  bool IsProtected(absl::string_view tenant) const;
  // Whether `role` may manage protected tenants.
  bool ManagesProtected(Role role) const;
  // How callers authenticate (the verifier is built from this).
  const TokenVerifierOptions& authentication() const { return authentication_; }
  // True for AllowAll: no authentication at all.
  bool allow_all() const { return allow_all_; }

 private:
  bool allow_all_ = false;
  TokenVerifierOptions authentication_;
  std::vector<std::string> protected_tenants_ = {"integration"};
  std::vector<Role> protected_roles_ = {Role::kAdmin};
  std::vector<Binding> bindings_;
};

// Whether `pattern` (a shell glob) matches `text`.
bool GlobMatches(absl::string_view pattern, absl::string_view text);

}  // namespace confcenter::auth

#endif  // CONFCENTER_SERVER_AUTH_POLICY_H_
