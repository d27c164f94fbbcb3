#include "server/core/history_core.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/rollback_plan.h"
#include "spdlog/spdlog.h"
#include "storage/key_codec.h"

namespace confcenter {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Audit records one QueryAudit call looks at before it returns a partial page.
constexpr int kMaxAuditScan = 100'000;

absl::Status ValidatePageSize(int page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", page_size, " is out of range; use 0 (default 100) to 1000"));
  }
  return absl::OkStatus();
}

size_t PageLimit(int page_size) { return page_size == 0 ? kDefaultPageSize : page_size; }

absl::Status BadToken(const std::string& token) {
  return absl::InvalidArgumentError(absl::StrCat("page_token: ", QuoteForError(token),
                                                 " is not a next_page_token this server returned"));
}

std::string RevisionToken(int64_t revision) {
  return absl::WebSafeBase64Escape(storage::EncodeRevision(revision));
}

absl::StatusOr<int64_t> DecodeRevisionToken(const std::string& token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return BadToken(token);
  std::optional<int64_t> revision = storage::DecodeRevision(raw);
  if (!revision || *revision <= 0) return BadToken(token);
  return *revision;
}

// A key of a history scope: required, key characters; reserved ("_") keys may be read.
absl::Status ValidateHistoryKey(absl::string_view field, absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  return ValidateKeyPrefix(field, key);
}

// "30 days" for whole days, else absl's format ("36h").
std::string DescribeDuration(absl::Duration d) {
  const int64_t hours = absl::ToInt64Hours(d);
  if (d == absl::Hours(hours) && hours % 24 == 0 && hours > 0) {
    return hours == 24 ? "1 day" : absl::StrCat(hours / 24, " days");
  }
  return absl::FormatDuration(d);
}

DiffSide SideOf(const ResolvedEntry& e) {
  return DiffSide{e.value, e.content_type, false, e.source_tenant, e.revision, e.secret};
}

bool SameSide(const DiffSide& a, const DiffSide& b) {
  return a.mask == b.mask && a.value == b.value && a.content_type == b.content_type;
}

using SideMap = std::map<std::pair<std::string, std::string>, DiffSide>;

SideMap ToSides(const std::vector<ResolvedEntry>& entries) {
  SideMap out;
  for (const ResolvedEntry& e : entries) out[{e.service, e.key}] = SideOf(e);
  return out;
}

std::vector<DiffEntry> Compare(const SideMap& left, const SideMap& right) {
  std::vector<DiffEntry> out;
  auto l = left.begin();
  auto r = right.begin();
  while (l != left.end() || r != right.end()) {
    if (r == right.end() || (l != left.end() && l->first < r->first)) {
      out.push_back({l->first.first, l->first.second, DiffType::kRemoved, l->second, {}});
      ++l;
    } else if (l == left.end() || r->first < l->first) {
      out.push_back({r->first.first, r->first.second, DiffType::kAdded, {}, r->second});
      ++r;
    } else {
      if (!SameSide(l->second, r->second)) {
        out.push_back({l->first.first, l->first.second, DiffType::kChanged, l->second, r->second});
      }
      ++l;
      ++r;
    }
  }
  return out;
}

bool Wanted(const std::vector<std::string>& services, const std::string& service) {
  return services.empty() || std::binary_search(services.begin(), services.end(), service);
}

