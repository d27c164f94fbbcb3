// Byte quotas and the tenant cap, against the real confcenterd: refused with
// RESOURCE_EXHAUSTED naming the quota before anything is written, deletions always taken, and
// an operator's AdminService.CompactHistory giving the room back without a restart.
#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using testing::ApiClient;
using testing::ServerProcess;
using testing::TempDir;

// The bytes one version of svc/KEY with a value of `n` bytes counts (service + key + value).
constexpr int kValueBytes = 1000;
constexpr int kVersionBytes = 3 + 1 + kValueBytes;  // "svc", "k", the value

v1::CompactHistoryResponse CompactHistory(const std::shared_ptr<grpc::Channel>& channel,
                                          int keep_versions, int64_t keep_change_log = 0,
                                          grpc::Status* status = nullptr) {
  auto admin = v1::AdminService::NewStub(channel);
  grpc::ClientContext ctx;
  v1::CompactHistoryRequest req;
  req.mutable_older_than()->set_seconds(0);
  req.set_keep_versions(keep_versions);
  req.set_keep_change_log_revisions(keep_change_log);
  v1::CompactHistoryResponse resp;
  grpc::Status st = admin->CompactHistory(&ctx, req, &resp);
  if (status != nullptr) {
    *status = st;
  } else {
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
  return resp;
}

TEST(QuotaTest, TenantBytesCountValuesAndHistoryUntilAnOperatorDropsHistory) {
  TempDir dir;
  // Room for the value and 9 more versions of it, not 10.
  ServerProcess server(dir.path() + "/data",
                       {"--max_tenant_bytes=" + std::to_string(kVersionBytes * 11 - 1)});
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  ASSERT_TRUE(api.Register("branch", {}, "integration").ok());
  const std::string value(kValueBytes, 'v');
  // Each Put of svc/k: the value (once) plus its version (once per write).
  int accepted = 0;
  grpc::Status refused;
  for (int i = 0; i < 20; ++i) {
    grpc::Status st = api.Put("branch", "svc", "k", value);
    if (!st.ok()) {
      refused = st;
      break;
    }
    ++accepted;
  }
  EXPECT_EQ(accepted, 9);  // value + 9 versions = 10 units; the 10th Put would make 11
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StartsWith(refused.error_message(), "tenant: tenant \"branch\" would hold "))
      << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "--max_tenant_bytes"))
      << refused.error_message();
  // A Txn names the op whose tenant is over.
  v1::TxnRequest txn;
  for (const char* tenant : {"integration", "branch"}) {
    v1::TxnOp* op = txn.add_ops();
    op->set_type(v1::TXN_OP_TYPE_PUT);
    op->set_tenant(tenant);
    op->set_service("svc");
    op->set_key("other");
    op->set_value(value);
  }
  grpc::Status st = api.Txn(txn);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StartsWith(st.error_message(), "ops[1].tenant: tenant \"branch\""))
      << st.error_message();
  // Nothing of it was written; another tenant has its own quota.
  EXPECT_EQ(api.Resolve("integration").count({"svc", "other"}), 0u);
  EXPECT_TRUE(api.Put("integration", "svc", "k", value).ok());

  // The count survives a restart (history is counted again from the store).
  ASSERT_TRUE(server.Restart());
  ApiClient again(server.Channel());
  EXPECT_EQ(again.Put("branch", "svc", "k", value).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // An operator drops old history: the room is back at once.
  v1::CompactHistoryResponse compacted = CompactHistory(server.Channel(), 1);
  EXPECT_GE(compacted.versions_dropped(), 8);
  EXPECT_FALSE(compacted.disk_full());
  EXPECT_TRUE(again.Put("branch", "svc", "k", value).ok());
  EXPECT_EQ((again.Resolve("branch")[{"svc", "k"}]), value + "@branch");
  // The operator's compaction is in the audit log, with what it dropped.
  // (It is written after the answer: read until it is there, bounded.)
  auto history = v1::HistoryService::NewStub(server.Channel());
  v1::QueryAuditResponse audit;
  for (int i = 0; i < 500 && audit.entries_size() == 0; ++i) {
    grpc::ClientContext ctx;
    v1::QueryAuditRequest query;
    query.set_rpc("AdminService.CompactHistory");
    ASSERT_TRUE(history->QueryAudit(&ctx, query, &audit).ok());
  }
  ASSERT_EQ(audit.entries_size(), 1);
  EXPECT_TRUE(
      absl::StrContains(audit.entries(0).detail(),
                        absl::StrCat("dropped ", compacted.versions_dropped(), " versions")))
      << audit.entries(0).detail();
}

