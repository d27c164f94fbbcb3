// Micro-benchmarks of the domain core: ConfigCore in-process (no gRPC) on a real RocksDB store
// in a fresh temp directory, with the system clock.
//
//   BM_Resolve/levels:N  Resolve of one 50-key service through an N-level chain:
//                        2 = branch -> integration, 3 = sub-branch -> branch -> integration.
//                        integration holds 200 services x 50 keys (10,000 keys); branch
//                        overrides half of the resolved service's keys, sub-branch the other
//                        half's even keys, and both hold some keys of other services.
//                        items = resolved entries.
//   BM_Put/synced        One Put (a single-op Txn, waiting for `done`) per iteration: 32-byte
//   BM_Put/unsynced      keys cycling over 10,000, 256-byte values; store sync on / off.
//   BM_PutConcurrent     The synced Put above from 16 threads at once, each on its own keys:
//                        shows the single committer's group commit. Time is wall time per Put.
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "server/core/clock.h"
#include "server/core/config_core.h"
#include "spdlog/spdlog.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

namespace confcenter {
namespace {

constexpr int kResolveServices = 200;
constexpr int kKeysPerService = 50;
constexpr int kPutKeys = 10'000;
constexpr int kValueBytes = 256;
constexpr int kMaxOpsPerTxn = 50;  // below CoreOptions::max_txn_ops
constexpr char kResolvedService[] = "svc-000";
constexpr char kPutTenant[] = "bench";
constexpr char kPutService[] = "svc";

// The cores the benchmarks share; built in main before any benchmark runs.
struct Env {
  std::filesystem::path dir;
  std::unique_ptr<ConfigCore> resolve_core;  // sync off: only its setup writes
  std::unique_ptr<ConfigCore> synced_core;
  std::unique_ptr<ConfigCore> unsynced_core;
};
Env* g_env = nullptr;

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "core_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

// Runs one asynchronous core write and waits for its `done`.
template <typename Result, typename Start>
absl::StatusOr<Result> Await(Start start) {
  std::promise<absl::StatusOr<Result>> promise;
  std::future<absl::StatusOr<Result>> future = promise.get_future();
  start([&promise](absl::StatusOr<Result> result) { promise.set_value(std::move(result)); });
  return future.get();
}

absl::StatusOr<TxnResult> RunTxn(ConfigCore& core, std::vector<WriteOp> ops, bool single) {
  return Await<TxnResult>([&](TxnDone done) { core.Txn(std::move(ops), single, std::move(done)); });
}

void MustRegister(ConfigCore& core, const std::string& tenant, const std::string& parent,
                  const std::string& service) {
  RegisterCommand command;
  command.tenant = tenant;
  command.parent = parent;
  command.services.emplace_back().set_name(service);
  absl::StatusOr<RegisterResult> result = Await<RegisterResult>(
      [&](RegisterDone done) { core.Register(std::move(command), std::move(done)); });
  if (!result.ok()) Die(absl::StrCat("Register ", tenant), result.status());
}

WriteOp MakePut(const std::string& tenant, const std::string& service, std::string key,
                std::string value) {
  WriteOp op;
  op.type = WriteOpType::kPut;
  op.tenant = tenant;
  op.service = service;
  op.key = std::move(key);
  op.value = std::move(value);
  return op;
}

// Puts `ops` in transactions of at most kMaxOpsPerTxn operations.
void MustPutAll(ConfigCore& core, std::vector<WriteOp> ops) {
  for (size_t begin = 0; begin < ops.size(); begin += kMaxOpsPerTxn) {
    size_t end = std::min(ops.size(), begin + kMaxOpsPerTxn);
    std::vector<WriteOp> batch(std::make_move_iterator(ops.begin() + begin),
                               std::make_move_iterator(ops.begin() + end));
    absl::StatusOr<TxnResult> result = RunTxn(core, std::move(batch), /*single=*/false);
    if (!result.ok()) Die("setup Txn", result.status());
  }
}

std::string ServiceName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "svc-%03d", i);
  return buf;
}

std::string ResolveKey(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "key.%02d", i);
  return buf;
}

// "key." and 28 digits: 32 bytes.
std::string PutKey(int i) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "key.%028d", i);
  return buf;
}

std::unique_ptr<ConfigCore> MustOpen(const std::filesystem::path& path, bool sync) {
  storage::RocksDbStoreOptions store_options;
  store_options.sync = sync;
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::OpenRocksDbStore(path.string(), store_options);
  if (!store.ok()) Die(absl::StrCat("OpenRocksDbStore ", path.string()), store.status());
  absl::StatusOr<std::unique_ptr<ConfigCore>> core =
      ConfigCore::Open(*std::move(store), CoreOptions{}, SystemClock::Default());
  if (!core.ok()) Die("ConfigCore::Open", core.status());
  return *std::move(core);
}

