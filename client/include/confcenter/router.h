// Routing by the request's tenant: where a dependency is for the tenant a request came from,
// not only for the instance's own tenant (docs/routing.md).
//
// integration's service a serves a request of branch f1 and calls b: f1 deploys its own b,
// so the call must reach f1's b, although a itself runs in integration.
//
//   confcenter::RouterOptions options;
//   options.tenant = "integration";         // the instance's own tenant
//   options.dependencies = {"b"};           // what it calls
//   auto router = confcenter::Router::Start(client.channel(), options);
//   // In a handler (the request's tenant made current by TenantServerInterceptors):
//   std::shared_ptr<grpc::Channel> channel = router->ChannelFor("b");
//   B::NewStub(channel)->Call(...);          // carries x-confcenter-tenant on
//
// The router follows the dependencies' endpoints in the view of every tenant it has seen
// requests from, on one SubscribeViews stream, and keeps at most max_tenants of those maps
// (least recently used go first). A request whose tenant is unknown, invalid, removed or not
// yet loaded is routed by the instance's own tenant and counted (stats()).
#ifndef CONFCENTER_CLIENT_ROUTER_H_
#define CONFCENTER_CLIENT_ROUTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "confcenter/credentials.h"
#include "grpcpp/grpcpp.h"

namespace confcenter {

struct RouterOptions {
  // The instance's own tenant: its map is always followed and is the fallback. Required.
  std::string tenant;
  // The services whose endpoints are routed (the instance's dependencies). Required.
  std::vector<std::string> dependencies;
  // The endpoint name EndpointFor uses by default. Default "grpc".
  std::string endpoint = "grpc";
  // Request tenants' maps kept at most (the own tenant's not counted); the least recently
  // used is dropped for a new one. 1-9999. Default 256.
  int max_tenants = 256;
  // How long the first request of a tenant not yet followed waits for its map (then it is
  // routed by the own tenant and counted as `not_loaded`). Zero = never wait: the map is
  // fetched in the background and later requests use it. Only one wait per tenant: once a
  // wait has ended without the map (say the server is down), requests are routed by the
  // own tenant at once until it arrives. Default 1 s.
  absl::Duration first_request_wait = absl::Seconds(1);
  // A tenant the server does not know is remembered as unknown this long before it is asked
  // about again. Default 10 s.
  absl::Duration unknown_tenant_ttl = absl::Seconds(10);
  // Reconnect backoff of the stream, with jitter. Defaults 100 ms and 10 s.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // Sent as x-confcenter-user / the bearer token on the router's own calls to confcenterd
  // (credentials.h). The token must grant reading every tenant it routes for.
  std::string user;
  Credentials credentials;
  // The channels of ChannelFor: their credentials (default insecure) and how many endpoints
  // keep one (least recently used go first; a channel in use stays open). Default 64.
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  int max_channels = 64;
  // The header ChannelFor's channels send the tenant in. Default x-confcenter-tenant.
  std::string header = "x-confcenter-tenant";
};

// Counters for a metrics system; each only grows, except the two tenant counts.
struct RouterStats {
  int64_t lookups = 0;
  // Routed by the own tenant instead of the request's:
  int64_t invalid_tenant = 0;  // not a tenant name
  int64_t unknown_tenant = 0;  // the server has no such tenant (or it was removed)
  int64_t not_loaded = 0;      // its map did not arrive within first_request_wait
  int64_t evictions = 0;       // maps dropped for newer ones
  int64_t stream_restarts = 0;
  int tracked_tenants = 0;  // request tenants followed now (own tenant not counted)
  int loaded_tenants = 0;   // of those, the ones whose map has arrived
};

// Where a dependency is for one tenant.
struct Route {
  std::string address;        // "host:port", as rendered by the registration
  std::string source_tenant;  // the tenant whose registration it is
  std::string view_tenant;    // the tenant whose view was used (the own one on fallback)
};

class Router {
 public:
  // Starts following the own tenant's map in the background. Errors: INVALID_ARGUMENT
  // naming the field (tenant, dependencies[i], max_tenants, endpoint).
  static absl::StatusOr<std::unique_ptr<Router>> Start(std::shared_ptr<grpc::Channel> channel,
                                                       RouterOptions options);
  ~Router();

  // The dependency's `endpoint` (default options.endpoint) in `request_tenant`'s view:
  // same-tenant-first routing from that tenant (the nearest tenant of its chain that
  // registered the dependency). An empty request_tenant is the own tenant. A request tenant
  // not followed yet is added (and waited for up to first_request_wait); one that is invalid
  // or unknown, or whose map has not arrived, is routed by the own tenant. nullopt if the
  // dependency has no such endpoint in that view, or is not one of options.dependencies.
  // Thread-safe; a followed tenant's lookup takes no network call.
  std::optional<Route> EndpointFor(std::string_view dependency, std::string_view request_tenant,
                                   std::string_view endpoint = {});
  // As above for the current request's tenant (TenantScope::Current()).
  std::optional<Route> EndpointFor(std::string_view dependency);

  // A channel to EndpointFor(dependency, the current request tenant)'s address, from a pool of
  // one channel per address (calls do not open connections of their own), whose calls carry
  // the request's tenant (TenantClientInterceptors). nullptr if there is no route.
  std::shared_ptr<grpc::Channel> ChannelFor(std::string_view dependency);

  // Starts following `tenant` without waiting (e.g. at the first sight of a new branch).
  void Track(std::string_view tenant);

  RouterStats stats() const;

 private:
  class Impl;
  explicit Router(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace confcenter

#endif  // CONFCENTER_CLIENT_ROUTER_H_
