// confctl routes render: the real binary against the real confcenterd on loopback, with the
// seed's topology (integration registers a -> b -> c; the branch f1 deploys only b), and the
// pure parts of routes.h.
#include "client/confctl/routes.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::testing {
namespace {

using Json = nlohmann::json;

// A service definition: endpoint grpc:9090 (unless `endpoints` says otherwise) and
// dependencies on `deps`.
std::string Definition(const std::string& name, const std::vector<std::string>& deps,
                       const std::string& endpoints = "[{name: grpc, port: 9090}]") {
  std::string text =
      "name: " + name + "\nversion: 1.0.0\nprotocol: grpc\nendpoints: " + endpoints + "\n";
  if (!deps.empty()) {
    text += "dependencies:\n";
    for (const std::string& dep : deps) text += "  - {service: " + dep + "}\n";
  }
  return text;
}

// The documents of a multi-document YAML stream (each starts with "---"), parsed one by one.
std::vector<YAML::Node> Documents(const std::string& text) {
  std::vector<YAML::Node> docs;
  for (absl::string_view doc : absl::StrSplit(text, "---\n", absl::SkipEmpty())) {
    docs.push_back(YAML::Load(std::string(doc)));
  }
  return docs;
}

// "Kind/namespace/name" of every object, in output order.
std::vector<std::string> Ids(const std::vector<YAML::Node>& docs) {
  std::vector<std::string> ids;
  for (const YAML::Node& doc : docs) {
    ids.push_back(doc["kind"].as<std::string>() + "/" +
                  doc["metadata"]["namespace"].as<std::string>() + "/" +
                  doc["metadata"]["name"].as<std::string>());
  }
  return ids;
}

const YAML::Node* Find(const std::vector<YAML::Node>& docs, const std::string& kind,
                       const std::string& name) {
  for (const YAML::Node& doc : docs) {
    if (doc["kind"].as<std::string>() == kind &&
        doc["metadata"]["name"].as<std::string>() == name) {
      return &doc;
    }
  }
  return nullptr;
}

std::map<std::string, std::string> StringMap(const YAML::Node& node) {
  std::map<std::string, std::string> map;
  for (const auto& item : node) map[item.first.as<std::string>()] = item.second.as<std::string>();
  return map;
}

// A fresh confcenterd per test (each test builds its own topology in integration).
class RoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0) << "confcenterd did not start";
  }

  ConfctlResult Run(const std::vector<std::string>& args) {
    return RunConfctl(args, server_->address());
  }
  std::string Ok(const std::vector<std::string>& args) {
    ConfctlResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << result.err;
    return result.out;
  }
  // Registers the definitions in `tenant` (with `extra` arguments, e.g. --parent).
  void Register(const std::string& tenant, const std::vector<std::string>& definitions,
                const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"register", tenant};
    for (const std::string& definition : definitions) {
      const std::string path = dir_.path() + "/def" + std::to_string(files_++) + ".yaml";
      FILE* f = fopen(path.c_str(), "w");
      fputs(definition.c_str(), f);
      fclose(f);
      args.insert(args.end(), {"-f", path});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    Ok(args);
  }
  // The seed: integration registers a -> b -> c; f1 registers only b (b -> c).
  void Seed() {
    Register("integration", {Definition("a", {"b"}), Definition("b", {"c"}), Definition("c", {})});
    Register("f1", {Definition("b", {"c"})});
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  int files_ = 0;
};

