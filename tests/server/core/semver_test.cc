#include "server/core/semver.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "gtest/gtest.h"

namespace confcenter {
namespace {

SemVer V(const std::string& text) {
  absl::StatusOr<SemVer> v = ParseSemVer(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : SemVer();
}

TEST(SemVerParseTest, AcceptsStrictVersionsAndPrintsThemBack) {
  struct Row {
    const char* text;
    int64_t major, minor, patch;
    const char* prerelease;  // Identifiers joined with ".".
    const char* build;
  };
  const Row rows[] = {
      {"0.0.0", 0, 0, 0, "", ""},
      {"1.2.3", 1, 2, 3, "", ""},
      {"10.20.30", 10, 20, 30, "", ""},
      {"1.0.0-alpha", 1, 0, 0, "alpha", ""},
      {"1.0.0-alpha.1", 1, 0, 0, "alpha.1", ""},
      {"1.0.0-0.3.7", 1, 0, 0, "0.3.7", ""},
      {"1.0.0-x.7.z.92", 1, 0, 0, "x.7.z.92", ""},
      {"1.0.0-x-y-z.--", 1, 0, 0, "x-y-z.--", ""},
      {"1.0.0-alpha-1", 1, 0, 0, "alpha-1", ""},
      {"1.0.0-0A.is.legal", 1, 0, 0, "0A.is.legal", ""},
      {"1.0.0+20130313144700", 1, 0, 0, "", "20130313144700"},
      {"1.0.0-beta+exp.sha.5114f85", 1, 0, 0, "beta", "exp.sha.5114f85"},
      {"1.0.0+21AF26D3----117B344092BD", 1, 0, 0, "", "21AF26D3----117B344092BD"},
      {"1.0.0+001", 1, 0, 0, "", "001"},  // Leading zeros are fine in build metadata.
      {"1.0.0-rc.1+build.1", 1, 0, 0, "rc.1", "build.1"},
      {"9223372036854775807.9223372036854775807.9223372036854775807", INT64_MAX, INT64_MAX,
       INT64_MAX, "", ""},
      {"1.0.0-99999999999999999999999", 1, 0, 0, "99999999999999999999999", ""},
  };
  for (const Row& row : rows) {
    absl::StatusOr<SemVer> v = ParseSemVer(row.text);
    ASSERT_TRUE(v.ok()) << row.text << ": " << v.status();
    EXPECT_EQ(v->major, row.major) << row.text;
    EXPECT_EQ(v->minor, row.minor) << row.text;
    EXPECT_EQ(v->patch, row.patch) << row.text;
    EXPECT_EQ(absl::StrJoin(v->prerelease, "."), row.prerelease) << row.text;
    EXPECT_EQ(v->build, row.build) << row.text;
    EXPECT_EQ(v->ToString(), row.text);
  }
}

TEST(SemVerParseTest, RejectsEverythingElseQuotingTheInputAndTheReason) {
  struct Row {
    std::string text;
    const char* reason;
  };
  const Row rows[] = {
      {"", "; empty"},
      {"v1.0.0", "leading \"v\""},
      {"1.0", "expected three dot-separated numbers, found 2"},
      {"1", "found 1"},
      {"1.2.3.4", "found 4"},
      {"01.0.0", "leading zero in major"},
      {"1.02.0", "leading zero in minor"},
      {"1.0.00", "leading zero in patch"},
      {"1.0.0-", "empty prerelease identifier"},
      {"1.0.0+", "empty build metadata identifier"},
      {"1.0.0-01", "leading zero in prerelease identifier \"01\""},
      {"1.0.0-alpha..1", "empty prerelease identifier"},
      {"1.0.0+a..b", "empty build metadata identifier"},
      {"1.0.0-alpha_beta", "prerelease contains \"_\""},
      {"1.0.0+build+2", "build metadata contains \"+\""},
      {"9223372036854775808.0.0", "major does not fit in 64 bits"},
      {"1.99999999999999999999.0", "minor does not fit in 64 bits"},
      {"1..0", "minor is empty"},
      {"1.0.x", "patch \"x\" is not a number"},
      {" 1.0.0", "major \" 1\" is not a number"},
      {"+1.0.0", "found 1"},
      {"1.-1.0", "found 2"},  // "-1.0" is read as the prerelease.
      {"1.0.0-\xc3\xa9", "prerelease contains \"\\xc3\""},
      {std::string("1.0.0\0", 6), "patch \"0\\x00\" is not a number"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<SemVer> v = ParseSemVer(row.text);
    ASSERT_FALSE(v.ok()) << row.text;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string prefix = QuoteForError(row.text) +
                               " is not a semantic version (MAJOR.MINOR.PATCH, semver.org 2.0.0); ";
    EXPECT_TRUE(absl::StartsWith(v.status().message(), prefix)) << v.status();
    EXPECT_TRUE(absl::StrContains(v.status().message(), row.reason)) << v.status();
  }
  EXPECT_EQ(ParseSemVer("1.02.0").status().message(),
            "\"1.02.0\" is not a semantic version (MAJOR.MINOR.PATCH, semver.org 2.0.0); "
            "leading zero in minor");
}

// Every pair of a list in ascending order must compare the right way round.
void ExpectAscending(const std::vector<std::string>& texts) {
  for (size_t i = 0; i < texts.size(); ++i) {
    for (size_t j = 0; j < texts.size(); ++j) {
      SemVer a = V(texts[i]), b = V(texts[j]);
      const int want = i < j ? -1 : (i > j ? 1 : 0);
      EXPECT_EQ(Compare(a, b), want) << texts[i] << " vs " << texts[j];
      EXPECT_EQ(a < b, want < 0) << texts[i] << " < " << texts[j];
      EXPECT_EQ(a <= b, want <= 0) << texts[i] << " <= " << texts[j];
      EXPECT_EQ(a > b, want > 0) << texts[i] << " > " << texts[j];
      EXPECT_EQ(a >= b, want >= 0) << texts[i] << " >= " << texts[j];
      EXPECT_EQ(a == b, want == 0) << texts[i] << " == " << texts[j];
      EXPECT_EQ(a != b, want != 0) << texts[i] << " != " << texts[j];
    }
  }
}

TEST(SemVerCompareTest, FollowsTheSemverOrgPrecedenceExamples) {
  ExpectAscending({"1.0.0", "2.0.0", "2.1.0", "2.1.1"});
  ExpectAscending({"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                   "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"});
}

TEST(SemVerCompareTest, ComparesNumbersNumericallyAtAnySize) {
  ExpectAscending({"1.9.0", "1.10.0", "1.11.0", "9223372036854775807.0.0"});
  ExpectAscending({"1.0.0-2", "1.0.0-10", "1.0.0-99999999999999999999",
                   "1.0.0-100000000000000000000", "1.0.0-0a", "1.0.0-A", "1.0.0-a"});
}

TEST(SemVerCompareTest, IgnoresBuildMetadata) {
  EXPECT_EQ(Compare(V("1.0.0+a"), V("1.0.0+b")), 0);
  EXPECT_EQ(V("1.0.0-rc.1+x"), V("1.0.0-rc.1"));
  EXPECT_LT(V("1.0.0-rc.1+zzz"), V("1.0.0+aaa"));
}

TEST(SemVerRangeTest, MatchesLikeNpmNodeSemver) {
  struct Row {
    const char* range;
    const char* version;
    bool matches;
  };
  // Every row agrees with npm's node-semver satisfies().
  const Row rows[] = {
      // Exact versions.
      {"1.2.3", "1.2.3", true},
      {"1.2.3", "1.2.4", false},
      {"=1.2.3", "1.2.3", true},
      {"1.2.3", "1.2.3+build.7", true},
      {"1.2.3-beta.1", "1.2.3-beta.1", true},
      {"1.2.3-beta.1", "1.2.3", false},
      // Partials without an operator cover everything they are a prefix of.
      {"1.2", "1.2.0", true},
      {"1.2", "1.2.99", true},
      {"1.2", "1.3.0", false},
      {"1.2", "1.1.9", false},
      {"1", "1.99.0", true},
      {"1", "2.0.0", false},
      {"=1.2", "1.2.5", true},
      // Comparison operators.
      {">=1.0", "1.0.0", true},
      {">=1.0", "0.9.9", false},
      {">= 1.0", "3.0.0", true},
      {">1.2", "1.2.9", false},
      {">1.2", "1.3.0", true},
      {">1", "1.9.9", false},
      {">1", "2.0.0", true},
      {">1.2.3", "1.2.3", false},
      {">1.2.3", "1.2.4", true},
      {"<2", "1.99.99", true},
      {"<2", "2.0.0", false},
      {"<2", "2.0.0-rc.1", false},
      {"<1.2.3", "1.2.2", true},
      {"<1.2.3", "1.2.3", false},
      {"<=1.2", "1.2.99", true},
      {"<=1.2", "1.3.0", false},
      {"<=1.2.3", "1.2.3", true},
      {"<=1.2.3", "1.2.4", false},
      {">=1.0 <2", "1.5.0", true},
      {">=1.0 <2", "2.0.0", false},
      {">=1.0 <2", "0.9.0", false},
      {">=1.0\t<2", "1.0.0", true},
      // Caret: changes that keep the first non-zero number.
      {"^1.2", "1.2.0", true},
      {"^1.2", "1.9.9", true},
      {"^1.2", "2.0.0", false},
      {"^1.2", "1.1.9", false},
      {"^1.2.3", "1.2.3", true},
      {"^1.2.3", "1.2.2", false},
      {"^0.2.3", "0.2.3", true},
      {"^0.2.3", "0.2.9", true},
      {"^0.2.3", "0.3.0", false},
      {"^0.2.3", "0.2.2", false},
      {"^0.0.3", "0.0.3", true},
      {"^0.0.3", "0.0.4", false},
      {"^1", "1.0.0", true},
      {"^1", "1.99.0", true},
      {"^1", "2.0.0", false},
      {"^0", "0.9.9", true},
      {"^0", "1.0.0", false},
      {"^0.0", "0.0.9", true},
      {"^0.0", "0.1.0", false},
      {"^0.2", "0.2.9", true},
      {"^0.2", "0.3.0", false},
      {"^ 1.2", "1.5.0", true},
      // Tilde: patch changes, or minor ones if only MAJOR is written.
      {"~1.4", "1.4.7", true},
      {"~1.4", "1.5.0", false},
      {"~1", "1.9.0", true},
      {"~1", "2.0.0", false},
      {"~1.2.3", "1.2.9", true},
      {"~1.2.3", "1.3.0", false},
      {"~1.2.3", "1.2.2", false},
      {"~0.2", "0.2.5", true},
      // Alternatives.
      {"1.2 || >=3", "1.2.5", true},
      {"1.2 || >=3", "2.0.0", false},
      {"1.2 || >=3", "3.1.0", true},
      {"^1 || ^2", "2.5.0", true},
      {"<1||>2", "1.5.0", false},
      {"<1||>2", "3.0.0", true},
      {"1.2.3 1.2.4", "1.2.3", false},  // Both must hold: matches nothing.
      // Any version.
      {"*", "0.0.0", true},
      {"*", "99.1.2+b", true},
      {" * ", "1.0.0", true},
      // Hyphen ranges.
      {"1.2 - 2.3", "1.2.0", true},
      {"1.2 - 2.3", "2.3.9", true},
      {"1.2 - 2.3", "2.4.0", false},
      {"1.2 - 2.3", "1.1.9", false},
      {"1.2.3 - 2.3.4", "2.3.4", true},
      {"1.2.3 - 2.3.4", "2.3.5", false},
      {"1 - 2", "2.9.9", true},
      {"1 - 2 || 5", "5.0.1", true},
      // A prerelease matches only if a comparator of its set names one of the same
      // MAJOR.MINOR.PATCH.
      {"*", "1.0.0-rc.1", false},
      {">=1.0.0-rc.1", "1.0.0-rc.2", true},
      {">=1.0.0-rc.1", "1.0.0-rc.0", false},
      {">=1.0.0-rc.1", "1.1.0-rc.1", false},
      {">=1.0.0-rc.1", "1.1.0", true},
      {"^1.2.3-beta.2", "1.2.3-beta.4", true},
      {"^1.2.3-beta.2", "1.2.4-beta.2", false},
      {"^1.2.3-beta.2", "1.9.0", true},
      {"~1.2.3-beta", "1.2.3-rc", true},
      {"^1.2", "1.3.0-beta", false},
      {">=1.0 <2", "1.5.0-alpha", false},
      {">=2.0.0-alpha <2", "2.0.0-beta", false},
      {"<1.0.0-rc.2", "1.0.0-rc.1", true},
      {"<1.0.0-rc.2", "0.9.0-rc.1", false},
      {"1.0.0-rc.1 || 1.0.0-rc.2", "1.0.0-rc.2", true},
      {"1.0.0-rc.1 || ^2", "2.0.0-rc.1", false},
      {"1.0.0-beta - 1.0.0", "1.0.0-rc.1", true},
      // Numbers at the int64 limit: bounds past it do not wrap around.
      {"^9223372036854775807", "9223372036854775807.5.0", true},
      {">9223372036854775807", "9223372036854775807.0.0", false},
      {"<=9223372036854775807", "9223372036854775807.9.9", true},
      {"~1.9223372036854775807", "1.9223372036854775807.4", true},
      {"~1.9223372036854775807", "2.0.0", false},
      {"1.2.9223372036854775807", "1.2.9223372036854775807", true},
      {"^0.0.9223372036854775807", "0.1.0", false},
  };
  for (const Row& row : rows) {
    absl::StatusOr<SemVerRange> range = SemVerRange::Parse(row.range);
    ASSERT_TRUE(range.ok()) << range.status();
    EXPECT_EQ(range->Matches(V(row.version)), row.matches)
        << "\"" << row.range << "\" (" << range->Describe() << ") vs " << row.version;
  }
}

TEST(SemVerRangeTest, RejectsMalformedRangesQuotingTheInputAndTheReason) {
  struct Row {
    std::string text;
    const char* reason;
  };
  const Row rows[] = {
      {"^1.x", "\"1.x\" is not a version (x-wildcards are not supported; write ^1)"},
      {"1.2.*", "x-wildcards are not supported; write 1.2"},
      {">=1.X", "write >=1)"},
      {"x", "write * alone for any version"},
      {">=", "\">=\" has no version after it"},
      {">=1.0 <", "\"<\" has no version after it"},
      {">= >=1", "\">=\" has no version after it"},
      {"1.2.3.4", "more than three numbers"},
      {"~>1.0", "\"~>\" is not an operator"},
      {"=>1.0", "\"=>\" is not an operator"},
      {"||", "empty alternative next to \"||\""},
      {"1.0 ||", "empty alternative"},
      {"|| 1.0", "empty alternative"},
      {"^01.2", "\"01.2\" is not a version (leading zero in major)"},
      {"1.2.3-01", "leading zero in prerelease identifier \"01\""},
      {"abc", "major \"abc\" is not a number"},
      {"v1.2.3", "major \"v1\" is not a number"},
      {"", "empty"},
      {" \t ", "empty"},
      {"1.2-beta", "a prerelease needs all of MAJOR.MINOR.PATCH"},
      {"1.2.3-", "empty prerelease identifier"},
      {"1.2.3+build.1", "build metadata has no precedence"},
      {"1.", "minor is empty"},
      {"* || 1.0", "\"*\" must be the whole range"},
      {">=1 *", "\"*\" must be the whole range"},
      {"1 - 2 - 3", "hyphen range"},
      {"1.2.3 -", "hyphen range"},
      {">=1 - 2", "the ends of a hyphen range are plain versions"},
      {"1 | 2", "major \"|\" is not a number"},
      {"99999999999999999999", "major does not fit in 64 bits"},
      {std::string(257, '1'), "257 bytes long; at most 256 allowed"},
      {absl::StrJoin(std::vector<std::string>(65, "1"), " "), "more than 64 comparators"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<SemVerRange> range = SemVerRange::Parse(row.text);
    ASSERT_FALSE(range.ok()) << row.text << " parsed as " << range->Describe();
    EXPECT_EQ(range.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string prefix = QuoteForError(row.text) + " is not a semver range: ";
    EXPECT_TRUE(absl::StartsWith(range.status().message(), prefix)) << range.status();
    EXPECT_TRUE(absl::StrContains(range.status().message(), row.reason)) << range.status();
  }
  EXPECT_EQ(SemVerRange::Parse("^1.x").status().message(),
            "\"^1.x\" is not a semver range: \"1.x\" is not a version (x-wildcards are not "
            "supported; write ^1)");
}

TEST(SemVerRangeTest, AcceptsTheLimits) {
  std::string widest;
  for (int i = 0; i < 64; ++i) widest += ">=1 ";
  ASSERT_EQ(widest.size(), 256u);
  absl::StatusOr<SemVerRange> range = SemVerRange::Parse(widest);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_TRUE(range->Matches(V("1.0.0")));
  // An operator apart from its version is still one comparator.
  std::string spaced;
  for (int i = 0; i < 32; ++i) spaced += "> 0 ";
  for (int i = 0; i < 32; ++i) spaced += "< 9 ";
  EXPECT_TRUE(SemVerRange::Parse(spaced).ok());
}

TEST(SemVerRangeTest, DescribeSpellsOutPartialsAndParsesBackToTheSameRange) {
  struct Row {
    const char* range;
    const char* described;
  };
  const Row rows[] = {
      {"*", "*"},
      {"1.2.3", "1.2.3"},
      {"=1.2.3-rc.1", "1.2.3-rc.1"},
      {"1.2", ">=1.2.0 <1.3.0-0"},
      {"^1.2", ">=1.2.0 <2.0.0-0"},
      {"^0.2.3", ">=0.2.3 <0.3.0-0"},
      {"^0.0.3", ">=0.0.3 <0.0.4-0"},
      {"~1.2.3-beta", ">=1.2.3-beta <1.3.0-0"},
      {"~1", ">=1.0.0 <2.0.0-0"},
      {">= 1.0   <2", ">=1.0.0 <2.0.0-0"},
      {"<=1.2 || >1.2", "<1.3.0-0 || >=1.3.0"},
      {">1.2.3 <=2.0.0", ">1.2.3 <=2.0.0"},
      {"1.2 - 2", ">=1.2.0 <3.0.0-0"},
      {"1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4"},
      {">9223372036854775807", "<0.0.0-0"},
      {"^9223372036854775807", ">=9223372036854775807.0.0"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<SemVerRange> range = SemVerRange::Parse(row.range);
    ASSERT_TRUE(range.ok()) << range.status();
    EXPECT_EQ(range->Describe(), row.described) << row.range;
    absl::StatusOr<SemVerRange> again = SemVerRange::Parse(range->Describe());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->Describe(), row.described) << row.range;
  }
}

TEST(SemVerRangeTest, KeepsTheTrimmedText) {
  absl::StatusOr<SemVerRange> range = SemVerRange::Parse("  ^1.2 || 3 \n");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->text(), "^1.2 || 3");
}

}  // namespace
}  // namespace confcenter