// The scope of History and Rollback: a tenant, optionally one service, optionally one key of
// it (a key needs its service; a key and a prefix exclude each other).
absl::Status ValidateScope(const storage::HistoryScope& scope) {
  if (absl::Status s = ValidateTenantName("tenant", scope.tenant); !s.ok()) return s;
  if (!scope.service.empty()) {
    if (absl::Status s = ValidateServiceName("service", scope.service); !s.ok()) return s;
  }
  if (!scope.key.empty()) {
    if (scope.service.empty()) {
      return absl::InvalidArgumentError("service: is required when key is given");
    }
    if (!scope.key_prefix.empty()) {
      return absl::InvalidArgumentError("prefix: must be empty when key is given");
    }
    if (absl::Status s = ValidateHistoryKey("key", scope.key); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

HistoryCore::HistoryCore(ConfigCore* core, const HistoryOptions& options, Clock* clock)
    : core_(core), store_(core->store()), options_(options), clock_(clock) {
  if (options_.compaction_interval > absl::ZeroDuration()) {
    compaction_thread_ = std::thread([this] { CompactionLoop(); });
  }
}

HistoryCore::~HistoryCore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (compaction_thread_.joinable()) compaction_thread_.join();
}

void HistoryCore::CompactionLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.compaction_interval);
    if (stopping_) break;
    mu_.Unlock();
    if (absl::Status s = Compact(); !s.ok()) {
      spdlog::warn("history compaction failed: {}", s.ToString());
    }
    mu_.Lock();
  }
}

absl::Status HistoryCore::Compact() {
  absl::MutexLock running(&compaction_mu_);
  const absl::Time now = clock_->Now();
  absl::StatusOr<storage::HistoryCompaction> history = store_->CompactHistory(
      absl::ToUnixMicros(now - options_.history_retention_age), options_.history_keep_versions);
  if (!history.ok()) return history.status();
  if (history->versions_dropped > 0 || history->releases_dropped > 0) {
    spdlog::info("history compaction dropped {} versions and {} releases",
                 history->versions_dropped, history->releases_dropped);
  }
  absl::StatusOr<int64_t> audit =
      store_->CompactAudit(absl::ToUnixMicros(now - options_.audit_retention_age));
  if (!audit.ok()) return audit.status();
  if (*audit > 0) spdlog::info("audit compaction dropped {} records", *audit);
  // On every replica: versions dropped here, or by the replica that compacted, stop counting
  // against --max_tenant_bytes.
  return core_->RecountHistoryBytes();
}

absl::StatusOr<HistoryCore::CompactionReport> HistoryCore::CompactNow(absl::Duration older_than,
                                                                      int keep_versions,
                                                                      bool include_audit,
                                                                      int64_t keep_change_log,
                                                                      WriteContext context) {
  if (!compaction_mu_.TryLock()) {
    return absl::ResourceExhaustedError(
        "another history compaction is running; retry once it has finished");
  }
  absl::Cleanup unlock = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { compaction_mu_.Unlock(); };
  CompactionReport report;
  report.store_bytes_before = store_->Stats().stored_bytes();
  const int64_t cutoff = absl::ToUnixMicros(clock_->Now() - older_than);
  absl::StatusOr<storage::HistoryCompaction> history =
      store_->CompactHistory(cutoff, std::max(1, keep_versions));
  if (!history.ok()) return history.status();
  report.versions_dropped = history->versions_dropped;
  report.releases_dropped = history->releases_dropped;
  if (include_audit) {
    absl::StatusOr<int64_t> audit = store_->CompactAudit(cutoff);
    if (!audit.ok()) return audit.status();
    report.audit_records_dropped = *audit;
  }
  if (keep_change_log > 0) {
    report.change_log_start = std::max<int64_t>(1, store_->CurrentRevision() - keep_change_log + 1);
    if (absl::Status s = store_->CompactChangesBefore(report.change_log_start); !s.ok()) return s;
  }
  if (absl::Status s = store_->ReclaimSpace(); !s.ok()) return s;
  if (absl::Status s = core_->RecountHistoryBytes(); !s.ok()) return s;
  report.store_bytes_after = store_->Stats().stored_bytes();
  report.disk_full = store_->DiskFull();
  AuditTargets targets;
  targets.detail = absl::StrCat(
      "older_than=", absl::FormatDuration(older_than), " keep_versions=", keep_versions,
      " dropped ", report.versions_dropped, " versions, ", report.releases_dropped, " releases, ",
      report.audit_records_dropped, " audit records",
      report.change_log_start > 0 ? absl::StrCat(", change log before ", report.change_log_start)
                                  : "");
  core_->AuditRead(std::move(context), std::move(targets));
  spdlog::warn(
      "operator's history compaction dropped {} versions, {} releases and {} audit records; "
      "the store went from {} to {} bytes{}",
      report.versions_dropped, report.releases_dropped, report.audit_records_dropped,
      report.store_bytes_before, report.store_bytes_after,
      report.disk_full ? "; its disk is still full" : "");
  return report;
}

