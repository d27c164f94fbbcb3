// What the HTTP listeners of confcenterd (the admin listener, the HTTP/JSON API) share on top
// of cpp-httplib: their address flag, and starting the accept loop so it can be stopped.
#ifndef CONFCENTER_SERVER_API_HTTP_LISTENER_H_
#define CONFCENTER_SERVER_API_HTTP_LISTENER_H_

#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httplib {
class Server;
}

namespace confcenter {

struct ListenAddress {
  std::string host;  // "[::1]" without its brackets
  int port = 0;      // 0 = a free one
};

// The "HOST:PORT" of flag `flag`. INVALID_ARGUMENT naming the flag otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view flag,
                                                 const std::string& address);

// Binds `http` to `address` and returns the bound port (a free one for port 0), or
// UNAVAILABLE naming `flag`. Unlike httplib's own bind: the listen backlog is the system's
// (httplib's 5 is compiled into Debian's library; 1,000 clients connecting at once overflowed
// it and waited for SYN retries, up to minutes), and a port in use by another process is an
// error (httplib sets SO_REUSEPORT, under which a second server would share the port).
absl::StatusOr<int> Bind(httplib::Server* http, absl::string_view flag,
                         const ListenAddress& address);

// Runs the accept loop of `http` (bound already) on `*thread`, and returns once it runs:
// httplib's stop() does nothing before, so a listener stopped right after it started would
// never stop (bounded to 10 s; the loop starts at once).
void StartServing(httplib::Server* http, std::thread* thread);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_HTTP_LISTENER_H_
