// Storage fault injection for tests, in the style of leveldb's fault_injection_test Env: a
// RocksDB FileSystem wrapper that fails file writes and syncs while a fault is in force, so
// tests can prove what a full or failing disk does to confcenterd (the RPC fails with a clear
// status, nothing is applied, reads keep working, writes recover once the fault clears).
#ifndef CONFCENTER_STORAGE_FAULT_INJECTION_H_
#define CONFCENTER_STORAGE_FAULT_INJECTION_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rocksdb {
class FileSystem;
}

namespace confcenter::storage {

enum class StorageFault {
  kNone,
  // Creating files, appending to them and syncing them fail with ENOSPC (RocksDB NoSpace).
  kNoSpace,
  // Creating files, appending to them and syncing them fail with EIO.
  kIoError,
  // Appends reach the file (the page cache) but every sync fails with EIO: the case where a
  // failed write may still be found in the WAL by a later open.
  kSyncIoError,
  // Syncs wait while the fault is in force (at most 60 s), then go on: a disk that stops
  // answering, for tests of what queues up behind a commit.
  kStallSync,
};

// "" or "none", "enospc", "eio", "eio-sync", "stall-sync" (surrounding whitespace ignored).
// INVALID_ARGUMENT for anything else.
absl::StatusOr<StorageFault> ParseStorageFault(absl::string_view text);
// The name ParseStorageFault reads.
absl::string_view StorageFaultName(StorageFault fault);

// Says which fault is in force. Thread-safe; called on every file write, so cheap.
class FaultSource {
 public:
  virtual ~FaultSource() = default;
  virtual StorageFault Current() = 0;
};

// A fault set in-process (unit tests).
class ManualFaultSource final : public FaultSource {
 public:
  void Set(StorageFault fault) { fault_.store(fault); }
  StorageFault Current() override { return fault_.load(); }

 private:
  std::atomic<StorageFault> fault_{StorageFault::kNone};
};

// The fault named in a file (confcenterd --testing_fault_file), read again on every call so a
// test process switches faults by rewriting the file. An absent or empty file is kNone; an
// unreadable or unknown content counts as kNone too (and is logged once), so a typo in a test
// shows as a failed expectation rather than a hung server.
class FileFaultSource final : public FaultSource {
 public:
  explicit FileFaultSource(std::string path) : path_(std::move(path)) {}
  StorageFault Current() override;

 private:
  const std::string path_;
  std::atomic<bool> warned_{false};
};

// Wraps `base`: while `source` reports a fault, the file operations it names fail with the
// status the POSIX file system would give (NoSpace or IOError, the message saying it was
// injected). Reads are never failed.
std::shared_ptr<rocksdb::FileSystem> NewFaultInjectionFileSystem(
    std::shared_ptr<rocksdb::FileSystem> base, std::shared_ptr<FaultSource> source);
// The same over the default (POSIX) file system.
std::shared_ptr<rocksdb::FileSystem> NewFaultInjectionFileSystem(
    std::shared_ptr<FaultSource> source);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_FAULT_INJECTION_H_
