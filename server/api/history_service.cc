#include "server/api/history_service.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "google/protobuf/util/time_util.h"
#include "server/api/grpc_services.h"
#include "server/api/redaction.h"
#include "server/core/api_convert.h"

namespace confcenter {
namespace {

using google::protobuf::util::TimeUtil;

void FillVersion(const HistoryVersion& in, v1::Version* out) {
  const storage::HistoryRecord& r = in.record;
  out->set_tenant(in.key.tenant);
  out->set_service(in.key.service);
  out->set_key(in.key.key);
  out->set_revision(r.revision());
  if (r.deleted()) {
    out->set_kind(v1::VERSION_KIND_DELETED);
  } else if (r.entry().mask()) {
    out->set_kind(v1::VERSION_KIND_MASK);
    out->set_version(r.entry().version());
  } else {
    out->set_kind(v1::VERSION_KIND_VALUE);
    out->set_value(r.entry().value());
    out->set_content_type(static_cast<v1::ContentType>(r.entry().content_type()));
    out->set_version(r.entry().version());
    out->set_secret(r.entry().secret());
  }
  out->set_author(r.author());
  *out->mutable_commit_time() = TimeUtil::MicrosecondsToTimestamp(r.commit_time_micros());
  out->set_release_id(r.release() ? r.revision() : 0);
  out->set_message(r.message());
  out->set_origin(r.origin());
}

void FillRelease(const storage::ChangeSet& set, bool with_changes, v1::Release* out) {
  out->set_release_id(set.revision());
  out->set_message(set.message());
  out->set_author(set.author());
  *out->mutable_commit_time() = TimeUtil::MicrosecondsToTimestamp(set.commit_time_micros());
  out->set_origin(set.origin());
  if (with_changes) {
    for (const storage::Change& change : set.changes()) {
      if ((change.type() != storage::Change::ENTRY_PUT &&
           change.type() != storage::Change::ENTRY_DELETE) ||
          IsGrayTenant(change.tenant())) {  // a promoted gray release's own removal
        continue;
      }
      v1::ReleaseChange* c = out->add_changes();
      c->set_tenant(change.tenant());
      c->set_service(change.service());
      c->set_key(change.key());
      if (change.had_previous()) {
        FillEntry(change.tenant(), change.service(), change.key(), change.previous_entry(),
                  c->mutable_before());
      }
      if (change.type() == storage::Change::ENTRY_PUT) {
        FillEntry(change.tenant(), change.service(), change.key(), change.entry(),
                  c->mutable_after());
      }
    }
  }
  ReleaseSummary summary = SummarizeRelease(set);
  for (std::string& t : summary.tenants) out->add_tenants(std::move(t));
  out->set_change_count(summary.change_count);
}

}  // namespace

absl::Status HistoryServiceImpl::Busy() {
  return absl::ResourceExhaustedError(
      absl::StrCat("the server has ", kMaxQueuedReads,
                   " history requests waiting for a worker; retry with backoff"));
}

grpc::ServerUnaryReactor* HistoryServiceImpl::Offload(grpc::CallbackServerContext* ctx,
                                                      absl::string_view rpc,
                                                      absl::string_view tenant,
                                                      const Gatekeeper::Check& check, Work work) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(ctx, rpc, tenant, check, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!pool_.TrySubmit([ctx, reactor, access, work = std::move(work)] {
        // A request whose client gave up while it waited for a worker is not worked on.
        if (ctx->IsCancelled()) {
          reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                       "the client cancelled or its deadline passed while the "
                                       "request waited for a worker"));
          return;
        }
        reactor->Finish(ToGrpcStatus(work(*access)));
      })) {
    reactor->Finish(ToGrpcStatus(Busy()));
  }
  return reactor;
}

grpc::ServerUnaryReactor* HistoryServiceImpl::History(grpc::CallbackServerContext* ctx,
                                                      const v1::HistoryRequest* req,
                                                      v1::HistoryResponse* resp) {
  return Offload(
      ctx, "HistoryService.History", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kRead, req->tenant()); },
      [this, ctx, req, resp](const auth::Access& a) {
        absl::Status s = DoHistory(a, req, resp);
        if (s.ok()) {
          gate_->AuditSecretRead(ctx, a, "HistoryService.History", SecretsShown(resp->versions()));
        }
        return s;
      });
}

