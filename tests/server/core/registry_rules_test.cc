// The service registry's rules (server/core/registry.h), as pure functions over hand-built
// states: validating definitions, rendering endpoints, generating values, routing dependencies
// through a tenant's chain and checking version compatibility in both directions.
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/core/config_state.h"
#include "server/core/record_convert.h"
#include "server/core/registry.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;
using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// ValidateDefinition

// A definition using every part of the grammar, valid.
v1::ServiceDefinition ValidDefinition() {
  v1::ServiceDefinition def;
  def.set_name("orders");
  def.set_definition_version("1");
  def.set_version("1.4.0");
  def.set_protocol(v1::PROTOCOL_GRPC);
  (*def.mutable_metadata())["git.commit"] = "abc123";
  v1::Endpoint* grpc = def.add_endpoints();
  grpc->set_name("grpc");
  grpc->set_port(9090);
  v1::Endpoint* http = def.add_endpoints();
  http->set_name("http");
  http->set_port(8080);
  http->set_address_template("{service}-{tenant}.internal:{port}");
  v1::Dependency* dep = def.add_dependencies();
  dep->set_service("payments");
  dep->set_range("^1.2");
  (*def.mutable_defaults())["db.pool.size"] = "10";
  v1::GeneratedKey* secret = def.add_generated_keys();
  secret->set_key("db.password");
  secret->set_kind(v1::GENERATED_KEY_KIND_SECRET);
  secret->set_length(32);
  def.mutable_health()->set_endpoint("grpc");
  def.mutable_health()->set_path("grpc.health.v1.Health");
  return def;
}

// ValidateDefinition's message for `def` as the request's services[0]; "OK" if it is valid.
std::string Validate(const v1::ServiceDefinition& def, int64_t max_value_bytes = 1024) {
  const absl::Status status = ValidateDefinition("services[0]", def, max_value_bytes);
  if (status.ok()) return "OK";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateDefinition, AcceptsADefinitionUsingEveryPartOfTheGrammar) {
  EXPECT_EQ(Validate(ValidDefinition()), "OK");
  v1::ServiceDefinition minimal;
  minimal.set_name("orders");
  EXPECT_EQ(Validate(minimal), "OK") << "everything but the name is optional";
}

TEST(ValidateDefinition, ErrorsNameThePathOfTheBadFieldInsideTheRequest) {
  v1::ServiceDefinition def = ValidDefinition();
  def.set_name("Orders");
  EXPECT_TRUE(absl::StartsWith(Validate(def), "services[0].name: \"Orders\" is not a valid"))
      << Validate(def);

  def = ValidDefinition();
  def.mutable_endpoints(1)->set_port(0);
  EXPECT_EQ(Validate(def), "services[0].endpoints[1].port: 0 is not a port (1-65535)");

  def = ValidDefinition();
  def.add_dependencies()->set_service("orders");
  EXPECT_EQ(Validate(def), "services[0].dependencies[1].service: \"orders\" is the service itself");

  def = ValidDefinition();
  def.mutable_dependencies(0)->set_range("not a range");
  EXPECT_TRUE(absl::StartsWith(Validate(def), "services[0].dependencies[0].range: "))
      << Validate(def);

  def = ValidDefinition();
  def.mutable_generated_keys(0)->set_length(15);
  EXPECT_EQ(Validate(def),
            "services[0].generated_keys[0].length: 15 is out of range; use 0 (32) or 16-256");

  def = ValidDefinition();
  (*def.mutable_defaults())["big"] = std::string(11, 'x');
  EXPECT_EQ(Validate(def, /*max_value_bytes=*/10),
            "services[0].defaults[\"big\"]: 11 bytes exceed the limit of 10 bytes "
            "(--max_value_bytes)");

  def = ValidDefinition();
  def.mutable_health()->set_endpoint("admin");
  EXPECT_EQ(Validate(def), "services[0].health.endpoint: \"admin\" is not one of the endpoints");
}

TEST(ValidateDefinition, RejectsDuplicatesAndKeysThatAreBothGivenAndGenerated) {
  v1::ServiceDefinition def = ValidDefinition();
  def.mutable_endpoints(1)->set_name("grpc");
  EXPECT_EQ(Validate(def), "services[0].endpoints[1].name: \"grpc\" appears twice in endpoints");

  def = ValidDefinition();
  *def.add_dependencies() = def.dependencies(0);
  EXPECT_EQ(Validate(def),
            "services[0].dependencies[1].service: \"payments\" appears twice in dependencies");

  def = ValidDefinition();
  (*def.mutable_defaults())["db.password"] = "hunter2";
  EXPECT_EQ(Validate(def),
            "services[0].generated_keys[0].key: \"db.password\" is also in defaults; a key is "
            "either given or generated");
}

