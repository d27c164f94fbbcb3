// The service registry end to end against the real confcenterd: the seed's topology
// (integration a, b, c, d; a branch overriding a), the compatibility gate, routing, generated
// entries, deregistration fallback and TTL reclamation driven by the server's test clock.
#include <fstream>
#include <regex>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using confcenter::testing::ApiClient;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;
using confcenter::testing::TestSubscriber;

constexpr int64_t kStartMicros = 1'700'000'000'000'000;

v1::ServiceDefinition Def(const std::string& text) {
  v1::ServiceDefinition def;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &def)) << text;
  return def;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_file_ = dir_.path() + "/clock";
    SetClock(kStartMicros);
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{"--testing_clock_file=" + clock_file_, "--reclaim_interval=20ms"});
    ASSERT_NE(server_->port(), 0);
    channel_ = server_->Channel();
    api_ = std::make_unique<ApiClient>(channel_);
  }

  void SetClock(int64_t micros) { testing::SetClockFile(clock_file_, micros); }

  grpc::Status Register(const std::string& tenant, std::vector<v1::ServiceDefinition> defs,
                        v1::RegisterResponse* resp, bool force = false, int64_t ttl_seconds = 0,
                        bool keep = false) {
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    for (auto& d : defs) *req.add_services() = std::move(d);
    req.set_force(force);
    if (ttl_seconds > 0) req.mutable_ttl()->set_seconds(ttl_seconds);
    req.set_keep(keep);
    grpc::ClientContext ctx;
    return api_->tenants()->Register(&ctx, req, resp);
  }

  v1::Tenant GetTenant(const std::string& tenant, grpc::Status* status = nullptr) {
    v1::GetTenantRequest req;
    req.set_tenant(tenant);
    v1::GetTenantResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = api_->tenants()->GetTenant(&ctx, req, &resp);
    if (status != nullptr) *status = st;
    return resp.tenant();
  }

  // dependency -> "version@source_tenant endpoint" for `service` seen from `tenant`.
  std::map<std::string, std::string> Routes(const std::string& tenant, const std::string& service,
                                            grpc::Status* status = nullptr) {
    v1::ResolveDependenciesRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    v1::ResolveDependenciesResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = api_->tenants()->ResolveDependencies(&ctx, req, &resp);
    if (status != nullptr) *status = st;
    std::map<std::string, std::string> routes;
    for (const v1::DependencyRoute& r : resp.map().dependencies()) {
      std::string endpoint = r.endpoints().count("grpc") ? r.endpoints().at("grpc") : "";
      routes[r.service()] = r.version() + "@" + r.source_tenant() + " " + endpoint +
                            (r.compatible() ? "" : " INCOMPATIBLE");
    }
    return routes;
  }

  // The seed's integration: a, b (needs a ^1.2, c ^1, d ~1.0), c, d.
  void RegisterIntegration() {
    v1::RegisterResponse resp;
    grpc::Status st = Register("integration",
                               {Def(R"pb(name: "a"
                                         version: "1.5.0"
                                         protocol: PROTOCOL_GRPC
                                         endpoints { name: "grpc" port: 9090 })pb"),
                                Def(R"pb(name: "b"
                                         version: "1.4.0"
                                         protocol: PROTOCOL_GRPC
                                         endpoints { name: "grpc" port: 9090 }
                                         dependencies { service: "a" range: "^1.2" }
                                         dependencies { service: "c" range: "^1" }
                                         dependencies { service: "d" range: "~1.0" })pb"),
                                Def(R"pb(name: "c"
                                         version: "1.0.0"
                                         endpoints { name: "grpc" port: 9090 })pb"),
                                Def(R"pb(name: "d"
                                         version: "1.0.3"
                                         endpoints { name: "grpc" port: 9090 })pb")},
                               &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.dependency_maps_size(), 4);
    EXPECT_TRUE(resp.warnings().empty());
  }

  TempDir dir_;
  std::string clock_file_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(RegistryTest, SeedTopologyGateRoutingFallbackAndTtl) {
  RegisterIntegration();
  EXPECT_EQ(Routes("integration", "b"),
            (std::map<std::string, std::string>{
                {"a", "1.5.0@integration a.integration.svc.cluster.local:9090"},
                {"c", "1.0.0@integration c.integration.svc.cluster.local:9090"},
                {"d", "1.0.3@integration d.integration.svc.cluster.local:9090"}}));

  // The branch exists (with a TTL, kept when empty) before a subscriber of a joins it.
  v1::RegisterResponse resp;
  ASSERT_TRUE(Register("f1", {}, &resp, false, 3600, true).ok());
  TestSubscriber sub(channel_, "f1", {"a"}, std::nullopt);
  ASSERT_TRUE(sub.WaitForRevision(resp.revision()));
  EXPECT_EQ(sub.view().at({"a", "_endpoint.grpc"}),
            "a.integration.svc.cluster.local:9090@integration");

  // f1 registers a@2.0.0 while integration's b needs a ^1.2: rejected, nothing changes.
  const v1::ServiceDefinition a2 = Def(R"pb(name: "a"
                                            version: "2.0.0"
                                            endpoints { name: "grpc" port: 9090 })pb");
  grpc::Status st = Register("f1", {a2}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message(),
            "services: 1 version conflict (set force to register anyway and record it as "
            "warnings): b@1.4.0 requires a ^1.2; in f1 it would route to a@2.0.0");
  EXPECT_EQ(GetTenant("f1").services_size(), 0);

  // With force: accepted, the conflict recorded as a warning on the tenant.
  ASSERT_TRUE(Register("f1", {a2}, &resp, /*force=*/true).ok());
  const std::string conflict = "b@1.4.0 requires a ^1.2; in f1 it would route to a@2.0.0";
  EXPECT_EQ(std::vector<std::string>(resp.warnings().begin(), resp.warnings().end()),
            std::vector<std::string>{conflict});
  v1::Tenant f1 = GetTenant("f1");
  ASSERT_EQ(f1.services_size(), 1);
  EXPECT_EQ(f1.services(0).definition().version(), "2.0.0");
  EXPECT_EQ(f1.services(0).endpoints().at("grpc"), "a.f1.svc.cluster.local:9090");
  EXPECT_EQ(f1.services(0).revision(), resp.revision());
  EXPECT_EQ(f1.services(0).register_time().seconds(), kStartMicros / 1'000'000);
  EXPECT_EQ(
      std::vector<std::string>(f1.services(0).warnings().begin(), f1.services(0).warnings().end()),
      std::vector<std::string>{conflict});

  // Routing from f1: b (integration's registration) calls f1's a, integration's c and d; the
  // subscriber of a sees the endpoint change as an ordinary event.
  EXPECT_EQ(Routes("f1", "b"),
            (std::map<std::string, std::string>{
                {"a", "2.0.0@f1 a.f1.svc.cluster.local:9090 INCOMPATIBLE"},
                {"c", "1.0.0@integration c.integration.svc.cluster.local:9090"},
                {"d", "1.0.3@integration d.integration.svc.cluster.local:9090"}}));
  ASSERT_TRUE(sub.WaitForRevision(resp.revision()));
  EXPECT_EQ(sub.view().at({"a", "_endpoint.grpc"}), "a.f1.svc.cluster.local:9090@f1");
  EXPECT_EQ(api_->Resolve("f1", {"a"}).at({"a", "_endpoint.grpc"}),
            "a.f1.svc.cluster.local:9090@f1");

  // A compatible version clears the warning.
  ASSERT_TRUE(Register("f1", {Def(R"pb(name: "a"
                                       version: "1.6.0"
                                       endpoints { name: "grpc" port: 9090 })pb")},
                       &resp)
                  .ok());
  EXPECT_TRUE(resp.warnings().empty());
  EXPECT_TRUE(GetTenant("f1").services(0).warnings().empty());
  EXPECT_EQ(Routes("f1", "b").at("a"), "1.6.0@f1 a.f1.svc.cluster.local:9090");

  // Deregister: routing and the subscriber fall back to integration's a; f1 stays (keep).
  ASSERT_TRUE(api_->Deregister("f1", {"a"}).ok());
  EXPECT_EQ(Routes("f1", "b").at("a"), "1.5.0@integration a.integration.svc.cluster.local:9090");
  const int64_t after_deregister = api_->Resolve("f1", {"a"}).size();
  EXPECT_EQ(after_deregister, 1);
  int64_t revision = 0;
  api_->Resolve("f1", {"a"}, &revision);
  ASSERT_TRUE(sub.WaitForRevision(revision));
  EXPECT_EQ(sub.view().at({"a", "_endpoint.grpc"}),
            "a.integration.svc.cluster.local:9090@integration");

  // TTL: an hour from the last renewal; Touch renews; past it the server reclaims the tenant.
  f1 = GetTenant("f1");
  EXPECT_EQ(f1.ttl().seconds(), 3600);
  EXPECT_TRUE(f1.keep());
  SetClock(kStartMicros + 1800'000'000LL);
  v1::TouchRequest touch;
  touch.set_tenant("f1");
  v1::TouchResponse touched;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(api_->tenants()->Touch(&ctx, touch, &touched).ok());
  }
  EXPECT_EQ(touched.expire_time().seconds(), kStartMicros / 1'000'000 + 1800 + 3600);
  SetClock(kStartMicros + 5399'000'000LL);  // a second before expiry: still there
  {
    grpc::ClientContext ctx;  // a round trip through the committer after the reclaimer ran
    ASSERT_TRUE(api_->tenants()->Touch(&ctx, touch, &touched).ok());
  }
  EXPECT_EQ(touched.expire_time().seconds(), kStartMicros / 1'000'000 + 5399 + 3600);
  // A key only f1 holds: when the reclaimer (every 20 ms) removes f1, its subscriber falls
  // back to integration's view, where the key does not exist. That event is the signal.
  int64_t marked = 0;
  ASSERT_TRUE(api_->Put("f1", "a", "marker", "x", &marked).ok());
  ASSERT_TRUE(sub.WaitForRevision(marked));
  SetClock(kStartMicros + (5399 + 3600) * 1'000'000LL);
  for (int i = 0; i < 10; ++i) {
    const size_t received = sub.messages().size();  // before looking, so no event slips by
    if (sub.view().count({"a", "marker"}) == 0) break;
    ASSERT_TRUE(sub.WaitForMessages(received + 1)) << "f1 was not reclaimed";
  }
  grpc::Status gone;
  GetTenant("f1", &gone);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetTenant("integration").services_size(), 4);
}

