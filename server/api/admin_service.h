// The gRPC edge of AdminService: Backup streams a BackupJob; CompactHistory runs
// HistoryCore::CompactNow; RotateSecretKey runs SecretKeyRotation::Rotate. Translates; no
// logic.
#ifndef CONFCENTER_SERVER_API_ADMIN_SERVICE_H_
#define CONFCENTER_SERVER_API_ADMIN_SERVICE_H_

#include "confcenter/v1/admin.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/api/worker_pool.h"
#include "server/core/backup.h"
#include "server/core/history_core.h"
#include "server/core/secret_rotation.h"

namespace confcenter {

// The checkpoint and every file read are blocking I/O: they run on a worker pool, one step
// at a time per stream (read a chunk, write it, read the next from OnWriteDone), never on a
// gRPC callback thread.
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  static constexpr int kWorkers = 2;
  static constexpr size_t kMaxQueuedTasks = 64;

  // `backups`, `history`, `rotation` and `gate` must outlive the service.
  AdminServiceImpl(BackupManager* backups, HistoryCore* history, SecretKeyRotation* rotation,
                   const Gatekeeper* gate)
      : backups_(backups),
        history_(history),
        rotation_(rotation),
        gate_(gate),
        pool_(kWorkers, kMaxQueuedTasks) {}

  grpc::ServerWriteReactor<v1::BackupResponse>* Backup(grpc::CallbackServerContext* ctx,
                                                       const v1::BackupRequest* req) override;
  grpc::ServerUnaryReactor* CompactHistory(grpc::CallbackServerContext* ctx,
                                           const v1::CompactHistoryRequest* req,
                                           v1::CompactHistoryResponse* resp) override;
  grpc::ServerUnaryReactor* RotateSecretKey(grpc::CallbackServerContext* ctx,
                                            const v1::RotateSecretKeyRequest* req,
                                            v1::RotateSecretKeyResponse* resp) override;

 private:
  BackupManager* const backups_;
  HistoryCore* const history_;
  SecretKeyRotation* const rotation_;
  const Gatekeeper* const gate_;
  WorkerPool pool_;  // last: joined first
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_ADMIN_SERVICE_H_
