// The HTTP/JSON front end of confcenterd: every RPC of the gRPC API over HTTP/1.1, for
// pipelines (curl) and the web console. It translates and calls the server's own gRPC
// services through an in-process channel, so validation, authentication, authorization,
// quotas, rates and audit are exactly gRPC's; it holds no logic of its own.
//
//   POST /v1/<Service>/<Method>      a unary RPC: the request and the response in protobuf's
//                                    canonical JSON mapping (lowerCamelCase or proto names in,
//                                    lowerCamelCase out; int64 as strings).
//   GET  /v1/WatchService/Subscribe?tenant=..&services=..&startRevision=..&epoch=..
//   POST /v1/<Service>/<Method>      a server-streaming RPC (Subscribe, SubscribeViews, Backup)
//                                    with a JSON body: the messages as Server-Sent Events, one
//                                    event per message, `id:` = its revision where it has one;
//                                    a reconnect's Last-Event-ID resumes a Subscribe after it.
//                                    The stream's end is an `end` event with the status.
//
// Errors: the HTTP status of the gRPC code (400 INVALID_ARGUMENT / FAILED_PRECONDITION /
// OUT_OF_RANGE, 401, 403, 404, 409 ALREADY_EXISTS / ABORTED, 413 a body over the limit, 429
// RESOURCE_EXHAUSTED with Retry-After when the server advises one, 499, 500, 501, 503, 504)
// and the body {"code": <gRPC code number>, "status": "<CODE>", "message": "..."}.
// Credentials: the Authorization header (a bearer token) and x-confcenter-user are passed on
// as gRPC metadata; the client's address is passed on so per-peer limits and the audit see it.
// A browser request from another origin (Origin or Sec-Fetch-Site), or made through a host
// name that is not loopback, the listen host or in allowed_hosts (DNS rebinding), is refused
// with 403, so no other site can drive a server on loopback.
//
//   GET  /console/<file>             the web console (server/console/, embedded at build
//                                    time); GET / redirects there.
#ifndef CONFCENTER_SERVER_API_HTTP_GATEWAY_H_
#define CONFCENTER_SERVER_API_HTTP_GATEWAY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/api/gatekeeper.h"

namespace httplib {
class Server;
}

namespace confcenter {

struct HttpGatewayOptions {
  // "host:port"; port 0 picks a free one.
  std::string listen = "127.0.0.1:7080";
  // Bodies over this are refused (413), as gRPC refuses larger messages.
  int64_t max_request_bytes = 8 << 20;
  // Requests answered at once (a thread each); more wait for a thread.
  int max_concurrent_requests = 16;
  // Open event streams (a thread each, for as long as the stream is open); more get 429.
  int max_streams = 1024;
  // How long a unary call may take.
  absl::Duration request_timeout = absl::Seconds(30);
  // Host names (without port) browsers may use to reach the API besides loopback and the
  // listen host, e.g. the name an ingress serves the console on; "*" = any (see
  // BrowserRefusal in the .cc). Non-browser clients are not checked.
  std::vector<std::string> allowed_hosts;
  // TLS: the server certificate and key (PEM files); both empty = plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpGateway {
 public:
  // Binds the listener and serves on threads of its own, calling `channel` (the gRPC
  // server's InProcessChannel), which must outlive the gateway. INVALID_ARGUMENT for a
  // malformed address or option, UNAVAILABLE if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(const HttpGatewayOptions& options,
                                                            std::shared_ptr<grpc::Channel> channel);
  // Stops listening, ends the open streams and waits for the requests being answered.
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  // The bound port.
  int port() const { return port_; }

 private:
  struct Impl;
  HttpGateway(std::unique_ptr<Impl> impl, int port);

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_HTTP_GATEWAY_H_
