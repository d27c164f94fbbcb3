#include "storage/secret_seal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace confcenter::storage {
namespace {

// Format 1 (before key ids): kFormat1 | nonce | ciphertext | tag, with kAssociatedData1.
// Format 2: kFormat2 | key id | nonce | ciphertext | tag, with kAssociatedData2 + key id.
constexpr char kFormat1 = 1;
constexpr char kFormat2 = 2;
constexpr size_t kKeyIdBytes = 8;
constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;
// Bound into every tag, so sealed bytes cannot pass for anything else.
constexpr char kAssociatedData1[] = "confcenter secret value v1";
constexpr char kAssociatedData2[] = "confcenter secret value v2";
// Hashed with the key into its id.
constexpr char kKeyIdContext[] = "confcenter secret key id";

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string HexId(const std::string& id) { return absl::BytesToHexString(id); }

absl::StatusOr<std::string> KeyIdOf(const std::string& key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const std::string input = absl::StrCat(kKeyIdContext, key);
  if (EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("hashing a secret key failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), kKeyIdBytes);
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& flag, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) {
    return absl::NotFoundError(absl::StrCat(flag, ": ", path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string bytes = text.str();
  if (bytes.size() != SecretSealer::kKeyBytes) {
    const std::string hex(absl::StripAsciiWhitespace(bytes));
    bool is_hex = hex.size() == 2 * SecretSealer::kKeyBytes;
    for (char c : hex) is_hex = is_hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
    if (!is_hex) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": ", path, " must hold 64 hex digits (openssl rand -hex 32) or 32 raw bytes"));
    }
    bytes = absl::HexStringToBytes(hex);
  }
  return bytes;
}

// AES-256-GCM of `plain` under `key` and `nonce` with `aad`; writes ciphertext then tag to
// `out` (plain.size() + kTagBytes bytes).
bool Encrypt(const std::string& key, const unsigned char* nonce, const std::string& aad,
             const std::string& plain, unsigned char* out) {
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, k, nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1) {
    return false;
  }
  const int total = len;
  return EVP_EncryptFinal_ex(ctx.get(), out + total, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out + plain.size()) == 1;
}

// The reverse of Encrypt over `cipher` (ciphertext then tag); false if it does not verify.
bool Decrypt(const std::string& key, const unsigned char* nonce, const std::string& aad,
             absl::string_view cipher, std::string* plain) {
  const int cipher_len = static_cast<int>(cipher.size()) - kTagBytes;
  plain->assign(static_cast<size_t>(cipher_len), '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  std::string tag(cipher.end() - kTagBytes, cipher.end());
  int final_len = 0;
  return ctx != nullptr &&
         EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
         EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, k, nonce) == 1 &&
         EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                           reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size())) == 1 &&
         EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain->data()), &len,
                           reinterpret_cast<const unsigned char*>(cipher.data()),
                           cipher_len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
         EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain->data()) + len,
                             &final_len) == 1;
}

