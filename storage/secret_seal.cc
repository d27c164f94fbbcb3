#include "storage/secret_seal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace confcenter::storage {
namespace {

// sealed_value = kFormat | nonce | ciphertext | tag.
constexpr char kFormat = 1;
constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;
// Bound into every tag, so sealed bytes cannot pass for anything else.
constexpr char kAssociatedData[] = "confcenter secret value v1";

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

absl::Status ForEachEntry(ChangeSet* set, absl::Status (*fn)(const SecretSealer*, EntryRecord*),
                          const SecretSealer* sealer) {
  for (Change& change : *set->mutable_changes()) {
    if (change.has_entry()) {
      if (absl::Status s = fn(sealer, change.mutable_entry()); !s.ok()) return s;
    }
    if (change.has_previous_entry()) {
      if (absl::Status s = fn(sealer, change.mutable_previous_entry()); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status SealOne(const SecretSealer* sealer, EntryRecord* entry) {
  return sealer == nullptr ? absl::OkStatus() : sealer->Seal(entry);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SecretSealer>> SecretSealer::FromKeyFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("secret_key_file: cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string bytes = text.str();
  if (bytes.size() != kKeyBytes) {
    const std::string hex(absl::StripAsciiWhitespace(bytes));
    bool is_hex = hex.size() == 2 * kKeyBytes;
    for (char c : hex) is_hex = is_hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
    if (!is_hex) {
      return absl::InvalidArgumentError(
          absl::StrCat("secret_key_file: ", path,
                       " must hold 64 hex digits (openssl rand -hex 32) or 32 raw bytes"));
    }
    bytes = absl::HexStringToBytes(hex);
  }
  return FromKey(std::move(bytes));
}

absl::StatusOr<std::shared_ptr<const SecretSealer>> SecretSealer::FromKey(std::string key) {
  if (key.size() != kKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a secret key has ", kKeyBytes, " bytes"));
  }
  return std::shared_ptr<const SecretSealer>(new SecretSealer(std::move(key)));
}

absl::Status SecretSealer::Seal(EntryRecord* entry) const {
  if (!entry->secret() || entry->mask() || !entry->sealed_value().empty()) {
    return absl::OkStatus();
  }
  const std::string& plain = entry->value();
  std::string sealed(1 + kNonceBytes + plain.size() + kTagBytes, '\0');
  sealed[0] = kFormat;
  auto* nonce = reinterpret_cast<unsigned char*>(&sealed[1]);
  auto* out = nonce + kNonceBytes;
  if (RAND_bytes(nonce, kNonceBytes) != 1) return absl::InternalError("no random nonce");
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  int total = 0;
  const auto* key = reinterpret_cast<const unsigned char*>(key_.data());
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key, nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(kAssociatedData),
                        sizeof(kAssociatedData) - 1) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1) {
    return absl::InternalError("sealing a secret value failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), out + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out + plain.size()) != 1) {
    return absl::InternalError("sealing a secret value failed");
  }
  entry->set_sealed_value(std::move(sealed));
  entry->clear_value();
  return absl::OkStatus();
}

absl::Status SecretSealer::Open(EntryRecord* entry) const {
  const std::string& sealed = entry->sealed_value();
  if (sealed.empty()) return absl::OkStatus();
  if (sealed.size() < 1 + kNonceBytes + kTagBytes || sealed[0] != kFormat) {
    return absl::DataLossError("a sealed secret value is malformed");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(&sealed[1]);
  const auto* cipher = nonce + kNonceBytes;
  const int cipher_len = static_cast<int>(sealed.size()) - 1 - kNonceBytes - kTagBytes;
  std::string plain(static_cast<size_t>(cipher_len), '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const auto* key = reinterpret_cast<const unsigned char*>(key_.data());
  std::string tag(sealed.end() - kTagBytes, sealed.end());
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key, nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(kAssociatedData),
                              sizeof(kAssociatedData) - 1) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                              cipher, cipher_len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1;
  int final_len = 0;
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                                 &final_len) == 1;
  if (!ok) {
    return absl::DataLossError(
        "a sealed secret value does not open with this key (another --secret_key_file, or "
        "the store was changed)");
  }
  entry->set_value(std::move(plain));
  entry->clear_sealed_value();
  return absl::OkStatus();
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
  return ForEachEntry(set, &SealOne, sealer);
}

absl::Status OpenChangeSet(const SecretSealer* sealer, ChangeSet* set) {
  return ForEachEntry(set, &OpenEntry, sealer);
}

}  // namespace confcenter::storage
