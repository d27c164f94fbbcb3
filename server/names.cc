#include "server/names.h"

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

}  // namespace

std::string CutUtf8(absl::string_view text, size_t max) {
  std::string valid;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xe  ? 3
                     : (c >> 3) == 0x1e ? 4
                                        : 0;
    bool ok = n > 0 && i + n <= text.size();
    for (size_t j = 1; ok && j < n; ++j)
      ok = (static_cast<unsigned char>(text[i + j]) & 0xc0) == 0x80;
    std::string piece = ok ? std::string(text.substr(i, n)) : absl::CHexEscape(text.substr(i, 1));
    if (valid.size() + piece.size() > max) break;
    valid += piece;
    i += ok ? n : 1;
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
