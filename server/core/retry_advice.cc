#include "server/core/retry_advice.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace confcenter {
namespace {
constexpr absl::string_view kPrefix = "; retry in ";
constexpr absl::string_view kSuffix = " ms";
}  // namespace

absl::Status WithRetryAdvice(const absl::Status& status, absl::Duration after) {
  const int64_t millis = std::max<int64_t>(1, absl::ToInt64Milliseconds(after));
  return absl::Status(status.code(), absl::StrCat(status.message(), kPrefix, millis, kSuffix));
}

std::optional<int64_t> RetryAdviceMillis(absl::string_view message) {
  if (!absl::ConsumeSuffix(&message, kSuffix)) return std::nullopt;
  const size_t at = message.rfind(kPrefix);
  if (at == absl::string_view::npos) return std::nullopt;
  int64_t millis = 0;
  if (!absl::SimpleAtoi(message.substr(at + kPrefix.size()), &millis) || millis < 1) {
    return std::nullopt;
  }
  return millis;
}

}  // namespace confcenter