TEST(QuotaTest, ADeletionIsTakenOverQuotaAndTheTenantCapCountsTenants) {
  TempDir dir;
  {
    ServerProcess server(dir.path() + "/data");
    ASSERT_NE(server.port(), 0);
    ApiClient api(server.Channel());
    ASSERT_TRUE(api.Put("integration", "svc", "a", std::string(kValueBytes, 'a')).ok());
    ASSERT_TRUE(api.Register("one", {}, "integration").ok());
  }
  // Now over both byte quotas: only what frees bytes goes through.
  ServerProcess server(dir.path() + "/data",
                       {"--max_tenant_bytes=100", "--max_store_bytes=1", "--max_tenants=3"});
  ASSERT_NE(server.port(), 0);
  ApiClient api(server.Channel());
  grpc::Status st = api.Put("integration", "svc", "b", "x");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "--max_tenant_bytes")) << st.error_message();
  EXPECT_TRUE(api.Delete("integration", "svc", "a").ok());
  EXPECT_TRUE(api.Resolve("integration").empty());
  // Tenants: integration, one, two; a fourth is refused (the store quota would refuse it too,
  // were it not for the cap: a registration without keys adds no entry bytes).
  EXPECT_TRUE(api.Register("two", {}, "integration").ok());
  st = api.Register("three", {}, "integration");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StartsWith(st.error_message(),
                               "tenant: there would be 4 tenants; the quota is 3 (--max_tenants)"))
      << st.error_message();
  ASSERT_TRUE(api.Deregister("two", {}, /*all=*/true).ok());
  EXPECT_TRUE(api.Register("three", {}, "integration").ok());
  // The store quota: a value into a tenant far under its own quota is still refused.
  st = api.Put("three", "s", "k", "v");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "--max_store_bytes")) << st.error_message();
}

TEST(QuotaTest, CompactHistoryNamesABadField) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data");
  ASSERT_NE(server.port(), 0);
  auto admin = v1::AdminService::NewStub(server.Channel());
  {
    grpc::ClientContext ctx;
    v1::CompactHistoryRequest req;  // no older_than
    v1::CompactHistoryResponse resp;
    grpc::Status st = admin->CompactHistory(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(st.error_message(), "older_than: required")) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::CompactHistoryRequest req;
    req.mutable_older_than()->set_seconds(-5);
    v1::CompactHistoryResponse resp;
    grpc::Status st = admin->CompactHistory(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(st.error_message(), "older_than: must not be negative"))
        << st.error_message();
  }
  grpc::Status st;
  CompactHistory(server.Channel(), 0, -1, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(st.error_message(), "keep_change_log_revisions:"))
      << st.error_message();
}

TEST(MemoryCheckTest, TheIndexIsReportedAndAStoreOverItsBoundIsRefusedWithOneLine) {
  TempDir dir;
  {
    ServerProcess server(dir.path() + "/data");
    ASSERT_NE(server.port(), 0);
    const double empty = testing::ScrapeMetric(server.admin_port(), "confcenter_index_bytes");
    EXPECT_GT(empty, 0);
    ApiClient api(server.Channel());
    ASSERT_TRUE(api.Put("integration", "svc", "k", std::string(100'000, 'v')).ok());
    EXPECT_GE(testing::ScrapeMetric(server.admin_port(), "confcenter_index_bytes"),
              empty + 100'000);
  }
  std::string output;
  int code = testing::RunServerToExit(
      {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
       "--data_dir=" + dir.path() + "/data", "--max_index_bytes=65536"},
      &output, {}, 20);
  EXPECT_EQ(code, 1) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  EXPECT_TRUE(absl::StrContains(output, "over --max_index_bytes (65536 bytes)")) << output;
  // A memory limit too small for the index and the baseline: refused too.
  code = testing::RunServerToExit(
      {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
       "--data_dir=" + dir.path() + "/data", "--memory_limit_bytes=33554432"},
      &output, {}, 20);
  EXPECT_EQ(code, 1) << output;
  EXPECT_TRUE(absl::StrContains(output, "exceed the memory limit (32 MiB)")) << output;
}

}  // namespace
}  // namespace confcenter
