// confctl history, releases, release, rollback, diff, audit and txn --message: the real binary
// against the real confcenterd.
#include <fstream>
#include <regex>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace confcenter::testing
