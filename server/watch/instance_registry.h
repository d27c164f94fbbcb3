// The instance table: which processes follow which views, what each has applied, and its
// self-check (InstanceService, proto/confcenter/v1/instances.proto). Ephemeral, in memory:
// an entry lives while its Subscribe stream is open and for a grace period after, so a
// reconnect does not flap; streams that do not name an instance are listed anonymously
// while open. At most one entry per open stream plus the ones in their grace period, which are
// bounded too (the oldest go first), so memory stays proportional to subscribers.
//
// Whether an instance has applied revision R is answered from the watch hub's position of
// its stream: it has, if it reported R or later, or if its view has not changed since what it
// reported and the hub has published R (then R did not concern it).
#ifndef CONFCENTER_SERVER_WATCH_INSTANCE_REGISTRY_H_
#define CONFCENTER_SERVER_WATCH_INSTANCE_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "confcenter/v1/instances.pb.h"
#include "server/core/clock.h"
#include "server/watch/watch_hub.h"

namespace confcenter {

struct InstanceRegistryOptions {
  // How long an instance whose stream ended stays listed (a reconnect within it keeps its
  // entry and applied revision).
  absl::Duration grace = absl::Seconds(30);
  // Entries in their grace period kept at most; beyond it the oldest are dropped.
  size_t max_disconnected = 10'000;
};

// Where a stream's instance came from, for the listing.
struct InstanceStream {
  uint64_t stream_id = 0;  // the hub's id of the Subscribe stream
  std::string tenant;
  std::vector<std::string> services;  // empty = every service
  std::string peer;
  std::string user;  // the audit name of the identity that opened it
};

// The table in numbers, for /metrics.
struct InstanceStats {
  int64_t connected = 0;           // instances whose stream is open (named or anonymous)
  int64_t reporting = 0;           // of those, the ones that name themselves
  int64_t behind = 0;              // reporting, and not current (a change not applied yet)
  int64_t self_check_failing = 0;  // reporting a failing self-check
  // Connected instances per (tenant, the service they run as; "" when unnamed).
  std::map<std::pair<std::string, std::string>, int64_t> per_service;
};

class InstanceRegistry {
 public:
  // `hub` and `clock` must outlive the registry. `clock` times the grace period.
  InstanceRegistry(WatchHub* hub, Clock* clock, InstanceRegistryOptions options = {});
  // Answers the waits still open with what they have.
  ~InstanceRegistry();
  InstanceRegistry(const InstanceRegistry&) = delete;
  InstanceRegistry& operator=(const InstanceRegistry&) = delete;

  // INVALID_ARGUMENT naming the field (`instance.<field>`) if `info` is malformed: an id of
  // 1-128 [A-Za-z0-9_.:-], at most 32 labels, at most 4 KiB of strings in all.
  static absl::Status Validate(const v1::InstanceInfo& info);

  // Lists `stream`'s instance (`info` validated; unset = anonymous) from now on. Returns the
  // stream's attachment, for SetStreamId and Detach. An instance id already listed for the
  // tenant (a reconnect) takes over that entry with its applied revision and self-check; the
  // stream it had, if still open, is detached from it.
  uint64_t Attach(const InstanceStream& stream, const v1::InstanceInfo* info);
  // The hub's id of the entry's stream, once it is known (Attach may come first, so that
  // the instance is listed before its first message goes out).
  void SetStreamId(uint64_t attachment, uint64_t stream_id);
  // The stream ended: anonymous entries go, named ones stay for the grace period (unless
  // another stream took the entry over).
  void Detach(uint64_t attachment);

  // An instance's report (InstanceService.ReportInstance; see there for the errors). `user` is
  // the caller's audit name: it must be the stream's.
  absl::Status Report(const v1::ReportInstanceRequest& request, const std::string& user);

  // The instances of `tenant` whose stream follows `service` (empty = any).
  std::vector<v1::Instance> List(const std::string& tenant, const std::string& service);

  // Calls `done` once every live reporting instance of (tenant, service) has applied
  // `revision`, or at `deadline` with the laggards. `done` runs on the caller's thread if
  // already satisfied, else on the thread of the report or publish that satisfied it, or on
  // the registry's deadline thread; never under the registry's lock.
  using WaitDone = std::function<void(v1::WaitAppliedResponse)>;
  void WaitApplied(const std::string& tenant, const std::string& service, int64_t revision,
                   absl::Time deadline, WaitDone done);

  // The hub published `revision` (WatchHub::SetPublishListener): waits may be satisfied.
  void Published(int64_t revision);

  // Answers every open wait now, with what it has, and answers new ones at once: the server
  // is stopping (gRPC's shutdown waits for open calls).
  void Shutdown();

  InstanceStats Stats() const;

 private:
  // What only a named instance has; apart, so that an anonymous entry (one per stream that
  // names no instance) stays small.
  struct Named {
    v1::InstanceInfo info;
    v1::SelfCheck self_check;
  };
  struct Entry {
    std::string tenant;
    std::string instance_id;       // empty = anonymous
    std::unique_ptr<Named> named;  // set iff instance_id is
    InstanceStream stream;
    bool connected = true;
    absl::Time connected_since;
    absl::Time disconnected_at;
    int64_t applied_revision = 0;
    uint64_t attachment = 0;  // the stream that holds the entry now
  };
  struct Wait {
    std::string tenant;
    std::string service;
    int64_t revision = 0;
    WaitDone done;
    // The live reporting instances in scope that have not applied `revision` yet: each is
    // looked at again when it reports or the hub publishes, so a report costs O(1) per wait.
    absl::flat_hash_set<uint64_t> pending;
    int32_t instances = 0;
    int32_t anonymous = 0;
    absl::Time deadline;
  };

  // Drops entries whose grace period is over.
  void ExpireGrace(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InScope(const Entry& entry, const std::string& service) const;
  v1::Instance Describe(const Entry& entry,
                        const std::optional<WatchHub::StreamPosition>& at) const;
  // Whether entry `handle` has applied `revision` (see the file comment).
  bool Applied(const Entry& entry, int64_t revision) const;
  // The wait's answer from its pending set.
  v1::WaitAppliedResponse Answer(const Wait& wait) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the satisfied waits out of waits_ (their answers to be given outside the lock).
  void TakeSatisfied(std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>>* answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  WatchHub* const hub_;
  Clock* const clock_;
  const InstanceRegistryOptions options_;

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Nodes, not slots: an entry is ~0.5 KiB and a flat map keeps up to 2x its size in empty
  // slots (1 KiB per stream at 1,000 streams), every stream having one.
  absl::node_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // (tenant, instance id) -> entry handle, for named instances.
  std::map<std::pair<std::string, std::string>, uint64_t> by_name_ ABSL_GUARDED_BY(mu_);
  // tenant -> handles, for List and the waits.
  absl::flat_hash_map<std::string, std::vector<uint64_t>> by_tenant_ ABSL_GUARDED_BY(mu_);
  // Disconnected named entries, oldest first.
  std::vector<uint64_t> disconnected_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Wait> waits_ ABSL_GUARDED_BY(mu_);
  // Attachment (one per stream) -> entry handle.
  absl::flat_hash_map<uint64_t, uint64_t> attachments_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool waits_changed_ ABSL_GUARDED_BY(mu_) = false;

  // Answers the waits whose deadline passed (real time, as the RPC's).
  void DeadlineLoop();
  std::thread deadline_thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_WATCH_INSTANCE_REGISTRY_H_
