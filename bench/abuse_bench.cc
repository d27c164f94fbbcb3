// A flood of invalid writes from one caller, and what it costs another caller and the server.
//
// One confcenterd with an access policy and two token identities. Run 1, "unloaded": the
// victim makes --puts sequential Puts and times each. Run 2, "flooded": the same, while
// --flooders threads of the other identity send Puts with an invalid key as fast as the server
// answers, for as long as the victim runs. Printed: the victim's p50/p99/max both times and
// the p99 ratio (target: <= 2x), the flood's rate and what it got back, the server's RSS
// (before, peak sampled every 50 ms, after) and how many refusals were recorded in the audit
// log vs dropped by --refusal_audits_per_caller. Default settings, except what the flags say.
//
//   confcenter_abuse_bench [--puts=3000] [--flooders=8] [--server_flags=...]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_process.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"

ABSL_FLAG(int, puts, 3000, "Sequential Puts the victim times, per run.");
ABSL_FLAG(int, flooders, 8, "Threads sending invalid writes in the flooded run.");
ABSL_FLAG(std::string, server_flags, "",
          "Extra confcenterd flags, comma-separated (e.g. --write_rate_per_caller=100).");

namespace confcenter::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kVictim[] = "victim-token-3f9a";
constexpr char kFlooder[] = "flooder-token-77c1";

grpc::Status Put(v1::ConfigService::Stub* stub, const char* token, const std::string& key,
                 const std::string& value) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  v1::PutRequest req;
  req.set_tenant("integration");
  req.set_service("svc");
  req.set_key(key);
  req.set_value(value);
  v1::PutResponse resp;
  return stub->Put(&ctx, req, &resp);
}

struct Latencies {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  int failed = 0;
};

Latencies TimeVictim(const std::shared_ptr<grpc::Channel>& channel, int puts) {
  auto stub = v1::ConfigService::NewStub(channel);
  std::vector<double> ms;
  ms.reserve(puts);
  Latencies out;
  for (int i = 0; i < puts; ++i) {
    const auto start = Clock::now();
    grpc::Status st = Put(stub.get(), kVictim, absl::StrCat("k", i % 100), std::string(100, 'v'));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (!st.ok()) ++out.failed;
  }
  std::sort(ms.begin(), ms.end());
  out.p50_ms = ms[ms.size() / 2];
  out.p99_ms = ms[ms.size() * 99 / 100];
  out.max_ms = ms.back();
  return out;
}

int Main() {
  testing::TempDir dir;
  testing::WriteStaticTokensFile(dir.path() + "/tokens.yaml",
                                 {{"victim", kVictim}, {"flooder", kFlooder}});
  testing::WriteFile(dir.path() + "/policy.yaml",
                     absl::StrCat("authentication:\n  static_tokens_file: ", dir.path(),
                                  "/tokens.yaml\nbindings:\n"
                                  "  - subjects: [{kind: token, name: victim}, {kind: token, "
                                  "name: flooder}]\n    roles: [admin]\n    tenants: [\"*\"]\n"));
  std::vector<std::string> flags = {"--auth_policy=" + dir.path() + "/policy.yaml"};
  for (absl::string_view f :
       absl::StrSplit(absl::GetFlag(FLAGS_server_flags), ',', absl::SkipEmpty())) {
    flags.emplace_back(f);
  }
  testing::ServerProcess server(dir.path() + "/data", flags);
  if (server.port() == 0) return 1;
  std::shared_ptr<grpc::Channel> victim_channel = server.Channel();
  const int puts = absl::GetFlag(FLAGS_puts);
  TimeVictim(victim_channel, 200);  // warm-up
  const Latencies unloaded = TimeVictim(victim_channel, puts);

  const int64_t rss_before = ProcStatusBytes(server.pid(), "VmRSS");
  const double cpu_before = ProcCpuSeconds(server.pid());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> rss_peak{rss_before};
  std::thread sampler([&] {
    while (!stop.load()) {
      const int64_t rss = ProcStatusBytes(server.pid(), "VmRSS");
      if (rss > rss_peak.load()) rss_peak.store(rss);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::mutex codes_mu;
  std::map<int, int64_t> codes;
  std::vector<std::thread> flooders;
  for (int t = 0; t < absl::GetFlag(FLAGS_flooders); ++t) {
    flooders.emplace_back([&] {
      auto channel = server.Channel();  // a connection of its own, as a separate client
      auto stub = v1::ConfigService::NewStub(channel);
      std::map<int, int64_t> mine;
      while (!stop.load()) ++mine[Put(stub.get(), kFlooder, "bad key", "v").error_code()];
      std::lock_guard<std::mutex> lock(codes_mu);
      for (const auto& [code, n] : mine) codes[code] += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the flood is on
  const auto flood_start = Clock::now();
  const Latencies flooded = TimeVictim(victim_channel, puts);
  const double flood_seconds = std::chrono::duration<double>(Clock::now() - flood_start).count();
  stop.store(true);
  for (std::thread& t : flooders) t.join();
  sampler.join();
  const int64_t rss_after = ProcStatusBytes(server.pid(), "VmRSS");
  const double cpu_flood = ProcCpuSeconds(server.pid()) - cpu_before;

  int64_t flood_total = 0;
  for (const auto& [code, n] : codes) flood_total += n;
  std::printf(
      "victim Puts (%d each run, sequential): unloaded p50 %.2f ms p99 %.2f ms max %.1f ms"
      " | flooded p50 %.2f ms p99 %.2f ms max %.1f ms | p99 ratio %.2fx (target <= 2x)"
      " | victim failures %d\n",
      puts, unloaded.p50_ms, unloaded.p99_ms, unloaded.max_ms, flooded.p50_ms, flooded.p99_ms,
      flooded.max_ms, flooded.p99_ms / unloaded.p99_ms, unloaded.failed + flooded.failed);
  std::printf("flood: %d threads, %lld invalid Puts in %.1f s (%.0f/s):",
              absl::GetFlag(FLAGS_flooders), static_cast<long long>(flood_total),
              flood_seconds + 0.5, static_cast<double>(flood_total) / (flood_seconds + 0.5));
  for (const auto& [code, n] : codes)
    std::printf(" code %d x %lld", code, static_cast<long long>(n));
  std::printf(
      "\nserver CPU during the flood: %.2f s of %.1f s on 2 cores (%.0f us per request, "
      "the victim's included)",
      cpu_flood, flood_seconds + 0.5, cpu_flood * 1e6 / static_cast<double>(flood_total + puts));
  std::printf("\nserver RSS: before %.1f MiB, peak %.1f MiB, after %.1f MiB\n",
              rss_before / 1048576.0, rss_peak.load() / 1048576.0, rss_after / 1048576.0);
  std::printf(
      "refusal records dropped (confcenter_refusal_audits_dropped_total): %.0f\n",
      testing::ScrapeMetric(server.admin_port(), "confcenter_refusal_audits_dropped_total"));
  return unloaded.failed + flooded.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return confcenter::bench::Main();
}
