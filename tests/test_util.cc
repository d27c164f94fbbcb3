#include "tests/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "httplib.h"

#ifndef CONFCENTERD_PATH
#error "CONFCENTERD_PATH must name the confcenterd binary"
#endif

namespace confcenter::testing {

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/confcenter-test.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) std::fprintf(stderr, "mkdtemp %s failed\n", tmpl.c_str());
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// Starts confcenterd with `args` and this process's environment plus `env` (NAME=value).
int Spawn(const std::vector<std::string>& args, int out_fd, const std::vector<std::string>& env) {
  std::vector<char*> argv;
  std::string binary = CONFCENTERD_PATH;
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  std::vector<std::string> env_copy = env;
  for (std::string& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    if (out_fd >= 0) {
      dup2(out_fd, 1);
      dup2(out_fd, 2);
    }
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

// True if a TCP connection to 127.0.0.1:port succeeds now.
bool AcceptsConnection(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string TestEngine() {
  const char* endpoints = getenv("TEST_CONFCENTER_ETCD_ENDPOINTS");
  return endpoints != nullptr && *endpoints != '\0' ? "etcd" : "rocksdb";
}

ServerProcess::ServerProcess(std::string data_dir, std::vector<std::string> extra_flags,
                             std::vector<std::string> env, int port)
    : data_dir_(std::move(data_dir)),
      extra_flags_(std::move(extra_flags)),
      env_(std::move(env)),
      port_file_(data_dir_ + ".port"),
      admin_port_file_(data_dir_ + ".admin_port"),
      http_port_file_(data_dir_ + ".http_port") {
  if (TestEngine() == "etcd") {
    // The data dir names the store, as on RocksDB: a server started again on the same dir
    // (by Restart or a new ServerProcess) finds what the previous one wrote. Data dirs are
    // under fresh temporary directories, so prefixes of different tests never meet.
    etcd_prefix_ = "/test" + std::filesystem::absolute(data_dir_).lexically_normal().string() + "/";
  }
  Start(port);
}

bool ServerProcess::Restart() {
  if (pid_ != 0) Stop();
  const int port = port_;
  port_ = 0;
  Start(port);
  return port_ != 0;
}

void ServerProcess::Start(int port) {
  std::filesystem::remove(port_file_);
  std::filesystem::remove(http_port_file_);
  std::vector<std::string> args = {"--listen=127.0.0.1:" + std::to_string(port),
                                   "--data_dir=" + data_dir_,
                                   "--port_file=" + port_file_,
                                   "--admin_listen=127.0.0.1:0",
                                   "--admin_port_file=" + admin_port_file_,
                                   "--http_listen=127.0.0.1:0",
                                   "--http_port_file=" + http_port_file_,
                                   "--log_level=warn"};
  if (!etcd_prefix_.empty()) {
    args.push_back("--store=etcd");
    args.push_back(std::string("--etcd_endpoints=") + getenv("TEST_CONFCENTER_ETCD_ENDPOINTS"));
    args.push_back("--etcd_prefix=" + etcd_prefix_);
  }
  args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
  pid_ = Spawn(args, -1, env_);
  // Poll for the port file (the server's "I am serving" signal), bounded to 30 s.
  for (int i = 0; i < 3000; ++i) {
    std::ifstream in(port_file_);
    if (in >> port_) break;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      std::fprintf(stderr, "confcenterd exited during start-up with %d\n",
                   DecodeWaitStatus(status));
      pid_ = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (port_ == 0) {
    std::fprintf(stderr, "confcenterd did not start serving within 30 s\n");
    Kill();
    return;
  }
  std::ifstream admin(admin_port_file_);  // written before the gRPC port file
  admin >> admin_port_;
  std::ifstream http(http_port_file_);  // likewise, unless the HTTP listener is off
  http_port_ = 0;
  http >> http_port_;
  // The port file says the listener is up: check it takes a TCP connection (bounded), and say
  // so when it did not at once, to tell a harness race from a server bug in a failed test.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (AcceptsConnection(port_)) {
      if (attempt > 0) {
        std::fprintf(stderr, "confcenterd on port %d accepted a connection only after %d ms\n",
                     port_, attempt * 10);
      }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "confcenterd wrote port %d to its port file but does not accept on it\n",
               port_);
}

ServerProcess::~ServerProcess() {
  if (pid_ != 0) Stop();
}

int ServerProcess::Wait() {
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = 0;
  return DecodeWaitStatus(status);
}

int ServerProcess::Stop() {
  if (pid_ == 0) return -1;
  kill(pid_, SIGTERM);
  return Wait();
}

void ServerProcess::Kill() {
  if (pid_ == 0) return;
  kill(pid_, SIGKILL);
  Wait();
}

std::shared_ptr<grpc::Channel> ServerProcess::Channel() const {
  // Subchannels of its own: gRPC shares them process-wide by address, so a channel made just
  // after a restart on the same port could pick a connection to the server that is gone
  // and fail its first call with UNAVAILABLE ("Broken pipe"), seen in DiskFullTest.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
  // Connected before the first call (bounded), so a test's first RPC does not fail on a
  // connect that a loaded machine refused once ("No such file or directory" seen in CI).
  if (pid_ != 0) {
    channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  return channel;
}

int RunServerToExit(const std::vector<std::string>& args, std::string* output,
                    const std::vector<std::string>& env, int timeout_seconds) {
  TempDir dir;
  std::string log = dir.path() + "/out.txt";
  int fd = open(log.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  int pid = Spawn(args, fd, env);
  close(fd);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < timeout_seconds * 100 && !exited; ++i) {
    exited = waitpid(pid, &status, WNOHANG) == pid;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::ifstream in(log);
  output->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return exited ? DecodeWaitStatus(status) : -1;
}

double ScrapeMetric(int admin_port, const std::string& name) {
  httplib::Client client("127.0.0.1", admin_port);
  auto result = client.Get("/metrics");
  if (!result || result->status != 200) return -1;
  const std::string& body = result->body;
  const std::string prefix = name + " ";
  for (size_t pos = 0; pos < body.size();) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    if (body.compare(pos, prefix.size(), prefix) == 0) {
      double v = -1;
      (void)absl::SimpleAtod(body.substr(pos + prefix.size(), end - pos - prefix.size()), &v);
      return v;
    }
    pos = end + 1;
  }
  return -1;
}

v1::SubscribeResponse FirstMessageOfResume(const std::shared_ptr<grpc::Channel>& channel,
                                           const std::string& tenant, const std::string& service,
                                           int64_t start_revision, const std::string& epoch) {
  auto stub = v1::WatchService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SubscribeRequest request;
  request.set_tenant(tenant);
  request.add_services(service);
  request.set_start_revision(start_revision);
  request.set_epoch(epoch);
  auto reader = stub->Subscribe(&ctx, request);
  v1::SubscribeResponse first;
  if (!reader->Read(&first)) {
    std::fprintf(stderr, "FirstMessageOfResume: the stream ended: %s\n",
                 reader->Finish().error_message().c_str());
  }
  ctx.TryCancel();
  return first;
}

void SetClockFile(const std::string& path, int64_t micros) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << micros << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace confcenter::testing
