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
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace confcenter
