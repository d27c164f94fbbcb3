// Watch fan-out benchmark against the real confcenterd over gRPC on loopback.
//
// Workload, per subscriber count N: integration and T branch tenants (default 100) hold one
// service; half of the branches override key "k". N subscribers are spread evenly over the
// branches. The writer puts integration's "k" W times at R writes/s; each write concerns the
// subscribers of the branches that do not override it (half of them). Latency is end to end:
// from just before the Put is sent until the event arrives on a subscriber's stream.
// Also: server RSS growth per idle subscriber once every snapshot was delivered.
// --transports=grpc,http runs each count over gRPC streams and over the HTTP API's
// Server-Sent Events (one HTTP/1.1 connection and client thread per subscriber), one after
// the other in the same run, on the same server settings.
//
// --transports=grpc,instances compares plain streams with streams that name an instance and
// report every applied revision (the client library's behaviour): the KiB per idle
// subscriber's difference is the instance table's cost per entry, the server CPU seconds'
// difference over the reports the cost per report.
//
//   confcenter_fanout [--subscribers=1000,10000] [--tenants=100] [--writes=200] [--rate=100]
//                     [--transports=grpc,http,instances]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iterator>
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
#include "absl/strings/str_split.h"
#include "confcenter/v1/instances.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/alarm.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/api_client.h"
#include "tests/test_util.h"

ABSL_FLAG(std::string, subscribers, "1000,10000", "Comma-separated subscriber counts to run.");
ABSL_FLAG(int, tenants, 100, "Branch tenants the subscribers are spread over.");
ABSL_FLAG(int, writes, 200, "Integration writes per run.");
ABSL_FLAG(int, rate, 100, "Writes per second.");
ABSL_FLAG(int, channels, 20, "gRPC connections the subscribers share.");
ABSL_FLAG(std::string, transports, "grpc",
          "Comma-separated: grpc (Subscribe streams), http (Server-Sent Events), instances "
          "(gRPC streams that name an instance and report each applied revision, as the client "
          "library does: the cost of the instance table and of the reports).");

ABSL_FLAG(absl::Duration, report_interval, absl::Seconds(1),
          "With instances: the pause after each report, as the client library's "
          "SubscriptionOptions::report_interval (0 = report as fast as answers come back).");

namespace confcenter::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// CPU time (user + system) a process has used, in seconds, or 0.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based over the line).
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident set size of a process, in bytes (VmRSS), or 0.
int64_t RssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kb);
      return kb * 1024;
    }
  }
  return 0;
}

