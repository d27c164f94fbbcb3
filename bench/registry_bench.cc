// Register latency of a branch against the size of the store: ConfigCore in-process (no gRPC)
// on a real RocksDB store in a fresh temp directory, with the system clock. Shows that what
// a branch's Register costs follows the branch, not integration.
//
// Setup, per stored-key count K (--stored_keys, default 10,000 and 1,000,000), on a fresh store:
//   integration registers I services svc-000.. (--integration_services, 100): version
//   1.<i%10>.0, 2 endpoints, 2-3 dependencies with semver ranges on other integration
//   services, 5 defaults, 1 generated secret, a health probe. T-1 branch tenants br-0001..
//   (T = --tenants, 1,000 with integration) register 1-3 of those services each, in newer
//   compatible versions. Then Puts (128-op Txns, 32 in flight) bring the store to K keys,
//   128-byte values: half in integration's services, half spread over the branches' services.
//   Setup writes with store sync off; the store is then reopened with sync on (--sync=false:
//   off). Every size is set up first and stays open; then RocksDB's flushes and compactions
//   of the setup are let finish (the process writes nothing for 1 s) and 10 untimed rounds of
//   the calls below warm the stores up.
// Timed, R times each (--registrations, 200), one call at a time, from the call until its
// `done` runs; each call is made on every size in turn, so that the sizes share the machine's
// load alike (a shared 2-core machine swings single runs by 2x):
//   register    Register of a new branch bench-NNN (parent integration) with B services
//               (--branch_services, 20) overriding integration's: versions in the dependents'
//               ranges (the gate passes), endpoints rendered for the branch, 2 of 5 defaults
//               differing from integration's, 1 generated secret: 5 keys written per service.
//   reregister  The same Register again: idempotent, nothing is written.
//   deregister  Deregister all of bench-NNN: its services, keys and the tenant.
// One line per (K, operation): p50/p99/max/mean latency, process CPU per call (every thread,
// RocksDB's included; separates work from waiting for the disk) and calls/s one at a time;
// then, per operation, the ratio of each K's p50 to the first K's. Exits 1 if any call fails
// or does not do what it should.
//
//   confcenter_registry_bench [--stored_keys=10000,1000000] [--tenants=1000]
//       [--integration_services=100] [--branch_services=20] [--registrations=200] [--sync=true]
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "confcenter/v1/tenant.pb.h"
#include "server/core/clock.h"
#include "server/core/config_core.h"
#include "spdlog/spdlog.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

ABSL_FLAG(std::string, stored_keys, "10000,1000000",
          "Comma-separated store sizes (keys over all tenants) to run.");
ABSL_FLAG(int, tenants, 1000, "Tenants in the store during the timed calls, integration included.");
ABSL_FLAG(int, integration_services, 100, "Services registered in integration.");
ABSL_FLAG(int, branch_services, 20, "Services in each timed branch registration.");
ABSL_FLAG(int, registrations, 200, "Timed calls per operation and store size.");
ABSL_FLAG(bool, sync, true, "Store sync on for the timed calls (as in production).");

namespace confcenter {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr char kIntegration[] = "integration";
constexpr int kMaxOpsPerTxn = 128;  // CoreOptions::max_txn_ops
constexpr int kTxnsInFlight = 32;
constexpr int kValueBytes = 128;
constexpr int kWarmUpRounds = 10;
constexpr int kRegisterChunk = 100;  // services per setup Register (limit 256)
// A timed branch's service writes 2 endpoints, 2 differing defaults and 1 secret.
constexpr int64_t kKeysPerBranchService = 5;

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "registry_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

// Runs one asynchronous core write and waits for its `done`; sets `nanos` to the time from
// the call until `done` ran.
template <typename Result, typename Start>
absl::StatusOr<Result> AwaitTimed(Start start, int64_t* nanos) {
  std::promise<absl::StatusOr<Result>> promise;
  std::future<absl::StatusOr<Result>> future = promise.get_future();
  SteadyClock::time_point done_at;
  const SteadyClock::time_point begin = SteadyClock::now();
  start([&promise, &done_at](absl::StatusOr<Result> result) {
    done_at = SteadyClock::now();
    promise.set_value(std::move(result));
  });
  absl::StatusOr<Result> result = future.get();
  *nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(done_at - begin).count();
  return result;
}

absl::StatusOr<RegisterResult> RunRegister(ConfigCore& core, RegisterCommand command,
                                           int64_t* nanos) {
  return AwaitTimed<RegisterResult>(
      [&](RegisterDone done) { core.Register(std::move(command), std::move(done)); }, nanos);
}

absl::StatusOr<DeregisterResult> RunDeregisterAll(ConfigCore& core, const std::string& tenant,
                                                  int64_t* nanos) {
  DeregisterCommand command;
  command.tenant = tenant;
  command.all = true;
  return AwaitTimed<DeregisterResult>(
      [&](DeregisterDone done) { core.Deregister(std::move(command), std::move(done)); }, nanos);
}

// Bounds the asynchronous writes in flight during setup and keeps the first error.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}

