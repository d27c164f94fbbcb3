// confctl end to end: the real binary against the real confcenterd on loopback, checking
// stdout, stderr and exit codes of every command.
#include <chrono>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/confctl/codec.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

using confctl::DecodeConfig;
using confctl::FileFormat;
using confctl::FlatMap;
using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char kUnicode[] = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93";  // "héllo wörld ✓"

// The revision in "... at revision N" (the last number of the first line), or -1.
int64_t RevisionOf(const std::string& out) {
  std::smatch match;
  if (!std::regex_search(out, match, std::regex("at revision ([0-9]+)"))) return -1;
  return std::stoll(match[1]);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// One confcenterd for the whole suite; every test uses its own tenants.
class ConfctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new ServerProcess(dir_->path() + "/data");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  void SetUp() override { ASSERT_NE(server_->port(), 0) << "confcenterd did not start"; }

  // Runs confctl against the suite's server.
  ConfctlResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    return RunConfctl(args, server_->address(), input);
  }
  // Runs confctl and expects exit 0; returns stdout.
  std::string Ok(const std::vector<std::string>& args, const std::string& input = "") {
    ConfctlResult result = Run(args, input);
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << result.err;
    return result.out;
  }
  // Registers `tenant` (parent integration) with `services`.
  void Register(const std::string& tenant, const std::vector<std::string>& services) {
    std::vector<std::string> args = {"register", tenant};
    for (const std::string& service : services) {
      args.push_back("--service");
      args.push_back(service);
    }
    Ok(args);
  }
  std::string TempPath(const std::string& name) { return dir_->path() + "/" + name; }

  static TempDir* dir_;
  static ServerProcess* server_;
};

TempDir* ConfctlTest::dir_ = nullptr;
ServerProcess* ConfctlTest::server_ = nullptr;

TEST(ConfctlNoServerTest, TenantNameNormalizesBranches) {
  const std::pair<std::string, std::string> cases[] = {
      {"feature/Login_v2", "feature-login-v2"},
      {"--Feat__X--", "feat-x"},
      {"devops-integrate", "devops-integrate"},
      {"release/2024.06", "release-2024-06"},
      {"feature/" + std::string(70, 'a'), "feature-" + std::string(55, 'a')},
  };
  for (const auto& [branch, tenant] : cases) {
    // "--" ends the options, for a name that starts with "-".
    ConfctlResult result = RunConfctl({"tenant-name", "--", branch}, "127.0.0.1:1");
    EXPECT_EQ(result.exit_code, 0) << branch << ": " << result.err;
    EXPECT_EQ(result.out, tenant + "\n") << branch;
  }
  // The branch that deploys to the shared environment maps to integration; others as usual.
  ConfctlResult shared = RunConfctl(
      {"tenant-name", "devops-integrate", "--integration-branch", "devops-integrate"}, "");
  EXPECT_EQ(shared.out, "integration\n") << shared.err;
  ConfctlResult other =
      RunConfctl({"tenant-name", "feature/x", "--integration-branch", "devops-integrate"}, "");
  EXPECT_EQ(other.out, "feature-x\n") << other.err;
  ConfctlResult json = RunConfctl({"-o", "json", "tenant-name", "feature/Login_v2"}, "");
  EXPECT_EQ(Json::parse(json.out)["tenant"], "feature-login-v2");
  ConfctlResult empty = RunConfctl({"tenant-name", "///"}, "");
  EXPECT_EQ(empty.exit_code, 6);
  EXPECT_EQ(empty.err.rfind("confctl: INVALID_ARGUMENT: ", 0), 0u) << empty.err;
}

