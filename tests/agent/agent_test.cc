// confcenter-agent against the real confcenterd: the files it writes in every format, atomic
// rewrites only on change, notification once per change (signal, HTTP, command, with
// back-off), the cache while the server is down, --once, and one-line failures.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "confcenter/v1/instances.grpc.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/api_client.h"
#include "tests/child_process.h"
#include "tests/test_util.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::testing {
namespace {

using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> lines = absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
  return lines;
}

ino_t Inode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_GT(server_->port(), 0);
    api_ = std::make_unique<ApiClient>(server_->Channel());
    ASSERT_TRUE(api_->Register("integration", {"orders", "other"}).ok());
    Put("orders", "db.host", "db1");
    Put("orders", "db.pool", "8");
    Put("orders", "greeting", "hello world");
    out_ = dir_.path() + "/out";
    std::filesystem::create_directories(out_);
  }

  int64_t Put(const std::string& service, const std::string& key, const std::string& value) {
    int64_t revision = 0;
    grpc::Status status = api_->Put("integration", service, key, value, &revision);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return revision;
  }

  // The agent with `args` (after --address and --listen), its output in agent-N.log.
  std::unique_ptr<ChildProcess> StartAgent(std::vector<std::string> args) {
    listen_port_ = FreeLoopbackPort();
    args.insert(args.begin(), {"--address", server_->address(), "--listen",
                               absl::StrCat("127.0.0.1:", listen_port_)});
    return std::make_unique<ChildProcess>(AGENT_PATH, args,
                                          absl::StrCat(dir_.path(), "/agent-", ++runs_, ".log"));
  }

  // Runs the agent to its exit; returns the exit code, `output` gets what it printed.
  int RunAgent(std::vector<std::string> args, std::string* output) {
    ChildProcess agent(AGENT_PATH, args, absl::StrCat(dir_.path(), "/run-", ++runs_, ".log"));
    const int code = agent.Wait();
    *output = ReadFile(agent.log_path());
    return code;
  }

  // Every instance following orders in integration (each view of an agent is one) has applied
  // `revision`: its files hold it.
  bool WaitApplied(int64_t revision) {
    std::unique_ptr<v1::InstanceService::Stub> instances =
        v1::InstanceService::NewStub(server_->Channel());
    v1::WaitAppliedRequest wait;
    wait.set_tenant("integration");
    wait.set_service("orders");
    wait.set_revision(revision);
    wait.mutable_timeout()->set_seconds(30);
    v1::WaitAppliedResponse applied;
    grpc::ClientContext ctx;
    grpc::Status status = instances->WaitApplied(&ctx, wait, &applied);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return status.ok() && applied.all_applied() && applied.instances() > 0;
  }

  // GET of the agent's health port: status code, or -1.
  int HttpStatus(const std::string& path, std::string* body = nullptr) {
    httplib::Client client("127.0.0.1", listen_port_);
    client.set_connection_timeout(2);
    httplib::Result result = client.Get(path);
    if (!result) return -1;
    if (body != nullptr) *body = result->body;
    return result->status;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<ApiClient> api_;
  std::string out_;
  int listen_port_ = 0;
  int runs_ = 0;
};

