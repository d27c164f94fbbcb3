#include "server/core/backup.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace confcenter {
namespace {

namespace fs = std::filesystem;

absl::Status ReadError(const std::string& path, int err) {
  return absl::UnavailableError(
      absl::StrCat("backup: cannot read ", path, ": ", std::strerror(err)));
}

// CRC-32 and size of a whole file.
absl::Status ChecksumFile(const std::string& path, BackupFileInfo* info) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return ReadError(path, errno);
  std::vector<char> buffer(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  int64_t size = 0;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(n));
    size += static_cast<int64_t>(n);
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) return ReadError(path, err);
  info->size = size;
  info->crc32 = static_cast<uint32_t>(crc);
  return absl::OkStatus();
}

}  // namespace

BackupJob::BackupJob(BackupManager* manager, std::string dir)
    : manager_(manager), dir_(std::move(dir)) {}

BackupJob::~BackupJob() { Close(); }

absl::Status BackupJob::Prepare() {
  absl::StatusOr<storage::CheckpointInfo> info = manager_->store_->Checkpoint(dir_);
  if (!info.ok()) return info.status();
  manifest_.revision = info->revision;
  manifest_.store_format = info->format;
  manifest_.store_epoch = info->epoch;
  manifest_.create_time = absl::Now();
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    if (!entry.is_regular_file()) continue;
    manifest_.files.push_back({entry.path().filename().string(), 0, 0});
  }
  if (ec)
    return absl::UnavailableError(absl::StrCat("backup: cannot list ", dir_, ": ", ec.message()));
  std::sort(manifest_.files.begin(), manifest_.files.end(),
            [](const BackupFileInfo& a, const BackupFileInfo& b) { return a.name < b.name; });
  for (BackupFileInfo& file : manifest_.files) {
    if (absl::Status s = ChecksumFile(dir_ + "/" + file.name, &file); !s.ok()) return s;
    manifest_.total_bytes += file.size;
  }
  spdlog::info("backup: checkpoint of revision {} in {}: {} files, {} bytes", manifest_.revision,
               dir_, manifest_.files.size(), manifest_.total_bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<BackupChunkData>> BackupJob::NextChunk() {
  while (file_index_ < manifest_.files.size()) {
    const BackupFileInfo& info = manifest_.files[file_index_];
    const std::string path = dir_ + "/" + info.name;
    if (file_ == nullptr) {
      file_ = std::fopen(path.c_str(), "rb");
      if (file_ == nullptr) return ReadError(path, errno);
      offset_ = 0;
      file_started_ = false;
    }
    const int64_t want = std::min<int64_t>(info.size - offset_,
                                           static_cast<int64_t>(manager_->options_.chunk_bytes));
    if (want > 0 || !file_started_) {
      BackupChunkData chunk;
      chunk.file = &info;
      chunk.offset = offset_;
      chunk.data.resize(static_cast<size_t>(want));
      const size_t n = std::fread(chunk.data.data(), 1, chunk.data.size(), file_);
      if (n != chunk.data.size()) {
        if (std::ferror(file_)) return ReadError(path, errno);
        return absl::DataLossError(
            absl::StrCat("backup: ", path, " is shorter than the ", info.size, " bytes it had"));
      }
      offset_ += want;
      file_started_ = true;
      return std::optional<BackupChunkData>(std::move(chunk));
    }
    std::fclose(file_);
    file_ = nullptr;
    ++file_index_;
  }
  return std::optional<BackupChunkData>();
}

void BackupJob::Close() {
  if (closed_) return;
  closed_ = true;
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  // The slot first, so whoever sees the checkpoint gone can start the next backup.
  manager_->Release();
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) spdlog::warn("backup: cannot remove {}: {}", dir_, ec.message());
}

BackupManager::BackupManager(storage::Store* store, BackupOptions options)
    : store_(store), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<BackupJob>> BackupManager::Start() {
  uint64_t n;
  {
    absl::MutexLock lock(&mu_);
    if (running_ >= options_.max_concurrent) {
      return absl::ResourceExhaustedError(
          absl::StrCat("backup: ", running_, " backup(s) already running (at most ",
                       options_.max_concurrent, " at a time); retry once it has finished"));
    }
    ++running_;
    n = ++started_;
  }
  const std::string dir = absl::StrCat(options_.tmp_dir, "/confcenter-backup-", getpid(), "-", n);
  return std::unique_ptr<BackupJob>(new BackupJob(this, dir));
}

void BackupManager::Release() {
  absl::MutexLock lock(&mu_);
  --running_;
}

}  // namespace confcenter
