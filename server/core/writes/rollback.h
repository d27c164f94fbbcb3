// Rollback: restores a scope (a key, a service or a tenant) to its own entries at an earlier
// revision, as one new revision and a release.
#ifndef CONFCENTER_SERVER_CORE_WRITES_ROLLBACK_H_
#define CONFCENTER_SERVER_CORE_WRITES_ROLLBACK_H_

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/write.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// Restores `scope` to `past` (its own entries at to_revision, read from history).
struct RollbackCommand {
  storage::HistoryScope scope;
  int64_t to_revision = 0;
  storage::StateAt past;
  // The create revision of the tenant `past` was read for: the plan refuses a tenant that
  // was removed and created again since.
  int64_t tenant_create_revision = 0;
};

// One key a rollback changes.
struct RollbackChange {
  storage::EntryKey key;
  std::optional<storage::EntryRecord> before;  // the current own entry, if any
  std::optional<storage::EntryRecord> after;   // the restored one; nullopt = deleted
};

struct RollbackResult {
  // The revision the rollback committed at; the current revision if nothing changed.
  int64_t revision = 0;
  std::vector<RollbackChange> changes;
};

using RollbackDone = std::function<void(absl::StatusOr<RollbackResult>)>;

// Writes the differences between the scope's current own entries and command.past. Errors as
// for Txn (NOT_FOUND if the tenant went away, RESOURCE_EXHAUSTED for --max_keys_per_tenant),
// FAILED_PRECONDITION if the tenant was created again since, INVALID_ARGUMENT for the
// release message.
std::unique_ptr<Write> MakeRollbackWrite(RollbackCommand command, RollbackDone done);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_ROLLBACK_H_