absl::Status HistoryCore::CheckKept(absl::string_view field, const std::string& tenant,
                                    int64_t revision, int64_t floor) const {
  if (revision >= floor) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      field, ": revision ", revision, " is older than the oldest revision available for tenant ",
      QuoteForError(tenant), " (", floor, "); history is kept for ",
      DescribeDuration(options_.history_retention_age),
      " (--history_retention_age) and at least the last ",
      std::max(1, options_.history_keep_versions),
      " versions of each key (--history_keep_versions)"));
}

absl::StatusOr<storage::StateAt> HistoryCore::OwnEntriesAt(absl::string_view field,
                                                           const std::string& tenant,
                                                           int64_t revision) const {
  absl::StatusOr<storage::StateAt> state = store_->ReadStateAt({tenant, "", "", ""}, revision);
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckKept(field, tenant, revision, state->floor); !s.ok()) return s;
  return state;
}

// ---------------------------------------------------------------------------------------------
// History and releases

absl::StatusOr<HistoryCore::Explanation> HistoryCore::Explain(const std::string& tenant,
                                                              const std::string& service,
                                                              const std::string& key) const {
  absl::StatusOr<ExplainResult> result = absl::InternalError("no state");
  core_->ReadState(
      [&](const ConfigState& state) { result = ExplainKey(state, tenant, service, key); });
  if (!result.ok()) return result.status();
  Explanation explanation;
  for (const ExplainedStep& step : result->steps) {
    std::optional<storage::HistoryRecord> write;
    if (step.entry.has_value()) {
      const int64_t revision = step.entry->mod_revision();
      absl::Status s = store_->ReadHistory(
          storage::HistoryScope{step.tenant, service, key, ""}, storage::EntryKey(), 0,
          [&](const storage::EntryKey&, const storage::HistoryRecord& record) {
            if (record.revision() == revision) write = record;
            return record.revision() > revision;  // newest first: stop at or below it
          });
      if (!s.ok()) return s;
    }
    explanation.writes.push_back(std::move(write));
  }
  explanation.result = *std::move(result);
  return explanation;
}

