// Client::Backup and the offline backup functions of backup.h.
#include "confcenter/backup.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "confcenter/client.h"
#include "google/protobuf/util/json_util.h"
#include "storage/store_epoch.h"

namespace confcenter {
namespace {

namespace fs = std::filesystem;

absl::Status IoError(const std::string& what, const std::string& path, int err) {
  return absl::UnavailableError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err)));
}

// `dir` must not exist or be an empty directory; creates it. `*created` says whether it did.
absl::Status PrepareEmptyDir(const std::string& dir, const char* what, bool* created) {
  std::error_code ec;
  *created = false;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(what, " ", dir, " is not a directory"));
    }
    if (!fs::is_empty(dir, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " ", dir, " is not empty; give a new or empty directory"));
    }
    return absl::OkStatus();
  }
  if (!fs::create_directories(dir, ec) || ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", what, " ", dir, ": ", ec.message()));
  }
  *created = true;
  // Owner-only, as the files in it.
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return absl::OkStatus();
}

// Removes what a failed backup or restore wrote into `dir` (and `dir`, if it made it).
void CleanUp(const std::string& dir, const std::vector<std::string>& written, bool created) {
  std::error_code ec;
  if (created) {
    fs::remove_all(dir, ec);
    return;
  }
  for (const std::string& name : written) fs::remove(fs::path(dir) / name, ec);
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return IoError("open", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : IoError("sync", dir, err);
}

// A file being written: counts its bytes and CRC-32; Close syncs it.
class OutFile {
 public:
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Open(const std::string& path) {
    path_ = path;
    // Owner-only: a backup holds every tenant's configuration, secrets included.
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    return fd_ < 0 ? IoError("create", path, errno) : absl::OkStatus();
  }
  absl::Status Append(const char* data, size_t n) {
    crc_ = crc32(crc_, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n));
    size_ += static_cast<int64_t>(n);
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return IoError("write", path_, errno);
      data += w;
      n -= static_cast<size_t>(w);
    }
    return absl::OkStatus();
  }
  absl::Status Close() {
    const int rc = ::fsync(fd_);
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    return rc == 0 ? absl::OkStatus() : IoError("sync", path_, err);
  }
  int64_t size() const { return size_; }
  uint32_t crc() const { return static_cast<uint32_t>(crc_); }

 private:
  std::string path_;
  int fd_ = -1;
  uLong crc_ = crc32(0L, Z_NULL, 0);
  int64_t size_ = 0;
};

// DATA_LOSS unless `got` (size, crc) is what the manifest says of `file`.
absl::Status CheckFile(const v1::BackupFile& file, int64_t size, uint32_t crc) {
  if (size != file.size_bytes()) {
    return absl::DataLossError(absl::StrCat("backup file ", file.name(), ": ", size,
                                            " bytes; the manifest says ", file.size_bytes()));
  }
  if (crc != file.crc32()) {
    return absl::DataLossError(
        absl::StrFormat("backup file %s: CRC-32 %08x; the manifest says %08x (the file is damaged)",
                        file.name(), crc, file.crc32()));
  }
  return absl::OkStatus();
}

// A file name from a manifest must stay inside the backup directory.
absl::Status CheckFileName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name == kBackupManifestFile) {
    return absl::DataLossError(absl::StrCat("manifest: \"", name, "\" is not a backup file name"));
  }
  return absl::OkStatus();
}

