// The storage seam: everything confcenterd persists goes through Store. Nothing above
// storage/ knows which engine runs (RocksDB today; etcd later).
#ifndef CONFCENTER_STORAGE_STORE_H_
#define CONFCENTER_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/records.pb.h"

namespace confcenter::storage {

// Identifies one tenant's own entry.
struct EntryKey {
  std::string tenant;
  std::string service;
  std::string key;

  friend bool operator==(const EntryKey& a, const EntryKey& b) {
    return a.tenant == b.tenant && a.service == b.service && a.key == b.key;
  }
};

// Everything a store holds as current state, in key order.
struct LoadedState {
  int64_t revision = 0;
  std::vector<TenantRecord> tenants;
  std::vector<std::pair<EntryKey, EntryRecord>> entries;
};

// A durable, revisioned record store. Implementations are thread-safe: Commit is called by one
// committer at a time, reads may run concurrently with it.
class Store {
 public:
  virtual ~Store() = default;

  // Appends `changes` (consecutive revisions, increasing, the first one current revision + 1)
  // to the change log and applies them to the current state, atomically: the entries and
  // tenants they put or delete, and the revision counter (set to the last one's revision).
  // When the store was opened with sync on (the default) everything is on disk when this
  // returns OK. On error nothing of the call is visible, now or after a restart; the error is
  // UNAVAILABLE (I/O), RESOURCE_EXHAUSTED (disk full) or INVALID_ARGUMENT (revisions out of
  // sequence).
  virtual absl::Status Commit(const std::vector<ChangeSet>& changes) = 0;

  // The revision of the last committed change set; 0 for a new store.
  virtual int64_t CurrentRevision() const = 0;

  // Reads the whole current state (not the change log). Used once at start-up.
  virtual absl::StatusOr<LoadedState> LoadAll() = 0;

  // Calls `visit` for each change-log record with revision > `after`, in revision order,
  // until `visit` returns false or the log ends. OUT_OF_RANGE if the log no longer reaches
  // back to after + 1 (it was compacted); the message names the oldest revision kept.
  virtual absl::Status ReadChanges(int64_t after,
                                   const std::function<bool(const ChangeSet&)>& visit) = 0;

  // The oldest revision still in the change log, or 0 if the log is empty.
  virtual absl::StatusOr<int64_t> OldestChange() = 0;

  // Drops change-log records with revision < `revision`. Current state is untouched.
  virtual absl::Status CompactChangesBefore(int64_t revision) = 0;
};

// Options of the RocksDB engine.
struct RocksDbStoreOptions {
  // Sync the WAL before Write returns. Default true. Turning it off is unsafe: a machine
  // crash can lose acknowledged writes (a process crash cannot).
  bool sync = true;
  // Create the database if `path` does not hold one yet. Default true.
  bool create_if_missing = true;
};

// Opens (or creates) the RocksDB engine in directory `path`.
// Errors: FAILED_PRECONDITION if the directory is locked by another process, holds something
// that is not a confcenter store, or holds a newer format; DATA_LOSS if it is corrupt;
// UNAVAILABLE on other I/O errors. The message is one line meant for an operator.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path,
                                                        const RocksDbStoreOptions& options);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_STORE_H_
