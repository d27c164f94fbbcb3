// Stalled subscribers: what streams that never read cost the server and everyone else.
//
// Two runs against a fresh confcenterd each: "unloaded" (L live subscribers) and "stalled"
// (the same plus S subscribers that stop reading their stream, on connections of their own).
// A stalled subscriber is, by default, a service using the client library whose change
// callback hangs (--stalled_client=library: confcenter::Subscription with the library's
// default receive window); --stalled_client=grpc makes it a bare gRPC stream that is
// never read, with gRPC's adaptive window (up to 8 MiB per stream before the server's
// writes to it stop). In both runs, writers commit Txns of K keys at E events/s for D
// seconds; each Txn sets key "k" to its number, and the live subscribers time the event from
// just before the Txn was sent. Printed: live p50/p99/max, events/s achieved, the server's RSS
// (start, peak sampled every 100 ms, end), the cut-offs it counted, when the last stalled stream
// was cut off, and the live p50/p99 of the events sent after that. The server bounds each stream's
// queue (--watch_queue_messages) and cuts a full one off, so RSS must stay flat however long the
// stalled streams stay.
//
//   confcenter_stalled_subscribers [--stalled=100] [--live=20] [--events_per_second=5000]
//                                  [--keys_per_txn=10] [--seconds=30] [--writers=32]
//                                  [--stalled_client=library|grpc]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/bench_process.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "tests/api_client.h"
#include "tests/test_util.h"

ABSL_FLAG(int, stalled, 100, "Subscribers that never read.");
ABSL_FLAG(int, live, 20, "Subscribers that read and time the events.");
ABSL_FLAG(int, events_per_second, 5000, "Key changes per second (Txns x keys per Txn).");
ABSL_FLAG(int, keys_per_txn, 10, "Keys each Txn writes.");
ABSL_FLAG(int, seconds, 30, "How long the writers write, per run.");
ABSL_FLAG(int, writers, 32, "Writer threads (each waits for its Txn: enough to reach the rate).");
ABSL_FLAG(int, value_bytes, 100, "Bytes of each value other than k's.");
ABSL_FLAG(int, receive_window_bytes, confcenter::ClientOptions().receive_window_bytes,
          "The library subscribers' receive window (ClientOptions::receive_window_bytes).");
ABSL_FLAG(std::string, stalled_client, "library",
          "What a stalled subscriber is: 'library' (a confcenter::Subscription whose change "
          "callback hangs) or 'grpc' (a bare gRPC stream never read, gRPC's adaptive window).");

namespace confcenter::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t RssBytes(int pid) { return ProcStatusBytes(pid, "VmRSS"); }

// Send times of the Txns, by number (the value of key "k").
struct SendTimes {
  explicit SendTimes(size_t n) : at(n) {}
  std::vector<std::atomic<int64_t>> at;
};

class LiveSubscriber final : public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  LiveSubscriber(v1::WatchService::Stub* stub, const SendTimes* sent) : sent_(sent) {
    request_.set_tenant("integration");
    request_.add_services("svc");
    stub->async()->Subscribe(&ctx_, &request_, this);
    StartRead(&message_);
    StartCall();
  }
  ~LiveSubscriber() override {
    ctx_.TryCancel();
    while (!done_.load()) std::this_thread::yield();  // OnDone follows the cancel promptly
  }
  bool snapshot_done() const { return snapshot_done_.load(); }
  // (Txn number, latency in ns) of every event of key "k" received.
  std::vector<std::pair<int64_t, int64_t>> latencies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return latencies_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const int64_t now = NowNanos();
    if (message_.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT && message_.snapshot_last()) {
      snapshot_done_.store(true);
    }
    if (message_.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) {
      for (const auto& e : message_.events()) {
        int64_t n = 0;
        if (e.key() != "k" || !absl::SimpleAtoi(e.value(), &n) || n <= 0 ||
            n >= static_cast<int64_t>(sent_->at.size())) {
          continue;
        }
        std::lock_guard<std::mutex> lock(mu_);
        latencies_.emplace_back(n, now - sent_->at[n].load());
      }
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status&) override { done_.store(true); }

 private:
  const SendTimes* const sent_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest request_;
  v1::SubscribeResponse message_;
  std::atomic<bool> snapshot_done_{false};
  std::atomic<bool> done_{false};
  mutable std::mutex mu_;
  std::vector<std::pair<int64_t, int64_t>> latencies_;
};

