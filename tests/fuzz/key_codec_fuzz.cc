// The storage key codec (storage/key_codec.h): encodings round-trip, byte order of encoded
// keys is the order of the tuples they encode (so range scans see one tenant, one key's
// versions by revision), prefixes select exactly their tenant / service, and decoding
// arbitrary bytes either fails or gives back something that encodes to those bytes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

#include "absl/strings/escaping.h"
#include "storage/key_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace confcenter::storage {
namespace {

// A name as the server allows it in a key component: anything but '\0' (the separator).
std::string Name(FuzzedDataProvider& in) {
  std::string s = in.ConsumeRandomLengthString(40);
  for (char& c : s) {
    if (c == '\0') c = 'a';
  }
  return s;
}

int Sign(int c) { return (c > 0) - (c < 0); }

std::string Show(const EntryKey& k) {
  return absl::CHexEscape(k.tenant) + "/" + absl::CHexEscape(k.service) + "/" +
         absl::CHexEscape(k.key);
}

// Byte order, as RocksDB's default comparator sees it.
int CompareBytes(const std::string& a, const std::string& b) { return Sign(a.compare(b)); }

int CompareTuples(const EntryKey& a, const EntryKey& b) {
  // std::string compares by char_traits<char>, which compares as unsigned char.
  return Sign(
      std::tie(a.tenant, a.service, a.key) < std::tie(b.tenant, b.service, b.key)
          ? -1
          : (std::tie(b.tenant, b.service, b.key) < std::tie(a.tenant, a.service, a.key) ? 1 : 0));
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace
}  // namespace confcenter::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter::storage;
  FuzzedDataProvider in(data, size);
  const EntryKey a{Name(in), Name(in), Name(in)};
  const EntryKey b{Name(in), Name(in), Name(in)};
  // Revisions are never negative in the store.
  const int64_t ra = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
  const int64_t rb = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
  const std::string raw = in.ConsumeRemainingBytesAsString();
  const std::string ctx =
      Show(a) + " @" + std::to_string(ra) + " vs " + Show(b) + " @" + std::to_string(rb);

  // Round trips.
  const std::string ea = EncodeEntryKey(a), eb = EncodeEntryKey(b);
  std::optional<EntryKey> da = DecodeEntryKey(ea);
  FUZZ_CHECK(da && *da == a, ctx);
  const std::string ha = EncodeHistoryKey(a, ra), hb = EncodeHistoryKey(b, rb);
  auto dh = DecodeHistoryKey(ha);
  FUZZ_CHECK(dh && dh->first == a && dh->second == ra, ctx);
  FUZZ_CHECK(DecodeRevision(EncodeRevision(ra)) == ra, ctx);

  // Order: encoded bytes sort as the tuples do.
  const int tuple_order = CompareTuples(a, b);
  FUZZ_CHECK(CompareBytes(ea, eb) == tuple_order, ctx);
  const int history_order = tuple_order != 0 ? tuple_order : Sign(ra < rb ? -1 : (ra > rb));
  FUZZ_CHECK(CompareBytes(ha, hb) == history_order, ctx);
  FUZZ_CHECK(CompareBytes(EncodeRevision(ra), EncodeRevision(rb)) == Sign(ra < rb ? -1 : (ra > rb)),
             ctx);
  const int release_order =
      a.tenant != b.tenant ? Sign(a.tenant.compare(b.tenant)) : Sign(ra < rb ? -1 : (ra > rb));
  FUZZ_CHECK(CompareBytes(EncodeReleaseIndexKey(a.tenant, ra),
                          EncodeReleaseIndexKey(b.tenant, rb)) == release_order,
             ctx);

  // One key's versions lie in [HistoryKeyPrefix, HistoryKeyEnd); every other key's outside.
  FUZZ_CHECK(StartsWith(ha, HistoryKeyPrefix(a)), ctx);
  FUZZ_CHECK(ha < HistoryKeyEnd(a), ctx);
  const bool hb_in_a = hb >= HistoryKeyPrefix(a) && hb < HistoryKeyEnd(a);
  FUZZ_CHECK(hb_in_a == (tuple_order == 0), ctx);

  // Prefixes select exactly their tenant, or tenant and service.
  FUZZ_CHECK(StartsWith(eb, EntryPrefix(a.tenant)) == (a.tenant == b.tenant), ctx);
  FUZZ_CHECK(StartsWith(hb, EntryPrefix(a.tenant)) == (a.tenant == b.tenant), ctx);
  FUZZ_CHECK(StartsWith(eb, EntryPrefix(a.tenant, a.service)) ==
                 (a.tenant == b.tenant && a.service == b.service),
             ctx);

  // Arbitrary bytes: a successful decode is the inverse of encoding.
  if (std::optional<EntryKey> k = DecodeEntryKey(raw)) {
    FUZZ_CHECK(EncodeEntryKey(*k) == raw, absl::CHexEscape(raw));
  }
  if (auto h = DecodeHistoryKey(raw)) {
    FUZZ_CHECK(EncodeHistoryKey(h->first, h->second) == raw, absl::CHexEscape(raw));
  }
  if (std::optional<int64_t> r = DecodeRevision(raw)) {
    FUZZ_CHECK(EncodeRevision(*r) == raw, absl::CHexEscape(raw));
  }
  return 0;
}
