#include "common/names.h"

#include "gtest/gtest.h"

namespace confcenter {
namespace {

TEST(TenantNameTest, AcceptsKubernetesNamespaceNames) {
  for (const char* name : {"integration", "f1", "feature-login-v2", "a", "0abc",
                           "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"}) {
    EXPECT_TRUE(ValidateTenantName("tenant", name).ok()) << name;
  }
}

TEST(TenantNameTest, RejectsOtherNamesNamingTheFieldAndValue) {
  for (const char* name : {"", "-a", "a-", "Feat", "feat_x", "feat/x", "a.b",
                           "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"}) {
    absl::Status s = ValidateTenantName("parent", name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(s.message().substr(0, 7), "parent:") << s;
  }
  EXPECT_EQ(ValidateTenantName("tenant", "Feat").message(),
            "tenant: \"Feat\" is not a valid tenant name: use 1-63 characters of [a-z0-9-], "
            "starting and ending with a lowercase letter or digit");
}

TEST(KeyTest, AcceptsDottedNames) {
  for (const char* key : {"db.pool.size", "a", "Spring.Datasource.URL", "x-1.y_2", "0.1"}) {
    EXPECT_TRUE(ValidateKey("key", key).ok()) << key;
  }
}

TEST(KeyTest, RejectsEmptySegmentsReservedPrefixAndOtherCharacters) {
  for (const char* key : {"", ".a", "a.", "a..b", "_secret", "a b", "a/b", "a\xc3\xa9", "-a"}) {
    EXPECT_EQ(ValidateKey("key", key).code(), absl::StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(ValidateKey("key", std::string(257, 'a')).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeTenantNameTest, TurnsBranchNamesIntoTenantNames) {
  EXPECT_EQ(NormalizeTenantName("feature/Login_v2"), "feature-login-v2");
  EXPECT_EQ(NormalizeTenantName("--Feat__X--"), "feat-x");
  EXPECT_EQ(NormalizeTenantName("devops-integrate"), "devops-integrate");
  EXPECT_EQ(NormalizeTenantName("///"), "");
  std::string long_branch = "feature/" + std::string(70, 'a');
  std::string normalized = NormalizeTenantName(long_branch);
  EXPECT_EQ(normalized.size(), 63u);
  EXPECT_TRUE(ValidateTenantName("tenant", normalized).ok());
  EXPECT_EQ(NormalizeTenantName("feature/" + std::string(54, 'a') + "/b"),
            "feature-" + std::string(54, 'a'));  // no trailing '-' after the cut
}

TEST(CutUtf8Test, EscapesEveryByteProtobufWouldRejectAsUtf8) {
  // Found by names_fuzz: surrogates, overlong forms and code points above U+10FFFF were kept,
  // and a proto3 record holding them cannot be parsed back.
  EXPECT_EQ(CutUtf8("a\xed\xa0\x80", 100), "a\\xed\\xa0\\x80");         // U+D800, a surrogate
  EXPECT_EQ(CutUtf8("\xc0\xaf", 100), "\\xc0\\xaf");                    // overlong "/"
  EXPECT_EQ(CutUtf8("\xe0\x80\xaf", 100), "\\xe0\\x80\\xaf");           // overlong "/"
  EXPECT_EQ(CutUtf8("\xf4\x90\x80\x80", 100), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(CutUtf8("caf\xc3\xa9 \xf0\x9f\x98\x80", 100), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(CutUtf8("caf\xc3\xa9", 4), "caf");  // never half a character
}

}  // namespace
}  // namespace confcenter
