// What operators rely on, against the real confcenterd: the admin listener's metrics and
// probes, readiness notification to systemd, JSON logs, and settings from a config file and
// the environment.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/api_client.h"
#include "tests/child_process.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using testing::ApiClient;
using testing::ContinueProcess;
using testing::RunServerToExit;
using testing::ServerProcess;
using testing::StopProcess;
using testing::TempDir;
using testing::TestSubscriber;

// One sample of a Prometheus text page.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A scraped /metrics page, checked line by line against the text format as it is parsed.
class MetricsPage {
 public:
  explicit MetricsPage(const std::string& text) {
    static const std::regex kSample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+0-9.eE]+|\+Inf|NaN)$)");
    static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?)re");
    static const std::regex kType(
        R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line.rfind("# HELP ", 0) == 0) continue;
      std::smatch m;
      if (std::regex_match(line, m, kType)) {
        types_[m[1]] = m[2];
        continue;
      }
      if (!std::regex_match(line, m, kSample)) {
        bad_lines_.push_back(line);
        continue;
      }
      Sample sample{m[1], {}, std::stod(m[4])};
      const std::string labels = m[3];
      for (auto it = std::sregex_iterator(labels.begin(), labels.end(), kLabel);
           it != std::sregex_iterator(); ++it) {
        sample.labels[(*it)[1]] = (*it)[2];
      }
      samples_.push_back(std::move(sample));
    }
  }

  const std::vector<std::string>& bad_lines() const { return bad_lines_; }
  const std::map<std::string, std::string>& types() const { return types_; }

  // The sum of the samples `name` whose labels include `labels`.
  double Sum(const std::string& name, const std::map<std::string, std::string>& labels) const {
    double sum = 0;
    for (const Sample& s : samples_) {
      bool match = s.name == name;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) sum += s.value;
    }
    return sum;
  }

  // The value of the sample `name` whose labels include `labels`; nullopt if none.
  std::optional<double> Get(const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples_) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) return s.value;
    }
    return std::nullopt;
  }

 private:
  std::vector<Sample> samples_;
  std::map<std::string, std::string> types_;
  std::vector<std::string> bad_lines_;
};

std::string HttpGet(int port, const std::string& path, int* status) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result result = client.Get(path.c_str());
  if (!result) {
    *status = -1;
    return "";
  }
  *status = result->status;
  return result->body;
}

MetricsPage Scrape(const ServerProcess& server) {
  int status = 0;
  std::string body = HttpGet(server.admin_port(), "/metrics", &status);
  EXPECT_EQ(status, 200);
  return MetricsPage(body);
}

// A Txn putting k0..k<n-1> of integration's service svc.
v1::TxnRequest PutsTxn(int n) {
  v1::TxnRequest txn;
  for (int i = 0; i < n; ++i) {
    v1::TxnOp* op = txn.add_ops();
    op->set_type(v1::TXN_OP_TYPE_PUT);
    op->set_tenant("integration");
    op->set_service("svc");
    op->set_key("k" + std::to_string(i));
    op->set_value("v");
  }
  return txn;
}

class OperateTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(OperateTest, ProbesAnswerOnTheAdminListener) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  ASSERT_NE(server.admin_port(), 0);
  int status = 0;
  EXPECT_EQ(HttpGet(server.admin_port(), "/healthz", &status), "ok\n");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(HttpGet(server.admin_port(), "/readyz", &status), "serving\n");
  EXPECT_EQ(status, 200);
  HttpGet(server.admin_port(), "/nothing", &status);
  EXPECT_EQ(status, 404);

  auto health = grpc::health::v1::Health::NewStub(server.Channel());
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  // A first connection can fail on a loaded machine (seen: "No such file or directory" from
  // connect in a fresh chroot): the probe waits for one, bounded.
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status checked = health->Check(&ctx, req, &resp);
  ASSERT_TRUE(checked.ok()) << checked.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(OperateTest, MetricsCountRpcsCommitsSubscriptionsAndFanout) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  int64_t revision = 0;
  ASSERT_TRUE(api.Put("integration", "svc", "a", "1", &revision).ok());
  EXPECT_EQ(api.Put("Not A Tenant", "svc", "a", "1").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  TestSubscriber first(server.Channel(), "integration", {"svc"}, std::nullopt);
  TestSubscriber second(server.Channel(), "integration", {}, std::nullopt);
  ASSERT_TRUE(first.WaitForRevision(revision));
  ASSERT_TRUE(second.WaitForRevision(revision));
  ASSERT_TRUE(api.Put("integration", "svc", "b", "2", &revision).ok());
  ASSERT_TRUE(first.WaitForRevision(revision));
  ASSERT_TRUE(second.WaitForRevision(revision));

  // The hub counts a fan-out once it has handed the event to every stream, and an RPC once
  // its answer went out: a subscriber (or the caller) may be quicker than the counters.
  const std::string put = "/confcenter.v1.ConfigService/Put";
  MetricsPage page = Scrape(server);
  EXPECT_TRUE(testing::Eventually(
      [&] {
        page = Scrape(server);
        return page.Get("confcenter_fanout_lag_seconds_count") == 1 &&
               page.Get("confcenter_rpc_duration_seconds_count", {{"method", put}}) == 3;
      },
      absl::Seconds(10)));
  EXPECT_TRUE(page.bad_lines().empty()) << page.bad_lines().front();
  for (const auto& [name, type] : page.types()) {
    // Prometheus conventions: counters end in _total; no unit-less time.
    if (type == "counter") EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
    EXPECT_EQ(name.find("_milliseconds"), std::string::npos) << name;
  }
  EXPECT_EQ(page.Get("confcenter_rpc_requests_total", {{"method", put}, {"code", "OK"}}), 2);
  EXPECT_EQ(
      page.Get("confcenter_rpc_requests_total", {{"method", put}, {"code", "INVALID_ARGUMENT"}}),
      1);
  EXPECT_EQ(page.Get("confcenter_rpc_duration_seconds_count", {{"method", put}}), 3);
  EXPECT_EQ(page.Get("confcenter_revision"), revision);
  EXPECT_EQ(page.Get("confcenter_tenants"), 1);
  EXPECT_EQ(page.Get("confcenter_keys"), 2);
  EXPECT_EQ(page.Get("confcenter_subscriptions_open"), 2);
  EXPECT_EQ(page.Get("confcenter_tenant_subscriptions", {{"tenant", "integration"}}), 2);
  // Two streams got the event of b; the snapshots are not events.
  EXPECT_EQ(page.Get("confcenter_watch_events_delivered_total"), 2);
  EXPECT_EQ(page.Get("confcenter_fanout_lag_seconds_count"), 1);
  EXPECT_GE(page.Get("confcenter_watch_messages_written_total").value_or(0), 4);
  EXPECT_GE(page.Get("confcenter_commits_total", {{"result", "ok"}}).value_or(0), 2);
  EXPECT_EQ(page.Get("confcenter_commits_total", {{"result", "failed"}}), 0);
  EXPECT_EQ(page.Get("confcenter_commit_batch_size_count"),
            page.Get("confcenter_commit_sync_seconds_count"));
  EXPECT_EQ(page.Get("confcenter_ready"), 1);
  EXPECT_GT(page.Get("confcenter_store_sst_bytes").value_or(0) +
                page.Get("confcenter_store_memtable_bytes").value_or(0),
            0);
  EXPECT_GT(page.Get("process_resident_memory_bytes").value_or(0), 0);
  EXPECT_GT(page.Get("process_open_fds").value_or(0), 0);
  EXPECT_EQ(page.Get("confcenter_tenant_keys_count"), 1);
  EXPECT_EQ(page.Get("confcenter_tenant_keys_bucket", {{"le", "0"}}), 0);
  EXPECT_EQ(page.Get("confcenter_tenant_keys_bucket", {{"le", "10"}}), 1);

  first.Cancel();
  second.Cancel();
  // The streams' ends are counted once gRPC has torn them down.
  for (int i = 0; i < 500; ++i) {
    if (Scrape(server).Get("confcenter_subscriptions_open") == 0) break;
    usleep(10'000);  // polling a state change, bounded to 5 s
  }
  page = Scrape(server);
  EXPECT_EQ(page.Get("confcenter_subscriptions_open"), 0);
  EXPECT_EQ(page.Get("confcenter_subscription_queue_high_water_messages_count"), 2);
  // Ended by the client: CANCELLED, or UNAVAILABLE when a write was in flight.
  EXPECT_EQ(page.Sum("confcenter_rpc_requests_total",
                     {{"method", "/confcenter.v1.WatchService/Subscribe"}}),
            2);
}

TEST_F(OperateTest, MetricsCountSlowSubscriberCutOffsAndResyncs) {
  // A queue of one message and a snapshot of three: the snapshot overflows the queue.
  ServerProcess server(dir_.path() + "/data", {"--watch_queue_messages=1", "--max_txn_ops=3000"});
  ASSERT_NE(server.port(), 0);
  auto config = v1::ConfigService::NewStub(server.Channel());
  v1::TxnRequest txn = PutsTxn(2500);
  v1::TxnResponse txn_resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(config->Txn(&ctx, txn, &txn_resp).ok());

  TestSubscriber slow(server.Channel(), "integration", {}, std::nullopt);
  EXPECT_EQ(slow.WaitForEnd().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  TestSubscriber ahead(server.Channel(), "integration", {"none"}, txn_resp.revision() + 100);
  ASSERT_TRUE(ahead.WaitForMessages(1));
  ASSERT_TRUE(ahead.messages().front().resync());

  MetricsPage page = Scrape(server);
  EXPECT_EQ(page.Get("confcenter_subscriber_cutoffs_total"), 1);
  EXPECT_EQ(page.Get("confcenter_resyncs_total"), 1);
  EXPECT_EQ(page.Get("confcenter_subscription_queue_high_water_max_messages"), 1);
}

// 100 subscribers of one tenant cut off at once: one log line with the count and the revision
// they can resume from, in text and in JSON; /metrics still counts every one.
TEST_F(OperateTest, ACutOffBurstIsOneLogLineInTextAndJson) {
  for (const std::string format : {"text", "json"}) {
    SCOPED_TRACE(format);
    const std::string log = dir_.path() + "/" + format + ".log";
    ServerProcess server(dir_.path() + "/data-" + format,
                         {"--watch_queue_messages=1", "--max_txn_ops=3000", "--log_file=" + log,
                          "--log_format=" + format, "--log_burst_window=10m"});
    ASSERT_NE(server.port(), 0);
    auto config = v1::ConfigService::NewStub(server.Channel());
    v1::TxnResponse txn_resp;
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ASSERT_TRUE(config->Txn(&ctx, PutsTxn(2500), &txn_resp).ok());
    {
      // Each snapshot (3 messages) overflows its queue of one.
      std::vector<std::unique_ptr<TestSubscriber>> slow;
      for (int i = 0; i < 100; ++i) {
        slow.push_back(std::make_unique<TestSubscriber>(server.Channel(), "integration",
                                                        std::vector<std::string>{}, std::nullopt));
      }
      for (auto& s : slow)
        EXPECT_EQ(s->WaitForEnd().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    }
    EXPECT_EQ(Scrape(server).Get("confcenter_subscriber_cutoffs_total"), 100);
    ASSERT_EQ(server.Stop(), 0);  // the pending line is written at the latest on the way out
    std::ifstream in(log);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (line.find("fell behind") != std::string::npos) lines.push_back(line);
    }
    ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(lines, "\n");
    EXPECT_NE(lines[0].find(absl::StrCat("100 subscribers of tenant integration fell behind (1 "
                                         "messages queued) and were cut off within ")),
              std::string::npos)
        << lines[0];
    // Cut off within their first snapshot: nothing to resume from.
    EXPECT_NE(lines[0].find("; none had a complete snapshot yet; they start from one"),
              std::string::npos)
        << lines[0];
    if (format == "json") {
      EXPECT_TRUE(absl::StartsWith(lines[0], "{\"time\":")) << lines[0];
      EXPECT_NE(lines[0].find("\"level\":\"warning\""), std::string::npos) << lines[0];
    }
  }
}

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // The next datagram, or "" after 20 s.
  std::string Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20'000) != 1) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, n) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

// Polls the server's metrics every 20 ms until `name` (summed over `labels`' matches) holds
// `condition`, at most `timeout`: gRPC's connection timers run on real time.
template <typename Condition>
bool MetricEventually(const ServerProcess& server, const std::string& name,
                      const std::map<std::string, std::string>& labels, Condition condition,
                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition(Scrape(server).Sum(name, labels))) return true;
    if (absl::Now() > deadline) return false;
    usleep(20'000);
  }
}

TEST_F(OperateTest, KeepaliveClosesTheConnectionOfAPeerThatStoppedAnsweringAndFreesItsStream) {
  ServerProcess server(dir_.path() + "/data",
                       {"--grpc_keepalive_time=1s", "--grpc_keepalive_timeout=1s"});
  ASSERT_NE(server.port(), 0);
  testing::ConfctlProcess watch({"watch", "integration", "svc"}, server.address());
  ASSERT_TRUE(MetricEventually(
      server, "confcenter_subscriptions_open", {}, [](double n) { return n == 1; },
      absl::Seconds(10)));
  // The peer hangs (its kernel still acknowledges TCP, so only a ping notices).
  ASSERT_TRUE(StopProcess(watch.pid()));
  EXPECT_TRUE(MetricEventually(
      server, "confcenter_subscriptions_open", {}, [](double n) { return n == 0; },
      absl::Seconds(10)))
      << "the stream of a peer that stopped answering pings is still open";
  ContinueProcess(watch.pid());
}

TEST_F(OperateTest, MaxConnectionAgeMovesAStreamToANewConnectionWithNothingLost) {
  ServerProcess server(dir_.path() + "/data",
                       {"--grpc_max_connection_age=1s", "--grpc_max_connection_age_grace=1s"});
  ASSERT_NE(server.port(), 0);
  ClientOptions options;
  options.address = server.address();
  options.initial_backoff = absl::Milliseconds(20);
  options.max_backoff = absl::Milliseconds(200);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Client::MakeChannel(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  SubscriptionOptions sub;
  sub.tenant = "integration";
  sub.services = {"svc"};
  sub.initial_backoff = absl::Milliseconds(20);
  sub.max_backoff = absl::Milliseconds(200);
  std::unique_ptr<Subscription> subscription = Subscription::Start(*channel, sub);
  absl::Mutex mu;
  std::vector<std::string> seen;
  subscription->OnChange("svc", "k", false, [&](const ConfigChange& change) {
    absl::MutexLock lock(&mu);
    seen.push_back(change.new_value ? change.new_value->value : "");
  });
  ApiClient api(server.Channel());
  // Writes, each once the subscriber has it, until its stream was ended by the age limit
  // twice (each time it resumed on a new connection).
  const std::string subscribe = "/confcenter.v1.WatchService/Subscribe";
  std::vector<std::string> written;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (Scrape(server).Sum("confcenter_rpc_requests_total", {{"method", subscribe}}) < 2 &&
         absl::Now() < deadline) {
    int64_t revision = 0;
    const std::string value = absl::StrCat(written.size());
    ASSERT_TRUE(api.Put("integration", "svc", "k", value, &revision).ok());
    written.push_back(value);
    ASSERT_TRUE(subscription->WaitForRevision(revision, absl::Seconds(10)))
        << "the subscription did not get revision " << revision;
  }
  EXPECT_GE(Scrape(server).Sum("confcenter_rpc_requests_total", {{"method", subscribe}}), 2)
      << "no stream was ended by --grpc_max_connection_age";
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen, written) << "a change was lost or repeated across the reconnects";
}

TEST_F(OperateTest, TellsSystemdWhenReadyAndWhenStopping) {
  const std::string socket_path = dir_.path() + "/notify";
  NotifySocket notify(socket_path);
  ASSERT_TRUE(notify.bound());
  ServerProcess server(dir_.path() + "/data", {}, {"NOTIFY_SOCKET=" + socket_path});
  ASSERT_NE(server.port(), 0);
  const std::string ready = notify.Receive();
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(server.pid())), std::string::npos) << ready;
  EXPECT_EQ(server.Stop(), 0);
  EXPECT_EQ(notify.Receive(), "STOPPING=1");
}

