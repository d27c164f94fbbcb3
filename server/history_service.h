// The gRPC edge of versioning: HistoryService over HistoryCore. Translates; no logic.
#ifndef CONFCENTER_SERVER_HISTORY_SERVICE_H_
#define CONFCENTER_SERVER_HISTORY_SERVICE_H_

#include "confcenter/v1/history.grpc.pb.h"
#include "server/history_core.h"

namespace confcenter {

class HistoryServiceImpl final : public v1::HistoryService::CallbackService {
 public:
  // `history` must outlive the service.
  explicit HistoryServiceImpl(HistoryCore* history) : history_(history) {}

  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* ctx, const v1::HistoryRequest* req,
                                    v1::HistoryResponse* resp) override;
  grpc::ServerUnaryReactor* ListReleases(grpc::CallbackServerContext* ctx,
                                         const v1::ListReleasesRequest* req,
                                         v1::ListReleasesResponse* resp) override;
  grpc::ServerUnaryReactor* GetRelease(grpc::CallbackServerContext* ctx,
                                       const v1::GetReleaseRequest* req,
                                       v1::GetReleaseResponse* resp) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* ctx,
                                     const v1::RollbackRequest* req,
                                     v1::RollbackResponse* resp) override;
  grpc::ServerUnaryReactor* Diff(grpc::CallbackServerContext* ctx, const v1::DiffRequest* req,
                                 v1::DiffResponse* resp) override;
  grpc::ServerUnaryReactor* QueryAudit(grpc::CallbackServerContext* ctx,
                                       const v1::QueryAuditRequest* req,
                                       v1::QueryAuditResponse* resp) override;

 private:
  HistoryCore* const history_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_HISTORY_SERVICE_H_
