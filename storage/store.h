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
#include "absl/time/time.h"
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
  // The store's epoch (storage/store_epoch.h): `revision` names a state only within it.
  std::string epoch;
  std::vector<TenantRecord> tenants;
  std::vector<std::pair<EntryKey, EntryRecord>> entries;
  // (tenant, the parent it had) for every tenant deregistered and not registered again: where
  // the streams of a deregistered tenant fall back, across restarts. Engines record it with
  // each TENANT_DELETE and drop it with the tenant's next TENANT_PUT.
  std::vector<std::pair<std::string, std::string>> former_parents;
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
  // Shared stores: commits another replica beat to the revision (ABORTED, planned again),
  // full reloads after the change log no longer reached this replica, and how long its
  // follow watch has been silent (0 while it hears from etcd). Local stores: 0.
  int64_t commit_conflicts = 0;
  int64_t reloads = 0;
  double follow_silence_seconds = 0;

  // What --max_store_bytes compares: the files on disk plus what the memtables will add.
  int64_t stored_bytes() const { return sst_files_bytes + memtable_bytes; }
};

// What one Store::ResealSecrets pass did, counted in records (a record may hold several
// values: a change set, a history version, a current entry).
struct ResealReport {
  int64_t resealed = 0;   // records rewritten under the primary key
  int64_t remaining = 0;  // records still holding a value under another key after the pass
};

// What a Store::Checkpoint holds.
struct CheckpointInfo {
  int64_t revision = 0;  // the last revision committed in it
  std::string format;    // the store's format marker
  std::string epoch;     // the store's epoch when it was taken
};

// How much of one commit request an engine accepts (etcd: --max-txn-ops, --max-request-bytes).
// The committer cuts a batch into groups that fit; the defaults mean "no limit".
struct CommitLimits {
  int64_t max_ops = INT64_MAX;
  int64_t max_bytes = INT64_MAX;
};

// What one change set or audit record costs against CommitLimits (conservative: no credit for
// keys several change sets of a group share).
struct CommitCost {
  int64_t ops = 0;
  int64_t bytes = 0;
};

// Whether a shared store can take writes now, for readiness and the committer's health gate.
struct StoreHealth {
  bool serving = true;
  // Why not, for an operator ("lost etcd: ...", "watch 7 s behind"); empty while serving.
  std::string reason;
  // The newest revision the store knows was committed (by any replica); 0 if unknown.
  int64_t known_head = 0;
};

// A replica of a shared store as it announced itself (Store::Announce).
struct ReplicaAddress {
  std::string replica_id;
  std::string address;  // host:port of its gRPC API; "" = not reachable by the others
};

// Hears of every revision committed to a shared store, by any replica, this one included.
// ConfigCore implements it.
class StoreFollower {
 public:
  virtual ~StoreFollower() = default;
  // `change_sets` were committed (secrets opened), consecutive and in revision order, never
  // skipping a revision after the one the follower last got; a call may repeat revisions
  // already delivered (the follower skips them). Calls come from the store's follow thread and
  // from inside CommitWithAudit on the committer's thread (catching up after a conflict), never
  // concurrently with another call of this follower from the same thread; the follower
  // serializes them. `durable_at` is when the store learnt of them.
  virtual void Committed(std::vector<ChangeSet> change_sets, absl::Time durable_at) = 0;
  // The revision the follower has applied (its own commits included): the store need not
  // deliver, nor copy, what is at or below it. Called from the same threads as Committed,
  // never under the store's own locks; must not call into the store.
  virtual int64_t AppliedRevision() const { return 0; }
  // The change log no longer reaches the last revision delivered (the watch fell behind a
  // compaction): `state` replaces everything the follower has; events resume after it.
  virtual void Reloaded(LoadedState state) = 0;
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