TEST(ValidateDefinition, ChecksAddressTemplatesForEveryTenantNameTheGrammarAllows) {
  v1::ServiceDefinition def = ValidDefinition();
  def.mutable_endpoints(0)->set_address_template("{host}:{port}");
  EXPECT_TRUE(absl::StartsWith(Validate(def),
                               "services[0].endpoints[0].address_template: \"{host}:{port}\" has "
                               "an unknown placeholder \"{host}\""))
      << Validate(def);

  def = ValidDefinition();
  def.mutable_endpoints(0)->set_address_template("{service}.example:{port");
  EXPECT_TRUE(absl::StartsWith(Validate(def),
                               "services[0].endpoints[0].address_template: "
                               "\"{service}.example:{port\" has an unclosed \"{\""))
      << Validate(def);

  // Rendered with 63-character service and tenant names, an address must fit in 253 bytes:
  // 4 * 63 + 16 bytes do not, 2 * 63 + 14 do.
  def = ValidDefinition();
  def.mutable_endpoints(0)->set_address_template(
      "{service}.{tenant}.{service}.{tenant}.example:{port}");
  EXPECT_TRUE(absl::StrContains(Validate(def), "the limit is 253")) << Validate(def);
  def.mutable_endpoints(0)->set_address_template("{service}.{tenant}.example:{port}");
  EXPECT_EQ(Validate(def), "OK");
}

TEST(ValidateDefinition, GeneratedKeyLengthsFollowTheKind) {
  v1::ServiceDefinition def = ValidDefinition();
  for (int length : {0, 16, 256}) {
    def.mutable_generated_keys(0)->set_length(length);
    EXPECT_EQ(Validate(def), "OK") << length;
  }
  def.mutable_generated_keys(0)->set_length(257);
  EXPECT_EQ(Validate(def),
            "services[0].generated_keys[0].length: 257 is out of range; use 0 (32) or 16-256");
  def.mutable_generated_keys(0)->set_kind(v1::GENERATED_KEY_KIND_UUID);
  def.mutable_generated_keys(0)->set_length(32);
  EXPECT_EQ(Validate(def),
            "services[0].generated_keys[0].length: 32 must be 0 for a UUID (always 36 "
            "characters)");
  def.mutable_generated_keys(0)->set_kind(v1::GENERATED_KEY_KIND_UNSPECIFIED);
  EXPECT_EQ(Validate(def),
            "services[0].generated_keys[0].kind: is required (SECRET, UUID or TOKEN)");
}

TEST(ValidateDefinition, ProbePathsFollowTheProtocol) {
  v1::ServiceDefinition def = ValidDefinition();
  def.set_protocol(v1::PROTOCOL_HTTP);
  def.mutable_health()->set_path("healthz");
  EXPECT_EQ(Validate(def),
            "services[0].health.path: \"healthz\" must start with \"/\" for an HTTP service");
  def.mutable_health()->set_path("/healthz");
  EXPECT_EQ(Validate(def), "OK");
  def.set_protocol(v1::PROTOCOL_TCP);
  EXPECT_TRUE(
      absl::StartsWith(Validate(def), "services[0].health.path: \"/healthz\" must be empty"))
      << Validate(def);
}

TEST(ValidateDefinition, ReadsDefinitionVersionOneWithAnyMinor) {
  v1::ServiceDefinition def = ValidDefinition();
  for (const char* version : {"", "1", "1.0", "1.7"}) {
    def.set_definition_version(version);
    EXPECT_EQ(Validate(def), "OK") << version;
  }
  def.set_definition_version("2");
  EXPECT_TRUE(
      absl::StartsWith(Validate(def), "services[0].definition_version: \"2\" is not supported"))
      << Validate(def);
  def.set_definition_version("1.");
  EXPECT_TRUE(absl::StartsWith(Validate(def),
                               "services[0].definition_version: \"1.\" is not a definition "
                               "version"))
      << Validate(def);
}

// ---------------------------------------------------------------------------------------------
// RenderEndpoints and GenerateValue