absl::Status HistoryServiceImpl::DoHistory(const auth::Access& access,
                                           const v1::HistoryRequest* req,
                                           v1::HistoryResponse* resp) {
  absl::StatusOr<HistoryPage> page =
      history_->History({req->tenant(), req->service(), req->key(), req->prefix(), req->page_size(),
                         req->page_token()});
  if (page.ok()) {
    resp->set_revision(page->revision);
    for (const HistoryVersion& v : page->versions) {
      v1::Version* version = resp->add_versions();
      FillVersion(v, version);
      RedactVersion(access, version);
    }
    resp->set_next_page_token(page->next_page_token);
    resp->set_oldest_revision(page->oldest_revision);
  }
  return (page.status());
}

grpc::ServerUnaryReactor* HistoryServiceImpl::ListReleases(grpc::CallbackServerContext* ctx,
                                                           const v1::ListReleasesRequest* req,
                                                           v1::ListReleasesResponse* resp) {
  return Offload(
      ctx, "HistoryService.ListReleases", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kRead, req->tenant()); },
      [this, req, resp](const auth::Access&) { return DoListReleases(req, resp); });
}

absl::Status HistoryServiceImpl::DoListReleases(const v1::ListReleasesRequest* req,
                                                v1::ListReleasesResponse* resp) {
  absl::StatusOr<ReleasesPage> page =
      history_->ListReleases(req->tenant(), req->page_size(), req->page_token());
  if (page.ok()) {
    resp->set_revision(page->revision);
    for (const storage::ChangeSet& set : page->releases) {
      FillRelease(set, /*with_changes=*/false, resp->add_releases());
    }
    resp->set_next_page_token(page->next_page_token);
  }
  return (page.status());
}

grpc::ServerUnaryReactor* HistoryServiceImpl::GetRelease(grpc::CallbackServerContext* ctx,
                                                         const v1::GetReleaseRequest* req,
                                                         v1::GetReleaseResponse* resp) {
  // The release's tenants are known once it is read: DoGetRelease checks them.
  return Offload(
      ctx, "HistoryService.GetRelease", "", [](const auth::Access&) { return absl::OkStatus(); },
      [this, req, resp](const auth::Access& a) { return DoGetRelease(a, req, resp); });
}

absl::Status HistoryServiceImpl::DoGetRelease(const auth::Access& access,
                                              const v1::GetReleaseRequest* req,
                                              v1::GetReleaseResponse* resp) {
  const int64_t revision = history_->revision();
  absl::StatusOr<storage::ChangeSet> release = history_->GetRelease(req->release_id());
  if (release.ok()) {
    resp->set_revision(revision);
    FillRelease(*release, /*with_changes=*/true, resp->mutable_release());
    for (const std::string& tenant : resp->release().tenants()) {
      if (absl::Status s = access.Require(auth::Right::kRead, tenant); !s.ok()) {
        resp->Clear();
        return s;
      }
    }
    RedactRelease(access, resp->mutable_release());
  }
  return (release.status());
}

grpc::ServerUnaryReactor* HistoryServiceImpl::Rollback(grpc::CallbackServerContext* ctx,
                                                       const v1::RollbackRequest* req,
                                                       v1::RollbackResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "HistoryService.Rollback", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kPublish, req->tenant()); },
      &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The past state is read from disk: on a worker, never on gRPC's thread.
  WriteContext context = gate_->ContextFor(ctx, *access, "HistoryService.Rollback", req->message());
  if (!pool_.TrySubmit([this, access, req, resp, reactor, context = std::move(context)]() mutable {
        RunRollback(std::move(access), req, resp, reactor, std::move(context));
      })) {
    reactor->Finish(ToGrpcStatus(Busy()));
  }
  return reactor;
}