TEST(ConfctlNoServerTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"get", "t", "s"},
      {"-o", "xml", "tenants"},
      {"--timeout", "soon", "tenants"},
      {"put", "t", "s", "k", "v", "--content-type", "xml"},
      {"put", "t", "s", "k", "v", "--expected-revision", "abc"},
      {"register", "t", "--root", "--parent", "p"},
      {"register", "t", "--label", "a=b"},
      {"register", "t", "--service", "s", "--label", "novalue"},
      {"deregister", "t"},
      {"deregister", "t", "s", "--all"},
      {"export", "t", "s", "--own", "--resolved"},
      {"export", "t", "s", "--format", "toml"},
      {"import", "t", "s", "/nonexistent/file.yaml"},
      {"import", "t", "s", "file.toml"},
      {"txn", "-f", "/nonexistent/ops.yaml"},
      {"txn"},
  };
  for (const auto& args : cases) {
    ConfctlResult result = RunConfctl(args, "127.0.0.1:1");
    EXPECT_EQ(result.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << result.err;
    EXPECT_EQ(result.err.rfind("confctl: usage: ", 0), 0u) << result.err;
    EXPECT_EQ(Lines(result.err).size(), 1u) << result.err;
  }
  ConfctlResult help = RunConfctl({"--help"}, "");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(help.out.find("3  not found"), std::string::npos);
}

TEST_F(ConfctlTest, PutGetDeleteMask) {
  Register("pgdm", {"a"});
  std::string out = Ok({"put", "pgdm", "a", "pool.size", "8"});
  EXPECT_EQ(out.rfind("put pgdm/a/pool.size at revision ", 0), 0u) << out;
  const int64_t revision = RevisionOf(out);
  EXPECT_GT(revision, 0);

  out = Ok({"get", "pgdm", "a", "pool.size"});
  ASSERT_EQ(Lines(out).size(), 2u) << out;
  EXPECT_EQ(Lines(out)[0], "SERVICE  KEY        KIND   TYPE  REVISION  VALUE");
  EXPECT_EQ(Lines(out)[1],
            absl::StrCat("a        pool.size  value  text  ", revision,
                         std::string(8 - std::to_string(revision).size(), ' '), "  8"));

  Json json = Json::parse(Ok({"-o", "json", "get", "pgdm", "a", "pool.size"}));
  EXPECT_EQ(json["entry"]["value"], "8");
  EXPECT_EQ(json["entry"]["revision"], std::to_string(revision));
  EXPECT_EQ(json["entry"]["content_type"], "CONTENT_TYPE_TEXT");

  out = Ok({"put", "pgdm", "a", "doc", "{\"x\": 1}", "--content-type", "json"});
  out = Ok({"-o", "yaml", "get", "pgdm", "a", "doc"});
  EXPECT_NE(out.find("content_type: CONTENT_TYPE_JSON"), std::string::npos) << out;
  EXPECT_NE(out.find("value: \"{\\\"x\\\": 1}\""), std::string::npos) << out;

  out = Ok({"delete", "pgdm", "a", "pool.size"});
  EXPECT_EQ(out.rfind("deleted pgdm/a/pool.size at revision ", 0), 0u) << out;
  ConfctlResult gone = Run({"get", "pgdm", "a", "pool.size"});
  EXPECT_EQ(gone.exit_code, 3);
  EXPECT_EQ(gone.err.rfind("confctl: NOT_FOUND: ", 0), 0u) << gone.err;
  EXPECT_TRUE(gone.out.empty());

  out = Ok({"mask", "pgdm", "a", "endpoint"});
  EXPECT_EQ(out.rfind("masked pgdm/a/endpoint at revision ", 0), 0u) << out;
  out = Ok({"get", "pgdm", "a", "endpoint"});
  EXPECT_NE(Lines(out)[1].find(" mask "), std::string::npos) << out;

  // A value that looks like an option, after "--".
  Ok({"put", "pgdm", "a", "neg", "--", "-1"});
  EXPECT_EQ(Json::parse(Ok({"-o", "json", "get", "pgdm", "a", "neg"}))["entry"]["value"], "-1");
}

TEST_F(ConfctlTest, CompareAndSetConflictExitsFour) {
  Register("cas", {"a"});
  const int64_t created =
      RevisionOf(Ok({"put", "cas", "a", "k", "v1", "--expected-revision", "0"}));
  ConfctlResult again = Run({"put", "cas", "a", "k", "v2", "--expected-revision", "0"});
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_EQ(again.err.rfind("confctl: FAILED_PRECONDITION: ", 0), 0u) << again.err;
  const int64_t updated = RevisionOf(
      Ok({"put", "cas", "a", "k", "v2", "--expected-revision", std::to_string(created)}));
  EXPECT_GT(updated, created);
  EXPECT_EQ(
      Run({"delete", "cas", "a", "k", "--expected-revision", std::to_string(created)}).exit_code,
      4);
  EXPECT_EQ(
      Run({"mask", "cas", "a", "k", "--expected-revision", std::to_string(created)}).exit_code, 4);
  Ok({"delete", "cas", "a", "k", "--expected-revision", std::to_string(updated)});
}