// Opens a stream and never reads it.
class StalledSubscriber final : public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  explicit StalledSubscriber(v1::WatchService::Stub* stub) {
    request_.set_tenant("integration");
    stub->async()->Subscribe(&ctx_, &request_, this);
    StartCall();
  }
  ~StalledSubscriber() override {
    ctx_.TryCancel();
    while (!done_.load()) std::this_thread::yield();
  }
  void OnDone(const grpc::Status&) override { done_.store(true); }

 private:
  grpc::ClientContext ctx_;
  v1::SubscribeRequest request_;
  std::atomic<bool> done_{false};
};

std::shared_ptr<grpc::Channel> NewConnection(const std::string& address, int id,
                                             grpc::ChannelArguments args = {}) {
  args.SetInt("confcenter.bench.connection", id);  // distinct args: a connection of its own
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Holds the change callbacks of the library's stalled subscribers until the run ends.
class Hang {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return released_; });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

// A service using the client library, on a connection of its own, whose change callback
// hangs at the first change after `revision` (the view's first snapshot is taken normally):
// its subscription thread stops reading the stream.
class LibraryStalledSubscriber {
 public:
  LibraryStalledSubscriber(const std::string& address, int id, int64_t revision, Hang* hang) {
    ClientOptions options;
    options.address = address;
    options.receive_window_bytes = absl::GetFlag(FLAGS_receive_window_bytes);
    SubscriptionOptions follow;
    follow.tenant = "integration";
    subscription_ =
        Subscription::Start(NewConnection(address, id, Client::ChannelArguments(options)), follow);
    subscription_->OnChange("", "", /*prefix=*/true, [hang, revision](const ConfigChange& c) {
      if (c.revision > revision) hang->Wait();
    });
  }
  // Waits (at most `timeout`) until the subscription holds the view at `revision`: its stream
  // is open when the writes start.
  bool WaitReady(int64_t revision, absl::Duration timeout) {
    return subscription_->WaitForRevision(revision, timeout);
  }

 private:
  std::unique_ptr<Subscription> subscription_;
};

