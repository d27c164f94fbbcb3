// Fairness under load against the real confcenterd: a full write queue refuses at once with
// retry advice instead of holding requests until their deadlines.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using testing::ServerProcess;
using testing::TempDir;

// Replaces the fault file in one rename, so the server never reads half a name.
void SetFault(const std::string& path, const std::string& fault) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::trunc) << fault;
  std::filesystem::rename(tmp, path);
}

TEST(FairnessTest, AFullWriteQueueRefusesAtOnceWithRetryAdviceAndAppliesNothingOfIt) {
  TempDir dir;
  const std::string fault = dir.path() + "/fault";
  ServerProcess server(dir.path() + "/data",
                       {"--testing_fault_file=" + fault, "--max_queued_writes=2"});
  ASSERT_NE(server.port(), 0);
  std::shared_ptr<grpc::Channel> channel = server.Channel();
  auto stub = v1::ConfigService::NewStub(channel);

  // The disk stops answering: the committer's first batch waits in its sync, at most two
  // more writes wait in the queue, every other one is refused at once.
  SetFault(fault, "stall-sync");
  constexpr int kWriters = 8;
  absl::Mutex mu;
  std::vector<std::string> acknowledged;
  std::vector<grpc::Status> refused;
  std::vector<std::string> pushback;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      v1::PutRequest req;
      req.set_tenant("integration");
      req.set_service("svc");
      req.set_key("k");
      req.set_value(absl::StrCat("v", i));
      v1::PutResponse resp;
      const grpc::Status st = stub->Put(&ctx, req, &resp);
      absl::MutexLock lock(&mu);
      if (st.ok()) {
        acknowledged.push_back(req.value());
        return;
      }
      refused.push_back(st);
      auto it = ctx.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
      pushback.push_back(it == ctx.GetServerTrailingMetadata().end()
                             ? ""
                             : std::string(it->second.data(), it->second.size()));
    });
  }
  // At most 2 in the stalled batch (what the queue held when the committer took it) and 2
  // queued: at least 4 of the 8 are refused, without waiting for the disk.
  {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) {
      return refused.size() >= static_cast<size_t>(kWriters - 4);
    };
    mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(20));
  }
  SetFault(fault, "none");
  for (std::thread& t : writers) t.join();

  ASSERT_GE(refused.size(), static_cast<size_t>(kWriters - 4));
  EXPECT_EQ(refused.size() + acknowledged.size(), static_cast<size_t>(kWriters));
  for (size_t i = 0; i < refused.size(); ++i) {
    EXPECT_EQ(refused[i].error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << refused[i].error_message();
    EXPECT_TRUE(absl::StrContains(refused[i].error_message(), "--max_queued_writes"))
        << refused[i].error_message();
    EXPECT_TRUE(absl::StrContains(refused[i].error_message(), "; retry in "))
        << refused[i].error_message();
    EXPECT_FALSE(pushback[i].empty()) << "no grpc-retry-pushback-ms trailer";
  }
  // Only the acknowledged writes are in the key's history.
  auto history = v1::HistoryService::NewStub(channel);
  v1::HistoryRequest req;
  req.set_tenant("integration");
  req.set_service("svc");
  req.set_key("k");
  v1::HistoryResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(history->History(&ctx, req, &resp).ok());
  std::vector<std::string> values;
  for (const auto& v : resp.versions()) values.push_back(v.value());
  std::sort(values.begin(), values.end());
  std::sort(acknowledged.begin(), acknowledged.end());
  EXPECT_EQ(values, acknowledged);
  EXPECT_EQ(testing::ScrapeMetric(server.admin_port(), "confcenter_writes_shed_total"),
            static_cast<double>(refused.size()));
}