struct Shared {
  std::vector<std::atomic<int64_t>> sent_at;  // write number -> send time (ns)
  std::atomic<int64_t> snapshots{0};
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> expected_events{INT64_MAX};  // the writer's target; reaching it notifies
  std::atomic<int64_t> last_event_at{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> reports{0};  // ReportInstance calls answered OK
  std::atomic<int64_t> reports_failed{0};
  std::atomic<int64_t> reports_in_flight{0};
  std::mutex mu;
  std::condition_variable cv;
  explicit Shared(int writes) : sent_at(writes + 1) {}
  void Notify() {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }
};

// One subscriber stream on the callback API: no thread per stream. With `reports` set it
// names an instance and reports each revision it received as applied, one report in flight
// at a time (the latest revision goes next), as the client library does.
class Subscriber final : public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  Subscriber(v1::WatchService::Stub* stub, v1::InstanceService::Stub* reports, int index,
             const std::string& tenant, Shared* shared)
      : shared_(shared), reports_(reports) {
    request_.set_tenant(tenant);
    request_.add_services("svc");
    if (reports_ != nullptr) {
      request_.mutable_instance()->set_instance_id(absl::StrCat("bench-", index));
      request_.mutable_instance()->set_service("svc");
      request_.mutable_instance()->set_host("bench");
    }
    stub->async()->Subscribe(&ctx_, &request_, this);
    StartRead(&message_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }
  const std::vector<int64_t>& latencies() const { return latencies_; }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const int64_t now = NowNanos();
    const bool change =
        (message_.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT && message_.snapshot_last()) ||
        message_.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS;
    if (reports_ != nullptr && change) Report(message_.revision());
    if (message_.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT && message_.snapshot_last()) {
      shared_->snapshots.fetch_add(1);
      shared_->Notify();
    } else if (message_.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) {
      for (const auto& e : message_.events()) {
        int w = 0;
        if (e.key() != "k" || !absl::SimpleAtoi(e.value(), &w) || w <= 0 ||
            w >= static_cast<int>(shared_->sent_at.size())) {
          continue;
        }
        latencies_.push_back(now - shared_->sent_at[w].load());
        shared_->last_event_at.store(now);
        if (shared_->events.fetch_add(1) + 1 == shared_->expected_events.load()) shared_->Notify();
      }
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status&) override {
    shared_->done.fetch_add(1);
    shared_->Notify();
  }

 private:
  struct ReportCall {
    grpc::ClientContext ctx;
    v1::ReportInstanceRequest request;
    v1::ReportInstanceResponse response;
  };

  // As the client library: at most one report in flight, and after each one a pause of
  // --report_interval, the revisions that arrive meanwhile coalesced into the next report.
  void Report(int64_t revision) {
    std::lock_guard<std::mutex> lock(report_mu_);
    pending_ = std::max(pending_, revision);
    if (busy_) return;
    busy_ = true;
    shared_->reports_in_flight.fetch_add(1);
    SendLocked();
  }

  void SendLocked() {
    retired_ = std::move(current_);  // its callback has returned (one call at a time)
    current_ = std::make_unique<ReportCall>();
    current_->request.set_instance_id(request_.instance().instance_id());
    current_->request.set_tenant(request_.tenant());
    current_->request.set_applied_revision(pending_);
    reports_->async()->ReportInstance(
        &current_->ctx, &current_->request, &current_->response, [this](grpc::Status status) {
          (status.ok() ? shared_->reports : shared_->reports_failed).fetch_add(1);
          std::lock_guard<std::mutex> lock(report_mu_);
          reported_ = current_->request.applied_revision();
          if (report_interval_ <= absl::ZeroDuration()) {
            NextLocked();
            return;
          }
          alarm_ = std::make_unique<grpc::Alarm>();  // the previous one has fired
          alarm_->Set(absl::ToChronoTime(absl::Now() + report_interval_), [this](bool) {
            std::lock_guard<std::mutex> lock(report_mu_);
            NextLocked();
          });
        });
  }

  // After a report (and its pause): the next one if revisions came meanwhile, else idle.
  void NextLocked() {
    if (pending_ > reported_) {
      SendLocked();
      return;
    }
    busy_ = false;
    shared_->reports_in_flight.fetch_sub(1);
    shared_->Notify();
  }

  Shared* const shared_;
  v1::InstanceService::Stub* const reports_;
  const absl::Duration report_interval_ = absl::GetFlag(FLAGS_report_interval);
  std::mutex report_mu_;
  bool busy_ = false;  // a report in flight, or its pause
  int64_t pending_ = 0;
  int64_t reported_ = 0;
  std::unique_ptr<grpc::Alarm> alarm_;
  std::unique_ptr<ReportCall> current_;
  std::unique_ptr<ReportCall> retired_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest request_;
  v1::SubscribeResponse message_;
  std::vector<int64_t> latencies_;
};

// One subscriber over the HTTP API: a Server-Sent Events stream read on a thread of its own.
class HttpSubscriber {
 public:
  HttpSubscriber(int port, const std::string& tenant, Shared* shared)
      : shared_(shared), http_("127.0.0.1", port) {
    thread_ = std::thread([this, tenant] {
      const std::string path =
          absl::StrCat("/v1/WatchService/Subscribe?tenant=", tenant, "&services=svc");
      http_.Get(path.c_str(), [this](const char* data, size_t n) {
        buffer_.append(data, n);
        for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos;) {
          OnEvent(buffer_.substr(0, end));
          buffer_.erase(0, end + 2);
        }
        return true;
      });
      shared_->done.fetch_add(1);
      shared_->Notify();
    });
  }
  ~HttpSubscriber() { thread_.join(); }
  void Cancel() { http_.stop(); }
  const std::vector<int64_t>& latencies() const { return latencies_; }

