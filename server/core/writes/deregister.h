// Deregister: removes services of a tenant with their entries; the tenant itself with `all`,
// or with a branch's last service. Idempotent.
#ifndef CONFCENTER_SERVER_CORE_WRITES_DEREGISTER_H_
#define CONFCENTER_SERVER_CORE_WRITES_DEREGISTER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/write.h"

namespace confcenter {

struct DeregisterCommand {
  std::string tenant;
  std::vector<std::string> services;
  bool all = false;
  bool force = false;  // required to remove integration wholesale
  // Reclamation: remove the tenant only if it still expires at or before this time (a Touch
  // may have renewed it since it was found expired).
  std::optional<absl::Time> only_if_expired_at;
};

struct DeregisterResult {
  int64_t revision = 0;
  std::vector<std::string> removed_services;
  int64_t removed_keys = 0;
  bool tenant_removed = false;
  // Dependents that now route to an incompatible (or no) registration.
  std::vector<std::string> warnings;
};

using DeregisterDone = std::function<void(absl::StatusOr<DeregisterResult>)>;

// Errors: INVALID_ARGUMENT (names; services with all, or neither), FAILED_PRECONDITION
// (integration wholesale without force; a tenant with children). A tenant or service that
// does not exist is not an error.
std::unique_ptr<Write> MakeDeregisterWrite(DeregisterCommand command, DeregisterDone done);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_DEREGISTER_H_
