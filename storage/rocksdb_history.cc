#include "storage/rocksdb_history.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/history_record.h"
#include "storage/key_codec.h"

namespace confcenter::storage {
namespace {

constexpr char kHistoryStartKey[] = "history_start";
// Present once history is kept (from creation, or since an upgrade seeded it).
constexpr char kHistoryInitializedKey[] = "history_initialized";
constexpr char kAuditSequenceKey[] = "audit_sequence";
constexpr int64_t kMaxRevision = std::numeric_limits<int64_t>::max() - 1;
// Deletes per compaction write; floors travel with every write.
constexpr int kCompactionBatch = 10'000;

absl::string_view View(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

std::string FloorKey(absl::string_view tenant) {
  return absl::StrCat("history_floor", absl::string_view("\0", 1), tenant);
}

template <typename Message>
bool Parse(const rocksdb::Slice& bytes, Message* out) {
  return out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// A snapshot released on destruction, and read options that use it.
class Snapshot {
 public:
  explicit Snapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {
    options_.snapshot = snapshot_;
  }
  ~Snapshot() { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::ReadOptions& options() const { return options_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions options_;
};

// The byte prefix all history keys of `scope` start with.
std::string ScopePrefix(const HistoryScope& scope) {
  if (!scope.key.empty()) return HistoryKeyPrefix({scope.tenant, scope.service, scope.key});
  if (!scope.service.empty()) return EntryPrefix(scope.tenant, scope.service) + scope.key_prefix;
  return EntryPrefix(scope.tenant);
}

bool InScope(const HistoryScope& scope, const EntryKey& key) {
  if (key.tenant != scope.tenant) return false;
  if (!scope.service.empty() && key.service != scope.service) return false;
  if (!scope.key.empty()) return key.key == scope.key;
  return absl::StartsWith(key.key, scope.key_prefix);
}

}  // namespace

absl::Status RocksHistory::Init(int64_t revision, rocksdb::ColumnFamilyHandle* entries) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_.meta, kAuditSequenceKey, &value);
  if (s.ok()) {
    audit_sequence_.store(DecodeRevision(value).value_or(0));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read audit sequence");
  }
  s = db_->Get(rocksdb::ReadOptions(), cfs_.meta, kHistoryInitializedKey, &value);
  if (s.ok()) return absl::OkStatus();
  if (!s.IsNotFound()) return FromRocks(s, "read history marker");
  // History starts now. A store written before history was kept gets one version per current
  // entry (at its mod revision), so its state at `revision` and after rebuilds exactly; states
  // before `revision` cannot. Marker, seed and start go in one batch: a crash leaves none.
  rocksdb::WriteBatch batch;
  if (revision > 0) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), entries));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::optional<EntryKey> key = DecodeEntryKey(View(it->key()));
      EntryRecord entry;
      if (!key || !entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("malformed entry while seeding history");
      }
      HistoryRecord record;
      record.set_revision(entry.mod_revision());
      record.set_origin("before history");
      *record.mutable_entry() = std::move(entry);
      batch.Put(cfs_.history, EncodeHistoryKey(*key, record.revision()),
                record.SerializeAsString());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "seed history");
    batch.Put(cfs_.meta, kHistoryStartKey, EncodeRevision(revision));
  }
  batch.Put(cfs_.meta, kHistoryInitializedKey, "1");
  return Write(&batch, "record history start");
}

absl::Status RocksHistory::Write(rocksdb::WriteBatch* batch, absl::string_view what) {
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  return FromRocks(db_->Write(wo, batch), what);
}

