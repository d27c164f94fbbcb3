// Conversions from domain types to confcenter.v1 messages, shared by the unary handlers and
// the watch hub (which serializes its messages itself).
#ifndef CONFCENTER_SERVER_CORE_API_CONVERT_H_
#define CONFCENTER_SERVER_CORE_API_CONVERT_H_

#include <string>
#include <utility>

#include "absl/time/time.h"
#include "confcenter/v1/config.pb.h"
#include "confcenter/v1/history.pb.h"
#include "google/protobuf/duration.pb.h"
#include "server/core/config_state.h"
#include "server/core/history_core.h"
#include "storage/records.pb.h"

namespace confcenter {

// A protobuf Duration as an absl::Duration (a negative one stays negative).
inline absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// Moves `entry` into `out`.
inline void MoveToProto(ResolvedEntry&& entry, v1::ResolvedEntry* out) {
  out->set_service(std::move(entry.service));
  out->set_key(std::move(entry.key));
  out->set_value(std::move(entry.value));
  out->set_content_type(static_cast<v1::ContentType>(entry.content_type));
  out->set_source_tenant(std::move(entry.source_tenant));
  out->set_revision(entry.revision);
  out->set_secret(entry.secret);
}

// A tenant's own entry as the API shows it.
inline void FillEntry(const std::string& tenant, const std::string& service, const std::string& key,
                      const storage::EntryRecord& record, v1::Entry* out) {
  out->set_tenant(tenant);
  out->set_service(service);
  out->set_key(key);
  out->set_value(record.value());
  out->set_content_type(static_cast<v1::ContentType>(record.content_type()));
  out->set_kind(record.mask() ? v1::ENTRY_KIND_MASK : v1::ENTRY_KIND_VALUE);
  out->set_create_revision(record.create_revision());
  out->set_revision(record.mod_revision());
  out->set_version(record.version());
  out->set_secret(record.secret());
}

// One side of a diff as the API shows it.
inline void FillDiffValue(const DiffSide& side, v1::DiffValue* out) {
  out->set_value(side.value);
  out->set_content_type(static_cast<v1::ContentType>(side.content_type));
  out->set_kind(side.mask ? v1::ENTRY_KIND_MASK : v1::ENTRY_KIND_VALUE);
  out->set_source_tenant(side.source_tenant);
  out->set_revision(side.revision);
  out->set_secret(side.secret);
}

// One key of a diff as the API shows it.
inline void FillDiffEntry(const DiffEntry& e, v1::DiffEntry* out) {
  out->set_service(e.service);
  out->set_key(e.key);
  out->set_type(e.type == DiffType::kAdded     ? v1::DIFF_TYPE_ADDED
                : e.type == DiffType::kRemoved ? v1::DIFF_TYPE_REMOVED
                                               : v1::DIFF_TYPE_CHANGED);
  if (e.left) FillDiffValue(*e.left, out->mutable_left());
  if (e.right) FillDiffValue(*e.right, out->mutable_right());
}

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_API_CONVERT_H_
