#include "server/api/http_listener.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace confcenter {

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view flag,
                                                 const std::string& address) {
  const size_t colon = address.rfind(':');
  ListenAddress parsed;
  parsed.port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &parsed.port) ||
      parsed.port < 0 || parsed.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", address, "\" is not HOST:PORT (port 0-65535; 0 picks a free one)"));
  }
  parsed.host = address.substr(0, colon);
  if (parsed.host.size() >= 2 && parsed.host.front() == '[' && parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);  // [::1]
  }
  return parsed;
}

void StartServing(httplib::Server* http, std::thread* thread) {
  *thread = std::thread([http] { http->listen_after_bind(); });
  for (int i = 0; i < 10'000 && !http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace confcenter