  // Blocks while `limit` writes are in flight, then counts one more.
  void Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](InFlight* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(f->mu_) { return f->count_ < f->limit_; },
        this));
    ++count_;
  }
  // Counts one write done with `status`.
  void Release(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    --count_;
    if (!status.ok() && error_.ok()) error_ = status;
  }
  // Waits until no write is in flight; returns the first error, if any.
  absl::Status Drain() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](InFlight* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(f->mu_) { return f->count_ == 0; }, this));
    return error_;
  }

 private:
  const int limit_;
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

std::string ServiceName(int i) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "svc-%03d", i);
  return buf;
}

std::string BranchName(int i) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "br-%04d", i);
  return buf;
}

std::string BenchName(int i) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "bench-%03d", i);
  return buf;
}

std::string FillKey(int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "cfg.%07lld", static_cast<long long>(i));
  return buf;
}

// Integration's definition of service i of n; `minor_bump` and `patch` make a branch's newer
// version of it (still in every dependent's range). `differing_defaults` of the 5 defaults get
// a value of the branch's own.
v1::ServiceDefinition Definition(int i, int n, int minor_bump, int patch, int differing_defaults,
                                 bool generated) {
  v1::ServiceDefinition def;
  def.set_name(ServiceName(i));
  def.set_version(absl::StrCat("1.", i % 10 + minor_bump, ".", patch));
  def.set_protocol(v1::PROTOCOL_GRPC);
  (*def.mutable_metadata())["owner"] = absl::StrCat("team-", i % 7);
  v1::Endpoint* grpc = def.add_endpoints();
  grpc->set_name("grpc");
  grpc->set_port(9090);
  v1::Endpoint* http = def.add_endpoints();
  http->set_name("http");
  http->set_port(8080);
  const char* ranges[] = {"^1.0", ">=1.0 <2", "^1.0 || ^2"};
  std::vector<int> deps = {(i + 1) % n, (i + 3) % n};
  if (i % 2 == 0) deps.push_back((i + 7) % n);
  for (size_t d = 0; d < deps.size(); ++d) {
    if (deps[d] == i || (d > 0 && deps[d] == deps[d - 1])) continue;  // tiny n only
    v1::Dependency* dep = def.add_dependencies();
    dep->set_service(ServiceName(deps[d]));
    dep->set_range(ranges[(i + d) % 3]);
  }
  const char* keys[] = {"pool.size", "timeout.ms", "retries", "log.level", "cache.ttl"};
  for (int k = 0; k < 5; ++k) {
    (*def.mutable_defaults())[keys[k]] =
        k >= 5 - differing_defaults ? absl::StrCat("branch-", k) : absl::StrCat(10 * (k + 1) + i);
  }
  if (generated) {
    v1::GeneratedKey* secret = def.add_generated_keys();
    secret->set_key("db.password");
    secret->set_kind(v1::GENERATED_KEY_KIND_SECRET);
    secret->set_length(32);
  }
  def.mutable_health()->set_endpoint("grpc");
  return def;
}

