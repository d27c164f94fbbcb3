// The domain core of confcenterd: takes writes through one group committer (committer.h; one
// unit per write kind in writes/) and answers reads from the in-memory state (reads.h). The
// gRPC and HTTP edges translate to and from it; it knows nothing of gRPC, nor of the watch
// hub, which hears of commits as the CommitListener.
#ifndef CONFCENTER_SERVER_CORE_CONFIG_CORE_H_
#define CONFCENTER_SERVER_CORE_CONFIG_CORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/commit_listener.h"
#include "server/core/committer.h"
#include "server/core/config_state.h"
#include "server/core/core_options.h"
#include "server/core/reads.h"
#include "server/core/write.h"
#include "server/core/writes/deregister.h"
#include "server/core/writes/register.h"
#include "server/core/writes/rollback.h"
#include "server/core/writes/touch.h"
#include "server/core/writes/txn.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// Thread-safe. Write methods are asynchronous and never block on I/O: `done` runs exactly
// once, either on the committer thread after the write is durable or has failed, or (during
// shutdown) inline with UNAVAILABLE. `done` must not block. Read methods are synchronous,
// from memory.
//
// Every write attempt, accepted or rejected, gets an audit record in the same synced store
// write as its commit (a rejection is acknowledged once its audit record is durable); the
// WriteContext says who asks and is stored with the change set (author, release message,
// origin).
//
// Errors name the offending field as it is called in the API (for Txn, "ops[i].<field>"):
// INVALID_ARGUMENT (bad names, sizes), NOT_FOUND (tenant, entry), FAILED_PRECONDITION
// (compare-and-set mismatch, cycle, tenant with children), RESOURCE_EXHAUSTED (limits),
// UNAVAILABLE (the store failed; nothing was applied). A failed write changes nothing.
class ConfigCore : private storage::StoreFollower {
 public:
  // Loads the store's state and starts the committer. Creates `integration` on a new store.
  // On a shared store (Store::shared) it then follows the other replicas' commits, applying
  // and publishing them like its own.
  static absl::StatusOr<std::unique_ptr<ConfigCore>> Open(std::unique_ptr<storage::Store> store,
                                                          const CoreOptions& options, Clock* clock);
  // Stops the committer after finishing the writes already queued.
  ~ConfigCore();

  ConfigCore(const ConfigCore&) = delete;
  ConfigCore& operator=(const ConfigCore&) = delete;

  // Queues any write kind (writes/). The typed methods below are shorthands for the kinds the
  // API has today.
  void Submit(std::unique_ptr<Write> write, WriteContext context = {});

  // Applies `ops` atomically under one revision (writes/txn.h).
  void Txn(std::vector<WriteOp> ops, bool single, TxnDone done, WriteContext context = {});
  // Records service definitions and what they generate (writes/register.h).
  void Register(RegisterCommand command, RegisterDone done, WriteContext context = {});
  // Removes services or the tenant (writes/deregister.h).
  void Deregister(DeregisterCommand command, DeregisterDone done, WriteContext context = {});
  // Renews the tenant's TTL from now (writes/touch.h).
  void Touch(std::string tenant, TouchDone done, WriteContext context = {});
  // Restores a scope to an earlier revision as a new one (writes/rollback.h).
  void Rollback(RollbackCommand command, RollbackDone done, WriteContext context);
  // Records a write attempt rejected before it reached the core (e.g. by the gRPC edge) in
  // the audit log, then calls done(status).
  void RejectWrite(WriteContext context, AuditTargets targets, absl::Status status,
                   std::function<void(const absl::Status&)> done);

  // Records a read the audit log must show (e.g. of secret values) with `targets`.
  void AuditRead(WriteContext context, AuditTargets targets);

  // Removes every tenant whose TTL has passed by the clock's now (as Deregister all), waiting
  // for the removals to commit. Returns the tenants removed. Runs every
  // CoreOptions::reclaim_interval on a thread of its own; tests call it directly.
  std::vector<std::string> ReclaimExpired();

  // Counts every tenant's history bytes in the store again (what --max_tenant_bytes counts
  // besides current values): at start and after each history compaction, on every replica,
  // so versions another replica's compaction dropped stop counting. Commits may run
  // meanwhile; what they add is kept. Reads the whole history: call off the request path.
  absl::Status RecountHistoryBytes();

  // Who hears of every committed batch (the watch hub); null: nobody. After it returns, the
  // previous listener is never called again.
  void SetCommitListener(CommitListener* listener);

  // Runs `fn` with the current state under the reader lock. `fn` must not call the core.
  void ReadState(const std::function<void(const ConfigState&)>& fn) const;
  // The store, for history reads (thread-safe).
  storage::Store* store() const { return store_.get(); }
  // The limits the core enforces.
  const CoreOptions& options() const { return options_; }

  // Reads: see reads.h.
  absl::StatusOr<EntryView> Get(const std::string& tenant, const std::string& service,
                                const std::string& key) const;
  absl::StatusOr<ListResult> List(const std::string& tenant, const std::string& service,
                                  const std::string& prefix, int page_size,
                                  const std::string& page_token) const;
  absl::StatusOr<ResolveResult> Resolve(const std::string& tenant,
                                        const std::vector<std::string>& services) const;
  absl::StatusOr<TenantInfo> GetTenant(const std::string& tenant, int64_t* revision) const;
  absl::StatusOr<DependenciesResult> ResolveDependencies(const std::string& tenant,
                                                         const std::string& service) const;
  absl::StatusOr<ListTenantsResult> ListTenants(int page_size, const std::string& page_token) const;

  // The revision of the last committed write.
  int64_t revision() const;

  // Calls `fn` with OK once this replica has applied `revision` (at once if it has), or with
  // UNAVAILABLE naming both revisions if `deadline` passes first. For reads that must see a
  // write made through another replica (min_revision). `fn` must not block or call the core.
  void WhenApplied(int64_t revision, absl::Time deadline, std::function<void(absl::Status)> fn);
  // Whether the store takes writes now (a shared store that lost its cluster does not).
  storage::StoreHealth StoreHealth() const { return store_->Health(); }

  // Waits until no write is queued or being committed, or `timeout` passes; false on timeout.
  // Used to drain on shutdown.
  bool WaitForWritesDrained(absl::Duration timeout);

  // Where the core counts commits.
  Metrics* metrics() const { return options_.metrics; }
  // Write requests waiting for the committer (not counting the batch being committed).
  size_t queued_writes() const;

 private:
  ConfigCore(std::unique_ptr<storage::Store> store, const CoreOptions& options, Clock* clock);

  void ReclaimLoop();

  // storage::StoreFollower: the shared store's commits by every replica.
  void Committed(std::vector<storage::ChangeSet> change_sets, absl::Time durable_at) override;
  void Reloaded(storage::LoadedState state) override;
  int64_t AppliedRevision() const override;

  // Const after construction.
  std::unique_ptr<Metrics> owned_metrics_;  // when the options name no metrics
  const CoreOptions options_;
  Clock* const clock_;
  const std::unique_ptr<storage::Store> store_;  // written by the committer thread only
  GuardedState state_;
  std::unique_ptr<Committer> committer_;  // created once the state is loaded

  // Held (shared) while a follow callback uses the committer; taken exclusively to stop them.
  absl::Mutex follow_mu_;
  bool following_ ABSL_GUARDED_BY(follow_mu_) = false;

  absl::Mutex reclaim_mu_;
  bool stopping_ ABSL_GUARDED_BY(reclaim_mu_) = false;
  std::thread reclaimer_;  // runs only with a reclaim_interval
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_CONFIG_CORE_H_
