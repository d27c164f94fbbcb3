// Register: creates or updates a tenant and records service definitions, in one revision with
// the entries they generate (endpoints, defaults, secrets); see tenant.proto for the rules.
#ifndef CONFCENTER_SERVER_CORE_WRITES_REGISTER_H_
#define CONFCENTER_SERVER_CORE_WRITES_REGISTER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "confcenter/v1/tenant.pb.h"
#include "server/core/reads.h"
#include "server/core/write.h"

namespace confcenter {

struct RegisterCommand {
  std::string tenant;
  std::string parent;  // empty: integration for a new tenant, unchanged for an existing one
  bool root = false;   // create or move the tenant to be a root
  std::vector<v1::ServiceDefinition> services;
  bool force = false;                         // accept version conflicts as warnings
  absl::Duration ttl = absl::ZeroDuration();  // zero: keep the current TTL
  bool keep = false;                          // keep the tenant when its last service goes
};

struct RegisterResult {
  int64_t revision = 0;
  bool created = false;
  TenantInfo tenant;
  std::vector<v1::DependencyMap> dependency_maps;  // per registered service, request order
  std::vector<std::string> warnings;
};

using RegisterDone = std::function<void(absl::StatusOr<RegisterResult>)>;

// Errors: INVALID_ARGUMENT (names, definitions, ttl), NOT_FOUND (parent), FAILED_PRECONDITION
// (cycle; version conflicts without force), RESOURCE_EXHAUSTED (--max_keys_per_tenant).
std::unique_ptr<Write> MakeRegisterWrite(RegisterCommand command, RegisterDone done);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_REGISTER_H_
