// The gRPC edge of the release workflow: ReleaseService over the core's release writes
// (server/core/writes/release.h) and previews (server/core/release_plan.h). Translates and
// checks rights; no workflow logic.
#ifndef CONFCENTER_SERVER_API_RELEASE_SERVICE_H_
#define CONFCENTER_SERVER_API_RELEASE_SERVICE_H_

#include "confcenter/v1/release.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/core/config_core.h"
#include "server/watch/instance_registry.h"

namespace confcenter {

// Every RPC reads the in-memory state or queues a write; none blocks a callback thread.
class ReleaseServiceImpl final : public v1::ReleaseService::CallbackService {
 public:
  // `core`, `instances` (for blast radii) and `gate` must outlive the service.
  ReleaseServiceImpl(ConfigCore* core, InstanceRegistry* instances, const Gatekeeper* gate)
      : core_(core), instances_(instances), gate_(gate) {}

  grpc::ServerUnaryReactor* SetReview(grpc::CallbackServerContext* ctx,
                                      const v1::SetReviewRequest* req,
                                      v1::SetReviewResponse* resp) override;
  grpc::ServerUnaryReactor* CreateDraft(grpc::CallbackServerContext* ctx,
                                        const v1::CreateDraftRequest* req,
                                        v1::DraftResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateDraft(grpc::CallbackServerContext* ctx,
                                        const v1::UpdateDraftRequest* req,
                                        v1::DraftResponse* resp) override;
  grpc::ServerUnaryReactor* GetDraft(grpc::CallbackServerContext* ctx,
                                     const v1::GetDraftRequest* req,
                                     v1::DraftResponse* resp) override;
  grpc::ServerUnaryReactor* ListDrafts(grpc::CallbackServerContext* ctx,
                                       const v1::ListDraftsRequest* req,
                                       v1::ListDraftsResponse* resp) override;
  grpc::ServerUnaryReactor* DiscardDraft(grpc::CallbackServerContext* ctx,
                                         const v1::DiscardDraftRequest* req,
                                         v1::DiscardDraftResponse* resp) override;
  grpc::ServerUnaryReactor* PublishDraft(grpc::CallbackServerContext* ctx,
                                         const v1::PublishDraftRequest* req,
                                         v1::PublishDraftResponse* resp) override;
  grpc::ServerUnaryReactor* Promote(grpc::CallbackServerContext* ctx, const v1::PromoteRequest* req,
                                    v1::PromoteResponse* resp) override;
  grpc::ServerUnaryReactor* Reset(grpc::CallbackServerContext* ctx, const v1::ResetRequest* req,
                                  v1::ResetResponse* resp) override;
  grpc::ServerUnaryReactor* StartGray(grpc::CallbackServerContext* ctx,
                                      const v1::StartGrayRequest* req,
                                      v1::GrayResponse* resp) override;
  grpc::ServerUnaryReactor* GetGray(grpc::CallbackServerContext* ctx, const v1::GetGrayRequest* req,
                                    v1::GrayResponse* resp) override;
  grpc::ServerUnaryReactor* PromoteGray(grpc::CallbackServerContext* ctx,
                                        const v1::EndGrayRequest* req,
                                        v1::EndGrayResponse* resp) override;
  grpc::ServerUnaryReactor* AbortGray(grpc::CallbackServerContext* ctx,
                                      const v1::EndGrayRequest* req,
                                      v1::EndGrayResponse* resp) override;

 private:
  // Fills `resp` with `draft` of `tenant`, its diff against the current view, its blast
  // radius and its conflicts, redacted for `access`.
  void FillDraft(const auth::Access& access, const std::string& tenant,
                 const storage::DraftRecord& draft, v1::DraftResponse* resp) const;
  // Gatekeeper::Admit with the check "holds `right` on `tenant`".
  std::shared_ptr<const auth::Access> AdmitWith(grpc::CallbackServerContext* ctx,
                                                absl::string_view rpc, const std::string& tenant,
                                                auth::Right right,
                                                grpc::ServerUnaryReactor** refused) const;
  // Fills `resp` with `tenant`'s open gray release; NOT_FOUND if none is open.
  absl::Status FillGray(const std::string& tenant, v1::GrayResponse* resp) const;
  // PromoteGray and AbortGray.
  grpc::ServerUnaryReactor* EndGray(grpc::CallbackServerContext* ctx, const v1::EndGrayRequest* req,
                                    v1::EndGrayResponse* resp, bool promote);
  // What a write into `tenant` by Promote or Reset needs: write for a draft (the tenant
  // requires them; `*draft_only` is then set), else what an entry write needs.
  absl::Status RequireChangeOf(const auth::Access& access, const std::string& tenant,
                               bool* draft_only) const;

  ConfigCore* const core_;
  InstanceRegistry* const instances_;
  const Gatekeeper* const gate_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_RELEASE_SERVICE_H_
