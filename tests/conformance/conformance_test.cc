// The one conformance scenario every client library runs (docs/clients.md): a real
// confcenterd on loopback, and the library's adapter program driven through the adapter
// protocol. The adapter command line is taken from the environment:
//
//   CONFORMANCE_ADAPTER="build/tests/conformance_adapter_cpp"  (words split on spaces)
//   CONFORMANCE_ADAPTER="/usr/bin/python3 client/python/conformance_adapter.py"
//
// plus whatever environment the adapter needs (PYTHONPATH) passed through. confcenterd is
// the one this binary was built with.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/api_client.h"
#include "tests/child_process.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

using nlohmann::json;

// "'word'" for /bin/sh.
std::string ShellQuote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// One run of the adapter: its stdout parsed line by line, commands appended to a file.
class Adapter {
 public:
  Adapter(const std::string& dir, int run, const std::string& address,
          const std::vector<std::string>& services, const std::string& cache_file)
      : out_path_(absl::StrCat(dir, "/adapter-", run, ".out")),
        commands_path_(absl::StrCat(dir, "/adapter-", run, ".commands")) {
    const char* adapter = std::getenv("CONFORMANCE_ADAPTER");
    std::vector<std::string> words;
    if (adapter != nullptr) words = absl::StrSplit(adapter, ' ', absl::SkipEmpty());
    for (const std::string& arg :
         {std::string("--address"), address, std::string("--tenant"), std::string("feat"),
          std::string("--cache-file"), cache_file, std::string("--commands"), commands_path_}) {
      words.push_back(arg);
    }
    for (const std::string& service : services) {
      words.push_back("--service");
      words.push_back(service);
    }
    std::vector<std::string> quoted;
    for (const std::string& word : words) quoted.push_back(ShellQuote(word));
    // stdout alone in out_path_ (the protocol); stderr (logs) beside it.
    const std::string command =
        absl::StrCat("exec ", absl::StrJoin(quoted, " "), " >", ShellQuote(out_path_), " 2>>",
                     ShellQuote(out_path_ + ".stderr"));
    std::ofstream(commands_path_).flush();  // exists before the adapter looks
    process_ = std::make_unique<ChildProcess>("/bin/sh", std::vector<std::string>{"-c", command},
                                              out_path_ + ".sh");
  }

  int pid() const { return process_->pid(); }
  ChildProcess& process() { return *process_; }
  std::string StderrTail() { return FileTail(out_path_ + ".stderr"); }

  // Every line printed so far.
  const std::vector<json>& Lines() {
    std::ifstream in(out_path_);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no newline yet: not complete
      offset_ += line.size() + 1;
      json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        ADD_FAILURE() << "adapter printed a line that is not JSON: " << line;
        continue;
      }
      lines_.push_back(std::move(parsed));
    }
    return lines_;
  }

  // The change lines so far.
  std::vector<json> Changes() {
    std::vector<json> changes;
    for (const json& line : Lines()) {
      if (line.value("type", "") == "change") changes.push_back(line);
    }
    return changes;
  }

  // The last state line, or null.
  json State() {
    json state;
    for (const json& line : Lines()) {
      if (line.value("type", "") == "state") state = line;
    }
    return state;
  }

  bool WaitForState(bool stale, int64_t min_revision = 0) {
    return Eventually([&] {
      json state = State();
      return !state.is_null() && state["stale"] == stale && state["revision"] >= min_revision;
    });
  }

  // Sends `command` and returns its reply (null if none came within 30 s).
  json Send(json command) {
    const int id = ++next_id_;
    command["id"] = id;
    const std::string line = command.dump() + "\n";
    const int fd = open(commands_path_.c_str(), O_WRONLY | O_APPEND);
    EXPECT_GE(fd, 0);
    if (fd >= 0) {
      EXPECT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
      close(fd);
    }
    json reply;
    Eventually([&] {
      for (const json& l : Lines()) {
        if (l.value("type", "") == "reply" && l.value("id", 0) == id) {
          reply = l;
          return true;
        }
      }
      return false;
    });
    EXPECT_FALSE(reply.is_null()) << "no reply to " << command.dump() << "\n" << StderrTail();
    return reply;
  }

  json Get(const std::string& service, const std::string& key) {
    return Send({{"cmd", "get"}, {"service", service}, {"key", key}});
  }
  bool WaitRevision(int64_t revision) {
    return Send({{"cmd", "wait_revision"}, {"revision", revision}, {"timeout_ms", 30000}})
        .value("ok", false);
  }
  // The changes printed after the first `mark` of them.
  std::vector<json> ChangesSince(size_t mark) {
    std::vector<json> all = Changes();
    return std::vector<json>(all.begin() + static_cast<std::ptrdiff_t>(std::min(mark, all.size())),
                             all.end());
  }

 private:
  std::string out_path_;
  std::string commands_path_;
  std::unique_ptr<ChildProcess> process_;
  size_t offset_ = 0;
  std::vector<json> lines_;
  int next_id_ = 0;
};

