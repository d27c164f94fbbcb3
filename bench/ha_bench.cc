// confcenter_ha_bench: two stateless confcenterd replicas (--store=etcd) on one 3-member etcd
// cluster, against that cluster's own API, in one run (see bench/README.md):
//   1. durable put, clients spread over both replicas / over the 3 members;
//   2. Resolve of a 50-key branch view / serializable Range of the 50 keys;
//   3. watch fan-out to subscribers split over both replicas (writes through one) / etcd
//      watchers split over the members, at two write rates;
//   4. failover: subscribers on replica A (client library, target A then B), a writer on B,
//      kill -9 A: time to the first event after the kill, and every revision exactly once.
// Everything runs on loopback; every wait is bounded.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/bench_process.h"
#include "bench/load_gen.h"
#include "bench/systems.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "tests/etcd_cluster.h"
#include "tests/test_util.h"

ABSL_FLAG(bool, smoke, false, "Tiny sizes (finishes in < 40 s); fails on any error.");
ABSL_FLAG(double, seconds, 5.0, "Measured window of each phase, in seconds.");
ABSL_FLAG(double, warmup, 0.5, "Warm-up before each throughput window, in seconds.");
ABSL_FLAG(std::string, markdown, "", "Write the Markdown tables here.");
ABSL_FLAG(int, clients, 100, "Concurrent clients of put and read.");
ABSL_FLAG(int, connections, 10, "Connections the put and read clients are spread over.");
ABSL_FLAG(int, value_bytes, 256, "Value size.");
ABSL_FLAG(int, read_keys, 50, "Keys of the service that read resolves (half overridden).");
ABSL_FLAG(int, subscribers, 1000, "Fan-out subscribers (and etcd watchers).");
ABSL_FLAG(int, fanout_tenants, 10, "Branch tenants the fan-out subscribers follow.");
ABSL_FLAG(int, fanout_connections, 20, "Connections the fan-out subscribers share.");
ABSL_FLAG(std::string, fanout_rates, "10,100", "Fan-out write rates (writes/s).");
ABSL_FLAG(bool, fanout_etcd, true, "Also measure the fan-out to etcd watchers.");
ABSL_FLAG(int, failover_subscribers, 200, "Subscribers of the failover phase.");
ABSL_FLAG(int, failover_rate, 100, "Writes/s on replica B during the failover phase.");
ABSL_FLAG(std::string, workloads, "put,read,fanout,failover",
          "Phases to run, comma-separated (put, read, fanout, failover).");

namespace confcenter::bench {
namespace {

using testing::EtcdCluster;
using testing::ServerProcess;

constexpr int kTxnOps = 1024;
constexpr int kRequestBytes = 8388608;

struct Config {
  std::chrono::milliseconds seconds{5000};
  std::chrono::milliseconds warmup{500};
  int clients = 100;
  int connections = 10;
  int value_bytes = 256;
  int read_keys = 50;
  int subscribers = 1000;
  int fanout_tenants = 10;
  int fanout_connections = 20;
  std::vector<int> fanout_rates;
  bool fanout_etcd = true;
  int failover_subscribers = 200;
  int failover_rate = 100;
};

int g_failures = 0;
void Fail(const std::string& what) {
  ++g_failures;
  std::fprintf(stderr, "FAILURE: %s\n", what.c_str());
}

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

// Several servers as one System-like target: connection ch goes to servers[ch % n], as
// their connection ch / n. Clients spread over connections spread over servers.
class Spread {
 public:
  explicit Spread(std::vector<System*> servers) : servers_(std::move(servers)) {}
  bool Connect(int channels) {
    const int n = static_cast<int>(servers_.size());
    for (System* s : servers_) {
      if (!s->Connect((channels + n - 1) / n)) return false;
    }
    return true;
  }
  System& at(int ch) const { return *servers_[ch % servers_.size()]; }
  int inner(int ch) const { return ch / static_cast<int>(servers_.size()); }
  System& front() const { return *servers_.front(); }
  const std::vector<System*>& servers() const { return servers_; }

