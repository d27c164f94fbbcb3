// Semantic versions (semver.org 2.0.0) and npm-style version ranges, for service versions
// and the ranges consumers ask for. Errors are INVALID_ARGUMENT with a message that starts
// with the quoted input; the caller prefixes the field (`<field>: "<value>" is not ...`).
#ifndef CONFCENTER_SERVER_CORE_SEMVER_H_
#define CONFCENTER_SERVER_CORE_SEMVER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace confcenter {

// A version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]. ParseSemVer produces only valid ones;
// a hand-built value is not checked.
struct SemVer {
  int64_t major = 0;
  int64_t minor = 0;
  int64_t patch = 0;
  // Dot-separated prerelease identifiers ("rc.1" -> {"rc", "1"}); empty for a release.
  std::vector<std::string> prerelease;
  // Build metadata without the "+"; empty if none. Plays no part in comparisons.
  std::string build;

  // The canonical text: "1.2.3", "1.2.3-rc.1", "1.2.3-rc.1+sha.5114f85".
  std::string ToString() const;
};

// Semver 2.0.0 precedence: negative if a < b, 0 if equal, positive if a > b. Build metadata
// is ignored, so 1.0.0+a and 1.0.0+b compare equal; 1.0.0-rc.1 < 1.0.0.
int Compare(const SemVer& a, const SemVer& b);

// Precedence comparisons (see Compare: == ignores build metadata).
inline bool operator==(const SemVer& a, const SemVer& b) { return Compare(a, b) == 0; }
inline bool operator!=(const SemVer& a, const SemVer& b) { return Compare(a, b) != 0; }
inline bool operator<(const SemVer& a, const SemVer& b) { return Compare(a, b) < 0; }
inline bool operator<=(const SemVer& a, const SemVer& b) { return Compare(a, b) <= 0; }
inline bool operator>(const SemVer& a, const SemVer& b) { return Compare(a, b) > 0; }
inline bool operator>=(const SemVer& a, const SemVer& b) { return Compare(a, b) >= 0; }

// Parses a strict semver 2.0.0 version: three numbers that fit int64 without leading zeros,
// optional prerelease and build identifiers of [0-9A-Za-z-], none empty, numeric prerelease
// identifiers without leading zeros. No "v" prefix, no surrounding whitespace.
// On failure INVALID_ARGUMENT: `"<text>" is not a semantic version (MAJOR.MINOR.PATCH,
// semver.org 2.0.0); <reason>`.
absl::StatusOr<SemVer> ParseSemVer(absl::string_view text);

// A set of versions written as in npm's node-semver, without x-wildcards:
//   range      := "*" | set ( "||" set )*
//   set        := comparator ( whitespace comparator )* | partial " - " partial
//   comparator := op? whitespace? partial
//   op         := "^" | "~" | ">=" | "<=" | ">" | "<" | "="
//   partial    := MAJOR [ "." MINOR [ "." PATCH [ "-" PRERELEASE ] ] ]
// A partial covers every version it is a prefix of: "1.2" is >=1.2.0 <1.3.0-0, "<2" is
// <2.0.0-0, "<=1.2" is <1.3.0-0, ">1.2" is >=1.3.0. "^" allows changes that keep the first
// non-zero number of the ones written (^1.2 is <2.0.0-0, ^0.2.3 is <0.3.0-0, ^0.0.3 is
// <0.0.4-0); "~" allows patch changes, or minor ones if only MAJOR is written.
// As in npm, a prerelease version matches a set only if it satisfies every comparator and a
// comparator of the set names a prerelease of the same MAJOR.MINOR.PATCH: >=1.0.0-rc.1
// matches 1.0.0-rc.2 but not 1.1.0-rc.1, and "*" matches no prerelease.
// Immutable after Parse, so safe to share between threads.
class SemVerRange {
 public:
  // Parses `text` (surrounding whitespace ignored). At most 256 bytes and 64 comparators.
  // On failure INVALID_ARGUMENT: `"<text>" is not a semver range: <reason>`.
  static absl::StatusOr<SemVerRange> Parse(absl::string_view text);

  // Whether `version` is in the range (build metadata ignored).
  bool Matches(const SemVer& version) const;

  // The text it was parsed from, without surrounding whitespace.
  const std::string& text() const { return text_; }

  // The range with every partial and operator spelled out as plain comparators, in npm's
  // form: "^1.2 || 3.0.1" -> ">=1.2.0 <2.0.0-0 || 3.0.1"; "*" for a set without bounds.
  // Parses back to the same range if it is within Parse's 256 bytes (spelling every partial
  // out can make a long range's description longer than the range).
  std::string Describe() const;

 private:
  struct Comparator {
    enum class Op { kEq, kLt, kLe, kGt, kGe };
    Op op;
    SemVer version;
  };
  // One "||" alternative: every comparator must hold. Empty matches every release.
  using Set = std::vector<Comparator>;

  SemVerRange() = default;
  static absl::Status ParseSet(absl::string_view set_text, int* comparators, Set* set);
  static bool SetMatches(const Set& set, const SemVer& version);

  std::string text_;
  std::vector<Set> sets_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_SEMVER_H_
