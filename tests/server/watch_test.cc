// WatchService.Subscribe against the real confcenterd.
#include <thread>

#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using confcenter::testing::ApiClient;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;
using confcenter::testing::TestSubscriber;
using View = TestSubscriber::View;

class WatchTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(flags));
    ASSERT_NE(server_->port(), 0);
    channel_ = server_->Channel();
    api_ = std::make_unique<ApiClient>(channel_);
  }
  void SetUp() override { Start(); }

  std::unique_ptr<TestSubscriber> Subscribe(const std::string& tenant,
                                            std::vector<std::string> services,
                                            std::optional<int64_t> start = std::nullopt,
                                            View initial = {}) {
    return std::make_unique<TestSubscriber>(channel_, tenant, std::move(services), start,
                                            std::move(initial));
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(WatchTest, SeedScenarioBranchSeesIntegrationThenItsOwnThenIntegrationAgain) {
  ASSERT_TRUE(api_->Register("integration", {"a", "b"}).ok());
  ASSERT_TRUE(api_->Put("integration", "a", "endpoint", "a.integration").ok());
  ASSERT_TRUE(api_->Register("f1", {"web"}).ok());

  auto sub = Subscribe("f1", {"a"});
  int64_t rev = 0;
  api_->Resolve("f1", {"a"}, &rev);
  ASSERT_TRUE(sub->WaitForRevision(rev));
  EXPECT_EQ(sub->view(), (View{{{"a", "endpoint"}, "a.integration@integration"}}));

  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  ASSERT_TRUE(api_->Put("f1", "a", "endpoint", "a.f1", &rev).ok());
  ASSERT_TRUE(sub->WaitForRevision(rev));
  EXPECT_EQ(sub->view(), (View{{{"a", "endpoint"}, "a.f1@f1"}}));

  // Deregistering the branch: the open stream falls back to integration's view.
  ASSERT_TRUE(api_->Deregister("f1", {}, /*all=*/true, &rev).ok());
  ASSERT_TRUE(sub->WaitForRevision(rev));
  EXPECT_EQ(sub->view(), (View{{{"a", "endpoint"}, "a.integration@integration"}}));
  ASSERT_TRUE(api_->Put("integration", "a", "endpoint", "a.integration.v2", &rev).ok());
  ASSERT_TRUE(sub->WaitForRevision(rev));
  EXPECT_EQ(sub->view(), (View{{{"a", "endpoint"}, "a.integration.v2@integration"}}));
  EXPECT_TRUE(sub->out_of_order().empty());
}

TEST_F(WatchTest, AResumeOfATenantDeregisteredBeforeARestartFollowsItsParent) {
  ASSERT_TRUE(api_->Put("integration", "a", "endpoint", "a.integration").ok());
  ASSERT_TRUE(api_->Register("f1", {}, "integration").ok());
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("f1", "a", "endpoint", "a.f1", &rev).ok());
  auto sub = Subscribe("f1", {"a"});
  ASSERT_TRUE(sub->WaitForRevision(rev));
  ASSERT_TRUE(api_->Deregister("f1", {}, /*all=*/true, &rev).ok());
  ASSERT_TRUE(sub->WaitForRevision(rev));
  const View before = sub->view();
  EXPECT_EQ(before, (View{{{"a", "endpoint"}, "a.integration@integration"}}));
  const int64_t resume_from = sub->last_revision();
  sub.reset();

  // The server restarts; the client resumes where it was, on the tenant that is gone.
  server_.reset();
  Start();
  auto resumed = Subscribe("f1", {"a"}, resume_from, before);
  ASSERT_TRUE(api_->Put("integration", "a", "endpoint", "a.integration.v2", &rev).ok());
  ASSERT_TRUE(resumed->WaitForRevision(rev));
  EXPECT_EQ(resumed->view(), (View{{{"a", "endpoint"}, "a.integration.v2@integration"}}));
  EXPECT_TRUE(resumed->out_of_order().empty());
  // A new subscription (not a resume) of the tenant that is gone is refused.
  auto fresh = Subscribe("f1", {"a"});
  EXPECT_EQ(fresh->WaitForEnd().error_code(), grpc::StatusCode::NOT_FOUND);
  // Registered again, the tenant is itself again.
  ASSERT_TRUE(api_->Register("f1", {}, "integration").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "endpoint", "a.f1.v2", &rev).ok());
  ASSERT_TRUE(resumed->WaitForRevision(rev));
  EXPECT_EQ(resumed->view(), (View{{{"a", "endpoint"}, "a.f1.v2@f1"}}));
}