int64_t RocksHistory::AddToBatch(const std::vector<ChangeSet>& change_sets,
                                 const std::vector<AuditRecord>& audit,
                                 rocksdb::WriteBatch* batch) {
  for (const ChangeSet& set : change_sets) {
    std::set<std::string> tenants;
    for (const Change& change : set.changes()) {
      if (!MakesHistory(change)) continue;
      const HistoryRecord record = HistoryRecordOf(set, change);
      batch->Put(
          cfs_.history,
          EncodeHistoryKey({change.tenant(), change.service(), change.key()}, set.revision()),
          record.SerializeAsString());
      tenants.insert(change.tenant());
    }
    if (set.release()) {
      batch->Put(cfs_.releases, EncodeRevision(set.revision()), set.SerializeAsString());
      for (const std::string& tenant : tenants) {
        batch->Put(cfs_.release_index, EncodeReleaseIndexKey(tenant, set.revision()), "");
      }
    }
  }
  int64_t sequence = audit_sequence_.load();
  for (const AuditRecord& in : audit) {
    AuditRecord record = in;
    record.set_sequence(++sequence);
    batch->Put(cfs_.audit, EncodeRevision(sequence), record.SerializeAsString());
  }
  if (!audit.empty()) batch->Put(cfs_.meta, kAuditSequenceKey, EncodeRevision(sequence));
  return sequence;
}

absl::StatusOr<int64_t> RocksHistory::FloorAt(const rocksdb::ReadOptions& ro,
                                              const std::string& tenant) {
  int64_t floor = 0;
  for (const std::string& key : {std::string(kHistoryStartKey), FloorKey(tenant)}) {
    std::string value;
    rocksdb::Status s = db_->Get(ro, cfs_.meta, key, &value);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return FromRocks(s, "read history floor");
    floor = std::max(floor, DecodeRevision(value).value_or(0));
  }
  return floor;
}

absl::StatusOr<int64_t> RocksHistory::HistoryFloor(const std::string& tenant) {
  return FloorAt(rocksdb::ReadOptions(), tenant);
}

// Calls `visit` once per key of `scope` that has versions, in key order, from `start_key`
// (inclusive) if given, else from the scope's first key. `visit` may move the iterator; the
// next key is found by seeking past the current key's versions. Stops when `visit` returns
// false.
absl::Status RocksHistory::ForEachKey(
    const rocksdb::ReadOptions& ro, const HistoryScope& scope, const EntryKey* start_key,
    const std::function<bool(rocksdb::Iterator*, const EntryKey&)>& visit) {
  const std::string prefix = ScopePrefix(scope);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_.history));
  it->Seek(start_key != nullptr ? HistoryKeyPrefix(*start_key) : prefix);
  while (it->Valid() && absl::StartsWith(View(it->key()), prefix)) {
    std::optional<std::pair<EntryKey, int64_t>> decoded = DecodeHistoryKey(View(it->key()));
    if (!decoded) return absl::DataLossError("malformed history key");
    const EntryKey key = std::move(decoded->first);
    if (InScope(scope, key) && !visit(it.get(), key)) return absl::OkStatus();
    if (!it->status().ok()) break;
    it->Seek(HistoryKeyEnd(key));
  }
  return FromRocks(it->status(), "read history");
}

absl::Status RocksHistory::ReadHistory(
    const HistoryScope& scope, const EntryKey& after_key, int64_t after_revision,
    const std::function<bool(const EntryKey&, const HistoryRecord&)>& visit) {
  Snapshot snapshot(db_);
  bool first = after_revision > 0;
  absl::Status failed;
  absl::Status s = ForEachKey(
      snapshot.options(), scope, first ? &after_key : nullptr,
      [&](rocksdb::Iterator* it, const EntryKey& key) {
        // Newest first: from just below the resume point (or the key's last version) down.
        const int64_t below = first && key == after_key ? after_revision : kMaxRevision + 1;
        first = false;
        const std::string group = HistoryKeyPrefix(key);
        for (it->SeekForPrev(EncodeHistoryKey(key, below - 1));
             it->Valid() && absl::StartsWith(View(it->key()), group); it->Prev()) {
          HistoryRecord record;
          if (!Parse(it->value(), &record)) {
            failed = absl::DataLossError("malformed history record");
            return false;
          }
          if (absl::Status o = OpenEntry(sealer_, record.mutable_entry()); !o.ok()) {
            failed = o;
            return false;
          }
          if (!visit(key, record)) return false;
        }
        return it->status().ok();
      });
  return failed.ok() ? s : failed;
}

