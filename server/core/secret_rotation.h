// Rotation of the key that seals secrets at rest (AdminService.RotateSecretKey): the operator
// puts a new key in --secret_key_file and the old one in --secret_old_key_files, rotates, and
// once nothing remains under the old key, drops it. The server keeps serving throughout.
#ifndef CONFCENTER_SERVER_CORE_SECRET_ROTATION_H_
#define CONFCENTER_SERVER_CORE_SECRET_ROTATION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/config_core.h"
#include "storage/secret_seal.h"
#include "storage/store.h"

namespace confcenter {

class SecretKeyRotation {
 public:
  struct Report {
    std::string primary_key_id;            // the key that seals from now on
    std::string previous_primary_key_id;   // the one that sealed before
    std::vector<std::string> old_key_ids;  // the keys that still only open
    int64_t records_resealed = 0;
    int64_t records_remaining = 0;  // still under another key (0: the old keys can go)
  };

  // `sealer` is the store's (null if the server seals nothing); `store` and `core` must
  // outlive this.
  SecretKeyRotation(std::shared_ptr<const storage::SecretSealer> sealer, storage::Store* store,
                    ConfigCore* core)
      : sealer_(std::move(sealer)), store_(store), core_(core) {}

  // Reads the key files again, so writes are sealed with the (new) primary key from now on,
  // then re-seals every value of the store under another key (Store::ResealSecrets), and
  // records it in the audit log as `context` (the operator) with the key ids and counts.
  // Blocking: call off gRPC's threads. Errors: FAILED_PRECONDITION (no --secret_key_file),
  // FAILED_PRECONDITION also if the key did not change and there is no old key (nothing to
  // rotate to), INVALID_ARGUMENT (a key file cannot be read or is malformed, named, or the
  // files drop the key that seals now; nothing changed),
  // RESOURCE_EXHAUSTED (a rotation is running), those of ResealSecrets.
  absl::StatusOr<Report> Rotate(WriteContext context);

 private:
  const std::shared_ptr<const storage::SecretSealer> sealer_;
  storage::Store* const store_;
  ConfigCore* const core_;
  std::atomic<bool> running_{false};
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_SECRET_ROTATION_H_
