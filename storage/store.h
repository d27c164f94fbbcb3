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

// A part of one tenant's own entries, as history reads address it.
struct HistoryScope {
  std::string tenant;
  // Empty = every service of the tenant.
  std::string service;
  // Non-empty: exactly this key (service must be set).
  std::string key;
  // Keys starting with this (within `service`, or within every service); empty = all. Ignored
  // when `key` is set.
  std::string key_prefix;
};

// One tenant's own entries of a scope as they were at a revision.
struct StateAt {
  // Reconstruction is exact for revisions >= floor only: history older than this was
  // compacted for the scope's tenant (or predates the history column family).
  int64_t floor = 0;
  // The entries (values and masks) that existed at the revision, in (service, key) order.
  std::vector<std::pair<EntryKey, EntryRecord>> entries;
};

// What one history compaction dropped.
struct HistoryCompaction {
  int64_t versions_dropped = 0;
  int64_t releases_dropped = 0;
  // Tenants whose oldest reconstructible revision moved, with the new value.
  std::vector<std::pair<std::string, int64_t>> floors;
};

// Size and compaction figures of the engine, for the operator's metrics.
struct StoreStats {
  int64_t live_data_bytes = 0;           // estimated live data, all column families
  int64_t sst_files_bytes = 0;           // SST files on disk, all column families
  int64_t memtable_bytes = 0;            // memtables, all column families
  int64_t pending_compaction_bytes = 0;  // estimated bytes compaction still has to rewrite
  int64_t running_compactions = 0;
  int64_t compactions_completed = 0;     // since the store was opened
  int64_t compaction_bytes_written = 0;  // since the store was opened
};

// What a Store::Checkpoint holds.
struct CheckpointInfo {
  int64_t revision = 0;  // the last revision committed in it
  std::string format;    // the store's format marker
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
  // sequence). A failed write does not wedge the store: the next call first tries to recover
  // (and fails the same way while the fault lasts), so writes succeed again once it clears.
  // Same as CommitWithAudit(changes, {}).
  absl::Status Commit(const std::vector<ChangeSet>& changes) {
    return CommitWithAudit(changes, {});
  }

  // Commit, plus: every ENTRY_PUT / ENTRY_DELETE change becomes a history version of its key,
  // every change set marked `release` is kept as a release (indexed under each tenant it
  // touches), and `audit` is appended to the audit log (sequence numbers assigned here, in
  // order) -- all in the same atomic, synced write. `changes` may be empty (audit only); both
  // empty is a no-op.
  virtual absl::Status CommitWithAudit(const std::vector<ChangeSet>& changes,
                                       const std::vector<AuditRecord>& audit) = 0;

  // The revision of the last committed change set; 0 for a new store.
  virtual int64_t CurrentRevision() const = 0;

  // Reads the engine's in-memory figures; no I/O.
  virtual StoreStats Stats() const = 0;

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

  // --- History, releases, audit. Reads see one consistent snapshot per call.

  // Visits the versions of `scope`: keys in (service, key) order, each key's versions newest
  // first, starting strictly after the version (`after_key`, `after_revision`) when
  // after_revision > 0. Stops when `visit` returns false.
  virtual absl::Status ReadHistory(
      const HistoryScope& scope, const EntryKey& after_key, int64_t after_revision,
      const std::function<bool(const EntryKey&, const HistoryRecord&)>& visit) = 0;

  // The scope's own entries at `revision` (each key's latest version <= revision, if it is
  // not a deletion) and the tenant's floor, read from one snapshot. The caller checks
  // revision >= floor before trusting the entries.
  virtual absl::StatusOr<StateAt> ReadStateAt(const HistoryScope& scope, int64_t revision) = 0;

  // The oldest revision from which `tenant`'s own entries can be reconstructed exactly.
  virtual absl::StatusOr<int64_t> HistoryFloor(const std::string& tenant) = 0;

  // Visits the releases touching `tenant` (every release if empty), newest first, with
  // revision < `before` (0 = no bound), until `visit` returns false.
  virtual absl::Status ReadReleases(const std::string& tenant, int64_t before,
                                    const std::function<bool(const ChangeSet&)>& visit) = 0;
  // The release committed at `revision`. NOT_FOUND if there is none (not a release, or
  // compacted).
  virtual absl::StatusOr<ChangeSet> GetRelease(int64_t revision) = 0;

  // Visits audit records newest first, with sequence < `before` (0 = no bound), until
  // `visit` returns false.
  virtual absl::Status ReadAudit(int64_t before,
                                 const std::function<bool(const AuditRecord&)>& visit) = 0;

  // Drops history: of each key's versions, those committed before `cutoff_micros` except the
  // last `keep_versions` (>= 1); all versions of a key whose last version is a deletion
  // committed before the cutoff; releases committed before the cutoff. Raises the floors of
  // the tenants concerned in the same writes.
  virtual absl::StatusOr<HistoryCompaction> CompactHistory(int64_t cutoff_micros,
                                                           int keep_versions) = 0;
  // Drops audit records written before `cutoff_micros`; returns how many.
  virtual absl::StatusOr<int64_t> CompactAudit(int64_t cutoff_micros) = 0;

  // Writes a consistent copy of the whole store (everything at one revision) into `dir`,
  // which must not exist; its parent must. Safe while commits run. The copy is a store this
  // engine opens; the caller owns `dir` and removes it. UNIMPLEMENTED if the engine has no
  // online copy; UNAVAILABLE / RESOURCE_EXHAUSTED on I/O errors (nothing is left in `dir`).
  virtual absl::StatusOr<CheckpointInfo> Checkpoint(const std::string& dir) {
    return absl::UnimplementedError("this storage engine has no online checkpoint");
  }
};

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_STORE_H_
