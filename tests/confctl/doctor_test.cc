// confctl doctor against real servers: all well; the server down; a CA that did not sign the
// server's certificate; an expired token. One line per check, a non-zero exit on a problem.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/child_process.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"
#include "tests/tls_certs.h"

namespace confcenter::testing {
namespace {

class ConfctlDoctorTest : public ::testing::Test {
 protected:
  ConfctlResult Doctor(const std::string& address, std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), {"--config", dir_.path() + "/none.yaml", "--timeout", "2s"});
    flags.push_back("doctor");
    return RunConfctl(flags, address);
  }
  TempDir dir_;
};

TEST_F(ConfctlDoctorTest, AllWellIsOkOnEveryLine) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  ConfctlResult r = Doctor(server.address());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok    settings: server " + server.address() + ", plaintext"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ok    connect: " + server.address() + " answered in "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ok    version: server 0.1.0, API confcenter.v1; confctl 0.1.0"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ok    clock: in step with the server"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST_F(ConfctlDoctorTest, TheServerDownIsNamedWithWhatToCheck) {
  ConfctlResult r = Doctor("127.0.0.1:" + std::to_string(FreeLoopbackPort()));
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  connect: cannot reach confcenterd at 127.0.0.1:"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("is confcenterd running there"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("doctor found 1 problem"), std::string::npos) << r.err;
}

TEST_F(ConfctlDoctorTest, AWrongCaIsATlsProblem) {
  absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir_.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  ServerProcess server(dir_.path() + "/data",
                       {"--tls_cert=" + certs->server.cert, "--tls_key=" + certs->server.key});
  ASSERT_NE(server.port(), 0);
  ConfctlResult r = Doctor(server.address(), {"--ca", certs->foreign_ca.cert});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("FAIL  tls: the TLS handshake with " + server.address() + " failed"),
            std::string::npos)
      << r.out;
  // The right CA: all well, over TLS.
  r = Doctor(server.address(), {"--ca", certs->ca.cert});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(" over TLS"), std::string::npos) << r.out;
}

TEST_F(ConfctlDoctorTest, AnExpiredTokenIsNamed) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  auto jwt = [](absl::Time exp) {
    return absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"RS256"})"), ".",
                        absl::WebSafeBase64Escape(
                            absl::StrCat(R"({"sub":"ci","exp":)", absl::ToUnixSeconds(exp), "}")),
                        ".c2ln");
  };
  ConfctlResult r = Doctor(server.address(), {"--token", jwt(absl::Now() - absl::Hours(2))});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("FAIL  token: the JWT expired at "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("get a new one from its issuer"), std::string::npos) << r.out;
  r = Doctor(server.address(), {"--token", jwt(absl::Now() + absl::Hours(2))});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("ok    token: a JWT valid until "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace confcenter::testing