  // --- Shared stores (several replicas of confcenterd commit to one store, e.g. etcd). A
  // local store (RocksDB) keeps the defaults: not shared, no limits, always serving.
  //
  // On a shared store CommitWithAudit is guarded: it commits only if no other replica
  // committed since the store's CurrentRevision(); otherwise nothing is written and it returns
  // ABORTED after delivering what it learnt to the follower (the caller waits for its state to
  // catch up and plans again). Changes whose first revision is not CurrentRevision() + 1 are
  // refused with ABORTED without a round trip. ABORTED also when a request went unanswered
  // and the store then made sure nothing of it was written (the store answers again, so
  // planning again is worth it). UNAVAILABLE: the store could not be reached; when it cannot
  // tell whether the write was applied, the message says it may appear later (and it then
  // reaches the follower like any other commit, once).

  // True if other processes commit to this store too.
  virtual bool shared() const { return false; }
  // The most one CommitWithAudit call may carry. Larger groups fail with RESOURCE_EXHAUSTED
  // naming the limit and nothing is written.
  virtual CommitLimits Limits() const { return {}; }
  virtual CommitCost CostOf(const ChangeSet& change_set) const { return {}; }
  virtual CommitCost CostOf(const AuditRecord& record) const { return {}; }
  // Starts delivering every commit after LoadAll's revision to `follower` (which must outlive
  // the store) on a thread of the store's. UNIMPLEMENTED for a local store.
  virtual absl::Status Follow(StoreFollower* follower) {
    return absl::UnimplementedError("a local store has no other writers to follow");
  }
  // Whether writes can go through now; a local store is always serving.
  virtual StoreHealth Health() const { return {}; }
  // Calls `done` with the newest committed revision as of a moment after this call (shared:
  // one linearizable read of the store; local: CurrentRevision() at once). `done` may run on
  // another thread and must not block.
  virtual void ReadHead(std::function<void(absl::StatusOr<int64_t>)> done) {
    done(CurrentRevision());
  }
  // True if this process does the store's maintenance (compaction, TTL reclaim): always for a
  // local store; for a shared one, the single replica holding the maintenance lease. The
  // Compact* methods of a replica that does not hold it do nothing and return OK.
  virtual bool MaintenanceLeader() const { return true; }

  // --- Replicas of a shared store. What lives only in each replica's memory (the instance
  // table) is asked of every replica; they find each other here. A local store has none.

  // This replica's id in Replicas() ("" for a local store).
  virtual std::string ReplicaId() const { return std::string(); }
  // Announces this replica, reachable at `address` ("" = not reachable by the others), for
  // as long as the store is open: the entry is held by a lease the store keeps alive, so a
  // replica that dies leaves the list within the lease's TTL. Blocking (one round trip).
  virtual absl::Status Announce(const std::string& address) { return absl::OkStatus(); }
  // The replicas announced, this one included, as last read (refreshed about every second
  // and by Announce). Never blocks.
  virtual std::vector<ReplicaAddress> Replicas() const { return {}; }
  // A secret every replica of the store reads from it (made on first use), so a call from a
  // replica proves where it comes from; "" for a local store.
  virtual std::string PeerSecret() const { return std::string(); }

  // True while the store's disk counts as full (a write met ENOSPC, or less than the disk
  // reserve is free): the core then takes only writes that free bytes, and writes no records
  // of refusals. Turns false by itself once space is freed (see storage/disk_reserve.h).
  // Called once per commit batch: cheap (one statvfs); thread-safe.
  virtual bool DiskFull() { return false; }

  // Has the engine rewrite what history and audit compaction deleted, so the disk space is
  // given back now rather than by later background compactions. Blocking; may take long on a
  // large store. A no-op for engines that reclaim by themselves.
  virtual absl::Status ReclaimSpace() { return absl::OkStatus(); }

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

  // Re-encrypts with the sealer's primary key every sealed value the store holds under
  // another key (storage/secret_seal.h): current entries, change log, history and releases.
  // Safe while commits and compactions run: a record one of them changed or removed meanwhile
  // is left as it is. Then counts the records still under another key (0, unless a replica
  // whose primary is older wrote some meanwhile: run it again there). Blocking; reads the
  // whole store. FAILED_PRECONDITION if the store has no sealer; UNIMPLEMENTED for an engine
  // that cannot (both real ones can).
  virtual absl::StatusOr<ResealReport> ResealSecrets() {
    return absl::UnimplementedError("this storage engine cannot re-seal secrets");
  }

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
