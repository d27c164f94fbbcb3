// Gray releases: who is in a gray audience. Pure functions shared by the writes that start a
// gray release (validation), the watch hub (which streams see it) and the edge (which listed
// instances see it), so every replica decides the same way.
#ifndef CONFCENTER_SERVER_CORE_GRAY_H_
#define CONFCENTER_SERVER_CORE_GRAY_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "storage/records.pb.h"

namespace confcenter {

// How an instance names itself on its stream (confcenter.v1.InstanceInfo).
struct InstanceIdentity {
  std::string instance_id;
  std::string service;
  std::map<std::string, std::string> labels;
};

// Longest label selector, and most instance ids, an audience names.
inline constexpr size_t kMaxSelectorBytes = 4096;
inline constexpr int kMaxAudienceInstances = 1000;

// INVALID_ARGUMENT naming "<field>.selector", "<field>.percentage" or "<field>" if the
// audience is malformed: a selector that does not parse, a percentage outside 0-100, an
// empty instance id, or no criterion at all (selector, instance ids or percentage).
absl::Status ValidateGrayAudience(absl::string_view field,
                                  const storage::GrayAudienceRecord& audience);

// The instance's bucket for percentages, 0-9999: stable for (tenant, instance id) on every
// replica and across restarts and reconnects (FNV-1a; not a secret), so raising a percentage
// keeps the instances already in.
int32_t GrayBucket(absl::string_view tenant, absl::string_view instance_id);

// Whether the instance (of `tenant`'s view) is in the audience. An instance without an id
// never is. A malformed selector matches nothing.
bool InGrayAudience(const storage::GrayAudienceRecord& audience, absl::string_view tenant,
                    const InstanceIdentity& instance);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_GRAY_H_
