// min_revision on reads and on Subscribe: the answer reflects at least that revision, waiting
// for it (a write through another replica, or one still being committed) up to
// --max_revision_wait, then UNAVAILABLE naming both revisions. Runs on both engines.
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using testing::ServerProcess;
using testing::TempDir;

class MinRevisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--max_revision_wait=300ms"});
    ASSERT_NE(server_->port(), 0);
    config_ = v1::ConfigService::NewStub(server_->Channel());
    watch_ = v1::WatchService::NewStub(server_->Channel());
  }

  int64_t Put(const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    // The first call connects; a failed first connection is retried, bounded.
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::PutRequest req;
    req.set_tenant("integration");
    req.set_service("svc");
    req.set_key(key);
    req.set_value(value);
    v1::PutResponse resp;
    grpc::Status status = config_->Put(&ctx, req, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return resp.revision();
  }

  grpc::Status Get(const std::string& key, int64_t min_revision, v1::GetResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetRequest req;
    req.set_tenant("integration");
    req.set_service("svc");
    req.set_key(key);
    req.set_min_revision(min_revision);
    return config_->Get(&ctx, req, resp);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::ConfigService::Stub> config_;
  std::unique_ptr<v1::WatchService::Stub> watch_;
};

TEST_F(MinRevisionTest, AReadAtAnAppliedRevisionAnswersAtOnce) {
  const int64_t rev = Put("k", "v1");
  v1::GetResponse resp;
  ASSERT_TRUE(Get("k", rev, &resp).ok());
  EXPECT_EQ(resp.entry().value(), "v1");
  EXPECT_GE(resp.revision(), rev);
}

TEST_F(MinRevisionTest, AReadWaitsForARevisionNotCommittedYet) {
  const int64_t rev = Put("k", "v1");
  std::future<std::pair<grpc::Status, std::string>> read = std::async(std::launch::async, [&] {
    v1::GetResponse resp;
    grpc::Status status = Get("k", rev + 1, &resp);
    return std::make_pair(status, resp.entry().value());
  });
  // The read is parked until the next revision exists.
  EXPECT_EQ(read.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  Put("k", "v2");
  auto [status, value] = read.get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(value, "v2");
}

TEST_F(MinRevisionTest, ARevisionThatDoesNotComeIsUnavailableNamingBoth) {
  const int64_t rev = Put("k", "v1");
  v1::GetResponse resp;
  grpc::Status status = Get("k", rev + 1000, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(status.error_message(), absl::StrCat("at revision ", rev)))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), absl::StrCat("requested ", rev + 1000)))
      << status.error_message();
}

TEST_F(MinRevisionTest, ANegativeMinRevisionIsInvalidAndNamesTheField) {
  v1::GetResponse resp;
  grpc::Status status = Get("k", -1, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "min_revision")) << status.error_message();
}

TEST_F(MinRevisionTest, ASubscribeSnapshotWaitsForItsMinRevision) {
  const int64_t rev = Put("k", "v1");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SubscribeRequest req;
  req.set_tenant("integration");
  req.add_services("svc");
  req.set_min_revision(rev + 1);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> stream = watch_->Subscribe(&ctx, req);
  std::future<v1::SubscribeResponse> first = std::async(std::launch::async, [&] {
    v1::SubscribeResponse message;
    stream->Read(&message);
    return message;
  });
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  const int64_t next = Put("k", "v2");
  v1::SubscribeResponse snapshot = first.get();
  EXPECT_EQ(snapshot.kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
  EXPECT_FALSE(snapshot.resync());
  EXPECT_EQ(snapshot.revision(), next);
  ASSERT_EQ(snapshot.entries_size(), 1);
  EXPECT_EQ(snapshot.entries(0).value(), "v2");
  ctx.TryCancel();
}

TEST_F(MinRevisionTest, ASubscribeWhoseMinRevisionDoesNotComeEndsUnavailable) {
  const int64_t rev = Put("k", "v1");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SubscribeRequest req;
  req.set_tenant("integration");
  req.set_min_revision(rev + 1000);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> stream = watch_->Subscribe(&ctx, req);
  v1::SubscribeResponse message;
  EXPECT_FALSE(stream->Read(&message));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(status.error_message(), absl::StrCat("min_revision ", rev + 1000)))
      << status.error_message();
}

}  // namespace
}  // namespace confcenter
