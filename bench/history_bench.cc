// Micro-benchmarks of versioning: HistoryCore in-process (no gRPC) over a real RocksDB store
// in a fresh temp directory.
//
// Workload: tenant "bench" (child of integration) holds 1,000 keys of service "svc", each
// written --versions_per_key times (default 100): 100,000 versions, committed as Txns of 100
// keys. integration holds the same 1,000 keys once. "mid" is the revision after half of the
// rounds.
//
//   BM_HistoryOneKey        History of one key: one page holding all its versions.
//                           items = versions returned.
//   BM_HistoryPrefix        History of the keys starting with "key.05" (100 keys): the first
//                           page of 1,000 versions.
//   BM_DiffRevisions/own    Diff of bench's own entries at mid vs now (every key changed).
//   BM_DiffRevisions/resolved  Same on the resolved view along bench -> integration (both
//                           tenants rebuilt from history at mid).
//   BM_DiffTenants          Diff of the current resolved views of integration and bench
//                           (in memory).
//   BM_RollbackDryRun       Dry run of a whole-tenant rollback to mid (1,000 keys to write).
//   items = keys compared / written for the diffs and the rollback.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "server/core/clock.h"
#include "server/core/config_core.h"
#include "server/core/history_core.h"
#include "spdlog/spdlog.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"

