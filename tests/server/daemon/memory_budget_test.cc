#include "server/daemon/memory_budget.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(CgroupMemoryLimitTest, ReadsV2ThenV1AndTakesMaxOrHugeAsNone) {
  testing::TempDir dir;
  EXPECT_EQ(CgroupMemoryLimit(dir.path()), 0);
  Write(dir.path() + "/memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1 "none"
  EXPECT_EQ(CgroupMemoryLimit(dir.path()), 0);
  Write(dir.path() + "/memory/memory.limit_in_bytes", "268435456\n");
  EXPECT_EQ(CgroupMemoryLimit(dir.path()), 268435456);
  Write(dir.path() + "/memory.max", "max\n");  // v2 without a limit: v1 is not consulted
  EXPECT_EQ(CgroupMemoryLimit(dir.path()), 268435456);
  Write(dir.path() + "/memory.max", "536870912\n");
  EXPECT_EQ(CgroupMemoryLimit(dir.path()), 536870912);
}

TEST(PlanMemoryTest, WithoutALimitNothingIsRefusedAndTheDefaultsHold) {
  MemoryPlan plan = PlanMemory({0, int64_t{1} << 40, 0, 0});
  EXPECT_TRUE(plan.refusal.ok());
  EXPECT_EQ(plan.max_subscriptions, kDefaultMaxSubscriptions);
  EXPECT_TRUE(plan.warnings.empty());
}

TEST(PlanMemoryTest, SizesStreamsToTheLimitOfTheDefaultPod) {
  // deploy/k8s/base: limits.memory 2Gi; a small store.
  const int64_t limit = int64_t{2} << 30;
  MemoryPlan plan = PlanMemory({limit, 10 << 20, 0, 0});
  ASSERT_TRUE(plan.refusal.ok());
  const int64_t expected = (limit - (10 << 20) - kBaselineBytes) / 4 * 3 / kBytesPerStream;
  EXPECT_EQ(plan.max_subscriptions, expected);
  EXPECT_LE(kBaselineBytes + (10 << 20) + plan.max_subscriptions * kBytesPerStream, limit);
  // 256 MiB: still thousands of streams, within the limit.
  plan = PlanMemory({256 << 20, 10 << 20, 0, 0});
  EXPECT_GT(plan.max_subscriptions, 1000);
  EXPECT_LE(kBaselineBytes + (10 << 20) + plan.max_subscriptions * kBytesPerStream, 256 << 20);
}

TEST(PlanMemoryTest, ARequestedNumberThatDoesNotFitIsWarnedAbout) {
  MemoryPlan plan = PlanMemory({256 << 20, 10 << 20, 0, 100'000});
  ASSERT_TRUE(plan.refusal.ok());
  EXPECT_EQ(plan.max_subscriptions, 100'000);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(plan.warnings[0], "--max_subscriptions=100000 streams would take"))
      << plan.warnings[0];
  EXPECT_TRUE(PlanMemory({256 << 20, 10 << 20, 0, 1000}).warnings.empty());
}

TEST(PlanMemoryTest, AnIndexOverItsBoundOrTheLimitIsRefused) {
  MemoryPlan plan = PlanMemory({0, 2 << 20, 1 << 20, 0});
  EXPECT_EQ(plan.refusal.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(plan.refusal.message(), "--max_index_bytes (1 MiB)"))
      << plan.refusal.message();
  // Half the limit by default.
  plan = PlanMemory({256 << 20, 200 << 20, 0, 0});
  EXPECT_TRUE(absl::StrContains(plan.refusal.message(), "half the memory limit (128 MiB)"))
      << plan.refusal.message();
  // An explicit bound above the limit: the limit still decides.
  plan = PlanMemory({256 << 20, 250 << 20, 300 << 20, 0});
  EXPECT_TRUE(absl::StrContains(plan.refusal.message(), "exceed the memory limit (256 MiB)"))
      << plan.refusal.message();
}

}  // namespace
}  // namespace confcenter