TEST_F(AgentTest, WritesEveryFormatAtomicallyAndOnlyWhenTheContentChanges) {
  WriteFile(dir_.path() + "/orders.tmpl",
            "host={{db.host}} pool={{db.pool}} at {{_revision}}\n"
            "{{#_entries}}{{key}}<{{value}}> {{/_entries}}\n");
  const std::string config = dir_.path() + "/agent.yaml";
  WriteFile(config, absl::StrCat(R"(views:
  - {tenant: integration, service: orders, format: json, nested: true, path: )",
                                 out_,
                                 R"(/orders.json}
  - {tenant: integration, service: orders, format: yaml, path: )",
                                 out_, R"(/orders.yaml}
  - {tenant: integration, service: orders, format: properties, path: )",
                                 out_,
                                 R"(/orders.properties, mode: "0640"}
  - {tenant: integration, service: orders, format: env, env_prefix: ORDERS_, path: )",
                                 out_,
                                 R"(/orders.env}
  - {tenant: integration, service: orders, format: template, template: )",
                                 dir_.path(), R"(/orders.tmpl, path: )", out_, R"(/orders.txt}
)"));
  std::unique_ptr<ChildProcess> agent = StartAgent({"--config", config});
  ASSERT_TRUE(Eventually([&] { return HttpStatus("/readyz") == 200; }))
      << FileTail(agent->log_path());
  EXPECT_EQ(json::parse(ReadFile(out_ + "/orders.json")),
            json::parse(R"({"db": {"host": "db1", "pool": "8"}, "greeting": "hello world"})"));
  YAML::Node yaml = YAML::LoadFile(out_ + "/orders.yaml");
  EXPECT_EQ(yaml["db.pool"].as<std::string>(), "8");
  EXPECT_EQ(yaml["greeting"].as<std::string>(), "hello world");
  EXPECT_EQ(ReadFile(out_ + "/orders.properties"),
            "db.host=db1\ndb.pool=8\ngreeting=hello world\n");
  EXPECT_EQ(ReadFile(out_ + "/orders.env"),
            "ORDERS_DB_HOST=db1\nORDERS_DB_POOL=8\nORDERS_GREETING=\"hello world\"\n");
  const std::string rendered = ReadFile(out_ + "/orders.txt");
  EXPECT_TRUE(absl::StartsWith(rendered, "host=db1 pool=8 at ")) << rendered;
  EXPECT_TRUE(absl::EndsWith(rendered, "db.host<db1> db.pool<8> greeting<hello world> \n"))
      << rendered;
  struct stat st;
  ASSERT_EQ(stat((out_ + "/orders.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((out_ + "/orders.properties").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);

  // A reader never sees a half-written file while 30 changes land.
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      json parsed = json::parse(ReadFile(out_ + "/orders.json"), nullptr, false);
      if (parsed.is_discarded() || !parsed.contains("db")) ++torn;
      ++reads;
    }
  });
  int64_t last = 0;
  for (int i = 0; i < 30; ++i) last = Put("orders", "db.pool", std::to_string(100 + i));
  EXPECT_TRUE(Eventually([&] {
    return json::parse(ReadFile(out_ + "/orders.json"), nullptr, false)["db"]["pool"] == "129";
  }));
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_TRUE(Eventually([&] {
    return absl::StrContains(ReadFile(out_ + "/orders.txt"), absl::StrCat(" at ", last, "\n"));
  }));

  // A change outside the view (another service), or a write of the same value, rewrites
  // nothing: once every view has applied it, the files are the same inodes.
  ASSERT_TRUE(WaitApplied(last));  // every view holds the last db.pool first
  const ino_t env_inode = Inode(out_ + "/orders.env");
  const ino_t properties_inode = Inode(out_ + "/orders.properties");
  Put("other", "db.pool", "1");
  ASSERT_TRUE(WaitApplied(Put("orders", "greeting", "hello world")));
  EXPECT_EQ(Inode(out_ + "/orders.env"), env_inode);
  EXPECT_EQ(Inode(out_ + "/orders.properties"), properties_inode);
  ASSERT_TRUE(WaitApplied(Put("orders", "greeting", "hi")));
  EXPECT_NE(Inode(out_ + "/orders.env"), env_inode);
  EXPECT_TRUE(absl::StrContains(ReadFile(out_ + "/orders.env"), "ORDERS_GREETING=hi\n"));

  std::string metrics;
  ASSERT_EQ(HttpStatus("/metrics", &metrics), 200);
  EXPECT_TRUE(absl::StrContains(metrics, "confcenter_agent_view_revision{")) << metrics;
  EXPECT_TRUE(absl::StrContains(metrics, "confcenter_agent_file_writes_total{")) << metrics;
  EXPECT_EQ(HttpStatus("/healthz"), 200);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(AgentTest, TellsTheApplicationOncePerChangeByCommandSignalAndHttp) {
  // The application: a shell that appends a line per SIGHUP.
  const std::string pid_file = dir_.path() + "/app.pid";
  const std::string hups = dir_.path() + "/hups";
  ChildProcess app("/bin/sh",
                   {"-c", absl::StrCat("trap 'echo hup >> ", hups, "' HUP; echo $$ > ", pid_file,
                                       "; while :; do sleep 5 & wait $!; done")},
                   dir_.path() + "/app.log");
  ASSERT_TRUE(Eventually([&] { return !ReadFile(pid_file).empty(); }));
  // An HTTP endpoint that fails its first two requests (the agent retries).
  httplib::Server hook;
  std::atomic<int> posts{0};
  std::vector<int64_t> posted;
  std::mutex posted_mu;
  hook.Post("/reload", [&](const httplib::Request& req, httplib::Response& res) {
    if (++posts <= 2) {
      res.status = 503;
      return;
    }
    std::lock_guard<std::mutex> lock(posted_mu);
    posted.push_back(json::parse(req.body)["revision"].get<int64_t>());
  });
  const int hook_port = hook.bind_to_any_port("127.0.0.1");
  std::thread hook_thread([&] { hook.listen_after_bind(); });
  // Stopped and joined however the test ends (a failed ASSERT returns early).
  struct StopHook {
    httplib::Server& server;
    std::thread& thread;
    ~StopHook() {
      server.stop();
      thread.join();
    }
  } stop_hook{hook, hook_thread};

  const std::string commands = dir_.path() + "/commands";
  std::unique_ptr<ChildProcess> agent =
      StartAgent({"--tenant", "integration", "--service", "orders", "--format", "env", "--path",
                  out_ + "/orders.env", "--notify-signal", "HUP", "--notify-pid-file", pid_file,
                  "--notify-url", absl::StrCat("http://127.0.0.1:", hook_port, "/reload"),
                  "--notify-command", absl::StrCat("echo $CONFCENTER_REVISION >> ", commands)});
  ASSERT_TRUE(Eventually([&] { return HttpStatus("/readyz") == 200; }))
      << FileTail(agent->log_path());
  // The first file is read by the application at its start: nothing is told.
  EXPECT_EQ(ReadFile(commands), "");

  std::vector<std::string> revisions;
  for (int i = 1; i <= 3; ++i) {
    revisions.push_back(std::to_string(Put("orders", "db.pool", std::to_string(i))));
    // One change at a time: each is told every way before the next is made (changes that
    // come while a notification is retried are told together).
    ASSERT_TRUE(Eventually([&] {
      std::lock_guard<std::mutex> lock(posted_mu);
      return Lines(commands).size() == revisions.size() && Lines(hups).size() == revisions.size() &&
             posted.size() == revisions.size();
    })) << FileTail(agent->log_path());
  }
  // A change to another service tells nothing: the next line is the next orders change's.
  Put("other", "k", "v");
  revisions.push_back(std::to_string(Put("orders", "db.pool", "4")));
  ASSERT_TRUE(Eventually([&] { return Lines(commands).size() == 4; }));
  EXPECT_EQ(Lines(commands), revisions);
  EXPECT_TRUE(Eventually([&] { return Lines(hups).size() == 4; })) << ReadFile(hups);
  {
    std::lock_guard<std::mutex> lock(posted_mu);
    ASSERT_EQ(posted.size(), 4u);
    EXPECT_EQ(std::to_string(posted.back()), revisions.back());
  }
  EXPECT_EQ(posts.load(), 6);  // 2 refused, then one per change
  EXPECT_EQ(Lines(hups).size(), 4u);
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(AgentTest, StartsFromItsCacheWhileTheServerIsDownAndFlagsItStale) {
  const std::vector<std::string> args = {
      "--tenant", "integration", "--service", "orders",
      "--format", "properties",  "--path",    out_ + "/orders.properties"};
  std::unique_ptr<ChildProcess> agent = StartAgent(args);
  ASSERT_TRUE(Eventually([&] { return HttpStatus("/readyz") == 200; }));
  const std::string content = ReadFile(out_ + "/orders.properties");
  EXPECT_FALSE(std::filesystem::exists(out_ + "/orders.properties.stale"));
  EXPECT_EQ(agent->Stop(), 0);

  ASSERT_EQ(server_->Stop(), 0);
  std::filesystem::remove(out_ + "/orders.properties");
  agent = StartAgent(args);
  ASSERT_TRUE(Eventually([&] { return HttpStatus("/readyz") == 200; }))
      << FileTail(agent->log_path());
  EXPECT_EQ(ReadFile(out_ + "/orders.properties"), content);
  EXPECT_TRUE(std::filesystem::exists(out_ + "/orders.properties.stale"));
  std::string ready;
  HttpStatus("/readyz", &ready);
  EXPECT_TRUE(absl::StrContains(ready, "(stale)")) << ready;

  // The server returns: the flag goes, and changes flow again.
  ASSERT_TRUE(server_->Restart());
  api_ = std::make_unique<ApiClient>(server_->Channel());
  EXPECT_TRUE(Eventually([&] {
    return !std::filesystem::exists(out_ + "/orders.properties.stale");
  })) << FileTail(agent->log_path());
  Put("orders", "db.pool", "16");
  EXPECT_TRUE(Eventually(
      [&] { return absl::StrContains(ReadFile(out_ + "/orders.properties"), "db.pool=16"); }));
  EXPECT_EQ(agent->Stop(), 0);
}

TEST_F(AgentTest, OnceWritesTheFilesAndExitsAndReportsTheAppliedRevision) {
  std::string output;
  EXPECT_EQ(RunAgent({"--address", server_->address(), "--once", "--tenant", "integration",
                      "--service", "orders", "--format", "json", "--path", out_ + "/orders.json"},
                     &output),
            0)
      << output;
  EXPECT_EQ(json::parse(ReadFile(out_ + "/orders.json"))["db.pool"], "8");
  EXPECT_FALSE(std::filesystem::exists(out_ + "/orders.json.stale"));

  // As a sidecar it is listed as an instance, and a revision counts as applied once the file
  // holds it.
  std::unique_ptr<ChildProcess> agent = StartAgent(
      {"--tenant", "integration", "--service", "orders", "--path", out_ + "/orders.json"});
  ASSERT_TRUE(Eventually([&] { return HttpStatus("/readyz") == 200; }));
  ASSERT_TRUE(WaitApplied(Put("orders", "db.pool", "32")));
  std::unique_ptr<v1::InstanceService::Stub> instances =
      v1::InstanceService::NewStub(server_->Channel());
  EXPECT_EQ(json::parse(ReadFile(out_ + "/orders.json"))["db.pool"], "32");
  v1::ListInstancesRequest list;
  list.set_tenant("integration");
  v1::ListInstancesResponse listed;
  grpc::ClientContext list_ctx;
  ASSERT_TRUE(instances->ListInstances(&list_ctx, list, &listed).ok());
  // The --once run's instance may still be listed, disconnected.
  int connected = 0;
  for (const v1::Instance& instance : listed.instances()) {
    if (!instance.connected()) continue;
    ++connected;
    EXPECT_EQ(instance.info().labels().at("agent"), "confcenter-agent");
  }
  EXPECT_EQ(connected, 1);
  EXPECT_EQ(agent->Stop(), 0);

  // No server and no cache: --once gives up with one line.
  ASSERT_EQ(server_->Stop(), 0);
  EXPECT_EQ(RunAgent({"--address", server_->address(), "--once", "--once-timeout", "1s", "--tenant",
                      "integration", "--service", "orders", "--path", out_ + "/fresh/orders.json"},
                     &output),
            1);
  EXPECT_TRUE(absl::StrContains(output, "not written within 1s")) << output;
  EXPECT_FALSE(std::filesystem::exists(out_ + "/fresh/orders.json"));
}

TEST_F(AgentTest, BadOptionsExitWithOneLineNamingTheField) {
  WriteFile(dir_.path() + "/bad.tmpl", "{{#db}} never closed\n");
  WriteFile(dir_.path() + "/a-file", "");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--format", "template", "--template", dir_.path() + "/bad.tmpl"},
       "confcenter-agent: views[0].template: " + dir_.path() + "/bad.tmpl: "},
      {{"--path", dir_.path() + "/a-file/orders.json"}, "confcenter-agent: views[0].path: "},
      {{"--format", "toml"}, "confcenter-agent: views[0].format: \"toml\" is none of"},
      {{"--mode", "0999"}, "confcenter-agent: views[0].mode: \"0999\" is no file mode"},
      {{"--notify-signal", "HUP"}, "confcenter-agent: notify.signal: needs notify.pid"},
      {{"--notify-url", "ftp://x"}, "confcenter-agent: notify.url: "},
      {{"--notify-pid", "abc"}, "confcenter-agent: Could not convert: --notify-pid = abc"},
      {{"--bogus"}, "confcenter-agent: The following argument was not expected: --bogus"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--address",   server_->address(), "--tenant",
                                     "integration", "--service",        "orders"};
    if (std::find(c.args.begin(), c.args.end(), "--path") == c.args.end()) {
      args.insert(args.end(), {"--path", out_ + "/orders.out"});
    }
    args.insert(args.end(), c.args.begin(), c.args.end());
    std::string output;
    EXPECT_EQ(RunAgent(args, &output), 2) << output;
    EXPECT_TRUE(absl::StartsWith(output, c.says)) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  }
  std::string output;
  EXPECT_EQ(RunAgent({"--address", server_->address(), "--tenant", "Integration!", "--service",
                      "orders", "--path", out_ + "/x.json"},
                     &output),
            2);
  EXPECT_TRUE(absl::StartsWith(output, "confcenter-agent: views[0].tenant: ")) << output;
  EXPECT_FALSE(std::filesystem::exists(out_ + "/orders.out"));
}

}  // namespace
}  // namespace confcenter::testing
