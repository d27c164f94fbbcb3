// The RocksDB engine: column families for current entries, tenants and the revision-ordered
// change log; the revision counter and format marker in the default column family. Every
// Store::Write is one WriteBatch, so state, log and counter move together.
#include "storage/rocksdb_store.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "spdlog/spdlog.h"
#include "storage/disk_reserve.h"
#include "storage/fault_injection.h"
#include "storage/key_codec.h"
#include "storage/rocksdb_history.h"
#include "storage/store.h"
#include "storage/store_epoch.h"

namespace confcenter::storage {

// Maps a RocksDB status to the absl code a caller acts on.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(what, ": the store is corrupt: ", s.ToString()));
  }
  if (s.IsPathNotFound()) {
    return absl::DataLossError(
        absl::StrCat(what, ": a file the store needs is missing: ", s.ToString()));
  }
  if (s.IsNoSpace()) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": the disk is full: ", s.ToString()));
  }
  if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
    return absl::FailedPreconditionError(
        absl::StrCat(what,
                     ": the data dir is locked by another process (is another "
                     "confcenterd running on it?): ",
                     s.ToString()));
  }
  return absl::UnavailableError(msg);
}

namespace {

constexpr char kFormatKey[] = "format";
// Meta keys kFormerParentPrefix + tenant: the parent a deregistered tenant had.
constexpr char kFormerParentPrefix[] = "former-parent/";
std::string FormerParentKey(const std::string& tenant) {
  return absl::StrCat(kFormerParentPrefix, tenant);
}
// The format marker: kFormatPrefix + version. A store of a newer version is refused.
constexpr char kFormatPrefix[] = "confcenter-store-";
constexpr int kFormatVersion = 1;
constexpr char kFormatValue[] = "confcenter-store-1";
constexpr char kRevisionKey[] = "revision";
// The store's epoch (storage/store_epoch.h); stores that predate epochs get one at open.
constexpr char kEpochKey[] = "epoch";
// Written without the WAL before every commit; see CommitWithAudit.
constexpr char kMemtableMarkerKey[] = "memtable_marker";
constexpr char kEntriesCf[] = "entries";
constexpr char kTenantsCf[] = "tenants";
constexpr char kChangesCf[] = "changes";
// Added by the versioning issue; created on open in stores that predate them.
constexpr char kHistoryCf[] = "history";
constexpr char kReleasesCf[] = "releases";
constexpr char kReleaseIndexCf[] = "release_index";
constexpr char kAuditCf[] = "audit";

absl::string_view ToAbsl(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// Counts finished compactions for StoreStats (RocksDB calls it from its background threads).
class CompactionCounter final : public rocksdb::EventListener {
 public:
  void OnCompactionCompleted(rocksdb::DB*, const rocksdb::CompactionJobInfo& info) override {
    if (!info.status.ok()) return;
    completed.fetch_add(1, std::memory_order_relaxed);
    bytes_written.fetch_add(static_cast<int64_t>(info.stats.total_output_bytes),
                            std::memory_order_relaxed);
  }
  std::atomic<int64_t> completed{0};
  std::atomic<int64_t> bytes_written{0};
};

// Swallows RocksDB's info log, so opening a checkpoint adds no LOG file to it.
class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

// Store::Checkpoint of `db`. RocksDB's checkpoint flushes the memtables and then hard-links
// the live files (copies them across filesystems) plus the WAL tail: one consistent state,
// so the revision counter in it names exactly the writes it holds.
absl::StatusOr<CheckpointInfo> CreateCheckpoint(rocksdb::DB* db, const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  if (absl::Status s = FromRocks(rocksdb::Checkpoint::Create(db, &raw), "checkpoint"); !s.ok()) {
    return s;
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  absl::Status created =
      FromRocks(checkpoint->CreateCheckpoint(dir), absl::StrCat("checkpoint into ", dir));
  if (!created.ok()) return created;
  // Read the revision back from the copy itself (read-only, default column family only).
  auto read = [&]() -> absl::StatusOr<CheckpointInfo> {
    rocksdb::Options options;
    options.info_log = std::make_shared<NullLogger>();
    rocksdb::DB* copy_raw = nullptr;
    rocksdb::Status st = rocksdb::DB::OpenForReadOnly(options, dir, &copy_raw);
    if (!st.ok()) return FromRocks(st, absl::StrCat("open checkpoint ", dir));
    std::unique_ptr<rocksdb::DB> copy(copy_raw);
    CheckpointInfo info;
    std::string revision;
    st = copy->Get(rocksdb::ReadOptions(), kFormatKey, &info.format);
    if (st.ok()) st = copy->Get(rocksdb::ReadOptions(), kRevisionKey, &revision);
    if (st.ok()) st = copy->Get(rocksdb::ReadOptions(), kEpochKey, &info.epoch);
    if (!st.ok()) return FromRocks(st, absl::StrCat("read checkpoint ", dir));
    std::optional<int64_t> decoded = DecodeRevision(revision);
    if (!decoded) return absl::DataLossError("the checkpoint's revision counter is malformed");
    info.revision = *decoded;
    return info;
  };
  absl::StatusOr<CheckpointInfo> info = read();
  if (!info.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return info;
}

// Keeps a failed write from wedging the store, and flags that the store must resume.
//
// With paranoid_checks RocksDB stops writes after an I/O error in a WAL write, a flush or a
// compaction, and classes most of them as fatal: only reopening the DB would clear them, and
// reopening would replay a WAL record whose sync failed, i.e. a write already reported as
// failed. DB::Resume avoids both: it flushes the memtables (which never hold the failed
// write) to new files and moves to a new WAL, so the failed record is never replayed. Resume
// refuses fatal errors, so I/O errors (not corruption) are classed as hard errors here.
class ResumableWriteErrors final : public rocksdb::EventListener {
 public:
  explicit ResumableWriteErrors(std::shared_ptr<std::atomic<bool>> stopped)
      : stopped_(std::move(stopped)) {}

  const char* Name() const override { return "ConfcenterResumableWriteErrors"; }

  void OnBackgroundError(rocksdb::BackgroundErrorReason /*reason*/,
                         rocksdb::Status* error) override {
    // A full disk in a compaction is a soft error to RocksDB: writes go on, compactions do
    // not, and once level 0 fills up writes stall for good (no auto-recovery here). As a hard
    // error writes fail at once and the committer's Resume recovers once there is space.
    if (error->IsNoSpace() ||
        (error->IsIOError() && error->severity() == rocksdb::Status::kFatalError)) {
      *error = rocksdb::Status(*error, rocksdb::Status::kHardError);
    }
    if (!error->ok()) stopped_->store(true);
  }
  // No background auto-recovery: the committer resumes before its next write, so whether a
  // write succeeds depends on the disk alone, not on a recovery timer.
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/, rocksdb::Status /*error*/,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }

 private:
  const std::shared_ptr<std::atomic<bool>> stopped_;
};

// RocksDB's info log, sent to confcenterd's debug log instead of a LOG file in the data dir:
// a LOG file on a full disk fails its writer, and the RocksDB of Debian 12 (7.8, assertions
// on) aborts the process on the next line logged to it (seen in DiskFullTest). Every error
// RocksDB returns reaches the operator through confcenterd's own messages, which quote it.
class SpdlogRocksLogger final : public rocksdb::Logger {
 public:
  SpdlogRocksLogger()
      : rocksdb::Logger(spdlog::should_log(spdlog::level::debug)
                            ? rocksdb::InfoLogLevel::INFO_LEVEL
                            : rocksdb::InfoLogLevel::HEADER_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    spdlog::debug("rocksdb: {}", line);
  }
};

// Whether any change of `sets` writes a secret value.
bool HoldsSecrets(const std::vector<ChangeSet>& sets) {
  for (const ChangeSet& set : sets) {
    for (const Change& change : set.changes()) {
      if ((change.has_entry() && change.entry().secret()) ||
          (change.has_previous_entry() && change.previous_entry().secret())) {
        return true;
      }
    }
  }
  return false;
}

class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::unique_ptr<rocksdb::Env> env, std::shared_ptr<std::atomic<bool>> stopped,
               std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs,
               bool sync, std::shared_ptr<CompactionCounter> compactions,
               std::shared_ptr<const SecretSealer> sealer, std::unique_ptr<DiskReserve> reserve)
      : reserve_(std::move(reserve)),
        env_(std::move(env)),
        stopped_(std::move(stopped)),
        db_(std::move(db)),
        cfs_(std::move(cfs)),
        sync_(sync),
        compactions_(std::move(compactions)),
        sealer_(std::move(sealer)),
        history_(db_.get(), {cfs_[0], cfs_[4], cfs_[5], cfs_[6], cfs_[7]}, sync, sealer_.get()) {}

  ~RocksDbStore() override {
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }

  // Reads the format marker, revision and epoch; fresh stores get them written. `path` is
  // the data dir (for the restore marker).
  absl::Status Init(bool fresh, const std::string& path, bool new_epoch) {
    if (absl::Status s = InitMeta(fresh); !s.ok()) return s;
    if (absl::Status s = InitEpoch(path, new_epoch); !s.ok()) return s;
    return history_.Init(revision_.load(), entries());
  }

  // A store restored from a backup (the restore left kRestoredMarkerFile) starts a new epoch,
  // as does one that has none yet. The marker goes only once the epoch is on disk: a crash
  // in between makes yet another epoch, never none.
  absl::Status InitEpoch(const std::string& path, bool new_epoch) {
    namespace fs = std::filesystem;
    const fs::path marker = fs::path(path) / kRestoredMarkerFile;
    std::error_code ec;
    const bool restored = fs::exists(marker, ec) || new_epoch;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta(), kEpochKey, &epoch_);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read epoch");
    if (s.ok() && !restored) return absl::OkStatus();
    const std::string previous = s.ok() ? epoch_ : "none";
    absl::StatusOr<std::string> epoch = NewStoreEpoch();
    if (!epoch.ok()) return epoch.status();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (absl::Status put = FromRocks(db_->Put(wo, meta(), kEpochKey, *epoch), "write epoch");
        !put.ok()) {
      return put;
    }
    epoch_ = *std::move(epoch);
    if (restored) {
      spdlog::warn(
          "this store was restored (epoch {} at revision {}): it starts epoch {}; subscribers "
          "resuming with a revision of an earlier epoch get a resync snapshot",
          previous, revision_.load(), epoch_);
      if (fs::exists(marker, ec) && !fs::remove(marker, ec)) {
        spdlog::error("cannot remove {} ({}): every start will make a new epoch until it is gone",
                      marker.string(), ec.message());
      }
    }
    return absl::OkStatus();
  }

