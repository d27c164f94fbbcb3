// Room kept on the store's disk to recover from a full one, as CockroachDB's emergency ballast:
// a file of a set size that is deleted when a write meets ENOSPC, so that deletions and the
// compactions that free space can still be written. While the disk counts as full the core
// takes only writes that free bytes; once free space is back above twice the reserve, the file
// is made again and writes go on, without a restart.
#ifndef CONFCENTER_STORAGE_DISK_RESERVE_H_
#define CONFCENTER_STORAGE_DISK_RESERVE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace confcenter::storage {

class DiskReserve {
 public:
  // `path`: the reserve file, on the store's filesystem; `bytes`: its size (0: no file, the
  // disk still counts as full after ENOSPC until 1 MiB is free).
  DiskReserve(std::string path, int64_t bytes);

  // Makes the file if it is missing and there is room for it with as much again to spare;
  // otherwise the disk counts as full from the start (logged).
  void Init();
  // A write met ENOSPC: deletes the file and counts the disk as full. Idempotent.
  void Release();
  // True while the disk counts as full. Each call checks the free space (statvfs): the disk
  // starts counting as full when less than the reserve is free beside it (before RocksDB
  // meets ENOSPC, so it is rarely met at all), and stops once more than twice the reserve
  // (or 1 MiB) is free, when the file is made again. Thread-safe; one statvfs per call.
  bool Full();

  // Free bytes on the file's filesystem for an unprivileged writer; -1 if unknown.
  int64_t FreeBytes() const;

 private:
  void ReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Creates the file at its full size; false (nothing left behind) if there is no room.
  bool Create() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const int64_t bytes_;
  absl::Mutex mu_;
  bool full_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_DISK_RESERVE_H_
