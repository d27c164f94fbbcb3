// Name validation (common/names.h) against a reference: each grammar written once more as a
// regular expression, straight from the rules in docs/api.md. Also: errors are INVALID_ARGUMENT and
// start with the field; NormalizeTenantName always yields a valid tenant (or nothing) and is
// idempotent; CutUtf8 yields strict UTF-8 within its bound; QuoteForError is printable ASCII.
#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>

#include "common/names.h"
#include "tests/fuzz/fuzz_check.h"

namespace confcenter {
namespace {

using fuzz::IsUtf8;

bool Matches(const std::string& value, const std::regex& re, size_t max_size) {
  // Longer inputs are rejected by length alone (and would only slow std::regex down).
  return value.size() <= max_size && std::regex_match(value, re);
}

void CheckAgainst(const char* what, absl::Status (*validate)(absl::string_view, absl::string_view),
                  const std::string& value, bool expected) {
  constexpr absl::string_view kField = "ops[3].name";
  const absl::Status s = validate(kField, value);
  const std::string context = std::string(what) + " " + QuoteForError(value) + ": " + s.ToString();
  FUZZ_CHECK(s.ok() == expected, context);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument, context);
    FUZZ_CHECK(absl::string_view(s.message()).substr(0, kField.size() + 2) == "ops[3].name: ",
               context);
  }
}

}  // namespace
}  // namespace confcenter

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter;
  static const std::regex dns("[a-z0-9]([a-z0-9-]*[a-z0-9])?");
  static const std::regex endpoint("(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*");
  static const std::regex key("[A-Za-z0-9][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*");
  static const std::regex key_prefix("[A-Za-z0-9_.-]*");
  static const std::regex label_key("[A-Za-z0-9._-]+");

  const std::string value(reinterpret_cast<const char*>(data), size);
  CheckAgainst("tenant", ValidateTenantName, value, Matches(value, dns, 63));
  CheckAgainst("service", ValidateServiceName, value, Matches(value, dns, 63));
  CheckAgainst("endpoint", ValidateEndpointName, value, Matches(value, endpoint, 15));
  CheckAgainst("key", ValidateKey, value, Matches(value, key, 256));
  CheckAgainst("key prefix", ValidateKeyPrefix, value, Matches(value, key_prefix, 256));
  CheckAgainst("label key", ValidateLabelKey, value, Matches(value, label_key, 63));

  const std::string tenant = NormalizeTenantName(value);
  FUZZ_CHECK(tenant.empty() || ValidateTenantName("tenant", tenant).ok(), tenant);
  FUZZ_CHECK(NormalizeTenantName(tenant) == tenant, tenant);

  for (size_t max : {size_t{0}, size_t{1}, size_t{3}, size_t{64}, size / 2, size}) {
    const std::string cut = CutUtf8(value, max);
    FUZZ_CHECK(cut.size() <= max, QuoteForError(cut));
    FUZZ_CHECK(IsUtf8(cut),
               "CutUtf8 made invalid UTF-8 of " + QuoteForError(value) + ": " + QuoteForError(cut));
    if (IsUtf8(value)) {
      FUZZ_CHECK(value.compare(0, cut.size(), cut) == 0, QuoteForError(cut));
      if (value.size() <= max) FUZZ_CHECK(cut == value, QuoteForError(cut));
    }
  }

  const std::string quoted = QuoteForError(value);
  FUZZ_CHECK(quoted.size() >= 2 && quoted.front() == '"' && quoted.back() == '"', quoted);
  for (char c : quoted) FUZZ_CHECK(c >= 0x20 && c < 0x7f, quoted);
  return 0;
}
