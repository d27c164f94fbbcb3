// review, drafts, draft create/update/show/discard/publish, promote and reset: ReleaseService
// from the command line.
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "client/confctl/output.h"
#include "google/protobuf/util/time_util.h"

namespace confcenter::confctl {
namespace {

using google::protobuf::util::TimeUtil;

// "SERVICE/KEY" -> (service, key); a usage error naming `flag` otherwise.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyPath(const std::string& flag,
                                                                 const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) {
    return UsageError(absl::StrCat(flag, ": \"", text, "\" is not SERVICE/KEY"));
  }
  return std::make_pair(text.substr(0, slash), text.substr(slash + 1));
}

// The draft changes the flags give: --set SERVICE/KEY=VALUE, --delete and --mask SERVICE/KEY.
absl::StatusOr<std::vector<v1::DraftChange>> ChangesOf(const DraftChangeArgs& args) {
  std::vector<v1::DraftChange> out;
  for (const std::string& set : args.set) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos) {
      return UsageError(absl::StrCat("--set: \"", set, "\" is not SERVICE/KEY=VALUE"));
    }
    absl::StatusOr<std::pair<std::string, std::string>> path =
        ParseKeyPath("--set", set.substr(0, eq));
    if (!path.ok()) return path.status();
    v1::DraftChange c;
    c.set_service(path->first);
    c.set_key(path->second);
    c.set_op(v1::DRAFT_OP_PUT);
    c.set_value(set.substr(eq + 1));
    out.push_back(std::move(c));
  }
  for (const auto& [flag, paths, op] :
       {std::make_tuple("--delete", &args.remove_own, v1::DRAFT_OP_DELETE),
        std::make_tuple("--mask", &args.mask, v1::DRAFT_OP_MASK)}) {
    for (const std::string& text : *paths) {
      absl::StatusOr<std::pair<std::string, std::string>> path = ParseKeyPath(flag, text);
      if (!path.ok()) return path.status();
      v1::DraftChange c;
      c.set_service(path->first);
      c.set_key(path->second);
      c.set_op(op);
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::string DiffValueCell(bool present, const v1::DiffValue& v) {
  if (!present) return "-";
  if (v.redacted()) return "(secret)";
  return CutValue(v.value(), 40);
}

std::string DiffTypeName(v1::DiffType type) {
  return type == v1::DIFF_TYPE_ADDED     ? "added"
         : type == v1::DIFF_TYPE_REMOVED ? "removed"
                                         : "changed";
}

void PrintDiff(const google::protobuf::RepeatedPtrField<v1::DiffEntry>& diff, std::ostream& out) {
  Table table({"TYPE", "SERVICE", "KEY", "NOW", "SOURCE", "AFTER"});
  for (const v1::DiffEntry& e : diff) {
    table.AddRow(
        {DiffTypeName(e.type()), e.service(), e.key(), DiffValueCell(e.has_left(), e.left()),
         e.has_left() ? e.left().source_tenant() : "", DiffValueCell(e.has_right(), e.right())});
  }
  table.Print(out);
}

std::string Age(const google::protobuf::Timestamp& t) {
  const absl::Duration age =
      absl::Now() - absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
  return absl::FormatDuration(absl::Trunc(age, absl::Seconds(1)));
}

absl::Status PrintDraft(const Context& ctx, const absl::StatusOr<v1::DraftResponse>& response) {
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  const v1::Draft& d = response->draft();
  *ctx.out << "draft " << d.draft_id() << " of " << d.tenant() << " by " << d.author() << ", "
           << d.change_count() << " change(s), " << Age(d.create_time()) << " old"
           << (d.message().empty() ? "" : absl::StrCat(": ", d.message())) << "\n";
  const v1::BlastRadius& blast = response->blast_radius();
  *ctx.out << "reaches " << blast.tenants_size() << " tenant(s) ("
           << absl::StrJoin(blast.tenants(), ", ") << ") and " << blast.instances()
           << " live instance(s)\n";
  if (response->conflicts_size() > 0) {
    *ctx.out << "conflicts (changed since the draft was made; publish with --rebase): "
             << absl::StrJoin(response->conflicts(), ", ") << "\n";
  }
  PrintDiff(response->diff(), *ctx.out);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunReview(const Context& ctx, const ReviewArgs& args) {
  v1::SetReviewRequest request;
  request.set_tenant(args.tenant);
  request.mutable_review()->set_drafts_required(args.drafts_required);
  request.mutable_review()->set_publisher_not_author(args.publisher_not_author);
  absl::StatusOr<v1::SetReviewResponse> response = ctx.client->SetReview(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
  } else {
    *ctx.out << args.tenant << ": "
             << (args.drafts_required ? "changes go through drafts" : "writes go live at once")
             << (args.publisher_not_author ? ", published by someone other than the author" : "")
             << " (revision " << response->revision() << ")" << std::endl;
  }
  return absl::OkStatus();
}

absl::Status RunDrafts(const Context& ctx, const std::string& tenant) {
  v1::ListDraftsRequest request;
  request.set_tenant(tenant);
  absl::StatusOr<v1::ListDraftsResponse> response = ctx.client->ListDrafts(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"ID", "AUTHOR", "AGE", "CHANGES", "ORIGIN", "MESSAGE"});
  for (const v1::Draft& d : response->drafts()) {
    table.AddRow({absl::StrCat(d.draft_id()), d.author(), Age(d.create_time()),
                  absl::StrCat(d.change_count()), d.origin().empty() ? "-" : d.origin(),
                  CutValue(d.message(), 40)});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunDraftCreate(const Context& ctx, const DraftChangeArgs& args) {
  absl::StatusOr<std::vector<v1::DraftChange>> changes = ChangesOf(args);
  if (!changes.ok()) return changes.status();
  if (changes->empty()) return UsageError("draft create: give --set, --delete or --mask");
  v1::CreateDraftRequest request;
  request.set_tenant(args.tenant);
  request.set_message(args.message);
  for (v1::DraftChange& c : *changes) *request.add_changes() = std::move(c);
  return PrintDraft(ctx, ctx.client->CreateDraft(request));
}

absl::Status RunDraftUpdate(const Context& ctx, const DraftChangeArgs& args) {
  absl::StatusOr<std::vector<v1::DraftChange>> changes = ChangesOf(args);
  if (!changes.ok()) return changes.status();
  v1::UpdateDraftRequest request;
  request.set_tenant(args.tenant);
  request.set_draft_id(args.draft_id);
  request.set_message(args.message);
  for (v1::DraftChange& c : *changes) *request.add_set() = std::move(c);
  for (const std::string& text : args.drop) {
    absl::StatusOr<std::pair<std::string, std::string>> path = ParseKeyPath("--drop", text);
    if (!path.ok()) return path.status();
    v1::DraftKey* k = request.add_remove();
    k->set_service(path->first);
    k->set_key(path->second);
  }
  return PrintDraft(ctx, ctx.client->UpdateDraft(request));
}

absl::Status RunDraftShow(const Context& ctx, const std::string& tenant, int64_t draft_id) {
  v1::GetDraftRequest request;
  request.set_tenant(tenant);
  request.set_draft_id(draft_id);
  return PrintDraft(ctx, ctx.client->GetDraft(request));
}

absl::Status RunDraftDiscard(const Context& ctx, const std::string& tenant, int64_t draft_id) {
  v1::DiscardDraftRequest request;
  request.set_tenant(tenant);
  request.set_draft_id(draft_id);
  absl::StatusOr<v1::DiscardDraftResponse> response = ctx.client->DiscardDraft(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
  } else {
    *ctx.out << "discarded draft " << draft_id << " of " << tenant << std::endl;
  }
  return absl::OkStatus();
}

absl::Status RunDraftPublish(const Context& ctx, const PublishArgs& args) {
  v1::PublishDraftRequest request;
  request.set_tenant(args.tenant);
  request.set_draft_id(args.draft_id);
  request.set_rebase(args.rebase);
  request.set_message(args.message);
  absl::StatusOr<v1::PublishDraftResponse> response = ctx.client->PublishDraft(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
  } else {
    *ctx.out << "published draft " << args.draft_id << " of " << args.tenant << " as release "
             << response->revision() << " (" << response->changes_size() << " change(s))"
             << std::endl;
  }
  return absl::OkStatus();
}

// Promote and reset print the same way: what changes, then what was made of it.
template <typename Response>
absl::Status PrintPromotion(const Context& ctx, const absl::StatusOr<Response>& response,
                            const std::string& what, const std::string& tenant) {
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  PrintDiff(response->changes(), *ctx.out);
  if (response->dry_run()) {
    *ctx.out << "dry run: " << what << " would change " << response->changes_size() << " key(s) of "
             << tenant << "; nothing written\n";
  } else if (response->draft_id() != 0) {
    *ctx.out << what << ": draft " << response->draft_id() << " of " << tenant
             << " waits for review (confctl draft publish " << tenant << " " << response->draft_id()
             << ")\n";
  } else if (response->release_id() != 0) {
    *ctx.out << what << ": release " << response->release_id() << " of " << tenant << "\n";
  } else {
    *ctx.out << what << ": " << tenant << " already matches; nothing written\n";
  }
  ctx.out->flush();
  return absl::OkStatus();
}

absl::Status RunPromote(const Context& ctx, const PromoteArgs& args) {
  v1::PromoteRequest request;
  request.set_from_tenant(args.from_tenant);
  request.set_to_tenant(args.to_tenant);
  for (const std::string& s : args.services) request.add_services(s);
  request.set_dry_run(args.dry_run);
  request.set_remove_missing(args.remove_missing);
  request.set_message(args.message);
  absl::StatusOr<v1::PromoteResponse> response = ctx.client->Promote(request);
  if (response.ok() && ctx.format == OutputFormat::kTable && response->skipped() > 0) {
    *ctx.err << "note: " << response->skipped()
             << " generated, secret or endpoint key(s) are each environment's own: not promoted"
             << std::endl;
  }
  return PrintPromotion(ctx, response, absl::StrCat("promote from ", args.from_tenant),
                        args.to_tenant);
}

absl::Status RunReset(const Context& ctx, const ResetArgs& args) {
  v1::ResetRequest request;
  request.set_tenant(args.tenant);
  for (const std::string& s : args.services) request.add_services(s);
  request.set_dry_run(args.dry_run);
  request.set_message(args.message);
  return PrintPromotion(ctx, ctx.client->Reset(request), "reset", args.tenant);
}

namespace {

absl::Status PrintGray(const Context& ctx, const absl::StatusOr<v1::GrayResponse>& response) {
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  const v1::GrayRelease& g = response->gray();
  std::vector<std::string> audience;
  if (!g.audience().service().empty()) audience.push_back("service " + g.audience().service());
  if (!g.audience().selector().empty()) audience.push_back("labels " + g.audience().selector());
  if (g.audience().instance_ids_size() > 0) {
    audience.push_back("instances " + absl::StrJoin(g.audience().instance_ids(), ","));
  }
  if (g.audience().percentage() > 0)
    audience.push_back(absl::StrCat(g.audience().percentage(), "%"));
  *ctx.out << "gray release " << g.gray_release_id() << " of " << g.tenant() << " by " << g.author()
           << ", " << Age(g.create_time()) << " old"
           << (g.message().empty() ? "" : absl::StrCat(": ", g.message())) << "\n"
           << "audience: " << absl::StrJoin(audience, ", ") << "\n"
           << "seen by " << g.instances_size() << " live instance(s)"
           << (g.instances().empty() ? "" : absl::StrCat(": ", absl::StrJoin(g.instances(), ", ")))
           << "\n";
  Table table({"SERVICE", "KEY", "GRAY VALUE"});
  for (const v1::DraftChange& c : g.changes()) {
    table.AddRow(
        {c.service(), c.key(), c.op() == v1::DRAFT_OP_MASK ? "(mask)" : CutValue(c.value(), 40)});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunGrayStart(const Context& ctx, const GrayArgs& args) {
  DraftChangeArgs change_args;
  change_args.set = args.set;
  change_args.mask = args.mask;
  absl::StatusOr<std::vector<v1::DraftChange>> changes = ChangesOf(change_args);
  if (!changes.ok()) return changes.status();
  if ((args.draft_id != 0) == !changes->empty()) {
    return UsageError("gray start: give --draft ID, or --set/--mask changes");
  }
  v1::StartGrayRequest request;
  request.set_tenant(args.tenant);
  request.set_draft_id(args.draft_id);
  for (v1::DraftChange& c : *changes) *request.add_changes() = std::move(c);
  request.mutable_audience()->set_selector(args.selector);
  for (const std::string& id : args.instances) request.mutable_audience()->add_instance_ids(id);
  request.mutable_audience()->set_percentage(args.percentage);
  request.mutable_audience()->set_service(args.service);
  request.set_message(args.message);
  return PrintGray(ctx, ctx.client->StartGray(request));
}

absl::Status RunGrayShow(const Context& ctx, const std::string& tenant) {
  v1::GetGrayRequest request;
  request.set_tenant(tenant);
  return PrintGray(ctx, ctx.client->GetGray(request));
}

absl::Status RunGrayEnd(const Context& ctx, const GrayArgs& args, bool promote) {
  v1::EndGrayRequest request;
  request.set_tenant(args.tenant);
  request.set_gray_release_id(args.gray_release_id);
  request.set_message(args.message);
  request.set_rebase(args.rebase);
  absl::StatusOr<v1::EndGrayResponse> response =
      promote ? ctx.client->PromoteGray(request) : ctx.client->AbortGray(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
  } else {
    *ctx.out << (promote ? "promoted the gray release of " : "aborted the gray release of ")
             << args.tenant << (promote ? " as release " : " at revision ") << response->revision()
             << std::endl;
  }
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