void HistoryServiceImpl::RunRollback(std::shared_ptr<const auth::Access> access,
                                     const v1::RollbackRequest* req, v1::RollbackResponse* resp,
                                     grpc::ServerUnaryReactor* reactor, WriteContext context) {
  history_->Rollback(
      {req->tenant(), req->service(), req->key(), req->to_revision(), req->dry_run()},
      std::move(context), [access, reactor, resp](absl::StatusOr<RollbackOutcome> outcome) {
        if (outcome.ok()) {
          resp->set_revision(outcome->revision);
          resp->set_dry_run(outcome->dry_run);
          for (const RollbackChange& change : outcome->changes) {
            v1::ReleaseChange* c = resp->add_changes();
            c->set_tenant(change.key.tenant);
            c->set_service(change.key.service);
            c->set_key(change.key.key);
            if (change.before)
              FillEntry(change.key.tenant, change.key.service, change.key.key, *change.before,
                        c->mutable_before());
            if (change.after)
              FillEntry(change.key.tenant, change.key.service, change.key.key, *change.after,
                        c->mutable_after());
            if (c->has_before()) RedactEntry(*access, c->mutable_before());
            if (c->has_after()) RedactEntry(*access, c->mutable_after());
          }
        }
        reactor->Finish(ToGrpcStatus(outcome.status()));
      });
}

grpc::ServerUnaryReactor* HistoryServiceImpl::Diff(grpc::CallbackServerContext* ctx,
                                                   const v1::DiffRequest* req,
                                                   v1::DiffResponse* resp) {
  return Offload(
      ctx, "HistoryService.Diff", req->tenant(),
      [req](const auth::Access& a) {
        if (absl::Status s = a.Require(auth::Right::kRead, req->tenant()); !s.ok()) return s;
        if (req->other_tenant().empty()) return absl::OkStatus();
        return a.Require(auth::Right::kRead, req->other_tenant());
      },
      [this, req, resp](const auth::Access& a) { return DoDiff(a, req, resp); });
}

absl::Status HistoryServiceImpl::DoDiff(const auth::Access& access, const v1::DiffRequest* req,
                                        v1::DiffResponse* resp) {
  DiffQuery query;
  switch (req->mode()) {
    case v1::DIFF_MODE_TENANTS:
      query.mode = DiffMode::kTenants;
      break;
    case v1::DIFF_MODE_PARENT:
      query.mode = DiffMode::kParent;
      break;
    case v1::DIFF_MODE_REVISIONS:
      query.mode = DiffMode::kRevisions;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("mode: ", req->mode(), " is not a mode; use TENANTS, PARENT or REVISIONS"));
  }
  query.tenant = req->tenant();
  query.other_tenant = req->other_tenant();
  query.services.assign(req->services().begin(), req->services().end());
  query.from_revision = req->from_revision();
  query.to_revision = req->to_revision();
  query.own_entries = req->own_entries();
  if (query.mode != DiffMode::kRevisions &&
      (query.from_revision != 0 || query.to_revision != 0 || query.own_entries)) {
    return (absl::InvalidArgumentError(
        query.from_revision != 0 ? "from_revision: only for REVISIONS mode"
        : query.to_revision != 0 ? "to_revision: only for REVISIONS mode"
                                 : "own_entries: only for REVISIONS mode"));
  }
  absl::StatusOr<DiffResult> diff = history_->Diff(query);
  if (diff.ok()) {
    resp->set_revision(diff->revision);
    resp->set_left_tenant(diff->left_tenant);
    resp->set_left_revision(diff->left_revision);
    resp->set_right_tenant(diff->right_tenant);
    resp->set_right_revision(diff->right_revision);
    for (const DiffEntry& e : diff->entries) {
      FillDiffEntry(e, resp->add_entries());
    }
    RedactDiff(access, resp);
  }
  return (diff.status());
}

grpc::ServerUnaryReactor* HistoryServiceImpl::QueryAudit(grpc::CallbackServerContext* ctx,
                                                         const v1::QueryAuditRequest* req,
                                                         v1::QueryAuditResponse* resp) {
  return Offload(
      ctx, "HistoryService.QueryAudit", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kAudit, req->tenant()); },
      [this, req, resp](const auth::Access&) { return DoQueryAudit(req, resp); });
}

grpc::ServerUnaryReactor* HistoryServiceImpl::Explain(grpc::CallbackServerContext* ctx,
                                                      const v1::ExplainRequest* req,
                                                      v1::ExplainResponse* resp) {
  return Offload(
      ctx, "HistoryService.Explain", req->tenant(),
      [req](const auth::Access& a) { return a.RequireRead(req->tenant(), req->service()); },
      [this, req, resp](const auth::Access&) { return DoExplain(req, resp); });
}

