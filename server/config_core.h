// The domain core of confcenterd: validates requests, commits writes through one group
// committer (consecutive revisions, one synced store write per batch), and answers reads from
// the in-memory index. gRPC handlers translate to and from it; it knows nothing of gRPC.
#ifndef CONFCENTER_SERVER_CONFIG_CORE_H_
#define CONFCENTER_SERVER_CONFIG_CORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "confcenter/v1/tenant.pb.h"
#include "server/clock.h"
#include "server/config_state.h"
#include "server/watch_hub.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// Limits; each is a confcenterd flag of the same name.
struct CoreOptions {
  // Largest value accepted, in bytes. Default 1 MiB.
  int64_t max_value_bytes = 1 << 20;
  // Most own entries (values and masks) one tenant may hold. Default 100,000.
  int64_t max_keys_per_tenant = 100'000;
  // Most operations in one Txn. Default 128 (as etcd).
  int max_txn_ops = 128;
  // Most services in one Register or Deregister. Default 256.
  int max_services_per_request = 256;
  // Most write requests the committer puts in one store commit. Default 512.
  int max_commit_batch = 512;
  // How often expired tenants are looked for; zero = never (tests call ReclaimExpired).
  absl::Duration reclaim_interval = absl::Seconds(10);
  // Subscriptions: queue bound, progress interval, change-log retention.
  WatchOptions watch;
};

enum class WriteOpType { kPut, kDelete, kMask };

// One write to a tenant's own entry.
struct WriteOp {
  WriteOpType type = WriteOpType::kPut;
  std::string tenant;
  std::string service;
  std::string key;
  std::string value;      // kPut only
  int32_t content_type = 0;  // kPut only; 0 is stored as TEXT (1)
  // Compare-and-set: nullopt = unconditional, 0 = no own entry, N = own entry at revision N.
  std::optional<int64_t> expected_revision;
};

struct TxnResult {
  int64_t revision = 0;
  // Per op: the entry as written (put, mask) or as it was before (delete).
  std::vector<storage::EntryRecord> entries;
};

struct RegisterCommand {
  std::string tenant;
  std::string parent;  // empty: integration for a new tenant, unchanged for an existing one
  bool root = false;   // create or move the tenant to be a root
  std::vector<v1::ServiceDefinition> services;
  bool force = false;                     // accept version conflicts as warnings
  absl::Duration ttl = absl::ZeroDuration();  // zero: keep the current TTL
  bool keep = false;                      // keep the tenant when its last service goes
};

// A tenant as the API describes it.
struct TenantInfo {
  storage::TenantRecord record;
  std::vector<std::string> chain;
  std::vector<std::string> children;
  int64_t key_count = 0;
};

struct RegisterResult {
  int64_t revision = 0;
  bool created = false;
  TenantInfo tenant;
  std::vector<v1::DependencyMap> dependency_maps;  // per registered service, request order
  std::vector<std::string> warnings;
};

struct DeregisterCommand {
  std::string tenant;
  std::vector<std::string> services;
  bool all = false;
  bool force = false;  // required to remove integration wholesale
  // Reclamation: remove the tenant only if it still expires at or before this time (a Touch
  // may have renewed it since it was found expired).
  std::optional<absl::Time> only_if_expired_at;
};

struct TouchResult {
  int64_t revision = 0;
  std::optional<absl::Time> expire_time;  // none without a TTL
};

struct DependenciesResult {
  int64_t revision = 0;
  std::string source_tenant;  // whose registration of the service was used
  v1::DependencyMap map;
};

struct DeregisterResult {
  int64_t revision = 0;
  std::vector<std::string> removed_services;
  int64_t removed_keys = 0;
  bool tenant_removed = false;
  // Dependents that now route to an incompatible (or no) registration.
  std::vector<std::string> warnings;
};

struct EntryView {
  int64_t revision = 0;  // store revision of the read
  storage::EntryRecord entry;
};

struct ListedEntry {
  std::string service;
  std::string key;
  storage::EntryRecord entry;
};

struct ListResult {
  int64_t revision = 0;
  std::vector<ListedEntry> entries;
  std::string next_page_token;
};

struct ResolveResult {
  int64_t revision = 0;
  std::vector<std::string> chain;
  std::vector<ResolvedEntry> entries;
};

struct ListTenantsResult {
  int64_t revision = 0;
  std::vector<TenantInfo> tenants;
  std::string next_page_token;
};

// Who asks for a write, for history and the audit log. Every field may be empty (in-process
// callers): rpc then defaults to the write's kind, user to "anonymous".
struct WriteContext {
  // The RPC, e.g. "ConfigService.Put".
  std::string rpc;
  // The x-confcenter-user header.
  std::string user;
  // The client's address.
  std::string peer;
  // The release message (Txn, Rollback).
  std::string message;
  // The client's deadline: a write still waiting for the committer when it passes is dropped
  // (DEADLINE_EXCEEDED, audited, nothing written), so a client that gave up leaves no work.
  absl::Time deadline = absl::InfiniteFuture();
};

