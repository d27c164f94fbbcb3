// backup and restore: an online backup of the server into a directory, and its restore into
// a new data dir (offline).
#include <iomanip>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/confctl/commands.h"
#include "confcenter/backup.h"

namespace confcenter::confctl {
namespace {

std::string Seconds(absl::Duration d) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << absl::ToDoubleSeconds(d);
  return out.str();
}

}  // namespace

absl::Status RunBackup(const Context& ctx, const std::string& dir) {
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::BackupManifest> manifest = ctx.client->Backup(dir);
  if (!manifest.ok()) return manifest.status();
  const absl::Duration took = absl::Now() - start;
  if (ctx.format != OutputFormat::kTable) {
    nlohmann::ordered_json doc = ProtoToJson(*manifest);
    doc["dir"] = dir;
    doc["seconds"] = absl::ToDoubleSeconds(took);
    PrintDocument(doc, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  *ctx.out << "backup of revision " << manifest->revision() << " in " << dir << ": "
           << manifest->files_size() << " files, " << manifest->total_bytes() << " bytes, "
           << Seconds(took) << " s" << std::endl;
  return absl::OkStatus();
}

absl::Status RunRestore(const Context& ctx, const RestoreArgs& args) {
  absl::StatusOr<v1::BackupManifest> manifest = RestoreBackup(args.backup_dir, args.data_dir);
  if (!manifest.ok()) return manifest.status();
  const std::string next = absl::StrCat("confcenterd --data_dir=", args.data_dir);
  const std::string epoch =
      manifest->store_epoch().empty() ? "(not recorded)" : manifest->store_epoch();
  // What every subscriber will see: nothing of the writes after the backup, and a resync
  // rather than a resume, whatever revision it had.
  const std::string clients = absl::StrCat(
      "the server will serve revision ", manifest->revision(),
      " in a new epoch: writes acknowledged after it (in epoch ", epoch,
      ") are not in this store; every subscriber resuming from a revision of the old epoch "
      "gets a resync snapshot of the restored view (client library: its callbacks see the "
      "differences), and new writes continue from revision ",
      manifest->revision() + 1);
  if (ctx.format != OutputFormat::kTable) {
    nlohmann::ordered_json doc = ProtoToJson(*manifest);
    doc["data_dir"] = args.data_dir;
    doc["clients"] = clients;
    doc["next"] = next;
    PrintDocument(doc, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  *ctx.out << "restored revision " << manifest->revision() << " (" << manifest->files_size()
           << " files, " << manifest->total_bytes() << " bytes, checked) into " << args.data_dir
           << "\n"
           << clients << "\nnext: " << next << std::endl;
  return absl::OkStatus();
}

absl::Status RunRotateSecretKey(const Context& ctx) {
  absl::StatusOr<v1::RotateSecretKeyResponse> rotated =
      ctx.client->RotateSecretKey(v1::RotateSecretKeyRequest());
  if (!rotated.ok()) return rotated.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintDocument(ProtoToJson(*rotated), ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  *ctx.out << "secret values are sealed with key " << rotated->primary_key_id() << " (was "
           << rotated->previous_primary_key_id() << "); " << rotated->records_resealed()
           << " records re-sealed; ";
  if (rotated->records_remaining() == 0) {
    *ctx.out << "none is left under an old key"
             << (rotated->old_key_ids().empty() ? "" : ": the old keys can be removed") << "\n";
  } else {
    *ctx.out << rotated->records_remaining()
             << " still under other keys (written meanwhile by a replica with an older key: "
                "rotate there, then here again)\n";
  }
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