TEST(RenderEndpoints, RendersEachEndpointForTheTenantByName) {
  const std::map<std::string, std::string> endpoints = RenderEndpoints(ValidDefinition(), "f1");
  EXPECT_EQ(endpoints,
            (std::map<std::string, std::string>{{"grpc", "orders.f1.svc.cluster.local:9090"},
                                                {"http", "orders-f1.internal:8080"}}));
}

TEST(RenderEndpoints, DoubledBracesAreLiteral) {
  v1::ServiceDefinition def;
  def.set_name("orders");
  v1::Endpoint* e = def.add_endpoints();
  e->set_name("web");
  e->set_port(443);
  e->set_address_template("{{{tenant}}}.{service}:{port}");
  EXPECT_EQ(RenderEndpoints(def, "integration"),
            (std::map<std::string, std::string>{{"web", "{integration}.orders:443"}}));
}

v1::GeneratedKey Generated(v1::GeneratedKeyKind kind, int32_t length = 0) {
  v1::GeneratedKey key;
  key.set_key("secret");
  key.set_kind(kind);
  key.set_length(length);
  return key;
}

std::string Generate(const v1::GeneratedKey& key) {
  absl::StatusOr<std::string> value = GenerateValue(key);
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() ? *value : "";
}

TEST(GenerateValue, SecretsAreLettersAndDigitsOfTheRequestedLengthUsingAllOfThem) {
  EXPECT_EQ(Generate(Generated(v1::GENERATED_KEY_KIND_SECRET)).size(), 32u) << "0 means 32";
  EXPECT_EQ(Generate(Generated(v1::GENERATED_KEY_KIND_SECRET, 16)).size(), 16u);
  std::set<char> seen;
  for (int i = 0; i < 20; ++i) {
    const std::string value = Generate(Generated(v1::GENERATED_KEY_KIND_SECRET, 256));
    ASSERT_EQ(value.size(), 256u);
    for (char c : value) {
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << value;
      seen.insert(c);
    }
  }
  // 5120 characters: each of the 62 is missing with a probability below 1e-36.
  EXPECT_EQ(seen.size(), 62u) << "the whole alphabet [A-Za-z0-9] is used";
  EXPECT_NE(Generate(Generated(v1::GENERATED_KEY_KIND_SECRET)),
            Generate(Generated(v1::GENERATED_KEY_KIND_SECRET)));
}

TEST(GenerateValue, TokensAreLowercaseHexOfTheRequestedLength) {
  EXPECT_EQ(Generate(Generated(v1::GENERATED_KEY_KIND_TOKEN)).size(), 32u);
  std::set<char> seen;
  for (int i = 0; i < 10; ++i) {
    const std::string value = Generate(Generated(v1::GENERATED_KEY_KIND_TOKEN, 64));
    ASSERT_EQ(value.size(), 64u);
    for (char c : value) {
      ASSERT_TRUE(std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f')) << value;
      seen.insert(c);
    }
  }
  EXPECT_EQ(seen.size(), 16u);
}

TEST(GenerateValue, UuidsAreRandomVersion4) {
  const std::string a = Generate(Generated(v1::GENERATED_KEY_KIND_UUID));
  ASSERT_EQ(a.size(), 36u) << a;
  for (size_t i = 0; i < a.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      EXPECT_EQ(a[i], '-') << a;
    } else {
      EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(a[i])) || (a[i] >= 'a' && a[i] <= 'f'))
          << a;
    }
  }
  EXPECT_EQ(a[14], '4') << "version 4: " << a;
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos) << "RFC 4122 variant: " << a;
  EXPECT_NE(a, Generate(Generated(v1::GENERATED_KEY_KIND_UUID)));
}

// ---------------------------------------------------------------------------------------------
// Routing and compatibility, over states built by applying change sets.

v1::ServiceDefinition Service(const std::string& name, const std::string& version,
                              const std::vector<std::pair<std::string, std::string>>& deps = {}) {
  v1::ServiceDefinition def;
  def.set_name(name);
  def.set_version(version);
  v1::Endpoint* e = def.add_endpoints();
  e->set_name("grpc");
  e->set_port(9090);
  for (const auto& [service, range] : deps) {
    v1::Dependency* d = def.add_dependencies();
    d->set_service(service);
    d->set_range(range);
  }
  return def;
}

std::vector<storage::ServiceRecord> Records(const std::vector<v1::ServiceDefinition>& defs) {
  std::vector<storage::ServiceRecord> records;
  for (const v1::ServiceDefinition& def : defs) {
    storage::ServiceRecord& record = records.emplace_back();
    record.set_name(def.name());
    *record.mutable_definition() = ToRecord(def);
  }
  return records;
}

