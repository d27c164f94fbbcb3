// Instances and rollout status (InstanceService) end to end: client-library instances in a
// branch name themselves on their streams and report what they applied; ListInstances and
// WaitApplied answer from that, against the real confcenterd.
#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::Eventually;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

constexpr int64_t kStartMicros = 1'800'000'000'000'000;

class InstancesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_file_ = dir_.path() + "/clock";
    SetClock(kStartMicros);
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{"--testing_clock_file=" + clock_file_, "--instance_grace=30s"});
    ASSERT_NE(server_->port(), 0);
    ClientOptions options;
    options.address = server_->address();
    options.wait_for_ready = true;
    client_ = std::make_unique<Client>(options);
    for (const char* tenant : {"integration", "f1"}) {
      v1::RegisterRequest reg;
      reg.set_tenant(tenant);
      reg.add_services()->set_name("orders");
      reg.add_services()->set_name("payments");
      ASSERT_TRUE(client_->Register(reg).ok());
    }
  }

  void SetClock(int64_t micros) { testing::SetClockFile(clock_file_, micros); }

  std::unique_ptr<Subscription> StartInstance(const std::string& service, const std::string& id,
                                              std::function<absl::Status()> self_check = {}) {
    SubscriptionOptions options;
    options.tenant = "f1";
    options.services = {service};
    options.instance.id = id;
    options.instance.labels = {{"version", "1.3.0"}};
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    options.self_check = std::move(self_check);
    return Subscription::Start(server_->Channel(), options);
  }

  int64_t Put(const std::string& service, const std::string& key, const std::string& value) {
    v1::PutRequest put;
    put.set_tenant("f1");
    put.set_service(service);
    put.set_key(key);
    put.set_value(value);
    absl::StatusOr<v1::PutResponse> done = client_->Put(put);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? done->revision() : 0;
  }

  v1::ListInstancesResponse List(const std::string& service = "") {
    v1::ListInstancesRequest request;
    request.set_tenant("f1");
    request.set_service(service);
    absl::StatusOr<v1::ListInstancesResponse> listed = client_->ListInstances(request);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? *listed : v1::ListInstancesResponse();
  }

  v1::WaitAppliedResponse WaitApplied(int64_t revision, absl::Duration timeout,
                                      const std::string& service = "") {
    v1::WaitAppliedRequest request;
    request.set_tenant("f1");
    request.set_service(service);
    request.set_revision(revision);
    request.mutable_timeout()->set_seconds(absl::ToInt64Seconds(timeout));
    request.mutable_timeout()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(timeout % absl::Seconds(1))));
    absl::StatusOr<v1::WaitAppliedResponse> answer = client_->WaitApplied(request);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : v1::WaitAppliedResponse();
  }

  // Every instance listed has reported the view it got first.
  bool AllReported(size_t count) {
    v1::ListInstancesResponse listed = List();
    if (static_cast<size_t>(listed.instances_size()) != count) return false;
    for (const v1::Instance& i : listed.instances()) {
      if (!i.current()) return false;
    }
    return true;
  }

  TempDir dir_;
  std::string clock_file_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(InstancesTest, WaitAppliedReturnsOnceEveryInstancesCallbacksRanAndNamesAHangingOne) {
  // 20 instances of two services; one orders instance's callback hangs until released.
  absl::Notification release;
  std::atomic<int> applied_by_orders{0};
  std::vector<std::unique_ptr<Subscription>> instances;
  for (int i = 0; i < 10; ++i) {
    instances.push_back(StartInstance("orders", "orders-" + std::to_string(i)));
    instances.push_back(StartInstance("payments", "payments-" + std::to_string(i)));
  }
  for (int i = 0; i < 20; i += 2) {
    const bool hangs = i == 0;
    instances[i]->OnChange("orders", "pool", false, [&, hangs](const ConfigChange&) {
      if (hangs) release.WaitForNotification();
      ++applied_by_orders;
    });
  }
  ASSERT_TRUE(Eventually([&] { return AllReported(20); }));
  v1::ListInstancesResponse listed = List();
  ASSERT_EQ(listed.instances_size(), 20);
  const v1::Instance& first = listed.instances(0);
  EXPECT_EQ(first.info().service(), "orders");
  EXPECT_EQ(first.info().instance_id(), "orders-0");
  EXPECT_EQ(first.info().labels().at("version"), "1.3.0");
  EXPECT_FALSE(first.info().host().empty());
  EXPECT_EQ(first.info().library().rfind("confcenter-cpp/", 0), 0u) << first.info().library();
  EXPECT_TRUE(first.connected());
  EXPECT_TRUE(first.reports());
  EXPECT_EQ(first.tenant(), "f1");
  EXPECT_EQ(List("payments").instances_size(), 10);

  const int64_t revision = Put("orders", "pool", "16");
  // The hanging instance is a laggard at the timeout; payments' views did not change.
  // Long enough for the others' next report (at most one per report_interval, 1 s).
  v1::WaitAppliedResponse late = WaitApplied(revision, absl::Seconds(3));
  EXPECT_FALSE(late.all_applied());
  EXPECT_EQ(late.instances(), 20);
  ASSERT_EQ(late.laggards_size(), 1);
  EXPECT_EQ(late.laggards(0).info().instance_id(), "orders-0");
  EXPECT_LT(late.laggards(0).applied_revision(), revision);
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_instances"), 20);
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_instances_behind"), 1);
  EXPECT_FALSE(late.laggards(0).current());
  EXPECT_EQ(late.laggards(0).last_change_revision(), revision);
  EXPECT_TRUE(WaitApplied(revision, absl::Seconds(30), "payments").all_applied());

  // Released, its callback runs and the wait that is open returns at once.
  v1::WaitAppliedResponse answer;
  std::thread waiter([&] { answer = WaitApplied(revision, absl::Seconds(60)); });
  release.Notify();
  waiter.join();
  EXPECT_TRUE(answer.all_applied());
  EXPECT_EQ(answer.instances(), 20);
  EXPECT_EQ(answer.laggards_size(), 0);
  EXPECT_EQ(applied_by_orders.load(), 10);
  const v1::ListInstancesResponse done = List();
  for (const v1::Instance& i : done.instances()) {
    EXPECT_TRUE(i.current()) << i.info().instance_id();
    if (i.info().service() == "orders") EXPECT_EQ(i.applied_revision(), revision);
  }
}

