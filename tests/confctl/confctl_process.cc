#include "tests/confctl/confctl_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef CONFCTL_PATH
#error "CONFCTL_PATH must name the confctl binary"
#endif

extern char** environ;

namespace confcenter::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipes {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
};

// The environment with CONFCENTER_ADDR replaced by `address` (removed if empty).
std::vector<std::string> ChildEnvironment(const std::string& address) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "CONFCENTER_ADDR=", 16) != 0) env.emplace_back(*e);
  }
  if (!address.empty()) env.push_back("CONFCENTER_ADDR=" + address);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Starts confctl with its stdin, stdout and stderr on new pipes; returns the pid.
int Spawn(const std::vector<std::string>& args, const std::string& address, Pipes* pipes) {
  std::vector<std::string> argv_strings = {CONFCTL_PATH};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = ChildEnvironment(address);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);
  if (pipe2(pipes->in, O_CLOEXEC) != 0 || pipe2(pipes->out, O_CLOEXEC) != 0 ||
      pipe2(pipes->err, O_CLOEXEC) != 0) {
    return -1;
  }
  const int pid = fork();
  if (pid == 0) {
    dup2(pipes->in[0], 0);
    dup2(pipes->out[1], 1);
    dup2(pipes->err[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(pipes->in[0]);
  close(pipes->out[1]);
  close(pipes->err[1]);
  return pid;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int KillAndWait(int pid) {
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return DecodeWaitStatus(status);
}

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Appends what `fd` has to `sink`; closes it and sets it to -1 at end of file.
void ReadAvailable(int* fd, std::string* sink) {
  char buffer[65536];
  const ssize_t n = read(*fd, buffer, sizeof(buffer));
  if (n > 0) {
    sink->append(buffer, static_cast<size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    close(*fd);
    *fd = -1;
  }
}

}  // namespace

ConfctlResult RunConfctl(const std::vector<std::string>& args, const std::string& address,
                         const std::string& input, std::chrono::milliseconds limit) {
  ConfctlResult result;
  Pipes pipes;
  const int pid = Spawn(args, address, &pipes);
  if (pid <= 0) return result;
  signal(SIGPIPE, SIG_IGN);
  int in_fd = pipes.in[1];
  int out_fd = pipes.out[0];
  int err_fd = pipes.err[0];
  size_t written = 0;
  if (input.empty()) close(in_fd), in_fd = -1;
  const Clock::time_point deadline = Clock::now() + limit;
  while ((out_fd >= 0 || err_fd >= 0) && Clock::now() < deadline) {
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(fds, 3, MillisLeft(deadline)) <= 0) continue;
    if (fds[0].revents != 0) ReadAvailable(&out_fd, &result.out);
    if (fds[1].revents != 0) ReadAvailable(&err_fd, &result.err);
    if (fds[2].revents != 0) {
      const ssize_t n = write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) close(in_fd), in_fd = -1;
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }
  int status = 0;
  if (out_fd >= 0 || err_fd >= 0) {
    result.exit_code = KillAndWait(pid);
  } else {
    waitpid(pid, &status, 0);
    result.exit_code = DecodeWaitStatus(status);
  }
  return result;
}

ConfctlProcess::ConfctlProcess(const std::vector<std::string>& args, const std::string& address) {
  Pipes pipes;
  pid_ = Spawn(args, address, &pipes);
  close(pipes.in[1]);
  out_fd_ = pipes.out[0];
  err_fd_ = pipes.err[0];
}

ConfctlProcess::~ConfctlProcess() {
  if (pid_ > 0) KillAndWait(pid_);
  for (int fd : {out_fd_, err_fd_}) {
    if (fd >= 0) close(fd);
  }
}

bool ConfctlProcess::Pump(std::chrono::milliseconds timeout) {
  if (out_fd_ < 0 && err_fd_ < 0) return false;
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (poll(fds, 2, static_cast<int>(timeout.count())) > 0) {
    if (fds[0].revents != 0) ReadAvailable(&out_fd_, &out_);
    if (fds[1].revents != 0) ReadAvailable(&err_fd_, &err_);
  }
  return true;
}

bool ConfctlProcess::ReadLine(std::string* line, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const size_t newline = out_.find('\n');
    if (newline != std::string::npos) {
      *line = out_.substr(0, newline);
      out_.erase(0, newline + 1);
      return true;
    }
    if (out_fd_ < 0 || Clock::now() >= deadline) return false;
    Pump(std::chrono::milliseconds(MillisLeft(deadline)));
  }
}

int ConfctlProcess::Wait(std::chrono::milliseconds timeout, std::string* rest_of_stdout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while ((out_fd_ >= 0 || err_fd_ >= 0) && Clock::now() < deadline) {
    Pump(std::chrono::milliseconds(MillisLeft(deadline)));
  }
  if (rest_of_stdout != nullptr) *rest_of_stdout += out_;
  out_.clear();
  int code = -1;
  if (out_fd_ >= 0 || err_fd_ >= 0) {
    code = KillAndWait(pid_);
  } else {
    int status = 0;
    waitpid(pid_, &status, 0);
    code = DecodeWaitStatus(status);
  }
  pid_ = 0;
  return code;
}

}  // namespace confcenter::testing
