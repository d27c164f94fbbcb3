#include "server/core/semver.h"

#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/names.h"

namespace confcenter {
namespace {

constexpr size_t kMaxRangeBytes = 256;
constexpr int kMaxComparators = 64;
constexpr int64_t kMaxNumber = std::numeric_limits<int64_t>::max();
constexpr absl::string_view kNumberNames[] = {"major", "minor", "patch"};

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

bool IsX(absl::string_view s) { return s == "x" || s == "X" || s == "*"; }

// Each of these returns why `s` is not valid, or "" if it is.

std::string ParseNumber(absl::string_view s, absl::string_view name, int64_t* out) {
  if (s.empty()) return absl::StrCat(name, " is empty");
  if (!IsDigits(s)) return absl::StrCat(name, " ", QuoteForError(s), " is not a number");
  if (s.size() > 1 && s[0] == '0') return absl::StrCat("leading zero in ", name);
  // SimpleAtoi fails on overflow; IsDigits already ruled out signs and whitespace.
  if (!absl::SimpleAtoi(s, out)) return absl::StrCat(name, " does not fit in 64 bits");
  return "";
}

// Dot-separated identifiers of [0-9A-Za-z-]; numeric prerelease identifiers have no leading
// zero (build metadata may: "+001" is fine).
std::string ParseIdentifiers(absl::string_view s, absl::string_view what, bool prerelease,
                             std::vector<std::string>* out) {
  for (absl::string_view id : absl::StrSplit(s, '.')) {
    if (id.empty()) return absl::StrCat("empty ", what, " identifier");
    for (char c : id) {
      if (!absl::ascii_isalnum(c) && c != '-') {
        return absl::StrCat(what, " contains ", QuoteForError(absl::string_view(&c, 1)),
                            "; identifiers use only [0-9A-Za-z-]");
      }
    }
    if (prerelease && id.size() > 1 && id[0] == '0' && IsDigits(id)) {
      return absl::StrCat("leading zero in ", what, " identifier ", QuoteForError(id));
    }
    if (out != nullptr) out->emplace_back(id);
  }
  return "";
}

std::string ParseVersion(absl::string_view text, SemVer* v) {
  if (text.empty()) return "empty";
  if (text[0] == 'v' || text[0] == 'V') return "drop the leading \"v\"";
  absl::string_view rest = text;
  if (size_t plus = rest.find('+'); plus != absl::string_view::npos) {
    std::string why = ParseIdentifiers(rest.substr(plus + 1), "build metadata", false, nullptr);
    if (!why.empty()) return why;
    v->build = std::string(rest.substr(plus + 1));
    rest = rest.substr(0, plus);
  }
  if (size_t dash = rest.find('-'); dash != absl::string_view::npos) {
    std::string why = ParseIdentifiers(rest.substr(dash + 1), "prerelease", true, &v->prerelease);
    if (!why.empty()) return why;
    rest = rest.substr(0, dash);
  }
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '.');
  if (parts.size() != 3) {
    return absl::StrCat("expected three dot-separated numbers, found ", parts.size());
  }
  int64_t* numbers[] = {&v->major, &v->minor, &v->patch};
  for (int i = 0; i < 3; ++i) {
    std::string why = ParseNumber(parts[i], kNumberNames[i], numbers[i]);
    if (!why.empty()) return why;
  }
  return "";
}

// A prerelease identifier compares numerically if all digits, else in ASCII order, and
// numeric ones sort first.
int CompareIdentifier(absl::string_view a, absl::string_view b) {
  const bool a_num = IsDigits(a), b_num = IsDigits(b);
  if (a_num != b_num) return a_num ? -1 : 1;
  if (a_num) {
    // Arbitrarily long numbers, so compare by length first (leading zeros dropped in case a
    // hand-built SemVer has them).
    while (a.size() > 1 && a[0] == '0') a.remove_prefix(1);
    while (b.size() > 1 && b[0] == '0') b.remove_prefix(1);
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  }
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

SemVer Version(int64_t major, int64_t minor, int64_t patch,
               std::vector<std::string> prerelease = {}) {
  SemVer v;
  v.major = major;
  v.minor = minor;
  v.patch = patch;
  v.prerelease = std::move(prerelease);
  return v;
}

// The lowest release above every version whose first `parts` numbers are those of `v`
// ("1.2" -> 1.3.0), carrying into the number before on int64 overflow; nullopt if none.
std::optional<SemVer> NextAfterPrefix(const SemVer& v, int parts) {
  if (parts >= 3 && v.patch < kMaxNumber) return Version(v.major, v.minor, v.patch + 1);
  if (parts >= 2 && v.minor < kMaxNumber) return Version(v.major, v.minor + 1, 0);
  if (v.major < kMaxNumber) return Version(v.major + 1, 0, 0);
  return std::nullopt;
}

// `v` with prerelease "0", the lowest version of its MAJOR.MINOR.PATCH: an upper bound
// "< that" keeps out the prereleases of the bound itself, as npm does.
SemVer LowestOf(SemVer v) {
  v.prerelease = {"0"};
  return v;
}

std::string RangeError(absl::string_view text, absl::string_view reason) {
  return absl::StrCat(QuoteForError(text), " is not a semver range: ", reason);
}

bool IsOpChar(char c) { return c == '^' || c == '~' || c == '>' || c == '<' || c == '='; }

// A partial version: 1 to 3 numbers, and a prerelease only after all three.
struct Partial {
  SemVer version;  // Missing numbers are 0.
  int parts = 0;
};

// Returns why `word` is not a partial version; `op` is only for the x-wildcard hint.
std::string ParsePartial(absl::string_view op, absl::string_view word, Partial* out) {
  auto fail = [&](absl::string_view why) {
    return absl::StrCat(QuoteForError(word), " is not a version (", why, ")");
  };
  if (word.empty()) return absl::StrCat("\"", op, "\" has no version after it");
  if (word.find('+') != absl::string_view::npos) {
    return fail("build metadata has no precedence; drop the \"+...\"");
  }
  absl::string_view core = word;
  absl::string_view pre;
  bool has_pre = false;
  if (size_t dash = word.find('-'); dash != absl::string_view::npos) {
    core = word.substr(0, dash);
    pre = word.substr(dash + 1);
    has_pre = true;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(core, '.');
  if (parts.size() > 3) return fail("more than three numbers");
  int64_t* numbers[] = {&out->version.major, &out->version.minor, &out->version.patch};
  for (size_t i = 0; i < parts.size(); ++i) {
    if (IsX(parts[i])) {
      if (i == 0) return fail("x-wildcards are not supported; write * alone for any version");
      std::vector<absl::string_view> prefix(parts.begin(), parts.begin() + i);
      return fail(
          absl::StrCat("x-wildcards are not supported; write ", op, absl::StrJoin(prefix, ".")));
    }
    std::string why = ParseNumber(parts[i], kNumberNames[i], numbers[i]);
    if (!why.empty()) return fail(why);
  }
  out->parts = static_cast<int>(parts.size());
  if (has_pre) {
    if (out->parts < 3) return fail("a prerelease needs all of MAJOR.MINOR.PATCH");
    std::string why = ParseIdentifiers(pre, "prerelease", true, &out->version.prerelease);
    if (!why.empty()) return fail(why);
  }
  return "";
}

}  // namespace

std::string SemVer::ToString() const {
  std::string out = absl::StrCat(major, ".", minor, ".", patch);
  if (!prerelease.empty()) absl::StrAppend(&out, "-", absl::StrJoin(prerelease, "."));
  if (!build.empty()) absl::StrAppend(&out, "+", build);
  return out;
}

int Compare(const SemVer& a, const SemVer& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  // A release ranks above its prereleases.
  if (a.prerelease.empty() || b.prerelease.empty()) {
    if (a.prerelease.empty() == b.prerelease.empty()) return 0;
    return a.prerelease.empty() ? 1 : -1;
  }
  for (size_t i = 0; i < a.prerelease.size() && i < b.prerelease.size(); ++i) {
    if (int c = CompareIdentifier(a.prerelease[i], b.prerelease[i]); c != 0) return c;
  }
  if (a.prerelease.size() == b.prerelease.size()) return 0;
  return a.prerelease.size() < b.prerelease.size() ? -1 : 1;
}

absl::StatusOr<SemVer> ParseSemVer(absl::string_view text) {
  SemVer v;
  std::string why = ParseVersion(text, &v);
  if (!why.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(QuoteForError(text),
                     " is not a semantic version (MAJOR.MINOR.PATCH, semver.org 2.0.0); ", why));
  }
  return v;
}

absl::StatusOr<SemVerRange> SemVerRange::Parse(absl::string_view text) {
  if (text.size() > kMaxRangeBytes) {
    return absl::InvalidArgumentError(RangeError(
        text, absl::StrCat(text.size(), " bytes long; at most ", kMaxRangeBytes, " allowed")));
  }
  SemVerRange range;
  range.text_ = std::string(absl::StripAsciiWhitespace(text));
  if (range.text_.empty()) return absl::InvalidArgumentError(RangeError(text, "empty"));
  if (range.text_ == "*") {
    range.sets_.emplace_back();
    return range;
  }
  int comparators = 0;
  for (absl::string_view set_text : absl::StrSplit(range.text_, "||")) {
    Set set;
    absl::Status s = ParseSet(set_text, &comparators, &set);
    if (!s.ok()) return absl::InvalidArgumentError(RangeError(text, s.message()));
    range.sets_.push_back(std::move(set));
  }
  return range;
}

// Returns INVALID_ARGUMENT with only the reason; Parse adds the range text.
absl::Status SemVerRange::ParseSet(absl::string_view set_text, int* comparators, Set* set) {
  std::vector<absl::string_view> words =
      absl::StrSplit(set_text, absl::ByAnyChar(" \t\n\v\f\r"), absl::SkipEmpty());
  if (words.empty()) return absl::InvalidArgumentError("empty alternative next to \"||\"");
  // Counted as written, a hyphen range as two.
  auto count = [comparators](int n) {
    *comparators += n;
    if (*comparators <= kMaxComparators) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxComparators, " comparators"));
  };
  auto add = [set](Comparator::Op op, SemVer v) { set->push_back({op, std::move(v)}); };
  // Nothing is above the largest int64 version: a bound that never holds, as npm writes it.
  auto add_never = [&add] { add(Comparator::Op::kLt, LowestOf(Version(0, 0, 0))); };

  // Hyphen range "A - B": >=A, and <=B or below everything B is a prefix of.
  if (words.size() == 3 && words[1] == "-") {
    if (absl::Status s = count(2); !s.ok()) return s;
    Partial from, to;
    for (auto [word, partial] : {std::pair{words[0], &from}, std::pair{words[2], &to}}) {
      if (!word.empty() && IsOpChar(word[0])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the ends of a hyphen range are plain versions, found ", QuoteForError(word)));
      }
      std::string why = ParsePartial("", word, partial);
      if (!why.empty()) return absl::InvalidArgumentError(why);
    }
    add(Comparator::Op::kGe, from.version);
    if (to.parts == 3) {
      add(Comparator::Op::kLe, to.version);
    } else if (std::optional<SemVer> next = NextAfterPrefix(to.version, to.parts)) {
      add(Comparator::Op::kLt, LowestOf(*next));
    }
    return absl::OkStatus();
  }

  for (size_t i = 0; i < words.size(); ++i) {
    absl::string_view word = words[i];
    if (word == "*") return absl::InvalidArgumentError("\"*\" must be the whole range");
    if (word == "-") {
      return absl::InvalidArgumentError(
          "a hyphen range is \"A - B\" alone between \"||\" (or write >=A <=B)");
    }
    // The operator, which may stand apart from its version (">= 1.0").
    absl::string_view op;
    for (absl::string_view candidate : {">=", "<=", ">", "<", "=", "^", "~"}) {
      if (absl::StartsWith(word, candidate)) {
        op = candidate;
        break;
      }
    }
    absl::string_view version = word.substr(op.size());
    if (version.empty() && !op.empty() && i + 1 < words.size() && !IsOpChar(words[i + 1][0])) {
      version = words[++i];
    }
    if (!version.empty() && IsOpChar(version[0])) {
      return absl::InvalidArgumentError(
          absl::StrCat(QuoteForError(absl::StrCat(op, version.substr(0, 1))),
                       " is not an operator (use ^ ~ >= <= > < =)"));
    }
    if (absl::Status s = count(1); !s.ok()) return s;
    Partial p;
    std::string why = ParsePartial(op, version, &p);
    if (!why.empty()) return absl::InvalidArgumentError(why);
    const SemVer& v = p.version;

    if (p.parts == 3 && (op.empty() || op == "=")) {
      add(Comparator::Op::kEq, v);
    } else if (op == ">=") {
      add(Comparator::Op::kGe, v);
    } else if (op == ">") {
      if (p.parts == 3) {
        add(Comparator::Op::kGt, v);
      } else if (std::optional<SemVer> next = NextAfterPrefix(v, p.parts)) {
        add(Comparator::Op::kGe, *next);
      } else {
        add_never();
      }
    } else if (op == "<") {
      add(Comparator::Op::kLt, p.parts == 3 ? v : LowestOf(v));
    } else if (op == "<=") {
      if (p.parts == 3) {
        add(Comparator::Op::kLe, v);
      } else if (std::optional<SemVer> next = NextAfterPrefix(v, p.parts)) {
        add(Comparator::Op::kLt, LowestOf(*next));
      } else {
        add(Comparator::Op::kGe, Version(0, 0, 0));  // At or below the largest: any release.
      }
    } else {
      // "^", "~" or a partial without operator: from the version up to the next change of
      // the numbers kept.
      int kept = p.parts;
      if (op == "~") {
        kept = p.parts == 1 ? 1 : 2;
      } else if (op == "^") {
        kept = v.major != 0 ? 1 : (v.minor != 0 || p.parts == 2 ? 2 : p.parts);
      }
      add(Comparator::Op::kGe, v);
      if (std::optional<SemVer> next = NextAfterPrefix(v, kept)) {
        add(Comparator::Op::kLt, LowestOf(*next));
      }
    }
  }
  return absl::OkStatus();
}