TEST_F(ConfctlTest, BadNamesExitSix) {
  Register("badnames", {"a"});
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"put", "Bad_Tenant", "a", "k", "v"},
                                             {"put", "badnames", "a", "a..b", "v"},
                                             {"put", "badnames", "a-", "k", "v"},
                                             {"get", "badnames", "a", "_reserved"},
                                             {"register", "UPPER"}}) {
    ConfctlResult result = Run(args);
    EXPECT_EQ(result.exit_code, 6) << absl::StrJoin(args, " ") << "\n" << result.err;
    EXPECT_EQ(result.err.rfind("confctl: INVALID_ARGUMENT: ", 0), 0u) << result.err;
    EXPECT_EQ(Lines(result.err).size(), 1u) << result.err;
  }
}

TEST_F(ConfctlTest, UnknownTenantExitsThree) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"get", "nosuch", "a", "k"},
                                                                {"put", "nosuch", "a", "k", "v"},
                                                                {"resolve", "nosuch"},
                                                                {"list", "nosuch"},
                                                                {"tenant", "nosuch"},
                                                                {"watch", "nosuch"},
                                                                {"export", "nosuch", "a"}}) {
    ConfctlResult result = Run(args);
    EXPECT_EQ(result.exit_code, 3) << absl::StrJoin(args, " ") << "\n" << result.err;
    EXPECT_EQ(result.err.rfind("confctl: NOT_FOUND: ", 0), 0u) << result.err;
  }
}

TEST_F(ConfctlTest, ServerDownExitsFiveQuickly) {
  TempDir dir;
  ServerProcess down(dir.path() + "/data");
  ASSERT_NE(down.port(), 0);
  const std::string address = down.address();
  ASSERT_EQ(down.Stop(), 0);
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--timeout", "1s", "get", "t", "s", "k"},
                                             {"--timeout", "1s", "put", "t", "s", "k", "v"},
                                             {"--timeout", "1s", "tenants"},
                                             {"--timeout", "1s", "watch", "t"}}) {
    const auto start = std::chrono::steady_clock::now();
    ConfctlResult result = RunConfctl(args, address);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(result.exit_code, 5) << absl::StrJoin(args, " ") << "\n" << result.err;
    EXPECT_EQ(result.err.rfind("confctl: UNAVAILABLE: ", 0), 0u) << result.err;
    EXPECT_LT(elapsed, seconds(3)) << absl::StrJoin(args, " ");
  }
  // --server wins over CONFCENTER_ADDR.
  ConfctlResult flag = RunConfctl({"--server", server_->address(), "tenants"}, address);
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
}

