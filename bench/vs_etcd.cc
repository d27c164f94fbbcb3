// confcenter_vs_etcd: one command that measures confcenterd and etcd 3.4 side by side on the
// same workloads, with the same load generator, on this machine, and prints the ratios.
//
// Every workload runs against a fresh confcenterd and a fresh etcd (single member, loopback
// ports, temp data dir, fsync on: both servers' defaults), alternating which goes first from
// run to run. A trivial gRPC server (confcenter_noop_server) gives the ceiling: what gRPC
// itself allows here. Workloads (sizes are flags):
//   put      durable put, 32-byte keys, 256-byte values: 1 client; 100 clients / 10 conns
//   read     Resolve of a 50-key service in a branch over integration (25 keys overridden)
//            vs etcd serializable Range of the same 50 keys under one prefix; 100 clients
//   fanout   1,000 subscribers (10 branch tenants x 100) vs 1,000 etcd watchers on the
//            prefix, each its own stream, over 20 connections; 10 untimed warm-up writes,
//            then 500 writes at 100/s; end-to-end latency from just before the write is
//            sent (the timestamp travels in the value) to receipt; also 10,000 subscribers;
//            and the 1,000 sharing one stream per connection (SubscribeViews vs watchers
//            created on one Watch stream)
//   idle     server RSS growth per idle subscriber (measured in the fan-out runs), next to
//            a bare gRPC server stream's
//   many     1,000 tenants x 20 services x 50 keys loaded, then `read` over random views
//   ceiling  the generator against the no-op unary RPC
// --secure adds to put and read (in the same interleaved windows) a confcenterd serving TLS
// with an --auth_policy (every call over TLS with an RS256 JWT as bearer token) and an etcd
// serving clients over TLS with authentication enabled (root's token on every call), and
// prints what TLS + authentication costs each server.
//
//   confcenter_vs_etcd [--runs=3] [--smoke] [--secure] [--json=PATH] [--markdown=PATH]
//                      [--plot=PATH.png]
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/bench_process.h"
#include "bench/load_gen.h"
#include "bench/systems.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

ABSL_FLAG(bool, smoke, false,
          "Every workload at tiny sizes (CI keeps the harness working; no speed figures).");
ABSL_FLAG(int, runs, 1, "Runs of every workload; the table quotes medians (use 3).");
ABSL_FLAG(std::string, json, "", "Write all figures (every run, and the medians) here.");
ABSL_FLAG(std::string, markdown, "", "Write the Markdown tables here.");
ABSL_FLAG(std::string, plot, "", "Write a PNG of the fan-out latency percentiles here (gnuplot).");
ABSL_FLAG(std::string, etcd, "/usr/bin/etcd", "The etcd 3.4 binary (Debian: etcd-server).");
ABSL_FLAG(bool, secure, false,
          "Put and read also against confcenterd with TLS + JWT (--tls_cert, --auth_policy) "
          "and etcd with TLS + auth enabled, interleaved with the plain servers.");
ABSL_FLAG(std::string, workloads, "ceiling,put,read,fanout,pods,many,startup",
          "Which workloads to run, comma-separated.");
ABSL_FLAG(double, seconds, 3.0, "Measured window of each throughput figure, in seconds.");
ABSL_FLAG(double, warmup, 0.5, "Warm-up before each window, in seconds (not counted).");
ABSL_FLAG(int, slices, 4,
          "Put, read and shared-stream fan-out: the window (the timed writes) is cut into "
          "this many slices, and the slices of confcenterd and etcd alternate (both servers "
          "run), so both see the machine as it was over the whole run.");
ABSL_FLAG(int, value_bytes, 256, "Value size of put, read and fan-out writes.");
ABSL_FLAG(int, clients, 100, "Concurrent clients of the put, read and ceiling workloads.");
ABSL_FLAG(int, connections, 10, "Connections the clients are spread over.");
ABSL_FLAG(int, read_keys, 50, "Keys of the service that read resolves (half overridden).");
ABSL_FLAG(std::string, subscribers, "1000,10000", "Fan-out subscriber counts.");
ABSL_FLAG(std::string, subscribers_etcd, "1000,10000",
          "Fan-out subscriber counts that etcd is given too (the others: confcenterd only).");
ABSL_FLAG(int, fanout_tenants, 10, "Branch tenants the confcenter subscribers are spread over.");
ABSL_FLAG(int, fanout_writes, 500, "Writes per fan-out run at 1,000 subscribers or fewer.");
ABSL_FLAG(int, fanout_large_writes, 50, "Writes per fan-out run above 1,000 subscribers.");
ABSL_FLAG(int, fanout_rate, 100, "Fan-out writes per second.");
ABSL_FLAG(int, fanout_warmup_writes, 10,
          "Untimed writes (all their events awaited) before the timed fan-out writes.");
ABSL_FLAG(int, fanout_connections, 20, "Connections the subscribers share.");
ABSL_FLAG(std::string, pod_subscribers, "1000,10000",
          "Subscriber counts of the pods workload: every subscriber on a connection of its own, "
          "as pods connect.");
ABSL_FLAG(std::string, pod_rates, "10,100",
          "Write rates of the pods workload: the lowest is the realistic rate its p99 is judged "
          "at, the highest the saturation rate its throughput and CPU per event are.");
ABSL_FLAG(int, pod_seconds, 10, "A pods run writes for this long (at most --fanout_writes).");
ABSL_FLAG(int, startup_keys, 1000000, "Keys of the start-up workload.");
ABSL_FLAG(int, startup_tenants, 1000, "Tenants the start-up workload's keys are spread over.");
ABSL_FLAG(int, startup_versions, 10,
          "Times each start-up key is written (every version is kept: keys x this versions).");
ABSL_FLAG(bool, fanout_shared, true,
          "Also run every fan-out size with one shared stream per connection: "
          "confcenter's SubscribeViews against etcd watchers created on one Watch stream.");
ABSL_FLAG(int, tenants, 1000, "Tenants of the many-tenants workload.");
ABSL_FLAG(int, services, 20, "Services per tenant of the many-tenants workload.");
ABSL_FLAG(int, many_value_bytes, 64, "Value size of the many-tenants data set.");
ABSL_FLAG(int, load_threads, 4, "Concurrent loaders of the many-tenants data set.");

