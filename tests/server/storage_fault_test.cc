// confcenterd on a failing disk (--testing_fault_file): a write that hits a full disk or an
// I/O error fails with a clear status, applies nothing (revision, values, history and
// subscribers unchanged), the server stays up and serves reads, and writes succeed again once
// the fault clears -- also after a kill -9 and restart, which must not bring the failed write
// back from the WAL.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "confcenter/v1/history.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using confcenter::testing::ApiClient;
using confcenter::testing::ServerProcess;
using confcenter::testing::StoreFingerprint;
using confcenter::testing::TempDir;
using confcenter::testing::TestSubscriber;
using View = TestSubscriber::View;

struct FaultCase {
  std::string fault;  // as written to the fault file
  grpc::StatusCode code;
  std::string cause;  // in the message
  friend void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.fault; }
};

class StorageFaultTest : public ::testing::TestWithParam<FaultCase> {
 protected:
  void SetUp() override {
    fault_file_ = dir_.path() + "/fault";
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--testing_fault_file=" + fault_file_});
    ASSERT_NE(server_->port(), 0);
    Connect();
  }
  void Connect() {
    channel_ = server_->Channel();
    api_ = std::make_unique<ApiClient>(channel_);
  }
  // Replaces the fault file in one rename, so the server never reads half a name.
  void SetFault(const std::string& fault) {
    const std::string tmp = fault_file_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << fault;
    std::filesystem::rename(tmp, fault_file_);
  }
  std::vector<std::string> HistoryValues(const std::string& tenant, const std::string& key) {
    auto stub = v1::HistoryService::NewStub(channel_);
    v1::HistoryRequest req;
    req.set_tenant(tenant);
    req.set_service("svc");
    req.set_key(key);
    v1::HistoryResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub->History(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<std::string> values;
    for (const auto& v : resp.versions()) values.push_back(v.value());
    return values;
  }

  TempDir dir_;
  std::string fault_file_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ApiClient> api_;
};

TEST_P(StorageFaultTest, FailedWriteAppliesNothingServerStaysUpAndRecoversWhenTheFaultClears) {
  const FaultCase& c = GetParam();
  const grpc::Status registered = api_->Register("f1");
  ASSERT_TRUE(registered.ok()) << registered.error_code() << ": " << registered.error_message();
  int64_t before = 0;
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "v1", &before).ok());
  auto sub = std::make_unique<TestSubscriber>(channel_, "f1", std::vector<std::string>{"svc"},
                                              std::nullopt);
  ASSERT_TRUE(sub->WaitForRevision(before));
  const std::string fingerprint = StoreFingerprint(api_->config(), api_->tenants());

  SetFault(c.fault);
  grpc::Status put = api_->Put("integration", "svc", "k", "lost-put");
  EXPECT_EQ(put.error_code(), c.code) << put.error_message();
  EXPECT_NE(put.error_message().find("the write was not applied"), std::string::npos)
      << put.error_message();
  EXPECT_NE(put.error_message().find(c.cause), std::string::npos) << put.error_message();
  v1::TxnRequest txn;
  for (const char* tenant : {"integration", "f1"}) {
    v1::TxnOp* op = txn.add_ops();
    op->set_type(v1::TXN_OP_TYPE_PUT);
    op->set_tenant(tenant);
    op->set_service("svc");
    op->set_key("k");
    op->set_value("lost-txn");
  }
  grpc::Status failed_txn = api_->Txn(txn);
  EXPECT_EQ(failed_txn.error_code(), c.code) << failed_txn.error_message();
  EXPECT_EQ(api_->Register("f2").error_code(), c.code);

  // Up and serving reads, with nothing of the failed writes.
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  grpc::ClientContext hctx;
  ASSERT_TRUE(health->Check(&hctx, hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  int64_t revision = 0;
  EXPECT_EQ(api_->Resolve("f1", {"svc"}, &revision), (View{{{"svc", "k"}, "v1@integration"}}));
  EXPECT_EQ(revision, before);
  EXPECT_EQ(StoreFingerprint(api_->config(), api_->tenants()), fingerprint);
  EXPECT_EQ(HistoryValues("integration", "k"), (std::vector<std::string>{"v1"}));

  SetFault("");
  int64_t after = 0;
  grpc::Status recovered = api_->Put("integration", "svc", "k", "v2", &after);
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  EXPECT_EQ(after, before + 1);  // the failures took no revision
  ASSERT_TRUE(sub->WaitForRevision(after));
  EXPECT_EQ(sub->event_revisions(), (std::vector<int64_t>{after}));
  EXPECT_EQ(sub->view(), (View{{{"svc", "k"}, "v2@integration"}}));

  // A crash now must not resurrect a failed write from the WAL.
  server_->Kill();
  ASSERT_TRUE(server_->Restart());
  Connect();
  EXPECT_EQ(api_->Resolve("f1", {"svc"}, &revision), (View{{{"svc", "k"}, "v2@integration"}}));
  EXPECT_EQ(revision, after);
  EXPECT_EQ(HistoryValues("integration", "k"), (std::vector<std::string>{"v2", "v1"}));
  EXPECT_TRUE(HistoryValues("f1", "k").empty());
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "v3", &revision).ok());
  EXPECT_EQ(revision, after + 1);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, StorageFaultTest,
    ::testing::Values(FaultCase{"enospc", grpc::StatusCode::RESOURCE_EXHAUSTED, "disk is full"},
                      FaultCase{"eio", grpc::StatusCode::UNAVAILABLE, "Input/output error"},
                      FaultCase{"eio-sync", grpc::StatusCode::UNAVAILABLE, "Input/output error"}),
    [](const ::testing::TestParamInfo<FaultCase>& info) {
      return info.param.fault == "enospc" ? std::string("DiskFull")
             : info.param.fault == "eio"  ? std::string("WriteIoError")
                                          : std::string("SyncIoError");
    });

}  // namespace
}  // namespace confcenter
