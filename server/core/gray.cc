#include "server/core/gray.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/names.h"

namespace confcenter {
namespace {

// One requirement of a label selector.
struct Requirement {
  enum class Op { kEquals, kNotEquals, kExists, kAbsent };
  Op op = Op::kExists;
  std::string key;
  std::string value;
};

// Parses "k=v, k!=v, k, !k" (also "k==v"); INVALID_ARGUMENT naming `field` otherwise.
absl::Status ParseSelector(absl::string_view field, absl::string_view selector,
                           std::vector<Requirement>* out) {
  if (absl::StripAsciiWhitespace(selector).empty()) return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(selector, ',')) {
    part = absl::StripAsciiWhitespace(part);
    Requirement r;
    absl::string_view key = part;
    if (const size_t ne = part.find("!="); ne != absl::string_view::npos) {
      r.op = Requirement::Op::kNotEquals;
      key = part.substr(0, ne);
      r.value = std::string(absl::StripAsciiWhitespace(part.substr(ne + 2)));
    } else if (const size_t eq = part.find('='); eq != absl::string_view::npos) {
      r.op = Requirement::Op::kEquals;
      key = part.substr(0, eq);
      absl::string_view value = part.substr(eq + 1);
      absl::ConsumePrefix(&value, "=");
      r.value = std::string(absl::StripAsciiWhitespace(value));
    } else if (absl::ConsumePrefix(&key, "!")) {
      r.op = Requirement::Op::kAbsent;
    }
    key = absl::StripAsciiWhitespace(key);
    if (key.empty() || (r.op != Requirement::Op::kExists && r.op != Requirement::Op::kAbsent &&
                        r.value.find_first_of("=!,") != std::string::npos)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", QuoteForError(part),
                       " is not a requirement (k=v, k!=v, k or !k, comma-separated)"));
    }
    if (absl::Status s = ValidateLabelKey(field, key); !s.ok()) return s;
    r.key = std::string(key);
    out->push_back(std::move(r));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGrayAudience(absl::string_view field,
                                  const storage::GrayAudienceRecord& audience) {
  if (audience.selector().size() > kMaxSelectorBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".selector: ", audience.selector().size(),
                                                   " bytes; at most ", kMaxSelectorBytes));
  }
  if (audience.instance_ids_size() > kMaxAudienceInstances) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".instance_ids: ", audience.instance_ids_size(), " ids; at most ",
                     kMaxAudienceInstances, " (use a selector)"));
  }
  std::vector<Requirement> requirements;
  if (absl::Status s =
          ParseSelector(absl::StrCat(field, ".selector"), audience.selector(), &requirements);
      !s.ok()) {
    return s;
  }
  if (audience.percentage() < 0 || audience.percentage() > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".percentage: ", audience.percentage(), " is outside 0-100"));
  }
  for (int i = 0; i < audience.instance_ids_size(); ++i) {
    if (audience.instance_ids(i).empty() || audience.instance_ids(i).size() > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".instance_ids[", i, "]: must be 1-256 bytes"));
    }
  }
  if (!audience.service().empty()) {
    if (absl::Status s = ValidateServiceName(absl::StrCat(field, ".service"), audience.service());
        !s.ok()) {
      return s;
    }
  }
  if (requirements.empty() && audience.instance_ids().empty() && audience.percentage() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": name the instances: a selector, instance ids or a percentage (1-100)"));
  }
  return absl::OkStatus();
}

int32_t GrayBucket(absl::string_view tenant, absl::string_view instance_id) {
  uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](absl::string_view bytes) {
    for (unsigned char c : bytes) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
  };
  mix(tenant);
  mix(absl::string_view("\0", 1));
  mix(instance_id);
  return static_cast<int32_t>(hash % 10000);
}

bool InGrayAudience(const storage::GrayAudienceRecord& audience, absl::string_view tenant,
                    const InstanceIdentity& instance) {
  if (instance.instance_id.empty()) return false;
  if (!audience.service().empty() && audience.service() != instance.service) return false;
  std::vector<Requirement> requirements;
  if (!ParseSelector("selector", audience.selector(), &requirements).ok()) return false;
  for (const Requirement& r : requirements) {
    auto it = instance.labels.find(r.key);
    const bool has = it != instance.labels.end();
    switch (r.op) {
      case Requirement::Op::kEquals:
        if (!has || it->second != r.value) return false;
        break;
      case Requirement::Op::kNotEquals:
        if (has && it->second == r.value) return false;
        break;
      case Requirement::Op::kExists:
        if (!has) return false;
        break;
      case Requirement::Op::kAbsent:
        if (has) return false;
        break;
    }
  }
  if (!audience.instance_ids().empty()) {
    bool listed = false;
    for (const std::string& id : audience.instance_ids())
      listed = listed || id == instance.instance_id;
    if (!listed) return false;
  }
  if (audience.percentage() > 0 &&
      GrayBucket(tenant, instance.instance_id) >= audience.percentage() * 100) {
    return false;
  }
  return true;
}

}  // namespace confcenter
