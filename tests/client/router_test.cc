// Request-scoped routing in the client library (router.h, request_tenant.h) against the real
// confcenterd: each request tenant's view of the dependencies, fallbacks and their counters,
// the least-recently-used bound, and registry changes followed live. The whole path through
// three real services is tests/cd/routing_flow_test.sh.
#include "confcenter/router.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "confcenter/client.h"
#include "confcenter/request_tenant.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using testing::Eventually;
using testing::ServerProcess;
using testing::TempDir;

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data");
    ASSERT_NE(server_->port(), 0);
    ClientOptions options;
    options.address = server_->address();
    options.wait_for_ready = true;
    client_ = std::make_unique<Client>(options);
    // The seed's topology: integration runs a (calls b) and b; f1 deploys its own b; f2 and
    // f3 deploy only x.
    Register("integration", "b", 1001);
    Register("integration", "a", 1000, "b");
    Register("f1", "b", 2001);
    Register("f2", "x", 3000);
    Register("f3", "x", 4000);
  }

  void Register(const std::string& tenant, const std::string& service, int port,
                const std::string& dependency = "") {
    v1::RegisterRequest request;
    request.set_tenant(tenant);
    v1::ServiceDefinition* definition = request.add_services();
    definition->set_name(service);
    v1::Endpoint* endpoint = definition->add_endpoints();
    endpoint->set_name("grpc");
    endpoint->set_port(port);
    endpoint->set_address_template("127.0.0.1:{port}");
    if (!dependency.empty()) definition->add_dependencies()->set_service(dependency);
    absl::StatusOr<v1::RegisterResponse> done = client_->Register(request);
    ASSERT_TRUE(done.ok()) << done.status();
  }

  // A first-request wait generous enough for a loaded machine under a sanitizer: the tests
  // that expect the map wait for it; none wait for time to pass.
  static RouterOptions PatientOptions() {
    RouterOptions options;
    options.first_request_wait = absl::Seconds(10);
    return options;
  }

  std::unique_ptr<Router> StartRouter(RouterOptions options = PatientOptions()) {
    options.tenant = "integration";
    options.dependencies = {"b"};
    absl::StatusOr<std::unique_ptr<Router>> router = Router::Start(server_->Channel(), options);
    EXPECT_TRUE(router.ok()) << router.status();
    return router.ok() ? std::move(*router) : nullptr;
  }

  // "address from source_tenant in view_tenant", or "none".
  static std::string Describe(const std::optional<Route>& route) {
    if (!route.has_value()) return "none";
    return route->address + " from " + route->source_tenant + " in " + route->view_tenant;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(RouterTest, EachRequestIsRoutedInItsTenantsView) {
  std::unique_ptr<Router> router = StartRouter();
  EXPECT_EQ(Describe(router->EndpointFor("b", "")),
            "127.0.0.1:1001 from integration in integration");
  // f1 deploys b: its requests reach f1's b, although this instance runs in integration.
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1")), "127.0.0.1:2001 from f1 in f1");
  // f2 does not: same-tenant-first routing from f2 falls back to integration's b.
  EXPECT_EQ(Describe(router->EndpointFor("b", "f2")), "127.0.0.1:1001 from integration in f2");
  EXPECT_EQ(Describe(router->EndpointFor("b", "integration")),
            "127.0.0.1:1001 from integration in integration");
  // Not a dependency, or no such endpoint: no route.
  EXPECT_EQ(Describe(router->EndpointFor("x", "f2")), "none");
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1", "http")), "none");
  // The current request's tenant.
  {
    TenantScope scope("f1");
    EXPECT_EQ(Describe(router->EndpointFor("b")), "127.0.0.1:2001 from f1 in f1");
  }
  EXPECT_EQ(Describe(router->EndpointFor("b")), "127.0.0.1:1001 from integration in integration");
  RouterStats stats = router->stats();
  EXPECT_EQ(stats.tracked_tenants, 2);
  EXPECT_EQ(stats.lookups, 8);
  EXPECT_EQ(stats.invalid_tenant + stats.unknown_tenant + stats.not_loaded, 0);
}

TEST_F(RouterTest, InvalidOrUnknownTenantsAreRoutedByTheOwnTenantAndCounted) {
  std::unique_ptr<Router> router = StartRouter();
  for (const char* invalid : {"F1", "f1;drop", "-f1", ""}) {
    EXPECT_EQ(Describe(router->EndpointFor("b", invalid)),
              "127.0.0.1:1001 from integration in integration")
        << invalid;
  }
  EXPECT_EQ(Describe(router->EndpointFor("b", "f9")),
            "127.0.0.1:1001 from integration in integration");
  // Remembered as unknown: the next request does not ask the server again, and is counted.
  EXPECT_EQ(Describe(router->EndpointFor("b", "f9")),
            "127.0.0.1:1001 from integration in integration");
  RouterStats stats = router->stats();
  EXPECT_EQ(stats.invalid_tenant, 3);  // "" is the own tenant, not an invalid one
  EXPECT_EQ(stats.unknown_tenant, 2);
  EXPECT_EQ(stats.tracked_tenants, 0);
  // A known tenant still works after the unknown ones.
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1")), "127.0.0.1:2001 from f1 in f1");
}

TEST_F(RouterTest, TheLeastRecentlyUsedMapIsDroppedAtTheBound) {
  RouterOptions options = PatientOptions();
  options.max_tenants = 2;
  std::unique_ptr<Router> router = StartRouter(options);
  router->EndpointFor("b", "f1");
  router->EndpointFor("b", "f2");
  router->EndpointFor("b", "f1");  // f1 used after f2
  EXPECT_EQ(Describe(router->EndpointFor("b", "f3")), "127.0.0.1:1001 from integration in f3");
  EXPECT_EQ(router->stats().evictions, 1);
  EXPECT_EQ(router->stats().tracked_tenants, 2);
  // f2 went, f1 stayed: f1 needs no new map, f2 does (and f1 goes for it now).
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1")), "127.0.0.1:2001 from f1 in f1");
  EXPECT_EQ(router->stats().evictions, 1);
  EXPECT_EQ(Describe(router->EndpointFor("b", "f2")), "127.0.0.1:1001 from integration in f2");
  EXPECT_EQ(router->stats().evictions, 2);
  EXPECT_EQ(router->stats().tracked_tenants, 2);
}

TEST_F(RouterTest, RegistryChangesAreFollowedLive) {
  std::unique_ptr<Router> router = StartRouter();
  EXPECT_EQ(Describe(router->EndpointFor("b", "f2")), "127.0.0.1:1001 from integration in f2");
  // f2 deploys b later: its requests move to f2's b.
  Register("f2", "b", 3001);
  EXPECT_TRUE(Eventually(
      [&] { return Describe(router->EndpointFor("b", "f2")) == "127.0.0.1:3001 from f2 in f2"; }));
  // f1 is removed: its view falls back to its former parent's (integration's b).
  v1::DeregisterRequest deregister;
  deregister.set_tenant("f1");
  deregister.set_all(true);
  ASSERT_TRUE(router->EndpointFor("b", "f1").has_value());
  ASSERT_TRUE(client_->Deregister(deregister).ok());
  EXPECT_TRUE(Eventually([&] {
    return Describe(router->EndpointFor("b", "f1")) == "127.0.0.1:1001 from integration in f1";
  }));
}

TEST_F(RouterTest, WithoutAWaitTheFirstRequestIsRoutedByTheOwnTenantAndCounted) {
  RouterOptions options;
  options.first_request_wait = absl::ZeroDuration();
  std::unique_ptr<Router> router = StartRouter(options);
  ASSERT_TRUE(Eventually([&] { return router->EndpointFor("b", "").has_value(); }));
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1")),
            "127.0.0.1:1001 from integration in integration");
  EXPECT_EQ(router->stats().not_loaded, 1);
  // Fetched in the background: later requests are routed in f1's view.
  EXPECT_TRUE(Eventually(
      [&] { return Describe(router->EndpointFor("b", "f1")) == "127.0.0.1:2001 from f1 in f1"; }));
}