// What a write names, as the audit log records it.
struct AuditTargets {
  std::vector<std::string> tenants;
  std::vector<std::string> services;
  std::vector<std::string> keys;  // "tenant/service/key"
  std::string detail;
};

// Restores `scope` to `past` (its own entries at to_revision, read from history).
struct RollbackCommand {
  storage::HistoryScope scope;
  int64_t to_revision = 0;
  storage::StateAt past;
  // The create revision of the tenant `past` was read for: the plan refuses a tenant that
  // was removed and created again since.
  int64_t tenant_create_revision = 0;
};

// One key a rollback changes.
struct RollbackChange {
  storage::EntryKey key;
  std::optional<storage::EntryRecord> before;  // the current own entry, if any
  std::optional<storage::EntryRecord> after;   // the restored one; nullopt = deleted
};

struct RollbackResult {
  // The revision the rollback committed at; the current revision if nothing changed.
  int64_t revision = 0;
  std::vector<RollbackChange> changes;
};

// Thread-safe. Write methods are asynchronous and never block on I/O: `done` runs exactly
// once, either inline (the request is invalid) or on the committer thread after the write is
// durable or has failed. `done` must not block. Read methods are synchronous, from memory.
//
// Errors name the offending field as it is called in the API (for Txn, "ops[i].<field>"):
// INVALID_ARGUMENT (bad names, sizes), NOT_FOUND (tenant, entry), FAILED_PRECONDITION
// (compare-and-set mismatch, cycle, tenant with children), RESOURCE_EXHAUSTED (limits),
// UNAVAILABLE (the store failed; nothing was applied). A failed write changes nothing.
class ConfigCore {
 public:
  using TxnDone = std::function<void(absl::StatusOr<TxnResult>)>;
  using RegisterDone = std::function<void(absl::StatusOr<RegisterResult>)>;
  using DeregisterDone = std::function<void(absl::StatusOr<DeregisterResult>)>;
  using TouchDone = std::function<void(absl::StatusOr<TouchResult>)>;
  using RollbackDone = std::function<void(absl::StatusOr<RollbackResult>)>;

  // Loads the store's state and starts the committer. Creates `integration` on a new store.
  static absl::StatusOr<std::unique_ptr<ConfigCore>> Open(std::unique_ptr<storage::Store> store,
                                                          const CoreOptions& options,
                                                          Clock* clock);
  // Stops the committer after finishing the writes already queued, then ends every
  // subscription.
  ~ConfigCore();

  ConfigCore(const ConfigCore&) = delete;
  ConfigCore& operator=(const ConfigCore&) = delete;

  // `context` says who asks: it is stored with the change set (author, release message,
  // origin) and in the audit record every write attempt gets, accepted or rejected, in the
  // same synced store write as the commit (a rejection is acknowledged once its audit record
  // is durable).
  //
  // Applies `ops` atomically under one revision. `single` names fields without the
  // "ops[i]." prefix (Put, Delete and Mask are one-op transactions).
  void Txn(std::vector<WriteOp> ops, bool single, TxnDone done, WriteContext context = {});
  // Validates the definitions, then in one revision records them and writes what they
  // generate (endpoints, defaults, secrets); see tenant.proto for the rules.
  void Register(RegisterCommand command, RegisterDone done, WriteContext context = {});
  void Deregister(DeregisterCommand command, DeregisterDone done, WriteContext context = {});
  // Renews the tenant's TTL from now.
  void Touch(std::string tenant, TouchDone done, WriteContext context = {});

  // Removes every tenant whose TTL has passed by the clock's now (as Deregister all), waiting
  // for the removals to commit. Returns the tenants removed. Runs every
  // CoreOptions::reclaim_interval on a thread of its own; tests call it directly.
  std::vector<std::string> ReclaimExpired();
  // Writes the differences between the scope's current own entries and command.past as one
  // new revision (in a batch of its own), as a release. Errors as for Txn (NOT_FOUND if the
  // tenant went away, RESOURCE_EXHAUSTED for --max_keys_per_tenant).
  void Rollback(RollbackCommand command, RollbackDone done, WriteContext context);
  // Records a write attempt rejected before it reached the core (e.g. by the gRPC edge) in
  // the audit log, then calls done(status).
  void RejectWrite(WriteContext context, AuditTargets targets, absl::Status status,
                   std::function<void(const absl::Status&)> done);

  // Runs `fn` with the current state under the reader lock. `fn` must not call the core.
  void ReadState(const std::function<void(const ConfigState&)>& fn) const;
  // The store, for history reads (thread-safe).
  storage::Store* store() const { return store_.get(); }
  // The limits the core enforces.
  const CoreOptions& options() const { return options_; }