TEST_F(OperateTest, JsonLogLinesAreJsonObjects) {
  // The data dir's name holds a quote and a backslash, and it is not a store: the server
  // logs why it refuses it (one JSON line) and exits.
  const std::string data_dir = dir_.path() + "/not \"a\" store\\";
  std::filesystem::create_directories(data_dir);
  std::ofstream(data_dir + "/some-file") << "x";
  std::string output;
  EXPECT_EQ(
      RunServerToExit({"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                       "--http_listen=127.0.0.1:0", "--log_format=json", "--data_dir=" + data_dir},
                      &output),
      1);
  std::istringstream lines(output);
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    nlohmann::json entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(entry.is_object()) << line;
    EXPECT_TRUE(entry["time"].is_string()) << line;
    EXPECT_EQ(entry["level"], "error") << line;
    EXPECT_NE(entry["msg"].get<std::string>().find(data_dir), std::string::npos) << line;
    ++parsed;
  }
  EXPECT_EQ(parsed, 1) << output;
}

// Settings from a config file and the environment, shown by --check_config.
class ConfigSourcesTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  TempDir dir_;
};

TEST_F(ConfigSourcesTest, CommandLineBeatsEnvironmentBeatsFileBeatsDefault) {
  const std::string file = WriteFile("c.yaml",
                                     "max_txn_ops: 3\n"
                                     "watch_queue_messages: 7\n"
                                     "progress_interval: 3s\n");
  std::string output;
  ASSERT_EQ(
      RunServerToExit({"--config=" + file, "--progress_interval=5s", "--check_config"}, &output,
                      {"CONFCENTER_MAX_TXN_OPS=5", "CONFCENTER_PROGRESS_INTERVAL=4s",
                       "CONFCENTER_ADDR=127.0.0.1:1"}),
      0)
      << output;
  EXPECT_NE(output.find("max_txn_ops: 5  # from CONFCENTER_MAX_TXN_OPS\n"), std::string::npos)
      << output;
  EXPECT_NE(output.find("watch_queue_messages: 7  # from " + file + ":2\n"), std::string::npos)
      << output;
  EXPECT_NE(output.find("progress_interval: 5s  # from command line\n"), std::string::npos)
      << output;
  EXPECT_NE(output.find("max_value_bytes: 1048576  # from default\n"), std::string::npos) << output;

  // CONFCENTER_CONFIG names the file when the command line does not.
  ASSERT_EQ(RunServerToExit({"--check_config"}, &output, {"CONFCENTER_CONFIG=" + file}), 0)
      << output;
  EXPECT_NE(output.find("max_txn_ops: 3  # from " + file + ":1\n"), std::string::npos) << output;
}