class RegistryTest : public ::testing::Test {
 protected:
  // Creates `tenant` under `parent` (or replaces its registration) with `services`.
  void Register(const std::string& tenant, const std::string& parent,
                const std::vector<v1::ServiceDefinition>& services) {
    ChangeSet set;
    set.set_revision(state_.revision() + 1);
    Change* c = set.add_changes();
    c->set_type(Change::TENANT_PUT);
    c->set_tenant(tenant);
    storage::TenantRecord* record = c->mutable_tenant_record();
    record->set_name(tenant);
    record->set_parent(parent);
    for (storage::ServiceRecord& s : Records(services)) *record->add_services() = std::move(s);
    state_.Apply(set);
  }

  std::vector<std::string> ChainOf(const std::string& tenant) const {
    absl::StatusOr<std::vector<std::string>> chain = state_.Chain("tenant", tenant);
    EXPECT_TRUE(chain.ok()) << chain.status();
    return chain.ok() ? *chain : std::vector<std::string>{};
  }

  // "tenant" of the registration `tenant`'s view routes `service` to, "" if none.
  std::string RoutedTo(const std::string& tenant, const std::string& service) const {
    const RegistryView view(state_, ChainOf(tenant));
    const RegistryView::Registration* reg = view.Find(service);
    if (reg == nullptr) return "";
    EXPECT_EQ(reg->definition->name(), service);
    return reg->tenant;
  }

  // CheckCompatibility as Register runs it: `tenant` (under its current parent) registers
  // `services`, which `changed` names; the tenant's view and its descendants'.
  CompatibilityReport CheckRegistration(const std::string& tenant,
                                        const std::vector<v1::ServiceDefinition>& services,
                                        const std::set<std::string>& changed,
                                        bool every_pair = false) const {
    const std::vector<v1::ServiceDefinition>& after = services;
    std::vector<std::unique_ptr<RegistryView>> views =
        ViewsAfterChange(state_, ChainOf(tenant), after, /*descendants=*/true);
    std::vector<const RegistryView*> pointers;
    for (const auto& v : views) pointers.push_back(v.get());
    return CheckCompatibility(pointers, tenant, changed, every_pair);
  }

  ConfigState state_;
};

Strings Sorted(const std::set<std::string>& s) { return {s.begin(), s.end()}; }

TEST_F(RegistryTest, TheNearestTenantOfTheChainThatRegisteredADependencyWins) {
  Register("integration", "", {Service("payments", "1.0.0"), Service("inventory", "1.0.0")});
  Register("f1", "integration", {Service("payments", "2.0.0")});
  Register("f1-sub", "f1", {});
  EXPECT_EQ(RoutedTo("f1", "payments"), "f1") << "the branch's own over integration's";
  EXPECT_EQ(RoutedTo("f1", "inventory"), "integration");
  EXPECT_EQ(RoutedTo("f1-sub", "payments"), "f1") << "nearest of [f1-sub, f1, integration]";
  EXPECT_EQ(RoutedTo("integration", "payments"), "integration");
  EXPECT_EQ(RoutedTo("f1", "shipping"), "");

  const RegistryView view(state_, ChainOf("f1-sub"));
  EXPECT_EQ(view.tenant(), "f1-sub");
  EXPECT_EQ(view.registrations().size(), 2u);
  EXPECT_EQ(view.Find("payments")->definition->version(), "2.0.0");
}

TEST_F(RegistryTest, AViewAfterAPlannedChangeUsesTheNewRegistrationsOfThatTenant) {
  Register("integration", "", {Service("payments", "1.0.0")});
  Register("f1", "integration", {Service("payments", "2.0.0")});
  Register("f1-sub", "f1", {});
  const std::vector<v1::ServiceDefinition> none;
  const RegistryView without(state_, ChainOf("f1-sub"), "f1", &none);
  EXPECT_EQ(without.Find("payments")->tenant, "integration");

  const std::vector<v1::ServiceDefinition> after = {Service("payments", "2.1.0")};
  std::vector<std::unique_ptr<RegistryView>> views =
      ViewsAfterChange(state_, ChainOf("f1"), after, /*descendants=*/true);
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0]->tenant(), "f1") << "the changing tenant's own view first";
  EXPECT_EQ(views[1]->chain(), (Strings{"f1-sub", "f1", "integration"}));
  EXPECT_EQ(views[1]->Find("payments")->definition->version(), "2.1.0");
  EXPECT_EQ(ViewsAfterChange(state_, ChainOf("f1"), after, /*descendants=*/false).size(), 1u);
}

