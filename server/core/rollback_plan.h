// Rollback planning: the writes that turn a scope's current own entries into what they were
// at an earlier revision. Pure functions over ConfigState; ConfigCore runs them on the
// committer thread, HistoryCore for dry runs.
#ifndef CONFCENTER_SERVER_CORE_ROLLBACK_PLAN_H_
#define CONFCENTER_SERVER_CORE_ROLLBACK_PLAN_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/core/config_state.h"
#include "server/core/writes/rollback.h"
#include "server/core/writes/txn.h"
#include "storage/store.h"

namespace confcenter {

// Longest release message accepted, in bytes.
inline constexpr size_t kMaxReleaseMessageBytes = 4096;

// INVALID_ARGUMENT naming `field` if `message` is longer than kMaxReleaseMessageBytes.
absl::Status ValidateReleaseMessage(absl::string_view field, absl::string_view message);

// For every key of `scope` whose current own entry (in `state`) differs from its entry in
// `past` (value, content type, or value vs mask vs absent; revisions do not count), one
// change from the current entry to the past one. Ordered by (service, key).
std::vector<RollbackChange> PlanRollbackChanges(const ConfigState& state,
                                                const storage::HistoryScope& scope,
                                                const storage::StateAt& past);

// The Txn operations that apply `changes`: PUT for a value, MASK for a mask, DELETE for
// absence.
std::vector<WriteOp> RollbackOps(const std::vector<RollbackChange>& changes);

// Own keys of `tenant` that `changes` add minus those they remove.
int64_t KeyCountDelta(const std::vector<RollbackChange>& changes);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_ROLLBACK_PLAN_H_
