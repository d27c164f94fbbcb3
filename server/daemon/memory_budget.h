// The start-up memory check: what the index, the streams and the engine will take against the
// memory limit the process runs under (its cgroup's, as Kubernetes sets it), so a store that
// cannot fit is refused with one clear line instead of crash-looping on OOM, and the number of
// streams is sized to what fits.
#ifndef CONFCENTER_SERVER_DAEMON_MEMORY_BUDGET_H_
#define CONFCENTER_SERVER_DAEMON_MEMORY_BUDGET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace confcenter {

// Server memory per open Subscribe stream, measured (bench/README.md, confcenter_fanout:
// 19.9-20.3 KiB RSS per idle subscriber, gRPC's own ~18 KiB included), rounded up.
inline constexpr int64_t kBytesPerStream = 24 << 10;
// What the process takes before any data: gRPC, RocksDB's caches and memtables (capped at
// half of --disk_reserve_bytes), threads. Measured: 36-39 MiB RSS after a few thousand small
// writes (confcenter_abuse_bench, "before"), so 64 MiB leaves room for the memtables.
inline constexpr int64_t kBaselineBytes = 64 << 20;
// The default --max_subscriptions when no memory limit is known.
inline constexpr int64_t kDefaultMaxSubscriptions = 100'000;

// The memory limit of this process's cgroup (v2 memory.max, else v1
// memory.limit_in_bytes) read under `cgroup_root` (normally /sys/fs/cgroup); 0 if there is
// none or it cannot be read.
int64_t CgroupMemoryLimit(const std::string& cgroup_root = "/sys/fs/cgroup");

struct MemoryPlanInput {
  int64_t limit_bytes = 0;              // 0: unknown, nothing is checked
  int64_t index_bytes = 0;              // the loaded index (ConfigState::index_bytes)
  int64_t max_index_bytes = 0;          // --max_index_bytes; 0: half the limit
  int64_t requested_subscriptions = 0;  // --max_subscriptions; 0: sized from the limit
};

struct MemoryPlan {
  int64_t max_subscriptions = kDefaultMaxSubscriptions;
  int64_t max_index_bytes = 0;  // the bound checked (0: none)
  // Said at start (logged as warnings): e.g. the requested streams do not fit.
  std::vector<std::string> warnings;
  // Not OK: the server must not start (FAILED_PRECONDITION, one line naming the flags).
  absl::Status refusal;
};

// Refuses when the index is over its bound (--max_index_bytes, or half the limit) or the
// index and the baseline alone exceed the limit; sizes max_subscriptions to 3/4 of what is
// left (at most kDefaultMaxSubscriptions) unless requested, and warns when a requested
// number does not fit.
MemoryPlan PlanMemory(const MemoryPlanInput& input);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_DAEMON_MEMORY_BUDGET_H_
