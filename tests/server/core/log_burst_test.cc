// LogBurst: repeated warnings of one kind within a window become one line; a lone one keeps
// its own line; kinds are kept apart. The server's own use (100 cut-offs) is in operate_test.
#include "server/core/log_burst.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/base_sink.h"

namespace confcenter {
namespace {

// Keeps what is logged, readable while another thread logs (under the sink's own mutex).
class LinesSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string Text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    text_.append(formatted.data(), formatted.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

class LogBurstTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    sink_ = std::make_shared<LinesSink>();
    auto logger = std::make_shared<spdlog::logger>("", sink_);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  std::vector<std::string> Lines() {
    return absl::StrSplit(sink_->Text(), '\n', absl::SkipEmpty());
  }
  void CutOff(LogBurst& log, const std::string& tenant, int64_t revision) {
    log.Add(absl::StrCat("cut-off of ", tenant), spdlog::level::warn,
            absl::StrCat("a subscriber of ", tenant, " was cut off at ", revision), revision,
            [tenant](const Burst& b) {
              return absl::StrCat(b.count, " subscribers of ", tenant, " were cut off within ",
                                  absl::FormatDuration(b.last - b.first), "; from ", b.min_number,
                                  "-", b.max_number, "; e.g. ", b.examples[0], " | ",
                                  b.examples.back(), " (", b.examples.size(), ")");
            });
  }

  std::shared_ptr<LinesSink> sink_;
  std::shared_ptr<spdlog::logger> previous_;
  ManualClock clock_;
};

TEST_F(LogBurstTest, AHundredOfOneKindWithinTheWindowAreOneLine) {
  LogBurst log(&clock_, absl::Seconds(1), /*background=*/false);
  for (int i = 0; i < 100; ++i) {
    CutOff(log, "integration", 1040 + i % 3);
    if (i == 49) clock_.Advance(absl::Milliseconds(2));
  }
  log.FlushDue();
  EXPECT_TRUE(Lines().empty());  // the window is still open
  clock_.Advance(absl::Milliseconds(997));
  log.FlushDue();
  EXPECT_TRUE(Lines().empty());
  clock_.Advance(absl::Milliseconds(1));  // a second after the first
  log.FlushDue();
  ASSERT_EQ(Lines().size(), 1u) << sink_->Text();
  EXPECT_EQ(Lines()[0],
            "warning 100 subscribers of integration were cut off within 2ms; from 1040-1042; "
            "e.g. a subscriber of integration was cut off at 1040 | a subscriber of "
            "integration was cut off at 1042 (3)");
  // The next one opens a new window.
  CutOff(log, "integration", 1050);
  clock_.Advance(absl::Seconds(1));
  log.FlushDue();
  ASSERT_EQ(Lines().size(), 2u);
  EXPECT_EQ(Lines()[1], "warning a subscriber of integration was cut off at 1050");
}

TEST_F(LogBurstTest, KindsAreKeptApartAndLoggedInTheOrderTheyBegan) {
  LogBurst log(&clock_, absl::Seconds(1), /*background=*/false);
  CutOff(log, "f2", 7);
  CutOff(log, "f1", 8);
  CutOff(log, "f2", 9);
  clock_.Advance(absl::Seconds(1));
  log.FlushDue();
  ASSERT_EQ(Lines().size(), 2u) << sink_->Text();
  EXPECT_TRUE(absl::StartsWith(Lines()[0], "warning 2 subscribers of f2 were cut off within 0"));
  EXPECT_EQ(Lines()[1], "warning a subscriber of f1 was cut off at 8");
}

TEST_F(LogBurstTest, AZeroWindowLogsEachAtOnceAndTheEndFlushesThePending) {
  {
    LogBurst log(&clock_, absl::ZeroDuration(), /*background=*/false);
    CutOff(log, "f1", 1);
    CutOff(log, "f1", 2);
    EXPECT_EQ(Lines().size(), 2u);
  }
  {
    LogBurst log(&clock_, absl::Seconds(1), /*background=*/false);
    CutOff(log, "f1", 3);
    CutOff(log, "f1", 4);
  }
  ASSERT_EQ(Lines().size(), 3u);
  EXPECT_TRUE(absl::StartsWith(Lines()[2], "warning 2 subscribers of f1"));
}

TEST_F(LogBurstTest, TheBackgroundThreadLogsWhenTheWindowEnds) {
  SystemClock clock;
  LogBurst log(&clock, absl::Milliseconds(20));
  for (int i = 0; i < 10; ++i) CutOff(log, "f1", i);
  // Bounded: the thread logs 20 ms after the first.
  for (int i = 0; i < 500 && Lines().empty(); ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(Lines().size(), 1u) << sink_->Text();
  EXPECT_TRUE(absl::StartsWith(Lines()[0], "warning 10 subscribers of f1"));
}

}  // namespace
}  // namespace confcenter
