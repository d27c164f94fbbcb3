#include "bench/load_gen.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "bench/bench_process.h"

namespace confcenter::bench {

std::vector<std::shared_ptr<grpc::Channel>> ConnectChannels(
    const std::string& address, int count,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("confcenter.bench.channel", i);  // distinct args: one connection each
    args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(grpc::CreateCustomChannel(
        address, credentials ? credentials : grpc::InsecureChannelCredentials(), args));
  }
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10) +
                        std::chrono::milliseconds(2) * count;
  for (int i = 0; i < count; ++i) {
    if (!channels[i]->WaitForConnected(deadline)) {
      std::fprintf(stderr, "cannot connect to %s: %d of %d connections open\n", address.c_str(), i,
                   count);
      return {};
    }
  }
  return channels;
}

double QuantileMs(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()));
  return sorted[i] / 1e6;
}

LatencySummary Summarize(std::vector<int64_t>* samples) {
  std::sort(samples->begin(), samples->end());
  LatencySummary s;
  s.count = static_cast<int64_t>(samples->size());
  s.p50_ms = QuantileMs(*samples, 0.50);
  s.p99_ms = QuantileMs(*samples, 0.99);
  s.max_ms = samples->empty() ? 0 : samples->back() / 1e6;
  return s;
}

namespace {

// One client of the closed loop: its calls run one after another, so its fields are only
// touched by one call's completion at a time.
struct Client {
  int index = 0;
  int channel = 0;
  std::unique_ptr<grpc::ClientContext> ctx;
  int64_t started_ns = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  std::string first_error;
  std::vector<int64_t> latencies;
};

struct Loop {
  const LoadOptions* options;
  const CallStarter* start;
  int64_t window_start_ns = 0;
  int64_t window_end_ns = 0;
  std::atomic<int> running{0};
  std::mutex mu;
  std::condition_variable cv;

  void StartNext(Client* c) {
    c->ctx = std::make_unique<grpc::ClientContext>();  // a context serves one call only
    c->ctx->set_deadline(std::chrono::system_clock::now() + options->call_timeout);
    c->started_ns = NowNanos();
    (*start)(c->channel, c->index, c->ctx.get(), [this, c](grpc::Status status) {
      const int64_t now = NowNanos();
      if (!status.ok()) {
        if (c->failed++ == 0) {
          c->first_error = absl::StrFormat("%d %s", status.error_code(), status.error_message());
        }
      } else if (c->started_ns >= window_start_ns && now <= window_end_ns) {
        ++c->completed;
        c->latencies.push_back(now - c->started_ns);
      } else if (c->started_ns < window_start_ns && now >= window_start_ns &&
                 now <= window_end_ns) {
        ++c->completed;  // straddles the window start: counts for throughput only
      }
      if (now < window_end_ns && c->failed < 100) {
        StartNext(c);
        return;
      }
      if (running.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mu);
        cv.notify_all();
      }
    });
  }
};

}  // namespace

LoadResult RunClosedLoop(const LoadOptions& options, const CallStarter& start) {
  const int n = options.channels * options.per_channel;
  std::vector<Client> clients(n);
  Loop loop;
  loop.options = &options;
  loop.start = &start;
  const int64_t begin = NowNanos();
  loop.window_start_ns =
      begin + std::chrono::duration_cast<std::chrono::nanoseconds>(options.warmup).count();
  loop.window_end_ns =
      loop.window_start_ns +
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.measure).count();
  loop.running = n;
  for (int i = 0; i < n; ++i) {
    clients[i].index = i;
    clients[i].channel = i % options.channels;
    clients[i].latencies.reserve(1024);
  }
  // Marks the window's edges for the caller's probes (CPU time); it ends with the window.
  std::thread window_probe;
  if (options.on_window_start || options.on_window_end) {
    window_probe =
        std::thread([&options, start_ns = loop.window_start_ns, end_ns = loop.window_end_ns] {
          std::this_thread::sleep_for(std::chrono::nanoseconds(start_ns - NowNanos()));
          if (options.on_window_start) options.on_window_start();
          std::this_thread::sleep_for(std::chrono::nanoseconds(end_ns - NowNanos()));
          if (options.on_window_end) options.on_window_end();
        });
  }
  for (auto& c : clients) loop.StartNext(&c);
  if (window_probe.joinable()) window_probe.join();
  {
    // Bounded: every call has a deadline, and no call starts after the window.
    std::unique_lock<std::mutex> lock(loop.mu);
    loop.cv.wait(lock, [&] { return loop.running.load() == 0; });
  }
  LoadResult result;
  std::vector<int64_t> all;
  for (auto& c : clients) {
    result.completed += c.completed;
    result.failed += c.failed;
    if (result.first_error.empty()) result.first_error = c.first_error;
    all.insert(all.end(), c.latencies.begin(), c.latencies.end());
  }
  result.seconds = (loop.window_end_ns - loop.window_start_ns) / 1e9;
  result.per_second = result.completed / result.seconds;
  result.latency = Summarize(&all);
  result.latencies_ns = std::move(all);
  return result;
}

void MergeSlice(LoadResult slice, LoadResult* total) {
  total->completed += slice.completed;
  total->failed += slice.failed;
  if (total->first_error.empty()) total->first_error = std::move(slice.first_error);
  total->seconds += slice.seconds;
  total->per_second = total->seconds > 0 ? total->completed / total->seconds : 0;
  total->latencies_ns.insert(total->latencies_ns.end(), slice.latencies_ns.begin(),
                             slice.latencies_ns.end());
  total->latency = Summarize(&total->latencies_ns);
}

void StreamStats::Notify() {
  std::lock_guard<std::mutex> lock(mu);
  cv.notify_all();
}

void StreamStats::Fail(const std::string& error) {
  failed.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu);
  if (first_error.empty()) first_error = error;
  cv.notify_all();
}

bool StreamStats::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, timeout, pred);
}

void Subscription::RecordEvent(const std::string& value, int64_t now_ns, StreamStats* stats,
                               int subscribers) {
  int64_t sent = 0;
  if (value.size() < 19 || !absl::SimpleAtoi(value.substr(0, 19), &sent) || sent < 0) return;
  if (sent == 0) {
    stats->warmup_events.fetch_add(subscribers);
    stats->Notify();
    return;
  }
  latencies_.insert(latencies_.end(), subscribers, now_ns - sent);
  stats->messages.fetch_add(1);
  stats->last_event_ns.store(now_ns);
  if (stats->events.fetch_add(subscribers) + subscribers >= stats->notify_at_events.load()) {
    stats->Notify();
  }
}

std::string TimestampValue(int64_t now_ns, size_t bytes) {
  std::string v = absl::StrFormat("%019d.", now_ns);
  if (v.size() < bytes) v.append(bytes - v.size(), 'x');
  return v;
}

}  // namespace confcenter::bench
