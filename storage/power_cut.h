// Power cuts for tests, in the style of RocksDB's FaultInjectionTestFS: a FileSystem wrapper
// that knows, for every file the store writes, how much of it was fsynced and whether its
// directory entry was, and can write at any moment the image a power cut would leave on disk:
// synced bytes only, no file whose name was never made durable. Opening that image proves what
// a crash at that moment keeps. Capture runs beside a live store (it holds the wrapper's lock
// so no append or sync moves while it copies).
#ifndef CONFCENTER_STORAGE_POWER_CUT_H_
#define CONFCENTER_STORAGE_POWER_CUT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"

namespace confcenter::storage {

class PowerCutFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerCutFileSystem(std::shared_ptr<rocksdb::FileSystem> base);
  const char* Name() const override { return "ConfcenterPowerCutFileSystem"; }

  // Writes into `image_dir` (created; must not exist) the files of `dir` as a power cut now
  // would leave them: each file the wrapper saw written cut to its synced length, files whose
  // directory entry was never synced left out; files it did not see written (there before)
  // copied whole. Thread-safe.
  absl::Status CaptureImage(const std::string& dir, const std::string& image_dir);

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& name, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  // For the wrappers of files and directories.
  void Appended(const std::string& name, uint64_t bytes);
  void Synced(const std::string& name);
  void DirectorySynced(const std::string& dir);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
    bool name_durable = false;  // its directory was synced since it was created
  };
  void Track(const std::string& name, uint64_t existing);

  absl::Mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_POWER_CUT_H_
