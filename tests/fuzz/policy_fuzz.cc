// Policy files: any bytes parse to a policy or to INVALID_ARGUMENT naming the origin, never a
// crash; a policy that parses answers GrantsFor and the decisions for any identity.
#include <string>

#include "server/auth/access.h"
#include "server/auth/policy.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter::auth;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Policy> policy = Policy::Parse(text, "fuzz.yaml");
  if (!policy.ok()) {
    FUZZ_CHECK(policy.status().code() == absl::StatusCode::kInvalidArgument,
               policy.status().ToString());
    FUZZ_CHECK(policy.status().message().rfind("fuzz.yaml", 0) == 0, policy.status().ToString());
    return 0;
  }
  auto shared = std::make_shared<const Policy>(*std::move(policy));
  Identity id;
  id.kind = IdentityKind::kJwt;
  id.name = text.substr(0, 64);
  id.claims = {{"branch", text.substr(0, 16)},
               {"kubernetes.namespace", "feat-x"},
               {"kubernetes.serviceaccount", "orders"},
               {"ref_type", "branch"}};
  Access access(id, shared, [](const std::string&, const std::string&) {
    return std::vector<std::string>{"payments"};
  });
  (void)access.Require(Right::kWrite, "feat-x");
  (void)access.RequireRead("feat-x", "payments");
  (void)access.MaySeeKey("feat-x", "payments", "_endpoint.grpc");
  (void)access.RightsOn("integration");
  return 0;
}
