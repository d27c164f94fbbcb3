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

}  // namespace confcenter::storage
