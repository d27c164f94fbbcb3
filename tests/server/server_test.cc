// Drives the real confcenterd binary over gRPC on loopback.
#include <set>

#include "absl/time/clock.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::RunServerToExit;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start() {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0);
    auto channel = server_->Channel();
    config_ = v1::ConfigService::NewStub(channel);
    tenants_ = v1::TenantService::NewStub(channel);
  }

  grpc::Status Register(const std::string& tenant, std::vector<std::string> services = {},
                        const std::string& parent = "") {
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    req.set_parent(parent);
    for (auto& s : services) req.add_services()->set_name(s);
    v1::RegisterResponse resp;
    grpc::ClientContext ctx;
    return tenants_->Register(&ctx, req, &resp);
  }

  grpc::Status Put(const std::string& tenant, const std::string& service, const std::string& key,
                   const std::string& value, v1::PutResponse* out = nullptr,
                   std::optional<int64_t> expected = {}) {
    v1::PutRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    req.set_value(value);
    if (expected) req.set_expected_revision(*expected);
    v1::PutResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = config_->Put(&ctx, req, &resp);
    if (out) *out = resp;
    return s;
  }

  v1::ResolveResponse Resolve(const std::string& tenant, std::vector<std::string> services) {
    v1::ResolveRequest req;
    req.set_tenant(tenant);
    for (auto& s : services) req.add_services(s);
    v1::ResolveResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = config_->Resolve(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::ConfigService::Stub> config_;
  std::unique_ptr<v1::TenantService::Stub> tenants_;
};

TEST_F(ServerTest, SeedExampleResolvesBranchServiceFirstThenIntegration) {
  ASSERT_TRUE(Register("integration", {"a", "b", "c", "d"}).ok());
  for (const std::string s : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(Put("integration", s, "endpoint", s + ".integration.svc:8080").ok());
    ASSERT_TRUE(Put("integration", s, "log.level", "info").ok());
  }
  ASSERT_TRUE(Register("f1", {"a"}).ok());
  ASSERT_TRUE(Put("f1", "a", "endpoint", "a.f1.svc:8080").ok());

  v1::ResolveResponse view = Resolve("f1", {"a", "b", "c", "d"});
  EXPECT_EQ(std::vector<std::string>(view.chain().begin(), view.chain().end()),
            (std::vector<std::string>{"f1", "integration"}));
  std::vector<std::string> got;
  for (const auto& e : view.entries()) {
    got.push_back(e.service() + "/" + e.key() + "=" + e.value() + "@" + e.source_tenant());
    EXPECT_GT(e.revision(), 0);
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{
                "a/endpoint=a.f1.svc:8080@f1", "a/log.level=info@integration",
                "b/endpoint=b.integration.svc:8080@integration", "b/log.level=info@integration",
                "c/endpoint=c.integration.svc:8080@integration", "c/log.level=info@integration",
                "d/endpoint=d.integration.svc:8080@integration", "d/log.level=info@integration"}));
}

TEST_F(ServerTest, ResolveOfUnknownTenantIsNotFound) {
  v1::ResolveRequest req;
  req.set_tenant("feat-typo");
  v1::ResolveResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = config_->Resolve(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_message().find("feat-typo"), std::string::npos) << s.error_message();
}