TEST_F(ConfctlTest, ResolveShowsSourceTenant) {
  Ok({"register", "integration", "--service", "rsvc"});
  Register("rbranch", {"rsvc"});
  Ok({"put", "integration", "rsvc", "endpoint", "rsvc.integration:8080"});
  Ok({"put", "integration", "rsvc", "timeout", "5s"});
  Ok({"put", "integration", "rsvc", "hidden", "x"});
  Ok({"put", "rbranch", "rsvc", "endpoint", "rsvc.rbranch:8080"});
  Ok({"mask", "rbranch", "rsvc", "hidden"});
  const std::vector<std::string> lines = Lines(Ok({"resolve", "rbranch", "rsvc"}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("SERVICE  KEY       SOURCE       REVISION  TYPE  VALUE", 0), 0u)
      << lines[0];
  EXPECT_EQ(lines[1].rfind("rsvc     endpoint  rbranch      ", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find("rsvc.rbranch:8080"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].rfind("rsvc     timeout   integration  ", 0), 0u) << lines[2];

  Json json = Json::parse(Ok({"-o", "json", "resolve", "rbranch", "rsvc"}));
  EXPECT_EQ(json["chain"], Json::array({"rbranch", "integration"}));
  ASSERT_EQ(json["entries"].size(), 2u);
  EXPECT_EQ(json["entries"][0]["source_tenant"], "rbranch");
  EXPECT_EQ(json["entries"][1]["source_tenant"], "integration");
}

TEST_F(ConfctlTest, TableCutsLongValuesButJsonDoesNot) {
  Register("cut", {"a"});
  const std::string long_value(200, 'x');
  Ok({"put", "cut", "a", "long", long_value});
  Ok({"put", "cut", "a", "multi", "first line\nsecond line"});
  Ok({"put", "cut", "a", "uni", kUnicode});
  const std::string table = Ok({"list", "cut"});
  EXPECT_NE(table.find(std::string(57, 'x') + "...\n"), std::string::npos) << table;
  EXPECT_EQ(table.find(std::string(58, 'x')), std::string::npos) << table;
  EXPECT_NE(table.find("first line...\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("second line"), std::string::npos) << table;
  EXPECT_NE(table.find(std::string(kUnicode) + "\n"), std::string::npos) << table;
  Json json = Json::parse(Ok({"-o", "json", "list", "cut"}));
  ASSERT_EQ(json["entries"].size(), 3u);
  EXPECT_EQ(json["entries"][0]["value"], long_value);
  EXPECT_EQ(json["entries"][1]["value"], "first line\nsecond line");
  EXPECT_EQ(json["entries"][2]["value"], kUnicode);
}

TEST_F(ConfctlTest, TxnFromYamlFileAndJsonStdin) {
  Register("txn", {"a", "b"});
  Ok({"put", "integration", "b", "shared", "from-integration"});
  const int64_t old = RevisionOf(Ok({"put", "txn", "a", "old", "1"}));
  const std::string path = TempPath("ops.yaml");
  WriteFile(path,
            "- {type: put, tenant: txn, service: a, key: pool.size, value: 8}\n"
            "- {type: put, tenant: txn, service: a, key: doc, value: '{}', content_type: json}\n"
            "- {type: delete, tenant: txn, service: a, key: old, expected_revision: " +
                std::to_string(old) +
                "}\n"
                "- {type: mask, tenant: txn, service: b, key: shared}\n");
  std::string out = Ok({"txn", "-f", path});
  EXPECT_EQ(out.rfind("txn of 4 ops at revision ", 0), 0u) << out;
  const int64_t revision = RevisionOf(out);
  Json view = Json::parse(Ok({"-o", "json", "resolve", "txn", "a", "b"}));
  ASSERT_EQ(view["entries"].size(), 2u) << view.dump();
  EXPECT_EQ(view["entries"][0]["key"], "doc");
  EXPECT_EQ(view["entries"][0]["content_type"], "CONTENT_TYPE_JSON");
  EXPECT_EQ(view["entries"][1]["key"], "pool.size");
  EXPECT_EQ(view["entries"][1]["revision"], std::to_string(revision));

  // JSON on stdin; a stale expected revision fails the whole Txn.
  const std::string ops = absl::StrCat(
      R"([{"type": "put", "tenant": "txn", "service": "a", "key": "new", "value": "x"},
          {"type": "put", "tenant": "txn", "service": "a", "key": "pool.size", "value": "9",
           "expected_revision": )",
      revision - 1, "}]");
  ConfctlResult conflict = Run({"txn", "-f", "-"}, ops);
  EXPECT_EQ(conflict.exit_code, 4) << conflict.err;
  EXPECT_EQ(Run({"get", "txn", "a", "new"}).exit_code, 3);
  Json ok = Json::parse(Ok({"-o", "json", "txn", "-f", "-"},
                           R"({"ops": [{"type": "put", "tenant": "txn", "service": "a",
                                         "key": "new", "value": "x"}]})"));
  EXPECT_GT(std::stoll(ok["revision"].get<std::string>()), revision);

  ConfctlResult malformed = Run({"txn", "-f", "-"}, "- {type: upsert, tenant: txn}\n");
  EXPECT_EQ(malformed.exit_code, 6);
  EXPECT_NE(malformed.err.find("ops[0].type"), std::string::npos) << malformed.err;
}

TEST_F(ConfctlTest, RegisterTenantsTenantDeregister) {
  std::string out = Ok({"register", "regt", "--service", "a", "--service", "b", "--label",
                        "commit=3f2c1e", "--label", "owner=team-x"});
  EXPECT_EQ(out.rfind("registered regt (created, parent integration) at revision ", 0), 0u) << out;
  out = Ok({"register", "regt"});
  EXPECT_NE(out.find("(existing, parent integration)"), std::string::npos) << out;
  Ok({"register", "regt-child", "--parent", "regt"});
  Ok({"register", "regroot", "--root"});

  out = Ok({"tenant", "regt"});
  EXPECT_NE(out.find("service   a (commit=3f2c1e, owner=team-x) registered at revision "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("service   b (commit=3f2c1e, owner=team-x) registered at revision "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("chain     regt -> integration\n"), std::string::npos) << out;
  EXPECT_NE(out.find("children  regt-child\n"), std::string::npos) << out;

  Json tenant = Json::parse(Ok({"-o", "json", "tenant", "regt-child"}));
  EXPECT_EQ(tenant["tenant"]["chain"], Json::array({"regt-child", "regt", "integration"}));

  const std::vector<std::string> rows = Lines(Ok({"tenants"}));
  EXPECT_TRUE(
      std::regex_match(rows[0], std::regex("NAME +PARENT +SERVICES +CHILDREN +KEYS +REVISION")))
      << rows[0];
  bool saw_root = false;
  for (const std::string& row : rows) saw_root |= row.rfind("regroot      (root)", 0) == 0;
  EXPECT_TRUE(saw_root) << absl::StrJoin(rows, "\n");
  Json all = Json::parse(Ok({"-o", "json", "tenants"}));
  EXPECT_GE(all["tenants"].size(), 4u);

  ConfctlResult has_children = Run({"deregister", "regt", "--all"});
  EXPECT_EQ(has_children.exit_code, 4) << has_children.err;
  out = Ok({"deregister", "regt", "b"});
  EXPECT_EQ(out.rfind("deregistered regt: removed b (0 keys) at revision ", 0), 0u) << out;
  Ok({"deregister", "regt-child", "--all"});
  out = Ok({"deregister", "regt", "--all"});
  EXPECT_EQ(out.rfind("deregistered regt: tenant removed", 0), 0u) << out;
  EXPECT_EQ(Run({"tenant", "regt"}).exit_code, 3);
  EXPECT_EQ(Run({"deregister", "integration", "--all"}).exit_code, 4);
}

TEST_F(ConfctlTest, WatchPrintsSnapshotThenEventsAsTheyArrive) {
  Register("watchme", {"a"});
  Ok({"put", "watchme", "a", "before", "b0"});
  ConfctlProcess watch({"watch", "watchme", "a", "--count", "2"}, server_->address());
  std::string line;
  ASSERT_TRUE(watch.ReadLine(&line, seconds(10))) << watch.err();
  EXPECT_EQ(line.rfind("REVISION  TYPE      SERVICE           KEY", 0), 0u) << line;
  ASSERT_TRUE(watch.ReadLine(&line, seconds(10))) << watch.err();
  EXPECT_NE(line.find("SNAPSHOT  a                 before"), std::string::npos) << line;
  EXPECT_NE(line.find("b0"), std::string::npos) << line;
  EXPECT_NE(line.find("watchme"), std::string::npos) << line;

  // Each event is printed as soon as it happens (the process is still running).
  const int64_t first = RevisionOf(Ok({"put", "watchme", "a", "live", kUnicode}));
  ASSERT_TRUE(watch.ReadLine(&line, seconds(10))) << watch.err();
  EXPECT_EQ(line.rfind(std::to_string(first) + " ", 0), 0u) << line;
  EXPECT_NE(line.find("PUT       a                 live"), std::string::npos) << line;
  EXPECT_NE(line.find(kUnicode), std::string::npos) << line;
  EXPECT_NE(line.find("  watchme"), std::string::npos) << line;

  Ok({"delete", "watchme", "a", "before"});
  ASSERT_TRUE(watch.ReadLine(&line, seconds(10))) << watch.err();
  EXPECT_NE(line.find("DELETE    a                 before"), std::string::npos) << line;
  std::string rest;
  EXPECT_EQ(watch.Wait(seconds(10), &rest), 0) << watch.err();
  EXPECT_EQ(rest, "");
}

TEST_F(ConfctlTest, WatchFromRevisionJsonAndYaml) {
  Register("watchrev", {"a"});
  const int64_t start = RevisionOf(Ok({"put", "watchrev", "a", "k", "v1"}));
  Ok({"put", "watchrev", "a", "k", "v2"});
  Ok({"put", "watchrev", "a", "k", "v3"});
  ConfctlResult json = RunConfctl(
      {"-o", "json", "watch", "watchrev", "--from-revision", std::to_string(start), "--count", "2"},
      server_->address(), "", seconds(10));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const std::vector<std::string> docs = Lines(json.out);
  ASSERT_EQ(docs.size(), 2u) << json.out;
  EXPECT_EQ(Json::parse(docs[0])["kind"], "SUBSCRIBE_RESPONSE_KIND_EVENTS");
  EXPECT_EQ(Json::parse(docs[0])["events"][0]["value"], "v2");
  EXPECT_EQ(Json::parse(docs[1])["events"][0]["value"], "v3");
  EXPECT_EQ(Json::parse(docs[1])["events"][0]["source_tenant"], "watchrev");

  ConfctlResult yaml = RunConfctl(
      {"-o", "yaml", "watch", "watchrev", "--from-revision", std::to_string(start), "--count", "1"},
      server_->address(), "", seconds(10));
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_EQ(yaml.out.rfind("---\nkind: SUBSCRIBE_RESPONSE_KIND_EVENTS\n", 0), 0u) << yaml.out;
  EXPECT_NE(yaml.out.find("value: v2\n"), std::string::npos) << yaml.out;
}

// The document every import/export round trip uses, in three spellings.
const char kYamlDoc[] =
    "db:\n"
    "  host: db.internal\n"
    "  port: 5432\n"
    "  replicas: [r1, r2]\n"
    "  pool: {min: 1, max: 8}\n"
    "feature.flags.login: true\n"
    "greeting: \"h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93\"\n"
    "servers:\n"
    "  - name: a\n"
    "    weight: 1\n"
    "  - name: b\n"
    "    weight: 2\n"
    "empty: \"\"\n";
const char kJsonDoc[] =
    R"({"db": {"host": "db.internal", "port": 5432, "replicas": ["r1", "r2"],
               "pool": {"min": 1, "max": 8}},
        "feature.flags.login": true,
        "greeting": "h\u00e9llo w\u00f6rld \u2713",
        "servers": [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}],
        "empty": ""})";
