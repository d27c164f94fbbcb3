// Touch: renews a tenant's TTL from now.
#ifndef CONFCENTER_SERVER_CORE_WRITES_TOUCH_H_
#define CONFCENTER_SERVER_CORE_WRITES_TOUCH_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/write.h"

namespace confcenter {

struct TouchResult {
  int64_t revision = 0;
  std::optional<absl::Time> expire_time;  // none without a TTL
};

using TouchDone = std::function<void(absl::StatusOr<TouchResult>)>;

// Errors: INVALID_ARGUMENT (name), NOT_FOUND (tenant). A tenant without a TTL is unchanged.
std::unique_ptr<Write> MakeTouchWrite(std::string tenant, TouchDone done);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_TOUCH_H_