TEST_F(InstancesTest, AGoneInstanceHoldsUpNoRolloutAndLeavesAfterTheGracePeriod) {
  std::unique_ptr<Subscription> staying = StartInstance("orders", "orders-a");
  std::unique_ptr<Subscription> leaving = StartInstance("orders", "orders-b");
  ASSERT_TRUE(Eventually([&] { return AllReported(2); }));
  leaving.reset();  // the process ends: its stream closes
  ASSERT_TRUE(Eventually([&] {
    const v1::ListInstancesResponse listed = List();
    for (const v1::Instance& i : listed.instances()) {
      if (i.info().instance_id() == "orders-b") return !i.connected();
    }
    return false;
  }));
  // Gone instances do not hold up a rollout.
  EXPECT_TRUE(WaitApplied(Put("orders", "pool", "8"), absl::Seconds(30)).all_applied());
  SetClock(kStartMicros + 29'000'000);
  EXPECT_EQ(List().instances_size(), 2);  // within the grace period
  SetClock(kStartMicros + 31'000'000);
  v1::ListInstancesResponse after = List();
  ASSERT_EQ(after.instances_size(), 1);
  EXPECT_EQ(after.instances(0).info().instance_id(), "orders-a");
}

// A client that reconnects before the server noticed its old stream end: the old stream's
// end must not mark the instance gone.
TEST_F(InstancesTest, AReconnectTakesTheEntryOverAndTheOldStreamsEndLeavesItConnected) {
  v1::SubscribeRequest request;
  request.set_tenant("f1");
  request.mutable_instance()->set_instance_id("orders-a");
  v1::SubscribeResponse message;
  std::unique_ptr<WatchStream> old_stream = client_->Subscribe(request);
  ASSERT_TRUE(old_stream->Read(&message));
  std::unique_ptr<WatchStream> new_stream = client_->Subscribe(request);
  ASSERT_TRUE(new_stream->Read(&message));
  old_stream->Cancel();
  while (old_stream->Read(&message)) {
  }
  (void)old_stream->Finish();
  const auto connected = [&] {
    v1::ListInstancesResponse listed = List();
    return listed.instances_size() == 1 && listed.instances(0).connected();
  };
  // The old stream's end reaches the server some time after Finish: the entry stays connected
  // through it (a 200-attempt poll of the table, not a wait for a time).
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(connected()) << "attempt " << i;
  new_stream->Cancel();
  while (new_stream->Read(&message)) {
  }
  (void)new_stream->Finish();
  ASSERT_TRUE(Eventually([&] { return !connected(); }));
  EXPECT_EQ(List().instances_size(), 1);  // gone, in its grace period
}

TEST_F(InstancesTest, SelfCheckFailuresShowAndClear) {
  std::atomic<bool> healthy{true};
  std::unique_ptr<Subscription> instance = StartInstance("orders", "orders-a", [&] {
    return healthy ? absl::OkStatus() : absl::UnavailableError("db: connection refused");
  });
  const auto state = [&] {
    v1::ListInstancesResponse listed = List();
    return listed.instances_size() == 1 ? listed.instances(0).self_check() : v1::SelfCheck();
  };
  ASSERT_TRUE(Eventually([&] { return state().state() == v1::SelfCheck::STATE_OK; }));
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_instances_self_check_failing"),
            0);
  healthy = false;
  instance->CheckNow();
  ASSERT_TRUE(Eventually([&] { return state().state() == v1::SelfCheck::STATE_FAILING; }));
  EXPECT_EQ(state().message(), "db: connection refused");
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_instances_self_check_failing"),
            1);
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_instances"), 1);
  healthy = true;
  instance->CheckNow();
  ASSERT_TRUE(Eventually([&] { return state().state() == v1::SelfCheck::STATE_OK; }));
  EXPECT_EQ(state().message(), "");
}

