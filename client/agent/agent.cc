#include "client/agent/agent.h"

#include <sys/stat.h>

#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "spdlog/spdlog.h"

namespace confcenter::agent {

struct Agent::View {
  ViewOptions options;
  std::string name;
  std::string stale_path;
  std::unique_ptr<Subscription> subscription;
  prometheus::Gauge* revision_gauge = nullptr;
  prometheus::Gauge* stale_gauge = nullptr;
  prometheus::Counter* writes_counter = nullptr;
  prometheus::Counter* errors_counter = nullptr;

  mutable absl::Mutex mu;
  ViewStatus status ABSL_GUARDED_BY(mu);
  bool stale_flag_written ABSL_GUARDED_BY(mu) = false;
};

namespace {

absl::Status CheckView(const ViewOptions& view, const std::string& field) {
  if (absl::Status s = ValidateTenantName(field + ".tenant", view.tenant); !s.ok()) return s;
  if (absl::Status s = ValidateServiceName(field + ".service", view.service); !s.ok()) return s;
  if (view.file.path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".path: required"));
  }
  if (view.render.format == Format::kTemplate && view.render.templ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".template: required with format template"));
  }
  if (absl::Status s = CheckWritable(view.file.path); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(field, ".path: ", s.message()));
  }
  return absl::OkStatus();
}

// Makes `dir` (and its parents) if missing, 0700 when the agent makes it (the cached views may
// hold secrets); a directory that exists is left as its owner set it (it may be shared, e.g.
// --cache-dir /var/cache). Errors show at the first write.
void MakePrivateDirectory(const std::string& dir) {
  std::error_code ignored;
  if (std::filesystem::create_directories(dir, ignored)) chmod(dir.c_str(), 0700);
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)), registry_(std::make_shared<prometheus::Registry>()) {}

