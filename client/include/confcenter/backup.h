// Backups of a confcenterd store on disk: the files of a RocksDB checkpoint plus
// confcenter-backup.json (a v1.BackupManifest in JSON: revision, files, sizes, CRC-32s).
// Client::Backup writes one; these functions check it and restore it, offline (no server).
#ifndef CONFCENTER_CLIENT_BACKUP_H_
#define CONFCENTER_CLIENT_BACKUP_H_

#include <string>

#include "absl/status/statusor.h"
#include "confcenter/v1/admin.pb.h"

namespace confcenter {

// The manifest's file name inside a backup directory. It is written last: a directory without
// it is not a (complete) backup.
inline constexpr char kBackupManifestFile[] = "confcenter-backup.json";

// Reads `dir`/confcenter-backup.json. NOT_FOUND if it is absent (not a backup, or an
// incomplete one); DATA_LOSS if it is not a valid manifest.
absl::StatusOr<v1::BackupManifest> ReadBackupManifest(const std::string& dir);

// Reads the manifest and checks every file it lists: present, with its size and CRC-32.
// DATA_LOSS naming the first file that differs. Files not listed are ignored.
absl::StatusOr<v1::BackupManifest> VerifyBackup(const std::string& dir);

// Copies the backup in `backup_dir` into `data_dir`, checking every file against the manifest
// as it goes, and syncs it; `confcenterd --data_dir=<data_dir>` then serves the backup's
// revision. The restored store starts a new epoch when confcenterd opens it, so subscribers
// resuming with a revision of the backup's epoch (or any other) get a resync snapshot, never
// a replay of the writes made since. `data_dir` must not exist or be empty (FAILED_PRECONDITION
// otherwise); it is created. Errors: those of VerifyBackup (nothing is left in `data_dir`),
// UNAVAILABLE if a file cannot be written. Returns the manifest.
absl::StatusOr<v1::BackupManifest> RestoreBackup(const std::string& backup_dir,
                                                 const std::string& data_dir);

}  // namespace confcenter

#endif  // CONFCENTER_CLIENT_BACKUP_H_
