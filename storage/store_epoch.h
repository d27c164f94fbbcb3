// Store epochs: a store's revisions mean something only together with its epoch. An epoch is
// made when a store is created and again whenever it is restored from a backup (or, on etcd,
// when the etcd cluster was restored from a snapshot), because a restored store counts its
// revisions again from the backup's: a subscriber's resume point of the old epoch would
// otherwise replay the new writes as if nothing had happened in between.
#ifndef CONFCENTER_STORAGE_STORE_EPOCH_H_
#define CONFCENTER_STORAGE_STORE_EPOCH_H_

#include <string>

#include "absl/status/statusor.h"

namespace confcenter::storage {

// A new epoch: 16 random bytes (OpenSSL's generator) as 32 lowercase hex digits. INTERNAL if
// the generator has no entropy.
absl::StatusOr<std::string> NewStoreEpoch();

// The file a restore leaves in a RocksDB data dir (client/src/backup.cc writes it, with the
// backup's epoch and revision as one line of text): the store then starts a new epoch when
// it is next opened, and removes the file.
inline constexpr char kRestoredMarkerFile[] = "RESTORED_FROM_BACKUP";

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_STORE_EPOCH_H_