TEST_F(RegistryTest, ConflictsInDescendantViewsAndMissingDependencies) {
  RegisterIntegration();
  v1::RegisterResponse resp;
  // f2 under f1 runs its own b needing a ^1; f1 then registers a@2.0.0: both integration's b
  // (in f1's view) and f2's b (in f2's view) would route to it.
  ASSERT_TRUE(Register("f1", {}, &resp, false, 0, true).ok());
  v1::RegisterRequest child;
  child.set_tenant("f2");
  child.set_parent("f1");
  *child.add_services() = Def(R"pb(name: "b"
                                   version: "1.5.0"
                                   dependencies { service: "a" range: "^1" })pb");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(api_->tenants()->Register(&ctx, child, &resp).ok());
  }
  grpc::Status st = Register("f1", {Def(R"pb(name: "a" version: "2.0.0")pb")}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("2 version conflicts"), std::string::npos)
      << st.error_message();
  EXPECT_NE(st.error_message().find("b@1.4.0 requires a ^1.2; in f1 it would route to a@2.0.0"),
            std::string::npos)
      << st.error_message();
  EXPECT_NE(st.error_message().find("b@1.5.0 requires a ^1; in f2 it would route to "
                                    "a@2.0.0 of f1"),
            std::string::npos)
      << st.error_message();

  // What the new service needs: a version out of range is a conflict, an unregistered
  // dependency and an unversioned one are warnings.
  st = Register("f1", {Def(R"pb(name: "e"
                                version: "1.0.0"
                                dependencies { service: "c" range: ">=2.0 <3" })pb")},
                &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find(
                "e@1.0.0 requires c >=2.0 <3; in f1 it would route to c@1.0.0 of integration"),
            std::string::npos)
      << st.error_message();
  ASSERT_TRUE(Register("f1",
                       {Def(R"pb(name: "e"
                                 version: "1.0.0"
                                 dependencies { service: "nosuch" range: "^1" }
                                 dependencies { service: "u" range: "^1" })pb"),
                        Def(R"pb(name: "u")pb")},
                       &resp)
                  .ok());
  EXPECT_EQ(std::vector<std::string>(resp.warnings().begin(), resp.warnings().end()),
            (std::vector<std::string>{
                "e@1.0.0 requires nosuch ^1; no tenant of f1's chain [f1, integration] "
                "registered nosuch",
                "e@1.0.0 requires u ^1; in f1 it routes to u, which is unversioned: not "
                "checked"}));
  ASSERT_EQ(resp.dependency_maps_size(), 2);
  EXPECT_EQ(resp.dependency_maps(0).dependencies(0).source_tenant(), "");
  EXPECT_FALSE(resp.dependency_maps(0).dependencies(0).compatible());
}

