// The one rule that turns a committed change into a history version, shared by the engines
// (RocksDB and etcd keep the same history records).
#ifndef CONFCENTER_STORAGE_HISTORY_RECORD_H_
#define CONFCENTER_STORAGE_HISTORY_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "storage/records.pb.h"

namespace confcenter::storage {

// Whether `change` makes a history version (ENTRY_PUT and ENTRY_DELETE do).
bool MakesHistory(const Change& change);

// The version `change` (one that MakesHistory) of `set` adds to its key's history: the entry
// written (or the deletion), with the change set's revision, time, author, message, origin
// and release flag.
HistoryRecord HistoryRecordOf(const ChangeSet& set, const Change& change);

// One version of a key, as history compaction weighs it.
struct VersionAge {
  int64_t revision = 0;
  int64_t time_micros = 0;
  bool deleted = false;
};

// How many of a key's `versions` (oldest first, not empty) history compaction drops: the
// oldest ones superseded before `cutoff_micros` (so the version in force at the cutoff stays,
// and every state since the cutoff rebuilds) that are not among the last `keep_versions`; all
// of them when the last is a deletion older than the cutoff.
size_t VersionsToDrop(const std::vector<VersionAge>& versions, int64_t cutoff_micros,
                      int keep_versions);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_HISTORY_RECORD_H_
