// The file `confctl txn -f` reads: a list of Txn operations in YAML or JSON.
//
//   - {type: put, tenant: f1, service: a, key: pool.size, value: "8"}
//   - {type: delete, tenant: f1, service: b, key: endpoint, expected_revision: 42}
#ifndef CONFCENTER_CLIENT_CONFCTL_TXN_FILE_H_
#define CONFCENTER_CLIENT_CONFCTL_TXN_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "confcenter/v1/config.pb.h"

namespace confcenter::confctl {

// Parses a Txn file: JSON if its first non-blank character is '[' or '{', YAML otherwise.
// The document is a list of ops (or a map whose only field "ops" is that list). Each op is a
// map with: type (put, delete or mask; any case), tenant, service, key (required strings),
// value (string or scalar, put only), content_type (text, json, yaml or properties; put
// only), expected_revision (a non-negative integer). Names are not validated here (the
// server does).
// Errors: INVALID_ARGUMENT naming the op and field ("ops[2].type: ...") for a malformed
// document, a missing or unknown field, or a wrong type; an empty list is an error too.
absl::StatusOr<v1::TxnRequest> ParseTxnFile(const std::string& text);

// "text", "json", "yaml", "properties" (any case) -> the content type.
// Errors: INVALID_ARGUMENT otherwise.
absl::StatusOr<v1::ContentType> ParseContentType(const std::string& name);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_TXN_FILE_H_
