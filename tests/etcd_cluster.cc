#include "tests/etcd_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/child_process.h"

namespace confcenter::testing {

namespace {

using Json = nlohmann::json;

std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

void SetTimeouts(httplib::Client& client, absl::Duration timeout) {
  const auto micros = std::chrono::microseconds(absl::ToInt64Microseconds(timeout));
  client.set_connection_timeout(micros);
  client.set_read_timeout(micros);
  client.set_write_timeout(micros);
}

// POSTs `body` to etcd's JSON gateway and returns the parsed answer.
absl::StatusOr<Json> GatewayPost(const std::string& endpoint, const std::string& path,
                                 const Json& body, absl::Duration timeout) {
  httplib::Client client("http://" + endpoint);
  SetTimeouts(client, timeout);
  httplib::Result res = client.Post(path, body.dump(), "application/json");
  if (!res) {
    const httplib::Error e = res.error();
    const std::string what = absl::StrCat(endpoint, path, ": ", httplib::to_string(e));
    if (e == httplib::Error::Read || e == httplib::Error::Write ||
        e == httplib::Error::ConnectionTimeout) {
      return absl::DeadlineExceededError(what);
    }
    return absl::UnavailableError(what);
  }
  Json answer = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status != 200 || answer.is_discarded()) {
    // The gateway's errors: {"error": "...", "code": <gRPC code>, "message": "..."}.
    absl::StatusCode code = absl::StatusCode::kUnavailable;
    if (!answer.is_discarded() && answer.contains("code") && answer["code"].is_number()) {
      const int c = answer["code"].get<int>();
      if (c > 0 && c <= 16) code = static_cast<absl::StatusCode>(c);
    }
    return absl::Status(code, absl::StrCat(endpoint, path, ": HTTP ", res->status, " ", res->body));
  }
  return answer;
}

std::string JsonString(const Json& j, const char* field) {
  if (!j.contains(field)) return "";
  const Json& v = j[field];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// A directory for the members: under /dev/shm when it exists (cheap fsync), else $TMPDIR.
std::string MakeDir() {
  std::string base;
  if (std::filesystem::is_directory("/dev/shm") && access("/dev/shm", W_OK) == 0) {
    base = "/dev/shm";
  } else {
    const char* tmp = getenv("TMPDIR");
    base = tmp && *tmp ? tmp : "/tmp";
  }
  std::string tmpl = base + "/confcenter-etcd.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "etcd cluster: mkdtemp %s failed\n", tmpl.c_str());
    return "";
  }
  return tmpl;
}

}  // namespace

EtcdCluster::EtcdCluster(int members, std::vector<std::string> extra_flags) {
  const char* binary = getenv("CONFCENTER_ETCD");
  binary_ = binary && *binary ? binary : "/usr/bin/etcd";
  dir_ = MakeDir();
  if (dir_.empty() || members < 1) return;
  // A port found free can be taken by another process before the member binds it: then the
  // whole cluster starts again on new ports (the peers' URLs are in every member's flags).
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      KillAll();
      std::error_code ec;
      for (const Member& m : members_) std::filesystem::remove_all(dir_ + "/" + m.name, ec);
      members_.clear();
    }
    std::set<int> used;
    auto port = [&used] {
      for (int n = 0; n < 100; ++n) {
        const int p = FreeLoopbackPort();
        if (p != 0 && used.insert(p).second) return p;
      }
      return 0;
    };
    std::vector<std::string> initial;
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = absl::StrCat("m", i);
      m.client_port = port();
      m.peer_port = port();
      if (m.client_port == 0 || m.peer_port == 0) {
        std::fprintf(stderr, "etcd cluster: no free loopback port\n");
        return;
      }
      initial.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
      members_.push_back(m);
    }
    static int clusters = 0;
    flags_ = {"--initial-cluster=" + absl::StrJoin(initial, ","),
              "--initial-cluster-state=new",
              absl::StrCat("--initial-cluster-token=cc-", getpid(), "-", clusters++),
              "--heartbeat-interval=50",
              "--election-timeout=500",
              "--logger=zap",
              "--log-outputs=stderr",
              "--log-level=info"};
    flags_.insert(flags_.end(), extra_flags.begin(), extra_flags.end());
    std::vector<int> all;
    for (int i = 0; i < members; ++i) {
      if (!Spawn(i)) return;
      all.push_back(i);
    }
    ok_ = WaitHealthy(all, absl::Now() + absl::Seconds(30));
    if (ok_) return;
    bool port_taken = false;
    for (int i : all)
      port_taken = port_taken || LogTail(i).find("address already in use") != std::string::npos;
    if (!port_taken) break;
    std::fprintf(stderr, "etcd cluster: a port was taken meanwhile; starting again on new ports\n");
  }
  std::vector<int> all;
  for (int i = 0; i < size(); ++i) all.push_back(i);
  PrintLogs("did not become healthy within 30 s", all);
}