json Value(const std::string& value, const std::string& source) {
  return {{"value", value}, {"source_tenant", source}};
}

// A change line without its revision, for comparison: "callback service key old new".
std::string Describe(const json& change) {
  return absl::StrCat(change.value("callback", ""), " ", change.value("service", ""), "/",
                      change.value("key", ""), " ", change["old"].dump(), " -> ",
                      change["new"].dump());
}
std::string Describe(const std::string& callback, const std::string& service,
                     const std::string& key, const json& old_value, const json& new_value) {
  return Describe({{"callback", callback},
                   {"service", service},
                   {"key", key},
                   {"old", old_value},
                   {"new", new_value}});
}

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(std::getenv("CONFORMANCE_ADAPTER"), nullptr)
        << "CONFORMANCE_ADAPTER must name the adapter command";
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_GT(server_->port(), 0);
    Connect();
  }

  void Connect() {
    api_ = std::make_unique<ApiClient>(server_->Channel());
    tenants_ = v1::TenantService::NewStub(server_->Channel());
    admin_ = v1::AdminService::NewStub(server_->Channel());
  }

  // `service` of `tenant`, with a grpc endpoint on `port` (0: none).
  void Register(const std::string& tenant, const std::string& service, int port) {
    v1::RegisterRequest request;
    request.set_tenant(tenant);
    v1::ServiceDefinition* definition = request.add_services();
    definition->set_name(service);
    if (port != 0) {
      v1::Endpoint* endpoint = definition->add_endpoints();
      endpoint->set_name("grpc");
      endpoint->set_port(port);
      endpoint->set_address_template("127.0.0.1:{port}");
    }
    v1::RegisterResponse response;
    grpc::ClientContext ctx;
    grpc::Status status = tenants_->Register(&ctx, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    last_revision_ = std::max(last_revision_, response.revision());
  }

  void Put(const std::string& tenant, const std::string& service, const std::string& key,
           const std::string& value) {
    int64_t revision = 0;
    grpc::Status status = api_->Put(tenant, service, key, value, &revision);
    ASSERT_TRUE(status.ok()) << key << ": " << status.error_message();
    last_revision_ = revision;
  }

  void Delete(const std::string& tenant, const std::string& service, const std::string& key) {
    int64_t revision = 0;
    grpc::Status status = api_->Delete(tenant, service, key, &revision);
    ASSERT_TRUE(status.ok()) << key << ": " << status.error_message();
    last_revision_ = revision;
  }

  // feat's resolved view of svc and dep as the adapter's snapshot lists it.
  json ExpectedEntries() {
    int64_t revision = 0;
    json entries = json::array();
    for (const auto& [name, value_at_source] : api_->Resolve("feat", {"svc", "dep"}, &revision)) {
      const size_t at = value_at_source.rfind('@');
      entries.push_back({{"service", name.first},
                         {"key", name.second},
                         {"value", value_at_source.substr(0, at)},
                         {"source_tenant", value_at_source.substr(at + 1)}});
    }
    return entries;
  }

  void KillAndRestartServer() {
    server_->Kill();
    ASSERT_TRUE(server_->Restart());
    Connect();
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<ApiClient> api_;
  std::unique_ptr<v1::TenantService::Stub> tenants_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  int64_t last_revision_ = 0;
};

TEST_F(ConformanceTest, TheClientKeepsTheContract) {
  // 1. Snapshot, typed getters, endpoints.
  Register("integration", "svc", 0);
  Register("integration", "dep", 1001);
  Register("feat", "svc", 0);
  Put("integration", "svc", "watched", "1");
  Put("integration", "svc", "p.a", "a1");
  Put("integration", "svc", "n", "42");
  Put("integration", "svc", "flag", "Yes");
  Put("integration", "svc", "t", "1.5s");
  Put("integration", "svc", "shadowed", "i1");
  Put("integration", "dep", "p.d", "d1");
  Put("feat", "svc", "p.b", "b1");
  Put("feat", "svc", "shadowed", "f1");
  const std::string cache = dir_.path() + "/cache.json";
  auto adapter = std::make_unique<Adapter>(dir_.path(), 1, server_->address(),
                                           std::vector<std::string>{"svc", "dep"}, cache);
  ASSERT_TRUE(adapter->WaitForState(/*stale=*/false, last_revision_)) << adapter->StderrTail();
  ASSERT_TRUE(adapter->WaitRevision(last_revision_));
  // Whether callbacks registered after the start hear the first snapshot is the library's
  // business; from here on every change must be heard exactly once.
  size_t mark = adapter->Changes().size();
  json snapshot = adapter->Send({{"cmd", "snapshot"}});
  EXPECT_EQ(snapshot["entries"], ExpectedEntries());
  EXPECT_EQ(snapshot["stale"], false);
  EXPECT_EQ(snapshot["revision"], last_revision_);
  json watched = adapter->Get("svc", "watched");
  EXPECT_EQ(watched["value"], "1");
  EXPECT_EQ(watched["source_tenant"], "integration");
  EXPECT_EQ(adapter->Get("svc", "shadowed")["source_tenant"], "feat");
  EXPECT_EQ(adapter->Get("svc", "absent")["found"], false);
  auto typed = [&](const char* cmd, const char* key, json fallback) {
    return adapter->Send({{"cmd", cmd}, {"service", "svc"}, {"key", key}, {"fallback", fallback}})
        .value("value", json());
  };
  EXPECT_EQ(typed("get_int", "n", 7), 42);
  EXPECT_EQ(typed("get_int", "p.a", 7), 7);  // not a number
  EXPECT_EQ(typed("get_int", "absent", 7), 7);
  EXPECT_EQ(typed("get_bool", "flag", false), true);
  EXPECT_EQ(typed("get_bool", "n", true), true);  // 42 is no bool
  EXPECT_EQ(typed("get_duration_ms", "t", 5), 1500);
  EXPECT_EQ(typed("get_duration_ms", "p.a", 5), 5);
  json endpoint = adapter->Send({{"cmd", "endpoint"}, {"service", "dep"}, {"endpoint", "grpc"}});
  EXPECT_EQ(endpoint["address"], "127.0.0.1:1001");
  EXPECT_EQ(adapter->Send({{"cmd", "endpoint"}, {"service", "dep"}, {"endpoint", "http"}})["found"],
            false);

  // 2. Each change once, with old and new value and their sources; an override hides writes.
  Put("feat", "svc", "watched", "2");
  Put("integration", "svc", "p.a", "a2");
  Put("integration", "svc", "shadowed", "i2");  // feat overrides it: nothing to hear
  Delete("feat", "svc", "watched");             // falls back to integration's
  Put("feat", "dep", "p.x", "x1");
  Delete("integration", "svc", "p.a");
  ASSERT_TRUE(adapter->WaitRevision(last_revision_));
  std::vector<std::string> heard;
  for (const json& change : adapter->ChangesSince(mark)) heard.push_back(Describe(change));
  EXPECT_EQ(
      heard,
      (std::vector<std::string>{
          Describe("key", "svc", "watched", Value("1", "integration"), Value("2", "feat")),
          Describe("prefix", "svc", "p.a", Value("a1", "integration"), Value("a2", "integration")),
          Describe("key", "svc", "watched", Value("2", "feat"), Value("1", "integration")),
          Describe("prefix", "dep", "p.x", nullptr, Value("x1", "feat")),
          Describe("prefix", "svc", "p.a", Value("a2", "integration"), nullptr),
      }));
  for (const json& change : adapter->ChangesSince(mark)) {
    EXPECT_GT(change["revision"], 0);
    EXPECT_LE(change["revision"], last_revision_);
  }

  // 3. The endpoint follows the branch's registration, and back.
  Register("feat", "dep", 2001);
  ASSERT_TRUE(adapter->WaitRevision(last_revision_));
  EXPECT_EQ(adapter->Send({{"cmd", "endpoint"}, {"service", "dep"}, {"endpoint", "grpc"}})
                .value("address", ""),
            "127.0.0.1:2001");
  {
    int64_t revision = 0;
    ASSERT_TRUE(api_->Deregister("feat", {"dep"}, false, &revision).ok());
    last_revision_ = revision;
  }
  ASSERT_TRUE(adapter->WaitRevision(last_revision_));
  EXPECT_EQ(adapter->Send({{"cmd", "endpoint"}, {"service", "dep"}, {"endpoint", "grpc"}})
                .value("address", ""),
            "127.0.0.1:1001");

  // 4. Frozen while the server is killed, restarted and written to: every change once, in
  // order.
  mark = adapter->Changes().size();
  ASSERT_TRUE(StopProcess(adapter->pid()));
  KillAndRestartServer();
  std::vector<int64_t> revisions;
  std::vector<std::string> expected;
  for (int i = 1; i <= 40; ++i) {
    Put("feat", "svc", "p.seq", std::to_string(i));
    revisions.push_back(last_revision_);
    expected.push_back(Describe("prefix", "svc", "p.seq",
                                i == 1 ? json(nullptr) : Value(std::to_string(i - 1), "feat"),
                                Value(std::to_string(i), "feat")));
  }
  ASSERT_TRUE(ContinueProcess(adapter->pid()));
  ASSERT_TRUE(adapter->WaitRevision(last_revision_)) << adapter->StderrTail();
  std::vector<json> replayed = adapter->ChangesSince(mark);
  heard.clear();
  for (const json& change : replayed) heard.push_back(Describe(change));
  EXPECT_EQ(heard, expected);
  for (size_t i = 0; i < replayed.size() && i < revisions.size(); ++i) {
    EXPECT_EQ(replayed[i]["revision"], revisions[i]) << i;
  }
  const json before_down = ExpectedEntries();
  const int64_t revision_before_down = last_revision_;

  // 5. The cache is served while the server is down, flagged stale; resumed without
  // callbacks for what it had.
  EXPECT_EQ(adapter->Send({{"cmd", "quit"}}).value("ok", false), true);
  EXPECT_EQ(adapter->process().Wait(), 0);
  server_->Kill();
  adapter = std::make_unique<Adapter>(dir_.path(), 2, server_->address(),
                                      std::vector<std::string>{"svc", "dep"}, cache);
  snapshot = adapter->Send({{"cmd", "snapshot"}});
  EXPECT_EQ(snapshot["stale"], true);
  EXPECT_EQ(snapshot["revision"], revision_before_down);
  EXPECT_EQ(snapshot["entries"], before_down);
  EXPECT_EQ(adapter->Get("svc", "p.seq")["value"], "40");
  ASSERT_TRUE(server_->Restart());
  Connect();
  ASSERT_TRUE(adapter->WaitForState(/*stale=*/false)) << adapter->StderrTail();
  Put("feat", "svc", "p.new", "1");
  ASSERT_TRUE(adapter->WaitRevision(last_revision_));
  heard.clear();
  for (const json& change : adapter->Changes()) heard.push_back(Describe(change));
  EXPECT_EQ(heard, std::vector<std::string>{
                       Describe("prefix", "svc", "p.new", nullptr, Value("1", "feat"))});

  // 6. Frozen across a restart and a compaction of the change log: the resync is heard as
  // exactly the differences.
  mark = adapter->Changes().size();
  ASSERT_TRUE(StopProcess(adapter->pid()));
  KillAndRestartServer();
  Put("feat", "svc", "p.seq", "41");
  Put("integration", "svc", "p.added", "1");
  Delete("feat", "svc", "p.b");
  Put("feat", "svc", "p.tmp", "1");
  Delete("feat", "svc", "p.tmp");  // came and went: nothing to hear
  {
    v1::CompactHistoryRequest compact;
    compact.mutable_older_than()->set_seconds(0);
    compact.set_keep_change_log_revisions(1);
    v1::CompactHistoryResponse compacted;
    grpc::ClientContext ctx;
    grpc::Status status = admin_->CompactHistory(&ctx, compact, &compacted);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_TRUE(ContinueProcess(adapter->pid()));
  ASSERT_TRUE(adapter->WaitRevision(last_revision_)) << adapter->StderrTail();
  heard.clear();
  for (const json& change : adapter->ChangesSince(mark)) heard.push_back(Describe(change));
  std::sort(heard.begin(), heard.end());  // a resync's differences come in no set order
  std::vector<std::string> differences = {
      Describe("prefix", "svc", "p.added", nullptr, Value("1", "integration")),
      Describe("prefix", "svc", "p.b", Value("b1", "feat"), nullptr),
      Describe("prefix", "svc", "p.seq", Value("40", "feat"), Value("41", "feat")),
  };
  std::sort(differences.begin(), differences.end());
  EXPECT_EQ(heard, differences);
  EXPECT_EQ(adapter->Send({{"cmd", "snapshot"}})["entries"], ExpectedEntries());
  EXPECT_EQ(adapter->Send({{"cmd", "quit"}}).value("ok", false), true);
  EXPECT_EQ(adapter->process().Wait(), 0);
}

}  // namespace
}  // namespace confcenter::testing