TEST_F(RouterTest, WithTheServerDownOnlyTheFirstRequestWaits) {
  ASSERT_EQ(server_->Stop(), 0);
  RouterOptions options;
  options.first_request_wait = absl::Seconds(2);
  std::unique_ptr<Router> router = StartRouter(options);
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1")), "none");  // no map at all yet
  const absl::Time start = absl::Now();
  EXPECT_EQ(Describe(router->EndpointFor("b", "f1")), "none");
  EXPECT_EQ(Describe(router->EndpointFor("b", "")), "none");
  // Neither the request tenant's nor the own tenant's map is waited for again.
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(router->stats().not_loaded, 2);
  // The server returns: the maps arrive and requests are routed again.
  ASSERT_TRUE(server_->Restart());
  EXPECT_TRUE(Eventually(
      [&] { return Describe(router->EndpointFor("b", "f1")) == "127.0.0.1:2001 from f1 in f1"; }));
}

TEST_F(RouterTest, ChannelsArePooledPerAddress) {
  std::unique_ptr<Router> router = StartRouter();
  std::shared_ptr<grpc::Channel> own = router->ChannelFor("b");
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(router->ChannelFor("b"), own);
  {
    TenantScope scope("f2");  // routed to the same address as the own tenant
    EXPECT_EQ(router->ChannelFor("b"), own);
  }
  TenantScope scope("f1");
  std::shared_ptr<grpc::Channel> f1 = router->ChannelFor("b");
  ASSERT_NE(f1, nullptr);
  EXPECT_NE(f1, own);
  EXPECT_EQ(router->ChannelFor("b"), f1);
  EXPECT_EQ(router->ChannelFor("x"), nullptr);
}

