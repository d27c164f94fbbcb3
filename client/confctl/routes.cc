#include "client/confctl/routes.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kManagedBy[] = "app.kubernetes.io/managed-by";
constexpr char kTenantLabel[] = "confcenter.io/tenant";
constexpr char kSourceLabel[] = "confcenter.io/source-tenant";
constexpr char kDependents[] = "confcenter.io/dependents";
constexpr char kIstioApi[] = "networking.istio.io/v1beta1";

// RFC 1123 label: 1-63 of [a-z0-9-], alphanumeric at both ends.
bool IsDnsLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
  });
}

// A Kubernetes DNS-1123 subdomain (what an ExternalName and an Istio host must be).
bool IsDnsName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (!IsDnsLabel(label)) return false;
  }
  return true;
}

// Dotted digits: an IPv4 address (or something no resolver takes as a name).
bool IsIpv4Like(absl::string_view host) {
  return !host.empty() && host.find_first_not_of("0123456789.") == absl::string_view::npos;
}

Json Labels(const std::string& tenant, const std::string& source_tenant = "") {
  Json labels = Json::object();
  labels[kManagedBy] = "confcenter";
  if (!source_tenant.empty()) labels[kSourceLabel] = source_tenant;
  labels[kTenantLabel] = tenant;
  return labels;
}

Json Metadata(const std::string& name, const std::string& tenant, Json labels) {
  return Json{{"name", name}, {"namespace", tenant}, {"labels", std::move(labels)}};
}

Json ExternalNameService(const RouteTable& table, const ExternalRoute& route) {
  Json metadata = Metadata(route.service, table.tenant, Labels(table.tenant, route.source_tenant));
  metadata["annotations"] = Json{{kDependents, absl::StrJoin(route.dependents, ",")}};
  Json ports = Json::array();
  for (const auto& [name, port] : route.target.ports) {
    ports.push_back(Json{{"name", name}, {"port", port}, {"protocol", "TCP"}});
  }
  return Json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", std::move(metadata)},
              {"spec",
               {{"type", "ExternalName"},
                {"externalName", route.target.host},
                {"ports", std::move(ports)}}}};
}

Json IstioDestination(const Destination& to) {
  return Json::array({Json{{"destination", {{"host", to.host}, {"port", {{"number", to.port}}}}}}});
}

Json VirtualService(const RouteTable& table, const ServiceRoutes& service) {
  Json http = Json::array();
  for (const HeaderRoute& route : service.routes) {
    Json match =
        Json::array({Json{{"headers", Json{{table.header, Json{{"exact", route.tenant}}}}}}});
    http.push_back(Json{{"match", std::move(match)}, {"route", IstioDestination(route.to)}});
  }
  http.push_back(Json{{"route", IstioDestination(service.self)}});
  return Json{{"apiVersion", kIstioApi},
              {"kind", "VirtualService"},
              {"metadata", Metadata(service.service, table.tenant, Labels(table.tenant))},
              {"spec", {{"hosts", Json::array({service.self.host})}, {"http", std::move(http)}}}};
}

Json DestinationRule(const RouteTable& table, const std::string& service, const Destination& to) {
  return Json{
      {"apiVersion", kIstioApi},
      {"kind", "DestinationRule"},
      {"metadata",
       Metadata(absl::StrCat(service, "-", to.tenant), table.tenant, Labels(table.tenant))},
      {"spec", {{"host", to.host}, {"trafficPolicy", {{"tls", {{"mode", "ISTIO_MUTUAL"}}}}}}}};
}

// True if a YAML 1.1 or 1.2 reader takes the plain scalar `text` as a string: a letter first,
// then only name characters, and not one of YAML 1.1's boolean or null words.
bool PlainIsString(const std::string& text) {
  static const std::set<std::string> kWords = {"y",   "n",    "yes",   "no",  "on",
                                               "off", "true", "false", "null"};
  if (text.empty() || !absl::ascii_isalpha(text.front())) return false;
  if (kWords.count(absl::AsciiStrToLower(text)) > 0) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '/';
  });
}

void Emit(const Json& value, YAML::Emitter* out) {
  if (value.is_object()) {
    if (value.empty()) *out << YAML::Flow;
    *out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      *out << YAML::Key;
      Emit(Json(key), out);
      *out << YAML::Value;
      Emit(item, out);
    }
    *out << YAML::EndMap;
  } else if (value.is_array()) {
    if (value.empty()) *out << YAML::Flow;
    *out << YAML::BeginSeq;
    for (const Json& item : value) Emit(item, out);
    *out << YAML::EndSeq;
  } else if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (!PlainIsString(text)) *out << YAML::DoubleQuoted;
    *out << text;
  } else if (value.is_number_integer()) {
    *out << value.get<int64_t>();
  } else if (value.is_boolean()) {
    *out << value.get<bool>();
  } else {
    *out << YAML::Null;
  }
}

std::string EnvoyCluster(int port, const std::string& host) {
  return absl::StrCat("outbound|", port, "||", host);
}

