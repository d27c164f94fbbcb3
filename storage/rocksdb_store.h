// The RocksDB engine: the embedded default Store (see DESIGN: column families for current
// values, the change log, tenants and metadata; one WriteBatch per commit, WAL synced before
// acknowledging).
#ifndef CONFCENTER_STORAGE_ROCKSDB_STORE_H_
#define CONFCENTER_STORAGE_ROCKSDB_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/fault_injection.h"
#include "storage/secret_seal.h"
#include "storage/store.h"

namespace confcenter::storage {

// Options of the RocksDB engine.
struct RocksDbStoreOptions {
  // Sync the WAL before Write returns. Default true. Turning it off is unsafe: a machine
  // crash can lose acknowledged writes (a process crash cannot).
  bool sync = true;
  // Create the database if `path` does not hold one yet. Default true.
  bool create_if_missing = true;
  // Read every table file at open and check its checksums, so a corrupt store is refused at
  // start-up (DATA_LOSS). Default true.
  bool verify_checksums = true;
  // Tests only: the file system the store writes through, e.g. one that injects faults
  // (storage/fault_injection.h) or power cuts (storage/power_cut.h). Null: the default one.
  std::shared_ptr<rocksdb::FileSystem> file_system;
  // Seals secret values at rest (storage/secret_seal.h). Null (the default): they are stored
  // as they are, and a store holding sealed values does not open.
  std::shared_ptr<const SecretSealer> sealer;
  // Bytes kept free in the data dir (a reserve file, released when a write meets ENOSPC) so a
  // full disk can be recovered from without a restart (storage/disk_reserve.h); the
  // memtables are capped at half of it, so the flush that resumes writes fits. 0: none.
  int64_t disk_reserve_bytes = 0;
  // Start a new epoch now (storage/store_epoch.h), as after confctl restore: for a store put
  // back by other means (a volume snapshot, a copied data dir).
  bool new_epoch = false;
};

// Opens (or creates) the RocksDB engine in directory `path`.
// Errors: FAILED_PRECONDITION if the directory is locked by another process, holds something
// that is not a confcenter store, or holds a newer format; DATA_LOSS if it is corrupt;
// UNAVAILABLE on other I/O errors. The message is one line meant for an operator.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path,
                                                        const RocksDbStoreOptions& options);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_ROCKSDB_STORE_H_
