// confcenter-agent: keeps (tenant, service) views of confcenter as files for applications in
// any language, and tells them when the files change. See docs/agent.md.
//
//   confcenter-agent --address 127.0.0.1:7070 --tenant feat-x --service orders
//       --format env --path /run/orders/config.env --notify-signal HUP
//       --notify-pid-file /run/orders.pid
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/agent/agent.h"
#include "httplib.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "yaml-cpp/yaml.h"

#ifndef CONFCENTER_AGENT_VERSION
#define CONFCENTER_AGENT_VERSION "dev"
#endif

namespace {

using confcenter::agent::AgentOptions;
using confcenter::agent::ViewOptions;

volatile std::sig_atomic_t g_stop = 0;

// A config error: the one line the agent exits with.
struct ConfigError {
  std::string message;
};

absl::StatusOr<int> ParseSignal(std::string name) {
  static const std::map<std::string, int> kSignals = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"WINCH", SIGWINCH}, {"CONT", SIGCONT}};
  int number = 0;
  if (absl::SimpleAtoi(name, &number) && number > 0 && number < NSIG) return number;
  name = absl::AsciiStrToUpper(name);
  if (absl::StartsWith(name, "SIG")) name = name.substr(3);
  if (auto it = kSignals.find(name); it != kSignals.end()) return it->second;
  return absl::InvalidArgumentError(absl::StrCat(
      "notify.signal: \"", name, "\" is no signal (HUP, USR1, USR2, TERM, ... or a number)"));
}

absl::Duration ParseDurationOr(const std::string& text, const std::string& field) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    throw ConfigError{absl::StrCat(field, ": \"", text, "\" is no duration (e.g. 30s)")};
  }
  return d;
}

void Check(const absl::Status& status) {
  if (!status.ok()) throw ConfigError{std::string(status.message())};
}