 private:
  void OnEvent(const std::string& event) {
    const int64_t now = NowNanos();
    const size_t data = event.find("data: ");
    if (data == std::string::npos) return;
    const nlohmann::json message = nlohmann::json::parse(event.substr(data + 6), nullptr, false);
    if (message.is_discarded()) return;
    const std::string kind = message.value("kind", "");
    if (kind == "SUBSCRIBE_RESPONSE_KIND_SNAPSHOT" && message.value("snapshotLast", false)) {
      shared_->snapshots.fetch_add(1);
      shared_->Notify();
    } else if (kind == "SUBSCRIBE_RESPONSE_KIND_EVENTS") {
      for (const auto& e : message.value("events", nlohmann::json::array())) {
        int w = 0;
        if (e.value("key", "") != "k" || !absl::SimpleAtoi(e.value("value", ""), &w) || w <= 0 ||
            w >= static_cast<int>(shared_->sent_at.size())) {
          continue;
        }
        latencies_.push_back(now - shared_->sent_at[w].load());
        shared_->last_event_at.store(now);
        if (shared_->events.fetch_add(1) + 1 == shared_->expected_events.load()) shared_->Notify();
      }
    }
  }

  Shared* const shared_;
  httplib::Client http_;
  std::string buffer_;
  std::vector<int64_t> latencies_;
  std::thread thread_;
};

std::string TenantName(int i) { return absl::StrFormat("b%03d", i); }