const char kPropertiesDoc[] =
    "# the same keys, flat\n"
    "db.host=db.internal\n"
    "db.port = 5432\n"
    "db.replicas.0=r1\n"
    "db.replicas.1=r2\n"
    "db.pool.min=1\n"
    "db.pool.max:8\n"
    "feature.flags.login=true\n"
    "greeting=h\\u00e9llo w\xC3\xB6rld \\u2713\n"
    "servers.0.name=a\n"
    "servers.0.weight=1\n"
    "servers.1.name=b\n"
    "servers.1.weight=2\n"
    "empty=\n";

const FlatMap& ExpectedKeys() {
  static const FlatMap* keys = new FlatMap{{"db.host", "db.internal"},
                                           {"db.port", "5432"},
                                           {"db.replicas.0", "r1"},
                                           {"db.replicas.1", "r2"},
                                           {"db.pool.min", "1"},
                                           {"db.pool.max", "8"},
                                           {"feature.flags.login", "true"},
                                           {"greeting", kUnicode},
                                           {"servers.0.name", "a"},
                                           {"servers.0.weight", "1"},
                                           {"servers.1.name", "b"},
                                           {"servers.1.weight", "2"},
                                           {"empty", ""}};
  return *keys;
}

struct RoundTripCase {
  std::string format;
  std::string file;
  const char* text;
  FileFormat codec;
};

