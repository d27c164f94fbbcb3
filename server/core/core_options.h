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