std::string ReadText(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  if (!in) throw ConfigError{absl::StrCat(field, ": cannot read ", path)};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The flags of one view, or one entry of the config file's `views`.
struct ViewFlags {
  std::string tenant, service, format = "json", path, template_file, mode = "0600", owner,
                               env_prefix;
  bool nested = false, include_reserved = false;
  std::map<std::string, std::string> env_names;
};

ViewOptions MakeView(const ViewFlags& flags, const std::string& field) {
  ViewOptions view;
  view.tenant = flags.tenant;
  view.service = flags.service;
  view.file.path = flags.path;
  view.include_reserved = flags.include_reserved;
  absl::StatusOr<confcenter::agent::Format> format = confcenter::agent::ParseFormat(flags.format);
  if (!format.ok()) throw ConfigError{absl::StrCat(field, ".", format.status().message())};
  view.render.format = *format;
  view.render.nested = flags.nested;
  view.render.env_prefix = flags.env_prefix;
  view.render.env_names = flags.env_names;
  if (!flags.template_file.empty()) {
    absl::StatusOr<std::shared_ptr<const confcenter::agent::Template>> parsed =
        confcenter::agent::Template::Parse(ReadText(flags.template_file, field + ".template"));
    if (!parsed.ok()) {
      throw ConfigError{
          absl::StrCat(field, ".template: ", flags.template_file, ": ", parsed.status().message())};
    }
    view.render.templ = *parsed;
    if (flags.format == "json") view.render.format = confcenter::agent::Format::kTemplate;
    if (view.render.format != confcenter::agent::Format::kTemplate) {
      throw ConfigError{
          absl::StrCat(field, ".template: only with format template, not ", flags.format)};
    }
  }
  absl::StatusOr<mode_t> mode = confcenter::agent::ParseMode(flags.mode, field + ".mode");
  Check(mode.status());
  view.file.mode = *mode;
  if (!flags.owner.empty()) {
    Check(confcenter::agent::ParseOwner(flags.owner, field + ".owner", &view.file));
  }
  return view;
}

template <typename T>
void Read(const YAML::Node& node, const char* name, T* out, const std::string& field) {
  if (!node[name]) return;
  try {
    *out = node[name].as<T>();
  } catch (const YAML::Exception& e) {
    throw ConfigError{absl::StrCat(field, name, ": ", e.msg)};
  }
}

// The config file (YAML): top-level settings and `views`. See docs/agent.md.
void LoadConfigFile(const std::string& path, AgentOptions* options, std::string* listen,
                    std::string* notify_signal) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw ConfigError{absl::StrCat("--config: ", path, ": ", e.msg)};
  }
  if (!root.IsMap()) throw ConfigError{absl::StrCat("--config: ", path, ": not a YAML map")};
  Read(root, "address", &options->client.address, "");
  Read(root, "cache_dir", &options->cache_dir, "");
  Read(root, "listen", listen, "");
  Read(root, "labels", &options->labels, "");
  if (YAML::Node c = root["credentials"]) {
    Read(c, "ca_file", &options->client.credentials.ca_file, "credentials.");
    Read(c, "cert_file", &options->client.credentials.cert_file, "credentials.");
    Read(c, "key_file", &options->client.credentials.key_file, "credentials.");
    Read(c, "token_file", &options->client.credentials.token_file, "credentials.");
    Read(c, "server_name", &options->client.credentials.server_name, "credentials.");
  }
  if (YAML::Node n = root["notify"]) {
    Read(n, "signal", notify_signal, "notify.");
    Read(n, "pid", &options->notify.pid, "notify.");
    Read(n, "pid_file", &options->notify.pid_file, "notify.");
    Read(n, "url", &options->notify.url, "notify.");
    Read(n, "command", &options->notify.command, "notify.");
    Read(n, "max_attempts", &options->notify.max_attempts, "notify.");
    std::string timeout;
    Read(n, "command_timeout", &timeout, "notify.");
    if (!timeout.empty()) {
      options->notify.command_timeout = ParseDurationOr(timeout, "notify.command_timeout");
    }
  }
  const YAML::Node views = root["views"];
  if (views && !views.IsSequence()) throw ConfigError{"views: must be a list"};
  for (size_t i = 0; views && i < views.size(); ++i) {
    const std::string field = absl::StrCat("views[", i, "]");
    const YAML::Node v = views[i];
    ViewFlags flags;
    Read(v, "tenant", &flags.tenant, field + ".");
    Read(v, "service", &flags.service, field + ".");
    Read(v, "format", &flags.format, field + ".");
    Read(v, "path", &flags.path, field + ".");
    Read(v, "template", &flags.template_file, field + ".");
    Read(v, "mode", &flags.mode, field + ".");
    Read(v, "owner", &flags.owner, field + ".");
    Read(v, "nested", &flags.nested, field + ".");
    Read(v, "env_prefix", &flags.env_prefix, field + ".");
    Read(v, "env_names", &flags.env_names, field + ".");
    Read(v, "include_reserved", &flags.include_reserved, field + ".");
    options->views.push_back(MakeView(flags, field));
  }
}