void EtcdCluster::KillAll() {
  for (Member& m : members_) {
    if (m.pid == 0) continue;
    kill(m.pid, SIGKILL);
    waitpid(m.pid, nullptr, 0);
    m.pid = 0;
  }
}

EtcdCluster::~EtcdCluster() {
  KillAll();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool EtcdCluster::Spawn(int i) {
  Member& m = members_[i];
  const std::string client_url = absl::StrCat("http://127.0.0.1:", m.client_port);
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", m.peer_port);
  std::vector<std::string> args = {binary_,
                                   "--name=" + m.name,
                                   absl::StrCat("--data-dir=", dir_, "/", m.name),
                                   "--listen-client-urls=" + client_url,
                                   "--advertise-client-urls=" + client_url,
                                   "--listen-peer-urls=" + peer_url,
                                   "--initial-advertise-peer-urls=" + peer_url};
  args.insert(args.end(), flags_.begin(), flags_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = absl::StrCat(dir_, "/", m.name, ".log");
  const int fd = open(log.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // No member outlives the test that started it, even if the test crashes.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (fd >= 0) close(fd);
  if (pid < 0) {
    std::fprintf(stderr, "etcd cluster: fork failed\n");
    return false;
  }
  m.pid = pid;
  m.paused = false;
  return true;
}

bool EtcdCluster::Healthy(int i, absl::Duration timeout) const {
  if (!serving(i)) return false;
  httplib::Client client("http://" + endpoint(i));
  SetTimeouts(client, timeout);
  httplib::Result res = client.Get("/health");
  if (!res || res->status != 200) return false;
  const Json j = Json::parse(res->body, nullptr, false);
  return !j.is_discarded() && JsonString(j, "health") == "true";
}

bool EtcdCluster::WaitHealthy(const std::vector<int>& which, absl::Time deadline) {
  std::vector<int> pending = which;
  while (!pending.empty()) {
    std::vector<int> still;
    for (int i : pending) {
      Member& m = members_[i];
      int status = 0;
      if (m.pid != 0 && waitpid(m.pid, &status, WNOHANG) == m.pid) {
        m.pid = 0;
        std::fprintf(stderr, "etcd cluster: member %d exited (status %d)\n", i, status);
        return false;
      }
      if (!Healthy(i, absl::Milliseconds(500))) still.push_back(i);
    }
    pending.swap(still);
    if (pending.empty()) return true;
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void EtcdCluster::PrintLogs(const std::string& why, const std::vector<int>& which) const {
  std::fprintf(stderr, "etcd cluster (%s): %s\n", binary_.c_str(), why.c_str());
  for (int i : which) {
    std::fprintf(stderr, "--- member %d (%s) log ends:\n%s\n", i, endpoint(i).c_str(),
                 LogTail(i).c_str());
  }
}

std::string EtcdCluster::endpoints() const {
  std::vector<std::string> all;
  for (int i = 0; i < size(); ++i) all.push_back(endpoint(i));
  return absl::StrJoin(all, ",");
}

std::string EtcdCluster::endpoint(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

std::string EtcdCluster::LogTail(int i, size_t max_bytes) const {
  return Tail(absl::StrCat(dir_, "/", members_[i].name, ".log"), max_bytes);
}

int EtcdCluster::leader() {
  std::map<std::string, int> votes;  // leader id -> members naming it
  for (int i = 0; i < size(); ++i) {
    if (!serving(i)) continue;
    absl::StatusOr<Json> status =
        GatewayPost(endpoint(i), "/v3/maintenance/status", Json::object(), absl::Seconds(1));
    if (!status.ok() || !status->contains("header")) continue;
    members_[i].member_id = JsonString((*status)["header"], "member_id");
    const std::string leader = JsonString(*status, "leader");
    if (!leader.empty() && leader != "0") ++votes[leader];
  }
  for (const auto& [id, count] : votes) {
    if (count <= size() / 2) continue;
    for (int i = 0; i < size(); ++i) {
      if (serving(i) && members_[i].member_id == id) return i;
    }
  }
  return -1;
}

int EtcdCluster::WaitForLeader(absl::Duration timeout, int not_member) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const int l = leader();
    if (l >= 0 && l != not_member) return l;
    if (absl::Now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void EtcdCluster::Kill(int i) {
  Member& m = members_[i];
  if (m.pid == 0) return;
  kill(m.pid, SIGKILL);
  waitpid(m.pid, nullptr, 0);
  m.pid = 0;
  m.paused = false;
}

int EtcdCluster::Stop(int i) {
  Member& m = members_[i];
  if (m.pid == 0) return -1;
  if (m.paused) kill(m.pid, SIGCONT);
  kill(m.pid, SIGTERM);
  int status = 0;
  bool exited = false;
  for (int n = 0; n < 1000 && !exited; ++n) {  // 10 s
    exited = waitpid(m.pid, &status, WNOHANG) == m.pid;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) {
    kill(m.pid, SIGKILL);
    waitpid(m.pid, &status, 0);
  }
  m.pid = 0;
  m.paused = false;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

bool EtcdCluster::Restart(int i) {
  if (members_[i].pid != 0) {
    std::fprintf(stderr, "etcd cluster: Restart(%d) of a running member\n", i);
    return false;
  }
  if (!Spawn(i)) return false;
  if (WaitHealthy({i}, absl::Now() + absl::Seconds(30))) return true;
  PrintLogs(absl::StrCat("member ", i, " did not become healthy within 30 s of its restart"), {i});
  return false;
}

bool EtcdCluster::RunEtcdctl(const std::vector<std::string>& args) const {
  const std::string etcdctl = (std::filesystem::path(binary_).parent_path() / "etcdctl").string();
  const std::string log = dir_ + "/etcdctl.log";
  ChildProcess process(etcdctl, args, log);
  const int code = process.Wait();
  if (code == 0) return true;
  std::fprintf(stderr, "etcd cluster: %s %s failed (exit code %d):\n%s\n", etcdctl.c_str(),
               absl::StrJoin(args, " ").c_str(), code, FileTail(log, 2000).c_str());
  return false;
}

bool EtcdCluster::SaveSnapshot(int i, const std::string& path) {
  return RunEtcdctl(
      {"--endpoints=" + endpoint(i), "--command-timeout=20s", "snapshot", "save", path});
}

bool EtcdCluster::RestoreFromSnapshot(const std::string& snapshot) {
  KillAll();
  std::vector<std::string> initial;
  for (const Member& m : members_) {
    initial.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
  }
  // The cluster's own token, as etcd's recovery guide restores with: the restored cluster may
  // then have the same cluster id as before.
  std::string token;
  for (const std::string& flag : flags_) {
    if (absl::StartsWith(flag, "--initial-cluster-token=")) token = flag.substr(flag.find('=') + 1);
  }
  std::vector<int> all;
  for (int i = 0; i < size(); ++i) {
    const Member& m = members_[i];
    const std::string data = absl::StrCat(dir_, "/", m.name);
    std::error_code ec;
    std::filesystem::remove_all(data, ec);
    if (!RunEtcdctl({"snapshot", "restore", snapshot, "--name=" + m.name,
                     "--initial-cluster=" + absl::StrJoin(initial, ","),
                     "--initial-cluster-token=" + token,
                     absl::StrCat("--initial-advertise-peer-urls=http://127.0.0.1:", m.peer_port),
                     "--data-dir=" + data})) {
      return false;
    }
    all.push_back(i);
  }
  for (int i : all) {
    if (!Spawn(i)) return false;
  }
  if (WaitHealthy(all, absl::Now() + absl::Seconds(30))) return true;
  PrintLogs("did not become healthy within 30 s of the restore", all);
  return false;
}

void EtcdCluster::Pause(int i) {
  Member& m = members_[i];
  if (m.pid == 0 || m.paused) return;
  StopProcess(m.pid);
  m.paused = true;
}

void EtcdCluster::Resume(int i) {
  Member& m = members_[i];
  if (m.pid == 0 || !m.paused) return;
  ContinueProcess(m.pid);
  m.paused = false;
}

absl::Status EtcdJsonPut(const std::string& endpoint, const std::string& key,
                         const std::string& value, absl::Duration timeout) {
  const Json body = {{"key", absl::Base64Escape(key)}, {"value", absl::Base64Escape(value)}};
  return GatewayPost(endpoint, "/v3/kv/put", body, timeout).status();
}

absl::StatusOr<std::optional<std::string>> EtcdJsonGet(const std::string& endpoint,
                                                       const std::string& key, bool serializable,
                                                       absl::Duration timeout) {
  Json body = {{"key", absl::Base64Escape(key)}};
  if (serializable) body["serializable"] = true;
  absl::StatusOr<Json> answer = GatewayPost(endpoint, "/v3/kv/range", body, timeout);
  if (!answer.ok()) return answer.status();
  if (!answer->contains("kvs") || (*answer)["kvs"].empty()) return std::nullopt;
  std::string value;
  if (!absl::Base64Unescape(JsonString((*answer)["kvs"][0], "value"), &value)) {
    return absl::InternalError(absl::StrCat(endpoint, ": undecodable value in ", answer->dump()));
  }
  return value;
}

absl::Status EtcdJsonRecoverSpace(const std::string& endpoint, absl::Duration timeout) {
  absl::StatusOr<Json> status =
      GatewayPost(endpoint, "/v3/maintenance/status", Json::object(), timeout);
  if (!status.ok()) return status.status();
  const Json header = status->value("header", Json::object());
  const std::string revision = JsonString(header, "revision");
  const std::string member = JsonString(header, "member_id");
  if (revision.empty() || member.empty()) {
    return absl::InternalError(
        absl::StrCat(endpoint, ": status without a header: ", status->dump()));
  }
  const Json compaction = {{"revision", revision}, {"physical", true}};
  if (absl::StatusOr<Json> r = GatewayPost(endpoint, "/v3/kv/compaction", compaction, timeout);
      !r.ok() && !absl::IsOutOfRange(r.status())) {  // OUT_OF_RANGE: compacted there already
    return r.status();
  }
  if (absl::StatusOr<Json> r =
          GatewayPost(endpoint, "/v3/maintenance/defragment", Json::object(), timeout);
      !r.ok()) {
    return r.status();
  }
  const Json disarm = {{"action", "DEACTIVATE"}, {"memberID", member}, {"alarm", "NOSPACE"}};
  return GatewayPost(endpoint, "/v3/maintenance/alarm", disarm, timeout).status();
}

}  // namespace confcenter::testing
