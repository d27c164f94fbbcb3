// Online backup: a consistent checkpoint of the store in a temporary directory, read back in
// chunks for AdminService.Backup, removed when the backup ends.
#ifndef CONFCENTER_SERVER_CORE_BACKUP_H_
#define CONFCENTER_SERVER_CORE_BACKUP_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace confcenter {

struct BackupOptions {
  // Where checkpoints are made: each backup gets a fresh directory in it. It should be on the
  // data dir's filesystem, so the checkpoint is hard links rather than copies. Required.
  std::string tmp_dir;
  // Backups that may run at once; more are refused. Default 1: each one holds a checkpoint
  // (disk space for files compacted away meanwhile) and reads the whole store.
  int max_concurrent = 1;
  // Largest chunk NextChunk returns. Default 1 MiB.
  size_t chunk_bytes = 1 << 20;
  // A Backup stream whose client takes no chunk for this long is cut off (CANCELLED) and its
  // checkpoint removed, so a client that stops reading cannot hold the checkpoint's disk
  // space and the one backup slot. Default 60 s.
  absl::Duration stall_timeout = absl::Seconds(60);
};

// One file of a checkpoint.
struct BackupFileInfo {
  std::string name;  // no directories
  int64_t size = 0;
  uint32_t crc32 = 0;  // CRC-32 (IEEE 802.3, zlib's crc32) of the whole file
};

struct BackupManifestInfo {
  int64_t revision = 0;
  std::string store_format;
  std::string store_epoch;
  absl::Time create_time;
  std::vector<BackupFileInfo> files;  // ordered by name
  int64_t total_bytes = 0;
};

// A piece of one file, as NextChunk returns it.
struct BackupChunkData {
  const BackupFileInfo* file = nullptr;  // points into the manifest
  int64_t offset = 0;
  std::string data;  // empty only for an empty file
};

class BackupManager;

// One backup in progress. Not thread-safe: one caller at a time (calls may come from
// different threads). Destruction (or Close) frees its slot and removes the checkpoint.
class BackupJob {
 public:
  ~BackupJob();
  BackupJob(const BackupJob&) = delete;
  BackupJob& operator=(const BackupJob&) = delete;

  // Blocking I/O. Makes the checkpoint and reads its manifest (sizes, checksums). Errors:
  // those of Store::Checkpoint, UNAVAILABLE if a file cannot be read.
  absl::Status Prepare();
  // After a successful Prepare.
  const BackupManifestInfo& manifest() const { return manifest_; }
  // Blocking I/O. The next chunk in manifest order (every file at least one, an empty file
  // one empty chunk); nullopt after the last. UNAVAILABLE if a read fails, DATA_LOSS if a
  // file is shorter than the manifest says.
  absl::StatusOr<std::optional<BackupChunkData>> NextChunk();
  // Blocking I/O. Frees the slot, then removes the checkpoint; idempotent.
  void Close();

  // The checkpoint's directory (it exists between Prepare and Close).
  const std::string& dir() const { return dir_; }

 private:
  friend class BackupManager;
  BackupJob(BackupManager* manager, std::string dir);

  BackupManager* const manager_;
  const std::string dir_;
  BackupManifestInfo manifest_;
  bool closed_ = false;
  // The read cursor: file index, offset in it, and the open file.
  size_t file_index_ = 0;
  int64_t offset_ = 0;
  bool file_started_ = false;
  std::FILE* file_ = nullptr;
};

// Thread-safe. Hands out backup jobs, at most options.max_concurrent at a time.
class BackupManager {
 public:
  // `store` must outlive the manager, and the manager every job it hands out.
  BackupManager(storage::Store* store, BackupOptions options);

  // Non-blocking. A new job; RESOURCE_EXHAUSTED if max_concurrent jobs exist.
  absl::StatusOr<std::unique_ptr<BackupJob>> Start();

  const BackupOptions& options() const { return options_; }

 private:
  friend class BackupJob;
  void Release();

  storage::Store* const store_;
  const BackupOptions options_;
  absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;  // names the checkpoint directories
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_BACKUP_H_