// Serves /healthz, /readyz and /metrics on `listen` (host:port) until destroyed.
class HealthServer {
 public:
  HealthServer(const std::string& listen, confcenter::agent::Agent* agent) {
    const size_t colon = listen.rfind(':');
    int port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
      throw ConfigError{absl::StrCat("--listen: \"", listen, "\" is not host:port")};
    }
    const std::string host = listen.substr(0, colon);
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    server_.Get("/readyz", [agent](const httplib::Request&, httplib::Response& res) {
      std::string body;
      for (const confcenter::agent::ViewStatus& view : agent->status()) {
        absl::StrAppend(
            &body, view.name, ": ",
            !view.written ? "not written yet"
                          : absl::StrCat("revision ", view.revision, view.stale ? " (stale)" : ""),
            view.error.empty() ? "" : absl::StrCat(" error: ", view.error), "\n");
      }
      res.status = agent->ready() ? 200 : 503;
      res.set_content(body, "text/plain");
    });
    server_.Get("/metrics", [agent](const httplib::Request&, httplib::Response& res) {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, agent->registry()->Collect());
      res.set_content(out.str(), "text/plain; version=0.0.4");
    });
    if (!server_.bind_to_port(host, port)) {
      throw ConfigError{absl::StrCat("--listen: cannot listen on ", listen)};
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~HealthServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  httplib::Server server_;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is left to nothing (a supervisor's log gets both anyway).
  spdlog::set_default_logger(spdlog::stderr_color_mt("confcenter-agent"));
  CLI::App app{
      "confcenter-agent: keeps views of confcenter as files and tells the application "
      "when they change (docs/agent.md)"};
  std::string config_file, listen = "127.0.0.1:7091", once_timeout = "30s", notify_signal, address,
                           cache_dir;
  ViewFlags flags;
  // The flags' own values: applied over the config file's, when given.
  AgentOptions given;
  std::vector<std::string> labels;
  bool once = false;
  app.set_version_flag("--version", CONFCENTER_AGENT_VERSION);
  app.add_option("--config", config_file, "YAML file with settings and any number of views");
  app.add_option("--address", address,
                 "confcenterd address (replicas comma-separated); default $CONFCENTER_ADDR "
                 "or 127.0.0.1:7070");
  app.add_option("--tenant", flags.tenant, "tenant of the view given by flags");
  app.add_option("--service", flags.service, "its service");
  app.add_option("--path", flags.path, "the file to keep");
  app.add_option("--format", flags.format, "json, yaml, properties, env or template")
      ->capture_default_str();
  app.add_flag("--nested", flags.nested, "nest dotted keys (json, yaml)");
  app.add_option("--template", flags.template_file, "mustache template file (format template)");
  app.add_option("--mode", flags.mode, "file mode, octal")->capture_default_str();
  app.add_option("--owner", flags.owner, "file owner, user[:group]");
  app.add_option("--env-prefix", flags.env_prefix, "prefix of env variable names");
  app.add_flag("--include-reserved", flags.include_reserved,
               "keep the registry's _endpoint.* keys in the file");
  app.add_option("--cache-dir", cache_dir,
                 "where the last good views are kept; default .confcenter-cache beside each file");
  app.add_option("--notify-signal", notify_signal, "signal the application: HUP, USR1, ...");
  app.add_option("--notify-pid", given.notify.pid, "pid to signal");
  app.add_option("--notify-pid-file", given.notify.pid_file, "file holding the pid to signal");
  app.add_option("--notify-url", given.notify.url, "POST here after a change (http://...)");
  app.add_option("--notify-command", given.notify.command, "run this (sh -c) after a change");
  app.add_option("--notify-max-attempts", given.notify.max_attempts,
                 "tries per notification, with back-off")
      ->capture_default_str();
  app.add_option("--label", labels, "instance label key=value (repeatable)");
  app.add_option("--listen", listen, "/healthz, /readyz, /metrics here; empty: off")
      ->capture_default_str();
  app.add_flag("--once", once, "write the files and exit (Kubernetes init container)");
  app.add_option("--once-timeout", once_timeout, "how long --once waits for the server")
      ->capture_default_str();
  app.add_option("--ca-file", given.client.credentials.ca_file, "TLS: CA ($CONFCENTER_CA)");
  app.add_option("--cert-file", given.client.credentials.cert_file,
                 "mutual TLS: client certificate ($CONFCENTER_CERT)");
  app.add_option("--key-file", given.client.credentials.key_file,
                 "mutual TLS: its key ($CONFCENTER_KEY)");
  app.add_option("--token-file", given.client.credentials.token_file,
                 "bearer token file, re-read when it changes ($CONFCENTER_TOKEN_FILE)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "confcenter-agent: %s (--help lists the flags)\n", e.what());
    return 2;
  }
  auto flag_given = [&app](const char* name) { return app.count(name) > 0; };

  AgentOptions options;
  options.client.credentials = confcenter::Credentials::FromEnvironment();
  std::unique_ptr<confcenter::agent::Agent> agent;
  std::unique_ptr<HealthServer> health;
  absl::Duration once_wait;
  try {
    // Precedence: a flag, else the config file, else the environment, else the default.
    if (const char* env = std::getenv("CONFCENTER_ADDR"); env != nullptr && *env != '\0') {
      options.client.address = env;
    }
    std::string file_listen = listen, file_signal;
    if (!config_file.empty()) LoadConfigFile(config_file, &options, &file_listen, &file_signal);
    if (!flag_given("--listen")) listen = file_listen;
    if (!flag_given("--notify-signal")) notify_signal = file_signal;
    if (flag_given("--address")) options.client.address = address;
    if (flag_given("--cache-dir")) options.cache_dir = cache_dir;
    if (flag_given("--notify-pid")) options.notify.pid = given.notify.pid;
    if (flag_given("--notify-pid-file")) options.notify.pid_file = given.notify.pid_file;
    if (flag_given("--notify-url")) options.notify.url = given.notify.url;
    if (flag_given("--notify-command")) options.notify.command = given.notify.command;
    if (flag_given("--notify-max-attempts")) {
      options.notify.max_attempts = given.notify.max_attempts;
    }
    confcenter::Credentials& credentials = options.client.credentials;
    if (flag_given("--ca-file")) credentials.ca_file = given.client.credentials.ca_file;
    if (flag_given("--cert-file")) credentials.cert_file = given.client.credentials.cert_file;
    if (flag_given("--key-file")) credentials.key_file = given.client.credentials.key_file;
    if (flag_given("--token-file")) credentials.token_file = given.client.credentials.token_file;
    options.report_instance = !once;
    if (!flags.tenant.empty() || !flags.service.empty() || !flags.path.empty()) {
      options.views.push_back(MakeView(flags, absl::StrCat("views[", options.views.size(), "]")));
    }
    if (!notify_signal.empty()) {
      absl::StatusOr<int> signal = ParseSignal(notify_signal);
      Check(signal.status());
      options.notify.signal = *signal;
    }
    for (const std::string& label : labels) {
      std::pair<std::string, std::string> kv = absl::StrSplit(label, absl::MaxSplits('=', 1));
      if (kv.first.empty()) throw ConfigError{absl::StrCat("--label: \"", label, "\" is not k=v")};
      options.labels[kv.first] = kv.second;
    }
    once_wait = ParseDurationOr(once_timeout, "--once-timeout");
    if (options.views.empty()) {
      throw ConfigError{"views: none given (--tenant, --service and --path, or --config)"};
    }
    absl::StatusOr<std::unique_ptr<confcenter::agent::Agent>> started =
        confcenter::agent::Agent::Start(options);
    Check(started.status());
    agent = std::move(*started);
    if (!listen.empty() && !once) health = std::make_unique<HealthServer>(listen, agent.get());
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "confcenter-agent: %s\n", e.message.c_str());
    return 2;
  }

  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  if (once) {
    const absl::Time deadline = absl::Now() + once_wait;
    while (!g_stop && !agent->fresh() && absl::Now() < deadline) {
      agent->Tick();
      absl::SleepFor(absl::Milliseconds(20));
    }
    for (const confcenter::agent::ViewStatus& view : agent->status()) {
      if (!view.written) {
        const std::string why = !view.error.empty() ? view.error
                                : !view.stream_error.empty()
                                    ? view.stream_error
                                    : "no answer from the server, no cache";
        std::fprintf(stderr, "confcenter-agent: %s: not written within %s (%s)\n",
                     view.name.c_str(), once_timeout.c_str(), why.c_str());
        return 1;
      }
      if (view.stale) {
        spdlog::warn("{}: written from the cache at revision {}, stale", view.name, view.revision);
      }
    }
    return 0;
  }

  auto& notifications = prometheus::BuildCounter()
                            .Name("confcenter_agent_notifications_total")
                            .Help("Notifications of the application, by result")
                            .Register(*agent->registry());
  prometheus::Counter& sent = notifications.Add({{"result", "sent"}});
  prometheus::Counter& failed = notifications.Add({{"result", "failed"}});
  confcenter::agent::NotifyStats reported;
  while (!g_stop) {
    agent->Tick();
    const confcenter::agent::NotifyStats stats = agent->notify_stats();
    sent.Increment(static_cast<double>(stats.sent - reported.sent));
    failed.Increment(static_cast<double>(stats.failed - reported.failed));
    reported = stats;
    absl::SleepFor(absl::Milliseconds(200));
  }
  health.reset();
  agent.reset();
  return 0;
}