absl::StatusOr<HistoryPage> HistoryCore::History(const HistoryQuery& q) const {
  if (absl::Status s = ValidateScope({q.tenant, q.service, q.key, q.prefix}); !s.ok()) return s;
  if (absl::Status s = ValidateKeyPrefix("prefix", q.prefix); !s.ok()) return s;
  if (absl::Status s = ValidatePageSize(q.page_size); !s.ok()) return s;
  const storage::HistoryScope scope{q.tenant, q.service, q.key, q.prefix};
  storage::EntryKey after;
  int64_t after_revision = 0;
  if (!q.page_token.empty()) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(q.page_token, &raw)) return BadToken(q.page_token);
    auto decoded = storage::DecodeHistoryKey(raw);
    // The token names the last version returned, which lies in the query's scope.
    if (!decoded || decoded->first.tenant != q.tenant || decoded->second <= 0 ||
        (!q.service.empty() && decoded->first.service != q.service) ||
        (!q.key.empty() && decoded->first.key != q.key) ||
        !absl::StartsWith(decoded->first.key, q.prefix)) {
      return BadToken(q.page_token);
    }
    after = decoded->first;
    after_revision = decoded->second;
  }
  HistoryPage page;
  page.revision = core_->revision();
  const size_t limit = PageLimit(q.page_size);
  bool more = false;
  absl::Status s =
      store_->ReadHistory(scope, after, after_revision,
                          [&](const storage::EntryKey& key, const storage::HistoryRecord& record) {
                            if (page.versions.size() == limit) {
                              more = true;
                              return false;
                            }
                            page.versions.push_back({key, record});
                            return true;
                          });
  if (!s.ok()) return s;
  if (more) {
    const HistoryVersion& last = page.versions.back();
    page.next_page_token =
        absl::WebSafeBase64Escape(storage::EncodeHistoryKey(last.key, last.record.revision()));
  }
  absl::StatusOr<int64_t> floor = store_->HistoryFloor(q.tenant);
  if (!floor.ok()) return floor.status();
  page.oldest_revision = *floor;
  if (page.versions.empty() && q.page_token.empty()) {
    bool exists = false;
    core_->ReadState(
        [&](const ConfigState& state) { exists = state.FindTenant(q.tenant) != nullptr; });
    if (!exists) {
      return absl::NotFoundError(absl::StrCat("tenant: tenant ", QuoteForError(q.tenant),
                                              " not found and has no history"));
    }
  }
  return page;
}

absl::StatusOr<ReleasesPage> HistoryCore::ListReleases(const std::string& tenant, int page_size,
                                                       const std::string& page_token) const {
  if (!tenant.empty()) {
    if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  }
  if (absl::Status s = ValidatePageSize(page_size); !s.ok()) return s;
  int64_t before = 0;
  if (!page_token.empty()) {
    absl::StatusOr<int64_t> decoded = DecodeRevisionToken(page_token);
    if (!decoded.ok()) return decoded.status();
    before = *decoded;
  }
  ReleasesPage page;
  page.revision = core_->revision();
  const size_t limit = PageLimit(page_size);
  bool more = false;
  absl::Status s = store_->ReadReleases(tenant, before, [&](const storage::ChangeSet& set) {
    if (page.releases.size() == limit) {
      more = true;
      return false;
    }
    page.releases.push_back(set);
    return true;
  });
  if (!s.ok()) return s;
  if (more) page.next_page_token = RevisionToken(page.releases.back().revision());
  return page;
}

absl::StatusOr<storage::ChangeSet> HistoryCore::GetRelease(int64_t release_id) const {
  if (release_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("release_id: ", release_id, " is not a release id (a positive revision)"));
  }
  absl::StatusOr<storage::ChangeSet> release = store_->GetRelease(release_id);
  if (release.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(
        absl::StrCat("release_id: no release ", release_id,
                     " (only Txn and Rollback commits are releases; releases older than ",
                     DescribeDuration(options_.history_retention_age), " are dropped)"));
  }
  return release;
}

// ---------------------------------------------------------------------------------------------
// Rollback

absl::StatusOr<RollbackCommand> HistoryCore::PlanRollback(const RollbackQuery& q) const {
  if (absl::Status s = ValidateScope({q.tenant, q.service, q.key, ""}); !s.ok()) return s;
  if (q.to_revision <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "to_revision: ", q.to_revision, " is not a revision; give the revision to return to"));
  }
  int64_t current = 0;
  int64_t created = -1;
  core_->ReadState([&](const ConfigState& state) {
    current = state.revision();
    if (const TenantState* t = state.FindTenant(q.tenant)) created = t->record.create_revision();
  });
  if (created < 0) {
    return TenantNotFoundError("tenant", q.tenant);
  }
  if (q.to_revision > current) {
    return absl::OutOfRangeError(absl::StrCat("to_revision: revision ", q.to_revision,
                                              " is ahead of the current revision ", current));
  }
  if (q.to_revision < created) {
    return absl::FailedPreconditionError(absl::StrCat(
        "to_revision: tenant ", QuoteForError(q.tenant), " was created at revision ", created,
        ", after revision ", q.to_revision, "; roll back to a revision since then"));
  }
  RollbackCommand command;
  command.scope = {q.tenant, q.service, q.key, ""};
  command.to_revision = q.to_revision;
  command.tenant_create_revision = created;
  absl::StatusOr<storage::StateAt> past = store_->ReadStateAt(command.scope, q.to_revision);
  if (!past.ok()) return past.status();
  if (absl::Status s = CheckKept("to_revision", q.tenant, q.to_revision, past->floor); !s.ok()) {
    return s;
  }
  command.past = *std::move(past);
  return command;
}