Agent::~Agent() {
  // Subscriptions first: no callback may run into a view that is going away.
  for (auto& view : views_) view->subscription.reset();
}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(AgentOptions options) {
  if (options.views.empty()) return absl::InvalidArgumentError("views: at least one is required");
  for (size_t i = 0; i < options.views.size(); ++i) {
    if (absl::Status s = CheckView(options.views[i], absl::StrCat("views[", i, "]")); !s.ok()) {
      return s;
    }
    for (size_t j = 0; j < i; ++j) {
      if (options.views[j].file.path == options.views[i].file.path) {
        return absl::InvalidArgumentError(absl::StrCat("views[", i,
                                                       "].path: ", options.views[i].file.path,
                                                       " is written by views[", j, "] already"));
      }
    }
  }
  if (absl::Status s = options.notify.Validate(); !s.ok()) return s;
  if (!options.cache_dir.empty()) {
    MakePrivateDirectory(options.cache_dir);
    if (absl::Status s = CheckWritable(options.cache_dir + "/x"); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("cache_dir: ", s.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options.client);
  if (!client.ok()) return client.status();

  std::unique_ptr<Agent> agent(new Agent(std::move(options)));
  agent->client_ = std::move(*client);
  agent->notifier_ = std::make_unique<Notifier>(agent->options_.notify);
  auto& revision_family = prometheus::BuildGauge()
                              .Name("confcenter_agent_view_revision")
                              .Help("The revision of the view the file holds")
                              .Register(*agent->registry_);
  auto& stale_family = prometheus::BuildGauge()
                           .Name("confcenter_agent_view_stale")
                           .Help("1 while the file holds a view not known to be current")
                           .Register(*agent->registry_);
  auto& writes_family = prometheus::BuildCounter()
                            .Name("confcenter_agent_file_writes_total")
                            .Help("Times the file was rewritten because its content changed")
                            .Register(*agent->registry_);
  auto& errors_family = prometheus::BuildCounter()
                            .Name("confcenter_agent_write_errors_total")
                            .Help("Renders or writes of the file that failed")
                            .Register(*agent->registry_);

  const AgentOptions& opts = agent->options_;
  for (const ViewOptions& view_options : opts.views) {
    auto view = std::make_unique<View>();
    view->options = view_options;
    view->name = absl::StrCat(view_options.tenant, "/", view_options.service, " -> ",
                              view_options.file.path);
    view->stale_path = view_options.file.path + ".stale";
    const std::map<std::string, std::string> labels = {{"tenant", view_options.tenant},
                                                       {"service", view_options.service},
                                                       {"path", view_options.file.path}};
    view->revision_gauge = &revision_family.Add(labels);
    view->stale_gauge = &stale_family.Add(labels);
    view->writes_counter = &writes_family.Add(labels);
    view->errors_counter = &errors_family.Add(labels);
    {
      absl::MutexLock lock(&view->mu);
      view->status.name = view->name;
    }

    SubscriptionOptions sub;
    sub.tenant = view_options.tenant;
    sub.services = {view_options.service};
    const std::filesystem::path path(view_options.file.path);
    const std::string cache_dir = opts.cache_dir.empty()
                                      ? (path.parent_path() / ".confcenter-cache").string()
                                      : opts.cache_dir;
    // Named by the view and its file's whole path: two views never share a cache.
    sub.cache_file = absl::StrCat(cache_dir, "/", view_options.tenant, ".", view_options.service,
                                  ".", path.filename().string(), ".",
                                  absl::Hex(std::hash<std::string>()(path.string())), ".json");
    MakePrivateDirectory(cache_dir);
    sub.initial_backoff = opts.initial_backoff;
    sub.max_backoff = opts.max_backoff;
    sub.credentials = opts.client.credentials;
    sub.instance.enabled = opts.report_instance;
    sub.instance.service = view_options.service;
    sub.instance.labels = opts.labels;
    sub.instance.labels["agent"] = "confcenter-agent";
    View* raw = view.get();
    Agent* self = agent.get();
    // After every change the subscription applies, from its first snapshot on: the file is
    // rewritten before the revision counts as applied.
    sub.on_changes = [self, raw](const std::vector<ConfigChange>&, int64_t) {
      self->Sync(*raw, true);
    };
    {
      // Held until `subscription` is set: a first snapshot's Sync waits for it.
      absl::MutexLock lock(&view->mu);
      view->subscription = Subscription::Start(agent->client_->channel(), sub);
    }
    agent->views_.push_back(std::move(view));
  }
  // A copy from the cache, to serve while the server is down.
  for (auto& view : agent->views_) agent->Sync(*view, false);
  return agent;
}

void Agent::Sync(View& view, bool notify) {
  absl::MutexLock lock(&view.mu);
  Subscription& sub = *view.subscription;
  const int64_t revision = sub.revision();
  const bool stale = sub.stale();
  const std::map<std::pair<std::string, std::string>, ConfigValue> snapshot = sub.Snapshot();
  if (revision == 0 && snapshot.empty()) return;  // nothing known yet: no file

  ViewData data;
  data.tenant = view.options.tenant;
  data.service = view.options.service;
  data.revision = revision;
  for (const auto& [name, value] : snapshot) {
    if (name.first != view.options.service) continue;
    if (!view.options.include_reserved && absl::StartsWith(name.second, "_")) continue;
    data.entries.push_back(Entry{name.second, value.value,
                                 value.content_type == v1::CONTENT_TYPE_JSON, value.source_tenant});
  }
  absl::StatusOr<std::string> content = Render(data, view.options.render);
  const bool existed = std::filesystem::exists(view.options.file.path);
  absl::StatusOr<bool> written =
      content.ok() ? WriteFileIfChanged(view.options.file, *content) : content.status();
  if (!written.ok()) {
    if (view.status.error != written.status().message()) {
      spdlog::error("{}: {}", view.name, std::string(written.status().message()));
    }
    view.status.error = std::string(written.status().message());
    view.errors_counter->Increment();
    return;
  }
  view.status.error.clear();
  view.status.written = true;
  view.status.revision = revision;
  view.revision_gauge->Set(static_cast<double>(revision));
  if (*written) {
    ++view.status.writes;
    view.writes_counter->Increment();
    spdlog::info("{}: wrote revision {}{}", view.name, revision, stale ? " (stale)" : "");
    // The first file this agent creates is read by the application at its start; a file
    // that changes under it is told.
    if (notify && existed) notifier_->Notify(revision, {view.options.file.path});
  }
  view.status.stale = stale;
  view.stale_gauge->Set(stale ? 1 : 0);
  if (stale != view.stale_flag_written) {
    if (stale) {
      FileSpec flag{view.stale_path, 0644, std::nullopt, std::nullopt};
      const absl::Status error = sub.last_error();
      absl::StatusOr<bool> flagged = WriteFileIfChanged(
          flag, absl::StrCat("stale: ", view.options.file.path, " holds revision ", revision,
                             ", not known to be current (",
                             error.ok() ? "from the cache; the server has not answered yet"
                                        : error.ToString(),
                             ")\n"));
      view.stale_flag_written = flagged.ok();
    } else {
      std::error_code ignored;
      std::filesystem::remove(view.stale_path, ignored);
      view.stale_flag_written = false;
    }
  }
}

void Agent::Tick() {
  for (auto& view : views_) {
    bool stale_changed;
    {
      absl::MutexLock lock(&view->mu);
      stale_changed = view->status.written && view->subscription->stale() != view->status.stale;
    }
    if (stale_changed) Sync(*view, true);
  }
}

bool Agent::ready() const {
  for (const auto& view : views_) {
    absl::MutexLock lock(&view->mu);
    if (!view->status.written) return false;
  }
  return true;
}

bool Agent::fresh() const {
  for (const auto& view : views_) {
    absl::MutexLock lock(&view->mu);
    if (!view->status.written || view->status.stale) return false;
  }
  return true;
}

std::vector<ViewStatus> Agent::status() const {
  std::vector<ViewStatus> out;
  for (const auto& view : views_) {
    absl::MutexLock lock(&view->mu);
    out.push_back(view->status);
    const absl::Status stream = view->subscription->last_error();
    if (!stream.ok()) out.back().stream_error = stream.ToString();
  }
  return out;
}

}  // namespace confcenter::agent