// integration: kResolveServices x kKeysPerService keys. branch overrides the first half of
// kResolvedService's keys, sub-branch its even keys; each also holds 10 keys in 10 others.
void SetUpResolveState(ConfigCore& core) {
  std::vector<WriteOp> ops;
  for (int s = 0; s < kResolveServices; ++s) {
    for (int k = 0; k < kKeysPerService; ++k) {
      ops.push_back(MakePut("integration", ServiceName(s), ResolveKey(k),
                            absl::StrCat("integration-value-", s, "-", k)));
    }
  }
  MustPutAll(core, std::move(ops));

  MustRegister(core, "branch", "integration", kResolvedService);
  MustRegister(core, "sub-branch", "branch", kResolvedService);
  ops.clear();
  for (int k = 0; k < kKeysPerService / 2; ++k) {
    ops.push_back(MakePut("branch", kResolvedService, ResolveKey(k), "branch-value"));
  }
  for (int k = 0; k < kKeysPerService; k += 2) {
    ops.push_back(MakePut("sub-branch", kResolvedService, ResolveKey(k), "sub-branch-value"));
  }
  for (int s = 1; s <= 10; ++s) {
    for (int k = 0; k < 10; ++k) {
      ops.push_back(MakePut("branch", ServiceName(s), ResolveKey(k), "branch-value"));
      ops.push_back(MakePut("sub-branch", ServiceName(s + 10), ResolveKey(k), "sub-value"));
    }
  }
  MustPutAll(core, std::move(ops));
}

void BM_Resolve(benchmark::State& state) {
  const std::string tenant = state.range(0) == 2 ? "branch" : "sub-branch";
  const std::vector<std::string> services = {kResolvedService};
  int64_t entries = 0;
  for (auto _ : state) {
    absl::StatusOr<ResolveResult> result = g_env->resolve_core->Resolve(tenant, services);
    if (!result.ok() || result->chain.size() != static_cast<size_t>(state.range(0)) ||
        result->entries.size() != static_cast<size_t>(kKeysPerService)) {
      state.SkipWithError("Resolve failed or returned an unexpected view");
      break;
    }
    entries += result->entries.size();
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(entries);
}
BENCHMARK(BM_Resolve)->ArgName("levels")->Arg(2)->Arg(3);

// One synchronous Put per iteration on keys first_key, first_key + 1, ... (mod kPutKeys).
void RunPuts(benchmark::State& state, ConfigCore& core, int first_key) {
  const std::string value(kValueBytes, 'v');
  int next = first_key % kPutKeys;
  for (auto _ : state) {
    std::vector<WriteOp> ops;
    ops.push_back(MakePut(kPutTenant, kPutService, PutKey(next), value));
    absl::StatusOr<TxnResult> result = RunTxn(core, std::move(ops), /*single=*/true);
    if (!result.ok()) {
      state.SkipWithError("Put failed");
      break;
    }
    benchmark::DoNotOptimize(result);
    next = (next + 1) % kPutKeys;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kValueBytes);
}

void BM_Put(benchmark::State& state, bool synced) {
  RunPuts(state, synced ? *g_env->synced_core : *g_env->unsynced_core, 0);
}
BENCHMARK_CAPTURE(BM_Put, synced, true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Put, unsynced, false)->UseRealTime();

void BM_PutConcurrent(benchmark::State& state) {
  RunPuts(state, *g_env->synced_core, state.thread_index() * (kPutKeys / state.threads()));
}
BENCHMARK(BM_PutConcurrent)->Threads(16)->UseRealTime();

Env* SetUp() {
  char dir_template[] = "/tmp/confcenter-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("core_bench: mkdtemp");
    std::exit(1);
  }
  auto* env = new Env;
  env->dir = dir_template;
  env->resolve_core = MustOpen(env->dir / "resolve", /*sync=*/false);
  SetUpResolveState(*env->resolve_core);
  env->synced_core = MustOpen(env->dir / "synced", /*sync=*/true);
  env->unsynced_core = MustOpen(env->dir / "unsynced", /*sync=*/false);
  for (ConfigCore* core : {env->synced_core.get(), env->unsynced_core.get()}) {
    MustRegister(*core, kPutTenant, "integration", kPutService);
  }
  return env;
}

void TearDown(Env* env) {
  env->resolve_core.reset();
  env->synced_core.reset();
  env->unsynced_core.reset();
  std::error_code ec;
  std::filesystem::remove_all(env->dir, ec);
  if (ec) {
    std::fprintf(stderr, "core_bench: removing %s: %s\n", env->dir.c_str(), ec.message().c_str());
  }
  delete env;
}

}  // namespace
}  // namespace confcenter

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  spdlog::set_level(spdlog::level::warn);
  confcenter::g_env = confcenter::SetUp();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  confcenter::TearDown(confcenter::g_env);
  confcenter::g_env = nullptr;
  return 0;
}
