// Conversions from domain types to confcenter.v1 messages, shared by the unary handlers and
// the watch hub (which serializes its messages itself).
#ifndef CONFCENTER_SERVER_API_CONVERT_H_
#define CONFCENTER_SERVER_API_CONVERT_H_

#include <utility>

#include "confcenter/v1/config.pb.h"
#include "server/config_state.h"

namespace confcenter {

// Moves `entry` into `out`.
inline void MoveToProto(ResolvedEntry&& entry, v1::ResolvedEntry* out) {
  out->set_service(std::move(entry.service));
  out->set_key(std::move(entry.key));
  out->set_value(std::move(entry.value));
  out->set_content_type(static_cast<v1::ContentType>(entry.content_type));
  out->set_source_tenant(std::move(entry.source_tenant));
  out->set_revision(entry.revision);
}

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_CONVERT_H_
