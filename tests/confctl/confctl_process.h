// Runs the real confctl binary as a child process for tests: to completion with its output
// collected, or in the background with its stdout read line by line (for watch).
#ifndef CONFCENTER_TESTS_CONFCTL_CONFCTL_PROCESS_H_
#define CONFCENTER_TESTS_CONFCTL_CONFCTL_PROCESS_H_

#include <chrono>
#include <string>
#include <vector>

namespace confcenter::testing {

struct ConfctlResult {
  int exit_code = -1;  // 128 + signal if killed; -1 if it could not run
  std::string out;
  std::string err;
};

// Runs confctl with `args` and CONFCENTER_ADDR=`address` (unset if empty), feeding `input`
// to its stdin, and waits for it to exit. A run longer than `limit` is killed (SIGKILL).
ConfctlResult RunConfctl(const std::vector<std::string>& args, const std::string& address,
                         const std::string& input = "",
                         std::chrono::milliseconds limit = std::chrono::seconds(30));

// confctl running in the background; killed on destruction if it still runs.
class ConfctlProcess {
 public:
  ConfctlProcess(const std::vector<std::string>& args, const std::string& address);
  ~ConfctlProcess();
  ConfctlProcess(const ConfctlProcess&) = delete;
  ConfctlProcess& operator=(const ConfctlProcess&) = delete;

  // The next line of its stdout (without "\n"); false if none came within `timeout` or
  // stdout ended.
  bool ReadLine(std::string* line, std::chrono::milliseconds timeout);
  // Waits up to `timeout` for it to exit (then kills it); returns the exit code and appends
  // what is left of stdout to *rest_of_stdout (if given).
  int Wait(std::chrono::milliseconds timeout, std::string* rest_of_stdout = nullptr);
  // Its pid (0 if it could not start), e.g. to SIGSTOP it as a peer that stopped answering.
  int pid() const { return pid_; }
  // Everything it wrote to stderr so far (complete after Wait).
  const std::string& err() const { return err_; }

 private:
  // Reads what is available on stdout and stderr, waiting at most `timeout`; false once both
  // have ended.
  bool Pump(std::chrono::milliseconds timeout);

  int pid_ = 0;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;  // read but not yet returned by ReadLine
  std::string err_;
};

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_CONFCTL_CONFCTL_PROCESS_H_