int Run(const char* label, int stalled) {
  const int live = absl::GetFlag(FLAGS_live);
  const int keys = std::max(1, absl::GetFlag(FLAGS_keys_per_txn));
  const int seconds = std::max(1, absl::GetFlag(FLAGS_seconds));
  const int writers = std::max(1, absl::GetFlag(FLAGS_writers));
  const int txn_rate = std::max(1, absl::GetFlag(FLAGS_events_per_second) / keys);
  const int64_t txns = static_cast<int64_t>(txn_rate) * seconds;

  testing::TempDir dir;
  testing::ServerProcess server(dir.path() + "/data", {"--progress_interval=0s"});
  if (server.port() == 0) {
    std::fprintf(stderr, "%s: the server did not start\n", label);
    return 1;
  }
  testing::ApiClient api(server.Channel());
  int64_t initial_revision = 0;
  if (grpc::Status put = api.Put("integration", "svc", "k", "0", &initial_revision); !put.ok()) {
    std::fprintf(stderr, "%s: the first Put failed: %d %s\n", label, put.error_code(),
                 put.error_message().c_str());
    return 1;
  }

  SendTimes sent(txns + 1);
  auto live_connection = NewConnection(server.address(), 0);
  auto live_stub = v1::WatchService::NewStub(live_connection);
  std::vector<std::unique_ptr<LiveSubscriber>> live_subs;
  for (int i = 0; i < live; ++i) {
    live_subs.push_back(std::make_unique<LiveSubscriber>(live_stub.get(), &sent));
  }
  // Stalled streams ten to a connection, apart from the live ones: HTTP/2 flow control is
  // per connection too, and a reader must not share a window with streams nobody reads.
  std::vector<std::shared_ptr<grpc::Channel>> stalled_connections;
  std::vector<std::unique_ptr<v1::WatchService::Stub>> stalled_stubs;
  std::vector<std::unique_ptr<StalledSubscriber>> stalled_subs;
  Hang hang;
  std::vector<std::unique_ptr<LibraryStalledSubscriber>> library_stalled_subs;
  const bool library = absl::GetFlag(FLAGS_stalled_client) == "library";
  for (int i = 0; i < stalled; ++i) {
    if (library) {
      library_stalled_subs.push_back(std::make_unique<LibraryStalledSubscriber>(
          server.address(), 1 + i, initial_revision, &hang));
      continue;
    }
    if (i % 10 == 0) {
      stalled_connections.push_back(NewConnection(server.address(), 1 + i / 10));
      stalled_stubs.push_back(v1::WatchService::NewStub(stalled_connections.back()));
    }
    stalled_subs.push_back(std::make_unique<StalledSubscriber>(stalled_stubs.back().get()));
  }
  for (auto& s : library_stalled_subs) {  // their snapshots are in before the writes start
    if (!s->WaitReady(initial_revision, absl::Seconds(30))) {
      std::fprintf(stderr, "a stalled subscriber did not get its snapshot within 30 s\n");
      return 1;
    }
  }
  for (int i = 0; i < 3000; ++i) {  // bounded: 30 s for the snapshots
    bool all = true;
    for (auto& s : live_subs) all = all && s->snapshot_done();
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int64_t rss_start = RssBytes(server.pid());

  std::atomic<int64_t> rss_peak{rss_start};
  std::atomic<bool> writing{true};
  const int64_t start = NowNanos();
  std::atomic<int64_t> all_cut_off_at{-1};  // when the last stalled stream was cut off
  std::thread sampler([&] {
    while (writing.load()) {
      rss_peak.store(std::max(rss_peak.load(), RssBytes(server.pid())));
      if (stalled > 0 && all_cut_off_at.load() < 0 &&
          testing::ScrapeMetric(server.admin_port(), "confcenter_subscriber_cutoffs_total") >=
              stalled) {
        all_cut_off_at.store(NowNanos() - start);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::atomic<int64_t> failed{0};
  const int64_t interval = 1'000'000'000LL / txn_rate;
  std::vector<std::thread> writer_threads;
  for (int w = 0; w < writers; ++w) {
    writer_threads.emplace_back([&, w] {
      const std::string filler(std::max(1, absl::GetFlag(FLAGS_value_bytes)), 'v');
      auto config = v1::ConfigService::NewStub(server.Channel());
      for (int64_t n = 1 + w; n <= txns; n += writers) {
        std::this_thread::sleep_until(
            Clock::time_point(std::chrono::nanoseconds(start + (n - 1) * interval)));
        v1::TxnRequest req;
        for (int k = 0; k < keys; ++k) {
          v1::TxnOp* op = req.add_ops();
          op->set_type(v1::TXN_OP_TYPE_PUT);
          op->set_tenant("integration");
          op->set_service("svc");
          op->set_key(k == 0 ? "k" : absl::StrCat("f", k));
          op->set_value(k == 0 ? absl::StrCat(n) : filler);
        }
        v1::TxnResponse resp;
        grpc::ClientContext ctx;
        sent.at[n].store(NowNanos());
        if (!config->Txn(&ctx, req, &resp).ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& t : writer_threads) t.join();
  const double elapsed = (NowNanos() - start) / 1e9;
  // Let the live subscribers take the last events (bounded: 10 s).
  for (int i = 0; i < 1000; ++i) {
    bool all = true;
    for (auto& s : live_subs) all = all && s->latencies().size() >= static_cast<size_t>(txns);
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  writing.store(false);
  sampler.join();
  const int64_t rss_end = RssBytes(server.pid());
  const double cutoffs =
      testing::ScrapeMetric(server.admin_port(), "confcenter_subscriber_cutoffs_total");
  const double high_water = testing::ScrapeMetric(
      server.admin_port(), "confcenter_subscription_queue_high_water_max_messages");

  std::vector<int64_t> all;
  std::vector<int64_t> after_cut_offs;  // events sent once every stalled stream was cut off
  for (auto& s : live_subs) {
    for (const auto& [n, latency] : s->latencies()) {
      all.push_back(latency);
      if (all_cut_off_at.load() >= 0 && sent.at[n].load() - start > all_cut_off_at.load()) {
        after_cut_offs.push_back(latency);
      }
    }
  }
  std::sort(all.begin(), all.end());
  std::sort(after_cut_offs.begin(), after_cut_offs.end());
  auto pct_of = [](const std::vector<int64_t>& sorted, double p) {
    return sorted.empty()
               ? 0.0
               : sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))] / 1e6;
  };
  auto pct = [&](double p) { return pct_of(all, p); };
  const int64_t expected = txns * live;
  std::printf(
      "| %-8s | %7d | %9.0f | %8lld/%-8lld | %6.2f | %6.2f | %7.1f | %6.1f | %6.1f | %6.1f "
      "| %7.0f | %9s | %7.0f |%s\n",
      label, stalled, (txns - failed.load()) * keys / elapsed, static_cast<long long>(all.size()),
      static_cast<long long>(expected), pct(0.5), pct(0.99), all.empty() ? 0.0 : all.back() / 1e6,
      rss_start / 1048576.0, rss_peak.load() / 1048576.0, rss_end / 1048576.0, cutoffs,
      all_cut_off_at.load() < 0 ? "-"
                                : absl::StrFormat("%.1f s", all_cut_off_at.load() / 1e9).c_str(),
      high_water, failed.load() > 0 ? " (writes failed)" : "");
  if (!after_cut_offs.empty()) {
    std::printf(
        "|          | live events sent after the last cut-off: %zu, p50 %.2f ms, p99 %.2f ms |\n",
        after_cut_offs.size(), pct_of(after_cut_offs, 0.5), pct_of(after_cut_offs, 0.99));
  }
  std::fflush(stdout);
  stalled_subs.clear();
  hang.Release();  // the hung callbacks return; each subscription's thread can then be joined
  library_stalled_subs.clear();
  live_subs.clear();
  return failed.load() == 0 && static_cast<int64_t>(all.size()) == expected ? 0 : 1;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string stalled_client = absl::GetFlag(FLAGS_stalled_client);
  if (stalled_client != "library" && stalled_client != "grpc") {
    std::fprintf(stderr, "--stalled_client: '%s' is neither 'library' nor 'grpc'\n",
                 stalled_client.c_str());
    return 2;
  }
  if (stalled_client == "library") {
    std::printf(
        "stalled subscribers: client library, change callback hung, %d-byte receive "
        "window\n",
        absl::GetFlag(FLAGS_receive_window_bytes));
  } else {
    std::printf("stalled subscribers: bare gRPC streams never read, gRPC's adaptive window\n");
  }
  std::printf(
      "| run      | stalled | events/s  | live events got/expected | p50 ms | p99 ms | max ms  "
      "| RSS start MiB | peak | end | cut-offs | all cut off | max queue |\n"
      "|----------|---------|-----------|--------------------------|--------|--------|---------"
      "|---------------|------|-----|----------|-------------|-----------|\n");
  int rc = confcenter::bench::Run("unloaded", 0);
  rc |= confcenter::bench::Run("stalled", absl::GetFlag(FLAGS_stalled));
  return rc;
}
