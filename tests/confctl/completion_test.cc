// confctl's shell completion: the script it prints is loaded by a real bash, and its
// completion function, driven as bash drives it, offers subcommands, flags and the tenant and
// service names of a real confcenterd.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  pclose(pipe);
  return out;
}

class ConfctlCompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ConfctlResult script = RunConfctl({"completion", "bash"}, "");
    ASSERT_EQ(script.exit_code, 0) << script.err;
    script_ = dir_.path() + "/confctl.bash";
    FILE* f = fopen(script_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fwrite(script.out.data(), 1, script.out.size(), f);
    fclose(f);
  }

  // What bash offers for the command line `words` with the cursor on the last word, one
  // candidate per entry, sorted.
  std::vector<std::string> Complete(const std::vector<std::string>& words,
                                    const std::string& address = "") {
    std::string array;
    for (const std::string& w : words) absl::StrAppend(&array, " '", w, "'");
    const std::string command = absl::StrCat(
        "env -i PATH=/usr/bin:/bin HOME=", dir_.path(),
        address.empty() ? "" : " CONFCENTER_ADDR=" + address, " bash -c '",
        "PATH=", std::string(CONFCTL_PATH).substr(0, std::string(CONFCTL_PATH).rfind('/')),
        ":$PATH; source ", script_, "; COMP_WORDS=(confctl \"$@\"); COMP_CWORD=$#; _confctl; ",
        "printf \"%s\\n\" \"${COMPREPLY[@]}\" | sort' bash", array);
    std::vector<std::string> lines = absl::StrSplit(Shell(command), '\n', absl::SkipEmpty());
    return lines;
  }

  TempDir dir_;
  std::string script_;
};

TEST_F(ConfctlCompletionTest, TheScriptRegistersItsFunctionForConfctl) {
  EXPECT_EQ(Shell(absl::StrCat("bash -c 'source ", script_, "; complete -p confctl'")),
            "complete -F _confctl confctl\n");
  // zsh's variant is the same function under bashcompinit.
  const ConfctlResult zsh = RunConfctl({"completion", "zsh"}, "");
  EXPECT_EQ(zsh.exit_code, 0);
  EXPECT_NE(zsh.out.find("bashcompinit"), std::string::npos);
  EXPECT_NE(zsh.out.find("complete -F _confctl confctl"), std::string::npos);
}

TEST_F(ConfctlCompletionTest, SubcommandsAndFlagsComeFromTheCommandTree) {
  EXPECT_EQ(Complete({"re"}), (std::vector<std::string>{"register", "release", "releases", "reset",
                                                        "resolve", "restore", "review"}));
  EXPECT_EQ(Complete({"draft", "cr"}), std::vector<std::string>{"create"});
  EXPECT_EQ(Complete({"put", "--content"}), std::vector<std::string>{"--content-type"});
  // Global flags complete after a subcommand too; hidden commands never show.
  EXPECT_EQ(Complete({"put", "--server-n"}), std::vector<std::string>{"--server-name"});
  for (const std::string& offered : Complete({""})) EXPECT_NE(offered, "__complete");
}

TEST_F(ConfctlCompletionTest, TenantsAndServicesComeFromTheServer) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  ASSERT_TRUE(api.Register("integration", {"orders", "payments"}).ok());
  ASSERT_TRUE(api.Register("feat-login", {"login"}).ok());
  EXPECT_EQ(Complete({"resolve", ""}, server.address()),
            (std::vector<std::string>{"feat-login", "integration"}));
  EXPECT_EQ(Complete({"put", "feat"}, server.address()), std::vector<std::string>{"feat-login"});
  // A branch's services: its own and those it inherits.
  EXPECT_EQ(Complete({"put", "feat-login", ""}, server.address()),
            (std::vector<std::string>{"login", "orders", "payments"}));
  // The server named on the line being completed is the one asked.
  EXPECT_EQ(Complete({"--server", server.address(), "get", "integration", "pay"}),
            std::vector<std::string>{"payments"});
  // No server: nothing offered, no error printed into the terminal.
  ASSERT_EQ(server.Stop(), 0);
  EXPECT_TRUE(Complete({"resolve", ""}, server.address()).empty());
}

}  // namespace
}  // namespace confcenter::testing
