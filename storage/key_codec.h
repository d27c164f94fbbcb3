// Encoding of storage keys. Names never contain '\0', so '\0' separates the components: a
// tenant's range (EntryPrefix(tenant)) can never include another tenant's keys, even when
// one name is a prefix of the other ("feat-login" vs "feat-login-2").
#ifndef CONFCENTER_STORAGE_KEY_CODEC_H_
#define CONFCENTER_STORAGE_KEY_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "storage/store.h"

namespace confcenter::storage {

// "tenant\0service\0key".
std::string EncodeEntryKey(const EntryKey& key);
// Inverse of EncodeEntryKey; nullopt if `encoded` does not have exactly three components.
std::optional<EntryKey> DecodeEntryKey(absl::string_view encoded);
// "tenant\0": every entry key of `tenant` and no other starts with it.
std::string EntryPrefix(absl::string_view tenant);
// "tenant\0service\0": every entry key of (tenant, service) and no other starts with it.
std::string EntryPrefix(absl::string_view tenant, absl::string_view service);

// Big-endian 8 bytes, so byte order equals numeric order (revisions are never negative).
std::string EncodeRevision(int64_t revision);
// Inverse of EncodeRevision; nullopt unless `encoded` is 8 bytes.
std::optional<int64_t> DecodeRevision(absl::string_view encoded);

// History keys: "tenant\0service\0key\0" + EncodeRevision(revision). One key's versions are
// contiguous and ordered by revision; "tenant\0service\0key\1" sorts after all of them and
// before any other key's ("feat-login" vs "feat-login-2", "a" vs "a.b").
std::string EncodeHistoryKey(const EntryKey& key, int64_t revision);
// Inverse of EncodeHistoryKey; nullopt if malformed.
std::optional<std::pair<EntryKey, int64_t>> DecodeHistoryKey(absl::string_view encoded);
// "tenant\0service\0key\0": the prefix of every version of exactly that key.
std::string HistoryKeyPrefix(const EntryKey& key);
// "tenant\0service\0key\1": sorts right after the key's last version.
std::string HistoryKeyEnd(const EntryKey& key);

// Release index keys: "tenant\0" + EncodeRevision(revision).
std::string EncodeReleaseIndexKey(absl::string_view tenant, int64_t revision);

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_KEY_CODEC_H_
