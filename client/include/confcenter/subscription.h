// A microservice's live view of its configuration: subscribes to (tenant, services), keeps a
// thread-safe local copy of the resolved view, calls back on changes, reconnects with
// backoff and resumes from the last revision it saw (never a gap), and keeps the last good
// view in a local file to start from when the server cannot be reached.
//
//   confcenter::SubscriptionOptions options;
//   options.tenant = "feature-login";
//   options.services = {"login"};
//   options.cache_file = "/var/cache/login/config.json";
//   auto sub = confcenter::Subscription::Start(client.channel(), options);
//   int64_t pool = sub->GetInt("login", "db.pool.size", 8);
//   sub->OnChange("login", "db.", /*prefix=*/true, [](const confcenter::ConfigChange& c) {...});
#ifndef CONFCENTER_CLIENT_SUBSCRIPTION_H_
#define CONFCENTER_CLIENT_SUBSCRIPTION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "confcenter/credentials.h"
#include "confcenter/v1/instances.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace confcenter {

// One effective value of the view.
struct ConfigValue {
  std::string value;
  v1::ContentType content_type = v1::CONTENT_TYPE_TEXT;
  std::string source_tenant;  // the tenant of the chain it comes from
  int64_t revision = 0;       // when that entry was written
  // Non-zero: the value of the source tenant's gray release with this id, which this
  // instance is in the audience of (docs/release.md); 0 for released values.
  int64_t gray_release_id = 0;
};

// A change to one key of the view, as passed to callbacks.
struct ConfigChange {
  std::string service;
  std::string key;
  std::optional<ConfigValue> old_value;  // nullopt: the key was absent
  std::optional<ConfigValue> new_value;  // nullopt: the key is gone
  int64_t revision = 0;                  // the revision of the view after the change
};

struct SubscriptionOptions {
  // The tenant whose resolved view to follow. Required.
  std::string tenant;
  // The services to follow; empty = all.
  std::vector<std::string> services;
  // Where the last good view is kept (written atomically after every change, mode 0600:
  // only the owner may read it, the view may hold secrets). Empty = no file. At start, a file
  // written for the same tenant and services is loaded and served, flagged stale, until the server
  // answers; the stream then resumes from its revision.
  std::string cache_file;
  // Reconnect backoff: starts at initial_backoff, doubles up to max_backoff, each wait cut by
  // up to 50% at random (jitter). Defaults 100 ms and 10 s. After a lost connection
  // (UNAVAILABLE) the wait ends as soon as the channel connects again, to the same server or
  // to the next replica of its list (see ClientOptions::address): the channel's own
  // reconnect backoff (ClientOptions::initial_backoff, max_backoff) then sets the pace. The
  // stream resumes there from the last revision it got, as on the same server.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // Sent as x-confcenter-user. Empty = none.
  std::string user;
  // The bearer token (token or token_file, see credentials.h) sent on every stream; a
  // token_file is re-read when it changes, so each reconnect sends the current token. The
  // TLS fields are not used here: TLS is the channel's, made with Client::MakeChannel (or
  // Client::channel()) from the same Credentials. A token_file that cannot be read fails
  // the attempt with UNAUTHENTICATED (see last_error()), retried at max_backoff. Default:
  // no token.
  Credentials credentials;

  // How this process names itself to the server (InstanceService): it is listed by
  // ListInstances (`confctl instances`) while its stream is open; after the callbacks of
  // revision R have run it reports R as applied, so `confctl wait-applied` knows when a change
  // has taken effect; and it reports its self-check. The reports go over the same channel as
  // the stream (no connection of their own). On by default.
  struct Instance {
    bool enabled = true;
    // Stable for the process. Default: $POD_NAME (Kubernetes downward API) or the host name,
    // then the process id and 4 random bytes, e.g. "login-7d9f-x2:4711:9f3a0c1e".
    std::string id;
    // The service it runs as. Default: the first of `services`.
    std::string service;
    // Free-form (at most 32, 4 KiB with the names), e.g. {"version", "1.3.0"}.
    std::map<std::string, std::string> labels;
  } instance;
  // The service's self-check (its health beyond "the process runs"): OK, or an error whose
  // message says what fails. Run at start, after every applied change, every
  // self_check_interval and on CheckNow(); its result is reported with the instance. Runs on
  // the subscription's reporting thread; must not block for long. Unset = not reported.
  std::function<absl::Status()> self_check;
  absl::Duration self_check_interval = absl::Seconds(30);
  // At most one report per this interval: the first change after a quiet spell is reported at
  // once, changes arriving faster are coalesced into the next report (the newest revision
  // applied). Bounds the server's work at 10,000 instances under a burst of writes; a
  // WaitApplied sees a burst's last revision at most this late. Zero: no bound.
  absl::Duration report_interval = absl::Seconds(1);

