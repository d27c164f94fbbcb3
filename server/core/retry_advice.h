// When to try again: a refusal that is about load, not about the request (a full write queue,
// a caller over its rate), says how long to wait, in its message for people and in the
// gRPC trailer `grpc-retry-pushback-ms` for gRPC's own retry policy (RpcMetricsInterceptor
// adds it).
#ifndef CONFCENTER_SERVER_CORE_RETRY_ADVICE_H_
#define CONFCENTER_SERVER_CORE_RETRY_ADVICE_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace confcenter {

// `status` with "; retry in N ms" appended (N = `after`, at least 1).
absl::Status WithRetryAdvice(const absl::Status& status, absl::Duration after);

// N of a message WithRetryAdvice made; nullopt for any other message.
std::optional<int64_t> RetryAdviceMillis(absl::string_view message);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_RETRY_ADVICE_H_