TEST_F(RoutesTest, BranchGetsAnExternalNameForTheDependencyItDoesNotDeploy) {
  Seed();
  ConfctlResult result = Run({"routes", "render", "f1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  std::vector<YAML::Node> docs = Documents(result.out);
  ASSERT_EQ(Ids(docs), std::vector<std::string>{"Service/f1/c"}) << result.out;
  const YAML::Node& c = docs[0];
  EXPECT_EQ(c["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(c["metadata"].size(), 4u) << result.out;  // name, namespace, labels, annotations
  EXPECT_EQ(StringMap(c["metadata"]["labels"]),
            (std::map<std::string, std::string>{{"app.kubernetes.io/managed-by", "confcenter"},
                                                {"confcenter.io/source-tenant", "integration"},
                                                {"confcenter.io/tenant", "f1"}}));
  EXPECT_EQ(StringMap(c["metadata"]["annotations"]),
            (std::map<std::string, std::string>{{"confcenter.io/dependents", "b"}}));
  const YAML::Node& spec = c["spec"];
  EXPECT_EQ(spec.size(), 3u) << result.out;
  EXPECT_EQ(spec["type"].as<std::string>(), "ExternalName");
  EXPECT_EQ(spec["externalName"].as<std::string>(), "c.integration.svc.cluster.local");
  ASSERT_EQ(spec["ports"].size(), 1u);
  EXPECT_EQ(spec["ports"][0]["name"].as<std::string>(), "grpc");
  EXPECT_EQ(spec["ports"][0]["port"].as<int>(), 9090);
  EXPECT_EQ(spec["ports"][0]["protocol"].as<std::string>(), "TCP");
  // integration deploys everything itself: nothing external.
  EXPECT_EQ(Ok({"routes", "render", "integration"}), "");
}

TEST_F(RoutesTest, IstioRoutesIntegrationsServiceToTheBranchByHeader) {
  Seed();
  ConfctlResult result = Run({"routes", "render", "integration", "--mesh", "istio"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<YAML::Node> docs = Documents(result.out);
  // Sorted by kind, namespace, name; one DestinationRule per destination host.
  EXPECT_EQ(Ids(docs), (std::vector<std::string>{
                           "DestinationRule/integration/a-integration",
                           "DestinationRule/integration/b-f1",
                           "DestinationRule/integration/b-integration",
                           "DestinationRule/integration/c-integration",
                           "VirtualService/integration/a",
                           "VirtualService/integration/b",
                           "VirtualService/integration/c",
                       }))
      << result.out;
  const YAML::Node* b = Find(docs, "VirtualService", "b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ((*b)["apiVersion"].as<std::string>(), "networking.istio.io/v1beta1");
  EXPECT_EQ(StringMap((*b)["metadata"]["labels"]),
            (std::map<std::string, std::string>{{"app.kubernetes.io/managed-by", "confcenter"},
                                                {"confcenter.io/tenant", "integration"}}));
  const YAML::Node& spec = (*b)["spec"];
  ASSERT_EQ(spec["hosts"].size(), 1u);
  EXPECT_EQ(spec["hosts"][0].as<std::string>(), "b.integration.svc.cluster.local");
  ASSERT_EQ(spec["http"].size(), 2u) << result.out;
  const YAML::Node& f1 = spec["http"][0];
  ASSERT_EQ(f1["match"].size(), 1u);
  EXPECT_EQ(f1["match"][0]["headers"]["x-confcenter-tenant"]["exact"].as<std::string>(), "f1");
  ASSERT_EQ(f1["route"].size(), 1u);
  EXPECT_EQ(f1["route"][0]["destination"]["host"].as<std::string>(), "b.f1.svc.cluster.local");
  EXPECT_EQ(f1["route"][0]["destination"]["port"]["number"].as<int>(), 9090);
  const YAML::Node& fallback = spec["http"][1];
  EXPECT_FALSE(fallback["match"]);
  EXPECT_EQ(fallback["route"][0]["destination"]["host"].as<std::string>(),
            "b.integration.svc.cluster.local");
  EXPECT_EQ(fallback["route"][0]["destination"]["port"]["number"].as<int>(), 9090);
  // a and c are deployed by no descendant: the default route only.
  const YAML::Node* a = Find(docs, "VirtualService", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["spec"]["http"].size(), 1u);
  const YAML::Node* rule = Find(docs, "DestinationRule", "b-f1");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ((*rule)["apiVersion"].as<std::string>(), "networking.istio.io/v1beta1");
  EXPECT_EQ((*rule)["metadata"]["namespace"].as<std::string>(), "integration");
  EXPECT_EQ((*rule)["spec"]["host"].as<std::string>(), "b.f1.svc.cluster.local");
  EXPECT_EQ((*rule)["spec"]["trafficPolicy"]["tls"]["mode"].as<std::string>(), "ISTIO_MUTUAL");
  const YAML::Node* own = Find(docs, "DestinationRule", "b-integration");
  ASSERT_NE(own, nullptr);
  EXPECT_EQ((*own)["spec"]["host"].as<std::string>(), "b.integration.svc.cluster.local");

  // Another header name; the branch itself gets its own b's VirtualService and c's Service.
  std::vector<YAML::Node> custom =
      Documents(Ok({"routes", "render", "integration", "--mesh", "istio", "--header", "x-branch"}));
  const YAML::Node* custom_b = Find(custom, "VirtualService", "b");
  ASSERT_NE(custom_b, nullptr);
  EXPECT_EQ(
      (*custom_b)["spec"]["http"][0]["match"][0]["headers"]["x-branch"]["exact"].as<std::string>(),
      "f1");
  EXPECT_EQ(
      Ids(Documents(Ok({"routes", "render", "f1", "--mesh", "istio"}))),
      (std::vector<std::string>{"DestinationRule/f1/b-f1", "Service/f1/c", "VirtualService/f1/b"}));
}

TEST_F(RoutesTest, HeaderRoutesFollowTheNearestDeploymentOfEachDescendant) {
  Seed();
  // f1x under f1 deploys only a: its b is f1's, its a its own; f2 deploys nothing of a or b.
  Register("f1x", {Definition("a", {"b"})}, {"--parent", "f1"});
  Register("f2", {Definition("c", {})});
  Json table = Json::parse(Ok({"routes", "render", "integration", "-o", "json"}));
  std::map<std::string, std::vector<std::string>> routes;
  for (const Json& service : table["header_routes"]) {
    for (const Json& route : service["routes"]) {
      routes[service["service"]].push_back(route["tenant"].get<std::string>() + "->" +
                                           route["host"].get<std::string>());
    }
  }
  EXPECT_EQ(routes, (std::map<std::string, std::vector<std::string>>{
                        {"a", {"f1x->a.f1x.svc.cluster.local"}},
                        {"b", {"f1->b.f1.svc.cluster.local", "f1x->b.f1.svc.cluster.local"}},
                        {"c", {"f2->c.f2.svc.cluster.local"}},
                    }))
      << table.dump(2);
  // From f1, f1x's a is not f1's to route (f1 does not deploy a); its b is f1's own.
  Json f1 = Json::parse(Ok({"routes", "render", "f1", "-o", "json"}));
  ASSERT_EQ(f1["header_routes"].size(), 1u);
  EXPECT_EQ(f1["header_routes"][0]["routes"], Json::array());
}

TEST_F(RoutesTest, ReRenderFollowsRegistrations) {
  Seed();
  const std::string before = Ok({"routes", "render", "f1"});
  ASSERT_EQ(Ids(Documents(before)), std::vector<std::string>{"Service/f1/c"});
  // f1 deploys c too: the ExternalName goes (the diff is that object removed).
  Register("f1", {Definition("c", {})});
  EXPECT_EQ(Ok({"routes", "render", "f1"}), "");
  // c deregistered from f1: it comes back, byte for byte.
  Ok({"deregister", "f1", "c"});
  EXPECT_EQ(Ok({"routes", "render", "f1"}), before);
}

TEST_F(RoutesTest, UnroutableDependenciesAreWarningsNotObjects) {
  Seed();
  Register("integration",
           {Definition("ip", {}, "[{name: grpc, port: 9090, address_template: '10.0.0.5:{port}'}]"),
            Definition("split", {},
                       "[{name: grpc, port: 9090}, {name: http, port: 8080, address_template: "
                       "'web.example.com:{port}'}]")});
  Register("f3", {Definition("d", {"zz", "ip", "split", "c"}), Definition("e", {"zz"})},
           {"--force"});
  ConfctlResult result = Run({"routes", "render", "f3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Ids(Documents(result.out)), std::vector<std::string>{"Service/f3/c"}) << result.out;
  std::vector<std::string> warnings = absl::StrSplit(result.err, '\n', absl::SkipEmpty());
  ASSERT_EQ(warnings.size(), 3u) << result.err;
  EXPECT_EQ(warnings[0],
            "warning: dependency ip of d in integration: endpoint grpc host 10.0.0.5 is an IP "
            "address, not a DNS name: no route rendered");
  EXPECT_EQ(warnings[1],
            "warning: dependency split of d in integration: its endpoints disagree on the host "
            "(split.integration.svc.cluster.local, web.example.com): no route rendered");
  EXPECT_EQ(warnings[2],
            "warning: dependency zz of d, e is registered nowhere in f3's chain: no route "
            "rendered");
  Json table = Json::parse(Ok({"routes", "render", "f3", "-o", "json"}));
  EXPECT_EQ(table["warnings"].size(), 3u);
}

TEST_F(RoutesTest, JsonAndEnvoyFormatsAreDeterministic) {
  Seed();
  Json f1 = Json::parse(Ok({"routes", "render", "f1", "-o", "json"}));
  EXPECT_EQ(f1, Json::parse(R"({
    "tenant": "f1", "header": "x-confcenter-tenant",
    "external": [{"service": "c", "source_tenant": "integration",
                  "host": "c.integration.svc.cluster.local",
                  "ports": [{"name": "grpc", "port": 9090}], "dependents": ["b"]}],
    "header_routes": [{"service": "b", "host": "b.f1.svc.cluster.local", "routes": [],
                       "default": {"host": "b.f1.svc.cluster.local", "port": 9090}}],
    "warnings": []})"));
  // The global -o json picks the route table too.
  EXPECT_EQ(Json::parse(Ok({"-o", "json", "routes", "render", "f1"})), f1);
  Json integration = Json::parse(Ok({"routes", "render", "integration", "-o", "json"}));
  ASSERT_EQ(integration["header_routes"].size(), 3u);
  EXPECT_EQ(integration["header_routes"][1], Json::parse(R"({
    "service": "b", "host": "b.integration.svc.cluster.local",
    "routes": [{"tenant": "f1", "host": "b.f1.svc.cluster.local", "port": 9090,
                "destination_tenant": "f1"}],
    "default": {"host": "b.integration.svc.cluster.local", "port": 9090}})"));

  Json envoy = Json::parse(Ok({"routes", "render", "integration", "-o", "envoy"}));
  EXPECT_EQ(envoy["name"], "confcenter-integration");
  ASSERT_EQ(envoy["virtual_hosts"].size(), 3u);
  EXPECT_EQ(envoy["virtual_hosts"][1], Json::parse(R"({
    "name": "b", "domains": ["b.integration.svc.cluster.local", "b"],
    "routes": [
      {"match": {"prefix": "/", "headers": [{"name": "x-confcenter-tenant",
                                              "string_match": {"exact": "f1"}}]},
       "route": {"cluster": "outbound|9090||b.f1.svc.cluster.local"}},
      {"match": {"prefix": "/"},
       "route": {"cluster": "outbound|9090||b.integration.svc.cluster.local"}}]})"));
  Json branch = Json::parse(Ok({"routes", "render", "f1", "-o", "envoy"}));
  EXPECT_EQ(branch["virtual_hosts"], Json::parse(R"([
    {"name": "b", "domains": ["b.f1.svc.cluster.local", "b"],
     "routes": [{"match": {"prefix": "/"},
                 "route": {"cluster": "outbound|9090||b.f1.svc.cluster.local"}}]},
    {"name": "c", "domains": ["c.integration.svc.cluster.local", "c"],
     "routes": [{"match": {"prefix": "/"},
                 "route": {"cluster": "outbound|9090||c.integration.svc.cluster.local"}}]}])"));

  // The same registry gives the same bytes, in every format.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"routes", "render", "integration", "--mesh", "istio"},
                                             {"routes", "render", "f1", "--mesh", "istio"},
                                             {"routes", "render", "integration", "-o", "json"},
                                             {"routes", "render", "integration", "-o", "envoy"}}) {
    EXPECT_EQ(Ok(args), Ok(args)) << absl::StrJoin(args, " ");
  }
}

TEST_F(RoutesTest, BadInputIsRefusedNamingTheFlag) {
  Seed();
  ConfctlResult unknown = Run({"routes", "render", "nope"});
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_EQ(unknown.err.rfind("confctl: NOT_FOUND: ", 0), 0u) << unknown.err;
  EXPECT_EQ(unknown.out, "");
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"routes", "render", "f1", "--header", "X-Tenant"}, "--header \"X-Tenant\""},
      {{"routes", "render", "f1", "--header", "x tenant"}, "--header \"x tenant\""},
      {{"routes", "render", "f1", "--header", ""}, "--header \"\""},
      {{"routes", "render", "f1", "-o", "helm"}, "-o \"helm\""},
      {{"routes", "render", "f1", "--mesh", "linkerd"}, "--mesh \"linkerd\""},
  };
  for (const auto& [args, flag] : cases) {
    ConfctlResult result = Run(args);
    EXPECT_EQ(result.exit_code, 2) << absl::StrJoin(args, " ") << ": " << result.err;
    EXPECT_EQ(result.err.rfind("confctl: usage: " + flag, 0), 0u) << result.err;
    EXPECT_EQ(result.out, "");
  }
}

TEST(RoutesUnitTest, EndpointsParseToOneDnsHostWithPortsByName) {
  google::protobuf::Map<std::string, std::string> endpoints;
  endpoints["http"] = "b.f1.svc.cluster.local:8080";
  endpoints["grpc"] = "b.f1.svc.cluster.local:9090";
  absl::StatusOr<confctl::HostPorts> parsed = confctl::ParseEndpoints(endpoints);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->host, "b.f1.svc.cluster.local");
  EXPECT_EQ(parsed->ports,
            (std::vector<std::pair<std::string, int>>{{"grpc", 9090}, {"http", 8080}}));
  for (const char* bad :
       {"10.1.2.3:80", "[::1]:80", "b.f1:0", "b.f1", "B.F1:80", "b_x.f1:80", "b.f1:http"}) {
    google::protobuf::Map<std::string, std::string> one;
    one["grpc"] = bad;
    EXPECT_FALSE(confctl::ParseEndpoints(one).ok()) << bad;
  }
  EXPECT_FALSE(confctl::ParseEndpoints({}).ok());
}

TEST(RoutesUnitTest, HeaderNamesAreLowercaseTokens) {
  for (const char* good : {"x-confcenter-tenant", "x_tenant", "tenant.v1"}) {
    EXPECT_TRUE(confctl::ValidateHeaderName("--header", good).ok()) << good;
  }
  for (const char* bad : {"", "X-Tenant", "x tenant", ":authority", "x\"y", "t\xC3\xA9"}) {
    absl::Status status = confctl::ValidateHeaderName("--header", bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(status.message().rfind("--header ", 0), 0u) << status.message();
  }
}

TEST(RoutesUnitTest, YamlQuotesStringsAReaderWouldRetype) {
  // Tenant names such as "true" or "123" are valid; they must stay strings.
  std::vector<nlohmann::ordered_json> objects = {
      {{"kind", "Service"},
       {"metadata", {{"name", "true"}, {"namespace", "123"}}},
       {"spec", {{"ports", nlohmann::ordered_json::array()}, {"port", 80}}}}};
  YAML::Node doc = YAML::Load(confctl::ObjectsToYaml(objects).substr(4));
  EXPECT_EQ(doc["metadata"]["name"].Tag(), "!");
  EXPECT_EQ(doc["metadata"]["name"].as<std::string>(), "true");
  EXPECT_EQ(doc["metadata"]["namespace"].Tag(), "!");
  EXPECT_TRUE(doc["spec"]["ports"].IsSequence());
  EXPECT_EQ(doc["spec"]["ports"].size(), 0u);
  EXPECT_EQ(doc["spec"]["port"].Tag(), "?");
}

}  // namespace
}  // namespace confcenter::testing
