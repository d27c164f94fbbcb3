// confcenter-agent: tells the application that its config files changed, by a signal, an
// HTTP POST or a command, retried with back-off, on a thread of its own so that writing the
// files never waits for the application.
#ifndef CONFCENTER_CLIENT_AGENT_NOTIFIER_H_
#define CONFCENTER_CLIENT_AGENT_NOTIFIER_H_

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace confcenter::agent {

struct NotifyOptions {
  // A signal (e.g. SIGHUP) to `pid`, or to the pid read from `pid_file` at each notification.
  int signal = 0;
  int pid = 0;
  std::string pid_file;
  // An HTTP POST to this URL (http://host:port/path), with a JSON body naming the files and
  // the revision; any 2xx answer is success.
  std::string url;
  // A command run by /bin/sh with CONFCENTER_REVISION and CONFCENTER_FILES (space-separated)
  // in its environment; exit 0 is success. Killed after command_timeout.
  std::string command;
  absl::Duration command_timeout = absl::Seconds(30);
  // A failed notification is tried again after initial_backoff, doubling up to max_backoff,
  // at most max_attempts times in all; then it is given up (and counted) until the next
  // change.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);

  bool enabled() const { return signal != 0 || !url.empty() || !command.empty(); }
  // INVALID_ARGUMENT naming the field: a signal without a pid or pid_file, a pid without a
  // signal, a URL that is not http://host:port/..., max_attempts < 1, negative durations.
  absl::Status Validate() const;
};

struct NotifyStats {
  int64_t sent = 0;      // notifications that succeeded
  int64_t failed = 0;    // notifications given up after max_attempts
  int64_t attempts = 0;  // every try, successful or not
};

class Notifier {
 public:
  explicit Notifier(NotifyOptions options);
  // Stops retrying and joins the thread.
  ~Notifier();

  // Files were rewritten at `revision`: the application is told once. Changes that arrive
  // while a notification is pending or being retried are told by that one (the newest
  // revision and every file).
  void Notify(int64_t revision, const std::vector<std::string>& files);
  NotifyStats stats() const;

 private:
  void Run();
  // The ways of telling (signal, url, command) that are configured.
  enum Channel { kSignal = 1, kUrl = 2, kCommand = 4 };
  // Tries each channel in `channels`; the ones that failed stay in it.
  absl::Status Attempt(int64_t revision, const std::vector<std::string>& files, int* channels);
  absl::Status Signal();
  absl::Status Post(int64_t revision, const std::vector<std::string>& files);
  absl::Status RunCommand(int64_t revision, const std::vector<std::string>& files);

  const NotifyOptions options_;
  mutable absl::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> files_ ABSL_GUARDED_BY(mu_);
  NotifyStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace confcenter::agent

#endif  // CONFCENTER_CLIENT_AGENT_NOTIFIER_H_