TEST_F(ConfigSourcesTest, TheRunningServerUsesTheFile) {
  const std::string file = WriteFile("c.yaml", "max_txn_ops: 2\n");
  ServerProcess server(dir_.path() + "/data", {"--config=" + file});
  ASSERT_NE(server.port(), 0);
  auto config = v1::ConfigService::NewStub(server.Channel());
  v1::TxnRequest txn = PutsTxn(3);
  v1::TxnResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = config->Txn(&ctx, txn, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("2"), std::string::npos) << st.error_message();
}

TEST_F(ConfigSourcesTest, BadSettingsAreRefusedWithWhereAndWhy) {
  struct Case {
    std::string file_text;  // empty: no file
    std::vector<std::string> env;
    std::string expected;  // in the output
  };
  const std::string f = dir_.path() + "/c.yaml";
  const std::vector<Case> cases = {
      {"listen: 127.0.0.1:0\nbogus: 1\n", {}, "config: " + f + ":2: unknown setting \"bogus\""},
      {"max_txn_ops: many\n", {}, "config: " + f + ":1: max_txn_ops: Illegal value 'many'"},
      {"- listen\n", {}, "config: " + f + ": expected a mapping of setting names to values"},
      {"listen: [a, b]\n", {}, f + ":1: listen: expected a single value, not a list or mapping"},
      {"config: other.yaml\n", {}, f + ":1: config cannot name another config file"},
      {"a: [1\n", {}, "config: " + f + ":2: not YAML"},
      {"flagfile: x\n", {}, "unknown setting \"flagfile\""},
      {"", {"CONFCENTER_BOGUS=1"}, "CONFCENTER_BOGUS: unknown setting \"bogus\""},
      {"", {"CONFCENTER_SERVICE_HOST=10.0.0.1"}, "set enableServiceLinks: false"},
      {"", {"CONFCENTER_UNSAFE_NO_FSYNC=maybe"}, "CONFCENTER_UNSAFE_NO_FSYNC: unsafe_no_fsync:"},
      {"max_txn_ops: 0\n", {}, "max_txn_ops: must be positive, got 0"},
      {"log_format: xml\n", {}, "log_format: \"xml\" is not one of text, json"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--check_config"};
    if (!c.file_text.empty()) {
      WriteFile("c.yaml", c.file_text);
      args.push_back("--config=" + f);
    }
    std::string output;
    EXPECT_EQ(RunServerToExit(args, &output, c.env), 2) << c.file_text << output;
    EXPECT_NE(output.find(c.expected), std::string::npos) << c.file_text << "\n" << output;
  }
  std::string output;
  EXPECT_EQ(RunServerToExit({"--config=" + dir_.path() + "/missing.yaml"}, &output), 2);
  EXPECT_NE(output.find("config: cannot read " + dir_.path() + "/missing.yaml"), std::string::npos)
      << output;
}

}  // namespace
}  // namespace confcenter