TEST_F(ServerTest, CompareAndSetConflictIsFailedPreconditionWithCurrentRevision) {
  v1::PutResponse first;
  ASSERT_TRUE(Put("integration", "a", "k", "1", &first).ok());
  v1::PutResponse second;
  ASSERT_TRUE(Put("integration", "a", "k", "2", &second, first.revision()).ok());
  grpc::Status conflict = Put("integration", "a", "k", "3", nullptr, first.revision());
  EXPECT_EQ(conflict.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(conflict.error_message().find("is at revision " + std::to_string(second.revision())),
            std::string::npos)
      << conflict.error_message();
  EXPECT_EQ(Resolve("integration", {"a"}).entries(0).value(), "2");
}

TEST_F(ServerTest, TxnAppliesAllOrNothing) {
  ASSERT_TRUE(Register("f1").ok());
  v1::TxnRequest txn;
  auto add = [&](v1::TxnOpType type, const std::string& tenant, const std::string& key,
                 const std::string& value) {
    v1::TxnOp* op = txn.add_ops();
    op->set_type(type);
    op->set_tenant(tenant);
    op->set_service("svc");
    op->set_key(key);
    op->set_value(value);
    return op;
  };
  add(v1::TXN_OP_TYPE_PUT, "integration", "a", "1");
  add(v1::TXN_OP_TYPE_PUT, "f1", "b", "2");
  v1::TxnResponse ok;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(config_->Txn(&ctx, txn, &ok).ok());
  }
  v1::ResolveResponse view = Resolve("f1", {"svc"});
  ASSERT_EQ(view.entries_size(), 2);
  EXPECT_EQ(view.entries(0).revision(), ok.revision());
  EXPECT_EQ(view.entries(1).revision(), ok.revision());

  txn.Clear();
  add(v1::TXN_OP_TYPE_PUT, "integration", "a", "changed");
  add(v1::TXN_OP_TYPE_DELETE, "f1", "missing", "");  // no own entry: fails the whole Txn
  v1::TxnResponse failed;
  grpc::ClientContext ctx;
  grpc::Status s = config_->Txn(&ctx, txn, &failed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("ops[1].key"), std::string::npos) << s.error_message();
  v1::ResolveResponse after = Resolve("f1", {"svc"});
  EXPECT_EQ(after.revision(), view.revision());
  EXPECT_EQ(after.entries(0).value(), "1");
}

TEST_F(ServerTest, AcknowledgedWritesSurviveCleanRestartAndKill9) {
  ASSERT_TRUE(Register("f1", {"a"}).ok());
  v1::PutResponse put;
  ASSERT_TRUE(Put("f1", "a", "k", "before-stop", &put).ok());
  // SIGTERM drains and exits 0, promptly although this client stays connected.
  const absl::Time before_stop = absl::Now();
  EXPECT_EQ(server_->Stop(), 0);
  EXPECT_LT(absl::Now() - before_stop, absl::Seconds(3));
  Start();
  v1::ResolveResponse view = Resolve("f1", {"a"});
  ASSERT_EQ(view.entries_size(), 1);
  EXPECT_EQ(view.entries(0).value(), "before-stop");
  EXPECT_EQ(view.revision(), put.revision());

  v1::PutResponse last;
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(Put("f1", "a", "k" + std::to_string(i), "v", &last).ok());
  server_->Kill();  // SIGKILL right after the acknowledgements
  Start();
  v1::ResolveResponse recovered = Resolve("f1", {"a"});
  EXPECT_EQ(recovered.revision(), last.revision());
  EXPECT_EQ(recovered.entries_size(), 51);
  // The revision keeps going up after the restart.
  v1::PutResponse next;
  ASSERT_TRUE(Put("f1", "a", "k", "after", &next).ok());
  EXPECT_EQ(next.revision(), last.revision() + 1);
}

TEST_F(ServerTest, ReflectionListsTheServices) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(server_->Channel());
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count("confcenter.v1.ConfigService"));
  EXPECT_TRUE(names.count("confcenter.v1.TenantService"));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));

  // grpcurl needs the file descriptors too, to build JSON bodies.
  req.set_file_containing_symbol("confcenter.v1.ConfigService");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerTest, HealthReportsServing) {
  auto stub = grpc::health::v1::Health::NewStub(server_->Channel());
  for (const std::string service :
       {"", "confcenter.v1.ConfigService", "confcenter.v1.TenantService"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Check(&ctx, req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(ServerTest, SecondServerOnTheSameDataDirExitsWithAOneLineError) {
  std::string output;
  int code = RunServerToExit({"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                              "--http_listen=127.0.0.1:0", "--data_dir=" + dir_.path() + "/data"},
                             &output);
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("locked by another process"), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

TEST(ServerStartTest, ForeignDataDirIsRefused) {
  TempDir dir;
  std::string output;
  int code = RunServerToExit({"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                              "--http_listen=127.0.0.1:0", "--data_dir=/proc/self"},
                             &output);
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("holds no confcenter store"), std::string::npos) << output;
}

}  // namespace
}  // namespace confcenter
