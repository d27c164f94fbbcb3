#include "storage/fault_injection.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rocksdb/file_system.h"
#include "spdlog/spdlog.h"

namespace confcenter::storage {

absl::StatusOr<StorageFault> ParseStorageFault(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty() || text == "none") return StorageFault::kNone;
  if (text == "enospc") return StorageFault::kNoSpace;
  if (text == "eio") return StorageFault::kIoError;
  if (text == "eio-sync") return StorageFault::kSyncIoError;
  if (text == "stall-sync") return StorageFault::kStallSync;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown storage fault \"", text, "\"; expected none, enospc, eio, eio-sync or stall-sync"));
}

absl::string_view StorageFaultName(StorageFault fault) {
  switch (fault) {
    case StorageFault::kNone:
      return "none";
    case StorageFault::kNoSpace:
      return "enospc";
    case StorageFault::kIoError:
      return "eio";
    case StorageFault::kSyncIoError:
      return "eio-sync";
    case StorageFault::kStallSync:
      return "stall-sync";
  }
  return "none";
}

StorageFault FileFaultSource::Current() {
  std::ifstream in(path_);
  if (!in) return StorageFault::kNone;  // no file: no fault
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<StorageFault> fault = ParseStorageFault(text.str());
  if (!fault.ok()) {
    if (!warned_.exchange(true)) spdlog::error("{}: {}", path_, fault.status().ToString());
    return StorageFault::kNone;
  }
  return *fault;
}

namespace {

using rocksdb::FileOptions;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

enum class Op { kCreate, kAppend, kSync };

// The status the POSIX file system returns for `fault` on `op`, or OK if `fault` spares it.
IOStatus Injected(StorageFault fault, Op op, const std::string& file) {
  const char* what = op == Op::kCreate   ? "While open a file for appending"
                     : op == Op::kAppend ? "While appending to file"
                                         : "While fsync";
  switch (fault) {
    case StorageFault::kNone:
      return IOStatus::OK();
    case StorageFault::kNoSpace:
      return IOStatus::NoSpace(absl::StrCat(what, ": ", file),
                               "No space left on device (injected fault)");
    case StorageFault::kIoError:
      return IOStatus::IOError(absl::StrCat(what, ": ", file),
                               "Input/output error (injected fault)");
    case StorageFault::kSyncIoError:
      if (op != Op::kSync) return IOStatus::OK();
      return IOStatus::IOError(absl::StrCat(what, ": ", file),
                               "Input/output error (injected fault)");
    case StorageFault::kStallSync:
      return IOStatus::OK();  // Check waits before the sync
  }
  return IOStatus::OK();
}

class FaultyWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<FSWritableFile> file, std::string name,
                     std::shared_ptr<FaultSource> source)
      : FSWritableFileOwnerWrapper(std::move(file)),
        name_(std::move(name)),
        source_(std::move(source)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kAppend); !s.ok()) return s;
    return target()->Append(data, options, dbg);
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kAppend); !s.ok()) return s;
    return target()->Append(data, options, info, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kAppend); !s.ok()) return s;
    return target()->PositionedAppend(data, offset, options, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kAppend); !s.ok()) return s;
    return target()->PositionedAppend(data, offset, options, info, dbg);
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kSync); !s.ok()) return s;
    return target()->Sync(options, dbg);
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kSync); !s.ok()) return s;
    return target()->Fsync(options, dbg);
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    if (IOStatus s = Check(Op::kSync); !s.ok()) return s;
    return target()->RangeSync(offset, nbytes, options, dbg);
  }

 private:
  IOStatus Check(Op op) {
    StorageFault fault = source_->Current();
    if (fault == StorageFault::kStallSync && op == Op::kSync) {
      // Bounded: a test that forgets to clear the fault gets a slow disk, not a hung server.
      const absl::Time until = absl::Now() + absl::Seconds(60);
      while (fault == StorageFault::kStallSync && absl::Now() < until) {
        absl::SleepFor(absl::Milliseconds(5));
        fault = source_->Current();
      }
    }
    return Injected(fault, op, name_);
  }

  const std::string name_;
  const std::shared_ptr<FaultSource> source_;
};

class FaultInjectionFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                           std::shared_ptr<FaultSource> source)
      : FileSystemWrapper(std::move(base)), source_(std::move(source)) {}

  const char* Name() const override { return "ConfcenterFaultInjectionFileSystem"; }

  IOStatus NewWritableFile(const std::string& name, const FileOptions& options,
                           std::unique_ptr<FSWritableFile>* result, IODebugContext* dbg) override {
    if (IOStatus s = Injected(source_->Current(), Op::kCreate, name); !s.ok()) return s;
    return Wrap(name, target()->NewWritableFile(name, options, result, dbg), result);
  }
  IOStatus ReopenWritableFile(const std::string& name, const FileOptions& options,
                              std::unique_ptr<FSWritableFile>* result,
                              IODebugContext* dbg) override {
    if (IOStatus s = Injected(source_->Current(), Op::kCreate, name); !s.ok()) return s;
    return Wrap(name, target()->ReopenWritableFile(name, options, result, dbg), result);
  }
  IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                             const FileOptions& options, std::unique_ptr<FSWritableFile>* result,
                             IODebugContext* dbg) override {
    if (IOStatus s = Injected(source_->Current(), Op::kCreate, name); !s.ok()) return s;
    return Wrap(name, target()->ReuseWritableFile(name, old_name, options, result, dbg), result);
  }

 private:
  IOStatus Wrap(const std::string& name, IOStatus opened, std::unique_ptr<FSWritableFile>* file) {
    if (opened.ok()) *file = std::make_unique<FaultyWritableFile>(std::move(*file), name, source_);
    return opened;
  }

  const std::shared_ptr<FaultSource> source_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewFaultInjectionFileSystem(
    std::shared_ptr<rocksdb::FileSystem> base, std::shared_ptr<FaultSource> source) {
  return std::make_shared<FaultInjectionFileSystem>(std::move(base), std::move(source));
}

std::shared_ptr<rocksdb::FileSystem> NewFaultInjectionFileSystem(
    std::shared_ptr<FaultSource> source) {
  return NewFaultInjectionFileSystem(rocksdb::FileSystem::Default(), std::move(source));
}

}  // namespace confcenter::storage
