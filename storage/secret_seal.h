// Secret values sealed at rest: an entry marked secret is stored with its value encrypted
// (AES-256-GCM, a random nonce per value) in `sealed_value`, never in plain text, in every
// record that carries entries (state, change log, history, releases) and so in every file of
// the data dir, its WAL and its backups. The in-memory state holds the plain values; the
// engine seals on write and opens on read.
//
// Every sealed value names the key that sealed it (a key id: the first 8 bytes of a SHA-256
// of the key, as 16 hex digits, which says nothing about the key). A sealer holds one primary
// key, which seals, and any number of old keys, which only open: rotating the key is "make a
// new primary, keep the old one as old, re-seal everything (Store::ResealSecrets), drop the
// old one".
#ifndef CONFCENTER_STORAGE_SECRET_SEAL_H_
#define CONFCENTER_STORAGE_SECRET_SEAL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/records.pb.h"

namespace confcenter::storage {

// Thread-safe. Reload swaps the keys while Seal and Open run.
class SecretSealer {
 public:
  static constexpr size_t kKeyBytes = 32;

  // The keys in files: `primary_path` seals (and opens), each of `old_paths` only opens (an
  // old path that does not exist holds no key: a Kubernetes Secret without that item). A key
  // file holds 64 hex digits (e.g. from `openssl rand -hex 32`; surrounding whitespace
  // ignored) or 32 raw bytes. INVALID_ARGUMENT naming the file otherwise.
  static absl::StatusOr<std::shared_ptr<const SecretSealer>> FromKeyFiles(
      const std::string& primary_path, const std::vector<std::string>& old_paths);
  static absl::StatusOr<std::shared_ptr<const SecretSealer>> FromKeyFile(const std::string& path) {
    return FromKeyFiles(path, {});
  }
  // Keys given directly (tests); each must be kKeyBytes long. Reload keeps them.
  static absl::StatusOr<std::shared_ptr<const SecretSealer>> FromKeys(
      std::string primary, std::vector<std::string> old_keys = {});
  static absl::StatusOr<std::shared_ptr<const SecretSealer>> FromKey(std::string key) {
    return FromKeys(std::move(key));
  }

  // Moves the value of a secret entry into sealed_value, encrypted with the primary key;
  // other entries, and entries already sealed, unchanged. INTERNAL if the cipher fails.
  absl::Status Seal(EntryRecord* entry) const;
  // The reverse, with the key the value names. A key id this sealer does not hold makes it
  // read its key files again first (another replica may have rotated to a key the files now
  // hold; at most once a second), then FAILED_PRECONDITION naming the key id. DATA_LOSS if the
  // value does not decrypt (the bytes were changed).
  absl::Status Open(EntryRecord* entry) const;
  // Re-encrypts a sealed value that is not sealed with the primary key, and seals a secret
  // stored in plain text (written before the store had a key); true if it did. Errors as
  // Open's.
  absl::StatusOr<bool> Reseal(EntryRecord* entry) const;
  // Whether `entry` holds a value sealed with another key than the primary, or a secret in
  // plain text.
  bool NeedsReseal(const EntryRecord& entry) const;

  // Reads the key files again (the primary may have changed; old keys may have been added or
  // removed). INVALID_ARGUMENT, and the keys stay as they were, if a file is malformed
  // (named) or if the files drop the key that seals now (values may be sealed with it).
  // Keys given directly: OK.
  absl::Status Reload() const;
  // The primary key's id; the ids of the old keys.
  std::string primary_key_id() const;
  std::vector<std::string> old_key_ids() const;

 private:
  struct Key {
    std::string id;     // 8 bytes
    std::string bytes;  // kKeyBytes
  };
  struct Keys {
    Key primary;
    std::vector<Key> old;
  };
  SecretSealer(std::shared_ptr<const Keys> keys, std::string primary_path,
               std::vector<std::string> old_paths)
      : keys_(std::move(keys)),
        primary_path_(std::move(primary_path)),
        old_paths_(std::move(old_paths)) {}
  static absl::StatusOr<std::shared_ptr<const Keys>> ReadKeys(
      const std::string& primary_path, const std::vector<std::string>& old_paths);
  static absl::StatusOr<std::shared_ptr<const Keys>> MakeKeys(std::string primary,
                                                              std::vector<std::string> old);
  std::shared_ptr<const Keys> keys() const;
  // The key that sealed `sealed` (format 2), or for format 1 (no id) every key to try.
  std::vector<const Key*> KeysFor(const Keys& keys, const std::string& sealed) const;

  mutable absl::Mutex reload_mu_;  // one Reload at a time
  mutable absl::Mutex mu_;
  mutable std::shared_ptr<const Keys> keys_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time last_reload_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  const std::string primary_path_;  // empty: keys given directly
  const std::vector<std::string> old_paths_;
};

// Seals (opens) every entry of `set`. A null `sealer` seals nothing, and opening a sealed
// value without one is FAILED_PRECONDITION asking for the key (--secret_key_file).
absl::Status SealChangeSet(const SecretSealer* sealer, ChangeSet* set);
absl::Status OpenChangeSet(const SecretSealer* sealer, ChangeSet* set);
absl::Status OpenEntry(const SecretSealer* sealer, EntryRecord* entry);
// Reseals every entry of `set` (see SecretSealer::Reseal); true if any changed.
absl::StatusOr<bool> ResealChangeSet(const SecretSealer& sealer, ChangeSet* set);
// Whether any entry of `set` needs resealing.
bool ChangeSetNeedsReseal(const SecretSealer& sealer, const ChangeSet& set);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_SECRET_SEAL_H_