void HistoryCore::Rollback(const RollbackQuery& query, WriteContext context, RollbackDone done) {
  if (context.message.empty()) {
    context.message = absl::StrCat("rollback to revision ", query.to_revision);
  }
  absl::StatusOr<RollbackCommand> command = PlanRollback(query);
  if (command.ok() && !query.dry_run) {
    core_->Rollback(
        *std::move(command),
        [done = std::move(done)](absl::StatusOr<RollbackResult> result) {
          if (!result.ok()) {
            done(result.status());
            return;
          }
          done(RollbackOutcome{result->revision, false, std::move(result->changes)});
        },
        std::move(context));
    return;
  }
  if (!command.ok()) {
    if (query.dry_run) {
      done(command.status());
      return;
    }
    AuditTargets targets;
    // Cut on UTF-8 boundaries: an audit record that is not UTF-8 could not be read back.
    targets.tenants.push_back(CutUtf8(query.tenant, 300));
    if (!query.service.empty()) targets.services.push_back(CutUtf8(query.service, 300));
    if (!query.key.empty()) {
      targets.keys.push_back(
          CutUtf8(absl::StrCat(query.tenant, "/", query.service, "/", query.key), 300));
    }
    targets.detail = absl::StrCat("to_revision=", query.to_revision);
    core_->RejectWrite(std::move(context), std::move(targets), command.status(),
                       [done = std::move(done)](const absl::Status& s) { done(s); });
    return;
  }
  if (absl::Status s = ValidateReleaseMessage("message", context.message); !s.ok()) {
    done(s);
    return;
  }
  // Dry run: what a rollback would write now, with the key limit checked.
  RollbackOutcome outcome;
  outcome.dry_run = true;
  absl::Status status;
  core_->ReadState([&](const ConfigState& state) {
    outcome.revision = state.revision();
    outcome.changes = PlanRollbackChanges(state, command->scope, command->past);
    const TenantState* tenant = state.FindTenant(query.tenant);
    const int64_t keys = (tenant ? tenant->key_count : 0) + KeyCountDelta(outcome.changes);
    if (keys > core_->options().max_keys_per_tenant) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("tenant: tenant ", QuoteForError(query.tenant), " would hold ", keys,
                       " keys; the limit is ", core_->options().max_keys_per_tenant,
                       " (--max_keys_per_tenant)"));
    }
  });
  if (!status.ok()) {
    done(status);
    return;
  }
  done(std::move(outcome));
}

// ---------------------------------------------------------------------------------------------
// Diff

