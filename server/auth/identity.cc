#include "server/auth/identity.h"

#include "absl/strings/str_cat.h"

namespace confcenter::auth {

const char* IdentityKindName(IdentityKind kind) {
  switch (kind) {
    case IdentityKind::kAnonymous:
      return "anonymous";
    case IdentityKind::kToken:
      return "token";
    case IdentityKind::kJwt:
      return "jwt";
    case IdentityKind::kCertificate:
      return "certificate";
  }
  return "unknown";  // not a valid enumerator: a cast from an out-of-range int
}

std::string DescribeIdentity(const Identity& identity) {
  return absl::StrCat(IdentityKindName(identity.kind), ":", identity.name);
}

}  // namespace confcenter::auth
