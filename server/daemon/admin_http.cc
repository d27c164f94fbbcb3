#include "server/daemon/admin_http.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "httplib.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"
#include "server/api/http_listener.h"

namespace confcenter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Tenants listed by name in confcenter_tenant_subscriptions: the busiest ones, so a cluster
// with thousands of branch tenants does not get thousands of series.
constexpr size_t kTopSubscribedTenants = 20;

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

MetricFamily Gauge(const char* name, const char* help, double value) {
  MetricFamily family = Family(name, help, MetricType::Gauge);
  family.metric.emplace_back().gauge.value = value;
  return family;
}

MetricFamily Counter(const char* name, const char* help, double value) {
  MetricFamily family = Family(name, help, MetricType::Counter);
  family.metric.emplace_back().counter.value = value;
  return family;
}

// A histogram of `values` over `bounds` (ascending upper bounds; +Inf is added).
MetricFamily Histogram(const char* name, const char* help, const std::vector<int64_t>& values,
                       const std::vector<double>& bounds) {
  MetricFamily family = Family(name, help, MetricType::Histogram);
  ClientMetric::Histogram& h = family.metric.emplace_back().histogram;
  for (double bound : bounds) h.bucket.push_back({0, bound});
  h.bucket.push_back({0, std::numeric_limits<double>::infinity()});
  for (int64_t v : values) {
    ++h.sample_count;
    h.sample_sum += static_cast<double>(v);
    for (ClientMetric::Bucket& b : h.bucket) {
      if (static_cast<double>(v) <= b.upper_bound) ++b.cumulative_count;
    }
  }
  return family;
}

// The standard process_* metrics (as every Prometheus client library exports them), read
// from /proc.
void AppendProcessMetrics(absl::Time started, std::vector<MetricFamily>& out) {
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream statm("/proc/self/statm");
  double virtual_pages = 0, resident_pages = 0;
  if (statm >> virtual_pages >> resident_pages) {
    out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                        resident_pages * page));
    out.push_back(Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                        virtual_pages * page));
  }
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  if (size_t close = stat.rfind(')'); close != std::string::npos) {
    std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
    double utime = 0, stime = 0;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    if (fields.size() > 12 && absl::SimpleAtod(fields[11], &utime) &&
        absl::SimpleAtod(fields[12], &stime)) {
      out.push_back(Counter("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.",
                            (utime + stime) / ticks));
    }
  }
  std::error_code ec;
  int64_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  out.push_back(
      Gauge("process_open_fds", "Number of open file descriptors.", static_cast<double>(fds)));
  out.push_back(Gauge("process_start_time_seconds",
                      "Start time of the process since the Unix epoch in seconds.",
                      absl::ToDoubleSeconds(started - absl::UnixEpoch())));
}

void AppendInstanceMetrics(const InstanceRegistry& instances, std::vector<MetricFamily>& out) {
  const InstanceStats stats = instances.Stats();
  out.push_back(Gauge("confcenter_instances", "Instances with an open Subscribe stream.",
                      static_cast<double>(stats.connected)));
  out.push_back(Gauge("confcenter_instances_behind",
                      "Reporting instances that have not applied their view's last change.",
                      static_cast<double>(stats.behind)));
  out.push_back(Gauge("confcenter_instances_self_check_failing",
                      "Instances whose last self-check failed.",
                      static_cast<double>(stats.self_check_failing)));
  MetricFamily per_service =
      Family("confcenter_service_instances",
             "Instances with an open stream per tenant and service.", MetricType::Gauge);
  for (const auto& [key, count] : stats.per_service) {
    ClientMetric& m = per_service.metric.emplace_back();
    m.label.push_back({"tenant", key.first});
    m.label.push_back({"service", key.second});
    m.gauge.value = static_cast<double>(count);
  }
  out.push_back(std::move(per_service));
}