absl::StatusOr<StateAt> RocksHistory::ReadStateAt(const HistoryScope& scope, int64_t revision) {
  Snapshot snapshot(db_);
  StateAt state;
  absl::StatusOr<int64_t> floor = FloorAt(snapshot.options(), scope.tenant);
  if (!floor.ok()) return floor.status();
  state.floor = *floor;
  absl::Status failed;
  absl::Status s = ForEachKey(
      snapshot.options(), scope, nullptr, [&](rocksdb::Iterator* it, const EntryKey& key) {
        // The key's latest version <= revision, if any.
        it->SeekForPrev(EncodeHistoryKey(key, revision));
        if (!it->Valid() || !absl::StartsWith(View(it->key()), HistoryKeyPrefix(key))) {
          return it->status().ok();
        }
        HistoryRecord record;
        if (!Parse(it->value(), &record)) {
          failed = absl::DataLossError("malformed history record");
          return false;
        }
        if (absl::Status o = OpenEntry(sealer_, record.mutable_entry()); !o.ok()) {
          failed = o;
          return false;
        }
        if (!record.deleted()) {
          state.entries.emplace_back(key, std::move(*record.mutable_entry()));
        }
        return true;
      });
  if (!failed.ok()) return failed;
  if (!s.ok()) return s;
  return state;
}

absl::Status RocksHistory::ReadReleases(const std::string& tenant, int64_t before,
                                        const std::function<bool(const ChangeSet&)>& visit) {
  Snapshot snapshot(db_);
  const int64_t last = before > 0 ? before - 1 : kMaxRevision;
  if (tenant.empty()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(snapshot.options(), cfs_.releases));
    for (it->SeekForPrev(EncodeRevision(last)); it->Valid(); it->Prev()) {
      ChangeSet set;
      if (!Parse(it->value(), &set)) return absl::DataLossError("malformed release record");
      if (absl::Status o = OpenChangeSet(sealer_, &set); !o.ok()) return o;
      if (!visit(set)) break;
    }
    return FromRocks(it->status(), "read releases");
  }
  const std::string prefix = EntryPrefix(tenant);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(snapshot.options(), cfs_.release_index));
  for (it->SeekForPrev(EncodeReleaseIndexKey(tenant, last));
       it->Valid() && absl::StartsWith(View(it->key()), prefix); it->Prev()) {
    std::string value;
    const absl::string_view key = View(it->key());
    rocksdb::Status s = db_->Get(snapshot.options(), cfs_.releases,
                                 rocksdb::Slice(key.data() + prefix.size(), 8), &value);
    if (s.IsNotFound()) continue;  // compacted between the index and the record: skip
    if (!s.ok()) return FromRocks(s, "read release");
    ChangeSet set;
    if (!set.ParseFromString(value)) return absl::DataLossError("malformed release record");
    if (absl::Status o = OpenChangeSet(sealer_, &set); !o.ok()) return o;
    if (!visit(set)) break;
  }
  return FromRocks(it->status(), "read release index");
}

absl::StatusOr<ChangeSet> RocksHistory::GetRelease(int64_t revision) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cfs_.releases, EncodeRevision(revision), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("release_id: no release ", revision));
  }
  if (!s.ok()) return FromRocks(s, "read release");
  ChangeSet set;
  if (!set.ParseFromString(value)) return absl::DataLossError("malformed release record");
  if (absl::Status o = OpenChangeSet(sealer_, &set); !o.ok()) return o;
  return set;
}

absl::Status RocksHistory::ReadAudit(int64_t before,
                                     const std::function<bool(const AuditRecord&)>& visit) {
  Snapshot snapshot(db_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(snapshot.options(), cfs_.audit));
  for (it->SeekForPrev(EncodeRevision(before > 0 ? before - 1 : kMaxRevision)); it->Valid();
       it->Prev()) {
    AuditRecord record;
    if (!Parse(it->value(), &record)) return absl::DataLossError("malformed audit record");
    if (!visit(record)) break;
  }
  return FromRocks(it->status(), "read audit log");
}

