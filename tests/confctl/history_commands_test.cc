// confctl history, releases, release, rollback, diff, audit, txn --message and the release
// workflow (review, drafts, draft, promote, reset): the real binary against the real
// confcenterd.
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

using Json = nlohmann::json;

int64_t RevisionOf(const std::string& out) {
  std::smatch match;
  if (!std::regex_search(out, match, std::regex("at revision ([0-9]+)"))) return -1;
  return std::stoll(match[1]);
}

class ConfctlHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0);
  }
  ConfctlResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    return RunConfctl(args, server_->address(), input);
  }
  std::string Ok(const std::vector<std::string>& args, const std::string& input = "") {
    ConfctlResult result = Run(args, input);
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << result.err;
    return result.out;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ConfctlHistoryTest, HistoryReleasesRollbackAndAudit) {
  Ok({"register", "f1", "--service", "a"});
  const int64_t first = RevisionOf(Ok({"--user", "alice", "put", "f1", "a", "db.url", "u1"}));
  Ok({"--user", "bob", "put", "f1", "a", "db.url", "u2"});
  Ok({"mask", "f1", "a", "hidden"});
  const std::string txn = Ok({"--user", "carol", "txn", "-f", "-", "--message", "pool to 8"},
                             "- {type: put, tenant: f1, service: a, key: pool, value: '8'}\n");
  const int64_t release = RevisionOf(txn);

  // history: newest first per key, with authors, kinds and the release id.
  std::string out = Ok({"history", "f1", "a"});
  EXPECT_NE(out.find("SERVICE  KEY     REVISION  KIND   AUTHOR"), std::string::npos) << out;
  EXPECT_LT(out.find("bob"), out.find("alice")) << out;
  EXPECT_NE(out.find("mask"), std::string::npos) << out;
  Json history = Json::parse(Ok({"-o", "json", "history", "f1", "a", "pool"}));
  ASSERT_EQ(history["versions"].size(), 1u);
  EXPECT_EQ(history["versions"][0]["author"], "carol");
  EXPECT_EQ(history["versions"][0]["release_id"], std::to_string(release));
  EXPECT_EQ(history["versions"][0]["message"], "pool to 8");

  // releases / release.
  out = Ok({"releases", "f1"});
  EXPECT_NE(out.find("pool to 8"), std::string::npos) << out;
  out = Ok({"release", std::to_string(release)});
  EXPECT_NE(out.find("release " + std::to_string(release) + " by carol"), std::string::npos) << out;
  EXPECT_EQ(Run({"release", std::to_string(first)}).exit_code, 3);  // a plain put: not found

  // rollback: the dry run writes nothing, the real one restores u1 and drops the rest.
  out = Ok({"rollback", "f1", "--to-revision", std::to_string(first), "--dry-run"});
  EXPECT_NE(out.find("would write 3 keys"), std::string::npos) << out;
  EXPECT_NE(Ok({"get", "f1", "a", "db.url"}).find("u2"), std::string::npos);
  out = Ok(
      {"--user", "dave", "rollback", "f1", "--to-revision", std::to_string(first), "-m", "undo"});
  EXPECT_NE(out.find("rolled f1 back to revision"), std::string::npos) << out;
  const int64_t rolled = RevisionOf(out);
  EXPECT_NE(Ok({"get", "f1", "a", "db.url"}).find("u1"), std::string::npos);
  EXPECT_EQ(Run({"get", "f1", "a", "hidden"}).exit_code, 3);
  Json json = Json::parse(Ok({"-o", "json", "releases", "f1"}));
  ASSERT_EQ(json["releases"].size(), 2u);
  EXPECT_EQ(json["releases"][0]["release_id"], std::to_string(rolled));
  EXPECT_EQ(json["releases"][0]["message"], "undo");

  // Errors keep confctl's exit codes: ahead of the store is 6, unknown tenant 3.
  ConfctlResult ahead = Run({"rollback", "f1", "--to-revision", "9999"});
  EXPECT_EQ(ahead.exit_code, 6);
  EXPECT_NE(ahead.err.find("confctl: OUT_OF_RANGE: to_revision:"), std::string::npos) << ahead.err;
  EXPECT_EQ(Run({"rollback", "nope", "--to-revision", "1"}).exit_code, 3);
  EXPECT_EQ(Run({"rollback", "f1"}).exit_code, 2);  // --to-revision is required

  // audit: every attempt, the rejected ones with their error.
  out = Ok({"audit", "--tenant", "f1", "--rpc", "Rollback"});
  EXPECT_NE(out.find("dave"), std::string::npos) << out;
  EXPECT_NE(out.find("OUT_OF_RANGE"), std::string::npos) << out;
  EXPECT_NE(Ok({"-o", "yaml", "audit", "--user", "alice"}).find("user: alice"), std::string::npos);
  Json audit = Json::parse(Ok({"-o", "json", "audit", "--user", "alice", "--since", "1h"}));
  ASSERT_EQ(audit["entries"].size(), 1u);
  EXPECT_EQ(audit["entries"][0]["rpc"], "ConfigService.Put");
  EXPECT_EQ(Run({"audit", "--since", "yesterday"}).exit_code, 2);
}