TEST_F(WatchTest, EventsDescribeTheMergedViewNotRawWrites) {
  ASSERT_TRUE(api_->Register("f1").ok());
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "i1").ok());
  ASSERT_TRUE(api_->Put("f1", "svc", "k", "f1").ok());
  int64_t rev = 0;
  api_->Resolve("f1", {}, &rev);
  auto sub = Subscribe("f1", {"svc"});
  ASSERT_TRUE(sub->WaitForRevision(rev));

  int64_t shadowed = 0, other = 0, deleted = 0, masked = 0;
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "i2", &shadowed).ok());  // f1 overrides k
  ASSERT_TRUE(api_->Put("integration", "svc", "other", "x", &other).ok());
  ASSERT_TRUE(api_->Delete("f1", "svc", "k", &deleted).ok());  // falls back to integration
  ASSERT_TRUE(api_->Mask("f1", "svc", "other", &masked).ok());
  ASSERT_TRUE(sub->WaitForRevision(masked));
  EXPECT_EQ(sub->event_revisions(), (std::vector<int64_t>{other, deleted, masked}));
  for (const auto& m : sub->messages()) {
    if (m.revision() == deleted && m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) {
      ASSERT_EQ(m.events_size(), 1);
      EXPECT_EQ(m.events(0).type(), v1::WatchEvent::TYPE_PUT);
      EXPECT_EQ(m.events(0).value(), "i2");
      EXPECT_EQ(m.events(0).source_tenant(), "integration");
      EXPECT_EQ(m.events(0).entry_revision(), shadowed);
    }
    if (m.revision() == masked && m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) {
      ASSERT_EQ(m.events_size(), 1);
      EXPECT_EQ(m.events(0).type(), v1::WatchEvent::TYPE_DELETE);
      EXPECT_EQ(m.events(0).key(), "other");
    }
  }
  EXPECT_EQ(sub->view(), (View{{{"svc", "k"}, "i2@integration"}}));
}

TEST_F(WatchTest, ATxnArrivesAsOneMessageUnderItsRevision) {
  auto sub = Subscribe("integration", {});
  ASSERT_TRUE(sub->WaitForMessages(1));
  v1::TxnRequest txn;
  for (const char* service : {"a", "b"}) {
    v1::TxnOp* op = txn.add_ops();
    op->set_type(v1::TXN_OP_TYPE_PUT);
    op->set_tenant("integration");
    op->set_service(service);
    op->set_key("k");
    op->set_value(service);
  }
  int64_t rev = 0;
  ASSERT_TRUE(api_->Txn(txn, &rev).ok());
  ASSERT_TRUE(sub->WaitForRevision(rev));
  auto messages = sub->messages();
  ASSERT_EQ(messages.back().kind(), v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
  EXPECT_EQ(messages.back().revision(), rev);
  EXPECT_EQ(messages.back().events_size(), 2);
}

TEST_F(WatchTest, ResumeDeliversExactlyTheChangesAfterTheRevision) {
  ASSERT_TRUE(api_->Register("f1").ok());
  ASSERT_TRUE(api_->Put("f1", "svc", "own", "f").ok());
  auto first = Subscribe("f1", {"svc"});
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("integration", "svc", "a", "1", &rev).ok());
  ASSERT_TRUE(first->WaitForRevision(rev));
  const int64_t resume_from = first->last_revision();
  const View seen = first->view();
  first->Cancel();

  std::vector<int64_t> expected;
  ASSERT_TRUE(api_->Put("integration", "svc", "a", "2", &rev).ok());
  expected.push_back(rev);
  ASSERT_TRUE(api_->Put("integration", "svc", "own", "shadowed").ok());  // no event for f1
  ASSERT_TRUE(api_->Put("integration", "other", "x", "y").ok());         // other service
  ASSERT_TRUE(api_->Mask("f1", "svc", "a", &rev).ok());
  expected.push_back(rev);
  ASSERT_TRUE(api_->Delete("f1", "svc", "own", &rev).ok());
  expected.push_back(rev);

  auto resumed = Subscribe("f1", {"svc"}, resume_from, seen);
  ASSERT_TRUE(resumed->WaitForRevision(rev));
  EXPECT_EQ(resumed->event_revisions(), expected);
  EXPECT_EQ(resumed->view(), api_->Resolve("f1", {"svc"}));
  EXPECT_EQ(resumed->view(), (View{{{"svc", "own"}, "shadowed@integration"}}));

  // Live events continue after the replay without a gap.
  ASSERT_TRUE(api_->Put("f1", "svc", "late", "v", &rev).ok());
  ASSERT_TRUE(resumed->WaitForRevision(rev));
  expected.push_back(rev);
  EXPECT_EQ(resumed->event_revisions(), expected);
}

