// The client library end to end against the real confcenterd.
#include "confcenter/subscription.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "confcenter/client.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::RunServerToExit;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0);
    client_ = std::make_unique<Client>(Options());
  }
  ClientOptions Options() {
    ClientOptions options;
    options.address = server_->address();
    options.wait_for_ready = true;  // writes wait out a server restart
    options.retry_writes = true;    // a write on the connection the kill broke never arrived
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    return options;
  }

  int64_t Put(const std::string& tenant, const std::string& service, const std::string& key,
              const std::string& value) {
    v1::PutRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    req.set_value(value);
    absl::StatusOr<v1::PutResponse> resp = client_->Put(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->revision() : 0;
  }
  void Register(const std::string& tenant) {
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    ASSERT_TRUE(client_->Register(req).ok());
  }
  std::unique_ptr<Subscription> Follow(const std::string& tenant, const std::string& cache = "") {
    SubscriptionOptions options;
    options.tenant = tenant;
    options.services = {"login"};
    options.cache_file = cache;
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    return Subscription::Start(client_->channel(), options);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(SubscriptionTest, TypedGettersReadTheResolvedViewWithDefaults) {
  Register("f1");
  Put("integration", "login", "pool.size", "8");
  Put("integration", "login", "ratio", "0.75");
  Put("integration", "login", "tls", "On");
  Put("integration", "login", "timeout", "1.5s");
  int64_t rev = Put("f1", "login", "limits", R"({"rps": 100, "burst": [1, 2]})");
  auto sub = Follow("f1");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  EXPECT_FALSE(sub->stale());
  EXPECT_EQ(sub->GetInt("login", "pool.size", 1), 8);
  EXPECT_EQ(sub->GetInt("login", "ratio", 1), 1);  // does not parse as int: the default
  EXPECT_DOUBLE_EQ(sub->GetDouble("login", "ratio", 0), 0.75);
  EXPECT_TRUE(sub->GetBool("login", "tls", false));
  EXPECT_EQ(sub->GetDuration("login", "timeout", absl::ZeroDuration()), absl::Milliseconds(1500));
  EXPECT_EQ(sub->GetJson("login", "limits", "{}"), R"({"burst":[1,2],"rps":100})");
  EXPECT_EQ(sub->GetString("login", "missing", "dflt"), "dflt");
  EXPECT_EQ(sub->Get("login", "limits")->source_tenant, "f1");
  EXPECT_EQ(sub->Get("login", "pool.size")->source_tenant, "integration");
}

TEST_F(SubscriptionTest, EndpointFollowsTheRoutingWhenABranchRegistersTheService) {
  auto register_login = [&](const std::string& tenant) {
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    v1::ServiceDefinition* login = req.add_services();
    login->set_name("login");
    v1::Endpoint* grpc_endpoint = login->add_endpoints();
    grpc_endpoint->set_name("grpc");
    grpc_endpoint->set_port(9090);
    absl::StatusOr<v1::RegisterResponse> resp = client_->Register(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->revision() : 0;
  };
  const int64_t base = register_login("integration");
  Register("f1");
  auto sub = Follow("f1");
  ASSERT_TRUE(sub->WaitForRevision(base, absl::Seconds(20)));
  EXPECT_EQ(sub->Endpoint("login", "grpc"), "login.integration.svc.cluster.local:9090");
  std::mutex mu;
  std::vector<std::string> moves;
  sub->OnChange("login", "_endpoint.", true, [&](const ConfigChange& c) {
    std::lock_guard<std::mutex> lock(mu);
    moves.push_back(c.new_value ? c.new_value->value : "<gone>");
  });
  int64_t rev = register_login("f1");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  EXPECT_EQ(sub->Endpoint("login", "grpc"), "login.f1.svc.cluster.local:9090");
  EXPECT_EQ(sub->Endpoint("login", "http"), std::nullopt);
  v1::DeregisterRequest dereg;
  dereg.set_tenant("f1");
  dereg.add_services("login");
  absl::StatusOr<v1::DeregisterResponse> gone = client_->Deregister(dereg);
  ASSERT_TRUE(gone.ok()) << gone.status();
  ASSERT_TRUE(sub->WaitForRevision(gone->revision(), absl::Seconds(20)));
  EXPECT_EQ(sub->Endpoint("login", "grpc"), "login.integration.svc.cluster.local:9090");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(moves, (std::vector<std::string>{"login.f1.svc.cluster.local:9090",
                                             "login.integration.svc.cluster.local:9090"}));
}

TEST_F(SubscriptionTest, CallbacksFireForKeysAndPrefixesWithOldAndNewValues) {
  Register("f1");
  int64_t rev = Put("integration", "login", "db.url", "jdbc:one");
  auto sub = Follow("f1");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  std::mutex mu;
  std::vector<std::string> exact, prefixed;
  sub->OnChange("login", "db.url", false, [&](const ConfigChange& c) {
    std::lock_guard<std::mutex> lock(mu);
    exact.push_back(c.old_value->value + "->" + c.new_value->value + "@" +
                    c.new_value->source_tenant);
  });
  sub->OnChange("login", "db.", true, [&](const ConfigChange& c) {
    std::lock_guard<std::mutex> lock(mu);
    prefixed.push_back(c.key);
  });
  Put("f1", "login", "db.url", "jdbc:branch");
  rev = Put("integration", "login", "db.pool", "4");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(exact, std::vector<std::string>{"jdbc:one->jdbc:branch@f1"});
  EXPECT_EQ(prefixed, (std::vector<std::string>{"db.url", "db.pool"}));
}

TEST_F(SubscriptionTest, ConfctlPutFiresTheCallbackWithTheNewValue) {
  Register("f1");
  int64_t rev = Put("integration", "login", "log.level", "info");
  auto sub = Follow("f1");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  std::mutex mu;
  std::vector<std::string> seen;
  sub->OnChange("login", "log.level", false, [&](const ConfigChange& c) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(c.new_value->value + "@" + c.new_value->source_tenant);
  });
  std::string cmd = std::string(CONFCTL_PATH) + " --server=" + server_->address() +
                    " put f1 login log.level debug";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(sub->WaitForRevision(rev + 1, absl::Seconds(20)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, std::vector<std::string>{"debug@f1"});
  EXPECT_EQ(sub->GetString("login", "log.level", ""), "debug");
}

TEST_F(SubscriptionTest, CatchesUpAfterTheServerIsKilledAndRestartedWithNothingMissed) {
  Register("f1");
  int64_t rev = Put("integration", "login", "k0", "v0");
  auto sub = Follow("f1");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  std::mutex mu;
  std::vector<std::string> seen;
  sub->OnChange("login", "k", true, [&](const ConfigChange& c) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(c.key + "=" + (c.new_value ? c.new_value->value : "-"));
  });
  std::vector<std::string> expected;
  for (int round = 0; round < 3; ++round) {
    server_->Kill();
    ASSERT_TRUE(server_->Restart());
    // Written while the subscription is still reconnecting (or just after): either way it
    // must arrive exactly once, through the resume from the last revision.
    for (int i = 0; i < 5; ++i) {
      std::string key = "k" + std::to_string(round * 5 + i + 1);
      rev = Put(i % 2 ? "f1" : "integration", "login", key, "r" + std::to_string(round));
      expected.push_back(key + "=r" + std::to_string(round));
    }
  }
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen, expected);
  }
  v1::ResolveRequest req;
  req.set_tenant("f1");
  req.add_services("login");
  auto view = client_->Resolve(req);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(sub->Snapshot().size(), static_cast<size_t>(view->entries_size()));
}