TEST_F(ConfctlHistoryTest, DiffModes) {
  Ok({"register", "integration", "--service", "a"});
  Ok({"put", "integration", "a", "k1", "i1"});
  const int64_t before = RevisionOf(Ok({"put", "integration", "a", "k2", "i2"}));
  Ok({"register", "f1", "--service", "a"});
  Ok({"put", "f1", "a", "k1", "f1"});
  Ok({"mask", "f1", "a", "k2"});

  std::string out = Ok({"diff", "integration", "f1"});
  EXPECT_NE(out.find("changed  a        k1   i1    integration  f1     f1"), std::string::npos)
      << out;
  EXPECT_NE(out.find("removed  a        k2   i2    integration"), std::string::npos) << out;
  EXPECT_EQ(Ok({"diff", "f1", "--parent"}), out);
  Json json = Json::parse(
      Ok({"-o", "json", "diff", "f1", "--from-revision", std::to_string(before), "--own"}));
  ASSERT_EQ(json["entries"].size(), 2u);
  EXPECT_EQ(json["entries"][1]["right"]["kind"], "ENTRY_KIND_MASK");
  EXPECT_EQ(Run({"diff", "f1"}).exit_code, 2);                       // no mode
  EXPECT_EQ(Run({"diff", "f1", "f2", "--parent"}).exit_code, 2);     // two modes
  EXPECT_EQ(Run({"diff", "integration", "--parent"}).exit_code, 4);  // a root: no parent
}