  absl::StatusOr<EntryView> Get(const std::string& tenant, const std::string& service,
                                const std::string& key) const;
  // page_size 0 = 100, at most 1000.
  absl::StatusOr<ListResult> List(const std::string& tenant, const std::string& service,
                                  const std::string& prefix, int page_size,
                                  const std::string& page_token) const;
  // services empty = every service of the chain.
  absl::StatusOr<ResolveResult> Resolve(const std::string& tenant,
                                        const std::vector<std::string>& services) const;
  absl::StatusOr<TenantInfo> GetTenant(const std::string& tenant, int64_t* revision) const;
  // The dependency map of `service` (registered in the tenant's chain) in the tenant's view.
  absl::StatusOr<DependenciesResult> ResolveDependencies(const std::string& tenant,
                                                         const std::string& service) const;
  absl::StatusOr<ListTenantsResult> ListTenants(int page_size,
                                                const std::string& page_token) const;

  // The revision of the last committed write.
  int64_t revision() const;

  // Waits until no write is queued or being committed, or `timeout` passes; false on timeout.
  // Used to drain on shutdown.
  bool WaitForWritesDrained(absl::Duration timeout);

  // The watch hub: subscriptions to resolved views. Owned by the core.
  WatchHub* watch_hub() { return hub_.get(); }
  // Where the core and its hub count commits and fan-out.
  Metrics* metrics() const { return options_.watch.metrics; }
  // Write requests waiting for the committer (not counting the batch being committed).
  size_t queued_writes() const;

 private:
  struct PendingWrite;
  class Overlay;
  // Runs once the batch holding a planned write is committed (OK) or has failed.
  using Completion = std::function<void(const absl::Status& committed)>;

  ConfigCore(std::unique_ptr<storage::Store> store, const CoreOptions& options, Clock* clock);

  absl::Status ValidateOps(const std::vector<WriteOp>& ops, bool single) const;
  void Enqueue(PendingWrite write);
  // Enqueues `write` as rejected with `status`: audited, then failed.
  void Reject(PendingWrite write, absl::Status status);
  void CommitLoop();
  // Plans one queued write against the state plus the batch's earlier writes. On success
  // fills `change_set` (revision `revision`; left empty if the write changes nothing) and
  // returns its completion; on error returns the error and leaves `overlay` as it was.
  absl::StatusOr<Completion> Plan(PendingWrite& write, Overlay& overlay,
                                             int64_t revision, storage::ChangeSet& change_set)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<Completion> PlanTxn(PendingWrite& write, Overlay& overlay,
                                                int64_t revision, storage::ChangeSet& change_set)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<Completion> PlanRegister(PendingWrite& write, int64_t revision,
                                                     storage::ChangeSet& change_set)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<Completion> PlanDeregister(PendingWrite& write, int64_t revision,
                                                       storage::ChangeSet& change_set)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<Completion> PlanTouch(PendingWrite& write, int64_t revision,
                                       storage::ChangeSet& change_set)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  // Adds to `change_set` the entries registering `definition` in `tenant` generates
  // (endpoints, defaults, secrets), against the current state. `chain` is the tenant's chain
  // after the registration; `previous` its former definition of the service, if any.
  absl::Status PlanGeneratedEntries(const std::string& tenant,
                                    const std::vector<std::string>& chain,
                                    const v1::ServiceDefinition& definition,
                                    const v1::ServiceDefinition* previous, int64_t revision,
                                    storage::ChangeSet& change_set, int64_t* added_keys)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  void ReclaimLoop();
  absl::StatusOr<Completion> PlanRollback(PendingWrite& write, Overlay& overlay,
                                          int64_t revision, storage::ChangeSet& change_set)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  TenantInfo DescribeTenant(const TenantState& tenant) const
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);

  // Const after construction.
  // Fills in `owned` as the metrics when the options name none.
  static CoreOptions WithMetrics(CoreOptions options, Metrics* owned) {
    if (options.watch.metrics == nullptr) options.watch.metrics = owned;
    return options;
  }

  std::unique_ptr<Metrics> owned_metrics_;  // when the options name no metrics
  const CoreOptions options_;
  Clock* const clock_;
  const std::unique_ptr<storage::Store> store_;  // written by the committer thread only

  // Lock order: queue_mu_ and state_mu_ are never held together.
  mutable absl::Mutex state_mu_;
  ConfigState state_ ABSL_GUARDED_BY(state_mu_);  // written by the committer thread only

  mutable absl::Mutex queue_mu_;
  std::deque<PendingWrite> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;  // a taken batch is not done yet

  std::unique_ptr<WatchHub> hub_;  // created after the state is loaded
  std::thread committer_;
  std::thread reclaimer_;  // runs only with a reclaim_interval
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CONFIG_CORE_H_
