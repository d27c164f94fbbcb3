// A write refused before planning (invalid, or refused by the edge): it only gets its audit
// record, then fails with its status.
#ifndef CONFCENTER_SERVER_CORE_WRITES_REJECTED_H_
#define CONFCENTER_SERVER_CORE_WRITES_REJECTED_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "server/core/write.h"

namespace confcenter {

// `status` is what the audit records and `done` gets; OK records something that happened
// elsewhere (e.g. a read of secrets) and changes nothing.
std::unique_ptr<Write> MakeRejectedWrite(absl::Status status, AuditTargets targets,
                                         std::function<void(const absl::Status&)> done);

// `write` refused with `status`: audited as `write` names its targets, then failed through it.
std::unique_ptr<Write> MakeRejectedWrite(std::unique_ptr<Write> write, absl::Status status);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_REJECTED_H_