// Calls fn on every entry of `set` until one fails.
template <typename Fn>
absl::Status ForEachEntry(ChangeSet* set, Fn fn) {
  for (Change& change : *set->mutable_changes()) {
    if (change.has_entry()) {
      if (absl::Status s = fn(change.mutable_entry()); !s.ok()) return s;
    }
    if (change.has_previous_entry()) {
      if (absl::Status s = fn(change.mutable_previous_entry()); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SecretSealer::Keys>> SecretSealer::MakeKeys(
    std::string primary, std::vector<std::string> old) {
  auto keys = std::make_shared<Keys>();
  auto make = [](std::string bytes) -> absl::StatusOr<Key> {
    if (bytes.size() != kKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat("a secret key has ", kKeyBytes, " bytes"));
    }
    absl::StatusOr<std::string> id = KeyIdOf(bytes);
    if (!id.ok()) return id.status();
    return Key{*std::move(id), std::move(bytes)};
  };
  absl::StatusOr<Key> p = make(std::move(primary));
  if (!p.ok()) return p.status();
  keys->primary = *std::move(p);
  for (std::string& bytes : old) {
    absl::StatusOr<Key> k = make(std::move(bytes));
    if (!k.ok()) return k.status();
    if (k->id != keys->primary.id) keys->old.push_back(*std::move(k));
  }
  return std::shared_ptr<const Keys>(std::move(keys));
}

absl::StatusOr<std::shared_ptr<const SecretSealer::Keys>> SecretSealer::ReadKeys(
    const std::string& primary_path, const std::vector<std::string>& old_paths) {
  absl::StatusOr<std::string> primary = ReadKeyFile("secret_key_file", primary_path);
  if (absl::IsNotFound(primary.status())) {
    return absl::InvalidArgumentError(primary.status().message());
  }
  if (!primary.ok()) return primary.status();
  std::vector<std::string> old;
  for (const std::string& path : old_paths) {
    absl::StatusOr<std::string> key = ReadKeyFile("secret_old_key_files", path);
    if (absl::IsNotFound(key.status())) continue;  // no old key there (yet, or any more)
    if (!key.ok()) return key.status();
    old.push_back(*std::move(key));
  }
  return MakeKeys(*std::move(primary), std::move(old));
}

absl::StatusOr<std::shared_ptr<const SecretSealer>> SecretSealer::FromKeyFiles(
    const std::string& primary_path, const std::vector<std::string>& old_paths) {
  absl::StatusOr<std::shared_ptr<const Keys>> keys = ReadKeys(primary_path, old_paths);
  if (!keys.ok()) return keys.status();
  return std::shared_ptr<const SecretSealer>(
      new SecretSealer(*std::move(keys), primary_path, old_paths));
}

absl::StatusOr<std::shared_ptr<const SecretSealer>> SecretSealer::FromKeys(
    std::string primary, std::vector<std::string> old_keys) {
  absl::StatusOr<std::shared_ptr<const Keys>> keys =
      MakeKeys(std::move(primary), std::move(old_keys));
  if (!keys.ok()) return keys.status();
  return std::shared_ptr<const SecretSealer>(new SecretSealer(*std::move(keys), "", {}));
}

std::shared_ptr<const SecretSealer::Keys> SecretSealer::keys() const {
  absl::MutexLock lock(&mu_);
  return keys_;
}

absl::Status SecretSealer::Reload() const {
  if (primary_path_.empty()) return absl::OkStatus();
  absl::MutexLock reload_lock(&reload_mu_);  // the files read last are the ones installed
  {
    absl::MutexLock lock(&mu_);
    last_reload_ = absl::Now();
  }
  absl::StatusOr<std::shared_ptr<const Keys>> keys = ReadKeys(primary_path_, old_paths_);
  if (!keys.ok()) return keys.status();
  // Values may be sealed with the key that seals now: the files must keep it.
  const Key& current = this->keys()->primary;
  const bool kept = (*keys)->primary.id == current.id ||
                    std::any_of((*keys)->old.begin(), (*keys)->old.end(),
                                [&](const Key& k) { return k.id == current.id; });
  if (!kept) {
    return absl::InvalidArgumentError(absl::StrCat(
        "secret_old_key_files: the key files no longer hold key ", HexId(current.id),
        ", which seals values now: keep it in --secret_old_key_files until a rotation has "
        "re-sealed them (nothing changed)"));
  }
  absl::MutexLock lock(&mu_);
  keys_ = *std::move(keys);
  return absl::OkStatus();
}

std::string SecretSealer::primary_key_id() const { return HexId(keys()->primary.id); }

std::vector<std::string> SecretSealer::old_key_ids() const {
  std::vector<std::string> ids;
  for (const Key& key : keys()->old) ids.push_back(HexId(key.id));
  return ids;
}

std::vector<const SecretSealer::Key*> SecretSealer::KeysFor(const Keys& keys,
                                                            const std::string& sealed) const {
  std::vector<const Key*> all = {&keys.primary};
  for (const Key& key : keys.old) all.push_back(&key);
  if (sealed[0] == kFormat1) return all;
  std::vector<const Key*> named;
  for (const Key* key : all) {
    if (sealed.compare(1, kKeyIdBytes, key->id) == 0) named.push_back(key);
  }
  return named;
}

absl::Status SecretSealer::Seal(EntryRecord* entry) const {
  if (!entry->secret() || entry->mask() || !entry->sealed_value().empty()) {
    return absl::OkStatus();
  }
  const std::shared_ptr<const Keys> keys = this->keys();
  const Key& key = keys->primary;
  const std::string& plain = entry->value();
  std::string sealed(1 + kKeyIdBytes + kNonceBytes + plain.size() + kTagBytes, '\0');
  sealed[0] = kFormat2;
  sealed.replace(1, kKeyIdBytes, key.id);
  auto* nonce = reinterpret_cast<unsigned char*>(&sealed[1 + kKeyIdBytes]);
  if (RAND_bytes(nonce, kNonceBytes) != 1) return absl::InternalError("no random nonce");
  if (!Encrypt(key.bytes, nonce, absl::StrCat(kAssociatedData2, key.id), plain,
               nonce + kNonceBytes)) {
    return absl::InternalError("sealing a secret value failed");
  }
  entry->set_sealed_value(std::move(sealed));
  entry->clear_value();
  return absl::OkStatus();
}

absl::Status SecretSealer::Open(EntryRecord* entry) const {
  const std::string& sealed = entry->sealed_value();
  if (sealed.empty()) return absl::OkStatus();
  const bool v2 = sealed[0] == kFormat2;
  const size_t header = 1 + (v2 ? kKeyIdBytes : 0) + kNonceBytes;
  if ((sealed[0] != kFormat1 && !v2) || sealed.size() < header + kTagBytes) {
    return absl::DataLossError("a sealed secret value is malformed");
  }
  std::shared_ptr<const Keys> keys = this->keys();
  std::vector<const Key*> candidates = KeysFor(*keys, sealed);
  if (candidates.empty()) {
    bool reload = false;
    {
      absl::MutexLock lock(&mu_);
      reload = absl::Now() - last_reload_ >= absl::Seconds(1);
    }
    if (reload && Reload().ok()) {
      keys = this->keys();
      candidates = KeysFor(*keys, sealed);
    }
    if (candidates.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a secret value is sealed with key ", HexId(sealed.substr(1, kKeyIdBytes)),
          ", which neither --secret_key_file nor --secret_old_key_files holds (this server has "
          "key ",
          HexId(keys->primary.id), keys->old.empty() ? "" : " and old keys ",
          absl::StrJoin(old_key_ids(), ", "), ")"));
    }
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(&sealed[header - kNonceBytes]);
  const absl::string_view cipher = absl::string_view(sealed).substr(header);
  std::string plain;
  for (const Key* key : candidates) {
    const std::string aad =
        v2 ? absl::StrCat(kAssociatedData2, key->id) : std::string(kAssociatedData1);
    if (Decrypt(key->bytes, nonce, aad, cipher, &plain)) {
      entry->set_value(std::move(plain));
      entry->clear_sealed_value();
      return absl::OkStatus();
    }
  }
  return absl::DataLossError(
      v2 ? "a sealed secret value does not open with the key it names (the store was changed)"
         : "a sealed secret value does not open with any key of --secret_key_file or "
           "--secret_old_key_files");
}

bool SecretSealer::NeedsReseal(const EntryRecord& entry) const {
  const std::string& sealed = entry.sealed_value();
  // A secret written before the store had a key is stored as written: seal it now.
  if (sealed.empty()) return entry.secret() && !entry.mask() && !entry.value().empty();
  if (sealed[0] != kFormat2 || sealed.size() < 1 + kKeyIdBytes) return true;
  return sealed.compare(1, kKeyIdBytes, keys()->primary.id) != 0;
}

absl::StatusOr<bool> SecretSealer::Reseal(EntryRecord* entry) const {
  if (!NeedsReseal(*entry)) return false;
  if (absl::Status s = Open(entry); !s.ok()) return s;
  if (absl::Status s = Seal(entry); !s.ok()) return s;
  return true;
}

absl::Status OpenEntry(const SecretSealer* sealer, EntryRecord* entry) {
  if (entry->sealed_value().empty()) return absl::OkStatus();
  if (sealer == nullptr) {
    return absl::FailedPreconditionError(
        "the store holds sealed secret values: start with the --secret_key_file that sealed "
        "them");
  }
  return sealer->Open(entry);
}

absl::Status SealChangeSet(const SecretSealer* sealer, ChangeSet* set) {
  if (sealer == nullptr) return absl::OkStatus();
  return ForEachEntry(set, [sealer](EntryRecord* e) { return sealer->Seal(e); });
}

absl::Status OpenChangeSet(const SecretSealer* sealer, ChangeSet* set) {
  return ForEachEntry(set, [sealer](EntryRecord* e) { return OpenEntry(sealer, e); });
}

absl::StatusOr<bool> ResealChangeSet(const SecretSealer& sealer, ChangeSet* set) {
  bool changed = false;
  absl::Status status = ForEachEntry(set, [&](EntryRecord* e) -> absl::Status {
    absl::StatusOr<bool> resealed = sealer.Reseal(e);
    if (!resealed.ok()) return resealed.status();
    changed = changed || *resealed;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return changed;
}

bool ChangeSetNeedsReseal(const SecretSealer& sealer, const ChangeSet& set) {
  for (const Change& change : set.changes()) {
    if ((change.has_entry() && sealer.NeedsReseal(change.entry())) ||
        (change.has_previous_entry() && sealer.NeedsReseal(change.previous_entry()))) {
      return true;
    }
  }
  return false;
}

}  // namespace confcenter::storage