 private:
  std::vector<System*> servers_;
};

LoadOptions Options(const Config& cfg, int clients, int connections) {
  LoadOptions o;
  o.channels = std::min(clients, connections);
  o.per_channel = std::max(1, clients / o.channels);
  o.warmup = cfg.warmup;
  o.measure = cfg.seconds;
  return o;
}

// The server processes whose CPU time a window is charged with: the confcenterd replicas
// and the etcd members under a confcenterd workload, the members alone under etcd's.
struct ServerPids {
  std::vector<int> replicas;
  std::vector<int> members;
};

double CpuSeconds(const std::vector<int>& pids) {
  double total = 0;
  for (int pid : pids) total += ProcCpuSeconds(pid);
  return total;
}

// CPU seconds the servers used over the counted windows of one workload.
struct WindowCpu {
  std::vector<int> replicas, members;  // whose CPU is counted
  double replica_seconds = 0, member_seconds = 0;
};

// The window of each starter, cut in two halves run A B then B A (this VM's speed drifts).
// `cpu[i]`, when given, accumulates the CPU time of its processes over starter i's windows.
std::vector<LoadResult> Interleaved(const Config& cfg, const std::vector<CallStarter>& starts,
                                    std::vector<WindowCpu>* cpu = nullptr) {
  std::vector<LoadResult> totals(starts.size());
  for (int slice = 0; slice < 2; ++slice) {
    for (size_t k = 0; k < starts.size(); ++k) {
      const size_t i = slice == 0 ? k : starts.size() - 1 - k;
      LoadOptions o = Options(cfg, cfg.clients, cfg.connections);
      if (slice > 0) o.warmup = std::min(o.warmup, std::chrono::milliseconds(200));
      o.measure = cfg.seconds / 2;
      double replicas_at_start = 0, members_at_start = 0;
      if (cpu != nullptr) {
        WindowCpu* w = &(*cpu)[i];
        o.on_window_start = [w, &replicas_at_start, &members_at_start] {
          replicas_at_start = CpuSeconds(w->replicas);
          members_at_start = CpuSeconds(w->members);
        };
        o.on_window_end = [w, &replicas_at_start, &members_at_start] {
          w->replica_seconds += CpuSeconds(w->replicas) - replicas_at_start;
          w->member_seconds += CpuSeconds(w->members) - members_at_start;
        };
      }
      MergeSlice(RunClosedLoop(o, starts[i]), &totals[i]);
    }
  }
  return totals;
}

// "replicas R + etcd E = T" microseconds of server CPU per completed call.
std::string CpuPerCall(const WindowCpu& w, int64_t calls) {
  if (calls == 0) return "-";
  const double r = w.replica_seconds * 1e6 / calls, m = w.member_seconds * 1e6 / calls;
  if (w.replicas.empty()) return absl::StrFormat("%.0f", m);
  return absl::StrFormat("%.0f + %.0f = %.0f", r, m, r + m);
}
double CpuTotal(const WindowCpu& w, int64_t calls) {
  return calls == 0 ? 0 : (w.replica_seconds + w.member_seconds) * 1e6 / calls;
}

void CheckLoad(const LoadResult& r, const std::string& what) {
  if (r.failed > 0)
    Fail(absl::StrCat(what, ": ", r.failed, " calls failed, first: ", r.first_error));
  if (r.completed == 0) Fail(absl::StrCat(what, ": no call completed"));
}

// Retries `attempt` every 100 ms until it succeeds, at most 10 s: what a write through one
// replica takes to be seen by the other (it learns of it through etcd's watch).
bool Eventually(const std::function<grpc::Status()>& attempt, const std::string& what) {
  grpc::Status st;
  for (int i = 0; i < 100; ++i) {
    st = attempt();
    if (st.ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Fail(absl::StrCat(what, ": ", st.error_code(), " ", st.error_message()));
  return false;
}

// A blocking read through the load generator's asynchronous call.
grpc::Status ReadOnce(System& sys, const std::string& tenant, const std::string& service,
                      int expected) {
  if (!sys.Connect(1)) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::promise<grpc::Status> done;
  sys.StartRead(0, &ctx, tenant, service, expected,
                [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

struct Row {
  std::string title;
  std::string cc, etcd, ratio;
};

std::string Num(double v, int digits = 1) { return absl::StrFormat("%.*f", digits, v); }
std::string Ratio(double a, double b) { return b > 0 ? absl::StrFormat("%.2fx", a / b) : "-"; }
std::string Lat(const LatencySummary& l) {
  return absl::StrFormat("%.2f / %.2f", l.p50_ms, l.p99_ms);
}

// ---------------------------------------------------------------------------- 1. put

// `cc_one`: the same clients all on replica A, to tell the replicas' contention apart.
void RunPut(const Config& cfg, const ServerPids& pids, Spread& cc, Spread& cc_one, Spread& etcd,
            std::vector<Row>* rows) {
  const auto value = std::make_shared<const std::string>(std::string(cfg.value_bytes, 'v'));
  std::vector<CallStarter> starts;
  int tag = 0;
  for (Spread* sp : {&cc, &etcd, &cc_one}) {
    if (!sp->Connect(cfg.connections)) {
      Fail(sp->front().name() + ": put connect");
      return;
    }
    // Distinct keys: 32 bytes, the starter's tag, the client's index and its own sequence.
    auto seq = std::make_shared<std::vector<int64_t>>(cfg.clients + 1, 0);
    const int base = 3000 * tag++;
    starts.push_back([sp, seq, value, base](int ch, int client, grpc::ClientContext* ctx,
                                            std::function<void(grpc::Status)> d) {
      Entry e{"integration", "put",
              absl::StrFormat("key.%04d.%023d", base + client, (*seq)[client]++), *value};
      sp->at(ch).StartPut(sp->inner(ch), ctx, e, std::move(d));
    });
  }
  std::vector<WindowCpu> cpu(3);
  cpu[0] = cpu[2] = {pids.replicas, pids.members};
  cpu[1] = {{}, pids.members};
  const std::vector<LoadResult> r = Interleaved(cfg, starts, &cpu);
  CheckLoad(r[0], "confcenterd put");
  CheckLoad(r[1], "etcd put");
  CheckLoad(r[2], "confcenterd put, replica A only");
  const std::string clients = absl::StrCat(cfg.clients, " clients");
  rows->push_back({absl::StrCat("durable put, ", clients, " (puts/s)"), Num(r[0].per_second, 0),
                   Num(r[1].per_second, 0), Ratio(r[0].per_second, r[1].per_second)});
  rows->push_back({"put latency p50 / p99 (ms)", Lat(r[0].latency), Lat(r[1].latency),
                   Ratio(r[0].latency.p99_ms, r[1].latency.p99_ms) + " (p99)"});
  rows->push_back({absl::StrCat("durable put, ", clients, " all on replica A (puts/s)"),
                   Num(r[2].per_second, 0), Num(r[1].per_second, 0),
                   Ratio(r[2].per_second, r[1].per_second)});
  rows->push_back({"put latency, all on replica A, p50 / p99 (ms)", Lat(r[2].latency),
                   Lat(r[1].latency), Ratio(r[2].latency.p99_ms, r[1].latency.p99_ms) + " (p99)"});
  rows->push_back({"server CPU per put (us): replicas + members",
                   CpuPerCall(cpu[0], r[0].completed), CpuPerCall(cpu[1], r[1].completed),
                   Ratio(CpuTotal(cpu[0], r[0].completed), CpuTotal(cpu[1], r[1].completed))});
  rows->push_back({"server CPU per put, all on replica A (us)", CpuPerCall(cpu[2], r[2].completed),
                   CpuPerCall(cpu[1], r[1].completed),
                   Ratio(CpuTotal(cpu[2], r[2].completed), CpuTotal(cpu[1], r[1].completed))});
}

// --------------------------------------------------------------------------- 2. read

void RunRead(const Config& cfg, Spread& cc, Spread& etcd, std::vector<Row>* rows) {
  // confcenter: integration holds the 50 keys of s00, the branch t0000 overrides half.
  // etcd: the view, resolved, under /t0000/s00/.
  const std::string base(cfg.value_bytes, 'i'), own(cfg.value_bytes, 'b');
  std::vector<Entry> cc_entries, etcd_entries;
  for (int k = 0; k < cfg.read_keys; ++k) {
    const std::string key = absl::StrFormat("k%02d", k);
    cc_entries.push_back({"integration", "s00", key, base});
    if (k % 2 == 0) cc_entries.push_back({"t0000", "s00", key, own});
    etcd_entries.push_back({"t0000", "s00", key, k % 2 == 0 ? own : base});
  }
  if (!cc.front().WriteBatch(cc_entries).ok() || !etcd.front().WriteBatch(etcd_entries).ok()) {
    Fail("read set-up");
    return;
  }
  for (Spread* sp : {&cc, &etcd}) {  // every server sees the whole view before the window
    for (System* s : sp->servers()) {
      if (!Eventually([&] { return ReadOnce(*s, "t0000", "s00", cfg.read_keys); },
                      s->name() + " read set-up")) {
        return;
      }
    }
  }
  std::vector<CallStarter> starts;
  for (Spread* sp : {&cc, &etcd}) {
    if (!sp->Connect(cfg.connections)) {
      Fail(sp->front().name() + ": read connect");
      return;
    }
    const int keys = cfg.read_keys;
    starts.push_back(
        [sp, keys](int ch, int, grpc::ClientContext* ctx, std::function<void(grpc::Status)> d) {
          sp->at(ch).StartRead(sp->inner(ch), ctx, "t0000", "s00", keys, std::move(d));
        });
  }
  const std::vector<LoadResult> r = Interleaved(cfg, starts);
  CheckLoad(r[0], "confcenterd read");
  CheckLoad(r[1], "etcd read");
  rows->push_back({absl::StrCat("Resolve (", cfg.read_keys, "-key branch view) vs serializable ",
                                "Range, ", cfg.clients, " clients (reads/s)"),
                   Num(r[0].per_second, 0), Num(r[1].per_second, 0),
                   Ratio(r[0].per_second, r[1].per_second)});
  rows->push_back({"read latency p50 / p99 (ms)", Lat(r[0].latency), Lat(r[1].latency),
                   Ratio(r[0].latency.p99_ms, r[1].latency.p99_ms) + " (p99)"});
}

// ------------------------------------------------------------------------ 3. fan-out

// Subscribers spread over `sp`'s servers, writes through `writer`, one latency summary per
// rate of cfg.fanout_rates. confcenter: the subscribers follow the branches w000.. of
// integration (none overrides the written key); etcd: they watch /integration/fan/.
std::vector<LatencySummary> RunFanout(const Config& cfg, Spread& sp, System& writer, bool cc) {
  std::vector<LatencySummary> out;
  const std::string name = writer.name();
  std::vector<Entry> entries;
  for (int k = 0; k < 49; ++k) entries.push_back({"integration", "fan", absl::StrCat("k", k), "v"});
  entries.push_back({"integration", "fan", "k", TimestampValue(1, cfg.value_bytes)});
  if (!writer.WriteBatch(entries).ok()) {
    Fail(name + ": fan-out set-up");
    return out;
  }
  if (!sp.Connect(cfg.fanout_connections)) {
    Fail(name + ": fan-out connect");
    return out;
  }
  StreamStats stats;
  std::vector<std::unique_ptr<Subscription>> subs;
  const int n = cfg.subscribers;
  for (int i = 0; i < n; ++i) {
    const int ch = i % cfg.fanout_connections;
    const std::string tenant =
        cc ? absl::StrFormat("w%03d", i % cfg.fanout_tenants) : std::string("integration");
    subs.push_back(sp.at(ch).Subscribe(sp.inner(ch), tenant, "fan", &stats));
  }
  auto cancel_all = [&] {
    for (auto& s : subs) s->Cancel();
    const int64_t streams = static_cast<int64_t>(subs.size());
    if (!stats.WaitFor([&] { return stats.ended.load() >= streams; }, std::chrono::seconds(30))) {
      Fail(absl::StrCat(name, ": ", streams - stats.ended.load(), " streams did not end"));
      for (auto& s : subs) s.release();  // still referenced by gRPC: leak rather than crash
    }
  };
  if (!stats.WaitFor([&] { return stats.ready.load() >= n || stats.failed.load() > 0; },
                     std::chrono::seconds(120)) ||
      stats.ready.load() < n) {
    Fail(absl::StrCat(name, ": only ", stats.ready.load(), " of ", n,
                      " subscriptions became ready. ", stats.first_error));
    cancel_all();
    return out;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Untimed warm-up writes (stamp 0): first fan-outs and cold caches are not the steady state.
  constexpr int kWarmup = 3;
  for (int w = 0; w < kWarmup; ++w) {
    if (!writer.Put({"integration", "fan", "k", TimestampValue(0, cfg.value_bytes)}).ok())
      Fail(name + ": fan-out warm-up write");
  }
  if (!stats.WaitFor([&] { return stats.warmup_events.load() >= int64_t{kWarmup} * n; },
                     std::chrono::seconds(60))) {
    Fail(absl::StrCat(name, " fan-out: ", stats.warmup_events.load(), " of ", kWarmup * n,
                      " warm-up events arrived"));
  }
  int64_t expected = 0;
  std::vector<size_t> seen(subs.size(), 0);  // latencies of earlier rates, per subscriber
  for (int rate : cfg.fanout_rates) {
    const int writes = std::max<int>(1, static_cast<int>(rate * cfg.seconds.count() / 1000));
    expected += int64_t{writes} * n;
    stats.notify_at_events = expected;
    const int64_t interval = 1'000'000'000LL / std::max(1, rate);
    const int64_t first = NowNanos();
    for (int w = 0; w < writes; ++w) {
      const int64_t due = first + w * interval;
      const int64_t now = NowNanos();
      if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      grpc::Status st =
          writer.Put({"integration", "fan", "k", TimestampValue(NowNanos(), cfg.value_bytes)});
      if (!st.ok()) Fail(absl::StrCat(name, " fan-out write: ", st.error_message()));
    }
    if (!stats.WaitFor([&] { return stats.events.load() >= expected; }, std::chrono::seconds(60)))
      Fail(absl::StrCat(name, " fan-out at ", rate, "/s: ", stats.events.load(), " of ", expected,
                        " events arrived"));
    // Every event of this rate arrived (stats.events is counted after each latency is
    // stored) and no write is pending: the vectors are quiet.
    std::vector<int64_t> all;
    for (size_t i = 0; i < subs.size(); ++i) {
      const std::vector<int64_t>& l = subs[i]->latencies();
      all.insert(all.end(), l.begin() + static_cast<std::ptrdiff_t>(seen[i]), l.end());
      seen[i] = l.size();
    }
    out.push_back(Summarize(&all));
  }
  cancel_all();
  if (stats.failed.load() > 0) Fail(name + " fan-out: " + stats.first_error);
  return out;
}

// ----------------------------------------------------------------------- 4. failover

struct FailoverResult {
  int subscribers = 0;
  int resumed = 0;  // subscribers that got an event of a write sent after the kill
  LatencySummary kill_to_event;
  int64_t writes = 0;
  int64_t missed = 0;      // revisions written that a subscriber never got
  int64_t duplicated = 0;  // revisions a subscriber got more than once (or out of order)
};

// One failover subscriber's record: the revisions of the key's changes, in order, and when
// the first change written after the kill arrived.
struct FoRecord {
  std::mutex mu;
  std::vector<int64_t> revisions;
  int64_t first_after_kill_ns = 0;
};

FailoverResult RunFailover(const Config& cfg, ServerProcess& a, ServerProcess& b) {
  FailoverResult res;
  res.subscribers = cfg.failover_subscribers;
  std::atomic<int64_t> kill_ns{INT64_MAX};
  std::atomic<int> resumed{0};
  ClientOptions options;
  options.addresses = {a.address(), b.address()};
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < 10; ++c) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> ch = Client::MakeChannel(options);
    if (!ch.ok()) {
      Fail("failover channel: " + ch.status().ToString());
      return res;
    }
    channels.push_back(*ch);
  }
  std::vector<std::unique_ptr<FoRecord>> records;
  std::vector<std::unique_ptr<confcenter::Subscription>> subs;
  for (int i = 0; i < cfg.failover_subscribers; ++i) {
    records.push_back(std::make_unique<FoRecord>());
    FoRecord* rec = records.back().get();
    SubscriptionOptions so;
    so.tenant = "integration";
    so.services = {"fo"};
    so.initial_backoff = absl::Milliseconds(20);
    so.max_backoff = absl::Milliseconds(500);
    subs.push_back(confcenter::Subscription::Start(channels[i % channels.size()], so));
    subs.back()->OnChange("fo", "k", false, [rec, &kill_ns, &resumed](const ConfigChange& c) {
      const int64_t now = NowNanos();
      int64_t sent = 0;
      if (c.new_value && c.new_value->value.size() >= 19)
        (void)absl::SimpleAtoi(c.new_value->value.substr(0, 19), &sent);
      std::lock_guard<std::mutex> lock(rec->mu);
      rec->revisions.push_back(c.revision);
      if (rec->first_after_kill_ns == 0 && sent >= kill_ns.load()) {
        rec->first_after_kill_ns = now;
        resumed.fetch_add(1);
      }
    });
  }
  // Every subscriber has its snapshot (of the set-up write below) before the timed writes.
  auto stub = v1::ConfigService::NewStub(
      grpc::CreateChannel(b.address(), grpc::InsecureChannelCredentials()));
  auto put = [&](const std::string& value, int64_t* revision) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PutRequest req;
    req.set_tenant("integration");
    req.set_service("fo");
    req.set_key("k");
    req.set_value(value);
    v1::PutResponse resp;
    grpc::Status st = stub->Put(&ctx, req, &resp);
    *revision = resp.revision();
    return st;
  };
  int64_t setup_revision = 0;
  if (!Eventually([&] { return put(TimestampValue(0, cfg.value_bytes), &setup_revision); },
                  "failover set-up write")) {
    return res;
  }
  for (auto& s : subs) {
    if (!s->WaitForRevision(setup_revision, absl::Seconds(60))) {
      Fail("failover: a subscriber did not get its snapshot: " + s->last_error().ToString());
      return res;
    }
  }
  // The writer: on B at cfg.failover_rate until told to stop (bounded: 60 s).
  std::atomic<bool> stop{false};
  std::vector<int64_t> written;  // revisions, in order; read after the writer joined
  std::thread writer([&] {
    const int64_t interval = 1'000'000'000LL / std::max(1, cfg.failover_rate);
    const int64_t first = NowNanos();
    const int max_writes = 60 * std::max(1, cfg.failover_rate);
    for (int w = 0; w < max_writes && !stop.load(); ++w) {
      const int64_t due = first + w * interval;
      const int64_t now = NowNanos();
      if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      int64_t revision = 0;
      grpc::Status st = put(TimestampValue(NowNanos(), cfg.value_bytes), &revision);
      if (st.ok()) {
        written.push_back(revision);
      } else {
        Fail(absl::StrCat("failover write on B: ", st.error_code(), " ", st.error_message()));
      }
    }
  });
  std::this_thread::sleep_for(cfg.seconds / 3);
  const int64_t killed = NowNanos();
  kill_ns = killed;
  a.Kill();
  // Until every subscriber resumed (at most 30 s), then a third of the window more.
  for (int i = 0; i < 3000 && resumed.load() < cfg.failover_subscribers; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(cfg.seconds / 3);
  stop = true;
  writer.join();
  res.writes = static_cast<int64_t>(written.size());
  res.resumed = resumed.load();
  if (res.resumed < cfg.failover_subscribers)
    Fail(absl::StrCat("failover: only ", res.resumed, " of ", cfg.failover_subscribers,
                      " subscribers got an event after the kill"));
  const int64_t last = written.empty() ? setup_revision : written.back();
  for (auto& s : subs) {
    if (!s->WaitForRevision(last, absl::Seconds(30)))
      Fail("failover: a subscriber did not reach the last revision: " + s->last_error().ToString());
  }
  subs.clear();  // joins their threads: the records are quiet
  std::vector<int64_t> delays;
  for (auto& rec : records) {
    if (rec->first_after_kill_ns > 0) delays.push_back(rec->first_after_kill_ns - killed);
    // The changes after the set-up write: each written revision exactly once, in order.
    std::vector<int64_t> got;
    for (int64_t r : rec->revisions) {
      if (r > setup_revision) got.push_back(r);
    }
    for (size_t i = 1; i < got.size(); ++i) {
      if (got[i] <= got[i - 1]) ++res.duplicated;
    }
    std::sort(got.begin(), got.end());
    got.erase(std::unique(got.begin(), got.end()), got.end());
    for (int64_t r : written) {
      if (!std::binary_search(got.begin(), got.end(), r)) ++res.missed;
    }
  }
  res.kill_to_event = Summarize(&delays);
  if (res.missed > 0 || res.duplicated > 0)
    Fail(absl::StrCat("failover: ", res.missed, " revisions missed, ", res.duplicated,
                      " duplicated"));
  return res;
}

// ------------------------------------------------------------------------------ main

int Main() {
  const bool smoke = absl::GetFlag(FLAGS_smoke);
  Config cfg;
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  cfg.seconds = ms(absl::GetFlag(FLAGS_seconds));
  cfg.warmup = ms(absl::GetFlag(FLAGS_warmup));
  cfg.clients = absl::GetFlag(FLAGS_clients);
  cfg.connections = absl::GetFlag(FLAGS_connections);
  cfg.value_bytes = absl::GetFlag(FLAGS_value_bytes);
  cfg.read_keys = absl::GetFlag(FLAGS_read_keys);
  cfg.subscribers = absl::GetFlag(FLAGS_subscribers);
  cfg.fanout_tenants = absl::GetFlag(FLAGS_fanout_tenants);
  cfg.fanout_connections = absl::GetFlag(FLAGS_fanout_connections);
  cfg.fanout_etcd = absl::GetFlag(FLAGS_fanout_etcd);
  cfg.failover_subscribers = absl::GetFlag(FLAGS_failover_subscribers);
  cfg.failover_rate = absl::GetFlag(FLAGS_failover_rate);
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_fanout_rates), ',')) {
    int v = 0;
    if (absl::SimpleAtoi(r, &v) && v > 0) cfg.fanout_rates.push_back(v);
  }
  if (smoke) {
    cfg.seconds = std::chrono::milliseconds(600);
    cfg.warmup = std::chrono::milliseconds(100);
    cfg.clients = 8;
    cfg.connections = 4;
    cfg.subscribers = 40;
    cfg.fanout_tenants = 4;
    cfg.fanout_connections = 4;
    cfg.failover_subscribers = 10;
    cfg.failover_rate = 50;
  }
  if (cfg.fanout_rates.empty() || cfg.clients < 1 || cfg.connections < 1 ||
      cfg.fanout_connections < 1 || cfg.subscribers < 1 || cfg.fanout_tenants < 1 ||
      cfg.failover_subscribers < 1) {
    std::fprintf(stderr, "bad sizes\n");
    return 2;
  }
  // The replicas get their etcd flags from here, never from a with_etcd run around us.
  unsetenv("TEST_CONFCENTER_ETCD_ENDPOINTS");

  const char* etcd_env = getenv("CONFCENTER_ETCD");
  const std::string etcd_binary = etcd_env && *etcd_env ? etcd_env : "/usr/bin/etcd";
  const std::string etcd_version = ReadFirstLine(etcd_binary + " --version 2>&1");
  const std::string machine = absl::StrCat(
      std::thread::hardware_concurrency(), " cores, ",
      ReadFirstLine("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"), ", ",
      ReadFirstLine("grep MemTotal /proc/meminfo | awk '{printf \"%.0f GiB\", $2/1048576}'"),
      ", kernel ", ReadFirstLine("uname -r"));
  const std::string command = smoke ? "build/confcenter_ha_bench --smoke"
                                    : absl::StrFormat("build/confcenter_ha_bench --seconds=%g",
                                                      absl::GetFlag(FLAGS_seconds));
  std::printf("confcenter_ha_bench: %s; %s\n", etcd_version.c_str(), machine.c_str());
  std::printf(
      "3 etcd members (--max-txn-ops=%d --max-request-bytes=%d, data on /dev/shm if "
      "present), 2 confcenterd replicas (--store=etcd)\n",
      kTxnOps, kRequestBytes);
  std::fflush(stdout);

  EtcdCluster cluster(3, {absl::StrCat("--max-txn-ops=", kTxnOps),
                          absl::StrCat("--max-request-bytes=", kRequestBytes)});
  if (!cluster.ok()) {
    std::fprintf(stderr, "the etcd cluster did not start\n");
    return 1;
  }
  testing::TempDir dir;
  const std::vector<std::string> flags = {"--store=etcd", "--etcd_endpoints=" + cluster.endpoints(),
                                          "--etcd_prefix=/ha_bench/",
                                          absl::StrCat("--etcd_max_txn_ops=", kTxnOps),
                                          absl::StrCat("--etcd_max_request_bytes=", kRequestBytes)};
  ServerProcess replica_a(dir.path() + "/a", flags);
  ServerProcess replica_b(dir.path() + "/b", flags);
  if (replica_a.port() == 0 || replica_b.port() == 0) {
    std::fprintf(stderr, "a replica did not start\n");
    return 1;
  }
  std::unique_ptr<System> cc_a = AttachConfcenter(replica_a.address());
  std::unique_ptr<System> cc_b = AttachConfcenter(replica_b.address());
  std::vector<std::unique_ptr<System>> members;
  for (int i = 0; i < cluster.size(); ++i) members.push_back(AttachEtcd(cluster.endpoint(i)));
  for (System* s : {cc_a.get(), cc_b.get()}) {
    if (!s->Start("")) return 1;
  }
  for (auto& m : members) {
    if (!m->Start("")) return 1;
  }
  Spread cc({cc_a.get(), cc_b.get()});
  std::unique_ptr<System> cc_a_alone = AttachConfcenter(replica_a.address());
  if (!cc_a_alone->Start("")) return 1;
  Spread cc_one({cc_a_alone.get()});
  std::vector<System*> member_ptrs;
  for (auto& m : members) member_ptrs.push_back(m.get());
  Spread etcd(member_ptrs);

  // Tenants, through A; B must see them before the phases start.
  std::vector<std::string> branches;
  for (int t = 0; t < cfg.fanout_tenants; ++t) branches.push_back(absl::StrFormat("w%03d", t));
  bool ok = cc_a->CreateTenant("integration", "", {"put", "s00", "fan", "fo"}).ok() &&
            cc_a->CreateTenant("t0000", "integration", {"s00"}).ok();
  for (const auto& b : branches) ok = ok && cc_a->CreateTenant(b, "integration", {"fan"}).ok();
  if (!ok) {
    Fail("tenant set-up");
    return 1;
  }
  if (!Eventually(
          [&] {
            return cc_b->Put({branches.back(), "fan", "probe", "p"});
          },
          "replica B sees the tenants")) {
    return 1;
  }

  const std::set<std::string> workloads =
      absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipEmpty());
  std::vector<Row> rows;
  if (workloads.count("put")) {
    std::printf("put...\n");
    std::fflush(stdout);
    ServerPids pids{{replica_a.pid(), replica_b.pid()}, {}};
    for (int i = 0; i < cluster.size(); ++i) pids.members.push_back(cluster.pid(i));
    RunPut(cfg, pids, cc, cc_one, etcd, &rows);
  }
  if (workloads.count("read")) {
    std::printf("read...\n");
    std::fflush(stdout);
    RunRead(cfg, cc, etcd, &rows);
  }
  if (workloads.count("fanout")) {
    std::printf("fan-out...\n");
    std::fflush(stdout);
    const std::vector<LatencySummary> c = RunFanout(cfg, cc, *cc_a, /*cc=*/true);
    std::vector<LatencySummary> e;
    if (cfg.fanout_etcd) e = RunFanout(cfg, etcd, *members[0], /*cc=*/false);
    for (size_t i = 0; i < cfg.fanout_rates.size() && i < c.size(); ++i) {
      const bool has_etcd = i < e.size();
      rows.push_back({absl::StrFormat("fan-out, %d subscribers, %d writes/s: p50 / p99 (ms)",
                                      cfg.subscribers, cfg.fanout_rates[i]),
                      Lat(c[i]), has_etcd ? Lat(e[i]) : "not measured",
                      has_etcd ? Ratio(c[i].p99_ms, e[i].p99_ms) + " (p99)" : "-"});
    }
  }
  FailoverResult fo;
  if (workloads.count("failover")) {
    std::printf("failover...\n");
    std::fflush(stdout);
    fo = RunFailover(cfg, replica_a, replica_b);
  }

  std::string md = absl::StrFormat(
      "%s; %s. 3 etcd members, 2 confcenterd replicas (--store=etcd); `%s`.\n\n"
      "| Workload | confcenterd (2 replicas) | etcd (3 members) | confcenter / etcd |\n"
      "|---|---|---|---|\n",
      etcd_version.substr(0, etcd_version.find('\n')), machine, command);
  for (const Row& r : rows)
    absl::StrAppendFormat(&md, "| %s | %s | %s | %s |\n", r.title, r.cc, r.etcd, r.ratio);
  if (workloads.count("failover"))
    absl::StrAppendFormat(
        &md,
        "\nFailover: %d subscribers on replica A (target A then B), a writer on B at %d/s, "
        "kill -9 A.\n\n"
        "| Subscribers resumed | kill -> first event of a later write p50 / p99 / max (ms) | "
        "writes | revisions missed | duplicated |\n|---|---|---|---|---|\n"
        "| %d of %d | %.1f / %.1f / %.1f | %d | %d | %d |\n",
        fo.subscribers, cfg.failover_rate, fo.resumed, fo.subscribers, fo.kill_to_event.p50_ms,
        fo.kill_to_event.p99_ms, fo.kill_to_event.max_ms, fo.writes, fo.missed, fo.duplicated);
  std::printf("\n%s", md.c_str());
  const std::string path = absl::GetFlag(FLAGS_markdown);
  if (!path.empty()) std::ofstream(path) << md;
  if (g_failures > 0) std::fprintf(stderr, "%d failures\n", g_failures);
  return g_failures > 0 ? 1 : 0;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return confcenter::bench::Main();
}
