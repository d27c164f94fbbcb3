#include "storage/key_codec.h"

#include "gtest/gtest.h"

namespace confcenter::storage {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST(KeyCodecTest, TenantPrefixNeverMatchesAnotherTenantWhoseNameExtendsIt) {
  std::string own = EncodeEntryKey({"feat-login", "svc", "k"});
  std::string other = EncodeEntryKey({"feat-login-2", "svc", "k"});
  EXPECT_TRUE(StartsWith(own, EntryPrefix("feat-login")));
  EXPECT_FALSE(StartsWith(other, EntryPrefix("feat-login")));
  EXPECT_FALSE(
      StartsWith(EncodeEntryKey({"feat-login", "svc-2", "k"}), EntryPrefix("feat-login", "svc")));
}

TEST(KeyCodecTest, EntryKeysRoundTrip) {
  EntryKey key{"t", "s", "db.pool.size"};
  std::optional<EntryKey> decoded = DecodeEntryKey(EncodeEntryKey(key));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, key);
  EXPECT_FALSE(DecodeEntryKey("no-separators").has_value());
}

TEST(KeyCodecTest, RevisionsSortNumerically) {
  EXPECT_LT(EncodeRevision(9), EncodeRevision(10));
  EXPECT_LT(EncodeRevision(255), EncodeRevision(256));
  EXPECT_EQ(DecodeRevision(EncodeRevision(1234567890123)).value(), 1234567890123);
  EXPECT_FALSE(DecodeRevision("short").has_value());
}

}  // namespace
}  // namespace confcenter::storage