TEST_F(ConfctlHistoryTest, ReviewDraftsPromoteAndReset) {
  Ok({"register", "integration", "--service", "a"});
  Ok({"put", "integration", "a", "timeout", "2s"});
  Ok({"put", "integration", "a", "retries", "3"});
  Ok({"register", "pre", "--root", "--service", "a"});
  Ok({"put", "pre", "a", "timeout", "9s"});
  std::string out = Ok({"review", "pre", "--drafts-required", "--publisher-not-author"});
  EXPECT_NE(out.find("changes go through drafts"), std::string::npos) << out;
  // A direct write is refused (FAILED_PRECONDITION: exit 4), naming the way through drafts.
  ConfctlResult direct = Run({"put", "pre", "a", "timeout", "1s"});
  EXPECT_EQ(direct.exit_code, 4);
  EXPECT_NE(direct.err.find("drafts"), std::string::npos) << direct.err;

  // promote --dry-run lists the keys and writes nothing; the real one makes a draft.
  out = Ok({"promote", "integration", "pre", "--dry-run"});
  EXPECT_NE(out.find("changed  a        timeout"), std::string::npos) << out;
  EXPECT_NE(out.find("added    a        retries"), std::string::npos) << out;
  EXPECT_NE(out.find("dry run"), std::string::npos) << out;
  out = Ok({"--user", "alice", "promote", "integration", "pre", "-m", "build 7"});
  std::smatch match;
  ASSERT_TRUE(std::regex_search(out, match, std::regex("draft ([0-9]+) of pre"))) << out;
  const std::string id = match[1];
  out = Ok({"drafts", "pre"});
  EXPECT_NE(out.find("alice"), std::string::npos) << out;
  EXPECT_NE(out.find("promote from integration"), std::string::npos) << out;
  EXPECT_NE(Ok({"tenant", "pre"}).find("1 open"), std::string::npos);
  out = Ok({"draft", "show", "pre", id});
  EXPECT_NE(out.find("reaches 1 tenant(s) (pre)"), std::string::npos) << out;

  // The author may not publish (exit 4); bob may.
  EXPECT_EQ(Run({"--user", "alice", "draft", "publish", "pre", id}).exit_code, 4);
  out = Ok({"--user", "bob", "draft", "publish", "pre", id});
  EXPECT_NE(out.find("as release"), std::string::npos) << out;
  EXPECT_NE(Ok({"resolve", "pre"}).find("2s"), std::string::npos);
  EXPECT_EQ(Run({"draft", "publish", "pre", id}).exit_code, 3);  // gone

  // A hand-made draft: created, updated, discarded.
  out = Ok({"--user", "carol", "draft", "create", "pre", "--set", "a/timeout=7s", "--set",
            "a/extra=x", "-m", "tune"});
  ASSERT_TRUE(std::regex_search(out, match, std::regex("draft ([0-9]+) of pre"))) << out;
  const std::string hand = match[1];
  out = Ok({"draft", "update", "pre", hand, "--drop", "a/extra"});
  EXPECT_NE(out.find("1 change(s)"), std::string::npos) << out;
  EXPECT_EQ(Run({"draft", "create", "pre", "--set", "nonsense"}).exit_code, 2);
  Ok({"draft", "discard", "pre", hand});
  EXPECT_EQ(Ok({"drafts", "pre"}).find("carol"), std::string::npos);

  // reset: a child of integration with hand edits goes back to integration's values.
  Ok({"register", "perf", "--service", "a"});
  Ok({"put", "perf", "a", "timeout", "50ms"});
  out = Ok({"reset", "perf", "--dry-run"});
  EXPECT_NE(out.find("would change 1 key(s)"), std::string::npos) << out;
  out = Ok({"reset", "perf"});
  EXPECT_NE(out.find("reset: release"), std::string::npos) << out;
  out = Ok({"resolve", "perf"});
  EXPECT_TRUE(std::regex_search(out, std::regex("\\ba +timeout +integration +[0-9]+ +text +2s")))
      << out;
  // Into an ancestor: exit 6, the field named.
  ConfctlResult ancestor = Run({"promote", "perf", "integration"});
  EXPECT_EQ(ancestor.exit_code, 6);
  EXPECT_NE(ancestor.err.find("to_tenant:"), std::string::npos) << ancestor.err;
}

