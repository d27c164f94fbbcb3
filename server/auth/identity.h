// Who a caller is, once authenticated: the subject of every authorization decision and the
// author the audit log records.
#ifndef CONFCENTER_SERVER_AUTH_IDENTITY_H_
#define CONFCENTER_SERVER_AUTH_IDENTITY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace confcenter::auth {

enum class IdentityKind {
  // No credentials, on a server with no authentication configured (the loopback default).
  kAnonymous,
  // A static bearer token from the tokens file; name = the token's name there.
  kToken,
  // A verified JWT; name = its `sub` claim, issuer = its `iss`.
  kJwt,
  // A verified mTLS client certificate; name = its first SAN URI, else DNS name, else CN.
  kCertificate,
};

// "anonymous", "token", "jwt" or "certificate": the word policies and audit records use.
const char* IdentityKindName(IdentityKind kind);

struct Identity {
  IdentityKind kind = IdentityKind::kAnonymous;
  std::string name;
  // JWT only: the `iss` claim and the `aud` claim (a string audience is one element).
  std::string issuer;
  std::vector<std::string> audiences;
  // JWT only: every top-level claim whose value is a string, number or boolean, as text
  // (numbers in decimal, booleans "true"/"false"), plus these derived ones:
  //   "kubernetes.namespace", "kubernetes.serviceaccount": from a Kubernetes projected
  //     service-account token's `kubernetes.io` claim (or parsed from a `sub` of the form
  //     system:serviceaccount:NS:NAME);
  //   "branch": the branch a CI token was issued for: GitLab's `ref` when `ref_type` is
  //     "branch"; GitHub's `ref` without "refs/heads/" when it names a branch.
  std::map<std::string, std::string> claims;
  // When the credential stops being valid; InfiniteFuture for certificates and static tokens.
  absl::Time expires = absl::InfiniteFuture();
};

// "KIND:NAME", e.g. "jwt:system:serviceaccount:feat-x:orders" or "token:ops-alice": what
// audit records and logs name the caller by.
std::string DescribeIdentity(const Identity& identity);

}  // namespace confcenter::auth

#endif  // CONFCENTER_SERVER_AUTH_IDENTITY_H_
