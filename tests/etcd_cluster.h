// A real etcd cluster for tests: N members of Debian's etcd 3.4 (etcd-server) as child
// processes on free loopback ports, with short heartbeat and election timeouts, their data
// under /dev/shm when it exists. Members can be killed, stopped, restarted on the same data
// dir and ports, and paused. Also a few calls of etcd's JSON gateway (the v3 API over HTTP),
// so tests can read and write without etcd's gRPC stubs.
#ifndef CONFCENTER_TESTS_ETCD_CLUSTER_H_
#define CONFCENTER_TESTS_ETCD_CLUSTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace confcenter::testing {

// N etcd members forming one new cluster. Not thread-safe: one thread drives it (the one
// that constructed it: members are killed when that thread exits, so none outlives a crashed
// test).
class EtcdCluster {
 public:
  // Starts `members` members with etcd's flags plus `extra_flags` (e.g. "--max-txn-ops=256")
  // and waits, at most 30 s, until every member reports itself healthy (GET /health: a leader
  // is elected and the member serves clients). If a member could not bind its port (another
  // process took it meanwhile), starts the cluster again on new ports, up to 3 times. On
  // failure ok() is false and the members' logs are printed on stderr. The binary is
  // $CONFCENTER_ETCD, or /usr/bin/etcd.
  explicit EtcdCluster(int members = 3, std::vector<std::string> extra_flags = {});
  // Kills every member (SIGKILL, paused ones too) and removes the data and logs.
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // True if every member started and was healthy within the bound.
  bool ok() const { return ok_; }
  // The number of members.
  int size() const { return static_cast<int>(members_.size()); }
  // Every member's client address, comma-separated: "127.0.0.1:c0,127.0.0.1:c1,...".
  std::string endpoints() const;
  // Member i's client address, "127.0.0.1:port" (a gRPC target or an HTTP host:port).
  std::string endpoint(int i) const;
  // Member i's client port.
  int client_port(int i) const { return members_[i].client_port; }
  // Member i's pid, 0 if it is not running (killed or stopped).
  int pid(int i) const { return members_[i].pid; }
  // The directory holding member i's data dir ("m<i>") and log ("m<i>.log").
  const std::string& dir() const { return dir_; }
  // The last `max_bytes` of member i's log (all its runs).
  std::string LogTail(int i, size_t max_bytes = 4000) const;

  // The index of the leader, or -1 if there is none now: asks each running, unpaused member
  // for its status (POST /v3/maintenance/status, 1 s timeout each) and returns the member that
  // a majority of the cluster, itself included, names as leader.
  int leader();
  // Polls leader() until it names a member other than `not_member` (-1: any), at most
  // `timeout`; returns it, or -1.
  int WaitForLeader(absl::Duration timeout = absl::Seconds(10), int not_member = -1);

  // SIGKILL to member i and reaps it: a crash. No-op if it is not running.
  void Kill(int i);
  // SIGTERM to member i and waits for it to exit (SIGKILL after 10 s). Returns its exit code
  // (128 + signal if killed; etcd 3.4 dies of the SIGTERM itself: 143), -1 if it was not
  // running.
  int Stop(int i);
  // Starts member i again (after Kill or Stop) with the same data dir, ports and flags, and
  // waits (at most 30 s) until it reports itself healthy, which needs a quorum of running
  // members. Returns false, with its log on stderr, if it does not become healthy in time
  // (it is left running) or if it was running already.
  bool Restart(int i);
  // SIGSTOP to member i, and waits (at most 10 s) until all its threads have stopped: it then
  // answers neither peers nor clients, as a hung or cut-off node. No-op if not running.
  void Pause(int i);
  // SIGCONT to member i after Pause, and waits (at most 10 s) until its threads run again.
  void Resume(int i);
  // True if member i runs and is not paused.
  bool serving(int i) const { return members_[i].pid != 0 && !members_[i].paused; }

  // True if GET /health on member i answers {"health":"true"} within `timeout`.
  bool Healthy(int i, absl::Duration timeout = absl::Seconds(1)) const;

  // `etcdctl snapshot save` from member i into `path` (a new file). False, saying why on
  // stderr, if etcdctl fails. etcdctl is the one beside the etcd binary.
  bool SaveSnapshot(int i, const std::string& path);
  // etcd's disaster recovery: kills every member, makes each one's data dir anew with
  // `etcdctl snapshot restore` from `snapshot` (same names, peer URLs and cluster token, as
  // etcd's guide does), starts them on the same ports and waits (at most 30 s) until all are
  // healthy. False, saying why on stderr, otherwise.
  bool RestoreFromSnapshot(const std::string& snapshot);

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    int pid = 0;
    bool paused = false;
    std::string member_id;  // etcd's member id (decimal), once learned from its status
  };
  bool Spawn(int i);
  // SIGKILL to every running member (paused ones too), and reaps them.
  void KillAll();
  // Waits until every member in `which` is healthy or `deadline` passes.
  bool WaitHealthy(const std::vector<int>& which, absl::Time deadline);
  void PrintLogs(const std::string& why, const std::vector<int>& which) const;
  // Runs etcdctl with `args` to its end, output appended to the cluster's etcdctl.log; true
  // if it exited 0 (else says why on stderr).
  bool RunEtcdctl(const std::vector<std::string>& args) const;

  std::string binary_;
  std::string dir_;
  std::vector<std::string> flags_;  // shared by every member
  std::vector<Member> members_;
  bool ok_ = false;
};

// etcd's JSON gateway (the v3 API over HTTP/1.1 on a member's client port), for tests that
// need no etcd gRPC stubs. `endpoint` is "127.0.0.1:port".

// Puts key = value. OK once etcd acknowledged it; DEADLINE_EXCEEDED if no answer came within
// `timeout` (the write may still happen); UNAVAILABLE (or the code etcd sent) with etcd's
// message otherwise.
absl::Status EtcdJsonPut(const std::string& endpoint, const std::string& key,
                         const std::string& value, absl::Duration timeout = absl::Seconds(3));

// The value of `key` (nullopt if absent) by a linearizable range, or a serializable one (the
// member's local copy) if `serializable`. Errors as EtcdJsonPut.
absl::StatusOr<std::optional<std::string>> EtcdJsonGet(const std::string& endpoint,
                                                       const std::string& key,
                                                       bool serializable = false,
                                                       absl::Duration timeout = absl::Seconds(3));

// What an operator does after etcd raised its NOSPACE alarm (etcd's own runbook), on one
// member: compacts etcd's history at its current revision, defragments the member and
// disarms the alarm. OK when all three were acknowledged.
absl::Status EtcdJsonRecoverSpace(const std::string& endpoint,
                                  absl::Duration timeout = absl::Seconds(10));

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_ETCD_CLUSTER_H_