// explain: an own value, an inherited one, a masked one and a rolled-back one, each with
// the chain, the deciding entry and who set it; then a draft and a gray release that would
// change it.
TEST_F(ConfctlHistoryTest, ExplainSaysWhyAValueIsWhatItIs) {
  Ok({"register", "xi", "--root", "--service", "a"});
  Ok({"register", "xf", "--parent", "xi", "--service", "a"});
  Ok({"--user", "ci", "put", "xi", "a", "timeout", "1s"});
  // Inherited: f's view has integration's value.
  std::string out = Ok({"explain", "xf", "a", "timeout"});
  EXPECT_NE(out.find("a/timeout = 1s from xi"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nxf +-\n)"))) << out;
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(\nxi +value +1s +[0-9]+ +ci .*ConfigService\.Put .*<-)")))
      << out;
  // Own: the branch overrides it.
  const int64_t own = RevisionOf(Ok({"--user", "alice", "put", "xf", "a", "timeout", "2s"}));
  out = Ok({"explain", "xf", "a", "timeout"});
  EXPECT_NE(out.find(absl::StrCat("a/timeout = 2s from xf (revision ", own, ")")),
            std::string::npos)
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nxf +value +2s .* alice .*<-)"))) << out;
  // Masked: hidden from here down.
  Ok({"mask", "xf", "a", "timeout"});
  out = Ok({"explain", "xf", "a", "timeout"});
  EXPECT_NE(out.find("a/timeout is not set: masked in xf"), std::string::npos) << out;
  // Rolled back to the own value: the rollback is the write that set it, named as such.
  Ok({"--user", "dave", "rollback", "xf", "--to-revision", std::to_string(own), "-m", "undo"});
  Json json = Json::parse(Ok({"-o", "json", "explain", "xf", "a", "timeout"}));
  EXPECT_EQ(json["present"], true);
  ASSERT_EQ(json["steps"].size(), 2u);
  EXPECT_EQ(json["steps"][0]["tenant"], "xf");
  EXPECT_EQ(json["steps"][0]["value"], "2s");
  EXPECT_EQ(json["steps"][0]["decides"], true);
  EXPECT_EQ(json["steps"][0]["author"], "dave");
  EXPECT_EQ(json["steps"][0]["origin"], "HistoryService.Rollback");
  EXPECT_EQ(json["steps"][0]["message"], "undo");
  EXPECT_NE(json["steps"][0]["release_id"], nullptr);
  EXPECT_EQ(json["steps"][1]["tenant"], "xi");
  EXPECT_EQ(json["steps"][1]["kind"], "EXPLAIN_ENTRY_KIND_VALUE");
  EXPECT_EQ(json["steps"][1].value("decides", false), false);

  // Pending: a draft that changes it, and one that would leave it as it is (not listed); a
  // gray release of the branch.
  Ok({"draft", "create", "xf", "--set", "a/timeout=3s"});
  Ok({"draft", "create", "xi", "--set", "a/timeout=9s"});  // xf overrides it anyway
  Ok({"gray", "start", "xf", "--set", "a/timeout=4s", "--selector", "zone=canary"});
  out = Ok({"explain", "xf", "a", "timeout"});
  EXPECT_NE(out.find("would change it:"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nxf +gray release [0-9]+ +value +4s)"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nxf +draft [0-9]+ +value +3s)"))) << out;
  EXPECT_EQ(out.find("9s"), std::string::npos) << out;
  // Bad input: exit codes as everywhere.
  EXPECT_EQ(Run({"explain", "nope", "a", "timeout"}).exit_code, 3);
  EXPECT_EQ(Run({"explain", "xf", "a", "_endpoint.grpc"}).exit_code, 6);
  EXPECT_EQ(Run({"explain", "xf", "a"}).exit_code, 2);
}

TEST_F(ConfctlHistoryTest, GrayStartShowPromoteAbort) {
  Ok({"register", "pre", "--root", "--service", "a"});
  Ok({"put", "pre", "a", "k", "v0"});
  std::string out = Ok({"gray", "start", "pre", "--set", "a/k=v1", "--selector", "zone=canary",
                        "--percentage", "50", "-m", "k to half the canaries"});
  EXPECT_NE(out.find("audience: labels zone=canary, 50%"), std::string::npos) << out;
  EXPECT_NE(out.find("seen by 0 live instance(s)"), std::string::npos) << out;
  EXPECT_NE(Ok({"tenant", "pre"}).find("gray      release"), std::string::npos);
  EXPECT_NE(Ok({"gray", "show", "pre"}).find("a        k    v1"), std::string::npos);
  EXPECT_NE(Ok({"resolve", "pre"}).find("v0"), std::string::npos);  // the released view
  out = Ok({"gray", "promote", "pre"});
  EXPECT_NE(out.find("promoted the gray release of pre as release"), std::string::npos) << out;
  EXPECT_NE(Ok({"resolve", "pre"}).find("v1"), std::string::npos);
  EXPECT_EQ(Run({"gray", "show", "pre"}).exit_code, 3);

  Ok({"gray", "start", "pre", "--mask", "a/k", "--instance", "pod-1"});
  EXPECT_NE(Ok({"gray", "show", "pre"}).find("instances pod-1"), std::string::npos);
  EXPECT_NE(Ok({"gray", "abort", "pre"}).find("aborted"), std::string::npos);
  EXPECT_EQ(Run({"gray", "show", "pre"}).exit_code, 3);             // gone
  EXPECT_NE(Ok({"resolve", "pre"}).find("v1"), std::string::npos);  // the tenant unchanged
  // Bad input keeps confctl's exit codes: 6 for a percentage over 100, 2 for no changes.
  ConfctlResult bad = Run({"gray", "start", "pre", "--set", "a/k=x", "--percentage", "120"});
  EXPECT_EQ(bad.exit_code, 6);
  EXPECT_NE(bad.err.find("audience.percentage"), std::string::npos) << bad.err;
  EXPECT_EQ(Run({"gray", "start", "pre", "--percentage", "10"}).exit_code, 2);
}

}  // namespace
}  // namespace confcenter::testing
