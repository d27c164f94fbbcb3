// TLS and mTLS against the real confcenterd: who a client certificate identifies, which
// clients the handshake refuses (plaintext, a foreign CA, no certificate when required),
// optional client certificates with bearer tokens, and a server certificate rotated under a
// live Subscribe stream.
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "confcenter/v1/access.grpc.pb.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"
#include "tests/tls_certs.h"

namespace confcenter {
namespace {

using confcenter::testing::ReadPem;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;
using confcenter::testing::TlsCerts;
using confcenter::testing::TlsFiles;

constexpr char kOrdersUri[] = "spiffe://corp/ns/feat-x/sa/orders";
constexpr char kOpsToken[] = "ops-token-0123456789abcdef";

std::chrono::system_clock::time_point In(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TlsCerts> certs = confcenter::testing::MakeTlsCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    absl::StatusOr<TlsFiles> orders =
        confcenter::testing::IssueClientCert(certs_, "orders", "orders", kOrdersUri);
    ASSERT_TRUE(orders.ok()) << orders.status();
    orders_ = *orders;
    absl::StatusOr<TlsFiles> cn_only =
        confcenter::testing::IssueClientCert(certs_, "cn-only", "cn-only-client", "");
    ASSERT_TRUE(cn_only.ok()) << cn_only.status();
    cn_only_ = *cn_only;
    confcenter::testing::WriteStaticTokensFile(dir_.path() + "/tokens.yaml", {{"ops", kOpsToken}});
    std::ofstream(dir_.path() + "/policy.yaml")
        << "authentication:\n"
        << "  static_tokens_file: " << dir_.path() << "/tokens.yaml\n"
        << "bindings:\n"
        << "  - subjects: [{kind: certificate, name: \"" << kOrdersUri << "\"}]\n"
        << "    roles: [admin]\n"
        << "    tenants: [\"*\"]\n"
        << "  - subjects: [{kind: certificate, name: cn-only-client}]\n"
        << "    roles: [reader]\n"
        << "    tenants: [\"*\"]\n"
        << "  - subjects: [{kind: token, name: ops}]\n"
        << "    roles: [admin]\n"
        << "    tenants: [\"*\"]\n";
  }

  void Start(const std::string& client_auth, std::vector<std::string> more = {}) {
    std::vector<std::string> flags = {
        "--tls_cert=" + certs_.server.cert, "--tls_key=" + certs_.server.key,
        "--tls_client_ca=" + certs_.ca.cert, "--tls_client_auth=" + client_auth,
        "--auth_policy=" + dir_.path() + "/policy.yaml"};
    flags.insert(flags.end(), more.begin(), more.end());
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", flags);
    ASSERT_NE(server_->port(), 0);
  }

  // A new channel with its own subchannel pool (so it opens its own connection, never
  // sharing one with an earlier channel), trusting the test CA, presenting `client` if given
  // (an empty cert = no client certificate).
  std::shared_ptr<grpc::Channel> TlsChannel(const TlsFiles& client, const TlsFiles& ca = {}) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = *ReadPem(ca.cert.empty() ? certs_.ca.cert : ca.cert);
    if (!client.cert.empty()) {
      opts.pem_cert_chain = *ReadPem(client.cert);
      opts.pem_private_key = *ReadPem(client.key);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(server_->address(), grpc::SslCredentials(opts), args);
  }