absl::StatusOr<HistoryCompaction> RocksHistory::CompactHistory(int64_t cutoff_micros,
                                                               int keep_versions) {
  keep_versions = std::max(1, keep_versions);
  Snapshot snapshot(db_);
  HistoryCompaction result;
  std::map<std::string, int64_t> floors;  // tenant -> new floor (only raised)
  rocksdb::WriteBatch batch;
  int pending = 0;
  auto flush = [&]() -> absl::Status {
    for (const auto& [tenant, floor] : floors) {
      absl::StatusOr<int64_t> old = FloorAt(rocksdb::ReadOptions(), tenant);
      if (!old.ok()) return old.status();
      if (floor > *old) batch.Put(cfs_.meta, FloorKey(tenant), EncodeRevision(floor));
    }
    absl::Status s = Write(&batch, "compact history");
    batch.Clear();
    pending = 0;
    return s;
  };

  std::vector<VersionAge> versions;
  auto finish_key = [&](const EntryKey& key) {
    const size_t drop = VersionsToDrop(versions, cutoff_micros, keep_versions);
    const VersionAge& last = versions.back();
    if (drop == 0) return;
    for (size_t i = 0; i < drop; ++i) {
      batch.Delete(cfs_.history, EncodeHistoryKey(key, versions[i].revision));
    }
    // States before the first kept version (or before the deletion, if all went) can no
    // longer be rebuilt for this key.
    const int64_t floor = drop < versions.size() ? versions[drop].revision : last.revision;
    int64_t& f = floors[key.tenant];
    f = std::max(f, floor);
    result.versions_dropped += static_cast<int64_t>(drop);
    pending += static_cast<int>(drop);
  };

  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(snapshot.options(), cfs_.history));
  std::optional<EntryKey> current;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<std::pair<EntryKey, int64_t>> decoded = DecodeHistoryKey(View(it->key()));
    if (!decoded) return absl::DataLossError("malformed history key");
    if (!current || !(decoded->first == *current)) {
      if (current) finish_key(*current);
      if (pending >= kCompactionBatch) {
        if (absl::Status s = flush(); !s.ok()) return s;
      }
      current = decoded->first;
      versions.clear();
    }
    HistoryRecord record;
    if (!Parse(it->value(), &record)) return absl::DataLossError("malformed history record");
    versions.push_back({decoded->second, record.commit_time_micros(), record.deleted()});
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read history");
  if (current) finish_key(*current);

  // Releases go by age alone, with their index rows.
  std::unique_ptr<rocksdb::Iterator> rel(db_->NewIterator(snapshot.options(), cfs_.releases));
  for (rel->SeekToFirst(); rel->Valid(); rel->Next()) {
    ChangeSet set;
    if (!Parse(rel->value(), &set)) return absl::DataLossError("malformed release record");
    if (set.commit_time_micros() >= cutoff_micros) break;
    batch.Delete(cfs_.releases, rel->key());
    std::set<std::string> tenants;
    for (const Change& change : set.changes()) tenants.insert(change.tenant());
    for (const std::string& tenant : tenants) {
      batch.Delete(cfs_.release_index, EncodeReleaseIndexKey(tenant, set.revision()));
    }
    ++result.releases_dropped;
    if (++pending >= kCompactionBatch) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
  }
  if (!rel->status().ok()) return FromRocks(rel->status(), "read releases");
  if (absl::Status s = flush(); !s.ok()) return s;
  result.floors.assign(floors.begin(), floors.end());
  return result;
}

absl::StatusOr<int64_t> RocksHistory::CompactAudit(int64_t cutoff_micros) {
  Snapshot snapshot(db_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(snapshot.options(), cfs_.audit));
  int64_t dropped = 0;
  rocksdb::WriteBatch batch;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    AuditRecord record;
    if (!Parse(it->value(), &record)) return absl::DataLossError("malformed audit record");
    if (record.time_micros() >= cutoff_micros) break;
    batch.Delete(cfs_.audit, it->key());
    if (++dropped % kCompactionBatch == 0) {
      if (absl::Status s = Write(&batch, "compact audit log"); !s.ok()) return s;
      batch.Clear();
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read audit log");
  if (batch.Count() > 0) {
    if (absl::Status s = Write(&batch, "compact audit log"); !s.ok()) return s;
  }
  return dropped;
}

}  // namespace confcenter::storage
