// Versioning over ConfigCore: per-key history, releases, rollback to any kept revision, diffs
// of resolved views, the audit log, and the background compaction of all of them. Knows
// nothing of gRPC; server/history_service.cc translates.
#ifndef CONFCENTER_SERVER_CORE_HISTORY_CORE_H_
#define CONFCENTER_SERVER_CORE_HISTORY_CORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/clock.h"
#include "server/core/config_core.h"
#include "server/core/reads.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// Retention; each is a confcenterd flag of the same name.
struct HistoryOptions {
  // Versions, releases: dropped once older than this (but see keep_versions). Default 30 days.
  absl::Duration history_retention_age = absl::Hours(24 * 30);
  // The last N versions of each key are kept whatever their age (at least 1). Default 10.
  int history_keep_versions = 10;
  // Audit records: dropped once older than this. Default 90 days.
  absl::Duration audit_retention_age = absl::Hours(24 * 90);
  // How often the background thread compacts; zero = no thread (tests call Compact).
  // Default 1 h.
  absl::Duration compaction_interval = absl::Hours(1);
};

struct HistoryQuery {
  std::string tenant;
  std::string service;  // empty = every service (then key must be empty)
  std::string key;      // one key; exclusive with prefix
  std::string prefix;   // keys starting with this
  int page_size = 0;    // 0 = 100, at most 1000
  std::string page_token;
};

struct HistoryVersion {
  storage::EntryKey key;
  storage::HistoryRecord record;
};

struct HistoryPage {
  int64_t revision = 0;         // the store revision when the read started
  int64_t oldest_revision = 0;  // the tenant's floor: states from here on are exact
  std::vector<HistoryVersion> versions;
  std::string next_page_token;
};

struct ReleasesPage {
  int64_t revision = 0;
  std::vector<storage::ChangeSet> releases;  // newest first
  std::string next_page_token;
};

struct RollbackQuery {
  std::string tenant;
  std::string service;  // empty = the whole tenant
  std::string key;      // empty = the whole service
  int64_t to_revision = 0;
  bool dry_run = false;
};

struct RollbackOutcome {
  int64_t revision = 0;  // committed at (or, dry run / no change: the current revision)
  bool dry_run = false;
  std::vector<RollbackChange> changes;
};

// What a release changed: the tenants whose own entries it wrote and how many entries.
struct ReleaseSummary {
  std::vector<std::string> tenants;  // ordered, unique
  int32_t change_count = 0;          // entry changes (tenant changes do not count)
};
ReleaseSummary SummarizeRelease(const storage::ChangeSet& release);

enum class DiffMode { kTenants, kParent, kRevisions };

struct DiffQuery {
  DiffMode mode = DiffMode::kTenants;
  std::string tenant;                 // kTenants: the left tenant; otherwise the tenant
  std::string other_tenant;           // kTenants: the right tenant
  std::vector<std::string> services;  // empty = all
  int64_t from_revision = 0;          // kRevisions: left; required
  int64_t to_revision = 0;            // kRevisions: right; 0 = current
  bool own_entries = false;           // kRevisions: compare own entries instead of resolved views
};

struct DiffSide {
  std::string value;
  int32_t content_type = 0;
  bool mask = false;  // own-entries diffs only
  std::string source_tenant;
  int64_t revision = 0;
  bool secret = false;
};

enum class DiffType { kAdded, kRemoved, kChanged };

struct DiffEntry {
  std::string service;
  std::string key;
  DiffType type = DiffType::kChanged;
  std::optional<DiffSide> left;
  std::optional<DiffSide> right;
};

struct DiffResult {
  int64_t revision = 0;
  std::string left_tenant, right_tenant;
  int64_t left_revision = 0, right_revision = 0;
  std::vector<DiffEntry> entries;  // by (service, key)
};

struct AuditQuery {
  std::string tenant;                      // empty = any
  std::string user;                        // empty = any
  std::string rpc;                         // "ConfigService.Put" or just "Put"; empty = any
  std::optional<absl::Time> since, until;  // [since, until)
  int page_size = 0;                       // 0 = 100, at most 1000
  std::string page_token;
};

struct AuditPage {
  int64_t revision = 0;
  std::vector<storage::AuditRecord> records;  // newest first
  std::string next_page_token;
};

