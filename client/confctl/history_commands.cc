// history, releases, release, rollback, diff, audit.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "google/protobuf/util/time_util.h"

namespace confcenter::confctl {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kPageSize = 1000;

std::string TimeText(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t)),
                          absl::UTCTimeZone());
}

std::string EntryText(bool present, const v1::Entry& entry) {
  if (!present) return "(none)";
  if (entry.kind() == v1::ENTRY_KIND_MASK) return "(mask)";
  return CutValue(entry.value(), 40);
}

std::string DiffValueText(bool present, const v1::DiffValue& v) {
  if (!present) return "";
  if (v.kind() == v1::ENTRY_KIND_MASK) return "(mask)";
  return CutValue(v.value(), 40);
}

std::string VersionKindName(v1::VersionKind kind) {
  switch (kind) {
    case v1::VERSION_KIND_VALUE:
      return "value";
    case v1::VERSION_KIND_MASK:
      return "mask";
    case v1::VERSION_KIND_DELETED:
      return "deleted";
    default:
      return "?";
  }
}

// "2026-01-02T03:04:05Z" or a duration ago ("90m", "24h").
absl::StatusOr<google::protobuf::Timestamp> ParseWhen(const std::string& flag,
                                                      const std::string& text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
  }
  absl::Duration ago;
  if (absl::ParseDuration(text, &ago)) {
    return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() - ago));
  }
  return UsageError(absl::StrCat(flag, " \"", text,
                                 "\": use an RFC 3339 time (2026-01-02T15:04:05Z) or a duration "
                                 "ago (90m, 24h)"));
}

void PrintChanges(const Context& ctx,
                  const google::protobuf::RepeatedPtrField<v1::ReleaseChange>& changes,
                  bool with_tenant) {
  std::vector<std::string> header = {"SERVICE", "KEY", "BEFORE", "AFTER"};
  if (with_tenant) header.insert(header.begin(), "TENANT");
  Table table(header);
  for (const v1::ReleaseChange& c : changes) {
    std::vector<std::string> row = {c.service(), c.key(), EntryText(c.has_before(), c.before()),
                                    EntryText(c.has_after(), c.after())};
    if (with_tenant) row.insert(row.begin(), c.tenant());
    table.AddRow(std::move(row));
  }
  table.Print(*ctx.out);
}

}  // namespace

