#include "server/core/log_burst.h"

#include <algorithm>
#include <utility>

namespace confcenter {

LogBurst::LogBurst(Clock* clock, absl::Duration window, bool background)
    : clock_(clock), window_(window) {
  if (background && window_ > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
}

LogBurst::~LogBurst() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  FlushAll();
}

void LogBurst::Add(const std::string& kind, spdlog::level::level_enum level, std::string line,
                   int64_t number, Summarize summarize) {
  const absl::Time now = clock_->Now();
  if (window_ <= absl::ZeroDuration()) {
    spdlog::log(level, "{}", line);
    return;
  }
  absl::MutexLock lock(&mu_);
  auto [it, added] = pending_.try_emplace(kind);
  Pending& pending = it->second;
  Burst& burst = pending.burst;
  if (added) {
    pending.level = level;
    pending.due = now + window_;
    pending.order = next_order_++;
    burst.first = now;
    burst.min_number = burst.max_number = number;
  }
  ++burst.count;
  burst.last = now;
  burst.min_number = std::min(burst.min_number, number);
  burst.max_number = std::max(burst.max_number, number);
  if (burst.examples.size() < 3) burst.examples.push_back(std::move(line));
  pending.summarize = std::move(summarize);
}

void LogBurst::Log(const Pending& pending) {
  if (pending.burst.count == 1) {
    spdlog::log(pending.level, "{}", pending.burst.examples.front());
  } else {
    spdlog::log(pending.level, "{}", pending.summarize(pending.burst));
  }
}

void LogBurst::FlushDue() {
  std::vector<Pending> due;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.due <= now) {
        due.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // In the order the bursts began.
  std::sort(due.begin(), due.end(),
            [](const Pending& a, const Pending& b) { return a.order < b.order; });
  for (const Pending& pending : due) Log(pending);
}

void LogBurst::FlushAll() {
  std::map<std::string, Pending> all;
  {
    absl::MutexLock lock(&mu_);
    all.swap(pending_);
  }
  std::vector<Pending> ordered;
  for (auto& [kind, pending] : all) ordered.push_back(std::move(pending));
  std::sort(ordered.begin(), ordered.end(),
            [](const Pending& a, const Pending& b) { return a.order < b.order; });
  for (const Pending& pending : ordered) Log(pending);
}

void LogBurst::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (pending_.empty()) {
      mu_.Await(absl::Condition(
          +[](LogBurst* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(b->mu_) {
            return b->stopping_ || !b->pending_.empty();
          },
          this));
      continue;
    }
    // Wakes for the earliest window's end (by the clock).
    absl::Duration wait = window_;
    const absl::Time now = clock_->Now();
    for (const auto& [kind, pending] : pending_) wait = std::min(wait, pending.due - now);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), std::max(wait, absl::Milliseconds(1)));
    if (stopping_) break;
    mu_.Unlock();
    FlushDue();
    mu_.Lock();
  }
}

}  // namespace confcenter