// The services setup branch b registers (1-3 of integration's).
std::vector<int> BranchServices(int b, int n) {
  std::vector<int> out;
  for (int k = 0; k < 1 + b % 3; ++k) {
    int s = (b * 7 + k * 31) % n;
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

// Timed branch: the B services it overrides, spread over integration's.
RegisterCommand BenchCommand(int i, int branch_services, int n) {
  RegisterCommand command;
  command.tenant = BenchName(i);
  command.parent = kIntegration;
  for (int k = 0; k < branch_services; ++k) {
    int s = static_cast<int>(static_cast<int64_t>(k) * n / branch_services);
    command.services.push_back(Definition(s, n, /*minor_bump=*/1, /*patch=*/i % 5,
                                          /*differing_defaults=*/2, /*generated=*/true));
  }
  return command;
}

std::unique_ptr<ConfigCore> MustOpen(const std::filesystem::path& path, bool sync,
                                     int64_t max_keys_per_tenant) {
  storage::RocksDbStoreOptions store_options;
  store_options.sync = sync;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenRocksDbStore(path.string(), store_options);
  if (!store.ok()) Die(absl::StrCat("OpenRocksDbStore ", path.string()), store.status());
  CoreOptions options;
  // Integration holds half the keys: far above the default limit of 100,000 at 1M.
  options.max_keys_per_tenant = std::max(options.max_keys_per_tenant, max_keys_per_tenant);
  absl::StatusOr<std::unique_ptr<ConfigCore>> core =
      ConfigCore::Open(*std::move(store), options, SystemClock::Default());
  if (!core.ok()) Die("ConfigCore::Open", core.status());
  return *std::move(core);
}

void MustRegister(ConfigCore& core, RegisterCommand command) {
  const std::string tenant = command.tenant;
  int64_t nanos = 0;
  absl::StatusOr<RegisterResult> result = RunRegister(core, std::move(command), &nanos);
  if (!result.ok()) Die(absl::StrCat("setup Register ", tenant), result.status());
}

// Keys (values and masks) over all tenants, and the tenant count.
std::pair<int64_t, int64_t> CountKeysAndTenants(const ConfigCore& core) {
  int64_t keys = 0;
  int64_t tenants = 0;
  std::string token;
  do {
    absl::StatusOr<ListTenantsResult> page = core.ListTenants(1000, token);
    if (!page.ok()) Die("ListTenants", page.status());
    for (const TenantInfo& t : page->tenants) keys += t.key_count;
    tenants += page->tenants.size();
    token = page->next_page_token;
  } while (!token.empty());
  return {keys, tenants};
}

double SecondsSince(SteadyClock::time_point begin) {
  return std::chrono::duration<double>(SteadyClock::now() - begin).count();
}

// Bytes this process has written so far (/proc/self/io wchar), or -1.
int64_t WrittenBytes() {
  std::ifstream in("/proc/self/io");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    int64_t bytes = 0;
    if (absl::ConsumePrefix(&rest, "wchar: ") && absl::SimpleAtoi(rest, &bytes)) return bytes;
  }
  return -1;
}

// Waits until RocksDB's background flushes and compactions of the setup's writes are done: the
// process wrote nothing for a whole second (nothing else writes meanwhile). At most 10 minutes.
void WaitForQuietStore() {
  int64_t last = WrittenBytes();
  for (int s = 0; s < 600 && last >= 0; ++s) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const int64_t now = WrittenBytes();
    if (now == last) return;
    last = now;
  }
}

