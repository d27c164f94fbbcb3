// `confctl routes render`: the routing a tenant needs for services that do not use the
// client library, computed from what the registry says (no server contact here, so it is
// unit-testable): Kubernetes ExternalName Services for the dependencies a tenant does not
// deploy, Istio header routes from a tenant's services to its descendants' deployments, the
// same as a plain JSON table or an Envoy RouteConfiguration. See docs/routing.md.
#ifndef CONFCENTER_CLIENT_CONFCTL_ROUTES_H_
#define CONFCENTER_CLIENT_CONFCTL_ROUTES_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "confcenter/v1/tenant.pb.h"
#include "nlohmann/json.hpp"

namespace confcenter::confctl {

// The header that carries the tenant a request is for, unless --header says otherwise.
inline constexpr char kDefaultTenantHeader[] = "x-confcenter-tenant";

// What the routes are computed from, as fetched from the server.
struct RouteInputs {
  // The tenant routed (GetTenant): its services, children and chain.
  v1::Tenant tenant;
  // ResolveDependencies(tenant, s) for every service s registered in the tenant itself.
  std::vector<v1::DependencyMap> dependency_maps;
  // Every descendant of the tenant (children, their children...), any order.
  std::vector<v1::Tenant> descendants;
  // The header the Istio and Envoy routes match on (ValidateHeaderName).
  std::string header = kDefaultTenantHeader;
};

// A host and its ports (endpoint name -> port, ordered by name) parsed from rendered
// endpoints ("host:port").
struct HostPorts {
  std::string host;
  std::vector<std::pair<std::string, int>> ports;
};

// A dependency the tenant does not deploy, reached in its source tenant.
struct ExternalRoute {
  std::string service;
  std::string source_tenant;
  HostPorts target;                     // as rendered for source_tenant
  std::vector<std::string> dependents;  // the tenant's services that declare it, by name
};

// Where a request goes: a service's host and port (of its first endpoint by name) as
// rendered in `tenant`.
struct Destination {
  std::string tenant;
  std::string host;
  int port = 0;
};

// A service of the tenant, routed per descendant: requests whose header names `tenant` go
// to `to` (the nearest deployment from that descendant up to the routed tenant).
struct HeaderRoute {
  std::string tenant;
  Destination to;
};

struct ServiceRoutes {
  std::string service;
  Destination self;                 // the routed tenant's own deployment (the default route)
  std::vector<HeaderRoute> routes;  // ordered by tenant
};

// Everything rendered for one tenant. Warnings name what could not be routed, and why.
struct RouteTable {
  std::string tenant;
  std::string header;
  std::vector<ExternalRoute> external;       // ordered by service
  std::vector<ServiceRoutes> header_routes;  // ordered by service
  std::vector<std::string> warnings;         // ordered as found: by dependency, then service
};

// OK if `name` is a lowercase HTTP header field name (RFC 9110 token: [a-z0-9] and
// !#$%&'*+-.^_`|~, not empty). Errors: INVALID_ARGUMENT naming `flag`.
absl::Status ValidateHeaderName(const std::string& flag, const std::string& name);

// Parses rendered endpoints (name -> "host:port"): every endpoint must have the same host,
// a DNS name (RFC 1123 subdomain, not an IP address) and a port 1-65535. Errors:
// INVALID_ARGUMENT saying what is wrong (no endpoints, an IP literal, hosts that disagree,
// an address that is not host:port).
absl::StatusOr<HostPorts> ParseEndpoints(
    const google::protobuf::Map<std::string, std::string>& endpoints);

// The routes of `in.tenant`:
// - external: every dependency the tenant's own services declare whose route leads to
//   another tenant, once (with all its dependents); a dependency registered nowhere in the
//   chain, or whose endpoints do not parse (ParseEndpoints), is a warning instead;
// - header_routes: every service registered in the tenant, with one route per descendant
//   whose nearest deployment of it (walking the descendant's chain up to the tenant) is not
//   the tenant's own. A service whose endpoints do not parse is a warning instead, as is a
//   descendant's deployment whose endpoints do not parse (that route is left out).
RouteTable BuildRouteTable(const RouteInputs& in);

// The Kubernetes objects: the ExternalName Services, and with `istio` the VirtualServices
// and DestinationRules, sorted by (kind, namespace, name), keys in a fixed order, labelled
// app.kubernetes.io/managed-by=confcenter and confcenter.io/tenant=<tenant>.
std::vector<nlohmann::ordered_json> KubernetesObjects(const RouteTable& table, bool istio);

// `objects` as a multi-document YAML stream (each document starts with "---"), written with
// YAML::Emitter; strings a reader could take as another type are double-quoted. Empty if
// there are no objects.
std::string ObjectsToYaml(const std::vector<nlohmann::ordered_json>& objects);

// The plain JSON route table (docs/routing.md).
nlohmann::ordered_json RouteTableJson(const RouteTable& table);

// An Envoy RouteConfiguration: a virtual host per header-routed service (its header routes,
// then a default route) and per external dependency (a default route only); clusters named
// as Istio names them ("outbound|PORT||HOST").
nlohmann::ordered_json EnvoyRouteConfiguration(const RouteTable& table);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_ROUTES_H_