TEST_F(ConfctlTest, ImportExportRoundTripsEveryFormat) {
  const RoundTripCase cases[] = {
      {"yaml", "app.yaml", kYamlDoc, FileFormat::kYaml},
      {"json", "app.json", kJsonDoc, FileFormat::kJson},
      {"properties", "app.properties", kPropertiesDoc, FileFormat::kProperties},
  };
  Register("roundtrip",
           {"yaml", "json", "properties", "copy-yaml", "copy-json", "copy-properties"});
  for (const RoundTripCase& c : cases) {
    SCOPED_TRACE(c.format);
    const std::string path = TempPath(c.file);
    WriteFile(path, c.text);
    std::string out = Ok({"import", "roundtrip", c.format, path});
    EXPECT_EQ(out.rfind("imported 13 keys into roundtrip/" + c.format + " at revision ", 0), 0u)
        << out;
    Json listed = Json::parse(Ok({"-o", "json", "list", "roundtrip", "--service", c.format}));
    FlatMap stored;
    for (const Json& entry : listed["entries"]) stored[entry["key"]] = entry["value"];
    EXPECT_EQ(stored, ExpectedKeys());

    // Export in the same format, decode it, import it again elsewhere: same keys.
    const std::string exported = Ok({"export", "roundtrip", c.format, "--format", c.format});
    absl::StatusOr<FlatMap> decoded = DecodeConfig(exported, c.codec);
    ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n" << exported;
    EXPECT_EQ(*decoded, ExpectedKeys()) << exported;
    const std::string copy = TempPath("copy." + c.format);
    out = Ok({"export", "roundtrip", c.format, "--format", c.format, "-f", copy});
    EXPECT_EQ(out, "exported 13 keys of roundtrip/" + c.format + " to " + copy + "\n");
    Ok({"import", "roundtrip", "copy-" + c.format, copy});
    EXPECT_EQ(Ok({"export", "roundtrip", "copy-" + c.format, "--format", c.format}), exported);
  }
}

