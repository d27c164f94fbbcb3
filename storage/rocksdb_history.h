// The history part of the RocksDB engine: per-key versions, releases and the audit log, in
// column families of their own. RocksDbStore owns one and forwards the Store methods to it;
// its rows are added to the same WriteBatch as the commit they describe.
//
// Column families:
//   history        "tenant\0service\0key\0" + BE revision -> HistoryRecord
//   releases       BE revision -> ChangeSet (a commit made by Txn or Rollback)
//   release_index  "tenant\0" + BE revision -> "" (one per tenant a release touches)
//   audit          BE sequence -> AuditRecord
// In the default (meta) column family:
//   "history_start"          BE revision: history began here (stores older than it)
//   "history_floor\0tenant"  BE revision: the tenant's oldest reconstructible revision
//   "audit_sequence"         BE sequence of the last audit record appended
#ifndef CONFCENTER_STORAGE_ROCKSDB_HISTORY_H_
#define CONFCENTER_STORAGE_ROCKSDB_HISTORY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/secret_seal.h"
#include "storage/store.h"

namespace confcenter::storage {

// Maps a RocksDB status to the absl code a caller acts on (defined in rocksdb_store.cc).
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

// Thread-safe in the same way as the store: AddToBatch/Committed from the committer only,
// reads from anywhere, compaction from one thread at a time.
class RocksHistory {
 public:
  struct Families {
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    rocksdb::ColumnFamilyHandle* history = nullptr;
    rocksdb::ColumnFamilyHandle* releases = nullptr;
    rocksdb::ColumnFamilyHandle* release_index = nullptr;
    rocksdb::ColumnFamilyHandle* audit = nullptr;
  };

  // `sealer` (may be null) opens the sealed secret values of what is read; what is written
  // comes sealed already.
  RocksHistory(rocksdb::DB* db, Families cfs, bool sync, const SecretSealer* sealer)
      : db_(db), cfs_(cfs), sync_(sync), sealer_(sealer) {}

  // Reads the audit sequence. The first time a store opens with history (a new store, or one
  // written before history was kept, now at `revision` > 0), records that history is kept; an
  // older store's current entries (`entries`) are seeded as versions at their mod revisions
  // and its history starts at `revision` (recorded as "history_start").
  absl::Status Init(int64_t revision, rocksdb::ColumnFamilyHandle* entries);

  // Adds the history, release and audit rows of a commit to `batch`; returns the audit
  // sequence to pass to Committed once the batch is written.
  int64_t AddToBatch(const std::vector<ChangeSet>& change_sets,
                     const std::vector<AuditRecord>& audit, rocksdb::WriteBatch* batch);
  void Committed(int64_t audit_sequence) { audit_sequence_.store(audit_sequence); }

  absl::Status ReadHistory(const HistoryScope& scope, const EntryKey& after_key,
                           int64_t after_revision,
                           const std::function<bool(const EntryKey&, const HistoryRecord&)>& visit);
  absl::StatusOr<StateAt> ReadStateAt(const HistoryScope& scope, int64_t revision);
  absl::StatusOr<int64_t> HistoryFloor(const std::string& tenant);
  absl::Status ReadReleases(const std::string& tenant, int64_t before,
                            const std::function<bool(const ChangeSet&)>& visit);
  absl::StatusOr<ChangeSet> GetRelease(int64_t revision);
  absl::Status ReadAudit(int64_t before, const std::function<bool(const AuditRecord&)>& visit);
  absl::StatusOr<HistoryCompaction> CompactHistory(int64_t cutoff_micros, int keep_versions);
  absl::StatusOr<int64_t> CompactAudit(int64_t cutoff_micros);

 private:
  // Floor of `tenant` as `ro` sees it.
  absl::StatusOr<int64_t> FloorAt(const rocksdb::ReadOptions& ro, const std::string& tenant);
  // Visits the first version key of each key group of `scope` (in key order), positioned
  // by the caller's callback; see the .cc.
  absl::Status ForEachKey(const rocksdb::ReadOptions& ro, const HistoryScope& scope,
                          const EntryKey* start_key,
                          const std::function<bool(rocksdb::Iterator*, const EntryKey&)>& visit);
  absl::Status Write(rocksdb::WriteBatch* batch, absl::string_view what);

  rocksdb::DB* const db_;
  const Families cfs_;
  const bool sync_;
  const SecretSealer* const sealer_;
  std::atomic<int64_t> audit_sequence_{0};
};

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_ROCKSDB_HISTORY_H_
