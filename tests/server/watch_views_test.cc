// WatchService.SubscribeViews (many views on one stream) against the real confcenterd.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
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

v1::SubscribeRequest ViewOf(const std::string& tenant, std::vector<std::string> services,
                            std::optional<int64_t> start = std::nullopt) {
  v1::SubscribeRequest view;
  view.set_tenant(tenant);
  for (auto& s : services) view.add_services(s);
  if (start) view.set_start_revision(*start);
  return view;
}

// Reads a SubscribeViews stream on its own thread; keeps every ViewMessage.
class ViewsReader {
 public:
  ViewsReader(const std::shared_ptr<grpc::Channel>& channel,
              const std::vector<v1::SubscribeRequest>& views, bool start_reading = true)
      : stub_(v1::WatchService::NewStub(channel)) {
    v1::SubscribeViewsRequest req;
    for (const auto& v : views) *req.add_views() = v;
    reader_ = stub_->SubscribeViews(&ctx_, req);
    if (start_reading) StartReading();
  }
  ~ViewsReader() {
    ctx_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }
  void StartReading() {
    thread_ = std::thread([this] {
      v1::SubscribeViewsResponse response;
      while (reader_->Read(&response)) {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& m : response.messages()) {
          messages_.push_back(m);
          response_of_.push_back(responses_);
        }
        ++responses_;
        cv_.notify_all();
      }
      grpc::Status status = reader_->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      end_ = status;
      cv_.notify_all();
    });
  }
  // Waits (up to 20 s) until `view` has a message with revision >= `revision`, or has ended.
  bool WaitForRevision(uint32_t view, int64_t revision) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] {
      for (const auto& m : messages_) {
        if (!Names(m, view)) continue;
        if (m.end_code() != 0 || m.message().revision() >= revision) return true;
      }
      return end_.has_value();
    });
  }
  grpc::Status WaitForEnd() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return end_.has_value(); });
    return end_.value_or(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no end in 20 s"));
  }
  std::vector<v1::ViewMessage> messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  // For each message of messages(), the index of the SubscribeViewsResponse it came in.
  std::vector<int> response_of() const {
    std::lock_guard<std::mutex> lock(mu_);
    return response_of_;
  }
  // What `view` got, as a Subscribe stream would have: its messages in order.
  std::vector<v1::SubscribeResponse> MessagesOf(uint32_t view) const {
    std::vector<v1::SubscribeResponse> out;
    for (const auto& m : messages()) {
      if (Names(m, view) && m.end_code() == 0) out.push_back(m.message());
    }
    return out;
  }
  static bool Names(const v1::ViewMessage& m, uint32_t view) {
    return std::find(m.views().begin(), m.views().end(), view) != m.views().end();
  }

 private:
  std::unique_ptr<v1::WatchService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeViewsResponse>> reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::ViewMessage> messages_;
  std::vector<int> response_of_;
  int responses_ = 0;
  std::optional<grpc::Status> end_;
  std::thread thread_;
};

std::vector<int64_t> EventRevisions(const std::vector<v1::SubscribeResponse>& messages) {
  std::vector<int64_t> out;
  for (const auto& m : messages) {
    if (m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) out.push_back(m.revision());
  }
  return out;
}

// PROGRESS messages come on a timer, not at the same moment on two streams.
void DropProgress(std::vector<v1::SubscribeResponse>* messages) {
  messages->erase(std::remove_if(messages->begin(), messages->end(),
                                 [](const v1::SubscribeResponse& m) {
                                   return m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS;
                                 }),
                  messages->end());
}

class SubscribeViewsTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(flags));
    ASSERT_NE(server_->port(), 0);
    channel_ = server_->Channel();
    api_ = std::make_unique<ApiClient>(channel_);
  }
  void SetUp() override { Start(); }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(SubscribeViewsTest, EachViewGetsWhatItsOwnSubscribeGetsAndSharedMessagesNameEveryView) {
  ASSERT_TRUE(api_->Register("f1").ok());
  ASSERT_TRUE(api_->Register("f2").ok());
  int64_t resume_from = 0;
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "i1", &resume_from).ok());
  ASSERT_TRUE(api_->Put("f1", "svc", "k", "f1").ok());
  // The same views as plain Subscribe streams, to compare with.
  const std::vector<v1::SubscribeRequest> views = {ViewOf("f1", {"svc"}), ViewOf("f2", {"svc"}),
                                                   ViewOf("f2", {"svc"}),
                                                   ViewOf("integration", {}, resume_from)};
  std::vector<std::unique_ptr<TestSubscriber>> alone;
  for (const auto& v : views) {
    alone.push_back(std::make_unique<TestSubscriber>(
        channel_, v.tenant(), std::vector<std::string>(v.services().begin(), v.services().end()),
        v.has_start_revision() ? std::optional<int64_t>(v.start_revision()) : std::nullopt));
  }
  ViewsReader together(channel_, views);
  int64_t rev = 0;
  api_->Resolve("f1", {}, &rev);
  for (uint32_t v = 0; v < views.size(); ++v) {  // every stream has started
    ASSERT_TRUE(together.WaitForRevision(v, rev)) << "view " << v;
    ASSERT_TRUE(alone[v]->WaitForRevision(rev)) << "view " << v;
  }

  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(api_->Put("integration", "svc", "k", "i" + std::to_string(i + 2), &rev).ok());
    ASSERT_TRUE(api_->Put(i % 2 ? "f1" : "f2", "svc", "own", std::to_string(i), &rev).ok());
  }
  ASSERT_TRUE(api_->Put("integration", "other", "x", "y", &rev).ok());
  for (uint32_t v = 0; v < views.size(); ++v) {
    ASSERT_TRUE(together.WaitForRevision(v, rev)) << "view " << v;
    ASSERT_TRUE(alone[v]->WaitForRevision(rev)) << "view " << v;
  }
  for (uint32_t v = 0; v < views.size(); ++v) {
    std::vector<v1::SubscribeResponse> got = together.MessagesOf(v);
    ASSERT_FALSE(got.empty()) << "view " << v;
    // The snapshot or replay, then the same events as the view's own stream.
    EXPECT_EQ(EventRevisions(got), alone[v]->event_revisions()) << "view " << v;
    std::vector<v1::SubscribeResponse> expected = alone[v]->messages();
    DropProgress(&got);
    DropProgress(&expected);
    ASSERT_EQ(got.size(), expected.size()) << "view " << v;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].SerializeAsString(), expected[i].SerializeAsString())
          << "view " << v << ", message " << i;
    }
  }
  EXPECT_EQ(EventRevisions(together.MessagesOf(0)).size(), 10u);  // f1 overrides k
  EXPECT_EQ(EventRevisions(together.MessagesOf(1)).size(), 30u);
  EXPECT_EQ(EventRevisions(together.MessagesOf(3)).size(), 21u);  // integration's, after i1

  // Views 1 and 2 follow the same view: their events travel once, naming both.
  int shared = 0;
  for (const auto& m : together.messages()) {
    if (m.message().kind() != v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) continue;
    std::set<uint32_t> named(m.views().begin(), m.views().end());
    EXPECT_EQ(named.size(), static_cast<size_t>(m.views_size())) << "a view named twice";
    if (named.count(1)) shared += named.count(2);
  }
  EXPECT_GT(shared, 0);
}

TEST_F(SubscribeViewsTest, OneWriteCarriesARevisionToEveryViewOfTheStream) {
  std::vector<v1::SubscribeRequest> views;
  for (const char* tenant : {"b1", "b2", "b3"}) {
    ASSERT_TRUE(api_->Register(tenant).ok());
    for (int i = 0; i < 10; ++i) views.push_back(ViewOf(tenant, {"svc"}));
  }
  ViewsReader stream(channel_, views);
  int64_t rev = 0;
  api_->Resolve("b1", {}, &rev);
  for (uint32_t v = 0; v < views.size(); ++v) ASSERT_TRUE(stream.WaitForRevision(v, rev));
  std::vector<int64_t> written;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(api_->Put("integration", "svc", "k", std::to_string(i), &rev).ok());
    written.push_back(rev);
    // Received by every view (so the stream's write is done) before the next revision.
    for (uint32_t v = 0; v < views.size(); ++v) ASSERT_TRUE(stream.WaitForRevision(v, rev));
  }
  const std::vector<v1::ViewMessage> got = stream.messages();
  const std::vector<int> response_of = stream.response_of();
  for (int64_t r : written) {
    std::set<int> responses;
    std::set<uint32_t> views_reached;
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i].message().kind() != v1::SUBSCRIBE_RESPONSE_KIND_EVENTS ||
          got[i].message().revision() != r) {
        continue;
      }
      responses.insert(response_of[i]);
      views_reached.insert(got[i].views().begin(), got[i].views().end());
      // The three branches inherit the same write: one message for all 30 views.
      EXPECT_EQ(got[i].views_size(), 30) << "revision " << r;
    }
    EXPECT_EQ(views_reached.size(), views.size()) << "revision " << r;
    EXPECT_EQ(responses.size(), 1u) << "revision " << r << " came in several writes";
  }
}

