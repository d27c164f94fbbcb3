// confctl's contexts against a real confcenterd: set-context, use-context, get-contexts and
// current-context; the precedence flag > environment > context > default; a token in a file
// others may read is refused.
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

class ConfctlContextsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0);
    config_ = dir_.path() + "/home/confcenter/config.yaml";
  }
  // confctl with the suite's context file; `env_address`: $CONFCENTER_ADDR ("" = unset).
  ConfctlResult Run(std::vector<std::string> args, const std::string& env_address = "") {
    args.insert(args.begin(), {"--config", config_, "--timeout", "2s"});
    return RunConfctl(args, env_address);
  }
  std::string Ok(const std::vector<std::string>& args, const std::string& env_address = "") {
    ConfctlResult result = Run(args, env_address);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string config_;
  const std::string nowhere_ = "127.0.0.1:1";  // nothing listens there
};

TEST_F(ConfctlContextsTest, ContextsAndThePrecedenceOfFlagEnvironmentContext) {
  // No file yet: no contexts, no current one (NOT_FOUND, exit 3).
  EXPECT_EQ(Ok({"config", "get-contexts"}), "CURRENT  NAME  SERVER  USER  TLS  TOKEN  OUTPUT\n");
  EXPECT_EQ(Run({"config", "current-context"}).exit_code, 3);
  // The first context made is the current one; the file is written 0600.
  Ok({"config", "set-context", "local", "--server", server_->address(), "--user", "ops", "-o",
      "json"});
  Ok({"config", "set-context", "dead", "--server", nowhere_});
  EXPECT_EQ(Ok({"config", "current-context"}), "local\n");
  struct stat st {};
  ASSERT_EQ(stat(config_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string listed = Ok({"config", "get-contexts"});
  EXPECT_NE(listed.find("*        local  " + server_->address() + "  ops"), std::string::npos)
      << listed;

  // The context gives the server, the output format and the user.
  nlohmann::json tenant = nlohmann::json::parse(Ok({"tenant", "integration"}));
  EXPECT_EQ(tenant["tenant"]["name"], "integration");
  Ok({"register", "ctx-a", "--service", "a"});
  Ok({"put", "ctx-a", "a", "k", "v"});
  nlohmann::json history = nlohmann::json::parse(Ok({"history", "ctx-a", "a", "k"}));
  EXPECT_EQ(history["versions"][0]["author"], "ops");
  // A flag beats the context...
  EXPECT_EQ(Ok({"-o", "table", "get", "ctx-a", "a", "k"}).find("{"), std::string::npos);
  // ...the environment beats the context, and a flag beats the environment.
  EXPECT_EQ(Run({"tenant", "integration"}, nowhere_).exit_code, 5);  // UNAVAILABLE
  EXPECT_EQ(Run({"--server", server_->address(), "tenant", "integration"}, nowhere_).exit_code, 0);
  // --context picks another context for one call; use-context switches.
  EXPECT_EQ(Run({"--context", "dead", "tenant", "integration"}).exit_code, 5);
  Ok({"config", "use-context", "dead"});
  EXPECT_EQ(Run({"tenant", "integration"}).exit_code, 5);
  EXPECT_EQ(Run({"--context", "nope", "tenant", "integration"}).exit_code, 2);
  EXPECT_EQ(Run({"config", "use-context", "nope"}).exit_code, 3);
  Ok({"config", "delete-context", "dead"});
  EXPECT_EQ(Run({"config", "current-context"}).exit_code, 3);
  // No current context: the default address (nothing there in this test's world is assumed;
  // a flag still works).
  EXPECT_EQ(Run({"--server", server_->address(), "tenant", "integration"}).exit_code, 0);
}

TEST_F(ConfctlContextsTest, ATokenInAFileOthersMayReadIsRefused) {
  Ok({"config", "set-context", "secure", "--server", server_->address(), "--token", "t0ken"});
  ASSERT_EQ(chmod(config_.c_str(), 0644), 0);
  ConfctlResult refused = Run({"tenant", "integration"});
  EXPECT_EQ(refused.exit_code, 4);  // FAILED_PRECONDITION
  EXPECT_NE(refused.err.find("holds a token but others may read it (mode 0644): chmod 600"),
            std::string::npos)
      << refused.err;
  ASSERT_EQ(chmod(config_.c_str(), 0600), 0);
  EXPECT_EQ(Run({"tenant", "integration"}).exit_code, 0);  // no auth on this server
  // A broken file names itself and the problem.
  std::ofstream(config_) << "contexts:\n  - name: x\n    srever: y\n";
  ConfctlResult broken = Run({"tenant", "integration"});
  EXPECT_EQ(broken.exit_code, 6);
  EXPECT_NE(broken.err.find("contexts[0]: unknown field \"srever\""), std::string::npos)
      << broken.err;
}

}  // namespace
}  // namespace confcenter::testing
