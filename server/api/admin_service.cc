#include "server/api/admin_service.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/alarm.h"
#include "server/api/grpc_services.h"
#include "server/core/api_convert.h"
#include "spdlog/spdlog.h"

namespace confcenter {
namespace {

using google::protobuf::util::TimeUtil;

void FillManifest(const BackupManifestInfo& in, v1::BackupManifest* out) {
  out->set_revision(in.revision);
  out->set_store_format(in.store_format);
  out->set_store_epoch(in.store_epoch);
  *out->mutable_create_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(in.create_time));
  for (const BackupFileInfo& f : in.files) {
    v1::BackupFile* file = out->add_files();
    file->set_name(f.name);
    file->set_size_bytes(f.size);
    file->set_crc32(f.crc32);
  }
  out->set_total_bytes(in.total_bytes);
}

// Cuts a stream off when its client takes no message for the stall timeout: an alarm armed
// with each write and cancelled by its completion. Shared with the alarms' callbacks, which may
// run after the reactor is gone: they touch the call only while it is not done.
class StallWatch {
 public:
  StallWatch(grpc::CallbackServerContext* ctx, absl::Duration timeout)
      : ctx_(ctx), timeout_(timeout) {}
  // Arms a new alarm for the write just started (the previous one is cancelled).
  static void Arm(const std::shared_ptr<StallWatch>& watch) {
    auto alarm = std::make_unique<grpc::Alarm>();
    alarm->Set(absl::ToChronoTime(absl::Now() + watch->timeout_), [watch](bool fired) {
      if (!fired) return;  // cancelled: the write completed
      absl::MutexLock lock(&watch->mu_);
      if (watch->done_) return;
      spdlog::warn("backup cut off: the client took nothing for {}",
                   absl::FormatDuration(watch->timeout_));
      watch->ctx_->TryCancel();
    });
    absl::MutexLock lock(&watch->mu_);
    watch->alarm_ = std::move(alarm);  // the old alarm's destructor cancels it
  }
  // The write completed: no cut-off for it.
  void Disarm() {
    absl::MutexLock lock(&mu_);
    alarm_.reset();
  }
  // The call is over: alarms still pending do nothing.
  void Done() {
    std::unique_ptr<grpc::Alarm> alarm;
    absl::MutexLock lock(&mu_);
    done_ = true;
    alarm = std::move(alarm_);
  }

 private:
  grpc::CallbackServerContext* const ctx_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::Alarm> alarm_ ABSL_GUARDED_BY(mu_);
};

// One Backup stream. A chain of steps, each on the pool, each ending in one StartWrite or in
// Finish: at most one step or one write at a time, so the job needs no lock and the reactor
// is alive for every step (OnDone only follows Finish). A cancelled stream's pending write
// fails, which ends the chain.
class BackupReactor final : public grpc::ServerWriteReactor<v1::BackupResponse> {
 public:
  BackupReactor(BackupManager* backups, WorkerPool* pool, grpc::CallbackServerContext* ctx)
      : pool_(pool), stall_(std::make_shared<StallWatch>(ctx, backups->options().stall_timeout)) {
    absl::StatusOr<std::unique_ptr<BackupJob>> job = backups->Start();
    if (!job.ok()) {
      Finish(ToGrpcStatus(job.status()));
      return;
    }
    job_ = std::shared_ptr<BackupJob>(*std::move(job));
    Submit(&BackupReactor::PrepareStep);
  }

  void OnWriteDone(bool ok) override {
    stall_->Disarm();
    if (!ok) {  // the client is gone
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "backup: the stream broke"));
      return;
    }
    Submit(sent_done_ ? &BackupReactor::CompleteStep : &BackupReactor::ChunkStep);
  }

  void OnCancel() override { cancelled_.store(true); }

  void OnDone() override {
    stall_->Done();
    // Removing the checkpoint is disk I/O: on the pool (inline only if the pool refuses,
    // which drops the task and with it the last reference).
    if (job_ != nullptr) pool_->TrySubmit([job = std::move(job_)] { job->Close(); });
    delete this;
  }

 private:
  void Submit(void (BackupReactor::*step)()) {
    const bool queued = pool_->TrySubmit([this, step] {
      if (cancelled_.load()) {
        Finish(grpc::Status::CANCELLED);
        return;
      }
      (this->*step)();
    });
    if (!queued) {
      Finish(ToGrpcStatus(absl::UnavailableError("backup: the server is shutting down")));
    }
  }

  void Fail(const absl::Status& status) {
    spdlog::warn("backup failed: {}", status.ToString());
    Finish(ToGrpcStatus(status));
  }

  void PrepareStep() {
    start_ = absl::Now();
    if (absl::Status s = job_->Prepare(); !s.ok()) return Fail(s);
    FillManifest(job_->manifest(), message_.mutable_manifest());
    Write();
  }

  void ChunkStep() {
    absl::StatusOr<std::optional<BackupChunkData>> chunk = job_->NextChunk();
    if (!chunk.ok()) return Fail(chunk.status());
    if (chunk->has_value()) {
      v1::BackupChunk* out = message_.mutable_chunk();
      out->set_file((*chunk)->file->name);
      out->set_offset((*chunk)->offset);
      out->set_data(std::move((*chunk)->data));
    } else {
      v1::BackupDone* done = message_.mutable_done();
      done->set_file_count(static_cast<int64_t>(job_->manifest().files.size()));
      done->set_total_bytes(job_->manifest().total_bytes);
      sent_done_ = true;
    }
    Write();
  }

  void Write() {
    StallWatch::Arm(stall_);
    StartWrite(&message_);
  }

  // The client has everything: remove the checkpoint before saying OK, so a backup that
  // succeeded has left nothing behind.
  void CompleteStep() {
    job_->Close();
    spdlog::info("backup of revision {} sent: {} files, {} bytes in {}", job_->manifest().revision,
                 job_->manifest().files.size(), job_->manifest().total_bytes,
                 absl::FormatDuration(absl::Now() - start_));
    Finish(grpc::Status::OK);
  }

  WorkerPool* const pool_;
  const std::shared_ptr<StallWatch> stall_;
  std::atomic<bool> cancelled_{false};
  // Touched by one step or one write at a time (see the class comment).
  std::shared_ptr<BackupJob> job_;
  v1::BackupResponse message_;
  bool sent_done_ = false;
  absl::Time start_;
};

