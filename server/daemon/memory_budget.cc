#include "server/daemon/memory_budget.h"

#include <algorithm>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace confcenter {
namespace {

// The number in `path`, or 0 if absent, "max" or unreadable.
int64_t ReadLimit(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!std::getline(in, text)) return 0;
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) return 0;  // "max"
  // cgroup v1 says "no limit" with a huge number (PAGE_COUNTER_MAX pages).
  if (value <= 0 || value >= (int64_t{1} << 60)) return 0;
  return value;
}

std::string MiB(int64_t bytes) {
  return bytes >= (1 << 20) ? absl::StrCat(bytes >> 20, " MiB") : absl::StrCat(bytes, " bytes");
}

}  // namespace

int64_t CgroupMemoryLimit(const std::string& cgroup_root) {
  if (int64_t v2 = ReadLimit(cgroup_root + "/memory.max"); v2 > 0) return v2;
  return ReadLimit(cgroup_root + "/memory/memory.limit_in_bytes");
}

MemoryPlan PlanMemory(const MemoryPlanInput& in) {
  MemoryPlan plan;
  plan.max_index_bytes = in.max_index_bytes > 0 ? in.max_index_bytes : in.limit_bytes / 2;
  if (plan.max_index_bytes > 0 && in.index_bytes > plan.max_index_bytes) {
    plan.refusal = absl::FailedPreconditionError(absl::StrCat(
        "the store's index needs ", MiB(in.index_bytes), " of memory, over ",
        in.max_index_bytes > 0 ? "--max_index_bytes (" : "half the memory limit (",
        MiB(plan.max_index_bytes),
        "); raise the memory limit (and --max_index_bytes), or delete keys and tenants"));
    return plan;
  }
  if (in.limit_bytes > 0 && in.index_bytes + kBaselineBytes > in.limit_bytes) {
    plan.refusal = absl::FailedPreconditionError(
        absl::StrCat("the store's index (", MiB(in.index_bytes), ") and the server's baseline (",
                     MiB(kBaselineBytes), ") exceed the memory limit (", MiB(in.limit_bytes),
                     "); raise the memory limit"));
    return plan;
  }
  if (in.limit_bytes <= 0) {
    plan.max_subscriptions =
        in.requested_subscriptions > 0 ? in.requested_subscriptions : kDefaultMaxSubscriptions;
    return plan;
  }
  const int64_t left = in.limit_bytes - in.index_bytes - kBaselineBytes;
  const int64_t fit = left / 4 * 3 / kBytesPerStream;
  if (in.requested_subscriptions <= 0) {
    plan.max_subscriptions = std::clamp<int64_t>(fit, 1, kDefaultMaxSubscriptions);
    return plan;
  }
  plan.max_subscriptions = in.requested_subscriptions;
  if (in.requested_subscriptions > fit) {
    plan.warnings.push_back(
        absl::StrCat("--max_subscriptions=", in.requested_subscriptions, " streams would take ",
                     MiB(in.requested_subscriptions * kBytesPerStream), " (", kBytesPerStream >> 10,
                     " KiB each) with the index at ", MiB(in.index_bytes),
                     " under a memory limit of ", MiB(in.limit_bytes), ": about ", fit,
                     " fit; the process may be killed for memory if they all open"));
  }
  return plan;
}

}  // namespace confcenter
