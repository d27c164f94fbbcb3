// confctl's contexts against a real confcenterd: set-context, use-context, get-contexts and
// current-context; the precedence flag > environment > context > default; a token in a file
// others may read is refused.
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/api_client.h"
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
  EXPECT_EQ(Ok({"config", "get-contexts"}),
            "CURRENT  NAME  SERVER  USER  TLS  TOKEN  OUTPUT  TENANT\n");
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

TEST_F(ConfctlContextsTest, TheContextsDefaultTenantFillsATenantLeftOut) {
  ApiClient api(server_->Channel());
  ASSERT_TRUE(api.Register("feat-x", {"orders"}).ok());
  Ok({"config", "set-context", "feat", "--server", server_->address(), "--tenant", "feat-x"});
  // put SERVICE KEY VALUE: one argument short, so the default tenant comes first.
  Ok({"put", "orders", "timeout", "2s"});
  EXPECT_NE(Ok({"get", "feat-x", "orders", "timeout"}).find("2s"), std::string::npos);
  // resolve with no argument: the default tenant's view.
  EXPECT_NE(Ok({"resolve"}).find("timeout"), std::string::npos);
  // A tenant given explicitly is used as given.
  EXPECT_NE(Ok({"resolve", "integration"}).find("SERVICE"), std::string::npos);
  EXPECT_EQ(Ok({"resolve", "integration"}).find("timeout"), std::string::npos);
  // Options before and after the command do not confuse where it goes.
  Ok({"--output", "json", "put", "--content-type", "text", "orders", "retries", "3"});
  EXPECT_NE(Ok({"get", "feat-x", "orders", "retries"}).find("3"), std::string::npos);
  // Without a default tenant the missing argument is still an error (exit 2).
  Ok({"config", "set-context", "plain", "--server", server_->address()});
  EXPECT_EQ(Run({"--context", "plain", "put", "orders", "timeout", "3s"}).exit_code, 2);
  // A context file with a tenant that is no tenant name is refused, naming it.
  ConfctlResult bad = Run({"config", "set-context", "x", "--tenant", "Not_A_Tenant"});
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace confcenter::testing