absl::StatusOr<DiffResult> HistoryCore::Diff(const DiffQuery& q) const {
  if (absl::Status s = ValidateTenantName("tenant", q.tenant); !s.ok()) return s;
  std::vector<std::string> services = q.services;
  for (size_t i = 0; i < services.size(); ++i) {
    if (absl::Status s = ValidateServiceName(absl::StrCat("services[", i, "]"), services[i]);
        !s.ok()) {
      return s;
    }
  }
  std::sort(services.begin(), services.end());
  services.erase(std::unique(services.begin(), services.end()), services.end());
  DiffResult result;

  if (q.mode == DiffMode::kTenants || q.mode == DiffMode::kParent) {
    if (q.mode == DiffMode::kTenants) {
      if (absl::Status s = ValidateTenantName("other_tenant", q.other_tenant); !s.ok()) return s;
    } else if (!q.other_tenant.empty()) {
      return absl::InvalidArgumentError("other_tenant: must be empty when diffing with the parent");
    }
    absl::Status status;
    core_->ReadState([&](const ConfigState& state) {
      result.revision = result.left_revision = result.right_revision = state.revision();
      absl::StatusOr<std::vector<std::string>> right_chain = state.Chain("tenant", q.tenant);
      if (!right_chain.ok()) {
        status = right_chain.status();
        return;
      }
      std::string left_tenant = q.other_tenant;
      if (q.mode == DiffMode::kParent) {
        if (right_chain->size() < 2) {
          status = absl::FailedPreconditionError(
              absl::StrCat("tenant: tenant ", QuoteForError(q.tenant),
                           " is a root; it has no parent to diff against"));
          return;
        }
        left_tenant = (*right_chain)[1];
      }
      absl::StatusOr<std::vector<std::string>> left_chain =
          state.Chain(q.mode == DiffMode::kParent ? "tenant" : "other_tenant", left_tenant);
      if (!left_chain.ok()) {
        status = left_chain.status();
        return;
      }
      // kTenants: tenant is the left side, other_tenant the right one.
      if (q.mode == DiffMode::kTenants) std::swap(left_chain, right_chain);
      result.left_tenant = left_chain->front();
      result.right_tenant = right_chain->front();
      std::vector<std::string> wanted = services;
      if (wanted.empty()) {
        std::vector<std::string> both = state.ServicesOf(*left_chain);
        for (std::string& s : state.ServicesOf(*right_chain)) both.push_back(std::move(s));
        std::sort(both.begin(), both.end());
        both.erase(std::unique(both.begin(), both.end()), both.end());
        wanted = std::move(both);
      }
      result.entries = Compare(ToSides(state.Resolve(*left_chain, wanted)),
                               ToSides(state.Resolve(*right_chain, wanted)));
    });
    if (!status.ok()) return status;
    return result;
  }

  // kRevisions.
  if (!q.other_tenant.empty()) {
    return absl::InvalidArgumentError("other_tenant: must be empty when diffing revisions");
  }
  if (q.from_revision <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("from_revision: ", q.from_revision, " is not a revision"));
  }
  if (q.to_revision < 0) {
    return absl::InvalidArgumentError(absl::StrCat("to_revision: ", q.to_revision, " is negative"));
  }
  std::vector<std::string> chain;
  std::vector<storage::TenantRecord> records;
  absl::Status status;
  core_->ReadState([&](const ConfigState& state) {
    result.revision = state.revision();
    absl::StatusOr<std::vector<std::string>> c = state.Chain("tenant", q.tenant);
    if (!c.ok()) {
      status = c.status();
      return;
    }
    chain = *std::move(c);
    for (const std::string& t : chain) records.push_back(state.FindTenant(t)->record);
  });
  if (!status.ok()) return status;
  result.left_revision = q.from_revision;
  result.right_revision = q.to_revision == 0 ? result.revision : q.to_revision;
  result.left_tenant = result.right_tenant = q.tenant;
  for (auto [field, revision] : {std::pair<const char*, int64_t>{"from_revision", q.from_revision},
                                 {"to_revision", result.right_revision}}) {
    if (revision > result.revision) {
      return absl::OutOfRangeError(absl::StrCat(
          field, ": revision ", revision, " is ahead of the current revision ", result.revision));
    }
  }
  // One side: the own entries (or the resolved view along the current chain) at `revision`,
  // rebuilt from history.
  auto side = [&](const char* field, int64_t revision) -> absl::StatusOr<SideMap> {
    SideMap out;
    if (q.own_entries) {
      absl::StatusOr<storage::StateAt> own = OwnEntriesAt(field, q.tenant, revision);
      if (!own.ok()) return own.status();
      for (auto& [key, entry] : own->entries) {
        if (!Wanted(services, key.service)) continue;
        out[{key.service, key.key}] = DiffSide{entry.value(), entry.content_type(), entry.mask(),
                                               q.tenant,      entry.mod_revision(), entry.secret()};
      }
      return out;
    }
    storage::LoadedState loaded;
    loaded.revision = revision;
    loaded.tenants = records;
    for (const std::string& tenant : chain) {
      absl::StatusOr<storage::StateAt> own = OwnEntriesAt(field, tenant, revision);
      if (!own.ok()) return own.status();
      for (auto& entry : own->entries) loaded.entries.push_back(std::move(entry));
    }
    ConfigState past;
    past.Load(std::move(loaded));
    return ToSides(past.Resolve(chain, services.empty() ? past.ServicesOf(chain) : services));
  };
  absl::StatusOr<SideMap> left = side("from_revision", result.left_revision);
  if (!left.ok()) return left.status();
  absl::StatusOr<SideMap> right = side("to_revision", result.right_revision);
  if (!right.ok()) return right.status();
  result.entries = Compare(*left, *right);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Audit