TEST_F(RegistryTest, DependencyMapRoutesEachDependencyWithItsEndpointsAndProblems) {
  Register("integration", "",
           {Service("payments", "1.0.0"), Service("inventory", ""), Service("ledger", "3.0.0")});
  Register("f1", "integration", {Service("payments", "1.3.0")});
  const v1::ServiceDefinition orders =
      Service("orders", "1.0.0",
              {{"payments", "^1.2"}, {"inventory", ""}, {"shipping", "^1"}, {"ledger", "^2"}});
  const RegistryView view(state_, ChainOf("f1"));
  const v1::DependencyMap map = BuildDependencyMap(view, orders);
  EXPECT_EQ(map.service(), "orders");
  EXPECT_EQ(map.tenant(), "f1");
  ASSERT_EQ(map.dependencies_size(), 4) << "in definition order";

  const v1::DependencyRoute& payments = map.dependencies(0);
  EXPECT_EQ(payments.service(), "payments");
  EXPECT_EQ(payments.range(), "^1.2");
  EXPECT_EQ(payments.source_tenant(), "f1");
  EXPECT_EQ(payments.version(), "1.3.0");
  EXPECT_TRUE(payments.compatible());
  EXPECT_EQ(payments.problem(), "");
  EXPECT_EQ(payments.endpoints().at("grpc"), "payments.f1.svc.cluster.local:9090")
      << "rendered for the tenant that registered it";

  const v1::DependencyRoute& inventory = map.dependencies(1);
  EXPECT_EQ(inventory.source_tenant(), "integration");
  EXPECT_TRUE(inventory.compatible()) << "no range: any version, even none";
  EXPECT_EQ(inventory.endpoints().at("grpc"), "inventory.integration.svc.cluster.local:9090");

  const v1::DependencyRoute& shipping = map.dependencies(2);
  EXPECT_EQ(shipping.source_tenant(), "");
  EXPECT_FALSE(shipping.compatible());
  EXPECT_TRUE(shipping.endpoints().empty());
  EXPECT_EQ(shipping.problem(),
            "orders@1.0.0 requires shipping ^1; no tenant of f1's chain [f1, integration] "
            "registered shipping");

  const v1::DependencyRoute& ledger = map.dependencies(3);
  EXPECT_EQ(ledger.source_tenant(), "integration");
  EXPECT_EQ(ledger.version(), "3.0.0");
  EXPECT_FALSE(ledger.compatible());
  EXPECT_EQ(ledger.problem(),
            "orders@1.0.0 requires ledger ^2; in f1 it would route to ledger@3.0.0 of "
            "integration");
}

TEST_F(RegistryTest, ANewRegistrationConflictsWithWhatItNeeds) {
  Register("integration", "", {Service("payments", "1.4.0")});
  Register("f1", "integration", {});
  const std::vector<v1::ServiceDefinition> services = {
      Service("orders", "1.0.0", {{"payments", "^2"}})};
  const CompatibilityReport report = CheckRegistration("f1", services, {"orders"});
  const std::string conflict =
      "orders@1.0.0 requires payments ^2; in f1 it would route to payments@1.4.0 of integration";
  EXPECT_EQ(Sorted(report.conflicts), Strings{conflict});
  EXPECT_TRUE(report.warnings.empty());
  EXPECT_EQ(Sorted(report.by_service.at("orders")), Strings{conflict});

  EXPECT_TRUE(
      CheckRegistration("f1", {Service("orders", "1.0.0", {{"payments", "^1.2"}})}, {"orders"})
          .conflicts.empty())
      << "1.4.0 is in ^1.2";
}

TEST_F(RegistryTest, ANewRegistrationConflictsWithWhoInTheViewNeedsIt) {
  Register("integration", "",
           {Service("payments", "1.4.0"), Service("orders", "1.0.0", {{"payments", "^1"}})});
  Register("f1", "integration", {});
  Register("f1-sub", "f1", {});
  // f1's payments 2.0.0 would serve integration's orders in f1 and f1-sub: one pair.
  const CompatibilityReport report =
      CheckRegistration("f1", {Service("payments", "2.0.0")}, {"payments"});
  const std::string conflict =
      "orders@1.0.0 requires payments ^1; in f1 it would route to payments@2.0.0";
  EXPECT_EQ(Sorted(report.conflicts), Strings{conflict});
  EXPECT_EQ(Sorted(report.by_service.at("payments")), Strings{conflict});
  EXPECT_EQ(report.by_service.count("orders"), 0u) << "orders did not change";

  EXPECT_TRUE(
      CheckRegistration("f1", {Service("payments", "1.9.0")}, {"payments"}).conflicts.empty());
}