// Builds the store: registrations, then Puts up to `stored_keys`. Returns the key count.
int64_t SetUpStore(ConfigCore& core, int64_t stored_keys, int tenants, int n) {
  for (int first = 0; first < n; first += kRegisterChunk) {
    RegisterCommand command;
    command.tenant = kIntegration;
    for (int i = first; i < std::min(n, first + kRegisterChunk); ++i) {
      command.services.push_back(Definition(i, n, 0, 0, 0, /*generated=*/true));
    }
    MustRegister(core, std::move(command));
  }

  InFlight in_flight(kTxnsInFlight);
  for (int b = 1; b < tenants; ++b) {
    RegisterCommand command;
    command.tenant = BranchName(b);
    command.parent = kIntegration;
    for (int s : BranchServices(b, n)) {
      command.services.push_back(Definition(s, n, /*minor_bump=*/1, /*patch=*/b % 3,
                                            /*differing_defaults=*/0, /*generated=*/false));
    }
    in_flight.Acquire();
    core.Register(std::move(command), [&in_flight](absl::StatusOr<RegisterResult> result) {
      in_flight.Release(result.status());
    });
  }
  if (absl::Status s = in_flight.Drain(); !s.ok()) Die("setup Register of a branch", s);

  const int64_t registered = CountKeysAndTenants(core).first;
  const int64_t to_put = std::max<int64_t>(0, stored_keys - registered);
  if (to_put == 0) {
    std::fprintf(stderr, "registry_bench: registrations alone wrote %lld keys (>= %lld)\n",
                 static_cast<long long>(registered), static_cast<long long>(stored_keys));
  }
  const std::string value(kValueBytes, 'v');
  const int64_t to_integration = tenants > 1 ? to_put / 2 : to_put;
  std::vector<WriteOp> ops;
  auto flush = [&] {
    if (ops.empty()) return;
    in_flight.Acquire();
    core.Txn(std::move(ops), /*single=*/false, [&in_flight](absl::StatusOr<TxnResult> result) {
      in_flight.Release(result.status());
    });
    ops.clear();
  };
  for (int64_t k = 0; k < to_put; ++k) {
    WriteOp& op = ops.emplace_back();
    op.type = WriteOpType::kPut;
    if (k < to_integration) {
      op.tenant = kIntegration;
      op.service = ServiceName(static_cast<int>(k % n));
      op.key = FillKey(k / n);
    } else {  // round robin over the branches, each over its services
      const int64_t j = k - to_integration;
      const int b = 1 + static_cast<int>(j % (tenants - 1));
      const int64_t round = j / (tenants - 1);
      const std::vector<int> services = BranchServices(b, n);
      op.tenant = BranchName(b);
      op.service = ServiceName(services[round % services.size()]);
      op.key = FillKey(round);
    }
    op.value = value;
    if (ops.size() == static_cast<size_t>(kMaxOpsPerTxn)) flush();
  }
  flush();
  if (absl::Status s = in_flight.Drain(); !s.ok()) Die("setup Txn", s);
  return CountKeysAndTenants(core).first;
}

double ProcessCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// One store size under test.
struct Size {
  int64_t stored_keys = 0;  // as asked
  std::filesystem::path path;
  std::unique_ptr<ConfigCore> core;
  int64_t keys = 0;  // as built
  int64_t tenants = 0;
  std::string setup;  // setup times, in words
};

// One operation's calls on one size: latencies and process CPU, in nanoseconds.
struct Samples {
  std::vector<int64_t> nanos;
  std::vector<double> cpu_nanos;
};

struct Stats {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  double mean_ms = 0;
  double cpu_ms = 0;  // mean process CPU per call (every thread, RocksDB's too)
  double per_second = 0;
};

// Nearest-rank percentiles; calls/s one call at a time (1000 / mean ms).
Stats Summarize(Samples samples) {
  Stats stats;
  std::vector<int64_t>& nanos = samples.nanos;
  if (nanos.empty()) return stats;
  std::sort(nanos.begin(), nanos.end());
  auto rank = [&](double p) {
    size_t r = static_cast<size_t>(p * nanos.size() + 0.999999);
    return nanos[std::min(nanos.size(), std::max<size_t>(r, 1)) - 1] / 1e6;
  };
  stats.p50_ms = rank(0.50);
  stats.p99_ms = rank(0.99);
  stats.max_ms = nanos.back() / 1e6;
  int64_t sum = 0;
  for (int64_t n : nanos) sum += n;
  stats.mean_ms = sum / 1e6 / nanos.size();
  double cpu = 0;
  for (double c : samples.cpu_nanos) cpu += c;
  stats.cpu_ms = cpu / 1e6 / nanos.size();
  stats.per_second = 1e3 / stats.mean_ms;
  return stats;
}