TEST_F(SubscribeViewsTest, BadRequestsFailWholeNamingTheViewAndSubscribeNothing) {
  server_.reset();
  Start({"--max_subscriptions=2"});
  {
    ViewsReader none(channel_, {});
    grpc::Status status = none.WaitForEnd();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("views"), std::string::npos) << status.error_message();
  }
  {
    ViewsReader bad_name(channel_, {ViewOf("integration", {}), ViewOf("Not A Name!", {})});
    grpc::Status status = bad_name.WaitForEnd();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message().rfind("views[1].tenant: ", 0), 0u) << status.error_message();
  }
  {
    ViewsReader unknown(channel_, {ViewOf("integration", {}), ViewOf("feat-typo", {})});
    grpc::Status status = unknown.WaitForEnd();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message().rfind("views[1].tenant: ", 0), 0u) << status.error_message();
  }
  {
    // Views count against --max_subscriptions one by one.
    ViewsReader too_many(channel_, {ViewOf("integration", {}), ViewOf("integration", {}),
                                    ViewOf("integration", {})});
    EXPECT_EQ(too_many.WaitForEnd().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // The failed calls left nothing subscribed: two views still fit.
  ViewsReader good(channel_, {ViewOf("integration", {}), ViewOf("integration", {"svc"})});
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "v", &rev).ok());
  EXPECT_TRUE(good.WaitForRevision(0, rev));
  EXPECT_TRUE(good.WaitForRevision(1, rev));
  EXPECT_EQ(EventRevisions(good.MessagesOf(1)), std::vector<int64_t>{rev});
}

TEST_F(SubscribeViewsTest, ASlowViewIsCutOffAloneAndTheOthersGoOn) {
  server_.reset();
  Start({"--watch_queue_messages=4", "--max_value_bytes=600000", "--progress_interval=0s"});
  // Not read until the writes are done: flow control stops the stream's writes, and the
  // view that gets the big values fills its queue while the other view's stays short.
  ViewsReader stream(channel_, {ViewOf("integration", {"big"}), ViewOf("integration", {"small"})},
                     /*start_reading=*/false);
  const std::string big(500000, 'x');
  int64_t rev = 0;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(api_->Put("integration", "big", "k" + std::to_string(i), big, &rev).ok());
  }
  int64_t small_rev = 0;
  ASSERT_TRUE(api_->Put("integration", "small", "k", "v", &small_rev).ok());
  stream.StartReading();
  ASSERT_TRUE(stream.WaitForRevision(1, small_rev));
  ASSERT_TRUE(stream.WaitForRevision(0, rev));  // its end, or (wrongly) everything

  std::vector<v1::ViewMessage> got = stream.messages();
  auto end = std::find_if(got.begin(), got.end(),
                          [](const v1::ViewMessage& m) { return m.end_code() != 0; });
  ASSERT_NE(end, got.end()) << "the big view was not cut off";
  EXPECT_EQ(end->end_code(), static_cast<int32_t>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(std::vector<uint32_t>(end->views().begin(), end->views().end()),
            std::vector<uint32_t>{0});
  EXPECT_NE(end->end_message().find("start_revision"), std::string::npos) << end->end_message();
  EXPECT_LT(EventRevisions(stream.MessagesOf(0)).size(), 40u);
  // Nothing for the ended view after its end.
  for (auto it = end + 1; it != got.end(); ++it) EXPECT_FALSE(ViewsReader::Names(*it, 0));

  // The other view goes on, on the same stream.
  ASSERT_TRUE(api_->Put("integration", "small", "k", "w", &rev).ok());
  ASSERT_TRUE(stream.WaitForRevision(1, rev));
  EXPECT_EQ(EventRevisions(stream.MessagesOf(1)), (std::vector<int64_t>{small_rev, rev}));
}

TEST_F(SubscribeViewsTest, ShutdownEndsTheStreamWithUnavailable) {
  ViewsReader stream(channel_, {ViewOf("integration", {}), ViewOf("integration", {"svc"})});
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("integration", "svc", "k", "v", &rev).ok());
  ASSERT_TRUE(stream.WaitForRevision(1, rev));
  std::thread stopper([&] { EXPECT_EQ(server_->Stop(), 0); });
  grpc::Status status = stream.WaitForEnd();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  stopper.join();
  for (uint32_t v : {0u, 1u}) {
    int ends = 0;
    for (const auto& m : stream.messages()) {
      if (ViewsReader::Names(m, v) && m.end_code() != 0) {
        ++ends;
        EXPECT_EQ(m.end_code(), static_cast<int32_t>(grpc::StatusCode::UNAVAILABLE));
      }
    }
    EXPECT_EQ(ends, 1) << "view " << v;
  }
}

}  // namespace
}  // namespace confcenter
