// Child processes on loopback for tests and benchmarks (etcd, servers): free ports, a child
// with its output in a log file, the tail of that log. No gRPC.
#ifndef CONFCENTER_TESTS_CHILD_PROCESS_H_
#define CONFCENTER_TESTS_CHILD_PROCESS_H_

#include <string>
#include <vector>

namespace confcenter::testing {

// A loopback TCP port outside the kernel's ephemeral range that was free a moment ago, or 0.
int FreeLoopbackPort();

// The last `max_bytes` of a file (a server's log, to say why it failed); "" if unreadable.
std::string FileTail(const std::string& path, size_t max_bytes = 2000);

// SIGSTOP to `pid`, then waits (at most 10 s) until every thread of it has stopped: kill()
// wakes one thread to begin the stop, and on a loaded machine the others can still answer
// a request before it reaches them. True if all stopped in time.
bool StopProcess(int pid);
// SIGCONT to `pid`, then waits (at most 10 s) until none of its threads is stopped.
bool ContinueProcess(int pid);

// A child process with its stdout and stderr in a log file. Not thread-safe.
class ChildProcess {
 public:
  // Starts `binary` with `args`, output appended to `log_path`. On failure pid() == 0.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::string& log_path);
  // Stops the process (as Stop) if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // SIGTERM, then SIGKILL if it has not exited within `grace_seconds`; reaps it. Returns the
  // exit code (128 + signal if killed), -1 if it was not running.
  int Stop(int grace_seconds = 10);
  // True while the process has not exited (reaps it if it has).
  bool Running();
  // Waits for the process to exit by itself (for a command bounded by its own timeout) and
  // reaps it. Returns the exit code (128 + signal if killed), -1 if it was not running.
  int Wait();
  int pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  int pid_ = 0;
  std::string log_path_;
};

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_CHILD_PROCESS_H_