  grpc::Status WhoAmI(std::shared_ptr<grpc::Channel> channel, v1::WhoAmIResponse* resp,
                      const std::string& token = "") {
    auto stub = v1::AccessService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(10)));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    return stub->WhoAmI(&ctx, v1::WhoAmIRequest(), resp);
  }

  TempDir dir_;
  TlsCerts certs_;
  TlsFiles orders_;
  TlsFiles cn_only_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(TlsTest, ClientCertificateIdentifiesTheCaller) {
  Start("require");
  v1::WhoAmIResponse who;
  grpc::Status st = WhoAmI(TlsChannel(orders_), &who);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(who.kind(), "certificate");
  EXPECT_EQ(who.name(), kOrdersUri);
  ASSERT_EQ(who.grants_size(), 1);
  EXPECT_EQ(who.grants(0).role(), "admin");

  v1::WhoAmIResponse cn;
  st = WhoAmI(TlsChannel(cn_only_), &cn);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(cn.kind(), "certificate");
  EXPECT_EQ(cn.name(), "cn-only-client");
  ASSERT_EQ(cn.grants_size(), 1);
  EXPECT_EQ(cn.grants(0).role(), "reader");

  // The certificate's role is enforced: the admin registers, the reader may not write.
  auto tenants = v1::TenantService::NewStub(TlsChannel(orders_));
  grpc::ClientContext reg_ctx;
  v1::RegisterRequest reg;
  reg.set_tenant("feat-x");
  v1::RegisterResponse reg_resp;
  st = tenants->Register(&reg_ctx, reg, &reg_resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto config = v1::ConfigService::NewStub(TlsChannel(cn_only_));
  grpc::ClientContext put_ctx;
  v1::PutRequest put;
  put.set_tenant("feat-x");
  put.set_service("orders");
  put.set_key("k");
  put.set_value("v");
  v1::PutResponse put_resp;
  st = config->Put(&put_ctx, put, &put_resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
}

TEST_F(TlsTest, RequiredClientAuthRefusesOthers) {
  Start("require");
  v1::WhoAmIResponse who;
  // Plaintext against a TLS port.
  grpc::Status st = WhoAmI(server_->Channel(), &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // A certificate from a CA the server does not trust.
  st = WhoAmI(TlsChannel(certs_.foreign_client), &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // TLS without a client certificate, with or without a token.
  st = WhoAmI(TlsChannel({}), &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  st = WhoAmI(TlsChannel({}), &who, kOpsToken);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // A client that does not trust the server's CA.
  st = WhoAmI(TlsChannel(orders_, certs_.foreign_ca), &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // And the good client still gets in.
  st = WhoAmI(TlsChannel(orders_), &who);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(TlsTest, OptionalClientAuthFallsBackToTokens) {
  Start("optional");
  v1::WhoAmIResponse who;
  // No certificate, no token: the handshake passes, the call is unauthenticated.
  grpc::Status st = WhoAmI(TlsChannel({}), &who);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  // No certificate, a bearer token: the token's identity.
  st = WhoAmI(TlsChannel({}), &who, kOpsToken);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(who.kind(), "token");
  EXPECT_EQ(who.name(), "ops");
  // A wrong token is not let through.
  st = WhoAmI(TlsChannel({}), &who, "not-a-token");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  // A certificate still identifies.
  st = WhoAmI(TlsChannel(orders_), &who);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(who.kind(), "certificate");
  EXPECT_EQ(who.name(), kOrdersUri);
  // Plaintext is still refused.
  st = WhoAmI(server_->Channel(), &who, kOpsToken);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
}

// The server certificate a fresh connection sees (its PEM), or "" if the call failed.
std::string PresentedCert(std::shared_ptr<grpc::Channel> channel) {
  auto stub = v1::AccessService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(In(std::chrono::seconds(5)));
  v1::WhoAmIResponse resp;
  if (!stub->WhoAmI(&ctx, v1::WhoAmIRequest(), &resp).ok()) return "";
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> pem = auth->FindPropertyValues("x509_pem_cert");
  if (pem.empty()) return "";
  return std::string(pem[0].data(), pem[0].size());
}

TEST_F(TlsTest, RotatedServerCertificateKeepsLiveStreams) {
  Start("require", {"--tls_reload_interval=1s"});
  const std::string old_pem = *ReadPem(certs_.server.cert);
  ASSERT_EQ(PresentedCert(TlsChannel(orders_)), old_pem);

  auto config = v1::ConfigService::NewStub(TlsChannel(orders_));
  auto put = [&](const std::string& value) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(10)));
    v1::PutRequest req;
    req.set_tenant("integration");
    req.set_service("orders");
    req.set_key("color");
    req.set_value(value);
    v1::PutResponse resp;
    return config->Put(&ctx, req, &resp);
  };
  grpc::Status st = put("red");
  ASSERT_TRUE(st.ok()) << st.error_message();

  // The stream, on its own connection made with the old certificate.
  auto watch = v1::WatchService::NewStub(TlsChannel(orders_));
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(In(std::chrono::seconds(60)));
  v1::SubscribeRequest sub;
  sub.set_tenant("integration");
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> stream =
      watch->Subscribe(&stream_ctx, sub);
  v1::SubscribeResponse msg;
  bool snapshot_done = false;
  while (!snapshot_done && stream->Read(&msg)) {
    if (msg.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT) {
      ASSERT_EQ(msg.entries_size(), 1);
      EXPECT_EQ(msg.entries(0).value(), "red");
      snapshot_done = msg.snapshot_last();
    }
  }
  ASSERT_TRUE(snapshot_done);

  const std::string old_serial = certs_.server_serial;
  ASSERT_TRUE(confcenter::testing::ReissueServerCert(&certs_).ok());
  ASSERT_NE(certs_.server_serial, old_serial);
  const std::string new_pem = *ReadPem(certs_.server.cert);
  ASSERT_NE(new_pem, old_pem);

  // New connections get the new certificate once the server has re-read it (polled, each
  // time on a fresh connection; the reload interval is 1 s).
  std::string seen;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < give_up) {
    seen = PresentedCert(TlsChannel(orders_));
    if (seen == new_pem) break;
  }
  ASSERT_EQ(seen, new_pem) << "the server still presents the old certificate after 15 s";

  // A write through a new connection reaches the stream opened before the rotation.
  auto config2 = v1::ConfigService::NewStub(TlsChannel(orders_));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(std::chrono::seconds(10)));
    v1::PutRequest req;
    req.set_tenant("integration");
    req.set_service("orders");
    req.set_key("color");
    req.set_value("blue");
    v1::PutResponse resp;
    st = config2->Put(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  bool got_event = false;
  while (!got_event && stream->Read(&msg)) {
    if (msg.kind() != v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) continue;
    for (const v1::WatchEvent& e : msg.events()) {
      if (e.key() == "color" && e.value() == "blue") got_event = true;
    }
  }
  EXPECT_TRUE(got_event) << "the stream ended: " << stream->Finish().error_message();
  stream_ctx.TryCancel();
}

}  // namespace
}  // namespace confcenter
