// Nested config documents <-> flat dotted keys, the shape confcenter stores.
//
//   {"db": {"host": "h", "ports": [1, 2]}}  <->  db.host=h, db.ports.0=1, db.ports.1=2
#ifndef CONFCENTER_CLIENT_CONFCTL_FLATTEN_H_
#define CONFCENTER_CLIENT_CONFCTL_FLATTEN_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {

// Flat config: dotted key -> text value, ordered by key.
using FlatMap = std::map<std::string, std::string>;

// The deepest a document may nest: a config key has at most 256 characters, hence at most
// 128 segments. Deeper documents are refused before their recursion could exhaust the stack.
inline constexpr int kMaxNestingDepth = 128;

// The most values (scalars, maps and sequences) a YAML document may expand to once its aliases
// are resolved; a few lines of nested aliases can otherwise expand to billions. Above the
// server's default quota of 100,000 keys per tenant: every document that quota admits decodes.
inline constexpr size_t kMaxYamlValues = size_t{1} << 17;

// Flattens a document: the keys of nested objects are joined with "." ({"a": {"b": 1}} ->
// "a.b"), array elements use their index as the segment ({"l": ["x", "y"]} -> "l.0", "l.1"),
// and every scalar becomes text: strings as they are, numbers as JSON writes them ("8080",
// "1.5"), booleans "true"/"false", null "". A key of the document may itself contain dots
// ({"a.b": 1} is the key "a.b", the same as {"a": {"b": 1}}). Empty objects and arrays yield
// no key. Keys are not validated here.
// Errors: INVALID_ARGUMENT if the root is not an object (null counts as an empty object), if
// two paths flatten to the same key (the message names the key), or if the document nests
// deeper than kMaxNestingDepth.
absl::StatusOr<FlatMap> FlattenJson(const nlohmann::ordered_json& root);

// Converts a YAML node to JSON with every scalar as a string exactly as written ("08",
// "true", "1.50" stay text) and null as null; maps keep their order, aliases are resolved.
// Errors: INVALID_ARGUMENT if a map key is not a scalar, if the document nests deeper than
// kMaxNestingDepth, or if it expands to more than kMaxYamlValues values.
absl::StatusOr<nlohmann::ordered_json> YamlToJson(const YAML::Node& node);

// The inverse of FlattenJson for text values: splits every key at its dots and nests the
// segments. An object whose segments are exactly "0".."n-1" becomes an array. A key that is
// both a value and the prefix of other keys ("a" and "a.b") cannot nest both, so the deeper
// keys stay dotted in the enclosing object: {"a": "1", "a.b": "2"}. A key with an empty
// segment is kept whole as one top-level name. Objects are ordered by key.
// For every FlatMap m of valid keys: FlattenJson(Unflatten(m)) == m.
nlohmann::ordered_json Unflatten(const FlatMap& flat);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_FLATTEN_H_