Json EnvoyDefaultRoute(int port, const std::string& host) {
  return Json{{"match", {{"prefix", "/"}}}, {"route", {{"cluster", EnvoyCluster(port, host)}}}};
}

// The first endpoint's port as a Destination in `tenant`.
Destination DestinationOf(const std::string& tenant, const HostPorts& target) {
  return Destination{tenant, target.host, target.ports.front().second};
}

const v1::RegisteredService* FindService(const v1::Tenant& tenant, const std::string& name) {
  for (const v1::RegisteredService& service : tenant.services()) {
    if (service.definition().name() == name) return &service;
  }
  return nullptr;
}

// The external routes and their warnings.
void AddExternalRoutes(const RouteInputs& in, RouteTable* table) {
  const std::string& tenant = in.tenant.name();
  std::map<std::string, std::pair<v1::DependencyRoute, std::set<std::string>>> dependencies;
  for (const v1::DependencyMap& map : in.dependency_maps) {
    for (const v1::DependencyRoute& route : map.dependencies()) {
      if (route.source_tenant() == tenant) continue;  // deployed here
      auto [it, added] = dependencies.try_emplace(route.service(), route, std::set<std::string>{});
      it->second.second.insert(map.service());
    }
  }
  for (const auto& [service, entry] : dependencies) {
    const auto& [route, dependents] = entry;
    const std::string who =
        absl::StrCat("dependency ", service, " of ", absl::StrJoin(dependents, ", "));
    if (route.source_tenant().empty()) {
      table->warnings.push_back(
          absl::StrCat(who, " is registered nowhere in ", tenant, "'s chain: no route rendered"));
      continue;
    }
    absl::StatusOr<HostPorts> target = ParseEndpoints(route.endpoints());
    if (!target.ok()) {
      table->warnings.push_back(absl::StrCat(who, " in ", route.source_tenant(), ": ",
                                             target.status().message(), ": no route rendered"));
      continue;
    }
    table->external.push_back(ExternalRoute{service,
                                            route.source_tenant(),
                                            *std::move(target),
                                            {dependents.begin(), dependents.end()}});
  }
}

// The header routes of every service of the tenant, and their warnings.
void AddHeaderRoutes(const RouteInputs& in, RouteTable* table) {
  const std::string& tenant = in.tenant.name();
  std::map<std::string, const v1::Tenant*> tenants;  // the descendants by name
  for (const v1::Tenant& descendant : in.descendants) tenants[descendant.name()] = &descendant;
  for (const v1::RegisteredService& service : in.tenant.services()) {
    const std::string& name = service.definition().name();
    absl::StatusOr<HostPorts> own = ParseEndpoints(service.endpoints());
    if (!own.ok()) {
      table->warnings.push_back(absl::StrCat("service ", name, " in ", tenant, ": ",
                                             own.status().message(), ": no header routes"));
      continue;
    }
    ServiceRoutes routes{name, DestinationOf(tenant, *own), {}};
    for (const auto& [descendant_name, descendant] : tenants) {
      // The nearest deployment walking up from the descendant; the tenant's own ends the walk.
      const v1::RegisteredService* nearest = nullptr;
      std::string nearest_tenant;
      for (const std::string& link : descendant->chain()) {
        if (link == tenant) break;
        auto it = tenants.find(link);
        if (it == tenants.end()) break;
        nearest = FindService(*it->second, name);
        if (nearest != nullptr) {
          nearest_tenant = link;
          break;
        }
      }
      if (nearest == nullptr) continue;
      absl::StatusOr<HostPorts> target = ParseEndpoints(nearest->endpoints());
      if (!target.ok()) {
        table->warnings.push_back(absl::StrCat("service ", name, " in ", nearest_tenant, ": ",
                                               target.status().message(), ": no route for ",
                                               descendant_name));
        continue;
      }
      routes.routes.push_back(HeaderRoute{descendant_name, DestinationOf(nearest_tenant, *target)});
    }
    table->header_routes.push_back(std::move(routes));
  }
}

}  // namespace

absl::Status ValidateHeaderName(const std::string& flag, const std::string& name) {
  const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
           absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", name,
                   "\": use a lowercase HTTP header name ([a-z0-9] and !#$%&'*+-.^_`|~), "
                   "e.g. x-confcenter-tenant"));
}

absl::StatusOr<HostPorts> ParseEndpoints(
    const google::protobuf::Map<std::string, std::string>& endpoints) {
  if (endpoints.empty()) return absl::InvalidArgumentError("no endpoints");
  std::map<std::string, std::string> sorted(endpoints.begin(), endpoints.end());
  HostPorts parsed;
  std::set<std::string> hosts;
  for (const auto& [name, address] : sorted) {
    const size_t colon = address.rfind(':');
    int port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
        port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint ", name, " \"", address, "\" is not host:port"));
    }
    const std::string host = address.substr(0, colon);
    if (host.find(':') != std::string::npos || absl::StartsWith(host, "[") || IsIpv4Like(host)) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint ", name, " host ", host, " is an IP address, not a DNS name"));
    }
    if (!IsDnsName(host)) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint ", name, " host \"", host, "\" is not a DNS name"));
    }
    hosts.insert(host);
    parsed.host = host;
    parsed.ports.emplace_back(name, port);
  }
  if (hosts.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("its endpoints disagree on the host (", absl::StrJoin(hosts, ", "), ")"));
  }
  return parsed;
}