absl::StatusOr<AuditPage> HistoryCore::QueryAudit(const AuditQuery& q) const {
  if (!q.tenant.empty()) {
    if (absl::Status s = ValidateTenantName("tenant", q.tenant); !s.ok()) return s;
  }
  if (absl::Status s = ValidatePageSize(q.page_size); !s.ok()) return s;
  if (q.since && q.until && *q.until <= *q.since) {
    return absl::InvalidArgumentError("until: must be after since");
  }
  int64_t before = 0;
  if (!q.page_token.empty()) {
    absl::StatusOr<int64_t> decoded = DecodeRevisionToken(q.page_token);
    if (!decoded.ok()) return decoded.status();
    before = *decoded;
  }
  const int64_t since = q.since ? absl::ToUnixMicros(*q.since) : INT64_MIN;
  const int64_t until = q.until ? absl::ToUnixMicros(*q.until) : INT64_MAX;
  AuditPage page;
  page.revision = core_->revision();
  const size_t limit = PageLimit(q.page_size);
  int scanned = 0;
  int64_t last_seen = 0;
  bool more = false;
  absl::Status s = store_->ReadAudit(before, [&](const storage::AuditRecord& r) {
    if (r.time_micros() < since) return false;  // older ones only get older
    if (page.records.size() == limit || scanned == kMaxAuditScan) {
      more = true;
      return false;
    }
    ++scanned;
    last_seen = r.sequence();
    if (r.time_micros() >= until) return true;
    if (!q.user.empty() && r.user() != q.user) return true;
    if (!q.rpc.empty() && r.rpc() != q.rpc && !absl::EndsWith(r.rpc(), absl::StrCat(".", q.rpc))) {
      return true;
    }
    if (!q.tenant.empty() &&
        std::find(r.tenants().begin(), r.tenants().end(), q.tenant) == r.tenants().end()) {
      return true;
    }
    page.records.push_back(r);
    return true;
  });
  if (!s.ok()) return s;
  if (more) page.next_page_token = RevisionToken(last_seen);
  return page;
}

ReleaseSummary SummarizeRelease(const storage::ChangeSet& release) {
  std::set<std::string> tenants;
  ReleaseSummary summary;
  for (const storage::Change& change : release.changes()) {
    if ((change.type() != storage::Change::ENTRY_PUT &&
         change.type() != storage::Change::ENTRY_DELETE) ||
        IsGrayTenant(change.tenant())) {  // a promoted gray release's own removal
      continue;
    }
    ++summary.change_count;
    tenants.insert(change.tenant());
  }
  summary.tenants.assign(tenants.begin(), tenants.end());
  return summary;
}

}  // namespace confcenter