// Receives the stream of a Backup call into `dir`. `*complete` says whether it got to the
// `done` message (if not, and OK, the stream's status says why). Leaves cleaning up to the
// caller: `written` names the files created.
absl::Status ReceiveBackup(grpc::ClientReaderInterface<v1::BackupResponse>* reader,
                           const std::string& dir, std::vector<std::string>* written,
                           v1::BackupManifest* manifest_out, bool* complete) {
  *complete = false;
  v1::BackupResponse message;
  if (!reader->Read(&message)) return absl::OkStatus();
  if (!message.has_manifest()) {
    return absl::DataLossError("backup stream: the first message is not the manifest");
  }
  v1::BackupManifest& manifest = *manifest_out;
  manifest = std::move(*message.mutable_manifest());
  for (const v1::BackupFile& file : manifest.files()) {
    if (absl::Status s = CheckFileName(file.name()); !s.ok()) return s;
  }
  int index = -1;  // the file being written
  std::unique_ptr<OutFile> out;
  auto close_current = [&]() -> absl::Status {
    if (out == nullptr) return absl::OkStatus();
    if (absl::Status s = out->Close(); !s.ok()) return s;
    absl::Status s = CheckFile(manifest.files(index), out->size(), out->crc());
    out.reset();
    return s;
  };
  bool done = false;
  while (!done && reader->Read(&message)) {
    if (message.has_done()) {
      done = true;
      break;
    }
    if (!message.has_chunk()) {
      return absl::DataLossError("backup stream: a second manifest");
    }
    const v1::BackupChunk& chunk = message.chunk();
    if (index < 0 || chunk.file() != manifest.files(index).name()) {
      if (absl::Status s = close_current(); !s.ok()) return s;
      ++index;
      if (index >= manifest.files_size() || chunk.file() != manifest.files(index).name()) {
        return absl::DataLossError(
            absl::StrCat("backup stream: chunk of \"", chunk.file(), "\" out of manifest order"));
      }
      out = std::make_unique<OutFile>();
      if (absl::Status s = out->Open((fs::path(dir) / chunk.file()).string()); !s.ok()) return s;
      written->push_back(chunk.file());
    }
    if (chunk.offset() != out->size()) {
      return absl::DataLossError(absl::StrCat("backup stream: chunk of ", chunk.file(),
                                              " at offset ", chunk.offset(), "; expected ",
                                              out->size()));
    }
    if (absl::Status s = out->Append(chunk.data().data(), chunk.data().size()); !s.ok()) return s;
  }
  if (!done) return absl::OkStatus();
  if (absl::Status s = close_current(); !s.ok()) return s;
  if (index + 1 != manifest.files_size()) {
    return absl::DataLossError(absl::StrCat("backup stream: ended after ", index + 1, " of ",
                                            manifest.files_size(), " files"));
  }
  *complete = true;
  return absl::OkStatus();
}

absl::Status WriteManifest(const std::string& dir, const v1::BackupManifest& manifest) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(manifest, &json, options).ok()) {
    return absl::InternalError("cannot encode the manifest as JSON");
  }
  const std::string tmp = (fs::path(dir) / (std::string(kBackupManifestFile) + ".tmp")).string();
  OutFile out;
  if (absl::Status s = out.Open(tmp); !s.ok()) return s;
  if (absl::Status s = out.Append(json.data(), json.size()); !s.ok()) return s;
  if (absl::Status s = out.Close(); !s.ok()) return s;
  std::error_code ec;
  fs::rename(tmp, fs::path(dir) / kBackupManifestFile, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  return SyncDir(dir);
}

// Reads `path` through `visit` in 1 MiB pieces.
template <typename Visit>
absl::Status ReadFile(const std::string& path, Visit visit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::DataLossError(absl::StrCat("backup file ", path, ": cannot open it"));
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    if (absl::Status s = visit(buffer.data(), n); !s.ok()) return s;
  }
  if (in.bad()) return IoError("read", path, errno);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::BackupManifest> Client::Backup(const std::string& dir) {
  grpc::ClientContext ctx;
  if (absl::Status s = Prepare(&ctx); !s.ok()) return s;
  bool created = false;
  if (absl::Status s = PrepareEmptyDir(dir, "backup dir", &created); !s.ok()) return s;
  if (options_.wait_for_ready &&
      !channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + options_.deadline))) {
    CleanUp(dir, {}, created);
    return absl::UnavailableError(absl::StrCat("cannot reach confcenterd at ", options_.address,
                                               " within ",
                                               absl::FormatDuration(options_.deadline)));
  }
  std::unique_ptr<grpc::ClientReader<v1::BackupResponse>> reader =
      admin_->Backup(&ctx, v1::BackupRequest());
  std::vector<std::string> written;
  v1::BackupManifest manifest;
  bool complete = false;
  absl::Status status = ReceiveBackup(reader.get(), dir, &written, &manifest, &complete);
  if (!status.ok()) ctx.TryCancel();
  const absl::Status finished = FromGrpcStatus(reader->Finish());
  if (status.ok()) status = finished;
  if (status.ok() && !complete) {
    status = absl::DataLossError("backup stream: ended before its last message");
  }
  if (status.ok()) status = WriteManifest(dir, manifest);
  if (!status.ok()) {
    CleanUp(dir, written, created);
    return status;
  }
  return manifest;
}

