// Secret values sealed at rest: an entry marked secret is stored with its value encrypted
// (AES-256-GCM, a random nonce per value) in `sealed_value`, never in plain text, in every
// record that carries entries (state, change log, history, releases) and so in every file of
// the data dir, its WAL and its backups. The in-memory state holds the plain values; the
// engine seals on write and opens on read.
#ifndef CONFCENTER_STORAGE_SECRET_SEAL_H_
#define CONFCENTER_STORAGE_SECRET_SEAL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/records.pb.h"

namespace confcenter::storage {

class SecretSealer {
 public:
  static constexpr size_t kKeyBytes = 32;

  // The key in `path`: 64 hex digits (e.g. from `openssl rand -hex 32`; surrounding
  // whitespace ignored) or 32 raw bytes. INVALID_ARGUMENT naming the file otherwise.
  static absl::StatusOr<std::shared_ptr<const SecretSealer>> FromKeyFile(const std::string& path);
  // `key` must be kKeyBytes long.
  static absl::StatusOr<std::shared_ptr<const SecretSealer>> FromKey(std::string key);

  // Moves the value of a secret entry into sealed_value, encrypted; other entries unchanged.
  // INTERNAL if the cipher fails.
  absl::Status Seal(EntryRecord* entry) const;
  // The reverse: DATA_LOSS if the value does not decrypt with this key (another key, or the
  // bytes were changed).
  absl::Status Open(EntryRecord* entry) const;

 private:
  explicit SecretSealer(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// Seals (opens) every entry of `set`. A null `sealer` seals nothing, and opening a sealed
// value without one is FAILED_PRECONDITION asking for the key (--secret_key_file).
absl::Status SealChangeSet(const SecretSealer* sealer, ChangeSet* set);
absl::Status OpenChangeSet(const SecretSealer* sealer, ChangeSet* set);
absl::Status OpenEntry(const SecretSealer* sealer, EntryRecord* entry);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_SECRET_SEAL_H_
