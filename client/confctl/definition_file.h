// The service definition files `confctl register -f` reads.
#ifndef CONFCENTER_CLIENT_CONFCTL_DEFINITION_FILE_H_
#define CONFCENTER_CLIENT_CONFCTL_DEFINITION_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "confcenter/v1/tenant.pb.h"

namespace confcenter::confctl {

// Parses a definition file: YAML (one or more documents) or JSON (if the first non-blank
// character is '{' or '['). Each document is one definition (confcenter.v1.ServiceDefinition
// in its JSON mapping, snake_case or lowerCamelCase names) or a list of them. For humans:
// `protocol` may be grpc, http or tcp, a generated key's `kind` secret, uuid or token (any
// case), and `defaults` may nest ({db: {pool: {size: 10}}} is the key db.pool.size = "10").
// The server validates the definitions; this only checks the shape.
// Errors: INVALID_ARGUMENT naming the definition and field ("definitions[1]: ...") for a
// malformed document, an unknown field or a wrong type, or a file without definitions.
absl::StatusOr<std::vector<v1::ServiceDefinition>> ParseDefinitionFile(const std::string& text);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_DEFINITION_FILE_H_