// Thread-safe. Reads are synchronous (RocksDB reads of the history column families and the
// in-memory state); Rollback is asynchronous like ConfigCore's writes.
//
// Errors name the request field: INVALID_ARGUMENT (bad names, sizes, tokens), NOT_FOUND
// (tenant, release), OUT_OF_RANGE (a revision ahead of the store), FAILED_PRECONDITION (a
// revision older than the kept history, a root tenant has no parent), RESOURCE_EXHAUSTED
// (a rollback over --max_keys_per_tenant).
class HistoryCore {
 public:
  using RollbackDone = std::function<void(absl::StatusOr<RollbackOutcome>)>;

  // `core` and `clock` must outlive this. Starts the compaction thread unless
  // options.compaction_interval is zero.
  HistoryCore(ConfigCore* core, const HistoryOptions& options, Clock* clock);
  ~HistoryCore();

  absl::StatusOr<HistoryPage> History(const HistoryQuery& query) const;
  // ExplainKey (reads.h) on the current state, with each step's last write from the history
  // (`writes[i]` for `result.steps[i]`; none for a step without an entry, or once the write
  // was compacted away).
  struct Explanation {
    ExplainResult result;
    std::vector<std::optional<storage::HistoryRecord>> writes;
  };
  absl::StatusOr<Explanation> Explain(const std::string& tenant, const std::string& service,
                                      const std::string& key) const;
  // tenant empty = releases of every tenant.
  absl::StatusOr<ReleasesPage> ListReleases(const std::string& tenant, int page_size,
                                            const std::string& page_token) const;
  absl::StatusOr<storage::ChangeSet> GetRelease(int64_t release_id) const;
  // A dry run answers inline; a real one commits through the core (audited there, and here
  // when rejected before reaching it). context.message empty = "rollback to revision N".
  void Rollback(const RollbackQuery& query, WriteContext context, RollbackDone done);
  absl::StatusOr<DiffResult> Diff(const DiffQuery& query) const;
  absl::StatusOr<AuditPage> QueryAudit(const AuditQuery& query) const;

  // Compacts history, releases and the audit log as the options say (the background thread
  // calls it; tests may too).
  absl::Status Compact();

  // What CompactNow did.
  struct CompactionReport {
    int64_t versions_dropped = 0;
    int64_t releases_dropped = 0;
    int64_t audit_records_dropped = 0;
    int64_t change_log_start = 0;  // 0: the change log was not touched
    int64_t store_bytes_before = 0;
    int64_t store_bytes_after = 0;
    bool disk_full = false;
  };
  // An operator's compaction (AdminService.CompactHistory): drops versions older than
  // `older_than` but each key's last `keep_versions` (>= 1), releases older than it, audit
  // records too if `include_audit`, and the change log but its last `keep_change_log`
  // revisions if that is positive; then the engine reclaims the space and the tenants' bytes
  // are counted again. Recorded in the audit log as `context` (the operator) with what it
  // dropped. Blocking. RESOURCE_EXHAUSTED if another compaction is running.
  absl::StatusOr<CompactionReport> CompactNow(absl::Duration older_than, int keep_versions,
                                              bool include_audit, int64_t keep_change_log,
                                              WriteContext context);

  const HistoryOptions& options() const { return options_; }
  // The store's current revision.
  int64_t revision() const { return core_->revision(); }

 private:
  // FAILED_PRECONDITION naming `field` if `revision` is older than `tenant`'s floor.
  absl::Status CheckKept(absl::string_view field, const std::string& tenant, int64_t revision,
                         int64_t floor) const;
  // The tenant's own entries at `revision` (checked against the floor).
  absl::StatusOr<storage::StateAt> OwnEntriesAt(absl::string_view field, const std::string& tenant,
                                                int64_t revision) const;
  absl::StatusOr<RollbackCommand> PlanRollback(const RollbackQuery& query) const;
  void CompactionLoop();

  ConfigCore* const core_;
  storage::Store* const store_;
  const HistoryOptions options_;
  Clock* const clock_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Held by a running compaction (periodic or an operator's): one at a time.
  absl::Mutex compaction_mu_;
  std::thread compaction_thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_HISTORY_CORE_H_
