// Config files for import and export: YAML, JSON and .properties <-> flat dotted keys.
#ifndef CONFCENTER_CLIENT_CONFCTL_CODEC_H_
#define CONFCENTER_CLIENT_CONFCTL_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/confctl/flatten.h"

namespace confcenter::confctl {

enum class FileFormat { kYaml, kJson, kProperties };

// "yaml" (or "yml"), "json", "properties" -> the format. Errors: INVALID_ARGUMENT otherwise.
absl::StatusOr<FileFormat> ParseFileFormat(const std::string& name);

// The format named by a path's extension: .yaml/.yml, .json, .properties (any case).
// Errors: INVALID_ARGUMENT for any other extension (the message suggests --format).
absl::StatusOr<FileFormat> FileFormatFromPath(const std::string& path);

// Decodes a config file into flat keys: YAML and JSON via FlattenJson (nested maps -> dotted
// keys, lists -> key.0, key.1..., scalars -> text; an empty document has no keys),
// properties via ParseProperties. Keys are not validated.
// Errors: INVALID_ARGUMENT with the parser's message (and line) for malformed input.
absl::StatusOr<FlatMap> DecodeConfig(const std::string& text, FileFormat format);

// Encodes flat keys as a file: YAML (JsonToYaml) and JSON (pretty, 2-space indent, UTF-8
// unescaped) of Unflatten(flat); properties via WriteProperties. Ends with a newline (an
// empty properties file is empty). DecodeConfig(EncodeConfig(m, f), f) == m for valid keys.
std::string EncodeConfig(const FlatMap& flat, FileFormat format);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_CODEC_H_