TEST_F(RegistryTest, OnlyPairsTheChangeTakesPartInAreCheckedUnlessEveryPairIsAsked) {
  // Integration's pair is already broken; f1 registering an unrelated service is not blamed.
  Register("integration", "",
           {Service("payments", "3.0.0"), Service("orders", "1.0.0", {{"payments", "^1"}})});
  Register("f1", "integration", {});
  EXPECT_TRUE(CheckRegistration("f1", {Service("audit", "1.0.0")}, {"audit"}).conflicts.empty());
  // A tenant moved to another parent re-checks every pair of its views.
  EXPECT_EQ(Sorted(CheckRegistration("f1", {}, {}, /*every_pair=*/true).conflicts),
            Strings{"orders@1.0.0 requires payments ^1; in f1 it would route to payments@3.0.0 "
                    "of integration"});
}

TEST_F(RegistryTest, UncheckableDependenciesWarnOnceInTheRegisteringTenantsView) {
  Register("integration", "", {Service("payments", "")});
  Register("f1", "integration", {});
  // In f1-sub's view orders would route to f1-sub's own payments, unversioned too: not
  // repeated there.
  Register("f1-sub", "f1", {Service("payments", "")});
  const CompatibilityReport report = CheckRegistration(
      "f1", {Service("orders", "1.0.0", {{"payments", "^1"}, {"shipping", ""}})}, {"orders"});
  EXPECT_TRUE(report.conflicts.empty());
  EXPECT_EQ(Sorted(report.warnings),
            (Strings{"orders@1.0.0 requires payments ^1; in f1 it routes to payments of "
                     "integration, which is unversioned: not checked",
                     "orders@1.0.0 requires shipping; no tenant of f1's chain [f1, integration] "
                     "registered shipping"}));
}

TEST_F(RegistryTest, RemovingARegistrationReportsDependentsThatNowRouteUpTheChainOrNowhere) {
  Register("integration", "", {Service("payments", "1.4.0")});
  Register("f1", "integration",
           {Service("payments", "2.0.0"), Service("orders", "1.0.0", {{"payments", "^2"}}),
            Service("shipping", "1.0.0"), Service("tracking", "1.0.0", {{"shipping", "^1"}})});
  // f1-sub routes payments to its own 3.0.0: already incompatible, not by the removal.
  Register("f1-sub", "f1", {Service("payments", "3.0.0")});

  // As Deregister does: f1 without payments and shipping; f1's view and its descendants'.
  const std::vector<std::string> chain = ChainOf("f1");
  const std::vector<v1::ServiceDefinition> remaining = {
      Service("orders", "1.0.0", {{"payments", "^2"}}),
      Service("tracking", "1.0.0", {{"shipping", "^1"}})};
  std::vector<std::unique_ptr<RegistryView>> views =
      ViewsAfterChange(state_, chain, remaining, /*descendants=*/true);
  std::vector<const RegistryView*> pointers;
  for (const auto& v : views) pointers.push_back(v.get());
  const CompatibilityReport report = CheckDependentsOf(pointers, {"payments", "shipping"}, chain);
  EXPECT_EQ(Sorted(report.conflicts),
            Strings{"orders@1.0.0 requires payments ^2; in f1 it would route to payments@1.4.0 "
                    "of integration"});
  EXPECT_EQ(Sorted(report.warnings),
            (Strings{"tracking@1.0.0 requires shipping ^1; no tenant of f1's chain [f1, "
                     "integration] registered shipping",
                     "tracking@1.0.0 requires shipping ^1; no tenant of f1-sub's chain [f1-sub, "
                     "f1, integration] registered shipping"}));

  // Removing something nobody depends on reports nothing.
  const CompatibilityReport unrelated = CheckDependentsOf(pointers, {"audit"}, chain);
  EXPECT_TRUE(unrelated.conflicts.empty());
  EXPECT_TRUE(unrelated.warnings.empty());
}

}  // namespace
}  // namespace confcenter
