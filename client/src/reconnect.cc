#include "client/src/reconnect.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"

namespace confcenter::internal {

bool IsConnectFailure(const absl::Status& status) {
  if (!absl::IsUnavailable(status)) return false;
  const absl::string_view message = status.message();
  return absl::StartsWith(message, "failed to connect to all addresses") ||
         absl::StartsWith(message, "DNS resolution failed") ||
         absl::StartsWith(message, "empty address list");
}

bool WaitForReconnect(grpc::Channel* channel, absl::Time until, bool lost,
                      const std::function<bool()>& stopping) {
  constexpr absl::Duration kStopCheck = absl::Milliseconds(50);
  while (true) {
    // try_to_connect: an idle channel (its connection just went) starts connecting.
    const grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
    if (state != GRPC_CHANNEL_READY) {
      lost = true;
    } else if (lost) {
      return false;
    }
    if (stopping && stopping()) return true;
    const absl::Time now = absl::Now();
    if (now >= until) return false;
    const absl::Time slice = stopping ? std::min(until, now + kStopCheck) : until;
    channel->WaitForStateChange(state, absl::ToChronoTime(slice));
  }
}

}  // namespace confcenter::internal
