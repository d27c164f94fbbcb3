#include "storage/key_codec.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace confcenter::storage {

namespace {
constexpr char kSep = '\0';
}  // namespace

std::string EncodeEntryKey(const EntryKey& key) {
  std::string out;
  out.reserve(key.tenant.size() + key.service.size() + key.key.size() + 2);
  absl::StrAppend(&out, key.tenant, absl::string_view(&kSep, 1), key.service,
                  absl::string_view(&kSep, 1), key.key);
  return out;
}

std::optional<EntryKey> DecodeEntryKey(absl::string_view encoded) {
  std::vector<absl::string_view> parts = absl::StrSplit(encoded, kSep);
  if (parts.size() != 3) return std::nullopt;
  return EntryKey{std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
}

std::string EntryPrefix(absl::string_view tenant) {
  std::string out(tenant.data(), tenant.size());
  out.push_back(kSep);
  return out;
}

std::string EntryPrefix(absl::string_view tenant, absl::string_view service) {
  std::string out = EntryPrefix(tenant);
  out.append(service.data(), service.size());
  out.push_back(kSep);
  return out;
}

std::string EncodeRevision(int64_t revision) {
  std::string out(8, '\0');
  uint64_t v = static_cast<uint64_t>(revision);
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::optional<int64_t> DecodeRevision(absl::string_view encoded) {
  if (encoded.size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (unsigned char c : encoded) v = (v << 8) | c;
  return static_cast<int64_t>(v);
}

std::string HistoryKeyPrefix(const EntryKey& key) {
  std::string out = EncodeEntryKey(key);
  out.push_back(kSep);
  return out;
}

std::string HistoryKeyEnd(const EntryKey& key) {
  std::string out = EncodeEntryKey(key);
  out.push_back('\1');
  return out;
}

std::string EncodeHistoryKey(const EntryKey& key, int64_t revision) {
  std::string out = HistoryKeyPrefix(key);
  out += EncodeRevision(revision);
  return out;
}

std::optional<std::pair<EntryKey, int64_t>> DecodeHistoryKey(absl::string_view encoded) {
  if (encoded.size() < 9 || encoded[encoded.size() - 9] != kSep) return std::nullopt;
  std::optional<int64_t> revision = DecodeRevision(encoded.substr(encoded.size() - 8));
  std::optional<EntryKey> key = DecodeEntryKey(encoded.substr(0, encoded.size() - 9));
  if (!revision || !key) return std::nullopt;
  return std::make_pair(*std::move(key), *revision);
}

std::string EncodeReleaseIndexKey(absl::string_view tenant, int64_t revision) {
  std::string out = EntryPrefix(tenant);
  out += EncodeRevision(revision);
  return out;
}

}  // namespace confcenter::storage
