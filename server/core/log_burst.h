// Repeated warnings of one kind as one log line: when 100 subscribers of a tenant are cut off
// in the same millisecond, the log says so once, with the count, the time they took and
// examples, instead of 100 identical lines (docs/operations.md#logs). Counters in /metrics
// are kept by the callers, per occurrence, as before.
#ifndef CONFCENTER_SERVER_CORE_LOG_BURST_H_
#define CONFCENTER_SERVER_CORE_LOG_BURST_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "spdlog/spdlog.h"

namespace confcenter {

// What the occurrences of one kind within a window had in common, for its summary line.
struct Burst {
  int64_t count = 0;
  absl::Time first, last;             // the first and the last occurrence
  int64_t min_number = 0;             // the smallest and largest `number` given (e.g. the
  int64_t max_number = 0;             // revisions the cut-off subscribers can resume from)
  std::vector<std::string> examples;  // the first occurrences' own lines, at most 3
};

// Thread-safe.
class LogBurst {
 public:
  // Writes a burst's summary; `burst.count` >= 2.
  using Summarize = std::function<std::string(const Burst& burst)>;

  // A kind's first occurrence waits `window` for more of its kind; then one line is logged:
  // the occurrence's own line if it stayed alone, else the summary. A zero window logs every
  // line at once. With `background`, a thread logs each line when its window ends; without,
  // FlushDue does (tests, with a ManualClock).
  LogBurst(Clock* clock, absl::Duration window, bool background = true);
  // Logs what is pending.
  ~LogBurst();
  LogBurst(const LogBurst&) = delete;
  LogBurst& operator=(const LogBurst&) = delete;

  // One occurrence of `kind` (occurrences of the same kind are summed; e.g. "cut-off of
  // integration"): `line` is its own log line, `number` a figure the summary gives the range
  // of, `summarize` writes the summary (the last occurrence's is used).
  void Add(const std::string& kind, spdlog::level::level_enum level, std::string line,
           int64_t number, Summarize summarize);

  // Logs every kind whose window has ended by the clock's now.
  void FlushDue();
  // Logs everything pending.
  void FlushAll();

 private:
  struct Pending {
    spdlog::level::level_enum level;
    Burst burst;
    Summarize summarize;
    absl::Time due;
    int64_t order;  // when the burst began, among the others
  };
  static void Log(const Pending& pending);
  void Loop();

  Clock* const clock_;
  const absl::Duration window_;
  absl::Mutex mu_;
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  int64_t next_order_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_LOG_BURST_H_
