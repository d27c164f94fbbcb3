#include "server/api/release_service.h"

#include <map>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "google/protobuf/util/time_util.h"
#include "server/api/grpc_services.h"
#include "server/api/redaction.h"
#include "server/core/api_convert.h"
#include "server/core/gray.h"
#include "server/core/release_plan.h"
#include "server/core/writes/release.h"

namespace confcenter {
namespace {

using google::protobuf::util::TimeUtil;

DraftChanges ToRecords(const google::protobuf::RepeatedPtrField<v1::DraftChange>& changes) {
  DraftChanges out;
  for (const v1::DraftChange& c : changes) {
    storage::DraftChangeRecord* r = out.Add();
    r->set_service(c.service());
    r->set_key(c.key());
    r->set_op(static_cast<int32_t>(c.op()));
    r->set_value(c.value());
    r->set_content_type(static_cast<int32_t>(c.content_type()));
  }
  return out;
}

void FillDraftInfo(const std::string& tenant, const storage::DraftRecord& d, bool with_changes,
                   v1::Draft* out) {
  out->set_draft_id(d.id());
  out->set_tenant(tenant);
  out->set_author(d.author());
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(d.create_time_micros());
  *out->mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(d.update_time_micros());
  out->set_message(d.message());
  out->set_change_count(d.changes_size());
  out->set_origin(d.origin());
  out->mutable_editors()->CopyFrom(d.editors());
  if (!with_changes) return;
  for (const storage::DraftChangeRecord& c : d.changes()) {
    v1::DraftChange* change = out->add_changes();
    change->set_service(c.service());
    change->set_key(c.key());
    change->set_op(static_cast<v1::DraftOp>(c.op()));
    change->set_value(c.value());
    change->set_content_type(static_cast<v1::ContentType>(c.content_type()));
    change->set_base_revision(c.base_revision());
  }
}

// Withholds the secret sides of `diff` (of `tenant`'s view) the caller may not read.
void RedactDiffOf(const auth::Access& access, const std::string& tenant,
                  google::protobuf::RepeatedPtrField<v1::DiffEntry>* diff) {
  v1::DiffResponse wrapper;
  wrapper.set_left_tenant(tenant);
  wrapper.set_right_tenant(tenant);
  wrapper.mutable_entries()->Swap(diff);
  RedactDiff(access, &wrapper);
  wrapper.mutable_entries()->Swap(diff);
}

storage::GrayAudienceRecord ToRecord(const v1::GrayAudience& audience) {
  storage::GrayAudienceRecord out;
  out.set_selector(audience.selector());
  out.mutable_instance_ids()->CopyFrom(audience.instance_ids());
  out.set_percentage(audience.percentage());
  out.set_service(audience.service());
  return out;
}

storage::ReviewRecord ToRecord(const v1::Review& review) {
  storage::ReviewRecord out;
  out.set_drafts_required(review.drafts_required());
  out.set_publisher_not_author(review.publisher_not_author());
  return out;
}

}  // namespace

void ReleaseServiceImpl::FillDraft(const auth::Access& access, const std::string& tenant,
                                   const storage::DraftRecord& draft,
                                   v1::DraftResponse* resp) const {
  FillDraftInfo(tenant, draft, /*with_changes=*/true, resp->mutable_draft());
  Reach reach;
  core_->ReadState([&](const ConfigState& state) {
    resp->set_revision(state.revision());
    if (state.FindTenant(tenant) == nullptr) return;  // removed since
    for (const DiffEntry& e : DiffOfChanges(state, tenant, draft.changes())) {
      FillDiffEntry(e, resp->add_diff());
    }
    reach = ReachOf(state, tenant, draft.changes());
    for (std::string& c : ConflictsOf(state, tenant, draft.changes())) {
      resp->add_conflicts(std::move(c));
    }
  });
  RedactDiffOf(access, tenant, resp->mutable_diff());
  int64_t instances = 0;
  for (const std::string& t : reach.tenants) {
    resp->mutable_blast_radius()->add_tenants(t);
    for (const v1::Instance& instance : instances_->List(t, "")) {
      if (!instance.connected()) continue;
      for (const std::string& s : instance.services()) {
        if (reach.services.count(s) > 0) {
          ++instances;
          break;
        }
      }
    }
  }
  resp->mutable_blast_radius()->set_instances(instances);
}

std::shared_ptr<const auth::Access> ReleaseServiceImpl::AdmitWith(
    grpc::CallbackServerContext* ctx, absl::string_view rpc, const std::string& tenant,
    auth::Right right, grpc::ServerUnaryReactor** refused) const {
  return gate_->Admit(
      ctx, rpc, tenant, [&](const auth::Access& a) { return a.Require(right, tenant); }, refused);
}

absl::Status ReleaseServiceImpl::RequireChangeOf(const auth::Access& access,
                                                 const std::string& tenant,
                                                 bool* draft_only) const {
  bool drafts = false;
  core_->ReadState([&](const ConfigState& state) {
    const TenantState* t = state.FindTenant(tenant);
    drafts = t != nullptr && t->record.review().drafts_required();
  });
  *draft_only = drafts;
  return drafts ? access.Require(auth::Right::kWrite, tenant) : RequireWrite(access, tenant);
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::SetReview(grpc::CallbackServerContext* ctx,
                                                        const v1::SetReviewRequest* req,
                                                        v1::SetReviewResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.SetReview", req->tenant(), auth::Right::kAdmin, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Submit(MakeSetReviewWrite(req->tenant(), ToRecord(req->review()),
                                   [reactor, req, resp](absl::StatusOr<int64_t> revision) {
                                     if (revision.ok()) {
                                       resp->set_revision(*revision);
                                       *resp->mutable_review() = req->review();
                                     }
                                     reactor->Finish(ToGrpcStatus(revision.status()));
                                   }),
                gate_->ContextFor(ctx, *access, "ReleaseService.SetReview"));
  return reactor;
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::CreateDraft(grpc::CallbackServerContext* ctx,
                                                          const v1::CreateDraftRequest* req,
                                                          v1::DraftResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.CreateDraft", req->tenant(), auth::Right::kWrite, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  WriteContext context = gate_->ContextFor(ctx, *access, "ReleaseService.CreateDraft");
  DraftCommand command;
  command.kind = DraftCommand::Kind::kCreate;
  command.tenant = req->tenant();
  command.set = ToRecords(req->changes());
  command.message = req->message();
  command.author = context.user;
  core_->Submit(MakeDraftWrite(
                    std::move(command),
                    [this, access, reactor, req, resp](absl::StatusOr<storage::DraftRecord> draft) {
                      if (draft.ok()) FillDraft(*access, req->tenant(), *draft, resp);
                      reactor->Finish(ToGrpcStatus(draft.status()));
                    }),
                std::move(context));
  return reactor;
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::UpdateDraft(grpc::CallbackServerContext* ctx,
                                                          const v1::UpdateDraftRequest* req,
                                                          v1::DraftResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.UpdateDraft", req->tenant(), auth::Right::kWrite, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  WriteContext context = gate_->ContextFor(ctx, *access, "ReleaseService.UpdateDraft");
  DraftCommand command;
  command.kind = DraftCommand::Kind::kUpdate;
  command.author = context.user;
  command.tenant = req->tenant();
  command.draft_id = req->draft_id();
  command.set = ToRecords(req->set());
  for (const v1::DraftKey& k : req->remove()) command.remove.emplace_back(k.service(), k.key());
  command.message = req->message();
  core_->Submit(MakeDraftWrite(
                    std::move(command),
                    [this, access, reactor, req, resp](absl::StatusOr<storage::DraftRecord> draft) {
                      if (draft.ok()) FillDraft(*access, req->tenant(), *draft, resp);
                      reactor->Finish(ToGrpcStatus(draft.status()));
                    }),
                std::move(context));
  return reactor;
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::GetDraft(grpc::CallbackServerContext* ctx,
                                                       const v1::GetDraftRequest* req,
                                                       v1::DraftResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.GetDraft", req->tenant(), auth::Right::kRead, &refused);
  if (access == nullptr) return refused;
  std::optional<storage::DraftRecord> draft;
  absl::Status status = ValidateTenantName("tenant", req->tenant());
  if (status.ok() && req->draft_id() <= 0) {
    status = absl::InvalidArgumentError(
        absl::StrCat("draft_id: ", req->draft_id(), " is not a draft id (a revision)"));
  }
  if (!status.ok()) return Finish(ctx, status);
  core_->ReadState([&](const ConfigState& state) {
    const TenantState* t = state.FindTenant(req->tenant());
    if (t == nullptr) {
      status = TenantNotFoundError("tenant", req->tenant());
      return;
    }
    for (const storage::DraftRecord& d : t->record.drafts()) {
      if (d.id() == req->draft_id()) draft = d;
    }
  });
  if (status.ok() && !draft) {
    status = absl::NotFoundError(absl::StrCat("draft_id: tenant ", QuoteForError(req->tenant()),
                                              " has no draft ", req->draft_id(),
                                              " (published, discarded, or never made)"));
  }
  if (status.ok()) FillDraft(*access, req->tenant(), *draft, resp);
  return Finish(ctx, status);
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::ListDrafts(grpc::CallbackServerContext* ctx,
                                                         const v1::ListDraftsRequest* req,
                                                         v1::ListDraftsResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.ListDrafts", req->tenant(), auth::Right::kRead, &refused);
  if (access == nullptr) return refused;
  absl::Status status = ValidateTenantName("tenant", req->tenant());
  if (!status.ok()) return Finish(ctx, status);
  core_->ReadState([&](const ConfigState& state) {
    resp->set_revision(state.revision());
    const TenantState* t = state.FindTenant(req->tenant());
    if (t == nullptr) {
      status = TenantNotFoundError("tenant", req->tenant());
      return;
    }
    for (const storage::DraftRecord& d : t->record.drafts()) {
      FillDraftInfo(req->tenant(), d, /*with_changes=*/false, resp->add_drafts());
    }
  });
  return Finish(ctx, status);
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::DiscardDraft(grpc::CallbackServerContext* ctx,
                                                           const v1::DiscardDraftRequest* req,
                                                           v1::DiscardDraftResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.DiscardDraft", req->tenant(), auth::Right::kWrite, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  DraftCommand command;
  command.kind = DraftCommand::Kind::kDiscard;
  command.tenant = req->tenant();
  command.draft_id = req->draft_id();
  core_->Submit(MakeDraftWrite(std::move(command),
                               [this, reactor, resp](absl::StatusOr<storage::DraftRecord> draft) {
                                 if (draft.ok()) resp->set_revision(core_->revision());
                                 reactor->Finish(ToGrpcStatus(draft.status()));
                               }),
                gate_->ContextFor(ctx, *access, "ReleaseService.DiscardDraft"));
  return reactor;
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::PublishDraft(grpc::CallbackServerContext* ctx,
                                                           const v1::PublishDraftRequest* req,
                                                           v1::PublishDraftResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.PublishDraft", req->tenant(), auth::Right::kPublish, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  WriteContext context =
      gate_->ContextFor(ctx, *access, "ReleaseService.PublishDraft", req->message());
  PublishCommand command{req->tenant(), req->draft_id(), req->rebase(), req->message(),
                         context.user};
  core_->Submit(
      MakePublishDraftWrite(std::move(command),
                            [access, reactor, resp](absl::StatusOr<PublishResult> published) {
                              if (published.ok()) {
                                resp->set_revision(published->revision);
                                for (size_t i = 0; i < published->ops.size(); ++i) {
                                  const WriteOp& op = published->ops[i];
                                  v1::ReleaseChange* c = resp->add_changes();
                                  c->set_tenant(op.tenant);
                                  c->set_service(op.service);
                                  c->set_key(op.key);
                                  if (published->before[i]) {
                                    FillEntry(op.tenant, op.service, op.key, *published->before[i],
                                              c->mutable_before());
                                    RedactEntry(*access, c->mutable_before());
                                  }
                                  if (op.type != WriteOpType::kDelete) {
                                    FillEntry(op.tenant, op.service, op.key,
                                              published->applied.entries[i], c->mutable_after());
                                    RedactEntry(*access, c->mutable_after());
                                  }
                                }
                              }
                              reactor->Finish(ToGrpcStatus(published.status()));
                            }),
      std::move(context));
  return reactor;
}

namespace {

// Promote and Reset: a dry run answers from the state; otherwise the write is queued.
template <typename Response>
grpc::ServerUnaryReactor* RunPromotion(ConfigCore* core, const Gatekeeper* gate,
                                       grpc::CallbackServerContext* ctx,
                                       std::shared_ptr<const auth::Access> access,
                                       absl::string_view rpc, PromoteCommand command, bool dry_run,
                                       const std::string& message, Response* resp) {
  auto fill = [access, resp, tenant = command.to_tenant](const PromoteResult& r) {
    resp->set_revision(r.revision);
    for (const DiffEntry& e : r.diff) FillDiffEntry(e, resp->add_changes());
    RedactDiffOf(*access, tenant, resp->mutable_changes());
    resp->set_release_id(r.release_id);
    resp->set_draft_id(r.draft_id);
    if constexpr (std::is_same_v<Response, v1::PromoteResponse>) resp->set_skipped(r.skipped);
  };
  resp->set_dry_run(dry_run);
  if (dry_run) {
    WriteContext shape;
    shape.message = message;
    absl::Status status = MakePromoteWrite(command, [](absl::StatusOr<PromoteResult>) {
                          })->Validate(core->options(), shape);
    if (!status.ok()) return Finish(ctx, status);
    PromoteResult result;
    core->ReadState([&](const ConfigState& state) {
      result.revision = state.revision();
      absl::StatusOr<PromotionPlan> plan =
          command.from_tenant.empty() ? PlanReset(state, command.to_tenant, command.services)
                                      : PlanPromotion(state, command.from_tenant, command.to_tenant,
                                                      command.services, command.remove_missing);
      if (!plan.ok()) {
        status = plan.status();
        return;
      }
      result.skipped = plan->skipped;
      result.diff = DiffOfChanges(state, command.to_tenant, plan->changes);
    });
    if (status.ok()) fill(result);
    return Finish(ctx, status);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  WriteContext context = gate->ContextFor(ctx, *access, rpc, message);
  command.author = context.user;
  core->Submit(MakePromoteWrite(std::move(command),
                                [reactor, fill](absl::StatusOr<PromoteResult> result) {
                                  if (result.ok()) fill(*result);
                                  reactor->Finish(ToGrpcStatus(result.status()));
                                }),
               std::move(context));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* ReleaseServiceImpl::Promote(grpc::CallbackServerContext* ctx,
                                                      const v1::PromoteRequest* req,
                                                      v1::PromoteResponse* resp) {
  if (req->from_tenant().empty()) {
    return Finish(ctx, absl::InvalidArgumentError("from_tenant: required"));
  }
  grpc::ServerUnaryReactor* refused = nullptr;
  bool draft_only = false;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "ReleaseService.Promote", req->to_tenant(),
      [this, req, &draft_only](const auth::Access& a) {
        if (absl::Status s = a.Require(auth::Right::kRead, req->from_tenant()); !s.ok()) return s;
        if (req->dry_run()) return a.Require(auth::Right::kRead, req->to_tenant());
        return RequireChangeOf(a, req->to_tenant(), &draft_only);
      },
      &refused);
  if (access == nullptr) return refused;
  PromoteCommand command;
  command.from_tenant = req->from_tenant();
  command.to_tenant = req->to_tenant();
  command.services.assign(req->services().begin(), req->services().end());
  command.remove_missing = req->remove_missing();
  command.draft_only = draft_only;
  return RunPromotion(core_, gate_, ctx, std::move(access), "ReleaseService.Promote",
                      std::move(command), req->dry_run(), req->message(), resp);
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::Reset(grpc::CallbackServerContext* ctx,
                                                    const v1::ResetRequest* req,
                                                    v1::ResetResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  bool draft_only = false;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "ReleaseService.Reset", req->tenant(),
      [this, req, &draft_only](const auth::Access& a) {
        if (req->dry_run()) return a.Require(auth::Right::kRead, req->tenant());
        return RequireChangeOf(a, req->tenant(), &draft_only);
      },
      &refused);
  if (access == nullptr) return refused;
  PromoteCommand command;
  command.to_tenant = req->tenant();
  command.draft_only = draft_only;
  command.services.assign(req->services().begin(), req->services().end());
  return RunPromotion(core_, gate_, ctx, std::move(access), "ReleaseService.Reset",
                      std::move(command), req->dry_run(), req->message(), resp);
}

absl::Status ReleaseServiceImpl::FillGray(const std::string& tenant, v1::GrayResponse* resp) const {
  storage::TenantRecord record;
  std::map<std::string, std::map<std::string, storage::EntryRecord>> entries;
  absl::Status status;
  core_->ReadState([&](const ConfigState& state) {
    resp->set_revision(state.revision());
    if (state.FindTenant(tenant) == nullptr) {
      status = TenantNotFoundError("tenant", tenant);
      return;
    }
    const TenantState* gray = state.FindTenant(GrayTenantOf(tenant));
    if (gray == nullptr) {
      status = absl::NotFoundError(
          absl::StrCat("tenant: tenant ", QuoteForError(tenant), " has no open gray release"));
      return;
    }
    record = gray->record;
    for (const auto& [service, keys] : gray->services) {
      entries[service].insert(keys.begin(), keys.end());
    }
  });
  if (!status.ok()) return status;
  v1::GrayRelease* out = resp->mutable_gray();
  out->set_gray_release_id(record.create_revision());
  out->set_tenant(tenant);
  out->set_author(record.gray().author());
  *out->mutable_create_time() =
      TimeUtil::MicrosecondsToTimestamp(record.gray().create_time_micros());
  out->set_message(record.gray().message());
  const storage::GrayAudienceRecord& audience = record.gray().audience();
  out->mutable_audience()->set_selector(audience.selector());
  out->mutable_audience()->mutable_instance_ids()->CopyFrom(audience.instance_ids());
  out->mutable_audience()->set_percentage(audience.percentage());
  out->mutable_audience()->set_service(audience.service());
  out->set_draft_id(record.gray().draft_id());
  for (const auto& [service, keys] : entries) {
    for (const auto& [key, entry] : keys) {
      v1::DraftChange* c = out->add_changes();
      c->set_service(service);
      c->set_key(key);
      c->set_op(entry.mask() ? v1::DRAFT_OP_MASK : v1::DRAFT_OP_PUT);
      c->set_value(entry.value());
      c->set_content_type(static_cast<v1::ContentType>(entry.content_type()));
    }
  }
  // The same rule as the hub's: the instances whose streams follow the gray view.
  std::set<std::string> seen;
  for (const v1::Instance& instance : instances_->List(tenant, "")) {
    if (!instance.connected() || !instance.reports()) continue;
    InstanceIdentity identity;
    identity.instance_id = instance.info().instance_id();
    identity.service = instance.info().service();
    identity.labels.insert(instance.info().labels().begin(), instance.info().labels().end());
    if (InGrayAudience(audience, tenant, identity)) seen.insert(identity.instance_id);
  }
  for (const std::string& id : seen) out->add_instances(id);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::StartGray(grpc::CallbackServerContext* ctx,
                                                        const v1::StartGrayRequest* req,
                                                        v1::GrayResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.StartGray", req->tenant(), auth::Right::kPublish, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  WriteContext context = gate_->ContextFor(ctx, *access, "ReleaseService.StartGray");
  StartGrayCommand command;
  command.tenant = req->tenant();
  command.draft_id = req->draft_id();
  command.changes = ToRecords(req->changes());
  command.audience = ToRecord(req->audience());
  command.message = req->message();
  command.author = context.user;
  core_->Submit(MakeStartGrayWrite(std::move(command),
                                   [this, reactor, req, resp](absl::StatusOr<int64_t> id) {
                                     if (id.ok() && !FillGray(req->tenant(), resp).ok()) {
                                       // Ended meanwhile (another replica): it did start.
                                       resp->Clear();
                                       resp->set_revision(*id);
                                       resp->mutable_gray()->set_gray_release_id(*id);
                                       resp->mutable_gray()->set_tenant(req->tenant());
                                     }
                                     reactor->Finish(ToGrpcStatus(id.status()));
                                   }),
                std::move(context));
  return reactor;
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::GetGray(grpc::CallbackServerContext* ctx,
                                                      const v1::GetGrayRequest* req,
                                                      v1::GrayResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, "ReleaseService.GetGray", req->tenant(), auth::Right::kRead, &refused);
  if (access == nullptr) return refused;
  absl::Status status = ValidateTenantName("tenant", req->tenant());
  if (status.ok()) status = FillGray(req->tenant(), resp);
  return Finish(ctx, status);
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::EndGray(grpc::CallbackServerContext* ctx,
                                                      const v1::EndGrayRequest* req,
                                                      v1::EndGrayResponse* resp, bool promote) {
  const char* rpc = promote ? "ReleaseService.PromoteGray" : "ReleaseService.AbortGray";
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access =
      AdmitWith(ctx, rpc, req->tenant(), auth::Right::kPublish, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Submit(MakeEndGrayWrite({req->tenant(), req->gray_release_id(), promote, req->rebase()},
                                 [reactor, resp](absl::StatusOr<int64_t> revision) {
                                   if (revision.ok()) resp->set_revision(*revision);
                                   reactor->Finish(ToGrpcStatus(revision.status()));
                                 }),
                gate_->ContextFor(ctx, *access, rpc, promote ? req->message() : ""));
  return reactor;
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::PromoteGray(grpc::CallbackServerContext* ctx,
                                                          const v1::EndGrayRequest* req,
                                                          v1::EndGrayResponse* resp) {
  return EndGray(ctx, req, resp, /*promote=*/true);
}

grpc::ServerUnaryReactor* ReleaseServiceImpl::AbortGray(grpc::CallbackServerContext* ctx,
                                                        const v1::EndGrayRequest* req,
                                                        v1::EndGrayResponse* resp) {
  return EndGray(ctx, req, resp, /*promote=*/false);
}

}  // namespace confcenter