bool SemVerRange::SetMatches(const Set& set, const SemVer& version) {
  for (const Comparator& c : set) {
    const int cmp = Compare(version, c.version);
    bool ok = false;
    switch (c.op) {
      case Comparator::Op::kEq:
        ok = cmp == 0;
        break;
      case Comparator::Op::kLt:
        ok = cmp < 0;
        break;
      case Comparator::Op::kLe:
        ok = cmp <= 0;
        break;
      case Comparator::Op::kGt:
        ok = cmp > 0;
        break;
      case Comparator::Op::kGe:
        ok = cmp >= 0;
        break;
    }
    if (!ok) return false;
  }
  if (version.prerelease.empty()) return true;
  // Prereleases are opt-in per MAJOR.MINOR.PATCH: ">=1.0.0-rc.1" is not a promise that the
  // unstable 1.1.0-alpha works.
  for (const Comparator& c : set) {
    if (!c.version.prerelease.empty() && c.version.major == version.major &&
        c.version.minor == version.minor && c.version.patch == version.patch) {
      return true;
    }
  }
  return false;
}

bool SemVerRange::Matches(const SemVer& version) const {
  for (const Set& set : sets_) {
    if (SetMatches(set, version)) return true;
  }
  return false;
}

std::string SemVerRange::Describe() const {
  std::vector<std::string> sets;
  for (const Set& set : sets_) {
    std::vector<std::string> comparators;
    for (const Comparator& c : set) {
      absl::string_view op;
      switch (c.op) {
        case Comparator::Op::kEq:
          op = "";
          break;
        case Comparator::Op::kLt:
          op = "<";
          break;
        case Comparator::Op::kLe:
          op = "<=";
          break;
        case Comparator::Op::kGt:
          op = ">";
          break;
        case Comparator::Op::kGe:
          op = ">=";
          break;
      }
      comparators.push_back(absl::StrCat(op, c.version.ToString()));
    }
    sets.push_back(comparators.empty() ? "*" : absl::StrJoin(comparators, " "));
  }
  return absl::StrJoin(sets, " || ");
}

}  // namespace confcenter
