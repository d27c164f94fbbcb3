// The gRPC edge of versioning: HistoryService over HistoryCore. Translates; no logic.
#ifndef CONFCENTER_SERVER_API_HISTORY_SERVICE_H_
#define CONFCENTER_SERVER_API_HISTORY_SERVICE_H_

#include <functional>

#include "absl/status/status.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/api/worker_pool.h"
#include "server/core/history_core.h"

namespace confcenter {

// Every RPC reads the store (RocksDB), so each runs on a small worker pool, never on a gRPC
// callback thread; when kMaxQueuedReads requests wait, more get RESOURCE_EXHAUSTED.
class HistoryServiceImpl final : public v1::HistoryService::CallbackService {
 public:
  static constexpr int kWorkers = 2;
  static constexpr size_t kMaxQueuedReads = 256;

  // `history` and `gate` must outlive the service.
  HistoryServiceImpl(HistoryCore* history, const Gatekeeper* gate)
      : history_(history), gate_(gate), pool_(kWorkers, kMaxQueuedReads) {}

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
  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* ctx, const v1::ExplainRequest* req,
                                    v1::ExplainResponse* resp) override;

 private:
  static absl::Status Busy();
  using Work = std::function<absl::Status(const auth::Access&)>;
  // Admits the call (`check`, on `tenant`), then runs `work` on the pool and finishes the call
  // with its status.
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* ctx, absl::string_view rpc,
                                    absl::string_view tenant, const Gatekeeper::Check& check,
                                    Work work);
  absl::Status DoHistory(const auth::Access& access, const v1::HistoryRequest* req,
                         v1::HistoryResponse* resp);
  absl::Status DoListReleases(const v1::ListReleasesRequest* req, v1::ListReleasesResponse* resp);
  absl::Status DoGetRelease(const auth::Access& access, const v1::GetReleaseRequest* req,
                            v1::GetReleaseResponse* resp);
  absl::Status DoDiff(const auth::Access& access, const v1::DiffRequest* req,
                      v1::DiffResponse* resp);
  absl::Status DoQueryAudit(const v1::QueryAuditRequest* req, v1::QueryAuditResponse* resp);
  absl::Status DoExplain(const v1::ExplainRequest* req, v1::ExplainResponse* resp);
  void RunRollback(std::shared_ptr<const auth::Access> access, const v1::RollbackRequest* req,
                   v1::RollbackResponse* resp, grpc::ServerUnaryReactor* reactor,
                   WriteContext context);

  HistoryCore* const history_;
  const Gatekeeper* const gate_;
  WorkerPool pool_;  // last: joined first, while history_ is still there
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_HISTORY_SERVICE_H_