// A Backup refused before it started.
class RefusedBackup final : public grpc::ServerWriteReactor<v1::BackupResponse> {
 public:
  explicit RefusedBackup(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::BackupResponse>* AdminServiceImpl::Backup(
    grpc::CallbackServerContext* ctx, const v1::BackupRequest* req) {
  // A backup holds every tenant's secrets: admins of every tenant only.
  absl::StatusOr<std::shared_ptr<const auth::Access>> access = gate_->Authenticate(ctx);
  absl::Status allowed = access.status();
  if (allowed.ok()) allowed = (*access)->Require(auth::Right::kAdmin, "");
  if (!allowed.ok()) {
    gate_->AuditRefusal(ctx, access.ok() ? access->get() : nullptr, "AdminService.Backup", "",
                        allowed);
    return new RefusedBackup(allowed);
  }
  return new BackupReactor(backups_, &pool_, ctx);
}

grpc::ServerUnaryReactor* AdminServiceImpl::CompactHistory(grpc::CallbackServerContext* ctx,
                                                           const v1::CompactHistoryRequest* req,
                                                           v1::CompactHistoryResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "AdminService.CompactHistory", "",
      [](const auth::Access& a) { return a.Require(auth::Right::kAdmin, ""); }, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!req->has_older_than()) {
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
        "older_than: required (0s drops every version but each key's last keep_versions)")));
    return reactor;
  }
  const absl::Duration older_than = FromProto(req->older_than());
  if (older_than < absl::ZeroDuration()) {
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("older_than: must not be negative, got ", absl::FormatDuration(older_than)))));
    return reactor;
  }
  if (req->keep_versions() < 0) {
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("keep_versions: must be 0 (--history_keep_versions) or positive, got ",
                     req->keep_versions()))));
    return reactor;
  }
  if (req->keep_change_log_revisions() < 0) {
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "keep_change_log_revisions: must be 0 (leave the change log) or positive, got ",
        req->keep_change_log_revisions()))));
    return reactor;
  }
  const int keep =
      req->keep_versions() > 0 ? req->keep_versions() : history_->options().history_keep_versions;
  // Reads and rewrites the store: on a worker, never on gRPC's thread.
  WriteContext context = gate_->ContextFor(ctx, *access, "AdminService.CompactHistory");
  if (!pool_.TrySubmit(
          [this, req, resp, reactor, older_than, keep, context = std::move(context)]() mutable {
            absl::StatusOr<HistoryCore::CompactionReport> report =
                history_->CompactNow(older_than, keep, req->include_audit(),
                                     req->keep_change_log_revisions(), std::move(context));
            if (report.ok()) {
              resp->set_versions_dropped(report->versions_dropped);
              resp->set_releases_dropped(report->releases_dropped);
              resp->set_audit_records_dropped(report->audit_records_dropped);
              resp->set_change_log_start(report->change_log_start);
              resp->set_store_bytes_before(report->store_bytes_before);
              resp->set_store_bytes_after(report->store_bytes_after);
              resp->set_disk_full(report->disk_full);
            }
            reactor->Finish(ToGrpcStatus(report.status()));
          })) {
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError(
        "the admin workers are busy (backups or compactions); retry")));
  }
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::RotateSecretKey(grpc::CallbackServerContext* ctx,
                                                            const v1::RotateSecretKeyRequest*,
                                                            v1::RotateSecretKeyResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "AdminService.RotateSecretKey", "",
      [](const auth::Access& a) { return a.Require(auth::Right::kAdmin, ""); }, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // Reads and rewrites the store: on a worker, never on gRPC's thread.
  WriteContext context = gate_->ContextFor(ctx, *access, "AdminService.RotateSecretKey");
  if (!pool_.TrySubmit([this, resp, reactor, context = std::move(context)]() mutable {
        absl::StatusOr<SecretKeyRotation::Report> report = rotation_->Rotate(std::move(context));
        if (report.ok()) {
          resp->set_primary_key_id(report->primary_key_id);
          resp->set_previous_primary_key_id(report->previous_primary_key_id);
          for (const std::string& id : report->old_key_ids) resp->add_old_key_ids(id);
          resp->set_records_resealed(report->records_resealed);
          resp->set_records_remaining(report->records_remaining);
        }
        reactor->Finish(ToGrpcStatus(report.status()));
      })) {
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError(
        "the admin workers are busy (backups, compactions or a rotation); retry")));
  }
  return reactor;
}

}  // namespace confcenter