  absl::Status InitMeta(bool fresh) {
    std::string format;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta(), kFormatKey, &format);
    if (s.IsNotFound()) {
      // A store whose creation was cut short (killed between creating the database and
      // writing the marker) holds nothing: it is taken as new. Anything else is foreign.
      absl::StatusOr<bool> empty = fresh ? true : IsEmpty();
      if (!empty.ok()) return empty.status();
      if (!*empty) {
        return absl::FailedPreconditionError(
            "not a confcenter store: it holds a RocksDB database without the confcenter format "
            "marker");
      }
      rocksdb::WriteBatch batch;
      batch.Put(meta(), kFormatKey, kFormatValue);
      batch.Put(meta(), kRevisionKey, EncodeRevision(0));
      rocksdb::WriteOptions wo;
      wo.sync = true;
      return FromRocks(db_->Write(wo, &batch), "initialise store");
    }
    if (!s.ok()) return FromRocks(s, "read format marker");
    if (format != kFormatValue) {
      int version = 0;
      absl::string_view number = format;
      if (absl::ConsumePrefix(&number, kFormatPrefix) && absl::SimpleAtoi(number, &version) &&
          version > kFormatVersion) {
        return absl::FailedPreconditionError(
            absl::StrCat("written by a newer confcenterd (store format ", version,
                         "; this confcenterd reads format ", kFormatVersion,
                         "); run that version or newer, or restore a backup"));
      }
      return absl::FailedPreconditionError(
          absl::StrCat("not a confcenter store: unknown format marker \"", format,
                       "\" (this confcenterd reads \"", kFormatValue, "\")"));
    }
    std::string rev;
    s = db_->Get(rocksdb::ReadOptions(), meta(), kRevisionKey, &rev);
    if (!s.ok()) return FromRocks(s, "read revision");
    std::optional<int64_t> decoded = DecodeRevision(rev);
    if (!decoded) return absl::DataLossError("the stored revision counter is malformed");
    revision_.store(*decoded);
    return absl::OkStatus();
  }

  // Whether no column family holds any key.
  absl::StatusOr<bool> IsEmpty() {
    for (rocksdb::ColumnFamilyHandle* cf : cfs_) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
      it->SeekToFirst();
      if (!it->status().ok()) return FromRocks(it->status(), "read store");
      if (it->Valid()) return false;
    }
    return true;
  }

  // Reads every block of every table file and checks its checksum.
  absl::Status VerifyChecksums() { return FromRocks(db_->VerifyChecksum(), "verify checksums"); }

  absl::Status CommitWithAudit(const std::vector<ChangeSet>& plain_change_sets,
                               const std::vector<AuditRecord>& audit) override {
    if (plain_change_sets.empty() && audit.empty()) return absl::OkStatus();
    absl::MutexLock commit_lock(&commit_mu_);
    // Secret values are written sealed, everywhere (state, change log, history, releases).
    std::vector<ChangeSet> sealed;
    if (sealer_ != nullptr && HoldsSecrets(plain_change_sets)) {
      sealed = plain_change_sets;
      for (ChangeSet& set : sealed) {
        if (absl::Status s = SealChangeSet(sealer_.get(), &set); !s.ok()) return s;
      }
    }
    const std::vector<ChangeSet>& change_sets = sealed.empty() ? plain_change_sets : sealed;
    if (stopped_->load()) {
      // RocksDB resumes by flushing every memtable, and on a disk without room for them its
      // Resume waits for that flush for good (RocksDB 7.8): not tried until there is room.
      uint64_t memtables = 0;
      db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &memtables);
      const int64_t free = reserve_->FreeBytes();
      const int64_t needed = 2 * static_cast<int64_t>(memtables) + (1 << 20);
      if (free >= 0 && free < needed) {
        reserve_->Release();
        return absl::ResourceExhaustedError(
            absl::StrCat("commit: the disk is full: ", free, " bytes free, and the store needs ",
                         needed, " to flush its memtables before it takes writes again"));
      }
    }
    if (stopped_->exchange(false)) {
      // An earlier write failed and stopped RocksDB; while the fault lasts this fails too.
      rocksdb::Status resumed = db_->Resume();
      if (!resumed.ok()) {
        stopped_->store(true);
        if (resumed.IsNoSpace()) reserve_->Release();
        return FromRocks(resumed,
                         "commit (the store has not recovered from an earlier write "
                         "failure)");
      }
    }
    // Resume moves to a new WAL only if some memtable holds data; with all of them empty
    // (just after open, a flush or a Resume) it would keep writing to the WAL that failed.
    // A WAL-less write of a marker key keeps the memtable non-empty; it is never read.
    rocksdb::WriteOptions no_wal;
    no_wal.disableWAL = true;
    db_->Put(no_wal, meta(), kMemtableMarkerKey, "").PermitUncheckedError();
    int64_t expected = revision_.load() + 1;
    rocksdb::WriteBatch batch;
    for (const ChangeSet& set : change_sets) {
      if (set.revision() != expected) {
        return absl::InvalidArgumentError(
            absl::StrCat("change set has revision ", set.revision(), "; expected ", expected));
      }
      ++expected;
      for (const Change& change : set.changes()) {
        switch (change.type()) {
          case Change::ENTRY_PUT:
            batch.Put(entries(), EncodeEntryKey({change.tenant(), change.service(), change.key()}),
                      change.entry().SerializeAsString());
            break;
          case Change::ENTRY_DELETE:
            batch.Delete(entries(),
                         EncodeEntryKey({change.tenant(), change.service(), change.key()}));
            break;
          case Change::TENANT_PUT:
            batch.Put(tenants(), change.tenant(), change.tenant_record().SerializeAsString());
            batch.Delete(meta(), FormerParentKey(change.tenant()));
            break;
          case Change::TENANT_DELETE:
            batch.Delete(tenants(), change.tenant());
            batch.Put(meta(), FormerParentKey(change.tenant()), change.previous_tenant().parent());
            break;
          default:
            return absl::InvalidArgumentError(
                absl::StrCat("change of unknown type ", change.type()));
        }
      }
      batch.Put(changes(), EncodeRevision(set.revision()), set.SerializeAsString());
    }
    const int64_t last = change_sets.empty() ? revision_.load() : change_sets.back().revision();
    if (!change_sets.empty()) batch.Put(meta(), kRevisionKey, EncodeRevision(last));
    const int64_t audit_sequence = history_.AddToBatch(change_sets, audit, &batch);
    rocksdb::WriteOptions wo;
    wo.sync = sync_;
    absl::Status st = FromRocks(db_->Write(wo, &batch), "commit");
    if (st.ok()) {
      revision_.store(last);
      history_.Committed(audit_sequence);
    } else if (st.code() == absl::StatusCode::kResourceExhausted) {
      reserve_->Release();
    }
    return st;
  }

  bool DiskFull() override { return reserve_->Full(); }

  absl::StatusOr<ResealReport> ResealSecrets() override {
    if (sealer_ == nullptr) {
      return absl::FailedPreconditionError(
          "this server has no --secret_key_file: it seals nothing, so there is nothing to "
          "re-seal");
    }
    ResealReport report;
    {
      // Commits sealing with the key from before the caller's Reload have ended.
      absl::MutexLock barrier(&commit_mu_);
    }
    for (const auto& [cf, kind] :
         {std::pair{entries(), RecordKind::kEntry}, std::pair{changes(), RecordKind::kChangeSet},
          std::pair{history_cf(), RecordKind::kHistory},
          std::pair{releases_cf(), RecordKind::kChangeSet}}) {
      if (absl::Status s = ResealFamily(cf, kind, &report.resealed); !s.ok()) return s;
    }
    for (const auto& [cf, kind] :
         {std::pair{entries(), RecordKind::kEntry}, std::pair{changes(), RecordKind::kChangeSet},
          std::pair{history_cf(), RecordKind::kHistory},
          std::pair{releases_cf(), RecordKind::kChangeSet}}) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string value = it->value().ToString();
        absl::StatusOr<bool> needs = ResealRecord(kind, /*rewrite=*/false, &value);
        if (!needs.ok()) return needs.status();
        if (*needs) ++report.remaining;
      }
      if (!it->status().ok()) return FromRocks(it->status(), "count sealed values");
    }
    return report;
  }

  absl::Status ReclaimSpace() override {
    rocksdb::CompactRangeOptions options;
    // Rewrites the bottom level too, where the deleted versions and their tombstones sit.
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (rocksdb::ColumnFamilyHandle* cf : cfs_) {
      if (absl::Status s =
              FromRocks(db_->CompactRange(options, cf, nullptr, nullptr), "reclaim space");
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  int64_t CurrentRevision() const override { return revision_.load(); }

  StoreStats Stats() const override {
    auto sum = [&](const char* property) {
      uint64_t value = 0;
      return db_->GetAggregatedIntProperty(property, &value) ? static_cast<int64_t>(value) : 0;
    };
    StoreStats stats;
    stats.live_data_bytes = sum(rocksdb::DB::Properties::kEstimateLiveDataSize.c_str());
    stats.sst_files_bytes = sum(rocksdb::DB::Properties::kTotalSstFilesSize.c_str());
    stats.memtable_bytes = sum(rocksdb::DB::Properties::kCurSizeAllMemTables.c_str());
    stats.pending_compaction_bytes =
        sum(rocksdb::DB::Properties::kEstimatePendingCompactionBytes.c_str());
    uint64_t running = 0;
    if (db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &running)) {
      stats.running_compactions = static_cast<int64_t>(running);
    }
    stats.compactions_completed = compactions_->completed.load(std::memory_order_relaxed);
    stats.compaction_bytes_written = compactions_->bytes_written.load(std::memory_order_relaxed);
    return stats;
  }

  absl::StatusOr<LoadedState> LoadAll() override {
    LoadedState state;
    state.revision = revision_.load();
    state.epoch = epoch_;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), tenants()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      TenantRecord record;
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError(
            absl::StrCat("malformed tenant record \"", it->key().ToString(), "\""));
      }
      state.tenants.push_back(std::move(record));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "load tenants");
    it.reset(db_->NewIterator(rocksdb::ReadOptions(), entries()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::optional<EntryKey> key = DecodeEntryKey(ToAbsl(it->key()));
      EntryRecord record;
      if (!key ||
          !record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("malformed entry record in the store");
      }
      if (absl::Status s = OpenEntry(sealer_.get(), &record); !s.ok()) return s;
      state.entries.emplace_back(std::move(*key), std::move(record));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "load entries");
    it.reset(db_->NewIterator(rocksdb::ReadOptions(), meta()));
    for (it->Seek(kFormerParentPrefix); it->Valid() && it->key().starts_with(kFormerParentPrefix);
         it->Next()) {
      state.former_parents.emplace_back(
          it->key().ToString().substr(sizeof(kFormerParentPrefix) - 1), it->value().ToString());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "load former tenants");
    return state;
  }

  absl::Status ReadChanges(int64_t after,
                           const std::function<bool(const ChangeSet&)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), changes()));
    it->SeekToFirst();
    if (!it->status().ok()) return FromRocks(it->status(), "read change log");
    int64_t oldest = it->Valid() ? DecodeRevision(ToAbsl(it->key())).value_or(0) : 0;
    int64_t current = revision_.load();
    if (after < current && (oldest == 0 || oldest > after + 1)) {
      return absl::OutOfRangeError(absl::StrCat("the change log no longer reaches revision ",
                                                after + 1, "; the oldest revision kept is ",
                                                oldest == 0 ? current + 1 : oldest));
    }
    for (it->Seek(EncodeRevision(after + 1)); it->Valid(); it->Next()) {
      ChangeSet change;
      if (!change.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("malformed change-log record");
      }
      if (absl::Status s = OpenChangeSet(sealer_.get(), &change); !s.ok()) return s;
      if (!visit(change)) break;
    }
    return FromRocks(it->status(), "read change log");
  }

  absl::StatusOr<int64_t> OldestChange() override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), changes()));
    it->SeekToFirst();
    if (!it->status().ok()) return FromRocks(it->status(), "read change log");
    if (!it->Valid()) return 0;
    return DecodeRevision(ToAbsl(it->key())).value_or(0);
  }

  absl::Status CompactChangesBefore(int64_t revision) override {
    absl::MutexLock lock(&log_mu_);
    rocksdb::WriteOptions wo;
    wo.sync = sync_;
    return FromRocks(db_->DeleteRange(wo, changes(), EncodeRevision(0), EncodeRevision(revision)),
                     "compact change log");
  }

  absl::Status ReadHistory(
      const HistoryScope& scope, const EntryKey& after_key, int64_t after_revision,
      const std::function<bool(const EntryKey&, const HistoryRecord&)>& visit) override {
    return history_.ReadHistory(scope, after_key, after_revision, visit);
  }
  absl::StatusOr<StateAt> ReadStateAt(const HistoryScope& scope, int64_t revision) override {
    return history_.ReadStateAt(scope, revision);
  }
  absl::StatusOr<int64_t> HistoryFloor(const std::string& tenant) override {
    return history_.HistoryFloor(tenant);
  }
  absl::Status ReadReleases(const std::string& tenant, int64_t before,
                            const std::function<bool(const ChangeSet&)>& visit) override {
    return history_.ReadReleases(tenant, before, visit);
  }
  absl::StatusOr<ChangeSet> GetRelease(int64_t revision) override {
    return history_.GetRelease(revision);
  }
  absl::Status ReadAudit(int64_t before,
                         const std::function<bool(const AuditRecord&)>& visit) override {
    return history_.ReadAudit(before, visit);
  }
  absl::StatusOr<HistoryCompaction> CompactHistory(int64_t cutoff_micros,
                                                   int keep_versions) override {
    absl::MutexLock lock(&compaction_mu_);
    return history_.CompactHistory(cutoff_micros, keep_versions);
  }
  absl::StatusOr<int64_t> CompactAudit(int64_t cutoff_micros) override {
    return history_.CompactAudit(cutoff_micros);
  }
  absl::StatusOr<CheckpointInfo> Checkpoint(const std::string& dir) override {
    return CreateCheckpoint(db_.get(), dir);
  }

 private:
  rocksdb::ColumnFamilyHandle* meta() const { return cfs_[0]; }
  rocksdb::ColumnFamilyHandle* entries() const { return cfs_[1]; }
  rocksdb::ColumnFamilyHandle* tenants() const { return cfs_[2]; }
  rocksdb::ColumnFamilyHandle* changes() const { return cfs_[3]; }
  rocksdb::ColumnFamilyHandle* history_cf() const { return cfs_[4]; }
  rocksdb::ColumnFamilyHandle* releases_cf() const { return cfs_[5]; }

  enum class RecordKind { kEntry, kChangeSet, kHistory };

  // Whether the record `value` of `kind` holds a value sealed with another key than the
  // primary; with `rewrite`, re-seals it in place.
  absl::StatusOr<bool> ResealRecord(RecordKind kind, bool rewrite, std::string* value) const {
    // The record, parsed first, and the entry in it: parsing replaces sub-messages.
    auto reseal_entry = [&](const google::protobuf::Message& record,
                            EntryRecord* entry) -> absl::StatusOr<bool> {
      if (!rewrite) return sealer_->NeedsReseal(*entry);
      absl::StatusOr<bool> changed = sealer_->Reseal(entry);
      if (!changed.ok() || !*changed) return changed;
      *value = record.SerializeAsString();
      return true;
    };
    const absl::Status malformed = absl::DataLossError("malformed record while re-sealing secrets");
    switch (kind) {
      case RecordKind::kEntry: {
        EntryRecord record;
        if (!record.ParseFromString(*value)) return malformed;
        return reseal_entry(record, &record);
      }
      case RecordKind::kHistory: {
        HistoryRecord record;
        if (!record.ParseFromString(*value)) return malformed;
        return reseal_entry(record, record.mutable_entry());
      }
      case RecordKind::kChangeSet: {
        ChangeSet set;
        if (!set.ParseFromString(*value)) return malformed;
        if (!rewrite) return ChangeSetNeedsReseal(*sealer_, set);
        absl::StatusOr<bool> changed = ResealChangeSet(*sealer_, &set);
        if (!changed.ok() || !*changed) return changed;
        *value = set.SerializeAsString();
        return true;
      }
    }
    return false;
  }

  // Re-seals the records of one column family, a batch at a time. Each batch is written under
  // the commit and compaction locks, and only over records still as they were read: a commit
  // or a compaction that changed one meanwhile wins.
  absl::Status ResealFamily(rocksdb::ColumnFamilyHandle* cf, RecordKind kind, int64_t* resealed) {
    constexpr size_t kBatch = 256;
    std::vector<std::pair<std::string, std::string>> seen;  // key, value as read
    // What may delete this family's records: the change log's compaction, or history's.
    absl::Mutex* const deleter =
        cf == changes() ? &log_mu_ : (cf == entries() ? nullptr : &compaction_mu_);
    auto write = [&]() -> absl::Status {
      std::optional<absl::MutexLock> deleter_lock;
      if (deleter != nullptr) deleter_lock.emplace(deleter);
      absl::MutexLock commit_lock(&commit_mu_);
      rocksdb::WriteBatch batch;
      int64_t count = 0;
      for (auto& [key, value] : seen) {
        std::string now;
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf, key, &now);
        if (s.IsNotFound() || (s.ok() && now != value)) continue;
        if (!s.ok()) return FromRocks(s, "re-seal secrets");
        absl::StatusOr<bool> changed = ResealRecord(kind, /*rewrite=*/true, &now);
        if (!changed.ok()) return changed.status();
        if (!*changed) continue;
        batch.Put(cf, key, now);
        ++count;
      }
      rocksdb::WriteOptions wo;
      wo.sync = sync_;
      if (absl::Status s = FromRocks(db_->Write(wo, &batch), "re-seal secrets"); !s.ok()) return s;
      *resealed += count;
      seen.clear();
      return absl::OkStatus();
    };
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string value = it->value().ToString();
      absl::StatusOr<bool> needs = ResealRecord(kind, /*rewrite=*/false, &value);
      if (!needs.ok()) return needs.status();
      if (!*needs) continue;
      seen.emplace_back(it->key().ToString(), std::move(value));
      if (seen.size() == kBatch) {
        if (absl::Status s = write(); !s.ok()) return s;
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "re-seal secrets");
    return seen.empty() ? absl::OkStatus() : write();
  }

  const std::unique_ptr<DiskReserve> reserve_;
  // The Env of the fault-injecting file system (tests), or null; outlives db_.
  const std::unique_ptr<rocksdb::Env> env_;
  // Set by ResumableWriteErrors when RocksDB stops writes after an error.
  const std::shared_ptr<std::atomic<bool>> stopped_;
  const std::unique_ptr<rocksdb::DB> db_;
  // meta, entries, tenants, changes, history, releases, release_index, audit
  const std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  const bool sync_;
  const std::shared_ptr<CompactionCounter> compactions_;
  const std::shared_ptr<const SecretSealer> sealer_;  // null: secrets stored as they are
  // Held by every commit; by ResealSecrets around each batch, so it never writes over one.
  absl::Mutex commit_mu_ ABSL_ACQUIRED_AFTER(compaction_mu_, log_mu_);
  // Held by the compactions that delete history and releases (compaction_mu_) or the change
  // log (log_mu_), and by ResealSecrets around each batch of those, so it never brings a
  // deleted record back. Two locks: the watch hub's log compaction must not wait for a long
  // history compaction.
  absl::Mutex compaction_mu_;
  absl::Mutex log_mu_;
  std::atomic<int64_t> revision_{0};
  std::string epoch_;  // set by Init
  RocksHistory history_;
};

}  // namespace