  // Called as Subscription::OnChanges callbacks are (once per message that changed the view,
  // after the OnChange callbacks, before the revision counts as applied), from the very first
  // message on: a callback added after Start may miss what arrived before it. Unset = none.
  std::function<void(const std::vector<ConfigChange>& changes, int64_t revision)> on_changes;
};

class Subscription {
 public:
  using Callback = std::function<void(const ConfigChange&)>;

  // Starts following. Never fails: if the server is down it keeps retrying in the
  // background, serving the cache file (if any) meanwhile. Errors that retrying cannot fix
  // (INVALID_ARGUMENT, NOT_FOUND: no such tenant) are reported by last_error() and retried
  // at max_backoff, since a tenant may be registered later; so are UNAUTHENTICATED and
  // PERMISSION_DENIED (a token file may appear, a grant may be added).
  static std::unique_ptr<Subscription> Start(std::shared_ptr<grpc::Channel> channel,
                                             SubscriptionOptions options);
  // Stops the stream and joins its thread. Callbacks never run after this returns.
  ~Subscription();

  // Typed getters: the current effective value, or `fallback` if the key is absent or does
  // not parse as the type. Thread-safe.
  std::optional<ConfigValue> Get(const std::string& service, const std::string& key) const;
  std::string GetString(const std::string& service, const std::string& key,
                        const std::string& fallback) const;
  int64_t GetInt(const std::string& service, const std::string& key, int64_t fallback) const;
  double GetDouble(const std::string& service, const std::string& key, double fallback) const;
  // true/false, yes/no, on/off, 1/0 (any case).
  bool GetBool(const std::string& service, const std::string& key, bool fallback) const;
  // Durations as "300ms", "1.5s", "2m", "1h30m" (absl::ParseDuration).
  absl::Duration GetDuration(const std::string& service, const std::string& key,
                             absl::Duration fallback) const;
  // The value parsed as a JSON document (serialized back as a string so this header needs no
  // JSON library), or `fallback` if absent or not valid JSON.
  std::string GetJson(const std::string& service, const std::string& key,
                      const std::string& fallback) const;
  // Where `service`'s endpoint `endpoint` (e.g. "grpc") is, as routed in this tenant's view:
  // the registration of the nearest tenant of the chain that registered the service (its
  // reserved key "_endpoint.<endpoint>"). Subscribe to the service (or to every service) to
  // follow it; OnChange(service, "_endpoint.", true, ...) hears when the routing moves.
  // nullopt if the view has no such endpoint.
  std::optional<std::string> Endpoint(const std::string& service,
                                      const std::string& endpoint) const;
  // Every (service, key) -> value of the view.
  std::map<std::pair<std::string, std::string>, ConfigValue> Snapshot() const;

  // Calls `callback` (on the subscription's thread, without locks held) for every change to
  // `key` of `service` (or, with prefix, to every key starting with `key`; an empty service
  // matches every service). Returns an id for RemoveCallback. Changes that a resync brings
  // (a fresh snapshot after a gap) are reported too, as the differences. Callbacks must not
  // call OnChange or RemoveCallback.
  int OnChange(const std::string& service, const std::string& key, bool prefix, Callback callback);
  // Calls `callback` (on the subscription's thread, without locks held) once for every message
  // that changed the view: a snapshot (the differences from the view before), a resync, or the
  // changes of one write, after the OnChange callbacks of them and before the revision counts
  // as applied (WaitForRevision, the instance's report). For consumers of the view as a whole,
  // e.g. one that writes it to a file. Returns an id for RemoveCallback. Same rules as OnChange.
  using BatchCallback =
      std::function<void(const std::vector<ConfigChange>& changes, int64_t revision)>;
  int OnChanges(BatchCallback callback);
  void RemoveCallback(int id);

