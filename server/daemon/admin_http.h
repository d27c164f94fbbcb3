// The admin HTTP listener of confcenterd: Prometheus metrics and the probes an orchestrator
// asks (Kubernetes liveness/readiness, load balancers).
#ifndef CONFCENTER_SERVER_DAEMON_ADMIN_HTTP_H_
#define CONFCENTER_SERVER_DAEMON_ADMIN_HTTP_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/config_core.h"
#include "server/core/metrics.h"
#include "server/watch/instance_registry.h"
#include "server/watch/watch_hub.h"

namespace httplib {
class Server;
}

namespace confcenter {

// What /readyz and the gRPC health service say.
enum class ServingState { kStarting, kServing, kDraining };

// Serves, on a thread pool of its own:
//   GET /metrics  Prometheus text format: the event metrics of `metrics` and, once a core is
//                 attached, the state read at scrape time (revision, tenants, keys per
//                 tenant, subscriptions, write queue, store size and compactions, process).
//   GET /healthz  200 "ok" while the process runs.
//   GET /readyz   200 "serving" while serving; 503 with "starting" or "draining" otherwise,
//                 and 503 "store unavailable: <why>" while the attached core's shared store
//                 cannot take writes (a replica that lost etcd or fell behind it).
class AdminServer {
 public:
  // Binds `address` ("host:port"; port 0 picks a free port) and starts serving in state
  // kStarting. `metrics` must outlive the server. INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(const std::string& address,
                                                            Metrics* metrics);
  // Stops listening and waits for requests being answered.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The bound port.
  int port() const { return port_; }
  // From now on /metrics also reports `core`'s state. `core` must stay alive until
  // DetachCore returns (which waits for a scrape reading it).
  void AttachCore(ConfigCore* core, WatchHub* hub, const InstanceRegistry* instances = nullptr);
  void DetachCore();
  void SetState(ServingState state) { state_.store(state); }

 private:
  AdminServer(Metrics* metrics, std::unique_ptr<httplib::Server> http);
  // The whole /metrics page.
  std::string RenderMetrics() const;

  Metrics* const metrics_;
  const std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  const absl::Time started_ = absl::Now();
  mutable absl::Mutex core_mu_;
  ConfigCore* core_ ABSL_GUARDED_BY(core_mu_) = nullptr;
  WatchHub* hub_ ABSL_GUARDED_BY(core_mu_) = nullptr;
  const InstanceRegistry* instances_ ABSL_GUARDED_BY(core_mu_) = nullptr;
  std::atomic<ServingState> state_{ServingState::kStarting};
  std::thread thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_DAEMON_ADMIN_HTTP_H_