TEST_F(InstancesTest, AfterAServerRestartTheInstancesReappearAsTheyReconnect) {
  std::vector<std::unique_ptr<Subscription>> instances;
  for (int i = 0; i < 4; ++i)
    instances.push_back(StartInstance("orders", "o-" + std::to_string(i)));
  ASSERT_TRUE(Eventually([&] { return AllReported(4); }));
  const int64_t applied = List().instances(0).applied_revision();
  ASSERT_GT(applied, 0);
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_TRUE(server_->Restart());
  // Before any write of the restarted server, each reports what it applied before (a
  // revision the restarted server has, though it has published nothing yet).
  ASSERT_TRUE(Eventually([&] {
    if (!AllReported(4)) return false;
    const v1::ListInstancesResponse listed = List();
    for (const v1::Instance& i : listed.instances()) {
      if (i.applied_revision() != applied) return false;
    }
    return true;
  }));
  EXPECT_TRUE(WaitApplied(Put("orders", "pool", "4"), absl::Seconds(30)).all_applied());
}

TEST_F(InstancesTest, BadInstancesAndReportsAreRefusedNamingTheField) {
  // A malformed id: the stream is refused, naming the field.
  v1::SubscribeRequest bad;
  bad.set_tenant("f1");
  bad.mutable_instance()->set_instance_id("no spaces allowed");
  std::unique_ptr<WatchStream> stream = client_->Subscribe(bad);
  v1::SubscribeResponse message;
  EXPECT_FALSE(stream->Read(&message));
  absl::Status ended = stream->Finish();
  EXPECT_EQ(ended.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ended.message().find("instance.instance_id"), std::string::npos) << ended;
  // Too many labels.
  bad.mutable_instance()->set_instance_id("ok-id");
  for (int i = 0; i < 33; ++i)
    (*bad.mutable_instance()->mutable_labels())["l" + std::to_string(i)] = "v";
  stream = client_->Subscribe(bad);
  EXPECT_FALSE(stream->Read(&message));
  ended = stream->Finish();
  EXPECT_EQ(ended.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ended.message().find("instance.labels"), std::string::npos) << ended;

  // Reports: for an instance no stream names, ahead of the server.
  auto stub = v1::InstanceService::NewStub(server_->Channel());
  v1::ReportInstanceRequest report;
  report.set_tenant("f1");
  report.set_instance_id("nobody");
  v1::ReportInstanceResponse out;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->ReportInstance(&ctx, report, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find("instance_id"), std::string::npos) << s.error_message();
  }
  std::unique_ptr<Subscription> instance = StartInstance("orders", "orders-a");
  ASSERT_TRUE(Eventually([&] { return AllReported(1); }));
  report.set_instance_id("orders-a");
  report.set_applied_revision(1'000'000);
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->ReportInstance(&ctx, report, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("applied_revision"), std::string::npos) << s.error_message();
  }
  // WaitApplied: a revision the store does not have, a timeout over 10 minutes.
  v1::WaitAppliedRequest wait;
  wait.set_tenant("f1");
  wait.set_revision(1'000'000);
  absl::StatusOr<v1::WaitAppliedResponse> refused = client_->WaitApplied(wait);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  wait.set_revision(1);
  wait.mutable_timeout()->set_seconds(3600);
  refused = client_->WaitApplied(wait);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("timeout"), std::string::npos);
  // Still listed as it was.
  EXPECT_EQ(List().instances(0).applied_revision(), instance->reported_revision());
}

TEST_F(InstancesTest, StreamsThatDoNotNameAnInstanceAreListedAnonymouslyAndNotWaitedFor) {
  v1::SubscribeRequest plain;
  plain.set_tenant("f1");
  std::unique_ptr<WatchStream> stream = client_->Subscribe(plain);
  v1::SubscribeResponse message;
  ASSERT_TRUE(stream->Read(&message));
  v1::ListInstancesResponse listed = List();
  ASSERT_EQ(listed.instances_size(), 1);
  EXPECT_FALSE(listed.instances(0).reports());
  EXPECT_FALSE(listed.instances(0).current());
  EXPECT_NE(listed.instances(0).peer().find("127.0.0.1"), std::string::npos);
  v1::WaitAppliedResponse answer = WaitApplied(Put("orders", "pool", "2"), absl::Seconds(5));
  EXPECT_TRUE(answer.all_applied());
  EXPECT_EQ(answer.instances(), 0);
  EXPECT_EQ(answer.anonymous(), 1);
}

}  // namespace
}  // namespace confcenter