// The server's count of streams it cut off as slow consumers.
int CutOffs(const ServerProcess& server) {
  return static_cast<int>(confcenter::testing::ScrapeMetric(server.admin_port(),
                                                            "confcenter_subscriber_cutoffs_total"));
}

TEST_F(SubscriptionTest, AHungCallbackIsCutOffAfterTheReceiveWindowThenResumesGapFree) {
  server_ = std::make_unique<ServerProcess>(dir_.path() + "/queue8",
                                            std::vector<std::string>{"--watch_queue_messages=8"});
  ASSERT_NE(server_->port(), 0);
  client_ = std::make_unique<Client>(Options());  // the default 16 KiB receive window
  int64_t rev = Put("integration", "login", "k0", "v0");
  auto sub = Follow("integration");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  std::mutex mu;
  std::condition_variable released_cv;
  bool released = false;
  std::vector<std::string> seen;
  sub->OnChange("login", "k", true, [&](const ConfigChange& c) {
    std::unique_lock<std::mutex> lock(mu);
    seen.push_back(c.key);
    released_cv.wait(lock, [&] { return released; });  // the service hangs on the first change
  });
  // 16 KiB changes: the window holds one, the server's queue eight more. The server must
  // notice the stream is not read after about that many, not after megabytes.
  const std::string value(16 * 1024, 'x');
  std::vector<std::string> expected;
  int puts_until_cut_off = 0;
  for (int i = 1; i <= 200 && CutOffs(*server_) == 0; ++i) {
    rev = Put("integration", "login", "k" + std::to_string(i), value);
    expected.push_back("k" + std::to_string(i));
    puts_until_cut_off = i;
  }
  EXPECT_EQ(CutOffs(*server_), 1);
  EXPECT_LE(puts_until_cut_off, 30);
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  released_cv.notify_all();
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  // Every change once across the cut-off and the resume. A resume that is longer than the
  // queue bound comes as a resync, whose differences are reported in key order.
  std::lock_guard<std::mutex> lock(mu);
  std::sort(seen.begin(), seen.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(sub->GetString("login", expected.back(), ""), value);
}

TEST_F(SubscriptionTest, ServesTheCacheFileWhileTheServerIsDownThenResumes) {
  const std::string cache = dir_.path() + "/login.json";
  Register("f1");
  int64_t rev = Put("f1", "login", "feature.flag", "on");
  {
    auto sub = Follow("f1", cache);
    ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  }
  ASSERT_TRUE(std::filesystem::exists(cache));
  ASSERT_EQ(server_->Stop(), 0);

  auto sub = Follow("f1", cache);
  EXPECT_TRUE(sub->stale());
  EXPECT_EQ(sub->GetString("login", "feature.flag", "off"), "on");
  EXPECT_EQ(sub->revision(), rev);

  ASSERT_TRUE(server_->Restart());
  rev = Put("f1", "login", "feature.flag", "off");
  ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  EXPECT_FALSE(sub->stale());
  EXPECT_EQ(sub->GetString("login", "feature.flag", "?"), "off");
}

TEST_F(SubscriptionTest, ExampleServicePrintsItsCachedConfigWhenTheServerIsDown) {
  const std::string cache = dir_.path() + "/example.json";
  Register("f1");
  int64_t rev = Put("f1", "login", "greeting", "hello");
  {
    auto sub = Follow("f1", cache);
    ASSERT_TRUE(sub->WaitForRevision(rev, absl::Seconds(20)));
  }
  const std::string address = server_->address();
  ASSERT_EQ(server_->Stop(), 0);
  std::string out;
  std::string cmd = std::string(PRINT_CONFIG_PATH) + " --server=" + address +
                    " --tenant=f1 --services=login --print_once --cache_file=" + cache;
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_NE(out.find("login/greeting = hello  [from f1]"), std::string::npos) << out;
  EXPECT_NE(out.find("stale"), std::string::npos) << out;
}

}  // namespace
}  // namespace confcenter
