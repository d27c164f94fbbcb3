#include "storage/history_record.h"

namespace confcenter::storage {

bool MakesHistory(const Change& change) {
  return change.type() == Change::ENTRY_PUT || change.type() == Change::ENTRY_DELETE;
}

HistoryRecord HistoryRecordOf(const ChangeSet& set, const Change& change) {
  HistoryRecord record;
  record.set_revision(set.revision());
  record.set_commit_time_micros(set.commit_time_micros());
  if (change.type() == Change::ENTRY_PUT) {
    *record.mutable_entry() = change.entry();
  } else {
    record.set_deleted(true);
  }
  record.set_author(set.author());
  record.set_message(set.message());
  record.set_origin(set.origin());
  record.set_release(set.release());
  return record;
}

size_t VersionsToDrop(const std::vector<VersionAge>& versions, int64_t cutoff_micros,
                      int keep_versions) {
  const VersionAge& last = versions.back();
  if (last.deleted && last.time_micros < cutoff_micros) return versions.size();
  const size_t keep = static_cast<size_t>(keep_versions);
  size_t drop = 0;
  while (drop + keep < versions.size() && drop + 1 < versions.size() &&
         versions[drop + 1].time_micros < cutoff_micros) {
    ++drop;
  }
  return drop;
}

}  // namespace confcenter::storage
