// Semantic versions and ranges (server/core/semver.h), which definitions' versions and dependency
// ranges go through. Input: a range on the first line, versions on the others.
// Properties: a parsed version prints back to its exact text; Compare is a total order; a
// range's Describe() (when within the 256-byte limit) parses to a range that describes itself the
// same way and matches the same versions; a version satisfies the ranges "=V", ">=V", "<=V", "^V",
// "~V" and "V - V" built from it and not "<V" or ">V"; errors are INVALID_ARGUMENT starting with
// the quoted input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/names.h"
#include "server/core/semver.h"
#include "tests/fuzz/fuzz_check.h"

namespace confcenter {
namespace {

int Sign(int c) { return (c > 0) - (c < 0); }

void CheckError(const absl::Status& s, absl::string_view text) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument, s.ToString());
  FUZZ_CHECK(absl::StartsWith(s.message(), QuoteForError(text)), s.ToString());
}

// The version without build metadata, as a range operand.
std::string Operand(const SemVer& v) {
  SemVer copy = v;
  copy.build.clear();
  return copy.ToString();
}

}  // namespace
}  // namespace confcenter

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (lines.size() > 8) lines.resize(8);

  std::vector<SemVer> versions;
  for (const std::string& line : lines) {
    absl::StatusOr<SemVer> v = ParseSemVer(line);
    if (!v.ok()) {
      CheckError(v.status(), line);
      continue;
    }
    FUZZ_CHECK(v->ToString() == line, v->ToString() + " != " + line);
    FUZZ_CHECK(Compare(*v, *v) == 0, line);
    versions.push_back(*std::move(v));
  }
  for (const SemVer& a : versions) {
    for (const SemVer& b : versions) {
      FUZZ_CHECK(Sign(Compare(a, b)) == -Sign(Compare(b, a)), a.ToString() + " " + b.ToString());
      for (const SemVer& c : versions) {
        if (a <= b && b <= c) {
          FUZZ_CHECK(a <= c, a.ToString() + " " + b.ToString() + " " + c.ToString());
        }
      }
    }
  }

  absl::StatusOr<SemVerRange> range = SemVerRange::Parse(lines[0]);
  if (!range.ok()) {
    CheckError(range.status(), lines[0]);
  } else if (const std::string described = range->Describe(); described.size() <= 256) {
    // (A longer description is beyond what Parse accepts; see Describe.)
    absl::StatusOr<SemVerRange> again = SemVerRange::Parse(described);
    FUZZ_CHECK(again.ok(),
               lines[0] + " described as " + described + ": " + again.status().ToString());
    FUZZ_CHECK(again->Describe() == described, described + " -> " + again->Describe());
    for (const SemVer& v : versions) {
      FUZZ_CHECK(range->Matches(v) == again->Matches(v),
                 lines[0] + " vs " + described + " on " + v.ToString());
    }
  }

  for (const SemVer& v : versions) {
    const std::string x = Operand(v);
    if (x.size() > 120) continue;  // ranges are at most 256 bytes
    for (const std::string& op : {"=", ">=", "<=", "^", "~", "", "<", ">"}) {
      absl::StatusOr<SemVerRange> r = SemVerRange::Parse(op + x);
      FUZZ_CHECK(r.ok(), op + x + ": " + r.status().ToString());
      const bool expected = op != "<" && op != ">";
      FUZZ_CHECK(r->Matches(v) == expected, op + x + " on " + v.ToString());
    }
    absl::StatusOr<SemVerRange> hyphen = SemVerRange::Parse(x + " - " + x);
    FUZZ_CHECK(hyphen.ok() && hyphen->Matches(v), x + " - " + x);
  }
  return 0;
}
