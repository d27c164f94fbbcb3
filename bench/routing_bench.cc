// Request-scoped routing in the client library (client/include/confcenter/router.h): the cost
// of Router::EndpointFor per call on warm maps, and the library's memory per tracked tenant
// map, against a real confcenterd on loopback.
//
// The registry: integration registers the dependencies b, c and d; each of --tenants branch
// tenants deploys one of them (so its map mixes its own and integration's routes). A router
// of an integration instance follows every branch (max_tenants = --tenants); then
// EndpointFor is timed over all tenants round-robin, from one and from two threads.
//
//   build/confcenter_routing_bench --tenants=1000 --lookups=5000000
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_process.h"
#include "confcenter/client.h"
#include "confcenter/router.h"
#include "tests/test_util.h"

ABSL_FLAG(int, tenants, 1000, "Branch tenants, each followed by the router.");
ABSL_FLAG(int64_t, lookups, 5'000'000, "EndpointFor calls per timed run.");

namespace confcenter::bench {
namespace {

const std::vector<std::string> kDependencies = {"b", "c", "d"};

bool Register(Client& client, const std::string& tenant, const std::string& service, int port) {
  v1::RegisterRequest request;
  request.set_tenant(tenant);
  v1::ServiceDefinition* definition = request.add_services();
  definition->set_name(service);
  v1::Endpoint* endpoint = definition->add_endpoints();
  endpoint->set_name("grpc");
  endpoint->set_port(port);
  absl::StatusOr<v1::RegisterResponse> done = client.Register(request);
  if (!done.ok())
    std::fprintf(stderr, "register %s: %s\n", tenant.c_str(), done.status().ToString().c_str());
  return done.ok();
}

int64_t HeapInUse() { return static_cast<int64_t>(mallinfo2().uordblks); }

// Nanoseconds per EndpointFor call, `threads` threads each making `lookups` / threads calls
// over `tenants` round-robin. Fails (returns -1) if a call finds no route.
double TimeLookups(Router& router, const std::vector<std::string>& tenants, int64_t lookups,
                   int threads) {
  std::vector<std::thread> workers;
  std::vector<bool> failed(threads, false);
  const int64_t start = NowNanos();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const int64_t n = lookups / threads;
      size_t i = static_cast<size_t>(t) * 7;
      for (int64_t k = 0; k < n; ++k) {
        const std::string& tenant = tenants[i % tenants.size()];
        if (!router.EndpointFor(kDependencies[i % kDependencies.size()], tenant).has_value()) {
          failed[t] = true;
          return;
        }
        ++i;
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const int64_t elapsed = NowNanos() - start;
  for (bool f : failed) {
    if (f) return -1;
  }
  return static_cast<double>(elapsed) / static_cast<double>(lookups / threads);
}

int Main() {
  const int n = absl::GetFlag(FLAGS_tenants);
  const int64_t lookups = absl::GetFlag(FLAGS_lookups);
  testing::TempDir dir;
  testing::ServerProcess server(dir.path() + "/data", {"--log_level=warn"});
  if (server.port() == 0) {
    std::fprintf(stderr, "confcenterd did not start\n");
    return 1;
  }
  ClientOptions options;
  options.address = server.address();
  options.wait_for_ready = true;
  options.deadline = absl::Seconds(30);
  Client client(options);
  for (size_t i = 0; i < kDependencies.size(); ++i) {
    if (!Register(client, "integration", kDependencies[i], 9000 + static_cast<int>(i))) return 1;
  }
  std::vector<std::string> tenants;
  for (int i = 0; i < n; ++i) {
    tenants.push_back(absl::StrFormat("branch-%05d", i));
    if (!Register(client, tenants.back(), kDependencies[i % kDependencies.size()], 9100)) return 1;
  }

  RouterOptions router_options;
  router_options.tenant = "integration";
  router_options.dependencies = kDependencies;
  router_options.max_tenants = n;
  absl::StatusOr<std::unique_ptr<Router>> started = Router::Start(server.Channel(), router_options);
  if (!started.ok()) {
    std::fprintf(stderr, "router: %s\n", started.status().ToString().c_str());
    return 1;
  }
  Router& router = **started;
  const auto settle = [&](auto done) {
    for (int i = 0; i < 600 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return done();
  };
  if (!settle([&] { return router.EndpointFor("b", "").has_value(); })) {
    std::fprintf(stderr, "the own tenant's map did not arrive\n");
    return 1;
  }
  const int64_t heap_before = HeapInUse();
  const int64_t rss_before = ProcStatusBytes(getpid(), "VmRSS");
  const int64_t load_start = NowNanos();
  for (const std::string& tenant : tenants) router.Track(tenant);
  if (!settle([&] { return router.stats().loaded_tenants == n; })) {
    std::fprintf(stderr, "only %d of %d maps arrived\n", router.stats().loaded_tenants, n);
    return 1;
  }
  const double load_seconds = static_cast<double>(NowNanos() - load_start) / 1e9;
  const int64_t heap_after = HeapInUse();
  const int64_t rss_after = ProcStatusBytes(getpid(), "VmRSS");

  const double own = TimeLookups(router, {""}, lookups, 1);
  const double one = TimeLookups(router, tenants, lookups, 1);
  const double two = TimeLookups(router, tenants, lookups, 2);
  if (own < 0 || one < 0 || two < 0) {
    std::fprintf(stderr, "a lookup found no route\n");
    return 1;
  }
  const RouterStats stats = router.stats();
  if (stats.invalid_tenant + stats.unknown_tenant + stats.not_loaded != 0) {
    std::fprintf(stderr, "a lookup fell back to the own tenant\n");
    return 1;
  }
  std::printf(
      "| tenant maps | deps | EndpointFor, own tenant | EndpointFor, %d tenants round-robin | "
      "same, 2 threads | heap per map | RSS per map | all maps loaded in |\n",
      n);
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::printf(
      "| %d | %zu | %.0f ns | %.0f ns | %.0f ns/call/thread | %.2f KiB | %.2f KiB | %.2f s |\n", n,
      kDependencies.size(), own, one, two,
      static_cast<double>(heap_after - heap_before) / 1024.0 / n,
      static_cast<double>(rss_after - rss_before) / 1024.0 / n, load_seconds);
  return 0;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return confcenter::bench::Main();
}
