// Every bad service definition is refused by the real server with the right status code and a
// message that starts with the offending field's path ("services[0].dependencies[1].range:
// ..."), and changes nothing in the store: the table issue 5 asks for.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

// Small enough to exceed with a default value in a test, large enough for the baseline.
constexpr int kMaxValueBytes = 64;
// The baseline holds 8 keys in integration and 3 in f1 (endpoints, generated values).
constexpr int kMaxKeysPerTenant = 10;

// The 63-character names the server renders address templates with to bound their length.
const std::string kLongest(63, 'x');

// A valid definition that the table's rows break one field at a time: orders@1.5.0, an HTTP
// service with two endpoints, two dependencies, a default, a generated secret and probes.
v1::ServiceDefinition Orders() {
  v1::ServiceDefinition d;
  d.set_name("orders");
  d.set_definition_version("1.1");
  d.set_version("1.5.0");
  d.set_protocol(v1::PROTOCOL_HTTP);
  (*d.mutable_metadata())["git.commit"] = "5114f85";
  v1::Endpoint* http = d.add_endpoints();
  http->set_name("http");
  http->set_port(8080);
  v1::Endpoint* admin = d.add_endpoints();
  admin->set_name("admin");
  admin->set_port(9000);
  admin->set_address_template("{service}-admin.{tenant}:{port}");
  v1::Dependency* payments = d.add_dependencies();
  payments->set_service("payments");
  payments->set_range("^1.2");
  v1::Dependency* inventory = d.add_dependencies();
  inventory->set_service("inventory");
  inventory->set_range("~2.1");
  (*d.mutable_defaults())["db.pool.size"] = "10";
  v1::GeneratedKey* password = d.add_generated_keys();
  password->set_key("db.password");
  password->set_kind(v1::GENERATED_KEY_KIND_SECRET);
  password->set_length(32);
  d.mutable_health()->set_endpoint("http");
  d.mutable_health()->set_path("/healthz");
  d.mutable_self_check()->set_endpoint("admin");
  d.mutable_self_check()->set_path("/selfcheck");
  return d;
}

// payments@<version>, a gRPC service with a gRPC health probe.
v1::ServiceDefinition Payments(const std::string& version) {
  v1::ServiceDefinition d;
  d.set_name("payments");
  d.set_version(version);
  d.set_protocol(v1::PROTOCOL_GRPC);
  v1::Endpoint* grpc = d.add_endpoints();
  grpc->set_name("grpc");
  grpc->set_port(9090);
  d.mutable_health()->set_endpoint("grpc");
  d.mutable_health()->set_path("grpc.health.v1.Health");
  v1::GeneratedKey* token = d.add_generated_keys();
  token->set_key("api.token");
  token->set_kind(v1::GENERATED_KEY_KIND_TOKEN);
  return d;
}

// inventory@2.1.3, a TCP service whose health probe is a connect.
v1::ServiceDefinition Inventory() {
  v1::ServiceDefinition d;
  d.set_name("inventory");
  d.set_version("2.1.3");
  d.set_protocol(v1::PROTOCOL_TCP);
  v1::Endpoint* tcp = d.add_endpoints();
  tcp->set_name("tcp");
  tcp->set_port(7000);
  d.mutable_health()->set_endpoint("tcp");
  v1::GeneratedKey* id = d.add_generated_keys();
  id->set_key("instance.id");
  id->set_kind(v1::GENERATED_KEY_KIND_UUID);
  return d;
}

v1::RegisterRequest Request(const std::string& tenant, std::vector<v1::ServiceDefinition> defs) {
  v1::RegisterRequest r;
  r.set_tenant(tenant);
  for (v1::ServiceDefinition& d : defs) *r.add_services() = std::move(d);
  return r;
}

// Registers Orders() in f1 after `edit` changed it.
v1::RegisterRequest Orders(const std::function<void(v1::ServiceDefinition&)>& edit) {
  v1::ServiceDefinition d = Orders();
  edit(d);
  return Request("f1", {d});
}