TEST_F(RegistryTest, DeregisterWarnsAboutDependentsItLeavesOutOfRange) {
  RegisterIntegration();
  v1::RegisterResponse resp;
  ASSERT_TRUE(Register("f1", {Def(R"pb(name: "a" version: "2.0.0")pb"), Def(R"pb(name: "b"
                                                                                 version: "2.0.0"
                                                                                 dependencies {
                                                                                   service: "a"
                                                                                   range: "^2"
                                                                                 })pb")},
                       &resp)
                  .ok());
  v1::DeregisterRequest req;
  req.set_tenant("f1");
  req.add_services("a");
  v1::DeregisterResponse dereg;
  grpc::ClientContext ctx;
  ASSERT_TRUE(api_->tenants()->Deregister(&ctx, req, &dereg).ok());
  EXPECT_FALSE(dereg.tenant_removed());
  EXPECT_EQ(std::vector<std::string>(dereg.warnings().begin(), dereg.warnings().end()),
            std::vector<std::string>{
                "b@2.0.0 requires a ^2; in f1 it would route to a@1.5.0 of integration"});
  EXPECT_EQ(Routes("f1", "b").at("a"),
            "1.5.0@integration a.integration.svc.cluster.local:9090 INCOMPATIBLE");
}

TEST_F(RegistryTest, MapsOfOneRequestAndKeysMovingBetweenDefaultsAndGenerated) {
  v1::RegisterResponse resp;
  // b's dependency a is registered in the same request: its map routes to it.
  ASSERT_TRUE(Register("f1",
                       {Def(R"pb(name: "a"
                                 version: "1.0.0"
                                 endpoints { name: "grpc" port: 1 }
                                 defaults { key: "db.password" value: "dev" })pb"),
                        Def(R"pb(name: "b"
                                 dependencies { service: "a" range: "^1.0" })pb")},
                       &resp)
                  .ok());
  ASSERT_EQ(resp.dependency_maps_size(), 2);
  const v1::DependencyRoute& route = resp.dependency_maps(1).dependencies(0);
  EXPECT_EQ(route.source_tenant(), "f1");
  EXPECT_EQ(route.version(), "1.0.0");
  EXPECT_TRUE(route.compatible()) << route.problem();
  EXPECT_EQ(route.endpoints().at("grpc"), "a.f1.svc.cluster.local:1");

  // A default that becomes a generated key is generated; a generated key that becomes a
  // default takes the default.
  ASSERT_TRUE(
      Register("f1",
               {Def(R"pb(name: "a"
                         version: "1.0.0"
                         endpoints { name: "grpc" port: 1 }
                         generated_keys { key: "db.password" kind: GENERATED_KEY_KIND_TOKEN }
                         generated_keys { key: "api.key" kind: GENERATED_KEY_KIND_TOKEN })pb")},
               &resp)
          .ok());
  auto view = api_->Resolve("f1", {"a"});
  EXPECT_TRUE(std::regex_match(view.at({"a", "db.password"}), std::regex("[0-9a-f]{32}@f1")))
      << view.at({"a", "db.password"});
  ASSERT_TRUE(Register("f1", {Def(R"pb(name: "a"
                                       version: "1.0.0"
                                       endpoints { name: "grpc" port: 1 }
                                       defaults { key: "api.key" value: "fixed" })pb")},
                       &resp)
                  .ok());
  view = api_->Resolve("f1", {"a"});
  EXPECT_EQ(view.at({"a", "api.key"}), "fixed@f1");
}

TEST_F(RegistryTest, MovingATenantUnderAnotherParentRunsTheGate) {
  RegisterIntegration();
  v1::RegisterResponse resp;
  ASSERT_TRUE(Register("f0", {Def(R"pb(name: "a" version: "2.0.0")pb")}, &resp, true).ok());
  ASSERT_TRUE(Register("f1", {Def(R"pb(name: "e"
                                       version: "1.0.0"
                                       dependencies { service: "a" range: "^1" })pb")},
                       &resp)
                  .ok());
  v1::RegisterRequest move;
  move.set_tenant("f1");
  move.set_parent("f0");
  grpc::ClientContext ctx;
  grpc::Status st = api_->tenants()->Register(&ctx, move, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("parent: "), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("e@1.0.0 requires a ^1; in f1 it would route to a@2.0.0 "
                                    "of f0"),
            std::string::npos)
      << st.error_message();
  EXPECT_EQ(GetTenant("f1").parent(), "integration");
}

TEST_F(RegistryTest, GeneratedSecretsDefaultsAndEndpointsFollowTheRules) {
  v1::RegisterResponse resp;
  const std::string s_integration = R"pb(
    name: "s"
    version: "1.0.0"
    protocol: PROTOCOL_HTTP
    endpoints { name: "http" port: 8080 }
    endpoints { name: "admin" port: 9000 address_template: "{service}-admin.{tenant}:{port}" }
    defaults { key: "pool.size" value: "10" }
    defaults { key: "log.level" value: "info" }
    generated_keys { key: "db.password" kind: GENERATED_KEY_KIND_SECRET length: 24 }
    generated_keys { key: "api.id" kind: GENERATED_KEY_KIND_UUID }
    health { endpoint: "http" path: "/healthz" })pb";
  ASSERT_TRUE(Register("integration", {Def(s_integration)}, &resp).ok());
  auto view = api_->Resolve("integration", {"s"});
  EXPECT_EQ(view.at({"s", "pool.size"}), "10@integration");
  EXPECT_EQ(view.at({"s", "log.level"}), "info@integration");
  EXPECT_EQ(view.at({"s", "_endpoint.admin"}), "s-admin.integration:9000@integration");
  const std::string integration_password = view.at({"s", "db.password"});
  EXPECT_TRUE(std::regex_match(integration_password, std::regex("[A-Za-z0-9]{24}@integration")))
      << integration_password;
  EXPECT_TRUE(std::regex_match(
      view.at({"s", "api.id"}),
      std::regex(
          "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}@integration")))
      << view.at({"s", "api.id"});

  // The branch: only the default that differs is written; its own secrets; the admin
  // endpoint it does not define is masked, so its view routes to its own endpoints only.
  const std::string s_branch = R"pb(
    name: "s"
    version: "1.1.0"
    protocol: PROTOCOL_HTTP
    endpoints { name: "http" port: 8080 }
    defaults { key: "pool.size" value: "10" }
    defaults { key: "log.level" value: "debug" }
    generated_keys { key: "db.password" kind: GENERATED_KEY_KIND_SECRET length: 24 }
    generated_keys { key: "api.id" kind: GENERATED_KEY_KIND_UUID })pb";
  ASSERT_TRUE(Register("f1", {Def(s_branch)}, &resp, false, 0, /*keep=*/true).ok());
  const int64_t registered = resp.revision();
  view = api_->Resolve("f1", {"s"});
  EXPECT_EQ(view.at({"s", "pool.size"}), "10@integration");
  EXPECT_EQ(view.at({"s", "log.level"}), "debug@f1");
  EXPECT_EQ(view.at({"s", "_endpoint.http"}), "s.f1.svc.cluster.local:8080@f1");
  EXPECT_EQ(view.count({"s", "_endpoint.admin"}), 0u);
  const std::string branch_password = view.at({"s", "db.password"});
  EXPECT_NE(branch_password.substr(0, 24), integration_password.substr(0, 24));
  EXPECT_EQ(branch_password.substr(24), "@f1");

  // Registering the same definition again changes nothing and keeps the secrets.
  ASSERT_TRUE(Register("f1", {Def(s_branch)}, &resp).ok());
  EXPECT_EQ(resp.revision(), registered);
  EXPECT_EQ(api_->Resolve("f1", {"s"}).at({"s", "db.password"}), branch_password);

  // A value set by hand survives a re-registration with another default.
  ASSERT_TRUE(api_->Put("f1", "s", "log.level", "warn").ok());
  std::string changed = s_branch;
  changed.replace(changed.find("\"debug\""), 7, "\"trace\"");
  ASSERT_TRUE(Register("f1", {Def(changed)}, &resp).ok());
  view = api_->Resolve("f1", {"s"});
  EXPECT_EQ(view.at({"s", "log.level"}), "warn@f1");
  EXPECT_EQ(view.at({"s", "db.password"}), branch_password);

  // Deregistration takes the secrets (and every key of the service) away; a new registration
  // generates new ones.
  ASSERT_TRUE(api_->Deregister("f1", {"s"}).ok());
  view = api_->Resolve("f1", {"s"});
  EXPECT_EQ(view.at({"s", "db.password"}), integration_password);
  EXPECT_EQ(view.at({"s", "log.level"}), "info@integration");
  ASSERT_TRUE(Register("f1", {Def(s_branch)}, &resp).ok());
  const std::string fresh = api_->Resolve("f1", {"s"}).at({"s", "db.password"});
  EXPECT_NE(fresh, branch_password);
  EXPECT_EQ(fresh.substr(24), "@f1");
}

}  // namespace
}  // namespace confcenter