TEST_F(WatchTest, CompactedResumePointGetsAResyncSnapshot) {
  server_.reset();
  Start({"--log_retention_revisions=3", "--log_retention_age=0s", "--progress_interval=20ms"});
  auto live = Subscribe("integration", {"svc"});
  int64_t rev = 0;
  for (int i = 0; i < 15; ++i) {
    ASSERT_TRUE(
        api_->Put("integration", "svc", "k" + std::to_string(i % 4), "v" + std::to_string(i), &rev)
            .ok());
  }
  // A tick compacts, then sends progress: two progress messages at `rev` mean a compaction
  // ran after the last write.
  auto progress_at_rev = [&] {
    int n = 0;
    for (const auto& m : live->messages()) {
      n += m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS && m.revision() >= rev;
    }
    return n;
  };
  for (size_t seen = live->messages().size(); progress_at_rev() < 2; ++seen) {
    ASSERT_TRUE(live->WaitForMessages(seen + 1));
  }
  auto resumed = Subscribe("integration", {"svc"}, int64_t{1});
  ASSERT_TRUE(resumed->WaitForRevision(rev));
  auto first = resumed->messages().front();
  EXPECT_EQ(first.kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
  EXPECT_TRUE(first.resync());
  EXPECT_EQ(first.revision(), rev);
  EXPECT_EQ(resumed->view(), api_->Resolve("integration", {"svc"}));
}

TEST_F(WatchTest, ProgressKeepsAnIdleStreamsResumePointFresh) {
  server_.reset();
  Start({"--progress_interval=20ms"});
  ASSERT_TRUE(api_->Register("quiet").ok());
  auto sub = Subscribe("quiet", {"svc"});
  ASSERT_TRUE(sub->WaitForMessages(1));  // the snapshot: the write below comes after it
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("integration", "unrelated", "k", "v", &rev).ok());
  ASSERT_TRUE(sub->WaitForRevision(rev));
  EXPECT_TRUE(sub->event_revisions().empty());
  EXPECT_EQ(sub->messages().back().kind(), v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS);
}

TEST_F(WatchTest, SlowSubscriberIsCutOffAloneWithResourceExhausted) {
  server_.reset();
  Start({"--watch_queue_messages=4", "--max_value_bytes=600000", "--progress_interval=0s"});
  // A stream that is never read: gRPC flow control stops its writes, then its queue fills.
  // It is alone with its service filter, so cutting it off removes its group while the hub
  // is fanning out to it.
  auto stub = v1::WatchService::NewStub(channel_);
  grpc::ClientContext slow_ctx;
  v1::SubscribeRequest req;
  req.set_tenant("integration");
  req.add_services("svc");
  auto slow = stub->Subscribe(&slow_ctx, req);
  auto fast = Subscribe("integration", {});
  ASSERT_TRUE(fast->WaitForMessages(1));
  const std::string big(500000, 'x');
  int64_t rev = 0;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(api_->Put("integration", "svc", "k" + std::to_string(i), big, &rev).ok());
  }
  ASSERT_TRUE(fast->WaitForRevision(rev));
  EXPECT_EQ(fast->event_revisions().size(), 40u);
  v1::SubscribeResponse msg;
  int read = 0;
  while (slow->Read(&msg) && read < 1000) ++read;
  grpc::Status status = slow->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("start_revision"), std::string::npos);
  EXPECT_LT(read, 41);
}

TEST_F(WatchTest, UnknownTenantIsNotFound) {
  auto sub = Subscribe("feat-typo", {});
  EXPECT_EQ(sub->WaitForEnd().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WatchTest, ShutdownEndsStreamsWithUnavailableAndAResumeHint) {
  auto sub = Subscribe("integration", {});
  ASSERT_TRUE(sub->WaitForMessages(1));
  std::thread stopper([&] { EXPECT_EQ(server_->Stop(), 0); });
  grpc::Status status = sub->WaitForEnd();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("start_revision"), std::string::npos);
  stopper.join();
}

}  // namespace
}  // namespace confcenter
