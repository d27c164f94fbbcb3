// The gRPC edge of versioning: HistoryService over HistoryCore. Translates; no logic.
#ifndef CONFCENTER_SERVER_API_HISTORY_SERVICE_H_
#define CONFCENTER_SERVER_API_HISTORY_SERVICE_H_

#include <functional>

#include "absl/status/status.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "server/api/worker_pool.h"
#include "server/core/history_core.h"

namespace confcenter {

// Every RPC reads the store (RocksDB), so each runs on a small worker pool, never on a gRPC
// callback thread; when kMaxQueuedReads requests wait, more get RESOURCE_EXHAUSTED.
class HistoryServiceImpl final : public v1::HistoryService::CallbackService {
 public:
  static constexpr int kWorkers = 2;
  static constexpr size_t kMaxQueuedReads = 256;

  // `history` must outlive the service.
  explicit HistoryServiceImpl(HistoryCore* history)
      : history_(history), pool_(kWorkers, kMaxQueuedReads) {}

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
  static absl::Status Busy();
  // Runs `work` on the pool and finishes the call with its status.
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* ctx,
                                    std::function<absl::Status()> work);
  absl::Status DoHistory(const v1::HistoryRequest* req, v1::HistoryResponse* resp);
  absl::Status DoListReleases(const v1::ListReleasesRequest* req, v1::ListReleasesResponse* resp);
  absl::Status DoGetRelease(const v1::GetReleaseRequest* req, v1::GetReleaseResponse* resp);
  absl::Status DoDiff(const v1::DiffRequest* req, v1::DiffResponse* resp);
  absl::Status DoQueryAudit(const v1::QueryAuditRequest* req, v1::QueryAuditResponse* resp);
  void RunRollback(const v1::RollbackRequest* req, v1::RollbackResponse* resp,
                   grpc::ServerUnaryReactor* reactor, WriteContext context);

  HistoryCore* const history_;
  WorkerPool pool_;  // last: joined first, while history_ is still there
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_HISTORY_SERVICE_H_