  // The revision the view reflects (0 before any).
  int64_t revision() const;
  // The store epoch that revision belongs to (empty until the server has said). A resume
  // sends both: after a restore of the server's store (a new epoch) the stream starts again
  // from a snapshot (the callbacks hear the differences) instead of replaying revisions of
  // another history. Kept in the cache file with the revision.
  std::string epoch() const;
  // True while the view is not known to be current: served from the cache file, the stream
  // is down, or a resumed stream is still replaying. False once the current stream has
  // delivered a snapshot or said it has caught up.
  bool stale() const;
  // The error of the last failed stream attempt (OK while connected).
  absl::Status last_error() const;
  // Waits until the view is at `revision` or later, is not stale, and the callbacks for the
  // changes up to it have run; false if `timeout` passes first.
  bool WaitForRevision(int64_t revision, absl::Duration timeout) const;

  // The instance id this process reports as (SubscriptionOptions::instance).
  const std::string& instance_id() const { return instance_info_.instance_id(); }
  // Runs the self-check now and reports it (e.g. when the service knows its health changed).
  void CheckNow();
  // The last revision the server acknowledged as applied (0 before any), for tests and
  // diagnostics.
  int64_t reported_revision() const;

 private:
  Subscription(std::shared_ptr<grpc::Channel> channel, SubscriptionOptions options);
  void Run();
  // Applies one message; collects the changes for callbacks. True if it moved the view to
  // another epoch.
  bool Apply(const v1::SubscribeResponse& message, std::vector<ConfigChange>* changes);
  void Notify(const std::vector<ConfigChange>& changes, int64_t revision);
  // The reporting thread: applied revisions and self-checks (InstanceService).
  void ReportLoop();
  void LoadCache();
  void LoadCacheOrThrow();
  void SaveCache();

  const SubscriptionOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::WatchService::Stub> stub_;
  const std::unique_ptr<v1::InstanceService::Stub> instances_;
  const v1::InstanceInfo instance_info_;
  const TokenSource token_;

  // Lock order: callbacks_mu_ before mu_ (callbacks may read the view).
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, ConfigValue> view_ ABSL_GUARDED_BY(mu_);
  // Snapshot parts received so far on this connection.
  std::map<std::pair<std::string, std::string>, ConfigValue> incoming_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::string epoch_ ABSL_GUARDED_BY(mu_);
  // The stream spoke of another epoch than the view's: the next attempt asks for a snapshot.
  bool restart_with_snapshot_ ABSL_GUARDED_BY(mu_) = false;
  // Callbacks have run up to here.
  int64_t notified_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // A snapshot or the cache was applied.
  bool has_view_ ABSL_GUARDED_BY(mu_) = false;
  bool stale_ ABSL_GUARDED_BY(mu_) = true;
  // This connection delivered a snapshot or caught-up progress.
  bool caught_up_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  // The stream to cancel on stop.
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Reporting: the stream is open and has delivered a message (the server lists it).
  bool stream_open_ ABSL_GUARDED_BY(mu_) = false;
  int64_t reported_revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool report_due_ ABSL_GUARDED_BY(mu_) = false;    // a new stream: report again
  bool check_due_ ABSL_GUARDED_BY(mu_) = false;     // run the self-check at the next report
  bool report_check_ ABSL_GUARDED_BY(mu_) = false;  // a self-check result is to be sent
  v1::SelfCheck self_check_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* active_report_ ABSL_GUARDED_BY(mu_) = nullptr;  // to cancel on stop
  std::thread report_thread_;

  struct Watcher {
    std::string service, key;
    bool prefix;
    Callback callback;
  };
  // Held while callbacks run (so RemoveCallback waits for a running one).
  mutable absl::Mutex callbacks_mu_;
  std::map<int, Watcher> watchers_ ABSL_GUARDED_BY(callbacks_mu_);
  std::map<int, BatchCallback> batch_watchers_ ABSL_GUARDED_BY(callbacks_mu_);
  int next_watcher_ ABSL_GUARDED_BY(callbacks_mu_) = 1;

  std::thread thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_CLIENT_SUBSCRIPTION_H_
