// The conformance adapter of the C++ client library (docs/clients.md, "The conformance
// adapter protocol"): a Subscription driven by commands read from a file, reporting its
// callbacks, its state and its answers as JSON lines on stdout.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "nlohmann/json.hpp"

namespace {

using nlohmann::json;

// One line per object; stdout is shared by the callback, state and command threads.
class LineWriter {
 public:
  void Write(const json& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::cout << line.dump() << '\n' << std::flush;
  }

 private:
  std::mutex mu_;
};

json ValueJson(const std::optional<confcenter::ConfigValue>& value) {
  if (!value.has_value()) return nullptr;
  return {{"value", value->value}, {"source_tenant", value->source_tenant}};
}

json Answer(confcenter::Subscription& sub, const json& command, bool* quit) {
  const std::string cmd = command.value("cmd", "");
  json reply = {{"type", "reply"}, {"id", command.value("id", 0)}};
  const std::string service = command.value("service", "");
  const std::string key = command.value("key", "");
  if (cmd == "get") {
    std::optional<confcenter::ConfigValue> value = sub.Get(service, key);
    reply["found"] = value.has_value();
    if (value.has_value()) {
      reply["value"] = value->value;
      reply["source_tenant"] = value->source_tenant;
      reply["revision"] = value->revision;
    }
  } else if (cmd == "get_int") {
    reply["value"] = sub.GetInt(service, key, command.value("fallback", int64_t{0}));
  } else if (cmd == "get_bool") {
    reply["value"] = sub.GetBool(service, key, command.value("fallback", false));
  } else if (cmd == "get_duration_ms") {
    const absl::Duration fallback = absl::Milliseconds(command.value("fallback", int64_t{0}));
    reply["value"] = absl::ToInt64Milliseconds(sub.GetDuration(service, key, fallback));
  } else if (cmd == "endpoint") {
    std::optional<std::string> address = sub.Endpoint(service, command.value("endpoint", ""));
    reply["found"] = address.has_value();
    if (address.has_value()) reply["address"] = *address;
  } else if (cmd == "wait_revision") {
    reply["ok"] = sub.WaitForRevision(command.value("revision", int64_t{0}),
                                      absl::Milliseconds(command.value("timeout_ms", 0)));
  } else if (cmd == "snapshot") {
    reply["revision"] = sub.revision();
    reply["stale"] = sub.stale();
    json entries = json::array();
    for (const auto& [name, value] : sub.Snapshot()) {  // ordered by (service, key)
      entries.push_back({{"service", name.first},
                         {"key", name.second},
                         {"value", value.value},
                         {"source_tenant", value.source_tenant}});
    }
    reply["entries"] = std::move(entries);
  } else if (cmd == "quit") {
    reply["ok"] = true;
    *quit = true;
  } else {
    reply["error"] = "unknown command: " + cmd;
  }
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"conformance adapter of the C++ client library (docs/clients.md)"};
  std::string address, tenant, cache_file, commands_file;
  std::vector<std::string> services;
  app.add_option("--address", address)->required();
  app.add_option("--tenant", tenant)->required();
  app.add_option("--service", services)->required();
  app.add_option("--cache-file", cache_file)->required();
  app.add_option("--commands", commands_file)->required();
  CLI11_PARSE(app, argc, argv);

  confcenter::ClientOptions client_options;
  client_options.address = address;
  client_options.initial_backoff = absl::Milliseconds(50);
  client_options.max_backoff = absl::Seconds(1);
  confcenter::Client client(client_options);
  confcenter::SubscriptionOptions options;
  options.tenant = tenant;
  options.services = services;
  options.cache_file = cache_file;
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Seconds(1);
  std::unique_ptr<confcenter::Subscription> sub =
      confcenter::Subscription::Start(client.channel(), options);

  LineWriter out;
  auto report = [&out](const char* tag) {
    return [&out, tag](const confcenter::ConfigChange& change) {
      out.Write({{"type", "change"},
                 {"callback", tag},
                 {"service", change.service},
                 {"key", change.key},
                 {"old", ValueJson(change.old_value)},
                 {"new", ValueJson(change.new_value)},
                 {"revision", change.revision}});
    };
  };
  sub->OnChange(services.front(), "watched", /*prefix=*/false, report("key"));
  sub->OnChange("", "p.", /*prefix=*/true, report("prefix"));

  std::atomic<bool> quit{false};
  std::thread state_thread([&] {
    int64_t last_revision = -1;
    int last_stale = -1;
    while (!quit.load()) {
      const int64_t revision = sub->revision();
      const int stale = sub->stale() ? 1 : 0;
      if (revision != last_revision || stale != last_stale) {
        out.Write({{"type", "state"}, {"revision", revision}, {"stale", stale == 1}});
        last_revision = revision;
        last_stale = stale;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });

  // Commands: complete lines appended to the file, answered in order. The loop ends with
  // "quit" or when the scenario stops this process.
  std::ifstream commands;
  std::string pending;
  bool stop = false;
  while (!stop) {
    if (!commands.is_open()) commands.open(commands_file);
    std::string chunk;
    if (commands.is_open()) {
      char buffer[4096];
      while (commands.read(buffer, sizeof buffer) || commands.gcount() > 0) {
        chunk.append(buffer, static_cast<size_t>(commands.gcount()));
      }
      commands.clear();  // at the end of the file for now; more may be appended
    }
    pending += chunk;
    for (size_t newline; !stop && (newline = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      json command = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (command.is_discarded()) {
        out.Write({{"type", "reply"}, {"id", 0}, {"error", "not JSON: " + line}});
        continue;
      }
      out.Write(Answer(*sub, command, &stop));
    }
    if (!stop) absl::SleepFor(absl::Milliseconds(10));
  }
  quit = true;
  state_thread.join();
  sub.reset();  // no callback runs after this
  return 0;
}