void AppendCoreMetrics(ConfigCore& core, WatchHub& hub, const Metrics& metrics,
                       std::vector<MetricFamily>& out) {
  std::vector<int64_t> keys_per_tenant;
  int64_t keys = 0, services = 0;
  core.ReadState([&](const ConfigState& state) {
    out.push_back(Gauge("confcenter_revision", "The last committed revision.",
                        static_cast<double>(state.revision())));
    out.push_back(Gauge("confcenter_index_bytes",
                        "Estimated memory of the in-memory index of current state "
                        "(--max_index_bytes bounds it at start).",
                        static_cast<double>(state.index_bytes())));
    keys_per_tenant.reserve(state.tenants().size());
    for (const auto& [name, tenant] : state.tenants()) {
      keys_per_tenant.push_back(tenant.key_count);
      keys += tenant.key_count;
      services += tenant.record.services_size();
    }
  });
  out.push_back(Gauge("confcenter_tenants", "Tenants (integration and branches).",
                      static_cast<double>(keys_per_tenant.size())));
  out.push_back(Gauge("confcenter_keys", "Own entries (values and masks) of all tenants.",
                      static_cast<double>(keys)));
  out.push_back(Gauge("confcenter_registered_services", "Service registrations over all tenants.",
                      static_cast<double>(services)));
  out.push_back(Histogram("confcenter_tenant_keys", "Own entries per tenant.", keys_per_tenant,
                          {0, 10, 100, 1000, 10000, 100000}));

  std::vector<std::pair<std::string, int64_t>> subscribers = hub.SubscribersPerTenant();
  int64_t open = 0;
  for (const auto& [tenant, count] : subscribers) open += count;
  out.push_back(
      Gauge("confcenter_subscriptions_open", "Open Subscribe streams.", static_cast<double>(open)));
  const size_t top = std::min(kTopSubscribedTenants, subscribers.size());
  std::partial_sort(subscribers.begin(), subscribers.begin() + top, subscribers.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  MetricFamily per_tenant =
      Family("confcenter_tenant_subscriptions",
             "Open Subscribe streams of the 20 tenants with the most.", MetricType::Gauge);
  for (size_t i = 0; i < top; ++i) {
    ClientMetric& m = per_tenant.metric.emplace_back();
    m.label.push_back({"tenant", subscribers[i].first});
    m.gauge.value = static_cast<double>(subscribers[i].second);
  }
  out.push_back(std::move(per_tenant));
  out.push_back(Gauge("confcenter_subscription_queue_high_water_max_messages",
                      "The most messages any stream has had queued since start-up.",
                      static_cast<double>(metrics.max_queue_depth())));
  out.push_back(Gauge("confcenter_write_queue_requests",
                      "Write requests waiting for the committer.",
                      static_cast<double>(core.queued_writes())));

  const storage::StoreStats store = core.store()->Stats();
  out.push_back(Gauge("confcenter_store_live_bytes", "Estimated live data in the store.",
                      static_cast<double>(store.live_data_bytes)));
  out.push_back(Gauge("confcenter_store_sst_bytes", "Size of the store's SST files.",
                      static_cast<double>(store.sst_files_bytes)));
  out.push_back(Gauge("confcenter_store_memtable_bytes", "Size of the store's memtables.",
                      static_cast<double>(store.memtable_bytes)));
  out.push_back(Gauge("confcenter_store_pending_compaction_bytes",
                      "Estimated bytes compaction still has to rewrite.",
                      static_cast<double>(store.pending_compaction_bytes)));
  out.push_back(Gauge("confcenter_store_running_compactions", "Compactions running now.",
                      static_cast<double>(store.running_compactions)));
  out.push_back(Counter("confcenter_store_compactions_total",
                        "Compactions finished since start-up.",
                        static_cast<double>(store.compactions_completed)));
  out.push_back(Counter("confcenter_store_compaction_written_bytes_total",
                        "Bytes written by compactions since start-up.",
                        static_cast<double>(store.compaction_bytes_written)));
  if (core.store()->shared()) {
    out.push_back(Counter("confcenter_store_commit_conflicts_total",
                          "Commits another replica beat to the revision (planned again).",
                          static_cast<double>(store.commit_conflicts)));
    out.push_back(Counter("confcenter_store_reloads_total",
                          "Full reloads of the state after the store's change log no longer "
                          "reached this replica (its subscribers got a resync).",
                          static_cast<double>(store.reloads)));
    out.push_back(Gauge("confcenter_store_follow_silence_seconds",
                        "How long the replica's watch on the shared store has been silent.",
                        store.follow_silence_seconds));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& address,
                                                                Metrics* metrics) {
  absl::StatusOr<ListenAddress> listen = ParseListenAddress("admin_listen", address);
  if (!listen.ok()) return listen.status();
  auto http = std::make_unique<httplib::Server>();
  // Scrapes and probes are rare and quick: two threads, not one per core.
  http->new_task_queue = [] { return new httplib::ThreadPool(2); };
  std::unique_ptr<AdminServer> server(new AdminServer(metrics, std::move(http)));
  absl::StatusOr<int> bound = Bind(server->http_.get(), "admin_listen", *listen);
  if (!bound.ok()) return bound.status();
  server->port_ = *bound;
  StartServing(server->http_.get(), &server->thread_);
  return server;
}

AdminServer::AdminServer(Metrics* metrics, std::unique_ptr<httplib::Server> http)
    : metrics_(metrics), http_(std::move(http)) {
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    switch (state_.load()) {
      case ServingState::kServing: {
        absl::ReaderMutexLock lock(&core_mu_);
        if (core_ != nullptr) {
          if (storage::StoreHealth health = core_->StoreHealth(); !health.serving) {
            res.status = 503;
            res.set_content("store unavailable: " + health.reason + "\n", "text/plain");
            return;
          }
        }
        res.set_content("serving\n", "text/plain");
        return;
      }
      case ServingState::kStarting:
        res.status = 503;
        res.set_content("starting\n", "text/plain");
        return;
      case ServingState::kDraining:
        res.status = 503;
        res.set_content("draining\n", "text/plain");
        return;
    }
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

AdminServer::~AdminServer() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

void AdminServer::AttachCore(ConfigCore* core, WatchHub* hub, const InstanceRegistry* instances) {
  absl::MutexLock lock(&core_mu_);
  core_ = core;
  hub_ = hub;
  instances_ = instances;
}

void AdminServer::DetachCore() {
  absl::MutexLock lock(&core_mu_);
  core_ = nullptr;
  hub_ = nullptr;
  instances_ = nullptr;
}

std::string AdminServer::RenderMetrics() const {
  std::vector<MetricFamily> families = metrics_->registry()->Collect();
  families.push_back(Gauge("confcenter_ready", "1 while serving, 0 while starting or draining.",
                           state_.load() == ServingState::kServing ? 1 : 0));
  {
    absl::ReaderMutexLock lock(&core_mu_);
    if (core_ != nullptr) AppendCoreMetrics(*core_, *hub_, *metrics_, families);
    if (instances_ != nullptr) AppendInstanceMetrics(*instances_, families);
  }
  AppendProcessMetrics(started_, families);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace confcenter
