// confcenter-agent's core: follows (tenant, service) views with the client library and keeps
// each as a file, rewritten atomically when its content changes, then tells the application.
// The files are written before a revision counts as applied, so `confctl wait-applied` waits
// for them.
#ifndef CONFCENTER_CLIENT_AGENT_AGENT_H_
#define CONFCENTER_CLIENT_AGENT_AGENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/agent/file_writer.h"
#include "client/agent/notifier.h"
#include "client/agent/render.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"

namespace prometheus {
class Registry;
}

namespace confcenter::agent {

struct ViewOptions {
  std::string tenant;   // required
  std::string service;  // required
  FileSpec file;        // file.path required
  RenderOptions render;
  // Keys starting with '_' (the registry's `_endpoint.*`) are left out unless this is set.
  bool include_reserved = false;
};

struct AgentOptions {
  ClientOptions client;
  std::vector<ViewOptions> views;  // at least one
  // Where each view's last good copy is kept (the library's cache file, 0600), to start from
  // while the server is down. Default: ".confcenter-cache" beside each view's file.
  std::string cache_dir;
  NotifyOptions notify;
  // Reported with the instance of every view (InstanceService), with agent=confcenter-agent.
  std::map<std::string, std::string> labels;
  // Each view's subscription is listed as an instance and reports what it applied (off for
  // --once, which would leave a gone instance behind).
  bool report_instance = true;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
};

// The state of one view, for /readyz, /metrics and --once.
struct ViewStatus {
  std::string name;          // "tenant/service -> path"
  bool written = false;      // the file holds a view (from the server or the cache)
  bool stale = true;         // ... that is not known to be current (stale flag file beside it)
  int64_t revision = 0;      // the revision the file reflects
  int64_t writes = 0;        // times the file was rewritten
  std::string error;         // the last render or write error, empty if none
  std::string stream_error;  // why the subscription's last attempt failed, empty if it did not
};

class Agent {
 public:
  // Checks the options (errors name the field: "views[1].path: ..."), that every file's
  // directory is writable, then starts following every view. A view whose cache holds a copy
  // is written from it at once, flagged stale. Never fails because the server is down.
  static absl::StatusOr<std::unique_ptr<Agent>> Start(AgentOptions options);
  ~Agent();

  // Rewrites stale flags after the connection came or went (call every few hundred ms).
  void Tick();
  // Every view's file is written (from the server or the cache).
  bool ready() const;
  // Every view's file is written from a current view.
  bool fresh() const;
  std::vector<ViewStatus> status() const;
  NotifyStats notify_stats() const { return notifier_->stats(); }
  // Prometheus metrics of the agent (gauges updated by Tick and writes).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  struct View;
  explicit Agent(AgentOptions options);
  // Renders the view's current state and writes it if it changed; then notifies.
  void Sync(View& view, bool notify);

  const AgentOptions options_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Notifier> notifier_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::unique_ptr<View>> views_;
};

}  // namespace confcenter::agent

#endif  // CONFCENTER_CLIENT_AGENT_AGENT_H_