absl::StatusOr<v1::BackupManifest> ReadBackupManifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kBackupManifestFile).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read it; ", dir,
                                            " is not a confcenter backup, or an incomplete one"));
  }
  std::stringstream text;
  text << in.rdbuf();
  v1::BackupManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &manifest, options).ok()) {
    return absl::DataLossError(absl::StrCat(path, ": not a valid backup manifest"));
  }
  for (const v1::BackupFile& file : manifest.files()) {
    if (absl::Status s = CheckFileName(file.name()); !s.ok()) {
      return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
    }
  }
  return manifest;
}

absl::StatusOr<v1::BackupManifest> VerifyBackup(const std::string& dir) {
  absl::StatusOr<v1::BackupManifest> manifest = ReadBackupManifest(dir);
  if (!manifest.ok()) return manifest.status();
  for (const v1::BackupFile& file : manifest->files()) {
    uLong crc = crc32(0L, Z_NULL, 0);
    int64_t size = 0;
    absl::Status s =
        ReadFile((fs::path(dir) / file.name()).string(), [&](const char* data, size_t n) {
          crc = crc32(crc, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n));
          size += static_cast<int64_t>(n);
          return absl::OkStatus();
        });
    if (s.ok()) s = CheckFile(file, size, static_cast<uint32_t>(crc));
    if (!s.ok()) return s;
  }
  return manifest;
}

absl::StatusOr<v1::BackupManifest> RestoreBackup(const std::string& backup_dir,
                                                 const std::string& data_dir) {
  absl::StatusOr<v1::BackupManifest> manifest = ReadBackupManifest(backup_dir);
  if (!manifest.ok()) return manifest.status();
  bool created = false;
  if (absl::Status s = PrepareEmptyDir(data_dir, "data dir", &created); !s.ok()) return s;
  std::vector<std::string> written;
  absl::Status status;
  // First, so no crash can leave the backup's files without it: the server starts a new epoch
  // when it opens the restored store (storage/store_epoch.h).
  {
    OutFile marker;
    status = marker.Open((fs::path(data_dir) / storage::kRestoredMarkerFile).string());
    if (status.ok()) {
      written.push_back(storage::kRestoredMarkerFile);
      const std::string line =
          absl::StrCat("epoch ", manifest->store_epoch(), " revision ", manifest->revision(), "\n");
      status = marker.Append(line.data(), line.size());
      if (status.ok()) status = marker.Close();
    }
  }
  // Checked while copied: one read of each file.
  for (const v1::BackupFile& file : manifest->files()) {
    if (!status.ok()) break;
    OutFile out;
    status = out.Open((fs::path(data_dir) / file.name()).string());
    if (!status.ok()) break;
    written.push_back(file.name());
    status = ReadFile((fs::path(backup_dir) / file.name()).string(),
                      [&](const char* data, size_t n) { return out.Append(data, n); });
    if (status.ok()) status = out.Close();
    if (status.ok()) status = CheckFile(file, out.size(), out.crc());
    if (!status.ok()) break;
  }
  if (status.ok()) status = SyncDir(data_dir);
  if (!status.ok()) {
    CleanUp(data_dir, written, created);
    return status;
  }
  return manifest;
}

}  // namespace confcenter
