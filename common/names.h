// The grammar of names, shared by the server, confctl and CD scripts. Every check returns
// INVALID_ARGUMENT with a message of the form `<field>: "<value>" <what is wrong>`.
#ifndef CONFCENTER_COMMON_NAMES_H_
#define CONFCENTER_COMMON_NAMES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace confcenter {

// The tenant that exists from the first start and is every branch's default parent.
inline constexpr absl::string_view kIntegrationTenant = "integration";

// Tenant: a Kubernetes namespace name, 1-63 characters of [a-z0-9-], first and last
// character [a-z0-9].
absl::Status ValidateTenantName(absl::string_view field, absl::string_view value);
// Service: the same grammar as a tenant (a Kubernetes service name).
absl::Status ValidateServiceName(absl::string_view field, absl::string_view value);
// Endpoint (a Kubernetes port name): 1-15 characters of [a-z0-9-], at least one letter, no
// "-" at either end or twice in a row.
absl::Status ValidateEndpointName(absl::string_view field, absl::string_view value);
// Key: 1-256 characters of [A-Za-z0-9_.-], dot-separated non-empty segments, first character
// [A-Za-z0-9] (a leading "_" is reserved for keys the server generates).
absl::Status ValidateKey(absl::string_view field, absl::string_view value);
// Key prefix for listings: empty, or at most 256 characters of the key alphabet.
absl::Status ValidateKeyPrefix(absl::string_view field, absl::string_view value);
// Metadata label key: 1-63 characters of [A-Za-z0-9._-].
absl::Status ValidateLabelKey(absl::string_view field, absl::string_view value);

// The tenant name for a git branch: lowercased, every run of characters outside [a-z0-9]
// turned into one "-", leading and trailing "-" dropped, cut to 63 characters
// ("feature/Login_v2" -> "feature-login-v2"). Empty if nothing is left.
std::string NormalizeTenantName(absl::string_view branch);

// At most `max` bytes of `text`, never splitting a UTF-8 sequence; bytes that are not UTF-8
// are escaped (\xNN). For strings stored in proto3 records, which must be valid UTF-8.
std::string CutUtf8(absl::string_view text, size_t max);

// A tenant's gray release lives in a hidden child tenant of its own, "<tenant>~gray": a
// name no caller can give (`~` is outside the grammar), whose own entries are the gray
// values and whose streams are those of the instances in the gray audience.
inline constexpr absl::string_view kGraySuffix = "~gray";
inline std::string GrayTenantOf(absl::string_view tenant) {
  return std::string(tenant) + std::string(kGraySuffix);
}
inline bool IsGrayTenant(absl::string_view name) {
  return name.size() > kGraySuffix.size() &&
         name.substr(name.size() - kGraySuffix.size()) == kGraySuffix;
}
// The tenant a gray tenant belongs to ("pre~gray" -> "pre"); `name` itself otherwise.
inline std::string GrayBase(absl::string_view name) {
  return std::string(IsGrayTenant(name) ? name.substr(0, name.size() - kGraySuffix.size()) : name);
}

// `value` quoted for an error message: escaped, and cut to 64 characters with "..." after.
std::string QuoteForError(absl::string_view value);

}  // namespace confcenter

#endif  // CONFCENTER_COMMON_NAMES_H_
