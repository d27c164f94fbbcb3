#include "client/agent/notifier.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

extern char** environ;

namespace confcenter::agent {
namespace {

// "http://host:port/path" -> ("http://host:port", "/path").
bool SplitUrl(const std::string& url, std::string* origin, std::string* path) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") || rest.empty()) return false;
  const size_t slash = rest.find('/');
  *origin = absl::StrCat("http://", rest.substr(0, slash));
  *path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  return slash != 0;
}

}  // namespace

absl::Status NotifyOptions::Validate() const {
  if (signal < 0 || signal >= NSIG) {
    return absl::InvalidArgumentError(absl::StrCat("notify.signal: ", signal, " is no signal"));
  }
  if (signal != 0 && pid <= 0 && pid_file.empty()) {
    return absl::InvalidArgumentError("notify.signal: needs notify.pid or notify.pid_file");
  }
  if (signal == 0 && (pid != 0 || !pid_file.empty())) {
    return absl::InvalidArgumentError("notify.pid: needs notify.signal");
  }
  std::string origin, path;
  if (!url.empty() && !SplitUrl(url, &origin, &path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("notify.url: \"", url, "\" is not http://host:port/path"));
  }
  if (max_attempts < 1) {
    return absl::InvalidArgumentError("notify.max_attempts: must be at least 1");
  }
  if (initial_backoff < absl::ZeroDuration() || max_backoff < absl::ZeroDuration() ||
      command_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("notify: durations must not be negative");
  }
  return absl::OkStatus();
}

Notifier::Notifier(NotifyOptions options) : options_(std::move(options)) {
  if (options_.enabled()) thread_ = std::thread([this] { Run(); });
}

Notifier::~Notifier() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Notifier::Notify(int64_t revision, const std::vector<std::string>& files) {
  if (!options_.enabled()) return;
  absl::MutexLock lock(&mu_);
  pending_ = true;
  revision_ = std::max(revision_, revision);
  for (const std::string& file : files) {
    if (std::find(files_.begin(), files_.end(), file) == files_.end()) files_.push_back(file);
  }
}

NotifyStats Notifier::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Notifier::Run() {
  while (true) {
    int64_t revision;
    std::vector<std::string> files;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      pending_ = false;
      revision = revision_;
      files = std::move(files_);
      files_.clear();
    }
    absl::Duration backoff = options_.initial_backoff;
    // A retry tries again only the ways that failed: the application hears each once.
    const int all_channels = (options_.signal != 0 ? kSignal : 0) |
                             (!options_.url.empty() ? kUrl : 0) |
                             (!options_.command.empty() ? kCommand : 0);
    int channels = all_channels;
    for (int attempt = 1;; ++attempt) {
      const absl::Status status = Attempt(revision, files, &channels);
      absl::MutexLock lock(&mu_);
      ++stats_.attempts;
      if (status.ok()) {
        ++stats_.sent;
        break;
      }
      if (attempt >= options_.max_attempts) {
        ++stats_.failed;
        spdlog::warn("notify: gave up after {} attempts: {}", attempt, status.ToString());
        break;
      }
      spdlog::warn("notify: attempt {} failed ({}); again in {}", attempt, status.ToString(),
                   absl::FormatDuration(backoff));
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
      // Changes meanwhile ride on this notification, told by every way again: the ways that
      // succeeded told of the older revision only.
      if (pending_) {
        pending_ = false;
        channels = all_channels;
        revision = std::max(revision, revision_);
        for (std::string& file : files_) {
          if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
        }
        files_.clear();
      }
    }
  }
}

absl::Status Notifier::Attempt(int64_t revision, const std::vector<std::string>& files,
                               int* channels) {
  absl::Status first_error;
  auto done = [&](Channel channel, absl::Status status) {
    if (status.ok()) {
      *channels &= ~channel;
    } else if (first_error.ok()) {
      first_error = std::move(status);
    }
  };
  if (*channels & kSignal) done(kSignal, Signal());
  if (*channels & kUrl) done(kUrl, Post(revision, files));
  if (*channels & kCommand) done(kCommand, RunCommand(revision, files));
  return first_error;
}

absl::Status Notifier::Signal() {
  int pid = options_.pid;
  if (pid <= 0) {
    std::ifstream in(options_.pid_file);
    std::string text;
    if (!(in >> text) || !absl::SimpleAtoi(text, &pid) || pid <= 0) {
      return absl::UnavailableError(absl::StrCat("no pid in ", options_.pid_file));
    }
  }
  if (kill(pid, options_.signal) != 0) {
    return absl::UnavailableError(absl::StrCat("kill ", pid, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Notifier::Post(int64_t revision, const std::vector<std::string>& files) {
  std::string origin, path;
  SplitUrl(options_.url, &origin, &path);
  httplib::Client client(origin);
  client.set_connection_timeout(2);
  client.set_read_timeout(10);
  const nlohmann::json body = {{"revision", revision}, {"files", files}};
  httplib::Result result = client.Post(path, body.dump(), "application/json");
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("POST ", options_.url, ": ", httplib::to_string(result.error())));
  }
  if (result->status < 200 || result->status > 299) {
    return absl::UnavailableError(absl::StrCat("POST ", options_.url, ": HTTP ", result->status));
  }
  return absl::OkStatus();
}

absl::Status Notifier::RunCommand(int64_t revision, const std::vector<std::string>& files) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(absl::StrCat("CONFCENTER_REVISION=", revision));
  env_strings.push_back(absl::StrCat("CONFCENTER_FILES=", absl::StrJoin(files, " ")));
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", command = options_.command;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};
  pid_t child = 0;
  if (posix_spawn(&child, "/bin/sh", nullptr, nullptr, argv, envp.data()) != 0) {
    return absl::UnavailableError("cannot start /bin/sh");
  }
  // Bounded: the command gets command_timeout, then it is killed.
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(child, &status, WNOHANG)) == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (done == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    return absl::DeadlineExceededError(absl::StrCat(
        "command still running after ", absl::FormatDuration(options_.command_timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "command exited with ", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
  }
  return absl::OkStatus();
}

}  // namespace confcenter::agent