absl::Status RunHistory(const Context& ctx, const HistoryArgs& args) {
  if (args.limit <= 0) return UsageError("--limit must be positive");
  v1::HistoryRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_key(args.key);
  request.set_prefix(args.prefix);
  request.set_page_size(std::min(args.limit, kPageSize));
  v1::HistoryResponse all;
  do {
    absl::StatusOr<v1::HistoryResponse> page = ctx.client->History(request);
    if (!page.ok()) return page.status();
    all.set_revision(page->revision());
    all.set_oldest_revision(page->oldest_revision());
    for (v1::Version& v : *page->mutable_versions()) {
      if (all.versions_size() == args.limit) break;
      *all.add_versions() = std::move(v);
    }
    request.set_page_token(all.versions_size() < args.limit ? page->next_page_token() : "");
  } while (!request.page_token().empty());
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(all, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"SERVICE", "KEY", "REVISION", "KIND", "AUTHOR", "TIME", "RELEASE", "VALUE"});
  for (const v1::Version& v : all.versions()) {
    table.AddRow({v.service(), v.key(), absl::StrCat(v.revision()), VersionKindName(v.kind()),
                  v.author(), TimeText(v.commit_time()),
                  v.release_id() == 0 ? "" : absl::StrCat(v.release_id()), CutValue(v.value())});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

namespace {

std::string EntryKindText(v1::ExplainEntryKind kind) {
  switch (kind) {
    case v1::EXPLAIN_ENTRY_KIND_VALUE:
      return "value";
    case v1::EXPLAIN_ENTRY_KIND_MASK:
      return "mask";
    default:
      return "-";
  }
}

std::string ShownValue(const std::string& value, bool secret) {
  return secret ? "(secret)" : CutValue(value);
}

}  // namespace

absl::Status RunExplain(const Context& ctx, const ExplainArgs& args) {
  v1::ExplainRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_key(args.key);
  absl::StatusOr<v1::ExplainResponse> explained = ctx.client->Explain(request);
  if (!explained.ok()) return explained.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*explained, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  const std::string name = absl::StrCat(args.service, "/", args.key);
  const v1::ExplainStep* decides = nullptr;
  for (const v1::ExplainStep& step : explained->steps()) {
    if (step.decides()) decides = &step;
  }
  if (explained->present() && decides != nullptr) {
    *ctx.out << name << " = " << ShownValue(decides->value(), decides->secret()) << " from "
             << decides->tenant() << " (revision " << decides->revision() << ")\n";
  } else if (decides != nullptr) {
    *ctx.out << name << " is not set: masked in " << decides->tenant() << " (revision "
             << decides->revision() << ")\n";
  } else {
    *ctx.out << name << " is not set in " << args.tenant << "'s chain\n";
  }
  Table table({"TENANT", "ENTRY", "VALUE", "REVISION", "AUTHOR", "RELEASE", "ORIGIN", "TIME", ""});
  for (const v1::ExplainStep& s : explained->steps()) {
    const bool has = s.kind() != v1::EXPLAIN_ENTRY_KIND_NONE;
    table.AddRow({s.tenant(), EntryKindText(s.kind()), ShownValue(s.value(), s.secret()),
                  has ? absl::StrCat(s.revision()) : "", s.author(),
                  s.release_id() == 0 ? "" : absl::StrCat(s.release_id()), s.origin(),
                  s.has_commit_time() ? TimeText(s.commit_time()) : "", s.decides() ? "<-" : ""});
  }
  table.Print(*ctx.out);
  if (!explained->pending().empty()) {
    *ctx.out << "would change it:\n";
    Table pending({"TENANT", "BY", "ENTRY", "VALUE", "AUTHOR"});
    for (const v1::ExplainPending& p : explained->pending()) {
      pending.AddRow({p.tenant(),
                      p.gray_release_id() != 0 ? absl::StrCat("gray release ", p.gray_release_id())
                                               : absl::StrCat("draft ", p.draft_id()),
                      EntryKindText(p.kind()), CutValue(p.value()), p.author()});
    }
    pending.Print(*ctx.out);
  }
  return absl::OkStatus();
}

absl::Status RunReleases(const Context& ctx, const std::string& tenant, int limit) {
  if (limit <= 0) return UsageError("--limit must be positive");
  v1::ListReleasesRequest request;
  request.set_tenant(tenant);
  request.set_page_size(std::min(limit, kPageSize));
  v1::ListReleasesResponse all;
  do {
    absl::StatusOr<v1::ListReleasesResponse> page = ctx.client->ListReleases(request);
    if (!page.ok()) return page.status();
    all.set_revision(page->revision());
    for (v1::Release& r : *page->mutable_releases()) {
      if (all.releases_size() == limit) break;
      *all.add_releases() = std::move(r);
    }
    request.set_page_token(all.releases_size() < limit ? page->next_page_token() : "");
  } while (!request.page_token().empty());
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(all, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"ID", "TIME", "AUTHOR", "ORIGIN", "TENANTS", "CHANGES", "MESSAGE"});
  for (const v1::Release& r : all.releases()) {
    table.AddRow({absl::StrCat(r.release_id()), TimeText(r.commit_time()), r.author(), r.origin(),
                  absl::StrJoin(r.tenants(), ","), absl::StrCat(r.change_count()),
                  CutValue(r.message())});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunRelease(const Context& ctx, int64_t release_id) {
  v1::GetReleaseRequest request;
  request.set_release_id(release_id);
  absl::StatusOr<v1::GetReleaseResponse> response = ctx.client->GetRelease(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  const v1::Release& r = response->release();
  *ctx.out << "release " << r.release_id() << " by " << r.author() << " at "
           << TimeText(r.commit_time()) << " (" << r.origin() << ")\n";
  if (!r.message().empty()) *ctx.out << "message: " << r.message() << "\n";
  PrintChanges(ctx, r.changes(), /*with_tenant=*/true);
  return absl::OkStatus();
}

absl::Status RunRollback(const Context& ctx, const RollbackArgs& args) {
  v1::RollbackRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_key(args.key);
  request.set_to_revision(args.to_revision);
  request.set_message(args.message);
  request.set_dry_run(args.dry_run);
  absl::StatusOr<v1::RollbackResponse> response = ctx.client->Rollback(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  std::string scope = args.tenant;
  if (!args.service.empty()) absl::StrAppend(&scope, "/", args.service);
  if (!args.key.empty()) absl::StrAppend(&scope, "/", args.key);
  if (args.dry_run) {
    *ctx.out << "dry run: rolling " << scope << " back to revision " << args.to_revision
             << " would write " << response->changes_size() << " keys\n";
  } else if (response->changes_size() == 0) {
    *ctx.out << scope << " is already as at revision " << args.to_revision << "; nothing written\n";
  } else {
    *ctx.out << "rolled " << scope << " back to revision " << args.to_revision << ": "
             << response->changes_size() << " keys at revision " << response->revision() << "\n";
  }
  if (response->changes_size() > 0) PrintChanges(ctx, response->changes(), false);
  return absl::OkStatus();
}

absl::Status RunDiff(const Context& ctx, const DiffArgs& args) {
  const int modes =
      (args.other_tenant.empty() ? 0 : 1) + (args.parent ? 1 : 0) + (args.from_revision ? 1 : 0);
  if (modes != 1) {
    return UsageError(
        "diff: give exactly one of OTHER_TENANT, --parent or --from-revision (see --help)");
  }
  if (!args.from_revision && (args.to_revision != 0 || args.own)) {
    return UsageError("diff: --to-revision and --own need --from-revision");
  }
  v1::DiffRequest request;
  request.set_tenant(args.tenant);
  request.set_other_tenant(args.other_tenant);
  for (const std::string& s : args.services) request.add_services(s);
  if (args.parent) {
    request.set_mode(v1::DIFF_MODE_PARENT);
  } else if (args.from_revision) {
    request.set_mode(v1::DIFF_MODE_REVISIONS);
    request.set_from_revision(*args.from_revision);
    request.set_to_revision(args.to_revision);
    request.set_own_entries(args.own);
  } else {
    request.set_mode(v1::DIFF_MODE_TENANTS);
  }
  absl::StatusOr<v1::DiffResponse> response = ctx.client->Diff(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"TYPE", "SERVICE", "KEY", "LEFT", "LEFT-SOURCE", "RIGHT", "RIGHT-SOURCE"});
  for (const v1::DiffEntry& e : response->entries()) {
    std::string type = e.type() == v1::DIFF_TYPE_ADDED     ? "added"
                       : e.type() == v1::DIFF_TYPE_REMOVED ? "removed"
                                                           : "changed";
    table.AddRow({type, e.service(), e.key(), DiffValueText(e.has_left(), e.left()),
                  e.has_left() ? e.left().source_tenant() : "",
                  DiffValueText(e.has_right(), e.right()),
                  e.has_right() ? e.right().source_tenant() : ""});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunAudit(const Context& ctx, const AuditArgs& args) {
  if (args.limit <= 0) return UsageError("--limit must be positive");
  v1::QueryAuditRequest request;
  request.set_tenant(args.tenant);
  request.set_user(args.user);
  request.set_rpc(args.rpc);
  if (!args.since.empty()) {
    absl::StatusOr<google::protobuf::Timestamp> since = ParseWhen("--since", args.since);
    if (!since.ok()) return since.status();
    *request.mutable_since() = *since;
  }
  if (!args.until.empty()) {
    absl::StatusOr<google::protobuf::Timestamp> until = ParseWhen("--until", args.until);
    if (!until.ok()) return until.status();
    *request.mutable_until() = *until;
  }
  request.set_page_size(std::min(args.limit, kPageSize));
  v1::QueryAuditResponse all;
  do {
    absl::StatusOr<v1::QueryAuditResponse> page = ctx.client->QueryAudit(request);
    if (!page.ok()) return page.status();
    all.set_revision(page->revision());
    for (v1::AuditEntry& e : *page->mutable_entries()) {
      if (all.entries_size() == args.limit) break;
      *all.add_entries() = std::move(e);
    }
    request.set_page_token(all.entries_size() < args.limit ? page->next_page_token() : "");
  } while (!request.page_token().empty());
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(all, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"TIME", "USER", "RPC", "TARGET", "RESULT", "PEER"});
  for (const v1::AuditEntry& e : all.entries()) {
    std::string target = e.keys().empty() ? absl::StrJoin(e.tenants(), ",") : e.keys(0);
    if (e.keys_size() > 1) absl::StrAppend(&target, " +", e.keys_size() - 1);
    std::string result =
        e.error_code().empty()
            ? (e.revision() > 0 ? absl::StrCat("revision ", e.revision()) : "no change")
            : CutValue(absl::StrCat(e.error_code(), ": ", e.error_message()));
    table.AddRow({TimeText(e.time()), e.user(), e.rpc(), CutValue(target), result, e.peer()});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