namespace {

// The database in `path` lacks column families every confcenter store has. It is another
// application's, ours with a damaged MANIFEST (listing reads a truncated one up to the
// damage), or ours cut short while being created (the column families and the marker come
// right after the database). A read-only open, which changes nothing on disk, tells them
// apart. OK means: empty, take it as a new store.
absl::Status CheckForeignDatabase(const std::string& path,
                                  const std::vector<std::string>& present) {
  rocksdb::DBOptions options;
  options.paranoid_checks = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : present) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open data dir ", path));
  std::unique_ptr<rocksdb::DB> db(raw);
  bool empty = true;
  for (rocksdb::ColumnFamilyHandle* cf : handles) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
    it->SeekToFirst();
    if (it->Valid() || !it->status().ok()) empty = false;
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  if (empty) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("data dir ", path,
                   " holds a RocksDB database that is not a confcenter store (it lacks "
                   "the confcenter column families)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const std::string& path,
                                                        const RocksDbStoreOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool exists = fs::exists(path, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("cannot stat data dir ", path, ": ", ec.message()));
  if (exists && !fs::is_directory(path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", path, " is not a directory"));
  }
  bool has_db = exists && fs::exists(fs::path(path) / "CURRENT", ec);
  bool fresh = !has_db;
  if (fresh && exists && !fs::is_empty(path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", path, " is not empty and holds no confcenter store; refusing to use it"));
  }
  if (fresh && !options.create_if_missing) {
    return absl::NotFoundError(absl::StrCat("no confcenter store in ", path));
  }

  const std::vector<std::string> required_cfs = {rocksdb::kDefaultColumnFamilyName, kEntriesCf,
                                                 kTenantsCf, kChangesCf};
  std::vector<std::string> cf_names = required_cfs;
  for (const char* name : {kHistoryCf, kReleasesCf, kReleaseIndexCf, kAuditCf}) {
    cf_names.push_back(name);
  }
  if (has_db) {
    std::vector<std::string> present;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &present);
    if (!s.ok()) return FromRocks(s, absl::StrCat("open data dir ", path));
    for (const std::string& name : required_cfs) {
      if (std::find(present.begin(), present.end(), name) == present.end()) {
        if (absl::Status foreign = CheckForeignDatabase(path, present); !foreign.ok()) {
          return foreign;
        }
        break;  // empty: created below as a new store
      }
    }
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = fresh;
  db_options.create_missing_column_families = true;  // the history ones in older stores
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.info_log = std::make_shared<SpdlogRocksLogger>();
  if (options.disk_reserve_bytes > 0) {
    // After ENOSPC, RocksDB resumes only by flushing every memtable: capped at half the
    // reserve, they always fit in the space its release frees.
    db_options.db_write_buffer_size = static_cast<size_t>(options.disk_reserve_bytes / 2);
  }
  auto compactions = std::make_shared<CompactionCounter>();
  db_options.listeners.push_back(compactions);
  auto stopped = std::make_shared<std::atomic<bool>>(false);
  db_options.listeners.push_back(std::make_shared<ResumableWriteErrors>(stopped));
  db_options.max_bgerror_resume_count = 0;  // see ResumableWriteErrors
  std::unique_ptr<rocksdb::Env> env;
  if (options.file_system != nullptr) {
    env = rocksdb::NewCompositeEnv(options.file_system);
    db_options.env = env.get();
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : cf_names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open data dir ", path));
  auto reserve = std::make_unique<DiskReserve>((fs::path(path) / "DISK_RESERVE").string(),
                                               options.disk_reserve_bytes);
  reserve->Init();
  auto store = std::make_unique<RocksDbStore>(
      std::move(env), std::move(stopped), std::unique_ptr<rocksdb::DB>(raw), std::move(handles),
      options.sync, std::move(compactions), options.sealer, std::move(reserve));
  absl::Status init = store->Init(fresh, path, options.new_epoch);
  // Corruption anywhere is found now, not when a history read or a compaction reaches it:
  // a corrupt store is never served. Costs one read of the store: +35-70 ms for a 24 MB store
  // of 300,000 revisions (2-core VM, loaded).
  if (init.ok() && options.verify_checksums) init = store->VerifyChecksums();
  if (!init.ok()) {
    return absl::Status(init.code(), absl::StrCat("data dir ", path, ": ", init.message()));
  }
  return store;
}

}  // namespace confcenter::storage
