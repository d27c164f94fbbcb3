// The certificate fixture itself: files made, rotation changes the server certificate.
#include "tests/tls_certs.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

TEST(TlsCertsTest, MakesEveryCertificateAndKeyAsPem) {
  TempDir dir;
  absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<TlsFiles> client =
      IssueClientCert(*certs, "orders", "orders", "spiffe://corp/ns/feat-x/sa/orders");
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<TlsFiles> cn_only = IssueClientCert(*certs, "ops", "alice", "");
  ASSERT_TRUE(cn_only.ok()) << cn_only.status();
  for (const TlsFiles& files :
       {certs->ca, certs->server, certs->foreign_ca, certs->foreign_client, *client, *cn_only}) {
    absl::StatusOr<std::string> cert = ReadPem(files.cert);
    ASSERT_TRUE(cert.ok()) << cert.status();
    EXPECT_NE(cert->find("-----BEGIN CERTIFICATE-----"), std::string::npos) << files.cert;
    absl::StatusOr<std::string> key = ReadPem(files.key);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_NE(key->find("PRIVATE KEY-----"), std::string::npos) << files.key;
  }
  EXPECT_EQ(certs->server_serial.size(), 16u);
}

TEST(TlsCertsTest, ReissuedServerCertificateHasANewKeyAndSerialUnderTheSamePaths) {
  TempDir dir;
  absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  const TlsCerts before = *certs;
  const std::string old_cert = *ReadPem(certs->server.cert);
  const std::string old_key = *ReadPem(certs->server.key);
  ASSERT_TRUE(ReissueServerCert(&*certs).ok());
  EXPECT_EQ(certs->server.cert, before.server.cert);
  EXPECT_EQ(certs->server.key, before.server.key);
  EXPECT_NE(certs->server_serial, before.server_serial);
  EXPECT_NE(*ReadPem(certs->server.cert), old_cert);
  EXPECT_NE(*ReadPem(certs->server.key), old_key);
  EXPECT_FALSE(std::filesystem::exists(certs->server.cert + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(certs->server.key + ".tmp"));
}

TEST(TlsCertsTest, AFailingOpensslCommandIsAnErrorWithItsOutput) {
  TempDir dir;
  TlsCerts certs;  // no CA files: signing must fail
  certs.dir = dir.path();
  certs.ca = {dir.path() + "/missing-ca.crt", dir.path() + "/missing-ca.key"};
  absl::StatusOr<TlsFiles> client = IssueClientCert(certs, "orders", "orders", "");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(client.status().message().find("openssl req"), std::string::npos) << client.status();
  EXPECT_NE(client.status().message().find("missing-ca"), std::string::npos) << client.status();
  EXPECT_EQ(IssueClientCert(certs, "", "x", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confcenter::testing
