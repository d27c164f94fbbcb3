// Time behind an interface, so tests drive TTLs, progress ticks and commit times without
// sleeping.
#ifndef CONFCENTER_SERVER_CORE_CLOCK_H_
#define CONFCENTER_SERVER_CORE_CLOCK_H_

#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace confcenter {

class Clock {
 public:
  virtual ~Clock() = default;
  // The current wall-clock time. Thread-safe.
  virtual absl::Time Now() = 0;
};

// The real clock.
class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  // A process-wide instance; never destroyed.
  static Clock* Default() {
    static SystemClock* clock = new SystemClock();
    return clock;
  }
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// Tests only: the time is the number (microseconds since the Unix epoch) in a file, read on
// every call, so a test drives a real server's clock. While the file is unreadable the last
// time read stands (the epoch before any). Thread-safe.
class FileClock final : public Clock {
 public:
  explicit FileClock(std::string path) : path_(std::move(path)) {}
  absl::Time Now() override;

 private:
  const std::string path_;
  absl::Mutex mu_;
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch();
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_CLOCK_H_
