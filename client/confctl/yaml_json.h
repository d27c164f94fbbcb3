// Writing JSON documents as YAML, for `-o yaml` and YAML export.
#ifndef CONFCENTER_CLIENT_CONFCTL_YAML_JSON_H_
#define CONFCENTER_CLIENT_CONFCTL_YAML_JSON_H_

#include <string>

#include "nlohmann/json.hpp"

namespace confcenter::confctl {

// `doc` as a YAML document in block style with 2-space indentation, ending in "\n":
// objects become maps (in their order), arrays sequences, numbers and booleans plain
// scalars, null "~", and strings (values and keys) scalars that stay strings: quoted where a
// YAML reader would take them as anything else ("", "~", "null", "true", "yes", "on",
// "8080", "1.5", " x", "a: b"...). UTF-8 is written as is, except what YAML cannot carry raw
// or a reader may take as a line break (controls, U+0085, U+2028, U+2029, U+FEFF, U+FFFE,
// U+FFFF), which is escaped in a double-quoted scalar. Any YAML reader gets every valid UTF-8
// string back exactly, as a string; invalid UTF-8 sequences are written as U+FFFD.
std::string JsonToYaml(const nlohmann::ordered_json& doc);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_YAML_JSON_H_
