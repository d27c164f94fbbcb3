#include "server/core/caller_limits.h"

#include "gtest/gtest.h"

namespace confcenter {
namespace {

TEST(CallerRateLimiterTest, ABurstThenTheRateAndEachCallerHasItsOwnBucket) {
  ManualClock clock;
  CallerRateLimiter limiter({/*per_second=*/2, /*burst=*/3}, &clock);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryTake("a"), std::nullopt) << i;
  std::optional<absl::Duration> wait = limiter.TryTake("a");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Milliseconds(500));  // one token at 2/s
  EXPECT_EQ(limiter.TryTake("b"), std::nullopt) << "b is not a";
  clock.Advance(absl::Milliseconds(500));
  EXPECT_EQ(limiter.TryTake("a"), std::nullopt);
  EXPECT_TRUE(limiter.TryTake("a").has_value());
  clock.Advance(absl::Hours(1));  // refills up to the burst, not beyond
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryTake("a"), std::nullopt) << i;
  EXPECT_TRUE(limiter.TryTake("a").has_value());
}

TEST(CallerRateLimiterTest, UnlimitedNeverRefusesAndKeepsNothing) {
  ManualClock clock;
  CallerRateLimiter limiter({}, &clock);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.TryTake("a"), std::nullopt);
  EXPECT_EQ(limiter.callers(), 0u);
}

TEST(CallerRateLimiterTest, MemoryIsBoundedByDroppingQuietCallers) {
  ManualClock clock;
  CallerRateLimiter limiter({1, 1}, &clock, /*max_callers=*/2);
  EXPECT_EQ(limiter.TryTake("a"), std::nullopt);
  EXPECT_EQ(limiter.TryTake("b"), std::nullopt);
  // Both are busy: a third caller is let through, unremembered, rather than throttled.
  EXPECT_EQ(limiter.TryTake("c"), std::nullopt);
  EXPECT_EQ(limiter.callers(), 2u);
  EXPECT_TRUE(limiter.TryTake("a").has_value()) << "a kept its bucket";
  clock.Advance(absl::Seconds(1));  // a and b refilled: quiet, so droppable
  EXPECT_EQ(limiter.TryTake("c"), std::nullopt);
  EXPECT_EQ(limiter.callers(), 1u);
}

}  // namespace
}  // namespace confcenter
