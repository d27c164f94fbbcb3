#include "storage/store_epoch.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"

namespace confcenter::storage {

absl::StatusOr<std::string> NewStoreEpoch() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("no random bytes for a store epoch");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace confcenter::storage
