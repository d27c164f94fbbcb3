#include "tests/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace confcenter::testing {

namespace {

// True if 127.0.0.1:port can be bound now.
bool Bindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// True if every thread of `pid` is in state `state` ('T': stopped by a signal) per
// /proc/<pid>/task/*/stat, or, with `negate`, none is.
bool AllThreads(int pid, char state, bool negate) {
  std::error_code ec;
  std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", ec);
  if (ec) return false;
  for (const auto& task : tasks) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');                                  // "pid (comm) S ..."
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;  // thread gone
    if ((stat[paren + 2] == state) == negate) return false;
  }
  return true;
}

// Polls AllThreads for at most 10 s (a loaded machine can take seconds to schedule them).
bool WaitThreads(int pid, char state, bool negate) {
  for (int n = 0; n < 1000; ++n) {
    if (AllThreads(pid, state, negate)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return AllThreads(pid, state, negate);
}

}  // namespace

bool StopProcess(int pid) {
  if (pid <= 0 || kill(pid, SIGSTOP) != 0) return false;
  return WaitThreads(pid, 'T', false);
}

bool ContinueProcess(int pid) {
  if (pid <= 0 || kill(pid, SIGCONT) != 0) return false;
  return WaitThreads(pid, 'T', true);
}

int FreeLoopbackPort() {
  // Outside the kernel's ephemeral range: a client connecting to a port in that range before
  // the server listens can be given the same port as its source and connect to itself (the
  // probe then hangs in the HTTP/2 handshake).
  int low = 32768, high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  // A random start: processes started together (ctest -j, with consecutive pids) must not
  // walk the same sequence shifted by a step.
  static std::atomic<uint32_t> seed{std::random_device{}() ^
                                    static_cast<uint32_t>(getpid() * 2654435761u)};
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint32_t r = seed.fetch_add(2654435761u) >> 8;
    int port = 0;
    if (low > 11000) {
      port = 10000 + static_cast<int>(r % static_cast<uint32_t>(low - 10000));
    } else if (high < 64000) {
      port = high + 1 + static_cast<int>(r % static_cast<uint32_t>(65535 - high));
    } else {
      return 0;
    }
    if (Bindable(port)) return port;
  }
  return 0;
}

std::string FileTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

ChildProcess::ChildProcess(const std::string& binary, const std::vector<std::string>& args,
                           const std::string& log_path)
    : log_path_(log_path) {
  std::vector<std::string> copy = args;
  std::string bin = binary;
  std::vector<char*> argv = {bin.data()};
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int fd = open(log_path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
  const pid_t pid = fork();
  if (pid == 0) {
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  if (fd >= 0) close(fd);
  pid_ = pid > 0 ? pid : 0;
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Running() {
  if (pid_ == 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = 0;
    return false;
  }
  return true;
}

int ChildProcess::Wait() {
  if (pid_ == 0) return -1;
  int status = 0;
  const bool reaped = waitpid(pid_, &status, 0) == pid_;
  pid_ = 0;
  if (!reaped) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int ChildProcess::Stop(int grace_seconds) {
  if (pid_ == 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < grace_seconds * 100 && !exited; ++i) {
    exited = waitpid(pid_, &status, WNOHANG) == pid_;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace confcenter::testing