namespace confcenter::bench {
namespace {

using json = nlohmann::json;

struct Config {
  std::chrono::milliseconds seconds{3000};
  std::chrono::milliseconds warmup{500};
  int slices = 4;
  int value_bytes = 256;
  int clients = 100;
  int connections = 10;
  int read_keys = 50;
  std::vector<int> subscribers;
  std::vector<int> subscribers_etcd;
  int fanout_tenants = 10;
  int fanout_writes = 500;
  int fanout_large_writes = 50;
  int fanout_rate = 100;
  int fanout_warmup_writes = 10;
  int fanout_connections = 20;
  bool fanout_shared = true;
  // The pod topology: every subscriber on its own connection, at each of `pod_rates`.
  std::vector<int> pod_subscribers;
  std::vector<int> pod_rates;
  int pod_seconds = 10;  // writes of a pods run: rate x this, at most FanoutWrites
  // Bounds on the fan-out's waits: for every subscription to be ready, for every event after
  // the last write, for every stream to end once cancelled.
  std::chrono::seconds ready_wait{120};
  std::chrono::seconds arrival_wait{60};
  std::chrono::seconds end_wait{30};
  bool trace = false;  // prints each fan-out step (the smoke does, so a stall shows where)
  int tenants = 1000;
  int services = 20;
  int many_value_bytes = 64;
  int load_threads = 4;
  // Start-up: keys over tenants, each written `startup_versions` times.
  int startup_keys = 1'000'000;
  int startup_tenants = 1000;
  int startup_versions = 10;
};

// Timed writes of a fan-out run of n subscribers.
int FanoutWrites(const Config& cfg, int n) {
  return n > 1000 ? cfg.fanout_large_writes : cfg.fanout_writes;
}

// Timed writes of a pods run of n subscribers at `rate` writes/s: `pod_seconds` of them, at
// most FanoutWrites (the events a run may cost).
int PodWrites(const Config& cfg, int n, int rate) {
  return std::max(1, std::min(FanoutWrites(cfg, n), rate * cfg.pod_seconds));
}
std::string PodRow(int n, int rate) { return absl::StrCat("pods_", n, "_at_", rate); }

// Every failure is printed at once and makes the exit code nonzero.
int g_failures = 0;
void Fail(const std::string& what) {
  ++g_failures;
  std::fprintf(stderr, "FAILURE: %s\n", what.c_str());
}

double Mib(int64_t bytes) { return bytes / 1048576.0; }

std::string Filler(size_t bytes, char c = 'v') { return std::string(bytes, c); }

std::string TenantName(int i) { return absl::StrFormat("t%04d", i); }
std::string ServiceName(int i) { return absl::StrFormat("s%02d", i); }
std::string KeyName(int i) { return absl::StrFormat("k%02d", i); }

// `cpu_seconds`: the server's CPU time over the counted window(s), NAN if not measured.
json LoadJson(const LoadResult& r, const System& sys, double cpu_seconds = NAN) {
  json figures = {{"per_second", r.per_second},
                  {"p50_ms", r.latency.p50_ms},
                  {"p99_ms", r.latency.p99_ms},
                  {"max_ms", r.latency.max_ms},
                  {"calls", r.completed},
                  {"failed", r.failed},
                  {"peak_rss_mib", Mib(sys.PeakRssBytes())}};
  if (!std::isnan(cpu_seconds) && r.completed > 0) {
    figures["server_cpu_seconds"] = cpu_seconds;
    figures["cpu_us_per_op"] = cpu_seconds * 1e6 / r.completed;
  }
  return figures;
}

// `clients` over at most `connections` connections, for cfg.seconds after cfg.warmup.
LoadOptions LoopOptions(const Config& cfg, int clients, int connections) {
  LoadOptions o;
  o.channels = std::min(clients, connections);
  o.per_channel = std::max(1, clients / o.channels);
  o.warmup = cfg.warmup;
  o.measure = cfg.seconds;
  return o;
}

LoadResult Loop(const Config& cfg, int clients, int connections, const CallStarter& start) {
  return RunClosedLoop(LoopOptions(cfg, clients, connections), start);
}

// Runs the closed loop of each of `starts` (one per server) for cfg.seconds, cut into
// cfg.slices slices that alternate between the servers (A B, B A, A B...). This VM's speed
// drifts by up to 2x within minutes; with a window each, one server could get the fast
// minute and the other the slow one. Later slices warm up for at most 200 ms: the
// connections and the servers are warm by then.
// `cpu_seconds`, when given, gets the CPU time (utime + stime) server i (`systems[i]`'s
// process) used over its counted windows: the efficiency figure that does not depend on how
// the load generator shares the cores.
std::vector<LoadResult> Interleaved(const Config& cfg, int clients, int connections,
                                    const std::vector<CallStarter>& starts,
                                    const std::vector<System*>& systems = {},
                                    std::vector<double>* cpu_seconds = nullptr) {
  std::vector<LoadResult> totals(starts.size());
  if (cpu_seconds != nullptr) cpu_seconds->assign(starts.size(), 0);
  const int slices = std::max(1, cfg.slices);
  for (int slice = 0; slice < slices; ++slice) {
    for (size_t k = 0; k < starts.size(); ++k) {
      const size_t i = slice % 2 == 0 ? k : starts.size() - 1 - k;
      LoadOptions o = LoopOptions(cfg, clients, connections);
      if (slice > 0) o.warmup = std::min(o.warmup, std::chrono::milliseconds(200));
      o.measure = cfg.seconds / slices;
      double cpu_at_start = 0;
      if (cpu_seconds != nullptr && i < systems.size()) {
        const int pid = systems[i]->pid();
        double* total = &(*cpu_seconds)[i];
        o.on_window_start = [pid, &cpu_at_start] { cpu_at_start = ProcCpuSeconds(pid); };
        o.on_window_end = [pid, total, &cpu_at_start] {
          *total += ProcCpuSeconds(pid) - cpu_at_start;
        };
      }
      MergeSlice(RunClosedLoop(o, starts[i]), &totals[i]);
    }
  }
  return totals;
}

void CheckLoad(const LoadResult& r, const std::string& what) {
  if (r.failed > 0)
    Fail(absl::StrCat(what, ": ", r.failed, " calls failed, first: ", r.first_error));
  if (r.completed == 0) Fail(absl::StrCat(what, ": no call completed"));
}

// Writes `entries` with WriteBatch, `batch` at a time, from `threads` threads. Returns false
// (after reporting) on the first error.
bool LoadEntries(System& sys, const std::vector<Entry>& entries, size_t batch, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (size_t i = next.fetch_add(batch); i < entries.size() && ok; i = next.fetch_add(batch)) {
        std::vector<Entry> part(entries.begin() + i,
                                entries.begin() + std::min(entries.size(), i + batch));
        grpc::Status st = sys.WriteBatch(part);
        if (!st.ok() && ok.exchange(false)) {
          Fail(absl::StrCat(sys.name(), " load: ", st.error_code(), " ", st.error_message()));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return ok;
}

// Creates `names` as children of integration holding `services`, from `threads` threads.
bool CreateTenants(System& sys, const std::vector<std::string>& names,
                   const std::vector<std::string>& services, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < names.size() && ok; i = next++) {
        grpc::Status st = sys.CreateTenant(names[i], "integration", services);
        if (!st.ok() && ok.exchange(false)) {
          Fail(absl::StrCat(sys.name(), " register ", names[i], ": ", st.error_message()));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return ok;
}

// ------------------------------------------------------------------------------ workloads

// The ceiling: the same closed loop against the no-op unary RPC, at 1 client and at
// `clients` clients.
json RunCeiling(System& sys, const Config& cfg) {
  json rows;
  if (!sys.Connect(cfg.connections)) {
    Fail("connect to the no-op server");
    return rows;
  }
  const Entry none;
  auto start = [&](int ch, int, grpc::ClientContext* ctx, std::function<void(grpc::Status)> d) {
    sys.StartPut(ch, ctx, none, std::move(d));
  };
  LoadResult one = Loop(cfg, 1, 1, start);
  CheckLoad(one, "ceiling, 1 client");
  rows["clients_1"] = LoadJson(one, sys);
  LoadResult many = Loop(cfg, cfg.clients, cfg.connections, start);
  CheckLoad(many, "ceiling");
  rows["clients_n"] = LoadJson(many, sys);
  return rows;
}

// Durable put: 32-byte keys (each client cycles over its own 500), `value_bytes` values; the
// servers' windows interleaved.
json RunPut(const std::vector<System*>& systems, const Config& cfg) {
  json rows;
  const auto value = std::make_shared<const std::string>(Filler(cfg.value_bytes));
  std::vector<CallStarter> starts;
  for (System* sys : systems) {
    if (!sys->CreateTenant("integration", "", {"svc"}).ok() || !sys->Connect(cfg.connections)) {
      Fail(sys->name() + ": put set-up");
      return rows;
    }
    // Per client: touched by its own calls only.
    auto seq = std::make_shared<std::vector<int64_t>>(cfg.clients + 1, 0);
    starts.push_back([sys, seq, value](int ch, int client, grpc::ClientContext* ctx,
                                       std::function<void(grpc::Status)> d) {
      Entry e{"integration", "svc",
              absl::StrFormat("key.%04d.%023d", client, (*seq)[client]++ % 500), *value};
      sys->StartPut(ch, ctx, e, std::move(d));
    });
  }
  std::vector<double> cpu;
  const std::vector<LoadResult> one = Interleaved(cfg, 1, 1, starts, systems, &cpu);
  for (size_t i = 0; i < systems.size(); ++i) {  // before the 100 clients raise the peak RSS
    CheckLoad(one[i], systems[i]->name() + " put, 1 client");
    rows["put_1"][systems[i]->name()] = LoadJson(one[i], *systems[i], cpu[i]);
  }
  const std::vector<LoadResult> many =
      Interleaved(cfg, cfg.clients, cfg.connections, starts, systems, &cpu);
  for (size_t i = 0; i < systems.size(); ++i) {
    CheckLoad(many[i], systems[i]->name() + " put");
    rows["put_n"][systems[i]->name()] = LoadJson(many[i], *systems[i], cpu[i]);
  }
  return rows;
}

// Loads the read workload's data set into `sys` (see RunRead). Returns the number of stored
// entries, or -1 on failure.
int64_t LoadReadSet(System& sys, const Config& cfg, const std::vector<std::string>& tenant_names,
                    const std::vector<std::string>& service_names, int value_bytes) {
  std::vector<Entry> entries;
  const std::string base = Filler(value_bytes, 'i');
  const std::string own = Filler(value_bytes, 'b');
  if (sys.inherits()) {
    if (!sys.CreateTenant("integration", "", service_names).ok() ||
        !CreateTenants(sys, tenant_names, service_names, cfg.load_threads)) {
      Fail(sys.name() + ": read set-up");
      return -1;
    }
    for (const auto& s : service_names) {
      for (int k = 0; k < cfg.read_keys; ++k)
        entries.push_back({"integration", s, KeyName(k), base});
    }
  }
  for (const auto& t : tenant_names) {
    for (const auto& s : service_names) {
      for (int k = 0; k < cfg.read_keys; ++k) {
        const bool overridden = k % 2 == 0;
        if (overridden || !sys.inherits()) {
          entries.push_back({t, s, KeyName(k), overridden ? own : base});
        }
      }
    }
  }
  if (!LoadEntries(sys, entries, 100, cfg.load_threads) || !sys.Connect(cfg.connections)) {
    return -1;
  }
  return static_cast<int64_t>(entries.size());
}

// Read: `tenants` x `services` views of `read_keys` keys each. confcenter: integration holds
// every key of every service, each tenant (a branch of integration) overrides half of them,
// and a read is Resolve(tenant, [service]). etcd has no inheritance: it holds each view's
// keys, resolved, under "/tenant/service/", and a read is a serializable Range of the prefix.
// Each call reads a different view (round robin over all of them). Every server is loaded
// first, then their windows interleave.
json RunRead(const std::vector<System*>& systems, const Config& cfg, int tenants, int services,
             int value_bytes, const std::string& row) {
  json rows;
  auto service_names = std::make_shared<std::vector<std::string>>();
  for (int s = 0; s < services; ++s) service_names->push_back(ServiceName(s));
  auto tenant_names = std::make_shared<std::vector<std::string>>();
  for (int t = 0; t < tenants; ++t) tenant_names->push_back(TenantName(t));
  std::vector<CallStarter> starts;
  std::vector<std::pair<int64_t, double>> loaded;  // (entries, seconds) of each server
  for (System* sys : systems) {
    const int64_t load_start = NowNanos();
    const int64_t entries = LoadReadSet(*sys, cfg, *tenant_names, *service_names, value_bytes);
    if (entries < 0) return rows;
    loaded.emplace_back(entries, (NowNanos() - load_start) / 1e9);
    const int views = tenants * services;
    auto seq = std::make_shared<std::vector<int64_t>>(cfg.clients + 1, 0);
    const int keys = cfg.read_keys;
    starts.push_back(
        [sys, seq, views, services, keys, tenant_names, service_names](
            int ch, int client, grpc::ClientContext* ctx, std::function<void(grpc::Status)> d) {
          const int v = static_cast<int>((client * 7919 + (*seq)[client]++) % views);
          sys->StartRead(ch, ctx, (*tenant_names)[v / services], (*service_names)[v % services],
                         keys, std::move(d));
        });
  }
  // Let the servers finish what the load left behind (flushes, GC) before the window.
  if (loaded.front().first > 10000) std::this_thread::sleep_for(std::chrono::seconds(1));
  std::vector<double> cpu;
  const std::vector<LoadResult> results =
      Interleaved(cfg, cfg.clients, cfg.connections, starts, systems, &cpu);
  for (size_t i = 0; i < systems.size(); ++i) {
    CheckLoad(results[i], systems[i]->name() + " " + row);
    json& figures = rows[row][systems[i]->name()];
    figures = LoadJson(results[i], *systems[i], cpu[i]);
    figures["stored_keys"] = loaded[i].first;
    figures["load_seconds"] = loaded[i].second;
  }
  return rows;
}

// Watch fan-out with `n` subscribers over `connections` connections (n of them: the pod
// topology, every subscriber a process of its own), writes at `rate` per second; also the
// server's RSS growth per idle subscriber, and its CPU time per delivered event.
// confcenter: the subscribers follow branches of integration (none overrides the written
// key), so every write concerns every subscriber; on a shared stream no two views are the
// same tenant (a stream's views are distinct, as a process's would be). etcd has no tenants:
// its watchers all watch the prefix the writes go to. The no-op server only gets the idle
// streams (writes = 0): gRPC's own per-stream cost.
class FanoutRun {
 public:
  FanoutRun(System& sys, const Config& cfg, int n, int connections, int rate, bool shared,
            std::string row)
      : sys_(sys),
        cfg_(cfg),
        n_(n),
        connections_(connections),
        rate_(rate),
        shared_(shared),
        row_(std::move(row)) {}

  // Sets up the data, opens the n subscriptions, measures the idle memory and (if
  // `warm_up`) makes the untimed warm-up writes. False if the subscriptions are not all
  // ready (the failure is recorded).
  bool Open(bool warm_up) {
    // Shared: subscriber i on stream i % connections with branch (i / connections), so a
    // stream's views are all distinct.
    const int per_stream = (n_ + connections_ - 1) / connections_;
    const int tenants = shared_ ? std::max(cfg_.fanout_tenants, per_stream) : cfg_.fanout_tenants;
    std::vector<std::string> branches;
    for (int t = 0; t < tenants; ++t) branches.push_back(absl::StrFormat("w%05d", t));
    if (sys_.name() != "grpc-noop") {
      std::vector<Entry> entries;
      for (int k = 0; k < 49; ++k) entries.push_back({"integration", "svc", KeyName(k), "v"});
      entries.push_back({"integration", "svc", "k", TimestampValue(1, cfg_.value_bytes)});
      if (!sys_.CreateTenant("integration", "", {"svc"}).ok() || !sys_.WriteBatch(entries).ok() ||
          (sys_.inherits() && !CreateTenants(sys_, branches, {"svc"}, cfg_.load_threads))) {
        Fail(sys_.name() + ": fan-out set-up");
        return false;
      }
    }
    // Before the connections open, so that the figure with connections counts their memory.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const int64_t rss_unconnected = sys_.RssBytes();
    Trace(absl::StrCat("connecting ", connections_));
    if (!sys_.Connect(connections_)) {
      Fail(absl::StrCat(sys_.name(), ": cannot open ", connections_, " connections"));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const int64_t rss_before = sys_.RssBytes();

    auto tenant_of = [&](int i) {
      if (!sys_.inherits()) return std::string("integration");
      return branches[(shared_ ? i / connections_ : i) % branches.size()];
    };
    if (shared_) {  // subscriber i on connection i % connections, as below, sharing its stream
      std::vector<std::vector<std::pair<std::string, std::string>>> views(connections_);
      for (int i = 0; i < n_; ++i) {
        views[i % connections_].push_back({tenant_of(i), "svc"});
      }
      for (int c = 0; c < connections_; ++c) {
        if (views[c].empty()) continue;
        subs_.push_back(sys_.SubscribeShared(c, views[c], &stats_));
        if (subs_.back() == nullptr) {
          subs_.pop_back();
          Fail(sys_.name() + ": no shared streams");
          return false;
        }
      }
    } else {
      subs_.reserve(n_);
      for (int i = 0; i < n_; ++i) {
        subs_.push_back(sys_.Subscribe(i % connections_, tenant_of(i), "svc", &stats_));
      }
    }
    Trace(absl::StrCat("subscribing ", n_));
    const bool ready = stats_.WaitFor(
        [&] { return stats_.ready.load() >= n_ || stats_.failed.load() > 0; }, cfg_.ready_wait);
    if (!ready || stats_.ready.load() < n_) {
      Fail(absl::StrCat(sys_.name(), ": only ", stats_.ready.load(), " of ", n_,
                        " subscriptions became ready. ", stats_.first_error));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // let the server settle
    const int64_t rss_idle = sys_.RssBytes();
    out_["subscribers"] = n_;
    out_["connections"] = connections_;
    out_["idle_kib_per_subscriber"] = (rss_idle - rss_before) / 1024.0 / n_;
    out_["kib_per_subscriber_with_connections"] = (rss_idle - rss_unconnected) / 1024.0 / n_;
    Trace(absl::StrCat(stats_.ready.load(), " subscriptions ready"));

    if (warm_up && cfg_.fanout_warmup_writes > 0) {
      // Untimed writes first, for both systems alike: the first writes after the set-up pay
      // one-off costs (a first fan-out, cold caches) that are not the steady state measured.
      const int64_t warmup_expected = static_cast<int64_t>(cfg_.fanout_warmup_writes) * n_;
      for (int w = 0; w < cfg_.fanout_warmup_writes; ++w) {
        grpc::Status st =
            sys_.Put({"integration", "svc", "k", TimestampValue(0, cfg_.value_bytes)});
        if (!st.ok()) {
          Fail(absl::StrCat(sys_.name(), " fan-out warm-up write: ", st.error_message()));
        }
      }
      if (!stats_.WaitFor([&] { return stats_.warmup_events.load() >= warmup_expected; },
                          cfg_.arrival_wait)) {
        Fail(absl::StrCat(sys_.name(), " fan-out: ", stats_.warmup_events.load(), " of ",
                          warmup_expected, " warm-up events arrived"));
      }
      Trace(absl::StrCat(cfg_.fanout_warmup_writes, " warm-up writes done"));
    }
    open_ = true;
    return true;
  }

  // Makes `writes` timed writes at cfg.fanout_rate, then waits for all their events. The
  // events/s figure counts the time from the first write to the last event of each call.
  void Write(int writes) {
    if (!open_ || writes <= 0) return;
    expected_ += static_cast<int64_t>(writes) * n_;
    stats_.notify_at_events = expected_;
    const int64_t interval = 1'000'000'000LL / std::max(1, rate_);
    const double cpu_at_first = ProcCpuSeconds(sys_.pid());
    const int64_t first = NowNanos();
    for (int w = 0; w < writes; ++w) {
      const int64_t due = first + w * interval;
      const int64_t now = NowNanos();
      if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      grpc::Status st =
          sys_.Put({"integration", "svc", "k", TimestampValue(NowNanos(), cfg_.value_bytes)});
      if (!st.ok()) Fail(absl::StrCat(sys_.name(), " fan-out write: ", st.error_message()));
    }
    Trace(absl::StrCat(writes, " writes done"));
    if (!stats_.WaitFor([&] { return stats_.events.load() >= expected_; }, cfg_.arrival_wait)) {
      Fail(absl::StrCat(sys_.name(), " fan-out: ", stats_.events.load(), " of ", expected_,
                        " events arrived within ", cfg_.arrival_wait.count(),
                        " s after the last write"));
    }
    busy_seconds_ += std::max(1e-9, (stats_.last_event_ns.load() - first) / 1e9);
    cpu_seconds_ += ProcCpuSeconds(sys_.pid()) - cpu_at_first;
  }

  // Cancels the streams and returns the figures, under the row's id.
  json Close() {
    json rows;
    json& out = rows[row_];
    out = out_;
    if (expected_ > 0) {
      const int64_t events = stats_.events.load(), messages = stats_.messages.load();
      out["events"] = events;
      out["messages"] = messages;
      out["expected_events"] = expected_;
      out["per_second"] = events / busy_seconds_;
      out["server_cpu_seconds"] = cpu_seconds_;
      if (events > 0) out["cpu_us_per_op"] = cpu_seconds_ * 1e6 / events;
      if (messages > 0) out["cpu_us_per_message"] = cpu_seconds_ * 1e6 / messages;
    }
    out["peak_rss_mib"] = Mib(sys_.PeakRssBytes());
    for (auto& s : subs_) s->Cancel();
    Trace("cancelling the streams");
    const int64_t streams = static_cast<int64_t>(subs_.size());
    if (!stats_.WaitFor([&] { return stats_.ended.load() >= streams; }, cfg_.end_wait)) {
      Fail(absl::StrCat(sys_.name(), ": ", streams - stats_.ended.load(), " streams did not end"));
      for (auto& s : subs_) s.release();  // still referenced by gRPC: leak rather than crash
      return rows;
    }
    if (stats_.failed.load() > 0) Fail(sys_.name() + " fan-out: " + stats_.first_error);
    if (expected_ > 0) {
      std::vector<int64_t> all;
      all.reserve(static_cast<size_t>(expected_));
      for (auto& s : subs_) all.insert(all.end(), s->latencies().begin(), s->latencies().end());
      LatencySummary l = Summarize(&all);
      out["p50_ms"] = l.p50_ms;
      out["p99_ms"] = l.p99_ms;
      out["max_ms"] = l.max_ms;
      json q = json::array();
      for (double p : {0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999}) {
        q.push_back({p, QuantileMs(all, p)});
      }
      out["quantiles_ms"] = q;
    }
    return rows;
  }

 private:
  void Trace(const std::string& step) const {
    if (cfg_.trace) std::printf("    fan-out %s: %s\n", sys_.name().c_str(), step.c_str());
  }

  System& sys_;
  const Config& cfg_;
  const int n_;
  const int connections_;
  const int rate_;
  const bool shared_;
  const std::string row_;
  StreamStats stats_;
  std::vector<std::unique_ptr<Subscription>> subs_;
  json out_ = json::object();
  bool open_ = false;
  int64_t expected_ = 0;     // timed events expected so far
  double busy_seconds_ = 0;  // first write to last event, summed over the Write calls
  double cpu_seconds_ = 0;   // the server's CPU time over the same spans
};

// Watch fan-out with `n` subscribers on one server, alone (see FanoutRun); writes = 0 opens
// the subscriptions for the idle figures only.
json RunFanout(System& sys, const Config& cfg, int n, int connections, int rate, int writes,
               bool shared, const std::string& row) {
  FanoutRun run(sys, cfg, n, connections, rate, shared, row);
  if (run.Open(writes > 0)) run.Write(writes);
  return run.Close();
}

// Shared-stream fan-out on every server of `systems` at once: all subscriptions open, then
// the timed writes in cfg.slices slices alternating between the servers (as Interleaved).
// Only for shared streams: with a stream per subscriber, the other server's open streams
// would slow the load generator (each completion of its gRPC scans every open stream).
json RunSharedFanoutInterleaved(const std::vector<System*>& systems, const Config& cfg, int n,
                                int writes, const std::string& row) {
  std::vector<std::unique_ptr<FanoutRun>> runs;
  bool open = true;
  for (System* sys : systems) {
    runs.push_back(std::make_unique<FanoutRun>(*sys, cfg, n, cfg.fanout_connections,
                                               cfg.fanout_rate, /*shared=*/true, row));
    open = open && runs.back()->Open(/*warm_up=*/true);
  }
  const int slices = std::max(1, std::min(cfg.slices, writes));
  for (int slice = 0; open && slice < slices; ++slice) {
    const int count = writes / slices + (slice < writes % slices ? 1 : 0);
    for (size_t k = 0; k < runs.size(); ++k) {
      runs[slice % 2 == 0 ? k : runs.size() - 1 - k]->Write(count);
    }
  }
  json rows;
  for (size_t i = 0; i < runs.size(); ++i) rows[row][systems[i]->name()] = runs[i]->Close()[row];
  return rows;
}

// Bytes of every file under `dir`.
int64_t DiskBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

// Start-up: `startup_keys` keys over `startup_tenants` tenants (service "svc"), each written
// `startup_versions` times (so keys x versions history versions, all kept), then the server
// stopped and started again on the same data: the time from process start to serving
// (confcenterd: its port file, written once /readyz would say serving; etcd: the first
// Range answered), and the RSS per stored key once it serves. A Resolve / Range of one
// tenant checks that its keys came back.
json RunStartup(System& sys, const Config& cfg) {
  json rows;
  json& out = rows["startup"];
  testing::TempDir dir;
  if (!sys.Start(dir.path())) {
    Fail(sys.name() + " did not start");
    return rows;
  }
  const int tenants = std::max(1, cfg.startup_tenants);
  const int per_tenant = std::max(1, cfg.startup_keys / tenants);
  std::vector<std::string> names;
  for (int t = 0; t < tenants; ++t) names.push_back(TenantName(t));
  if (sys.inherits() && (!sys.CreateTenant("integration", "", {"svc"}).ok() ||
                         !CreateTenants(sys, names, {"svc"}, cfg.load_threads))) {
    Fail(sys.name() + ": start-up set-up");
    sys.Stop();
    return rows;
  }
  std::vector<Entry> entries;
  entries.reserve(static_cast<size_t>(tenants) * per_tenant);
  for (const std::string& t : names) {
    for (int k = 0; k < per_tenant; ++k) {
      entries.push_back({t, "svc", absl::StrFormat("k%06d", k), ""});
    }
  }
  const int64_t load_start = NowNanos();
  const std::string filler = Filler(std::max(0, cfg.many_value_bytes - 8));
  for (int version = 0; version < cfg.startup_versions; ++version) {
    for (Entry& e : entries) e.value = absl::StrFormat("v%06d.", version) + filler;
    // 128 operations per transaction: etcd's default --max-txn-ops, and confcenterd's.
    if (!LoadEntries(sys, entries, 128, cfg.load_threads)) {
      sys.Stop();
      return rows;
    }
  }
  out["keys"] = static_cast<int64_t>(entries.size());
  out["versions"] = static_cast<int64_t>(entries.size()) * cfg.startup_versions;  // all kept
  out["tenants"] = tenants;
  out["load_seconds"] = (NowNanos() - load_start) / 1e9;
  sys.Stop();
  out["disk_mib"] = Mib(DiskBytes(dir.path()));

  const int64_t start = NowNanos();
  if (!sys.Start(dir.path())) {
    Fail(sys.name() + " did not start again on its data");
    return rows;
  }
  out["start_seconds"] = (NowNanos() - start) / 1e9;
  if (!sys.Connect(1)) {
    Fail(sys.name() + ": connect after the restart");
  } else {
    std::promise<grpc::Status> read;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    sys.StartRead(0, &ctx, names.back(), "svc", per_tenant,
                  [&read](grpc::Status st) { read.set_value(std::move(st)); });
    const grpc::Status st = read.get_future().get();
    if (!st.ok()) {
      Fail(absl::StrCat(sys.name(), " after the restart: a tenant's keys did not come back: ",
                        st.error_message()));
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the start-up's garbage go
  const int64_t rss = sys.RssBytes();
  out["rss_mib"] = Mib(rss);
  out["rss_bytes_per_key"] = static_cast<double>(rss) / static_cast<double>(entries.size());
  out["peak_rss_mib"] = Mib(sys.PeakRssBytes());
  sys.Stop();
  return rows;
}

// ------------------------------------------------------------------------------ reporting

struct RowInfo {
  std::string id;
  std::string title;
  std::string unit;     // of per_second
  std::string ceiling;  // the ceiling row to read the throughput against, or ""
};

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The median over runs of runs[i]["rows"][row][system][field], NAN if absent everywhere.
double MedianOf(const json& runs, const std::string& row, const std::string& system,
                const std::string& field) {
  std::vector<double> v;
  for (const auto& r : runs) {
    const json& rows = r["rows"];
    if (rows.contains(row) && rows[row].contains(system) && rows[row][system].contains(field)) {
      v.push_back(rows[row][system][field].get<double>());
    }
  }
  return Median(v);
}

// The median over runs of the per-run ratio a/b of a field between two systems.
double MedianRatio(const json& runs, const std::string& row, const std::string& a,
                   const std::string& b, const std::string& field) {
  std::vector<double> v;
  for (const auto& r : runs) {
    const json& rows = r["rows"];
    if (!rows.contains(row) || !rows[row].contains(a) || !rows[row].contains(b)) continue;
    if (!rows[row][a].contains(field) || !rows[row][b].contains(field)) continue;
    const double x = rows[row][a][field].get<double>(), y = rows[row][b][field].get<double>();
    if (y > 0) v.push_back(x / y);
  }
  return Median(v);
}

std::string Num(double v, int digits = 1) {
  if (std::isnan(v)) return "-";
  if (std::fabs(v) >= 10000) return absl::StrFormat("%.1fk", v / 1000);
  return absl::StrFormat("%.*f", digits, v);
}
std::string Ratio(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.2fx", v); }

std::string ReadFirstLine(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[512];
    if (fgets(buf, sizeof(buf), p)) out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

json Machine() {
  json m;
  m["cores"] = std::thread::hardware_concurrency();
  m["cpu"] = ReadFirstLine("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'");
  m["memory"] =
      ReadFirstLine("grep MemTotal /proc/meminfo | awk '{printf \"%.0f GiB\", $2/1048576}'");
  const char* tmp = getenv("TMPDIR");
  const std::string dir = tmp && *tmp ? tmp : "/tmp";
  const std::string dev = ReadFirstLine("df --output=source " + dir + " | tail -1");
  const std::string fs = ReadFirstLine("df --output=fstype " + dir + " | tail -1");
  const std::string base = dev.substr(dev.rfind('/') + 1);
  const std::string rot =
      ReadFirstLine("cat /sys/class/block/" + base + "/queue/rotational 2>/dev/null");
  m["disk"] = absl::StrCat(dev, " (", fs,
                           rot == "0"   ? ", non-rotational"
                           : rot == "1" ? ", rotational"
                                        : "",
                           ") holding ", dir);
  m["kernel"] = ReadFirstLine("uname -r");
  return m;
}

std::string Today() {
  char buf[32];
  const time_t now = time(nullptr);
  strftime(buf, sizeof(buf), "%Y-%m-%d", gmtime(&now));
  return buf;
}

std::vector<RowInfo> Rows(const Config& cfg) {
  std::vector<RowInfo> rows = {
      {"clients_1", "gRPC no-op unary, 1 client (ceiling)", "calls/s", ""},
      {"clients_n",
       absl::StrFormat("gRPC no-op unary, %d clients / %d conns (ceiling)", cfg.clients,
                       cfg.connections),
       "calls/s", ""},
      {"put_1", "durable put, 1 client", "puts/s", "clients_1"},
      {"put_n", absl::StrFormat("durable put, %d clients / %d conns", cfg.clients, cfg.connections),
       "puts/s", "clients_n"},
      {"read",
       absl::StrFormat("read %d-key view: Resolve vs serializable Range, %d clients", cfg.read_keys,
                       cfg.clients),
       "reads/s", "clients_n"},
      {"many_read",
       absl::StrFormat("same read over %d tenants x %d services x %d keys", cfg.tenants,
                       cfg.services, cfg.read_keys),
       "reads/s", "clients_n"}};
  for (int n : cfg.subscribers) {
    rows.push_back({absl::StrCat("fanout_", n),
                    absl::StrFormat("watch fan-out, %d subscribers, %d writes at %d/s", n,
                                    FanoutWrites(cfg, n), cfg.fanout_rate),
                    "events/s", ""});
  }
  for (int n : cfg.pod_subscribers) {
    for (int rate : cfg.pod_rates) {
      rows.push_back({PodRow(n, rate),
                      absl::StrFormat("watch fan-out, %d pods (a connection each), %d writes "
                                      "at %d/s",
                                      n, PodWrites(cfg, n, rate), rate),
                      "events/s", ""});
    }
  }
  for (int n : cfg.fanout_shared ? cfg.subscribers : std::vector<int>{}) {
    rows.push_back(
        {absl::StrCat("fanout_shared_", n),
         absl::StrFormat("watch fan-out, %d subscribers sharing %d streams (one per "
                         "connection, distinct views), %d writes at %d/s",
                         n, cfg.fanout_connections, FanoutWrites(cfg, n), cfg.fanout_rate),
         "events/s", ""});
  }
  return rows;
}

const char* const kSystems[] = {"confcenterd", "etcd"};
const char* const kSecureSystems[] = {"confcenterd-secure", "etcd-secure"};

std::string MarkdownReport(const json& doc, const Config& cfg) {
  const json& runs = doc["runs"];
  std::string md;
  const json& m = doc["machine"];
  absl::StrAppendFormat(&md,
                        "Measured %s on %d cores (%s), %s RAM, disk %s; %s; %d run(s), "
                        "medians shown. Command: `%s`\n\n",
                        doc["date"].get<std::string>(), m["cores"].get<int>(),
                        m["cpu"].get<std::string>(), m["memory"].get<std::string>(),
                        m["disk"].get<std::string>(), doc["etcd_version"].get<std::string>(),
                        static_cast<int>(runs.size()), doc["command"].get<std::string>());
  md +=
      "| workload | server | throughput | p50 ms | p99 ms | peak RSS MiB | server CPU µs/op | of "
      "gRPC ceiling |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const RowInfo& row : Rows(cfg)) {
    const bool ceiling = row.id.rfind("clients_", 0) == 0;
    std::vector<std::string> systems = ceiling ? std::vector<std::string>{"grpc-noop"}
                                               : std::vector<std::string>{kSystems[0], kSystems[1]};
    bool any = false;
    for (const std::string& sys : systems) {
      const double tput = MedianOf(runs, row.id, sys, "per_second");
      const double rss = MedianOf(runs, row.id, sys, "peak_rss_mib");
      if (std::isnan(tput) && std::isnan(rss)) continue;
      const double ceil =
          row.ceiling.empty() ? NAN : MedianOf(runs, row.ceiling, "grpc-noop", "per_second");
      absl::StrAppendFormat(&md, "| %s | %s | %s %s | %s | %s | %s | %s | %s |\n",
                            any ? "" : row.title, sys, Num(tput, 0), row.unit,
                            Num(MedianOf(runs, row.id, sys, "p50_ms"), 2),
                            Num(MedianOf(runs, row.id, sys, "p99_ms"), 2), Num(rss, 0),
                            Num(MedianOf(runs, row.id, sys, "cpu_us_per_op"), 2),
                            std::isnan(ceil) ? "-" : absl::StrFormat("%.0f%%", 100 * tput / ceil));
      any = true;
    }
    if (!ceiling && any) {
      auto r = [&](const char* f) {
        return Ratio(MedianRatio(runs, row.id, kSystems[0], kSystems[1], f));
      };
      absl::StrAppendFormat(&md, "| | **confcenter/etcd** | **%s** | %s | %s | %s | %s | |\n",
                            r("per_second"), r("p50_ms"), r("p99_ms"), r("peak_rss_mib"),
                            r("cpu_us_per_op"));
    }
  }
  md +=
      "\nFan-out deliveries: events counted (one per subscriber reached) beside the messages "
      "the server sent (a shared stream's message may reach many views), and the server's CPU "
      "time (utime + stime, /proc) from the first write to the last event:\n\n"
      "| row | server | events | messages | CPU µs/event | CPU µs/message | KiB per subscriber "
      "with its connection |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const RowInfo& row : Rows(cfg)) {
    if (row.unit != "events/s") continue;
    for (const char* sys : kSystems) {
      const double events = MedianOf(runs, row.id, sys, "events");
      if (std::isnan(events)) continue;
      absl::StrAppendFormat(
          &md, "| %s | %s | %s | %s | %s | %s | %s |\n", row.id, sys, Num(events, 0),
          Num(MedianOf(runs, row.id, sys, "messages"), 0),
          Num(MedianOf(runs, row.id, sys, "cpu_us_per_op"), 2),
          Num(MedianOf(runs, row.id, sys, "cpu_us_per_message"), 2),
          Num(MedianOf(runs, row.id, sys, "kib_per_subscriber_with_connections")));
    }
  }
  if (!std::isnan(MedianOf(runs, "startup", kSystems[0], "start_seconds")) ||
      !std::isnan(MedianOf(runs, "startup", kSystems[1], "start_seconds"))) {
    md += absl::StrFormat(
        "\nStart-up with %d keys over %d tenants, each written %d times (every version "
        "kept): loaded, stopped, started again on the same data.\n\n"
        "| server | load s | disk MiB | start to serving s | RSS MiB | RSS bytes per key |\n"
        "|---|---|---|---|---|---|\n",
        cfg.startup_keys, cfg.startup_tenants, cfg.startup_versions);
    for (const char* sys : kSystems) {
      absl::StrAppendFormat(&md, "| %s | %s | %s | %s | %s | %s |\n", sys,
                            Num(MedianOf(runs, "startup", sys, "load_seconds")),
                            Num(MedianOf(runs, "startup", sys, "disk_mib"), 0),
                            Num(MedianOf(runs, "startup", sys, "start_seconds"), 2),
                            Num(MedianOf(runs, "startup", sys, "rss_mib"), 0),
                            Num(MedianOf(runs, "startup", sys, "rss_bytes_per_key"), 0));
    }
  }
  md +=
      "\nServer memory per idle subscriber (RSS growth once every subscription is open, "
      "divided by their number):\n\n"
      "| subscribers | confcenterd KiB | etcd KiB | bare gRPC stream KiB | confcenterd beyond gRPC "
      "KiB |\n"
      "|---|---|---|---|---|\n";
  for (int n : cfg.subscribers) {
    const std::string id = absl::StrCat("fanout_", n);
    const double cc = MedianOf(runs, id, "confcenterd", "idle_kib_per_subscriber");
    const double grpc = MedianOf(runs, id, "grpc-noop", "idle_kib_per_subscriber");
    absl::StrAppendFormat(&md, "| %d | %s | %s | %s | %s |\n", n, Num(cc),
                          Num(MedianOf(runs, id, "etcd", "idle_kib_per_subscriber")), Num(grpc),
                          Num(cc - grpc));
  }
  md +=
      "\nTargets (ratios within one run, median over runs):\n\n"
      "| target | measured | verdict |\n|---|---|---|\n";
  auto target = [&](const std::string& what, double v, double goal, bool at_least,
                    const std::string& fmt_unit) {
    std::string verdict = "-";
    if (!std::isnan(v)) {
      const bool hit = at_least ? v >= goal : v <= goal;
      verdict =
          hit ? "met"
              : absl::StrFormat("missed: %s",
                                at_least ? absl::StrFormat("%.0f%% short", 100 * (1 - v / goal))
                                         : absl::StrFormat("%.0f%% over", 100 * (v / goal - 1)));
    }
    absl::StrAppendFormat(&md, "| %s | %s | %s |\n", what,
                          std::isnan(v) ? "-" : absl::StrFormat("%.2f%s", v, fmt_unit), verdict);
  };
  target(absl::StrFormat("durable put at %d clients >= 1.5x etcd (2x the aim)", cfg.clients),
         MedianRatio(runs, "put_n", kSystems[0], kSystems[1], "per_second"), 1.5, true, "x");
  target(absl::StrFormat("server CPU per put at %d clients <= 1x etcd's", cfg.clients),
         MedianRatio(runs, "put_n", kSystems[0], kSystems[1], "cpu_us_per_op"), 1, false, "x");
  if (!cfg.pod_rates.empty()) {
    const int realistic = *std::min_element(cfg.pod_rates.begin(), cfg.pod_rates.end());
    const int saturation = *std::max_element(cfg.pod_rates.begin(), cfg.pod_rates.end());
    for (int n : cfg.pod_subscribers) {
      target(absl::StrFormat("fan-out p99, %d pods at %d writes/s <= 0.5x etcd", n, realistic),
             MedianRatio(runs, PodRow(n, realistic), kSystems[0], kSystems[1], "p99_ms"), 0.5,
             false, "x");
      target(absl::StrFormat("server CPU per delivered event, %d pods at %d writes/s <= 0.5x "
                             "etcd's",
                             n, saturation),
             MedianRatio(runs, PodRow(n, saturation), kSystems[0], kSystems[1], "cpu_us_per_op"),
             0.5, false, "x");
      if (saturation != realistic) {
        target(absl::StrFormat("events/s, %d pods at %d writes/s (saturation) >= 1.5x etcd", n,
                               saturation),
               MedianRatio(runs, PodRow(n, saturation), kSystems[0], kSystems[1], "per_second"),
               1.5, true, "x");
      }
    }
  }
  target("start-up to serving <= 1x etcd's",
         MedianRatio(runs, "startup", kSystems[0], kSystems[1], "start_seconds"), 1, false, "x");
  target("RSS per stored key after start-up <= 1x etcd's",
         MedianRatio(runs, "startup", kSystems[0], kSystems[1], "rss_bytes_per_key"), 1, false,
         "x");
  target("Resolve >= 3x etcd Range throughput",
         MedianRatio(runs, "read", kSystems[0], kSystems[1], "per_second"), 3, true, "x");
  if (!cfg.subscribers.empty()) {
    const std::string id = absl::StrCat("fanout_", cfg.subscribers[0]);
    target(absl::StrFormat("fan-out p99 at %d subscribers <= 0.5x etcd", cfg.subscribers[0]),
           MedianRatio(runs, id, kSystems[0], kSystems[1], "p99_ms"), 0.5, false, "x");
    if (cfg.fanout_shared) {
      target(absl::StrFormat("fan-out p99 at %d subscribers <= 0.5x etcd, sharing a stream per "
                             "connection",
                             cfg.subscribers[0]),
             MedianRatio(runs, absl::StrCat("fanout_shared_", cfg.subscribers[0]), kSystems[0],
                         kSystems[1], "p99_ms"),
             0.5, false, "x");
    }
    target(absl::StrFormat("idle subscriber <= 4 KiB beyond gRPC's own (%d subscribers)",
                           cfg.subscribers[0]),
           MedianOf(runs, id, "confcenterd", "idle_kib_per_subscriber") -
               MedianOf(runs, id, "grpc-noop", "idle_kib_per_subscriber"),
           4, false, " KiB");
  }
  return md;
}

// --secure: each server with TLS + authentication against itself without, and the secure
// servers against each other (ratios within one run, median over runs).
std::string SecureReport(const json& doc, const Config& cfg) {
  const json& runs = doc["runs"];
  std::string md =
      "\nTLS + authentication (--secure; confcenterd: TLS, --auth_policy, an RS256 JWT as "
      "bearer token on every call; etcd: client TLS, auth enabled, root's simple token on every "
      "call; all four servers' windows interleaved):\n\n"
      "| workload | confcenterd | confcenterd TLS+JWT | confcenter cost | etcd | etcd TLS+auth "
      "| etcd cost | secure confcenter/etcd |\n"
      "|---|---|---|---|---|---|---|---|\n";
  auto cell = [&](const std::string& row, const char* sys) {
    const double tput = MedianOf(runs, row, sys, "per_second");
    if (std::isnan(tput)) return std::string("-");
    return absl::StrFormat("%s/s, p50 %s ms", Num(tput, 0),
                           Num(MedianOf(runs, row, sys, "p50_ms"), 2));
  };
  auto cost = [&](const std::string& row, const char* secure, const char* plain) {
    const double r = MedianRatio(runs, row, secure, plain, "per_second");
    return std::isnan(r) ? std::string("-") : absl::StrFormat("%.1f%%", 100 * (1 - r));
  };
  for (const RowInfo& row : Rows(cfg)) {
    if (row.id != "put_1" && row.id != "put_n" && row.id != "read") continue;
    if (!runs.empty() && !runs[0]["rows"].contains(row.id)) continue;
    absl::StrAppendFormat(
        &md, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", row.title, cell(row.id, kSystems[0]),
        cell(row.id, kSecureSystems[0]), cost(row.id, kSecureSystems[0], kSystems[0]),
        cell(row.id, kSystems[1]), cell(row.id, kSecureSystems[1]),
        cost(row.id, kSecureSystems[1], kSystems[1]),
        Ratio(MedianRatio(runs, row.id, kSecureSystems[0], kSecureSystems[1], "per_second")));
  }
  md += "\n(cost: 1 - secure/plain throughput, per run, median over runs)\n\n";
  md += "| target | measured | verdict |\n|---|---|---|\n";
  for (const char* row : {"put_n", "read"}) {
    const double r = MedianRatio(runs, row, kSecureSystems[0], kSystems[0], "per_second");
    if (std::isnan(r)) continue;
    const double c = 100 * (1 - r);
    absl::StrAppendFormat(
        &md, "| confcenter TLS+JWT costs < 15%% of %s throughput | %.1f%% | %s |\n", row, c,
        c < 15 ? "met" : absl::StrFormat("missed: %.1f points over", c - 15));
  }
  return md;
}

// A gnuplot PNG of the fan-out latency percentiles of the last run. False if gnuplot fails.
bool Plot(const json& doc, const Config& cfg, const std::string& png) {
  const json& rows = doc["runs"].back()["rows"];
  testing::TempDir dir;
  std::string script = absl::StrFormat(
      "set terminal pngcairo size 900,620 font ',10'\nset output '%s'\n"
      "set title 'Watch fan-out: end-to-end latency percentiles (%s, %d cores)'\n"
      "set xlabel 'percentile'\nset ylabel 'latency, ms'\nset logscale y\nset grid\n"
      "set key below\nset xrange [0.25:3.05]\n"
      "set xtics ('p50' 0.301, 'p90' 1, 'p95' 1.301, 'p99' 2, 'p99.9' 3)\nplot ",
      png, doc["date"].get<std::string>(), doc["machine"]["cores"].get<int>());
  std::vector<std::string> plots;
  int file = 0;
  std::vector<std::pair<std::string, std::string>> plotted;  // (row, label)
  for (int n : cfg.subscribers) {
    plotted.push_back({absl::StrCat("fanout_", n), absl::StrCat(n, " subscribers")});
  }
  for (int n : cfg.fanout_shared ? cfg.subscribers : std::vector<int>{}) {
    plotted.push_back({absl::StrCat("fanout_shared_", n),
                       absl::StrCat(n, " sharing ", cfg.fanout_connections, " streams")});
  }
  for (const auto& [id, label] : plotted) {
    if (!rows.contains(id)) continue;
    for (const char* sys : kSystems) {
      if (!rows[id].contains(sys) || !rows[id][sys].contains("quantiles_ms")) continue;
      const std::string data = absl::StrCat(dir.path(), "/", file++, ".dat");
      std::ofstream out(data);
      for (const auto& q : rows[id][sys]["quantiles_ms"]) {
        out << -std::log10(1 - q[0].get<double>()) << " " << q[1].get<double>() << "\n";
      }
      plots.push_back(
          absl::StrFormat("'%s' using 1:2 with linespoints lw 2 title '%s, %s'", data, sys, label));
    }
  }
  if (plots.empty()) return false;
  script += absl::StrJoin(plots, ", ") + "\n";
  const std::string script_path = dir.path() + "/plot.gp";
  std::ofstream(script_path) << script;
  return system(("gnuplot " + script_path).c_str()) == 0;
}

// ------------------------------------------------------------------------------- the run

// Starts every server of `systems` fresh (a data dir each), runs `body` while all of them
// serve, then stops them. `body` returns its figures keyed by row, then by server name.
void OnAllFresh(const std::vector<System*>& systems, json* doc_rows,
                const std::function<json(const std::vector<System*>&)>& body) {
  std::vector<std::unique_ptr<testing::TempDir>> dirs;
  const int64_t t0 = NowNanos();
  bool started = true;
  for (System* sys : systems) {
    dirs.push_back(std::make_unique<testing::TempDir>());
    if (!sys->Start(dirs.back()->path())) {
      Fail(sys->name() + " did not start");
      started = false;
      break;
    }
  }
  const int64_t t1 = NowNanos();
  json rows = started ? body(systems) : json::object();
  const int64_t t2 = NowNanos();
  for (System* sys : systems) sys->Stop();
  const int64_t t3 = NowNanos();
  std::printf("    %s: start %.1f s, workload %.1f s%s, stop %.1f s\n",
              absl::StrJoin(systems, " + ",
                            [](std::string* out, const System* s) { out->append(s->name()); })
                  .c_str(),
              (t1 - t0) / 1e9, (t2 - t1) / 1e9, systems.size() > 1 ? " (interleaved)" : "",
              (t3 - t2) / 1e9);
  for (auto& [row, by_system] : rows.items()) {
    for (auto& [name, figures] : by_system.items()) (*doc_rows)[row][name] = figures;
  }
}

// OnAllFresh for one server: `body` returns its rows keyed by row only.
void OnFresh(System& sys, json* doc_rows, const std::function<json(System&)>& body) {
  OnAllFresh({&sys}, doc_rows, [&](const std::vector<System*>&) {
    json keyed = json::object();
    json rows = body(sys);
    for (auto& [row, figures] : rows.items()) keyed[row][sys.name()] = figures;
    return keyed;
  });
}

void PrintProgress(const json& rows, const std::string& row) {
  if (!rows.contains(row)) return;
  for (auto& [sys, f] : rows[row].items()) {
    std::printf(
        "  %-10s %-12s %10s/s  p50 %7s ms  p99 %7s ms  peak RSS %6s MiB%s\n", row.c_str(),
        sys.c_str(), f.contains("per_second") ? Num(f["per_second"].get<double>(), 0).c_str() : "-",
        f.contains("p50_ms") ? Num(f["p50_ms"].get<double>(), 2).c_str() : "-",
        f.contains("p99_ms") ? Num(f["p99_ms"].get<double>(), 2).c_str() : "-",
        f.contains("peak_rss_mib") ? Num(f["peak_rss_mib"].get<double>(), 0).c_str() : "-",
        f.contains("idle_kib_per_subscriber")
            ? absl::StrFormat("  idle %.1f KiB/sub", f["idle_kib_per_subscriber"].get<double>())
                  .c_str()
            : "");
  }
  std::fflush(stdout);
}

std::vector<int> ParseInts(const std::string& s) {
  std::vector<int> v;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int n = 0;
    if (absl::SimpleAtoi(part, &n) && n > 0) v.push_back(n);
  }
  return v;
}

int Main(int argc, char** argv) {
  Config cfg;
  const bool smoke = absl::GetFlag(FLAGS_smoke);
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  cfg.seconds = ms(absl::GetFlag(FLAGS_seconds));
  cfg.warmup = ms(absl::GetFlag(FLAGS_warmup));
  cfg.slices = std::max(1, absl::GetFlag(FLAGS_slices));
  cfg.value_bytes = absl::GetFlag(FLAGS_value_bytes);
  cfg.clients = absl::GetFlag(FLAGS_clients);
  cfg.connections = absl::GetFlag(FLAGS_connections);
  cfg.read_keys = absl::GetFlag(FLAGS_read_keys);
  cfg.subscribers = ParseInts(absl::GetFlag(FLAGS_subscribers));
  cfg.subscribers_etcd = ParseInts(absl::GetFlag(FLAGS_subscribers_etcd));
  cfg.fanout_tenants = absl::GetFlag(FLAGS_fanout_tenants);
  cfg.fanout_writes = absl::GetFlag(FLAGS_fanout_writes);
  cfg.fanout_large_writes = absl::GetFlag(FLAGS_fanout_large_writes);
  cfg.fanout_rate = absl::GetFlag(FLAGS_fanout_rate);
  cfg.fanout_warmup_writes = absl::GetFlag(FLAGS_fanout_warmup_writes);
  cfg.fanout_connections = absl::GetFlag(FLAGS_fanout_connections);
  cfg.fanout_shared = absl::GetFlag(FLAGS_fanout_shared);
  cfg.tenants = absl::GetFlag(FLAGS_tenants);
  cfg.services = absl::GetFlag(FLAGS_services);
  cfg.many_value_bytes = absl::GetFlag(FLAGS_many_value_bytes);
  cfg.load_threads = absl::GetFlag(FLAGS_load_threads);
  cfg.pod_subscribers = ParseInts(absl::GetFlag(FLAGS_pod_subscribers));
  cfg.pod_rates = ParseInts(absl::GetFlag(FLAGS_pod_rates));
  cfg.pod_seconds = std::max(1, absl::GetFlag(FLAGS_pod_seconds));
  cfg.startup_keys = absl::GetFlag(FLAGS_startup_keys);
  cfg.startup_tenants = absl::GetFlag(FLAGS_startup_tenants);
  cfg.startup_versions = std::max(1, absl::GetFlag(FLAGS_startup_versions));
  if (smoke) {  // every workload, tiny: keeps the harness working in CI
    cfg.seconds = ms(0.3);
    cfg.warmup = ms(0.1);
    cfg.slices = 2;  // still interleaved
    cfg.clients = 4;
    cfg.connections = 2;
    cfg.subscribers = {20};
    cfg.subscribers_etcd = {20};
    cfg.fanout_tenants = 2;
    cfg.fanout_writes = 5;
    cfg.fanout_rate = 50;
    cfg.fanout_warmup_writes = 1;
    cfg.fanout_connections = 2;
    cfg.ready_wait = cfg.arrival_wait = cfg.end_wait = std::chrono::seconds(15);
    cfg.trace = true;
    cfg.tenants = 3;
    cfg.services = 2;
    cfg.pod_subscribers = {20};
    cfg.pod_rates = {10, 50};
    cfg.startup_keys = 2000;
    cfg.startup_tenants = 10;
    cfg.startup_versions = 3;
  }
  // Every pod's connection is a descriptor here and in the server (which inherits the limit).
  if (rlimit files; getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) getrlimit(RLIMIT_NOFILE, &files);
    for (int n : cfg.pod_subscribers) {
      if (static_cast<rlim_t>(n) + 1000 > files.rlim_cur) {
        std::fprintf(stderr,
                     "warning: %d pods need more open files than the limit (%llu); raise it "
                     "(ulimit -Hn) or the run fails to connect\n",
                     n, static_cast<unsigned long long>(files.rlim_cur));
      }
    }
  }
  const std::vector<std::string> selected = absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',');
  auto wants = [&](const char* w) {
    return std::find(selected.begin(), selected.end(), w) != selected.end();
  };

  json doc;
  doc["date"] = Today();
  doc["machine"] = Machine();
  doc["etcd_version"] = ReadFirstLine(absl::GetFlag(FLAGS_etcd) + " --version 2>&1");
  std::vector<std::string> args(argv, argv + argc);
  args[0] = "build/confcenter_vs_etcd";
  doc["command"] = absl::StrJoin(args, " ");
  doc["runs"] = json::array();
  std::printf("confcenter_vs_etcd: %s; %s\n", doc["etcd_version"].get<std::string>().c_str(),
              smoke ? "smoke sizes" : "full sizes");

  auto cc = MakeConfcenter();
  auto etcd = MakeEtcd(absl::GetFlag(FLAGS_etcd));
  auto noop = MakeNoop();
  // --secure: the TLS + authentication variants, sharing one set of certificates and keys.
  const bool secure = absl::GetFlag(FLAGS_secure);
  testing::TempDir security_dir;
  std::unique_ptr<Security> security;
  std::unique_ptr<System> cc_secure, etcd_secure;
  if (secure) {
    security = MakeSecurity(security_dir.path());
    if (!security) {
      Fail("cannot make the certificates and keys of --secure");
      return 1;
    }
    cc_secure = MakeConfcenter(security.get());
    etcd_secure = MakeEtcd(absl::GetFlag(FLAGS_etcd), security.get());
  }
  const int runs = smoke ? 1 : std::max(1, absl::GetFlag(FLAGS_runs));
  const int64_t started = NowNanos();
  for (int run = 0; run < runs; ++run) {
    std::printf("run %d of %d\n", run + 1, runs);
    json rows = json::object();
    // Alternate which server goes first, so neither always gets the cooler machine.
    std::vector<System*> order = {cc.get(), etcd.get()};
    if (run % 2 == 1) std::swap(order[0], order[1]);
    auto both = [&](const std::function<json(const std::vector<System*>&)>& body,
                    const std::vector<std::string>& ids) {
      OnAllFresh(order, &rows, body);
      for (const auto& id : ids) PrintProgress(rows, id);
    };
    // Put and read: with --secure, each secure server next to its plain one.
    std::vector<System*> put_read = order;
    if (secure) {
      put_read.clear();
      for (System* s : order) {
        put_read.push_back(s);
        put_read.push_back(s == cc.get() ? cc_secure.get() : etcd_secure.get());
      }
    }
    auto all = [&](const std::function<json(const std::vector<System*>&)>& body,
                   const std::vector<std::string>& ids) {
      OnAllFresh(put_read, &rows, body);
      for (const auto& id : ids) PrintProgress(rows, id);
    };
    if (wants("ceiling")) {
      OnFresh(*noop, &rows, [&](System& s) { return RunCeiling(s, cfg); });
      PrintProgress(rows, "clients_1");
      PrintProgress(rows, "clients_n");
    }
    if (wants("put"))
      all([&](const std::vector<System*>& s) { return RunPut(s, cfg); }, {"put_1", "put_n"});
    if (wants("read")) {
      all(
          [&](const std::vector<System*>& s) {
            return RunRead(s, cfg, 1, 1, cfg.value_bytes, "read");
          },
          {"read"});
    }
    // The servers of a fan-out of n subscribers, in this run's order: etcd only at the sizes
    // of --subscribers_etcd.
    auto fanout_systems = [&](int n) {
      const bool with_etcd = std::find(cfg.subscribers_etcd.begin(), cfg.subscribers_etcd.end(),
                                       n) != cfg.subscribers_etcd.end();
      std::vector<System*> systems;
      for (System* s : order) {
        if (s != etcd.get() || with_etcd) systems.push_back(s);
      }
      return systems;
    };
    if (wants("fanout")) {
      // Every size, a stream per subscriber, then (--fanout_shared) every size again with the
      // subscribers of a connection sharing one stream.
      for (const bool shared : {false, true}) {
        if (shared && !cfg.fanout_shared) break;
        for (int n : cfg.subscribers) {
          const std::string id = absl::StrCat(shared ? "fanout_shared_" : "fanout_", n);
          const int writes = FanoutWrites(cfg, n);
          if (!shared) {  // gRPC's own per-stream memory, for the idle figures
            OnFresh(*noop, &rows, [&](System& s) {
              return RunFanout(s, cfg, n, cfg.fanout_connections, cfg.fanout_rate, 0, false, id);
            });
          }
          const std::vector<System*> systems = fanout_systems(n);
          if (shared) {
            OnAllFresh(systems, &rows, [&](const std::vector<System*>& all) {
              return RunSharedFanoutInterleaved(all, cfg, n, writes, id);
            });
          } else {
            for (System* s : systems) {
              OnFresh(*s, &rows, [&](System& sys) {
                return RunFanout(sys, cfg, n, cfg.fanout_connections, cfg.fanout_rate, writes,
                                 shared, id);
              });
            }
          }
          PrintProgress(rows, id);
        }
      }
    }
    if (wants("pods")) {
      // The pod topology: a connection per subscriber. Each server alone (the other's open
      // streams would slow the load generator), at every rate.
      for (int n : cfg.pod_subscribers) {
        for (int rate : cfg.pod_rates) {
          const std::string id = PodRow(n, rate);
          for (System* s : fanout_systems(n)) {
            OnFresh(*s, &rows, [&](System& sys) {
              return RunFanout(sys, cfg, n, n, rate, PodWrites(cfg, n, rate), false, id);
            });
          }
          PrintProgress(rows, id);
        }
      }
    }
    if (wants("startup")) {
      for (System* s : order) {
        json startup = RunStartup(*s, cfg);
        for (auto& [row, figures] : startup.items()) rows[row][s->name()] = figures;
      }
      if (rows.contains("startup")) {
        for (auto& [sys, f] : rows["startup"].items()) {
          std::printf(
              "  startup    %-12s load %s s, %s MiB on disk, start %s s, RSS %s MiB (%s B/key)\n",
              sys.c_str(), Num(f.value("load_seconds", NAN)).c_str(),
              Num(f.value("disk_mib", NAN), 0).c_str(),
              Num(f.value("start_seconds", NAN), 2).c_str(),
              Num(f.value("rss_mib", NAN), 0).c_str(),
              Num(f.value("rss_bytes_per_key", NAN), 0).c_str());
        }
      }
    }
    if (wants("many")) {
      both(
          [&](const std::vector<System*>& s) {
            return RunRead(s, cfg, cfg.tenants, cfg.services, cfg.many_value_bytes, "many_read");
          },
          {"many_read"});
    }
    doc["runs"].push_back({{"order", {order[0]->name(), order[1]->name()}}, {"rows", rows}});
  }
  doc["seconds"] = (NowNanos() - started) / 1e9;
  doc["failures"] = g_failures;

  // Medians over the runs, for readers of the JSON.
  json medians;
  for (const RowInfo& row : Rows(cfg)) {
    for (const char* sys :
         {"confcenterd", "etcd", "grpc-noop", "confcenterd-secure", "etcd-secure"}) {
      for (const char* f : {"per_second", "p50_ms", "p99_ms", "peak_rss_mib",
                            "idle_kib_per_subscriber", "cpu_us_per_op", "messages"}) {
        const double v = MedianOf(doc["runs"], row.id, sys, f);
        if (!std::isnan(v)) medians[row.id][sys][f] = v;
      }
    }
    for (const char* f : {"per_second", "p50_ms", "p99_ms", "peak_rss_mib", "cpu_us_per_op"}) {
      const double v = MedianRatio(doc["runs"], row.id, "confcenterd", "etcd", f);
      if (!std::isnan(v)) medians[row.id]["confcenter/etcd"][f] = v;
      const std::pair<const char*, std::pair<const char*, const char*>> secure_ratios[] = {
          {"confcenter-secure/confcenter", {"confcenterd-secure", "confcenterd"}},
          {"etcd-secure/etcd", {"etcd-secure", "etcd"}},
          {"confcenter-secure/etcd-secure", {"confcenterd-secure", "etcd-secure"}}};
      for (const auto& [name, pair] : secure_ratios) {
        const double r = MedianRatio(doc["runs"], row.id, pair.first, pair.second, f);
        if (!std::isnan(r)) medians[row.id][name][f] = r;
      }
    }
  }
  for (const char* sys : kSystems) {
    for (const char* f :
         {"load_seconds", "disk_mib", "start_seconds", "rss_mib", "rss_bytes_per_key"}) {
      const double v = MedianOf(doc["runs"], "startup", sys, f);
      if (!std::isnan(v)) medians["startup"][sys][f] = v;
    }
  }
  doc["medians"] = medians;

  const std::string md = MarkdownReport(doc, cfg) + (secure ? SecureReport(doc, cfg) : "");
  std::printf("\n%s\nTotal %.0f s, %d failure(s).\n", md.c_str(), doc["seconds"].get<double>(),
              g_failures);
  if (!absl::GetFlag(FLAGS_json).empty())
    std::ofstream(absl::GetFlag(FLAGS_json)) << doc.dump(2) << "\n";
  if (!absl::GetFlag(FLAGS_markdown).empty()) std::ofstream(absl::GetFlag(FLAGS_markdown)) << md;
  if (!absl::GetFlag(FLAGS_plot).empty()) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
      std::fprintf(stderr, "no plot: gnuplot is not installed (apt-get install gnuplot-nox)\n");
    } else if (!Plot(doc, cfg, absl::GetFlag(FLAGS_plot))) {
      std::fprintf(stderr, "no plot: gnuplot failed or there were no fan-out figures\n");
    }
  }
  return g_failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Line by line even into a pipe (ctest's log), so a run that stalls shows how far it got.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return confcenter::bench::Main(argc, argv);
}