// Registers Payments("1.3.0") in f1 after `edit` changed it.
v1::RegisterRequest Payments(const std::function<void(v1::ServiceDefinition&)>& edit) {
  v1::ServiceDefinition d = Payments("1.3.0");
  edit(d);
  return Request("f1", {d});
}

// Registers Inventory() in f1 after `edit` changed it.
v1::RegisterRequest Inventory(const std::function<void(v1::ServiceDefinition&)>& edit) {
  v1::ServiceDefinition d = Inventory();
  edit(d);
  return Request("f1", {d});
}

v1::RegisterRequest WithTtl(v1::RegisterRequest r, int64_t seconds, int32_t nanos) {
  r.mutable_ttl()->set_seconds(seconds);
  r.mutable_ttl()->set_nanos(nanos);
  return r;
}

struct Stubs {
  std::unique_ptr<v1::ConfigService::Stub> config;
  std::unique_ptr<v1::TenantService::Stub> tenants;
};

grpc::Status Register(Stubs& s, const v1::RegisterRequest& r, v1::RegisterResponse* resp) {
  grpc::ClientContext ctx;
  return s.tenants->Register(&ctx, r, resp);
}

// Everything a client can observe of the store.
std::string Fingerprint(Stubs& s) {
  return testing::StoreFingerprint(s.config.get(), s.tenants.get());
}

