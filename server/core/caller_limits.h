// Fairness between callers: a token bucket per caller (the authenticated identity, or the
// peer's address where there is none), so one runaway client cannot take the capacity others
// need. Used by the committer for writes and by the watch hub for new streams.
#ifndef CONFCENTER_SERVER_CORE_CALLER_LIMITS_H_
#define CONFCENTER_SERVER_CORE_CALLER_LIMITS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"

namespace confcenter {

// A refill rate and a burst: `per_second` tokens come back each second, up to `burst`.
// per_second <= 0 means unlimited.
struct RateLimit {
  double per_second = 0;
  double burst = 0;
  bool unlimited() const { return per_second <= 0; }
};

// Token buckets keyed by caller. Thread-safe. Memory is bounded: past `max_callers` buckets,
// those that have refilled (their callers went quiet) are dropped, and if every bucket is
// in use the new caller gets a fresh one that is not remembered (it is not throttled until
// room frees up, rather than throttling someone else).
class CallerRateLimiter {
 public:
  CallerRateLimiter(RateLimit limit, Clock* clock, size_t max_callers = 100'000);

  // Takes one token of `caller`'s bucket: nullopt if it had one (go ahead), else how long
  // until it will have one (refuse, and say when to retry). Always nullopt when unlimited.
  std::optional<absl::Duration> TryTake(const std::string& caller);

  // Callers with a bucket now (for tests and metrics).
  size_t callers() const;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  // Tokens `bucket` has at `now` (refilled, capped at the burst).
  double Refilled(const Bucket& bucket, absl::Time now) const;
  void DropRefilledLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RateLimit limit_;
  Clock* const clock_;
  const size_t max_callers_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_CALLER_LIMITS_H_