RouteTable BuildRouteTable(const RouteInputs& in) {
  RouteTable table;
  table.tenant = in.tenant.name();
  table.header = in.header;
  AddExternalRoutes(in, &table);
  AddHeaderRoutes(in, &table);
  std::sort(table.header_routes.begin(), table.header_routes.end(),
            [](const ServiceRoutes& a, const ServiceRoutes& b) { return a.service < b.service; });
  return table;
}

std::vector<Json> KubernetesObjects(const RouteTable& table, bool istio) {
  std::vector<Json> objects;
  for (const ExternalRoute& route : table.external) {
    objects.push_back(ExternalNameService(table, route));
  }
  if (istio) {
    for (const ServiceRoutes& service : table.header_routes) {
      objects.push_back(VirtualService(table, service));
      std::map<std::string, Destination> hosts = {{service.self.host, service.self}};
      for (const HeaderRoute& route : service.routes) hosts.emplace(route.to.host, route.to);
      for (const auto& [host, to] : hosts) {
        objects.push_back(DestinationRule(table, service.service, to));
      }
    }
  }
  auto key = [](const Json& o) {
    return std::make_tuple(o["kind"].get<std::string>(),
                           o["metadata"]["namespace"].get<std::string>(),
                           o["metadata"]["name"].get<std::string>());
  };
  std::stable_sort(objects.begin(), objects.end(),
                   [&key](const Json& a, const Json& b) { return key(a) < key(b); });
  return objects;
}

std::string ObjectsToYaml(const std::vector<Json>& objects) {
  std::string text;
  for (const Json& object : objects) {
    YAML::Emitter out;
    out.SetIndent(2);
    Emit(object, &out);
    absl::StrAppend(&text, "---\n", out.c_str(), "\n");
  }
  return text;
}

Json RouteTableJson(const RouteTable& table) {
  Json external = Json::array();
  for (const ExternalRoute& route : table.external) {
    Json ports = Json::array();
    for (const auto& [name, port] : route.target.ports) {
      ports.push_back(Json{{"name", name}, {"port", port}});
    }
    external.push_back(Json{{"service", route.service},
                            {"source_tenant", route.source_tenant},
                            {"host", route.target.host},
                            {"ports", std::move(ports)},
                            {"dependents", route.dependents}});
  }
  Json header_routes = Json::array();
  for (const ServiceRoutes& service : table.header_routes) {
    Json routes = Json::array();
    for (const HeaderRoute& route : service.routes) {
      routes.push_back(Json{{"tenant", route.tenant},
                            {"host", route.to.host},
                            {"port", route.to.port},
                            {"destination_tenant", route.to.tenant}});
    }
    header_routes.push_back(
        Json{{"service", service.service},
             {"host", service.self.host},
             {"routes", std::move(routes)},
             {"default", {{"host", service.self.host}, {"port", service.self.port}}}});
  }
  return Json{{"tenant", table.tenant},
              {"header", table.header},
              {"external", std::move(external)},
              {"header_routes", std::move(header_routes)},
              {"warnings", table.warnings}};
}

Json EnvoyRouteConfiguration(const RouteTable& table) {
  std::vector<Json> hosts;  // sorted by name below
  for (const ServiceRoutes& service : table.header_routes) {
    Json routes = Json::array();
    for (const HeaderRoute& route : service.routes) {
      Json header = {{"name", table.header}, {"string_match", {{"exact", route.tenant}}}};
      routes.push_back(
          Json{{"match", {{"prefix", "/"}, {"headers", Json::array({std::move(header)})}}},
               {"route", {{"cluster", EnvoyCluster(route.to.port, route.to.host)}}}});
    }
    routes.push_back(EnvoyDefaultRoute(service.self.port, service.self.host));
    hosts.push_back(Json{{"name", service.service},
                         {"domains", Json::array({service.self.host, service.service})},
                         {"routes", std::move(routes)}});
  }
  for (const ExternalRoute& route : table.external) {
    const int port = route.target.ports.front().second;
    hosts.push_back(Json{{"name", route.service},
                         {"domains", Json::array({route.target.host, route.service})},
                         {"routes", Json::array({EnvoyDefaultRoute(port, route.target.host)})}});
  }
  std::sort(hosts.begin(), hosts.end(), [](const Json& a, const Json& b) {
    return a["name"].get<std::string>() < b["name"].get<std::string>();
  });
  return Json{{"name", absl::StrCat("confcenter-", table.tenant)},
              {"virtual_hosts", std::move(hosts)}};
}

}  // namespace confcenter::confctl