namespace confcenter {
namespace {

constexpr int kKeys = 1000;
constexpr int kKeysPerTxn = 100;
constexpr char kTenant[] = "bench";
constexpr char kService[] = "svc";

struct Env {
  std::filesystem::path dir;
  std::unique_ptr<ConfigCore> core;
  std::unique_ptr<HistoryCore> history;
  int64_t mid = 0;
  int versions_per_key = 100;
};
Env* g_env = nullptr;

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "history_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "key.%04d", i);
  return buf;
}

void MustTxn(ConfigCore& core, std::vector<WriteOp> ops) {
  std::promise<absl::StatusOr<TxnResult>> done;
  core.Txn(std::move(ops), false,
           [&](absl::StatusOr<TxnResult> r) { done.set_value(std::move(r)); });
  absl::StatusOr<TxnResult> result = done.get_future().get();
  if (!result.ok()) Die("setup Txn", result.status());
}

// Writes every key of `tenant` once with a value naming `round`.
void WriteRound(ConfigCore& core, const std::string& tenant, int round) {
  for (int first = 0; first < kKeys; first += kKeysPerTxn) {
    std::vector<WriteOp> ops;
    for (int i = first; i < first + kKeysPerTxn; ++i) {
      ops.push_back({WriteOpType::kPut, tenant, kService, Key(i),
                     absl::StrCat("value of ", Key(i), " in round ", round), 0, std::nullopt});
    }
    MustTxn(core, std::move(ops));
  }
}

void BM_HistoryOneKey(benchmark::State& state) {
  HistoryQuery query;
  query.tenant = kTenant;
  query.service = kService;
  query.key = Key(kKeys / 2);
  query.page_size = 1000;
  int64_t items = 0;
  for (auto _ : state) {
    absl::StatusOr<HistoryPage> page = g_env->history->History(query);
    if (!page.ok()) Die("History", page.status());
    items += static_cast<int64_t>(page->versions.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_HistoryOneKey);

void BM_HistoryPrefix(benchmark::State& state) {
  HistoryQuery query;
  query.tenant = kTenant;
  query.service = kService;
  query.prefix = "key.05";
  query.page_size = 1000;
  int64_t items = 0;
  for (auto _ : state) {
    absl::StatusOr<HistoryPage> page = g_env->history->History(query);
    if (!page.ok()) Die("History", page.status());
    items += static_cast<int64_t>(page->versions.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_HistoryPrefix);

void BM_DiffRevisions(benchmark::State& state, bool own) {
  DiffQuery query;
  query.mode = DiffMode::kRevisions;
  query.tenant = kTenant;
  query.from_revision = g_env->mid;
  query.own_entries = own;
  int64_t items = 0;
  for (auto _ : state) {
    absl::StatusOr<DiffResult> diff = g_env->history->Diff(query);
    if (!diff.ok()) Die("Diff", diff.status());
    items += static_cast<int64_t>(diff->entries.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK_CAPTURE(BM_DiffRevisions, own, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DiffRevisions, resolved, false)->Unit(benchmark::kMillisecond);

void BM_DiffTenants(benchmark::State& state) {
  DiffQuery query;
  query.mode = DiffMode::kTenants;
  query.tenant = "integration";
  query.other_tenant = kTenant;
  int64_t items = 0;
  for (auto _ : state) {
    absl::StatusOr<DiffResult> diff = g_env->history->Diff(query);
    if (!diff.ok()) Die("Diff", diff.status());
    items += static_cast<int64_t>(diff->entries.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_DiffTenants)->Unit(benchmark::kMillisecond);

void BM_RollbackDryRun(benchmark::State& state) {
  int64_t items = 0;
  for (auto _ : state) {
    std::promise<absl::StatusOr<RollbackOutcome>> done;
    g_env->history->Rollback(
        {kTenant, "", "", g_env->mid, true}, {},
        [&](absl::StatusOr<RollbackOutcome> r) { done.set_value(std::move(r)); });
    absl::StatusOr<RollbackOutcome> outcome = done.get_future().get();
    if (!outcome.ok()) Die("Rollback", outcome.status());
    items += static_cast<int64_t>(outcome->changes.size());
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_RollbackDryRun)->Unit(benchmark::kMillisecond);

Env* SetUp(int versions_per_key) {
  char dir_template[] = "/tmp/confcenter-history-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("history_bench: mkdtemp");
    std::exit(1);
  }
  auto* env = new Env;
  env->dir = dir_template;
  env->versions_per_key = versions_per_key;
  storage::RocksDbStoreOptions store_options;
  store_options.sync = false;  // setup speed; reads do not depend on it
  auto store = storage::OpenRocksDbStore((env->dir / "db").string(), store_options);
  if (!store.ok()) Die("open store", store.status());
  auto core = ConfigCore::Open(*std::move(store), {}, SystemClock::Default());
  if (!core.ok()) Die("open core", core.status());
  env->core = *std::move(core);
  HistoryOptions options;
  options.compaction_interval = absl::ZeroDuration();
  env->history = std::make_unique<HistoryCore>(env->core.get(), options, SystemClock::Default());

  std::promise<absl::StatusOr<RegisterResult>> registered;
  RegisterCommand command;
  command.tenant = kTenant;
  command.services.emplace_back().set_name(kService);
  env->core->Register(std::move(command), [&](absl::StatusOr<RegisterResult> r) {
    registered.set_value(std::move(r));
  });
  if (auto r = registered.get_future().get(); !r.ok()) Die("Register", r.status());
  WriteRound(*env->core, "integration", 0);
  for (int round = 1; round <= versions_per_key; ++round) {
    WriteRound(*env->core, kTenant, round);
    if (round == versions_per_key / 2) env->mid = env->core->revision();
  }
  if (env->mid == 0) env->mid = env->core->revision();
  std::fprintf(stderr, "history_bench: %d versions of %d keys in tenant %s, mid revision %lld\n",
               versions_per_key * kKeys, kKeys, kTenant, static_cast<long long>(env->mid));
  return env;
}

void TearDown(Env* env) {
  env->history.reset();
  env->core.reset();
  std::error_code ec;
  std::filesystem::remove_all(env->dir, ec);
  delete env;
}

}  // namespace
}  // namespace confcenter

int main(int argc, char** argv) {
  // --versions_per_key=N (ours) before Google Benchmark's flags.
  int versions_per_key = 100;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    constexpr char kFlag[] = "--versions_per_key=";
    if (std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) == 0) {
      versions_per_key = std::max(1, std::atoi(argv[i] + sizeof(kFlag) - 1));
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  spdlog::set_level(spdlog::level::warn);
  confcenter::g_env = confcenter::SetUp(versions_per_key);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  confcenter::TearDown(confcenter::g_env);
  confcenter::g_env = nullptr;
  return 0;
}
