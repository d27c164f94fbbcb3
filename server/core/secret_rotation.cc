#include "server/core/secret_rotation.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace confcenter {

absl::StatusOr<SecretKeyRotation::Report> SecretKeyRotation::Rotate(WriteContext context) {
  if (sealer_ == nullptr) {
    return absl::FailedPreconditionError(
        "this server has no --secret_key_file: it seals no secrets, so there is no key to "
        "rotate");
  }
  if (running_.exchange(true)) {
    return absl::ResourceExhaustedError("a key rotation is running; retry once it has finished");
  }
  absl::Cleanup done = [this] { running_.store(false); };
  const std::string before = sealer_->primary_key_id();
  if (absl::Status s = sealer_->Reload(); !s.ok()) return s;
  if (sealer_->primary_key_id() == before && sealer_->old_key_ids().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--secret_key_file still holds key ", before,
        " and there is no old key: put the new key in --secret_key_file and the current one "
        "in --secret_old_key_files first"));
  }
  Report report;
  report.previous_primary_key_id = before;
  report.primary_key_id = sealer_->primary_key_id();
  report.old_key_ids = sealer_->old_key_ids();
  absl::StatusOr<storage::ResealReport> resealed = store_->ResealSecrets();
  if (!resealed.ok()) return resealed.status();
  report.records_resealed = resealed->resealed;
  report.records_remaining = resealed->remaining;
  AuditTargets targets;
  targets.detail = absl::StrCat("primary key ", before, " -> ", report.primary_key_id,
                                ", old keys [", absl::StrJoin(report.old_key_ids, ", "),
                                "]: re-sealed ", report.records_resealed, " records, ",
                                report.records_remaining, " remain under other keys");
  core_->AuditRead(std::move(context), std::move(targets));
  spdlog::warn(
      "secret key rotation: values are sealed with key {} (was {}); {} records re-sealed, "
      "{} still under other keys",
      report.primary_key_id, before, report.records_resealed, report.records_remaining);
  return report;
}

}  // namespace confcenter