namespace {

// An entry as Explain shows it: secret values never (secret = true; Get and Resolve show
// them to those who may read them, and audit it).
template <typename Out>
void FillExplainedEntry(const std::optional<storage::EntryRecord>& entry, Out* out) {
  if (!entry.has_value()) {
    out->set_kind(v1::EXPLAIN_ENTRY_KIND_NONE);
  } else if (entry->mask()) {
    out->set_kind(v1::EXPLAIN_ENTRY_KIND_MASK);
  } else {
    out->set_kind(v1::EXPLAIN_ENTRY_KIND_VALUE);
    out->set_content_type(static_cast<v1::ContentType>(entry->content_type()));
    if (!entry->secret()) out->set_value(entry->value());
  }
}

}  // namespace

absl::Status HistoryServiceImpl::DoExplain(const v1::ExplainRequest* req,
                                           v1::ExplainResponse* resp) {
  absl::StatusOr<HistoryCore::Explanation> explained =
      history_->Explain(req->tenant(), req->service(), req->key());
  if (!explained.ok()) return explained.status();
  const ExplainResult& result = explained->result;
  resp->set_revision(result.revision);
  resp->set_present(result.present);
  for (size_t i = 0; i < result.steps.size(); ++i) {
    const ExplainedStep& step = result.steps[i];
    v1::ExplainStep* out = resp->add_steps();
    out->set_tenant(step.tenant);
    FillExplainedEntry(step.entry, out);
    out->set_decides(step.decides);
    if (step.entry.has_value()) {
      out->set_secret(step.entry->secret());
      out->set_revision(step.entry->mod_revision());
      out->set_version(step.entry->version());
    }
    if (const std::optional<storage::HistoryRecord>& write = explained->writes[i]) {
      out->set_author(write->author());
      out->set_release_id(write->release() ? write->revision() : 0);
      out->set_message(write->message());
      out->set_origin(write->origin());
      *out->mutable_commit_time() = TimeUtil::MicrosecondsToTimestamp(write->commit_time_micros());
    }
  }
  for (const PendingChange& change : result.pending) {
    v1::ExplainPending* out = resp->add_pending();
    out->set_tenant(change.tenant);
    out->set_gray_release_id(change.gray_release_id);
    out->set_draft_id(change.draft_id);
    FillExplainedEntry(change.entry, out);
    out->set_author(change.author);
  }
  return absl::OkStatus();
}

absl::Status HistoryServiceImpl::DoQueryAudit(const v1::QueryAuditRequest* req,
                                              v1::QueryAuditResponse* resp) {
  AuditQuery query;
  query.tenant = req->tenant();
  query.user = req->user();
  query.rpc = req->rpc();
  auto check = [](const char* field, const google::protobuf::Timestamp& ts) {
    if (ts.seconds() < TimeUtil::kTimestampMinSeconds ||
        ts.seconds() > TimeUtil::kTimestampMaxSeconds || ts.nanos() < 0 ||
        ts.nanos() >= 1'000'000'000) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": not a valid timestamp (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"));
    }
    return absl::OkStatus();
  };
  if (req->has_since()) {
    if (absl::Status s = check("since", req->since()); !s.ok()) return s;
  }
  if (req->has_until()) {
    if (absl::Status s = check("until", req->until()); !s.ok()) return s;
  }
  if (req->has_since()) {
    query.since = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(req->since()));
  }
  if (req->has_until()) {
    query.until = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(req->until()));
  }
  query.page_size = req->page_size();
  query.page_token = req->page_token();
  absl::StatusOr<AuditPage> page = history_->QueryAudit(query);
  if (page.ok()) {
    resp->set_revision(page->revision);
    for (const storage::AuditRecord& r : page->records) {
      v1::AuditEntry* e = resp->add_entries();
      e->set_sequence(r.sequence());
      *e->mutable_time() = TimeUtil::MicrosecondsToTimestamp(r.time_micros());
      e->set_rpc(r.rpc());
      e->set_user(r.user());
      e->set_peer(r.peer());
      for (const std::string& t : r.tenants()) e->add_tenants(t);
      for (const std::string& s : r.services()) e->add_services(s);
      for (const std::string& k : r.keys()) e->add_keys(k);
      e->set_revision(r.revision());
      if (r.error_code() != 0) {
        e->set_error_code(absl::StatusCodeToString(static_cast<absl::StatusCode>(r.error_code())));
      }
      e->set_error_message(r.error_message());
      e->set_message(r.message());
      e->set_detail(r.detail());
    }
    resp->set_next_page_token(page->next_page_token);
  }
  return (page.status());
}

}  // namespace confcenter
