// Service-definition parsing (confctl's definition_file.h) feeding the server's
// ValidateDefinition (server/core/registry.h): any text either parses or fails with
// INVALID_ARGUMENT; every parsed definition passes validation or fails with INVALID_ARGUMENT
// whose message starts with the definition's path ("services[1].endpoints[0].port: ...");
// a valid one renders every endpoint within the address limit for the longest and shortest
// tenant names; and a parsed definition printed as JSON parses back to itself.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/confctl/definition_file.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/core/registry.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<v1::ServiceDefinition>> defs = confctl::ParseDefinitionFile(text);
  if (!defs.ok()) {
    FUZZ_CHECK(defs.status().code() == absl::StatusCode::kInvalidArgument,
               defs.status().ToString());
    return 0;
  }
  FUZZ_CHECK(!defs->empty(), "parsed, but no definition");
  for (size_t i = 0; i < defs->size(); ++i) {
    const v1::ServiceDefinition& def = (*defs)[i];
    const std::string field = absl::StrCat("services[", i, "]");
    const std::string ctx = absl::StrCat(field, " = ", def.ShortDebugString());
    absl::Status valid = ValidateDefinition(field, def, 1 << 20);
    if (!valid.ok()) {
      const absl::string_view message = valid.message();
      FUZZ_CHECK(valid.code() == absl::StatusCode::kInvalidArgument,
                 absl::StrCat(ctx, ": ", valid.ToString()));
      FUZZ_CHECK(fuzz::StartsWithFieldPath(message) && (absl::StartsWith(message, field + ".") ||
                                                        absl::StartsWith(message, field + ":")),
                 absl::StrCat(ctx, ": ", valid.ToString()));
    } else {
      for (const std::string& tenant : {std::string(63, 'x'), std::string("a")}) {
        const std::map<std::string, std::string> endpoints = RenderEndpoints(def, tenant);
        FUZZ_CHECK(static_cast<int>(endpoints.size()) == def.endpoints_size(), ctx);
        for (const auto& [name, address] : endpoints) {
          FUZZ_CHECK(!address.empty() && address.size() <= 253, absl::StrCat(ctx, ": ", address));
        }
      }
      FUZZ_CHECK(!DescribeService(def).empty(), ctx);
    }

    std::string json;
    FUZZ_CHECK(google::protobuf::util::MessageToJsonString(def, &json).ok(), ctx);
    absl::StatusOr<std::vector<v1::ServiceDefinition>> again = confctl::ParseDefinitionFile(json);
    FUZZ_CHECK(again.ok() && again->size() == 1,
               absl::StrCat(ctx, "\nprinted as ", json,
                            "\ndoes not parse back: ", again.status().ToString()));
    FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals((*again)[0], def),
               absl::StrCat(ctx, "\nprinted as ", json, "\nparses back as ",
                            (*again)[0].ShortDebugString()));
  }
  return 0;
}
