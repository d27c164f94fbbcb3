// The limits the core enforces; each is a confcenterd flag of the same name.
#ifndef CONFCENTER_SERVER_CORE_CORE_OPTIONS_H_
#define CONFCENTER_SERVER_CORE_CORE_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"
#include "server/core/caller_limits.h"
#include "server/core/metrics.h"

namespace confcenter {

struct CoreOptions {
  // Largest value accepted, in bytes. Default 1 MiB.
  int64_t max_value_bytes = 1 << 20;
  // Most own entries (values and masks) one tenant may hold. Default 100,000.
  int64_t max_keys_per_tenant = 100'000;
  // Bytes (EntryBytes: service + key + value) one tenant's own entries and their history
  // versions may hold; writes that would pass it are refused with RESOURCE_EXHAUSTED. 0 = no
  // quota. Default 256 MiB.
  int64_t max_tenant_bytes = int64_t{256} << 20;
  // While the store (values, history, audit, as the engine measures it on disk and in its
  // memtables) holds this many bytes, writes that add bytes are refused; deletions go on.
  // 0 = no quota. Default 0 (the disk is the limit; --disk_reserve_bytes keeps room to
  // recover).
  int64_t max_store_bytes = 0;
  // Most tenants; a Register that would create one more is refused. 0 = no cap. Default 10,000.
  int64_t max_tenants = 10'000;
  // Most operations in one Txn. Default 128 (as etcd).
  int max_txn_ops = 128;
  // Most services in one Register or Deregister. Default 256.
  int max_services_per_request = 256;
  // Most write requests the committer puts in one store commit. Default 512.
  int max_commit_batch = 512;
  // Most write requests waiting for the committer (besides the batch it commits). A write
  // that finds the queue full is refused at once with RESOURCE_EXHAUSTED and retry advice,
  // unaudited (counted in confcenter_writes_shed_total): under a flood the server answers
  // fast instead of holding every request until its deadline. Default 10,000.
  int64_t max_queued_writes = 10'000;
  // Writes per second one caller (WriteContext::caller) may make, with a burst: more are
  // refused with RESOURCE_EXHAUSTED and retry advice, before validation or audit. Default
  // unlimited.
  RateLimit write_rate_per_caller;
  // Refusals (unauthenticated, denied, invalid) of one caller that are written to the audit
  // log per second, with a burst; past it a refusal is still answered but not recorded
  // (counted in confcenter_refusal_audits_dropped_total), so a flood of bad requests cannot
  // fill the disk or crowd out good writes. Default 10/s, burst 100.
  RateLimit refusal_audits_per_caller{10, 100};
  // How often expired tenants are looked for; zero = never (tests call ReclaimExpired).
  absl::Duration reclaim_interval = absl::Seconds(10);
  // The longest a read with a min_revision (or a resume from a revision) waits for this
  // replica to apply that revision before it answers UNAVAILABLE.
  absl::Duration max_revision_wait = absl::Seconds(5);
  // Where commits are counted; not owned. Null: the core keeps its own.
  Metrics* metrics = nullptr;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_CORE_OPTIONS_H_
