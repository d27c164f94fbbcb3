#include "storage/disk_reserve.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "spdlog/spdlog.h"

namespace confcenter::storage {

namespace {
constexpr int64_t kMinFreeBytes = 1 << 20;
}  // namespace

DiskReserve::DiskReserve(std::string path, int64_t bytes)
    : path_(std::move(path)), bytes_(std::max<int64_t>(0, bytes)) {}

int64_t DiskReserve::FreeBytes() const {
  struct statvfs fs;
  const std::string dir = path_.substr(0, path_.find_last_of('/') + 1);
  if (statvfs(dir.empty() ? "." : dir.c_str(), &fs) != 0) return -1;
  return static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
}

bool DiskReserve::Create() {
  if (bytes_ == 0) return true;
  if (access(path_.c_str(), F_OK) == 0) return true;
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // posix_fallocate reserves the blocks (tmpfs and ext4 alike), so the space is really held.
  const bool ok = posix_fallocate(fd, 0, bytes_) == 0 && fsync(fd) == 0;
  close(fd);
  if (!ok) unlink(path_.c_str());
  return ok;
}

void DiskReserve::Init() {
  absl::MutexLock lock(&mu_);
  if (bytes_ == 0) return;
  if (access(path_.c_str(), F_OK) == 0) return;
  const int64_t free = FreeBytes();
  if (free >= 0 && free < 2 * bytes_) {
    full_ = true;
    spdlog::warn(
        "the disk of {} has {} bytes free, less than twice --disk_reserve_bytes ({}): it counts "
        "as full; only writes that free space are taken until it has room",
        path_, free, bytes_);
    return;
  }
  if (!Create()) {
    full_ = true;
    spdlog::warn("could not make the disk reserve {} ({} bytes): the disk counts as full", path_,
                 bytes_);
  }
}

void DiskReserve::Release() {
  absl::MutexLock lock(&mu_);
  ReleaseLocked();
}

void DiskReserve::ReleaseLocked() {
  if (full_) return;
  full_ = true;
  const bool had = bytes_ > 0 && unlink(path_.c_str()) == 0;
  spdlog::error(
      "the store's disk is full{}: only writes that free space (deletions, history compaction) "
      "are taken until {} bytes are free",
      had ? " (its reserve file is released for the deletions and compactions that free space)"
          : "",
      std::max(2 * bytes_, kMinFreeBytes));
}

bool DiskReserve::Full() {
  absl::MutexLock lock(&mu_);
  const int64_t free = FreeBytes();
  if (!full_) {
    if (bytes_ == 0 || free < 0 || free >= bytes_) return false;
    ReleaseLocked();  // low on space: stop growth before the disk is really full
    return true;
  }
  if (free < std::max(2 * bytes_, kMinFreeBytes)) return true;
  if (!Create()) return true;
  full_ = false;
  spdlog::warn("the store's disk has {} bytes free again: writes are taken", free);
  return false;
}

}  // namespace confcenter::storage
