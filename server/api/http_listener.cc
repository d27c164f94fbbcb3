#include "server/api/http_listener.h"

#include <sys/socket.h>
#include <unistd.h>

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

absl::StatusOr<int> Bind(httplib::Server* http, absl::string_view flag,
                         const ListenAddress& address) {
  // httplib calls this on each socket it tries, just before bind; the last one is the one
  // bound.
  int bound_socket = -1;
  http->set_socket_options([&bound_socket](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    bound_socket = sock;
  });
  int port = -1;
  if (address.port == 0) {
    port = http->bind_to_any_port(address.host);
  } else if (http->bind_to_port(address.host, address.port)) {
    port = address.port;
  }
  // The callback must not outlive `bound_socket`.
  http->set_socket_options([](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (port <= 0 || bound_socket < 0) {
    return absl::UnavailableError(absl::StrCat(flag, ": cannot listen on ", address.host, ":",
                                               address.port, " (address in use or invalid?)"));
  }
  // Listening again on a listening socket only sets its backlog (Linux), capped by
  // net.core.somaxconn.
  if (::listen(bound_socket, SOMAXCONN) != 0) {
    ::close(bound_socket);  // httplib closes it only once its loop runs
    return absl::UnavailableError(absl::StrCat(flag, ": cannot set the listen backlog"));
  }
  return port;
}

void StartServing(httplib::Server* http, std::thread* thread) {
  *thread = std::thread([http] { http->listen_after_bind(); });
  for (int i = 0; i < 10'000 && !http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace confcenter