int RunOne(const std::string& transport, int subscribers, int tenants, int writes, int rate,
           int channels) {
  const bool http = transport == "http";
  const bool instances = transport == "instances";
  testing::TempDir dir;
  testing::ServerProcess server(
      dir.path() + "/data",
      {"--progress_interval=0s",
       absl::StrCat("--http_max_streams=", std::max(1024, subscribers + 16))});
  if (server.port() == 0) return 1;
  testing::ApiClient api(server.Channel());
  if (!api.Register("integration", {"svc"}).ok()) return 1;
  for (int i = 0; i < 50; ++i) (void)api.Put("integration", "svc", "key" + std::to_string(i), "v");
  (void)api.Put("integration", "svc", "k", "0");
  for (int t = 0; t < tenants; ++t) {
    (void)api.Register(TenantName(t), {"svc"});
    if (t % 2 == 0) (void)api.Put(TenantName(t), "svc", "k", "override");
  }
  const int64_t rss_before = RssBytes(server.pid());

  Shared shared(writes);
  std::vector<std::shared_ptr<grpc::Channel>> chans;
  std::vector<std::unique_ptr<v1::WatchService::Stub>> stubs;
  std::vector<std::unique_ptr<v1::InstanceService::Stub>> report_stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("confcenter.bench.channel", c);  // distinct args: one connection each
    chans.push_back(
        grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::WatchService::NewStub(chans.back()));
    report_stubs.push_back(v1::InstanceService::NewStub(chans.back()));
  }
  std::vector<std::unique_ptr<Subscriber>> subs;
  std::vector<std::unique_ptr<HttpSubscriber>> http_subs;
  int affected = 0;
  for (int i = 0; i < subscribers; ++i) {
    const int t = i % tenants;
    affected += t % 2;
    if (http) {
      http_subs.push_back(
          std::make_unique<HttpSubscriber>(server.http_port(), TenantName(t), &shared));
    } else {
      subs.push_back(std::make_unique<Subscriber>(
          stubs[i % channels].get(), instances ? report_stubs[i % channels].get() : nullptr, i,
          TenantName(t), &shared));
    }
  }
  if (!shared.WaitFor([&] { return shared.snapshots.load() >= subscribers; },
                      std::chrono::seconds(120))) {
    std::fprintf(stderr, "only %lld of %d snapshots arrived\n",
                 static_cast<long long>(shared.snapshots.load()), subscribers);
    return 1;
  }
  // Idle: every snapshot (and, with instances, its report) is in.
  if (instances) {
    shared.WaitFor(
        [&] { return shared.reports.load() + shared.reports_failed.load() >= subscribers; },
        std::chrono::seconds(60));
  }
  const int64_t rss_idle = RssBytes(server.pid());
  const int64_t reports_before = shared.reports.load();
  const double cpu_before = CpuSeconds(server.pid());

  shared.expected_events.store(static_cast<int64_t>(writes) * affected);
  const int64_t start = NowNanos();
  const int64_t interval = 1'000'000'000LL / std::max(1, rate);
  for (int w = 1; w <= writes; ++w) {
    std::this_thread::sleep_until(
        Clock::time_point(std::chrono::nanoseconds(start + (w - 1) * interval)));
    shared.sent_at[w].store(NowNanos());
    (void)api.Put("integration", "svc", "k", std::to_string(w));
  }
  const int64_t expected = static_cast<int64_t>(writes) * affected;
  bool complete =
      shared.WaitFor([&] { return shared.events.load() >= expected; }, std::chrono::seconds(60));
  if (instances) {  // the reports the last writes caused
    shared.WaitFor([&] { return shared.reports_in_flight.load() == 0; }, std::chrono::seconds(60));
  }
  const double cpu_used = CpuSeconds(server.pid()) - cpu_before;
  const int64_t reports = shared.reports.load() - reports_before;
  const int64_t rss_peak = RssBytes(server.pid());
  for (auto& s : subs) s->Cancel();
  for (auto& s : http_subs) s->Cancel();
  shared.WaitFor([&] { return shared.done.load() >= subscribers; }, std::chrono::seconds(30));
  shared.WaitFor([&] { return shared.reports_in_flight.load() == 0; }, std::chrono::seconds(30));

  std::vector<int64_t> all;
  for (auto& s : subs) all.insert(all.end(), s->latencies().begin(), s->latencies().end());
  for (auto& s : http_subs) all.insert(all.end(), s->latencies().begin(), s->latencies().end());
  std::sort(all.begin(), all.end());
  if (shared.reports_failed.load() > 0) {
    std::fprintf(stderr, "%lld reports failed\n",
                 static_cast<long long>(shared.reports_failed.load()));
  }
  auto pct = [&](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))] / 1e6;
  };
  const double seconds = (shared.last_event_at.load() - start) / 1e9;
  std::printf(
      "| %-9s | %6d | %5d | %8lld/%-8lld | %9.0f | %6.2f | %6.2f | %6.2f | %8.2f | %7.1f | %8.2f "
      "| %8lld |%s\n",
      transport.c_str(), subscribers, writes, static_cast<long long>(all.size()),
      static_cast<long long>(expected), all.size() / std::max(seconds, 1e-9), pct(0.5), pct(0.99),
      all.empty() ? 0.0 : all.back() / 1e6, (rss_idle - rss_before) / 1024.0 / subscribers,
      rss_peak / 1048576.0, cpu_used, static_cast<long long>(reports),
      complete && shared.reports_failed.load() == 0 ? "" : " INCOMPLETE");
  std::fflush(stdout);
  subs.clear();
  http_subs.clear();
  stubs.clear();
  chans.clear();
  return complete ? 0 : 1;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::printf(
      "| via       | subs   | writes| events got/expected | events/s  | p50 ms | p99 ms | max ms | "
      "KiB/idle sub | peak RSS MiB | server CPU s | reports |\n"
      "|-----------|--------|-------|---------------------|-----------|--------|--------|--------|"
      "--------------|--------------|--------------|---------|\n");
  int rc = 0;
  for (absl::string_view n : absl::StrSplit(absl::GetFlag(FLAGS_subscribers), ',')) {
    int subscribers = 0;
    if (!absl::SimpleAtoi(n, &subscribers) || subscribers <= 0) continue;
    for (absl::string_view transport : absl::StrSplit(absl::GetFlag(FLAGS_transports), ',')) {
      rc |= confcenter::bench::RunOne(std::string(transport), subscribers,
                                      absl::GetFlag(FLAGS_tenants), absl::GetFlag(FLAGS_writes),
                                      absl::GetFlag(FLAGS_rate), absl::GetFlag(FLAGS_channels));
    }
  }
  return rc;
}
