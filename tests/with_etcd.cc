// with_etcd: runs a test program against a real etcd cluster of its own.
//   with_etcd [--members=N] [--etcd_flag=--max-txn-ops=1024]... -- PROGRAM ARGS...
// Starts N (default 3) members on free loopback ports (tests/etcd_cluster.h), runs PROGRAM
// with TEST_CONFCENTER_ETCD_ENDPOINTS set to their client addresses (so ServerProcess starts
// confcenterd on the etcd engine), and returns PROGRAM's exit code after stopping the cluster.
// Exit 3 if the cluster does not start; 2 on a usage error.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "tests/etcd_cluster.h"

int main(int argc, char** argv) {
  int members = 3;
  std::vector<std::string> etcd_flags;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (absl::StartsWith(arg, "--members=")) {
      if (!absl::SimpleAtoi(arg.substr(10), &members) || members < 1) {
        std::fprintf(stderr, "with_etcd: --members: not a positive number: %s\n", arg.c_str());
        return 2;
      }
    } else if (absl::StartsWith(arg, "--etcd_flag=")) {
      etcd_flags.push_back(arg.substr(12));
    } else {
      std::fprintf(stderr, "with_etcd: unknown flag %s (the program follows --)\n", arg.c_str());
      return 2;
    }
  }
  if (i >= argc) {
    std::fprintf(stderr, "usage: with_etcd [--members=N] [--etcd_flag=F]... -- PROGRAM ARGS...\n");
    return 2;
  }
  confcenter::testing::EtcdCluster cluster(members, etcd_flags);
  if (!cluster.ok()) {
    std::fprintf(stderr, "with_etcd: the etcd cluster did not start\n");
    return 3;
  }
  const std::string endpoints = cluster.endpoints();
  std::fprintf(stderr, "with_etcd: %d etcd members at %s\n", members, endpoints.c_str());
  const pid_t child = fork();
  if (child == 0) {
    setenv("TEST_CONFCENTER_ETCD_ENDPOINTS", endpoints.c_str(), 1);
    execv(argv[i], argv + i);
    std::perror("with_etcd: exec");
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      std::perror("with_etcd: waitpid");
      return 1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