enum Operation { kRegister, kReregister, kDeregister, kOperations };
constexpr const char* kOperationNames[] = {"register", "reregister", "deregister"};

// One call of `operation` for branch i on `core`; returns its latency. Exits 1 if the call
// fails or does not do what it should.
int64_t Call(ConfigCore& core, Operation operation, int i, int branch_services, int n) {
  const std::string tenant = BenchName(i);
  int64_t nanos = 0;
  if (operation == kDeregister) {
    absl::StatusOr<DeregisterResult> r = RunDeregisterAll(core, tenant, &nanos);
    if (!r.ok()) Die(absl::StrCat("Deregister ", tenant), r.status());
    if (!r->tenant_removed || r->removed_services.size() != static_cast<size_t>(branch_services)) {
      Die(absl::StrCat("Deregister ", tenant),
          absl::InternalError("the tenant or some of its services were not removed"));
    }
    return nanos;
  }
  RegisterCommand command = BenchCommand(i, branch_services, n);
  const int64_t before = core.revision();
  absl::StatusOr<RegisterResult> r = RunRegister(core, std::move(command), &nanos);
  if (!r.ok()) Die(absl::StrCat("Register ", tenant), r.status());
  if (!r->warnings.empty() || r->tenant.key_count != kKeysPerBranchService * branch_services) {
    Die(absl::StrCat("Register ", tenant),
        absl::InternalError(absl::StrCat(r->tenant.key_count,
                                         " keys, warnings: ", absl::StrJoin(r->warnings, "; "))));
  }
  if (operation == kRegister && !r->created) {
    Die(absl::StrCat("Register ", tenant), absl::InternalError("the tenant already existed"));
  }
  if (operation == kReregister && (r->created || r->revision != before)) {
    Die(absl::StrCat("re-Register ", tenant),
        absl::InternalError("an identical registration changed the store"));
  }
  return nanos;
}

// Branches first..first+count-1 registered, registered again, deregistered; each call made on
// every size in turn, so that the sizes share the machine's load alike. Returns, per operation
// and size, the samples.
std::vector<std::vector<Samples>> RunTimed(std::vector<Size>& sizes, int first, int count,
                                           int branch_services, int n) {
  std::vector<std::vector<Samples>> out(kOperations, std::vector<Samples>(sizes.size()));
  for (int op = 0; op < kOperations; ++op) {
    for (int i = first; i < first + count; ++i) {
      for (size_t s = 0; s < sizes.size(); ++s) {
        const double cpu_begin = ProcessCpuNanos();
        const int64_t nanos =
            Call(*sizes[s].core, static_cast<Operation>(op), i, branch_services, n);
        out[op][s].cpu_nanos.push_back(ProcessCpuNanos() - cpu_begin);
        out[op][s].nanos.push_back(nanos);
      }
    }
  }
  return out;
}

// Builds one size's store with sync off, then reopens it with `sync`.
Size SetUpSize(const std::filesystem::path& dir, int64_t stored_keys, int tenants,
               int integration_services, bool sync) {
  Size size;
  size.stored_keys = stored_keys;
  size.path = dir / absl::StrCat("store-", stored_keys);
  SteadyClock::time_point begin = SteadyClock::now();
  size.core = MustOpen(size.path, /*sync=*/false, stored_keys);
  size.keys = SetUpStore(*size.core, stored_keys, tenants, integration_services);
  const double fill_s = SecondsSince(begin);
  begin = SteadyClock::now();
  size.core.reset();
  size.core = MustOpen(size.path, sync, stored_keys);
  const double reopen_s = SecondsSince(begin);
  size.tenants = CountKeysAndTenants(*size.core).second;
  size.setup = absl::StrFormat(
      "%d keys, %d tenants: setup %.1f s (registrations and Puts, sync off), reopen %.1f s",
      size.keys, size.tenants, fill_s, reopen_s);
  return size;
}

