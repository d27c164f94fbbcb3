#include "common/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace confcenter {
namespace {

constexpr size_t kMaxDnsLabel = 63;
constexpr size_t kMaxKey = 256;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsKeyChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.'; }

absl::Status Invalid(absl::string_view field, absl::string_view value, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", QuoteForError(value), " ", rule));
}

absl::Status ValidateDnsLabel(absl::string_view field, absl::string_view value,
                              absl::string_view what) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  const std::string rule =
      absl::StrCat("is not a valid ", what,
                   " name: use 1-63 characters of [a-z0-9-], starting and ending with a "
                   "lowercase letter or digit");
  if (value.size() > kMaxDnsLabel) return Invalid(field, value, rule);
  for (char c : value) {
    if (!IsLowerAlnum(c) && c != '-') return Invalid(field, value, rule);
  }
  if (value.front() == '-' || value.back() == '-') return Invalid(field, value, rule);
  return absl::OkStatus();
}

// The length of the well-formed UTF-8 sequence at text[i], or 0 if there is none. Strict, as
// protobuf checks proto3 strings (RFC 3629): no overlong forms (C0, C1, E0 80-9F, F0 80-8F),
// no surrogates (ED A0-BF), nothing above U+10FFFF (F4 90-BF, F5-FF).
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const unsigned char c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) low = 0xa0;
    if (c == 0xed) high = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  const unsigned char second = static_cast<unsigned char>(text[i + 1]);
  if (second < low || second > high) return 0;
  for (size_t j = 2; j < n; ++j) {
    if ((static_cast<unsigned char>(text[i + j]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

std::string CutUtf8(absl::string_view text, size_t max) {
  std::string valid;
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    std::string piece =
        n > 0 ? std::string(text.substr(i, n)) : absl::CHexEscape(text.substr(i, 1));
    if (valid.size() + piece.size() > max) break;
    valid += piece;
    i += n > 0 ? n : 1;
  }
  return valid;
}

std::string QuoteForError(absl::string_view value) {
  constexpr size_t kMax = 64;
  if (value.size() <= kMax) return absl::StrCat("\"", absl::CHexEscape(value), "\"");
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, kMax)), "...\"");
}

absl::Status ValidateTenantName(absl::string_view field, absl::string_view value) {
  return ValidateDnsLabel(field, value, "tenant");
}

absl::Status ValidateServiceName(absl::string_view field, absl::string_view value) {
  return ValidateDnsLabel(field, value, "service");
}

absl::Status ValidateEndpointName(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  const char* rule =
      "is not a valid endpoint name: use 1-15 characters of [a-z0-9-] with at least one "
      "letter, no \"-\" at either end or twice in a row (a Kubernetes port name)";
  if (value.size() > 15 || value.front() == '-' || value.back() == '-' ||
      value.find("--") != absl::string_view::npos) {
    return Invalid(field, value, rule);
  }
  bool letter = false;
  for (char c : value) {
    if (!IsLowerAlnum(c) && c != '-') return Invalid(field, value, rule);
    letter = letter || absl::ascii_islower(c);
  }
  if (!letter) return Invalid(field, value, rule);
  return absl::OkStatus();
}

absl::Status ValidateKey(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  if (value.size() > kMaxKey) {
    return Invalid(field, value,
                   absl::StrCat("is ", value.size(), " characters long; keys have at most 256"));
  }
  for (char c : value) {
    if (!IsKeyChar(c)) {
      return Invalid(field, value,
                     absl::StrCat("contains ", QuoteForError(absl::string_view(&c, 1)),
                                  "; keys use only [A-Za-z0-9_.-]"));
    }
  }
  if (value.front() == '_') {
    return Invalid(field, value,
                   "starts with \"_\", which is reserved for keys the server writes (such as "
                   "_endpoint.*)");
  }
  if (value.front() == '.' || value.back() == '.' || value.find("..") != absl::string_view::npos) {
    return Invalid(field, value, "has an empty segment; keys are dot-separated non-empty names");
  }
  if (!absl::ascii_isalnum(value.front())) {
    return Invalid(field, value, "must start with a letter or digit");
  }
  return absl::OkStatus();
}

absl::Status ValidateKeyPrefix(absl::string_view field, absl::string_view value) {
  if (value.size() > kMaxKey) {
    return Invalid(field, value, "is longer than 256 characters, the longest key");
  }
  for (char c : value) {
    if (!IsKeyChar(c))
      return Invalid(field, value, "may use only the key characters [A-Za-z0-9_.-]");
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelKey(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": key is empty"));
  if (value.size() > kMaxDnsLabel) return Invalid(field, value, "is longer than 63 characters");
  for (char c : value) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-' && c != '.') {
      return Invalid(field, value, "may use only [A-Za-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

std::string NormalizeTenantName(absl::string_view branch) {
  std::string out;
  bool pending_dash = false;
  for (char c : branch) {
    char lower = absl::ascii_tolower(c);
    if (IsLowerAlnum(lower)) {
      if (pending_dash && !out.empty()) out.push_back('-');
      pending_dash = false;
      out.push_back(lower);
    } else {
      pending_dash = true;
    }
  }
  if (out.size() > kMaxDnsLabel) out.resize(kMaxDnsLabel);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

}  // namespace confcenter