// Two callers, a and b (static tokens, admin everywhere), on a server with per-caller limits
// and a clock the test moves.
class CallerLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteStaticTokensFile(dir_.path() + "/tokens.yaml",
                                   {{"a", "tok-a-1c5e"}, {"b", "tok-b-9d02"}});
    testing::WriteFile(dir_.path() + "/policy.yaml",
                       absl::StrCat("authentication:\n  static_tokens_file: ", dir_.path(),
                                    "/tokens.yaml\nbindings:\n"
                                    "  - subjects: [{kind: token, name: a}, {kind: token, "
                                    "name: b}]\n    roles: [admin]\n    tenants: [\"*\"]\n"));
    clock_file_ = dir_.path() + "/clock";
    SetClock(absl::FromUnixSeconds(1'900'000'000));
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{
            "--auth_policy=" + dir_.path() + "/policy.yaml", "--testing_clock_file=" + clock_file_,
            "--write_rate_per_caller=1", "--write_burst_per_caller=2",
            "--max_subscriptions_per_caller=2", "--max_subscriptions_per_tenant=3",
            "--refusal_audits_per_caller=1", "--refusal_audit_burst_per_caller=5"});
    ASSERT_NE(server_->port(), 0);
    channel_ = server_->Channel();
  }
  void SetClock(absl::Time t) {
    testing::WriteFile(clock_file_ + ".tmp", absl::StrCat(absl::ToUnixMicros(t)));
    std::filesystem::rename(clock_file_ + ".tmp", clock_file_);
    now_ = t;
  }
  static std::string Token(const std::string& caller) {
    if (caller == "a") return "tok-a-1c5e";
    if (caller == "b") return "tok-b-9d02";
    return caller;
  }
  // The audit records of refused Puts (newest first, one page).
  int RefusedPutRecords() {
    auto history = v1::HistoryService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + Token("a"));
    v1::QueryAuditRequest req;
    req.set_rpc("Put");
    req.set_page_size(1000);
    v1::QueryAuditResponse resp;
    const grpc::Status st = history->QueryAudit(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    int refused = 0;
    for (const auto& record : resp.entries()) refused += record.error_code().empty() ? 0 : 1;
    return refused;
  }
  // A Put by `caller` ("a", "b", or any other string: sent as the bearer token itself): its
  // status and its grpc-retry-pushback-ms trailer ("" if none).
  std::pair<grpc::Status, std::string> Put(const std::string& caller, const std::string& key) {
    auto stub = v1::ConfigService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + Token(caller));
    v1::PutRequest req;
    req.set_tenant("integration");
    req.set_service("svc");
    req.set_key(key);
    req.set_value("v");
    v1::PutResponse resp;
    grpc::Status st = stub->Put(&ctx, req, &resp);
    auto it = ctx.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
    return {st, it == ctx.GetServerTrailingMetadata().end()
                    ? ""
                    : std::string(it->second.data(), it->second.size())};
  }
  // A Subscribe stream of `caller` on integration; its first message is read, so a stream
  // that is open has been admitted.
  struct OpenStream {
    grpc::ClientContext ctx;
    std::unique_ptr<v1::WatchService::Stub> stub;
    std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader;
    grpc::Status ended;  // set if it ended at once
    bool open = false;
  };
  std::unique_ptr<OpenStream> Subscribe(const std::string& caller) {
    auto s = std::make_unique<OpenStream>();
    s->stub = v1::WatchService::NewStub(channel_);
    s->ctx.AddMetadata("authorization", "Bearer " + Token(caller));
    v1::SubscribeRequest req;
    req.set_tenant("integration");
    s->reader = s->stub->Subscribe(&s->ctx, req);
    v1::SubscribeResponse first;
    s->open = s->reader->Read(&first);
    if (!s->open) s->ended = s->reader->Finish();
    return s;
  }

  TempDir dir_;
  std::string clock_file_;
  absl::Time now_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(CallerLimitsTest, EachCallerHasItsOwnWriteRate) {
  EXPECT_TRUE(Put("a", "k1").first.ok());
  EXPECT_TRUE(Put("a", "k2").first.ok());
  auto [over, pushback] = Put("a", "k3");  // the burst of 2 is spent; 1/s refills
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << over.error_message();
  EXPECT_TRUE(absl::StrContains(over.error_message(), "token:a")) << over.error_message();
  EXPECT_TRUE(absl::StrContains(over.error_message(), "--write_rate_per_caller"))
      << over.error_message();
  EXPECT_TRUE(absl::StrContains(over.error_message(), "; retry in 1000 ms"))
      << over.error_message();
  EXPECT_EQ(pushback, "1000");
  EXPECT_TRUE(Put("b", "k4").first.ok()) << "b pays for a";
  SetClock(now_ + absl::Seconds(1));
  EXPECT_TRUE(Put("a", "k5").first.ok()) << "a's bucket did not refill";
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_writes_throttled_total"), 1);
  // The refused write was never applied (nor audited as a write).
  auto config = v1::ConfigService::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + Token("b"));
  v1::GetRequest get;
  get.set_tenant("integration");
  get.set_service("svc");
  get.set_key("k3");
  v1::GetResponse got;
  EXPECT_EQ(config->Get(&ctx, get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CallerLimitsTest, SubscriptionsAreCappedPerCallerAndPerTenant) {
  std::unique_ptr<OpenStream> a1 = Subscribe("a");
  std::unique_ptr<OpenStream> a2 = Subscribe("a");
  ASSERT_TRUE(a1->open && a2->open);
  std::unique_ptr<OpenStream> a3 = Subscribe("a");
  ASSERT_FALSE(a3->open);
  EXPECT_EQ(a3->ended.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << a3->ended.error_message();
  EXPECT_TRUE(absl::StrContains(a3->ended.error_message(), "--max_subscriptions_per_caller"))
      << a3->ended.error_message();
  std::unique_ptr<OpenStream> b1 = Subscribe("b");  // b has its own count: integration's 3rd
  ASSERT_TRUE(b1->open) << b1->ended.error_message();
  std::unique_ptr<OpenStream> b2 = Subscribe("b");
  ASSERT_FALSE(b2->open);
  EXPECT_EQ(b2->ended.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << b2->ended.error_message();
  EXPECT_TRUE(absl::StrContains(b2->ended.error_message(), "--max_subscriptions_per_tenant"))
      << b2->ended.error_message();
  // A closed stream frees its slot (once the server has seen it go).
  a1->ctx.TryCancel();
  a1->reader->Finish();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::unique_ptr<OpenStream> again;
  do {
    again = Subscribe("a");
  } while (!again->open && absl::Now() < deadline);
  EXPECT_TRUE(again->open) << again->ended.error_message();
  for (OpenStream* s : {a2.get(), b1.get(), again.get()}) {
    if (!s->open) continue;  // finished already
    s->ctx.TryCancel();
    s->reader->Finish();
  }
}

TEST_F(CallerLimitsTest, AFloodOfRefusedCallsIsAnsweredButOnlyABurstOfItIsAudited) {
  // 40 calls with a token nobody issued, from this host: each answered, 5 recorded.
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(Put("forged-token", "k").first.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // A refusal is answered before its record is written: wait for the records (bounded).
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (RefusedPutRecords() < 5 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(RefusedPutRecords(), 5);
  EXPECT_EQ(testing::ScrapeMetric(server_->admin_port(), "confcenter_refusal_audits_dropped_total"),
            35);
  // Invalid writes spend the write rate first (burst 2): past it they are throttled before
  // they are validated or recorded.
  EXPECT_EQ(Put("b", "bad key").first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Put("b", "bad key").first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Put("b", "bad key").first.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(RefusedPutRecords(), 7);
  // Good writes of others go on.
  EXPECT_TRUE(Put("a", "good").first.ok());
  SetClock(now_ + absl::Seconds(1));  // a write a second comes back (b has records left)
  EXPECT_EQ(Put("b", "bad key").first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(RefusedPutRecords(), 8);
}

TEST_F(CallerLimitsTest, RefusalsWhoseRecordsAreDroppedAreStillAnsweredWithTheirError) {
  // Refusals past the record burst (5) keep their own status: neither OK nor a crash.
  auto config = v1::ConfigService::NewStub(channel_);
  auto history = v1::HistoryService::NewStub(channel_);
  for (int i = 0; i < 8; ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + Token("a"));
    v1::TxnRequest req;
    v1::TxnOp* op = req.add_ops();
    op->set_tenant("integration");
    op->set_service("svc");
    op->set_key("k");
    op->set_type(static_cast<v1::TxnOpType>(99));
    v1::TxnResponse resp;
    const grpc::Status st = config->Txn(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << i << ": " << st.error_message();
  }
  for (int i = 0; i < 8; ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + Token("a"));
    v1::RollbackRequest req;
    req.set_tenant("integration");
    req.set_to_revision(1'000'000 + i);  // a revision that does not exist yet
    v1::RollbackResponse resp;
    const grpc::Status st = history->Rollback(&ctx, req, &resp);
    EXPECT_FALSE(st.ok()) << i;
    EXPECT_NE(st.error_code(), grpc::StatusCode::UNAVAILABLE) << i << ": " << st.error_message();
  }
  EXPECT_GE(testing::ScrapeMetric(server_->admin_port(), "confcenter_refusal_audits_dropped_total"),
            11);
}

}  // namespace
}  // namespace confcenter
