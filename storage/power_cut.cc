#include "storage/power_cut.h"

#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace confcenter::storage {
namespace {

using rocksdb::FileOptions;
using rocksdb::FSDirectory;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

std::string Normal(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

class TrackedFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(std::unique_ptr<FSWritableFile> file, std::string name, PowerCutFileSystem* fs)
      : FSWritableFileOwnerWrapper(std::move(file)), name_(std::move(name)), fs_(fs) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = target()->Append(data, options, dbg);
    if (s.ok()) fs_->Appended(name_, data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    IOStatus s = target()->Append(data, options, info, dbg);
    if (s.ok()) fs_->Appended(name_, data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice&, uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::NotSupported("positioned appends are not tracked");
  }
  IOStatus PositionedAppend(const Slice&, uint64_t, const IOOptions&,
                            const rocksdb::DataVerificationInfo&, IODebugContext*) override {
    return IOStatus::NotSupported("positioned appends are not tracked");
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    // What was appended before the sync is durable once it returns; bytes appended during
    // it may or may not be, so they are counted as not.
    IOStatus s = target()->Sync(options, dbg);
    if (s.ok()) fs_->Synced(name_);
    return s;
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = target()->Fsync(options, dbg);
    if (s.ok()) fs_->Synced(name_);
    return s;
  }
  // RangeSync (sync_file_range) makes nothing durable: not counted.

 private:
  const std::string name_;
  PowerCutFileSystem* const fs_;
};

class TrackedDirectory final : public rocksdb::FSDirectory {
 public:
  TrackedDirectory(std::unique_ptr<FSDirectory> dir, std::string name, PowerCutFileSystem* fs)
      : dir_(std::move(dir)), name_(std::move(name)), fs_(fs) {}
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = dir_->Fsync(options, dbg);
    if (s.ok()) fs_->DirectorySynced(name_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const IOOptions& options, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_options) override {
    IOStatus s = dir_->FsyncWithDirOptions(options, dbg, dir_options);
    if (s.ok()) fs_->DirectorySynced(name_);
    return s;
  }
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    return dir_->Close(options, dbg);
  }
  size_t GetUniqueId(char* id, size_t max_size) const override {
    return dir_->GetUniqueId(id, max_size);
  }

 private:
  std::unique_ptr<FSDirectory> dir_;
  const std::string name_;
  PowerCutFileSystem* const fs_;
};

}  // namespace

PowerCutFileSystem::PowerCutFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(std::move(base)) {}

void PowerCutFileSystem::Track(const std::string& name, uint64_t existing) {
  absl::MutexLock lock(&mu_);
  FileState& state = files_[Normal(name)];
  state = FileState{existing, existing, existing > 0};
}

void PowerCutFileSystem::Appended(const std::string& name, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  files_[Normal(name)].size += bytes;
}

void PowerCutFileSystem::Synced(const std::string& name) {
  absl::MutexLock lock(&mu_);
  FileState& state = files_[Normal(name)];
  state.synced = state.size;
}

void PowerCutFileSystem::DirectorySynced(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const std::string prefix = Normal(dir) + "/";
  for (auto& [name, state] : files_) {
    if (name.compare(0, prefix.size(), prefix) == 0 &&
        name.find('/', prefix.size()) == std::string::npos) {
      state.name_durable = true;
    }
  }
}

IOStatus PowerCutFileSystem::NewWritableFile(const std::string& name, const FileOptions& options,
                                             std::unique_ptr<FSWritableFile>* result,
                                             IODebugContext* dbg) {
  IOStatus s = target()->NewWritableFile(name, options, result, dbg);
  if (!s.ok()) return s;
  Track(name, 0);
  *result = std::make_unique<TrackedFile>(std::move(*result), Normal(name), this);
  return s;
}

IOStatus PowerCutFileSystem::ReopenWritableFile(const std::string& name, const FileOptions& options,
                                                std::unique_ptr<FSWritableFile>* result,
                                                IODebugContext* dbg) {
  std::error_code ec;
  const uintmax_t existing = std::filesystem::file_size(name, ec);
  IOStatus s = target()->ReopenWritableFile(name, options, result, dbg);
  if (!s.ok()) return s;
  Track(name, ec ? 0 : existing);
  *result = std::make_unique<TrackedFile>(std::move(*result), Normal(name), this);
  return s;
}

IOStatus PowerCutFileSystem::ReuseWritableFile(const std::string& name, const std::string& old_name,
                                               const FileOptions& options,
                                               std::unique_ptr<FSWritableFile>* result,
                                               IODebugContext* dbg) {
  IOStatus s = target()->ReuseWritableFile(name, old_name, options, result, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    files_.erase(Normal(old_name));
  }
  Track(name, 0);
  *result = std::make_unique<TrackedFile>(std::move(*result), Normal(name), this);
  return s;
}

IOStatus PowerCutFileSystem::NewDirectory(const std::string& name, const IOOptions& options,
                                          std::unique_ptr<FSDirectory>* result,
                                          IODebugContext* dbg) {
  IOStatus s = target()->NewDirectory(name, options, result, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<TrackedDirectory>(std::move(*result), Normal(name), this);
  return s;
}

IOStatus PowerCutFileSystem::RenameFile(const std::string& src, const std::string& target_name,
                                        const IOOptions& options, IODebugContext* dbg) {
  absl::MutexLock lock(&mu_);  // not while an image is taken
  IOStatus s = target()->RenameFile(src, target_name, options, dbg);
  if (!s.ok()) return s;
  auto it = files_.find(Normal(src));
  if (it != files_.end()) {
    FileState state = it->second;
    files_.erase(it);
    // A rename is durable once its directory is synced (RocksDB syncs it after renaming
    // CURRENT); until then a power cut keeps neither name, conservatively.
    state.name_durable = false;
    files_[Normal(target_name)] = state;
  }
  return s;
}

IOStatus PowerCutFileSystem::DeleteFile(const std::string& name, const IOOptions& options,
                                        IODebugContext* dbg) {
  absl::MutexLock lock(&mu_);  // not while an image is taken
  IOStatus s = target()->DeleteFile(name, options, dbg);
  if (s.ok()) files_.erase(Normal(name));
  return s;
}

absl::Status PowerCutFileSystem::CaptureImage(const std::string& dir,
                                              const std::string& image_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::create_directory(image_dir, ec) || ec) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create ", image_dir));
  }
  absl::MutexLock lock(&mu_);  // no append, sync or rename moves while the image is taken
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = Normal(entry.path().string());
    uint64_t keep = entry.file_size(ec);
    auto it = files_.find(name);
    if (it != files_.end()) {
      if (!it->second.name_durable) continue;  // lost with its directory entry
      keep = std::min<uint64_t>(keep, it->second.synced);
    }
    std::ifstream in(name, std::ios::binary);
    std::ofstream out(image_dir + "/" + entry.path().filename().string(), std::ios::binary);
    std::vector<char> buffer(1 << 16);
    uint64_t left = keep;
    while (left > 0 && in) {
      in.read(buffer.data(), static_cast<std::streamsize>(std::min<uint64_t>(left, buffer.size())));
      out.write(buffer.data(), in.gcount());
      left -= static_cast<uint64_t>(in.gcount());
    }
    if (!out) return absl::UnavailableError(absl::StrCat("cannot copy ", name));
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace confcenter::storage
