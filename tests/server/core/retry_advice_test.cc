#include "server/core/retry_advice.h"

#include "gtest/gtest.h"

namespace confcenter {
namespace {

TEST(RetryAdviceTest, TheAdviceRoundTripsThroughTheMessage) {
  const absl::Status status =
      WithRetryAdvice(absl::ResourceExhaustedError("queue full"), absl::Milliseconds(250));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "queue full; retry in 250 ms");
  EXPECT_EQ(RetryAdviceMillis(status.message()), 250);
}

TEST(RetryAdviceTest, AtLeastOneMillisecond) {
  EXPECT_EQ(RetryAdviceMillis(
                WithRetryAdvice(absl::UnavailableError("x"), absl::ZeroDuration()).message()),
            1);
}

TEST(RetryAdviceTest, OtherMessagesCarryNoAdvice) {
  EXPECT_EQ(RetryAdviceMillis("value: too large"), std::nullopt);
  EXPECT_EQ(RetryAdviceMillis("; retry in soon ms"), std::nullopt);
  EXPECT_EQ(RetryAdviceMillis("; retry in -5 ms"), std::nullopt);
  EXPECT_EQ(RetryAdviceMillis("retry in 5 ms"), std::nullopt);
}

}  // namespace
}  // namespace confcenter
