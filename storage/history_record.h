// The one rule that turns a committed change into a history version, shared by the engines
// (RocksDB and etcd keep the same history records).
#ifndef CONFCENTER_STORAGE_HISTORY_RECORD_H_
#define CONFCENTER_STORAGE_HISTORY_RECORD_H_

#include "storage/records.pb.h"

namespace confcenter::storage {

// Whether `change` makes a history version (ENTRY_PUT and ENTRY_DELETE do).
bool MakesHistory(const Change& change);

// The version `change` (one that MakesHistory) of `set` adds to its key's history: the entry
// written (or the deletion), with the change set's revision, time, author, message, origin
// and release flag.
HistoryRecord HistoryRecordOf(const ChangeSet& set, const Change& change);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_HISTORY_RECORD_H_