TEST_F(RouterTest, BadOptionsAreRefusedNamingTheField) {
  RouterOptions options;
  options.tenant = "integration";
  EXPECT_EQ(Router::Start(server_->Channel(), options).status().message(),
            "dependencies: at least one service is required");
  options.dependencies = {"b", "B!"};
  EXPECT_TRUE(absl::StartsWith(Router::Start(server_->Channel(), options).status().message(),
                               "dependencies[1]: "));
  options.dependencies = {"b"};
  options.max_tenants = 0;
  EXPECT_TRUE(absl::StartsWith(Router::Start(server_->Channel(), options).status().message(),
                               "max_tenants: "));
  options.max_tenants = 10;
  options.tenant = "";
  EXPECT_TRUE(
      absl::StartsWith(Router::Start(server_->Channel(), options).status().message(), "tenant: "));
}

TEST(TenantScopeTest, ScopesNestAndRefuseNamesThatAreNoTenant) {
  EXPECT_EQ(TenantScope::Current(), "");
  {
    TenantScope outer("f1");
    EXPECT_EQ(TenantScope::Current(), "f1");
    {
      TenantScope inner("Not A Tenant");
      EXPECT_EQ(TenantScope::Current(), "");
    }
    EXPECT_EQ(TenantScope::Current(), "f1");
    // A thread hop: captured here, restored there.
    std::string seen;
    std::thread([tenant = TenantScope::Current(), &seen] {
      EXPECT_EQ(TenantScope::Current(), "");
      TenantScope scope(tenant);
      seen = TenantScope::Current();
    }).join();
    EXPECT_EQ(seen, "f1");
  }
  EXPECT_EQ(TenantScope::Current(), "");
  EXPECT_EQ(TenantFromHttpHeader(" f1 "), "f1");
  EXPECT_EQ(TenantFromHttpHeader(std::nullopt), "");
  EXPECT_EQ(TenantFromHttpHeader("f1\r\nx: y"), "");
}

}  // namespace
}  // namespace confcenter
