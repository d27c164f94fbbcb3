// Test and benchmark helpers: temporary directories and the real confcenterd binary as a
// child process.
#ifndef CONFCENTER_TESTS_TEST_UTIL_H_
#define CONFCENTER_TESTS_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The storage engine the server tests run against: "etcd" when the suite runs under
// with_etcd (TEST_CONFCENTER_ETCD_ENDPOINTS is set), else "rocksdb".
std::string TestEngine();

// confcenterd started on a free loopback port with its store in `data_dir`. Under with_etcd
// (TestEngine() == "etcd") the store is the test cluster instead, under a key prefix of its
// own named after `data_dir` (so a server started again on the same dir finds its data),
// and `data_dir` then only holds the port files.
class ServerProcess {
 public:
  // Starts the server and waits until it serves (its --port_file appears). If it does not
  // start within 30 s, says why on stderr and leaves port() == 0. `env` (NAME=value) is added
  // to the server's environment. `port`: the loopback port to listen on (e.g. one a client
  // was told about before the server started); 0 = a free one.
  explicit ServerProcess(std::string data_dir, std::vector<std::string> extra_flags = {},
                         std::vector<std::string> env = {}, int port = 0);
  // Stops the server with SIGTERM if it still runs.
  ~ServerProcess();

  // Sends SIGTERM and waits; returns the exit code (or 128 + signal).
  int Stop();
  // Sends SIGKILL and waits: a crash.
  void Kill();
  // Starts the server again (after Stop or Kill) on the same port and data dir, with the
  // same flags. Returns false (and says why on stderr) if it does not start.
  bool Restart();

  int port() const { return port_; }
  // The admin HTTP listener's port (/metrics, /healthz, /readyz).
  int admin_port() const { return admin_port_; }
  // The HTTP/JSON API's port (0 if a test turned it off).
  int http_port() const { return http_port_; }
  int pid() const { return pid_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // A new channel to the server, connected (waited for up to 10 s) while the server runs.
  std::shared_ptr<grpc::Channel> Channel() const;

 private:
  int Wait();
  void Start(int port);
  std::string data_dir_;
  std::vector<std::string> extra_flags_;
  std::vector<std::string> env_;
  std::string etcd_prefix_;  // under with_etcd: the store's keys in the shared cluster
  std::string port_file_;
  std::string admin_port_file_;
  std::string http_port_file_;
  int pid_ = 0;
  int port_ = 0;
  int admin_port_ = 0;
  int http_port_ = 0;
};

// Runs confcenterd with `args` to completion; returns its exit code and fills `output` with
// what it printed (stdout and stderr). `env` (NAME=value) is added to its environment. A
// server still running after `timeout_seconds` (it started serving instead of exiting) is
// killed, and -1 returned.
int RunServerToExit(const std::vector<std::string>& args, std::string* output,
                    const std::vector<std::string>& env = {}, int timeout_seconds = 60);

// The value of the unlabelled sample `name` on the /metrics page of the admin server at
// 127.0.0.1:`admin_port`, or -1 if the page or the sample is missing.
double ScrapeMetric(int admin_port, const std::string& name);

// Polls `condition` every 10 ms until it holds or `timeout` passes; then one last look. For
// state another process changes when an awaited event happens (bounded, never a wait for time
// itself).
template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return condition();
}

// Sets the time of a server started with --testing_clock_file=`path` (server/core/clock.h's
// FileClock) to `micros` since the Unix epoch, atomically (written aside, then renamed).
void SetClockFile(const std::string& path, int64_t micros);

// The first message of a Subscribe of (tenant, service) resuming from `start_revision` of
// store epoch `epoch` (empty: none sent), read within 20 s; the stream is then cancelled.
v1::SubscribeResponse FirstMessageOfResume(const std::shared_ptr<grpc::Channel>& channel,
                                           const std::string& tenant, const std::string& service,
                                           int64_t start_revision, const std::string& epoch);

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_TEST_UTIL_H_
