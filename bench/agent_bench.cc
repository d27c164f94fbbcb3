// confcenter-agent as users feel it: its RSS idle and at 10,000 keys, and the time from a
// Put (the call returning) to the file on disk (the agent's rename, seen by inotify), p50/p99,
// for a small view and for the 10,000-key view.
//
//   build/confcenter_agent_bench --keys=10000 --puts=200
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_process.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "tests/api_client.h"
#include "tests/test_util.h"

ABSL_FLAG(int, keys, 10000, "keys of the large view");
ABSL_FLAG(int, puts, 200, "timed Puts per view");
ABSL_FLAG(std::string, format, "json", "the agent's output format");

namespace confcenter::bench {
namespace {

using testing::ApiClient;
using testing::Eventually;
using testing::ServerProcess;
using testing::TempDir;

// Waits (at most 10 s) for a rename into the watched directory naming `file`.
bool WaitForRename(int inotify_fd, const std::string& file) {
  const int64_t deadline = NowNanos() + 10'000'000'000;
  alignas(inotify_event) char buffer[4096];
  while (NowNanos() < deadline) {
    pollfd pfd{inotify_fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = read(inotify_fd, buffer, sizeof buffer);
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if ((event->mask & IN_MOVED_TO) && event->len > 0 && file == event->name) return true;
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  return false;
}

struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

// Times `puts` Puts to (integration, service) until the agent's file of it is renamed in.
Latency TimePuts(ApiClient& api, const std::string& service, const std::string& dir,
                 const std::string& file, int puts) {
  const int fd = inotify_init1(IN_NONBLOCK);
  inotify_add_watch(fd, dir.c_str(), IN_MOVED_TO);
  std::vector<double> ms;
  for (int i = 0; i < puts; ++i) {
    const int64_t start = NowNanos();
    if (!api.Put("integration", service, "timed.key", absl::StrCat("v", i)).ok()) break;
    if (!WaitForRename(fd, file)) {
      std::fprintf(stderr, "agent_bench: no rewrite of %s after put %d\n", file.c_str(), i);
      break;
    }
    ms.push_back(static_cast<double>(NowNanos() - start) / 1e6);
  }
  close(fd);
  Latency latency;
  if (ms.empty()) return latency;
  std::sort(ms.begin(), ms.end());
  latency.p50_ms = ms[ms.size() / 2];
  latency.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  latency.max_ms = ms.back();
  return latency;
}

int Run() {
  TempDir dir;
  ServerProcess server(dir.path() + "/data");
  if (server.port() == 0) return 1;
  ApiClient api(server.Channel());
  if (!api.Register("integration", {"small", "large"}).ok()) return 1;
  for (int i = 0; i < 20; ++i) api.Put("integration", "small", absl::StrCat("k", i), "value");
  // The large view, written in Txns of 100 keys.
  const int keys = absl::GetFlag(FLAGS_keys);
  for (int i = 0; i < keys;) {
    v1::TxnRequest txn;
    for (int j = 0; j < 100 && i < keys; ++j, ++i) {
      v1::TxnOp* op = txn.add_ops();
      op->set_type(v1::TXN_OP_TYPE_PUT);
      op->set_tenant("integration");
      op->set_service("large");
      op->set_key(absl::StrFormat("group%03d.key%05d", i / 100, i));
      op->set_value(absl::StrFormat("value-%032d", i));
    }
    grpc::Status status = api.Txn(txn);
    if (!status.ok()) {
      std::fprintf(stderr, "agent_bench: txn: %s\n", status.error_message().c_str());
      return 1;
    }
  }

  const std::string out = dir.path() + "/out";
  const std::string format = absl::GetFlag(FLAGS_format);
  // One agent per view: its RSS is the view's.
  auto start_agent = [&](const std::string& service) {
    return std::make_unique<ChildProcess>(
        AGENT_PATH,
        std::vector<std::string>{"--address", server.address(), "--listen", "", "--tenant",
                                 "integration", "--service", service, "--format", format, "--path",
                                 absl::StrCat(out, "/", service, ".", format)},
        absl::StrCat(dir.path(), "/agent-", service, ".log"));
  };
  auto file_size = [&](const std::string& service) {
    std::FILE* f = std::fopen(absl::StrCat(out, "/", service, ".", format).c_str(), "r");
    if (f == nullptr) return 0L;
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fclose(f);
    return size;
  };
  const int puts = absl::GetFlag(FLAGS_puts);
  std::printf("confcenter-agent, format %s, %d timed Puts per view\n", format.c_str(), puts);
  std::printf("%-8s %7s %10s %10s %10s %10s %10s %10s\n", "view", "keys", "file KiB", "start ms",
              "RSS MiB", "put->file", "p99", "max");
  for (const auto& [service, count] :
       {std::pair<std::string, int>{"small", 20}, std::pair<std::string, int>{"large", keys}}) {
    const int64_t started = NowNanos();
    std::unique_ptr<ChildProcess> agent = start_agent(service);
    if (!Eventually([&] { return file_size(service) > 0; })) {
      std::fprintf(stderr, "agent_bench: no file: %s\n", FileTail(agent->log_path()).c_str());
      return 1;
    }
    const double start_ms = static_cast<double>(NowNanos() - started) / 1e6;
    const int64_t idle_rss = ProcStatusBytes(agent->pid(), "VmRSS");
    const Latency latency = TimePuts(api, service, out, absl::StrCat(service, ".", format), puts);
    std::printf("%-8s %7d %10.1f %10.1f %10.1f %8.2fms %8.2fms %8.2fms\n", service.c_str(), count,
                static_cast<double>(file_size(service)) / 1024, start_ms,
                static_cast<double>(idle_rss) / (1 << 20), latency.p50_ms, latency.p99_ms,
                latency.max_ms);
    std::printf("%-8s %7s %10s %10s %10.1f (peak RSS after the Puts)\n", "", "", "", "",
                static_cast<double>(ProcStatusBytes(agent->pid(), "VmHWM")) / (1 << 20));
    if (latency.p50_ms == 0) return 1;
    agent->Stop();
  }
  return 0;
}

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return confcenter::bench::Run();
}