// A server with a valid baseline: payments@1.2.0, inventory@2.1.3 and orders@1.4.0 in
// integration; branch f1 under it with its own orders@1.5.0 (Orders()).
class BadDefinitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{"--max_value_bytes=" + std::to_string(kMaxValueBytes),
                                 "--max_keys_per_tenant=" + std::to_string(kMaxKeysPerTenant)});
    ASSERT_NE(server_->port(), 0);
    stubs_ = Stubs{v1::ConfigService::NewStub(server_->Channel()),
                   v1::TenantService::NewStub(server_->Channel())};
    v1::ServiceDefinition old_orders = Orders();
    old_orders.set_version("1.4.0");
    v1::RegisterResponse resp;
    grpc::Status s = Register(
        stubs_, Request("integration", {Payments("1.2.0"), Inventory(), old_orders}), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(resp.warnings().empty()) << resp.DebugString();
    s = Register(stubs_, Request("f1", {Orders()}), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(resp.warnings().empty()) << resp.DebugString();
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  Stubs stubs_;
};

struct BadDefinition {
  std::string name;
  v1::RegisterRequest request;
  grpc::StatusCode code;
  std::string message;  // the error message must start with this
};

TEST_F(BadDefinitionTest, EachIsRejectedWithCodeAndPathAndChangesNothing) {
  using C = grpc::StatusCode;
  using Def = v1::ServiceDefinition;
  const std::string kServiceRule =
      "is not a valid service name: use 1-63 characters of [a-z0-9-], starting and ending "
      "with a lowercase letter or digit";
  const std::string kNotSemVer =
      "is not a semantic version (MAJOR.MINOR.PATCH, semver.org 2.0.0); ";
  const std::string kBadDefinitionVersion =
      "is not a definition version (\"MAJOR\" or \"MAJOR.MINOR\", e.g. \"1\")";

  std::vector<BadDefinition> cases = {
      // Name and schema version.
      {"missing name", Orders([](Def& d) { d.clear_name(); }), C::INVALID_ARGUMENT,
       "services[0].name: is required"},
      {"uppercase name", Orders([](Def& d) { d.set_name("Orders_v2"); }), C::INVALID_ARGUMENT,
       "services[0].name: \"Orders_v2\" " + kServiceRule},
      {"64-character name", Orders([](Def& d) { d.set_name(std::string(64, 'o')); }),
       C::INVALID_ARGUMENT, "services[0].name: \"" + std::string(64, 'o') + "\" " + kServiceRule},
      {"the same service twice in one request", Request("f1", {Payments("1.3.0"), Orders(),
                                                               Payments("1.3.1")}),
       C::INVALID_ARGUMENT, "services[2].name: \"payments\" appears twice in services"},
      {"second definition invalid",
       Request("f1", {Payments("1.3.0"), [] {
                        Def d = Orders();
                        d.set_version("1.5");
                        return d;
                      }()}),
       C::INVALID_ARGUMENT, "services[1].version: \"1.5\" " + kNotSemVer},
      {"definition_version of an unknown major",
       Orders([](Def& d) { d.set_definition_version("2"); }), C::INVALID_ARGUMENT,
       "services[0].definition_version: \"2\" is not supported: this server reads definition "
       "version 1 (1.x)"},
      {"definition_version not a number",
       Orders([](Def& d) { d.set_definition_version("x"); }), C::INVALID_ARGUMENT,
       "services[0].definition_version: \"x\" " + kBadDefinitionVersion},
      {"definition_version with an empty minor",
       Orders([](Def& d) { d.set_definition_version("1."); }), C::INVALID_ARGUMENT,
       "services[0].definition_version: \"1.\" " + kBadDefinitionVersion},
      {"definition_version with three numbers",
       Orders([](Def& d) { d.set_definition_version("1.0.0"); }), C::INVALID_ARGUMENT,
       "services[0].definition_version: \"1.0.0\" " + kBadDefinitionVersion},

      // Version and protocol.
      {"version with two numbers", Orders([](Def& d) { d.set_version("1.0"); }),
       C::INVALID_ARGUMENT,
       "services[0].version: \"1.0\" " + kNotSemVer +
           "expected three dot-separated numbers, found 2"},
      {"version with a v prefix", Orders([](Def& d) { d.set_version("v1.2.3"); }),
       C::INVALID_ARGUMENT,
       "services[0].version: \"v1.2.3\" " + kNotSemVer + "drop the leading \"v\""},
      {"version with a leading zero", Orders([](Def& d) { d.set_version("01.2.3"); }),
       C::INVALID_ARGUMENT, "services[0].version: \"01.2.3\" " + kNotSemVer + "leading zero in major"},
      {"version with an empty prerelease identifier",
       Orders([](Def& d) { d.set_version("1.2.3-rc..1"); }), C::INVALID_ARGUMENT,
       "services[0].version: \"1.2.3-rc..1\" " + kNotSemVer + "empty prerelease identifier"},
      {"unknown protocol number",
       Orders([](Def& d) { d.set_protocol(static_cast<v1::Protocol>(9)); }), C::INVALID_ARGUMENT,
       "services[0].protocol: 9 is not a protocol (GRPC, HTTP or TCP)"},

      // Endpoints.
      {"endpoint name uppercase",
       Orders([](Def& d) { d.mutable_endpoints(0)->set_name("HTTP"); }), C::INVALID_ARGUMENT,
       "services[0].endpoints[0].name: \"HTTP\" is not a valid endpoint name: use 1-15 "
       "characters of [a-z0-9-] with at least one letter"},
      {"endpoint name over 15 characters (a Kubernetes port name)",
       Orders([](Def& d) { d.mutable_endpoints(0)->set_name("http-management1"); }),
       C::INVALID_ARGUMENT, "services[0].endpoints[0].name: \"http-management1\" is not a valid "
       "endpoint name"},
      {"endpoint name without a letter",
       Orders([](Def& d) { d.mutable_endpoints(0)->set_name("8080"); }), C::INVALID_ARGUMENT,
       "services[0].endpoints[0].name: \"8080\" is not a valid endpoint name"},
      {"definition version with a leading zero",
       Orders([](Def& d) { d.set_definition_version("01"); }), C::INVALID_ARGUMENT,
       "services[0].definition_version: \"01\" is not a definition version"},
      {"endpoint name missing", Orders([](Def& d) { d.mutable_endpoints(1)->clear_name(); }),
       C::INVALID_ARGUMENT, "services[0].endpoints[1].name: is required"},
      {"endpoint name twice", Orders([](Def& d) { d.mutable_endpoints(1)->set_name("http"); }),
       C::INVALID_ARGUMENT, "services[0].endpoints[1].name: \"http\" appears twice in endpoints"},
      {"endpoint port 0", Orders([](Def& d) { d.mutable_endpoints(0)->set_port(0); }),
       C::INVALID_ARGUMENT, "services[0].endpoints[0].port: 0 is not a port (1-65535)"},
      {"endpoint port 70000", Orders([](Def& d) { d.mutable_endpoints(1)->set_port(70000); }),
       C::INVALID_ARGUMENT, "services[0].endpoints[1].port: 70000 is not a port (1-65535)"},
      {"address_template with an unknown placeholder",
       Orders([](Def& d) { d.mutable_endpoints(1)->set_address_template("{svc}.{tenant}:{port}"); }),
       C::INVALID_ARGUMENT,
       "services[0].endpoints[1].address_template: \"{svc}.{tenant}:{port}\" has an unknown "
       "placeholder \"{svc}\"; use {service}, {tenant} and {port}"},
      {"address_template with an unclosed brace",
       Orders([](Def& d) {
         d.mutable_endpoints(1)->set_address_template("{service}.{tenant:{port");
       }),
       C::INVALID_ARGUMENT,
       "services[0].endpoints[1].address_template: \"{service}.{tenant:{port\" has an unclosed "
       "\"{\" (write \"{{\" for a brace)"},
      {"address_template with an unmatched closing brace",
       Orders([](Def& d) { d.mutable_endpoints(1)->set_address_template("{service}}:{port}"); }),
       C::INVALID_ARGUMENT,
       "services[0].endpoints[1].address_template: \"{service}}:{port}\" has an unmatched \"}\" "
       "(write \"}}\")"},
      {"address_template with a space",
       Orders([](Def& d) { d.mutable_endpoints(1)->set_address_template("my host:{port}"); }),
       C::INVALID_ARGUMENT,
       "services[0].endpoints[1].address_template: \"my host:{port}\" contains a space or "
       "control character"},
      {"address_template too long once rendered",
       Orders([](Def& d) {
         d.mutable_endpoints(1)->set_address_template(
             "{service}.{service}.{service}.{tenant}:{port}");
       }),
       C::INVALID_ARGUMENT,
       "services[0].endpoints[1].address_template: \"{service}.{service}.{service}.{tenant}:"
       "{port}\" can render to " +
           std::to_string(4 * kLongest.size() + 4 + 4) +
           " bytes (63-character names); the limit is 253"},
      {"17 endpoints",
       Orders([](Def& d) {
         for (int i = 0; i < 15; ++i) {
           v1::Endpoint* e = d.add_endpoints();
           e->set_name("e" + std::to_string(i));
           e->set_port(10000 + i);
         }
       }),
       C::INVALID_ARGUMENT, "services[0].endpoints: 17 endpoints exceed the limit of 16"},

      // Dependencies.
      {"dependency on a bad service name",
       Orders([](Def& d) { d.mutable_dependencies(1)->set_service("Inventory"); }),
       C::INVALID_ARGUMENT, "services[0].dependencies[1].service: \"Inventory\" " + kServiceRule},
      {"dependency without a service",
       Orders([](Def& d) { d.mutable_dependencies(0)->clear_service(); }), C::INVALID_ARGUMENT,
       "services[0].dependencies[0].service: is required"},
      {"dependency on itself",
       Orders([](Def& d) { d.mutable_dependencies(1)->set_service("orders"); }),
       C::INVALID_ARGUMENT, "services[0].dependencies[1].service: \"orders\" is the service itself"},
      {"dependency twice",
       Orders([](Def& d) {
         v1::Dependency* again = d.add_dependencies();
         again->set_service("payments");
         again->set_range("^1.3");
       }),
       C::INVALID_ARGUMENT,
       "services[0].dependencies[2].service: \"payments\" appears twice in dependencies"},
      {"range with an x-wildcard",
       Orders([](Def& d) { d.mutable_dependencies(1)->set_range("^1.x"); }), C::INVALID_ARGUMENT,
       "services[0].dependencies[1].range: \"^1.x\" is not a semver range: \"1.x\" is not a "
       "version (x-wildcards are not supported; write ^1)"},
      {"range of an operator alone",
       Orders([](Def& d) { d.mutable_dependencies(1)->set_range(">="); }), C::INVALID_ARGUMENT,
       "services[0].dependencies[1].range: \">=\" is not a semver range: \">=\" has no version "
       "after it"},
      {"range with four numbers",
       Orders([](Def& d) { d.mutable_dependencies(1)->set_range("1.2.3.4"); }),
       C::INVALID_ARGUMENT,
       "services[0].dependencies[1].range: \"1.2.3.4\" is not a semver range: \"1.2.3.4\" is "
       "not a version (more than three numbers)"},
      {"range with Ruby's pessimistic operator",
       Orders([](Def& d) { d.mutable_dependencies(1)->set_range("~>1.0"); }),
       C::INVALID_ARGUMENT,
       "services[0].dependencies[1].range: \"~>1.0\" is not a semver range: \"~>\" is not an "
       "operator (use ^ ~ >= <= > < =)"},
      {"range of blanks", Orders([](Def& d) { d.mutable_dependencies(0)->set_range("  "); }),
       C::INVALID_ARGUMENT,
       "services[0].dependencies[0].range: \"  \" is not a semver range: empty"},

      // Defaults.
      {"default key starting with an underscore",
       Orders([](Def& d) { (*d.mutable_defaults())["_endpoint.http"] = "x"; }),
       C::INVALID_ARGUMENT,
       "services[0].defaults[\"_endpoint.http\"]: \"_endpoint.http\" starts with \"_\", which "
       "is reserved for keys the server writes (such as _endpoint.*)"},
      {"default key with a space",
       Orders([](Def& d) { (*d.mutable_defaults())["db pool"] = "x"; }), C::INVALID_ARGUMENT,
       "services[0].defaults[\"db pool\"]: \"db pool\" contains \" \"; keys use only "
       "[A-Za-z0-9_.-]"},
      {"default key with an empty segment",
       Orders([](Def& d) { (*d.mutable_defaults())["db..size"] = "x"; }), C::INVALID_ARGUMENT,
       "services[0].defaults[\"db..size\"]: \"db..size\" has an empty segment; keys are "
       "dot-separated non-empty names"},
      {"default value over --max_value_bytes",
       Orders([](Def& d) {
         (*d.mutable_defaults())["banner"] = std::string(kMaxValueBytes + 1, 'b');
       }),
       C::INVALID_ARGUMENT,
       "services[0].defaults[\"banner\"]: " + std::to_string(kMaxValueBytes + 1) +
           " bytes exceed the limit of " + std::to_string(kMaxValueBytes) +
           " bytes (--max_value_bytes)"},
      {"1001 defaults",
       Orders([](Def& d) {
         for (int i = 0; i < 1000; ++i) (*d.mutable_defaults())["k" + std::to_string(i)] = "v";
       }),
       C::INVALID_ARGUMENT, "services[0].defaults: 1001 defaults exceed the limit of 1000"},

      // Generated keys.
      {"generated key of kind UNSPECIFIED",
       Orders([](Def& d) { d.mutable_generated_keys(0)->clear_kind(); }), C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].kind: is required (SECRET, UUID or TOKEN)"},
      {"generated key of an unknown kind",
       Orders([](Def& d) {
         d.mutable_generated_keys(0)->set_kind(static_cast<v1::GeneratedKeyKind>(7));
       }),
       C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].kind: 7 is not a generated key kind (SECRET, UUID or "
       "TOKEN)"},
      {"UUID with a length", Inventory([](Def& d) { d.mutable_generated_keys(0)->set_length(36); }),
       C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].length: 36 must be 0 for a UUID (always 36 characters)"},
      {"secret of length 8", Orders([](Def& d) { d.mutable_generated_keys(0)->set_length(8); }),
       C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].length: 8 is out of range; use 0 (32) or 16-256"},
      {"token of length 300",
       Payments([](Def& d) { d.mutable_generated_keys(0)->set_length(300); }),
       C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].length: 300 is out of range; use 0 (32) or 16-256"},
      {"secret of negative length",
       Orders([](Def& d) { d.mutable_generated_keys(0)->set_length(-1); }), C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].length: -1 is out of range; use 0 (32) or 16-256"},
      {"generated key twice",
       Orders([](Def& d) {
         v1::GeneratedKey* again = d.add_generated_keys();
         again->set_key("db.password");
         again->set_kind(v1::GENERATED_KEY_KIND_TOKEN);
       }),
       C::INVALID_ARGUMENT,
       "services[0].generated_keys[1].key: \"db.password\" appears twice in generated_keys"},
      {"generated key also in defaults",
       Orders([](Def& d) { (*d.mutable_defaults())["db.password"] = "hunter2"; }),
       C::INVALID_ARGUMENT,
       "services[0].generated_keys[0].key: \"db.password\" is also in defaults; a key is either "
       "given or generated"},
      {"generated key starting with an underscore",
       Orders([](Def& d) { d.mutable_generated_keys(0)->set_key("_password"); }),
       C::INVALID_ARGUMENT, "services[0].generated_keys[0].key: \"_password\" starts with \"_\""},
      {"generated key missing", Orders([](Def& d) { d.mutable_generated_keys(0)->clear_key(); }),
       C::INVALID_ARGUMENT, "services[0].generated_keys[0].key: is required"},

      // Probes.
      {"health probe without endpoint",
       Orders([](Def& d) { d.mutable_health()->clear_endpoint(); }), C::INVALID_ARGUMENT,
       "services[0].health.endpoint: is required: name one of the endpoints"},
      {"health probe naming an unknown endpoint",
       Orders([](Def& d) { d.mutable_health()->set_endpoint("metrics"); }), C::INVALID_ARGUMENT,
       "services[0].health.endpoint: \"metrics\" is not one of the endpoints"},
      {"HTTP probe path without a leading slash",
       Orders([](Def& d) { d.mutable_health()->set_path("healthz"); }), C::INVALID_ARGUMENT,
       "services[0].health.path: \"healthz\" must start with \"/\" for an HTTP service"},
      {"HTTP self-check path with a space",
       Orders([](Def& d) { d.mutable_self_check()->set_path("/self check"); }),
       C::INVALID_ARGUMENT,
       "services[0].self_check.path: \"/self check\" contains a space or control character"},
      {"TCP probe with a path", Inventory([](Def& d) { d.mutable_health()->set_path("/ping"); }),
       C::INVALID_ARGUMENT,
       "services[0].health.path: \"/ping\" must be empty for a TCP service (the check is a "
       "connect)"},
      {"gRPC probe path with a method",
       Payments([](Def& d) { d.mutable_health()->set_path("grpc.health.v1.Health/Check"); }),
       C::INVALID_ARGUMENT,
       "services[0].health.path: \"grpc.health.v1.Health/Check\" is not a gRPC service name "
       "(e.g. grpc.health.v1.Health)"},
      {"probe path over 1024 bytes",
       Orders([](Def& d) { d.mutable_health()->set_path("/" + std::string(1024, 'p')); }),
       C::INVALID_ARGUMENT, "services[0].health.path: 1025 bytes exceed the limit of 1024"},

      // Metadata.
      {"metadata label key with a space",
       Orders([](Def& d) { (*d.mutable_metadata())["team owner"] = "x"; }), C::INVALID_ARGUMENT,
       "services[0].metadata[\"team owner\"]: \"team owner\" may use only [A-Za-z0-9._-]"},
      {"metadata label value over 1024 bytes",
       Orders([](Def& d) { (*d.mutable_metadata())["owner"] = std::string(1025, 'o'); }),
       C::INVALID_ARGUMENT, "services[0].metadata[\"owner\"]: 1025 bytes exceed the limit of 1024"},

      {"defaults beyond the tenant's key quota",
       Orders([](Def& d) {
         for (int i = 0; i < 8; ++i) (*d.mutable_defaults())["k" + std::to_string(i)] = "v";
       }),
       C::RESOURCE_EXHAUSTED,
       "services: tenant \"f1\" would hold 11 keys; the limit is 10 (--max_keys_per_tenant)"},

      // TTL.
      {"ttl below 1s", WithTtl(Request("f1", {Orders()}), 0, 500'000'000), C::INVALID_ARGUMENT,
       "ttl: 500ms is shorter than the minimum of 1s"},
      {"negative ttl", WithTtl(Request("f1", {Orders()}), -5, 0), C::INVALID_ARGUMENT,
       "ttl: -5s is shorter than the minimum of 1s"},
      {"ttl over 100 years", WithTtl(Request("f1", {Orders()}), 200LL * 366 * 86400, 0),
       C::INVALID_ARGUMENT, "ttl: 1756800h is longer than the maximum of 100 years"},
      {"ttl on a new root",
       [] {
         v1::RegisterRequest r = WithTtl(Request("global", {Payments("1.3.0")}), 3600, 0);
         r.set_root(true);
         return r;
       }(),
       C::INVALID_ARGUMENT, "ttl: a root tenant cannot expire"},
      {"ttl on integration", WithTtl(Request("integration", {}), 3600, 0), C::INVALID_ARGUMENT,
       "ttl: tenant \"integration\" is a root; a root cannot expire"},

      // Version compatibility, without force: the message lists every conflict.
      {"branch registers a dependency out of its dependent's range",
       Request("f1", {Payments("2.0.0")}), C::FAILED_PRECONDITION,
       "services: 1 version conflict (set force to register anyway and record it as warnings): "
       "orders@1.5.0 requires payments ^1.2; in f1 it would route to payments@2.0.0"},
      {"new branch registers a dependency out of range (the branch is not created)",
       Request("f2", {Payments("2.0.0")}), C::FAILED_PRECONDITION,
       "services: 1 version conflict (set force to register anyway and record it as warnings): "
       "orders@1.4.0 requires payments ^1.2; in f2 it would route to payments@2.0.0"},
      {"branch registers a dependent whose range excludes the parent's dependency",
       Orders([](Def& d) { d.mutable_dependencies(0)->set_range("^2"); }),
       C::FAILED_PRECONDITION,
       "services: 1 version conflict (set force to register anyway and record it as warnings): "
       "orders@1.5.0 requires payments ^2; in f1 it would route to payments@1.2.0 of "
       "integration"},
      {"integration change that breaks its own and a branch's dependents",
       Request("integration", {Payments("2.0.0")}), C::FAILED_PRECONDITION,
       "services: 2 version conflicts (set force to register anyway and record them as "
       "warnings): orders@1.4.0 requires payments ^1.2; in integration it would route to "
       "payments@2.0.0; orders@1.5.0 requires payments ^1.2; in f1 it would route to "
       "payments@2.0.0 of integration"},
  };
  ASSERT_GE(cases.size(), 30u);

  const std::string before = Fingerprint(stubs_);
  for (const BadDefinition& c : cases) {
    v1::RegisterResponse resp;
    grpc::Status status = Register(stubs_, c.request, &resp);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_EQ(status.error_message().rfind(c.message, 0), 0u)
        << c.name << ":\n  expected prefix: " << c.message
        << "\n  actual message:  " << status.error_message();
    EXPECT_EQ(Fingerprint(stubs_), before) << c.name << " changed the store";
  }
}

// The version gate is the only thing between a conflicting request and the store: with force
// the same request succeeds and records the conflict as a warning on the service.
TEST_F(BadDefinitionTest, ConflictWithForceIsRecordedAsWarning) {
  const std::string conflict =
      "orders@1.5.0 requires payments ^1.2; in f1 it would route to payments@2.0.0";
  v1::RegisterRequest r = Request("f1", {Payments("2.0.0")});
  r.set_force(true);
  v1::RegisterResponse resp;
  grpc::Status s = Register(stubs_, r, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.warnings_size(), 1) << resp.DebugString();
  EXPECT_EQ(resp.warnings(0), conflict);
  bool found = false;
  for (const v1::RegisteredService& service : resp.tenant().services()) {
    if (service.definition().name() != "payments") continue;
    found = true;
    ASSERT_EQ(service.warnings_size(), 1);
    EXPECT_EQ(service.warnings(0), conflict);
  }
  EXPECT_TRUE(found) << resp.DebugString();
}

}  // namespace
}  // namespace confcenter
