#include "server/core/caller_limits.h"

#include <algorithm>

namespace confcenter {

CallerRateLimiter::CallerRateLimiter(RateLimit limit, Clock* clock, size_t max_callers)
    : limit_({limit.per_second, std::max(1.0, limit.burst)}),
      clock_(clock),
      max_callers_(std::max<size_t>(1, max_callers)) {}

double CallerRateLimiter::Refilled(const Bucket& bucket, absl::Time now) const {
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
  return std::min(limit_.burst, bucket.tokens + elapsed * limit_.per_second);
}

void CallerRateLimiter::DropRefilledLocked(absl::Time now) {
  absl::erase_if(buckets_,
                 [&](const auto& entry) { return Refilled(entry.second, now) >= limit_.burst; });
}

std::optional<absl::Duration> CallerRateLimiter::TryTake(const std::string& caller) {
  if (limit_.unlimited()) return std::nullopt;
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(caller);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_callers_) DropRefilledLocked(now);
    if (buckets_.size() >= max_callers_) return std::nullopt;  // see the class comment
    it = buckets_.emplace(caller, Bucket{limit_.burst, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = Refilled(bucket, now);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  return absl::Seconds((1 - bucket.tokens) / limit_.per_second);
}

size_t CallerRateLimiter::callers() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace confcenter