void PrintLine(const Size& size, Operation operation, size_t calls, const Stats& s) {
  std::printf("| %9lld | %7lld | %-10s | %5zu | %7.3f | %7.3f | %7.3f | %7.3f | %7.3f | %8.1f |\n",
              static_cast<long long>(size.keys), static_cast<long long>(size.tenants),
              kOperationNames[operation], calls, s.p50_ms, s.p99_ms, s.max_ms, s.mean_ms, s.cpu_ms,
              s.per_second);
}

// The whole run, flags parsed. Returns the exit code.
int Run() {
  std::vector<int64_t> stored_keys;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_stored_keys), ',')) {
    int64_t keys = 0;
    if (!absl::SimpleAtoi(s, &keys) || keys <= 0) {
      std::fprintf(stderr, "registry_bench: --stored_keys: \"%s\" is not a positive count\n",
                   std::string(s).c_str());
      return 1;
    }
    stored_keys.push_back(keys);
  }
  const int tenants = absl::GetFlag(FLAGS_tenants);
  const int integration_services = absl::GetFlag(FLAGS_integration_services);
  const int branch_services = absl::GetFlag(FLAGS_branch_services);
  const int registrations = absl::GetFlag(FLAGS_registrations);
  const bool sync = absl::GetFlag(FLAGS_sync);
  if (tenants < 1 || integration_services < 3 || branch_services < 1 ||
      branch_services > integration_services || registrations < 1) {
    std::fprintf(stderr,
                 "registry_bench: need --tenants >= 1, --integration_services >= 3, "
                 "1 <= --branch_services <= --integration_services, --registrations >= 1\n");
    return 1;
  }

  char dir_template[] = "/tmp/confcenter-registry-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("registry_bench: mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = dir_template;

  std::vector<Size> sizes;
  for (int64_t keys : stored_keys) {
    sizes.push_back(SetUpSize(dir, keys, tenants, integration_services, sync));
  }
  SteadyClock::time_point begin = SteadyClock::now();
  WaitForQuietStore();
  const double quiet_s = SecondsSince(begin);
  begin = SteadyClock::now();
  const int warm_up = std::min(kWarmUpRounds, registrations);
  RunTimed(sizes, 0, warm_up, branch_services, integration_services);
  const double warm_s = SecondsSince(begin);
  std::vector<std::vector<Samples>> samples =
      RunTimed(sizes, warm_up, registrations, branch_services, integration_services);

  std::printf(
      "Register of a %d-service branch; %d tenants, integration with %d services; store sync "
      "%s; %d calls each, sizes interleaved\n",
      branch_services, tenants, integration_services, sync ? "on" : "off", registrations);
  std::printf(
      "| keys      | tenants | operation  | calls | p50 ms  | p99 ms  | max ms  | mean ms | "
      "cpu ms  | calls/s  |\n"
      "|-----------|---------|------------|-------|---------|---------|---------|---------|"
      "---------|----------|\n");
  std::vector<std::vector<Stats>> stats(kOperations);
  for (size_t s = 0; s < sizes.size(); ++s) {
    for (int op = 0; op < kOperations; ++op) {
      stats[op].push_back(Summarize(samples[op][s]));
      PrintLine(sizes[s], static_cast<Operation>(op), samples[op][s].nanos.size(),
                stats[op].back());
    }
  }
  for (const Size& size : sizes) std::printf("%s\n", size.setup.c_str());
  std::printf("before the timed calls: compactions settled %.1f s, warm-up %.1f s\n", quiet_s,
              warm_s);
  for (size_t s = 1; s < sizes.size(); ++s) {
    std::printf("p50 at %lld keys / p50 at %lld keys:", static_cast<long long>(sizes[s].keys),
                static_cast<long long>(sizes[0].keys));
    for (int op = 0; op < kOperations; ++op) {
      std::printf(" %s %.2f%s", kOperationNames[op], stats[op][s].p50_ms / stats[op][0].p50_ms,
                  op + 1 < kOperations ? "," : "\n");
    }
  }
  std::fflush(stdout);

  sizes.clear();  // closes the stores
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    std::fprintf(stderr, "registry_bench: removing %s: %s\n", dir.c_str(), ec.message().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace confcenter

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  return confcenter::Run();
}