TEST_F(ConfctlTest, ExportNestsAndEscapes) {
  Register("exp", {"a"});
  Ok({"import", "exp", "a", "-", "--format", "yaml"}, kYamlDoc);
  const std::string yaml = Ok({"export", "exp", "a"});
  EXPECT_NE(yaml.find("db:\n  host: db.internal\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  replicas:\n    - r1\n    - r2\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("feature:\n  flags:\n    login: \"true\"\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find(std::string("greeting: ") + kUnicode + "\n"), std::string::npos) << yaml;
  Json json = Json::parse(Ok({"export", "exp", "a", "--format", "json"}));
  EXPECT_EQ(json["servers"][1]["weight"], "2");
  EXPECT_EQ(json["greeting"], kUnicode);
  const std::string properties = Ok({"export", "exp", "a", "--format", "properties"});
  EXPECT_NE(properties.find("greeting=h\\u00E9llo w\\u00F6rld \\u2713\n"), std::string::npos)
      << properties;
  EXPECT_NE(properties.find("db.replicas.0=r1\n"), std::string::npos) << properties;
}

TEST_F(ConfctlTest, ExportResolvedOrOwn) {
  Ok({"register", "integration", "--service", "eo"});
  Register("eobranch", {"eo"});
  Ok({"put", "integration", "eo", "shared", "from-integration"});
  Ok({"put", "integration", "eo", "masked", "hidden"});
  Ok({"put", "eobranch", "eo", "own", "mine"});
  Ok({"mask", "eobranch", "eo", "masked"});
  EXPECT_EQ(Ok({"export", "eobranch", "eo", "--format", "properties"}),
            "own=mine\nshared=from-integration\n");
  EXPECT_EQ(Ok({"export", "eobranch", "eo", "--resolved", "--format", "properties"}),
            "own=mine\nshared=from-integration\n");
  EXPECT_EQ(Ok({"export", "eobranch", "eo", "--own", "--format", "properties"}), "own=mine\n");
}

TEST_F(ConfctlTest, ImportSplitsLargeFilesAndListFollowsPages) {
  Register("big", {"a"});
  std::string properties;
  for (int i = 0; i < 1100; ++i) absl::StrAppend(&properties, "key.", i, "=value ", i, "\n");
  ConfctlResult result = Run({"import", "big", "a", "-", "--format", "properties"}, properties);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("1100 keys do not fit in one Txn (at most 128 ops): writing them "
                            "in 9 Txns, so the import is not atomic"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.out.rfind("imported 1100 keys into big/a in 9 txns at revisions ", 0), 0u)
      << result.out;
  // More than one page of List (1000 per page).
  EXPECT_EQ(Lines(Ok({"list", "big"})).size(), 1101u);
  Json listed = Json::parse(Ok({"-o", "json", "list", "big", "--prefix", "key.10"}));
  EXPECT_EQ(listed["entries"].size(), 111u);  // key.10, key.100-109, key.1000-1099
  EXPECT_EQ(listed["next_page_token"], "");
}

TEST_F(ConfctlTest, ImportRejectsBadFilesBeforeWriting) {
  Register("badimport", {"a"});
  ConfctlResult bad_key =
      Run({"import", "badimport", "a", "-", "--format", "yaml"}, "good: 1\n\"bad key\": 2\n");
  EXPECT_EQ(bad_key.exit_code, 6) << bad_key.err;
  EXPECT_NE(bad_key.err.find("bad key"), std::string::npos) << bad_key.err;
  ConfctlResult bad_yaml = Run({"import", "badimport", "a", "-", "--format", "yaml"}, "a: [\n");
  EXPECT_EQ(bad_yaml.exit_code, 6) << bad_yaml.err;
  ConfctlResult bad_escape =
      Run({"import", "badimport", "a", "-", "--format", "properties"}, "a=\\uZZZZ\n");
  EXPECT_EQ(bad_escape.exit_code, 6) << bad_escape.err;
  EXPECT_EQ(Json::parse(Ok({"-o", "json", "list", "badimport"}))["entries"].size(), 0u);
}

// The forms people type: register TENANT SERVICE... beside --service; unknown flags and
// commands get the nearest known one suggested.
TEST_F(ConfctlTest, PositionalServicesAndSuggestions) {
  Ok({"register", "pos-a", "orders", "payments", "--service", "users"});
  const std::string tenant = Ok({"tenant", "pos-a"});
  for (const char* service : {"orders", "payments", "users"}) {
    EXPECT_NE(tenant.find(service), std::string::npos) << tenant;
  }
  ConfctlResult typo = Run({"--sevrer", "127.0.0.1:1", "tenants"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean --server for --sevrer?"), std::string::npos) << typo.err;
  typo = Run({"regster", "pos-b"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean register for regster?"), std::string::npos) << typo.err;
  typo = Run({"put", "pos-a", "orders", "k", "v", "--expected-revison=3"});
  EXPECT_NE(typo.err.find("did you mean --expected-revision"), std::string::npos) << typo.err;
  // Nothing near: no guess.
  typo = Run({"tenants", "--zzzzzzzz"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_EQ(typo.err.find("did you mean"), std::string::npos) << typo.err;
}

// Every command's help ends with an example line, found by walking the command tree.
TEST_F(ConfctlTest, EveryCommandHasAnExample) {
  std::vector<std::vector<std::string>> pending = {{}};
  int leaves = 0;
  while (!pending.empty()) {
    std::vector<std::string> path = pending.back();
    pending.pop_back();
    std::vector<std::string> args = path;
    args.push_back("--help");
    const std::string help = Run(args).out;
    const size_t at = help.find("\nSubcommands:\n");
    if (at == std::string::npos) {
      ++leaves;
      EXPECT_NE(help.find("\nExample:\n  confctl "), std::string::npos)
          << absl::StrJoin(path, " ") << " has no example:\n"
          << help;
      continue;
    }
    const size_t end = help.find("\n\n", at + 1);
    for (const std::string& line : Lines(
             help.substr(at + 13, end == std::string::npos ? std::string::npos : end - at - 13))) {
      std::vector<std::string> sub = path;
      sub.push_back(std::string(absl::StripLeadingAsciiWhitespace(line).substr(
          0, absl::StripLeadingAsciiWhitespace(line).find(' '))));
      pending.push_back(sub);
    }
  }
  EXPECT_GE(leaves, 45);
}

}  // namespace
}  // namespace confcenter::testing
