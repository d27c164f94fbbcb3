#include "client/confctl/codec.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/confctl/properties.h"
#include "client/confctl/yaml_json.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {
namespace {

absl::StatusOr<FlatMap> DecodeYaml(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  absl::StatusOr<nlohmann::ordered_json> json = YamlToJson(root);
  if (!json.ok()) return json.status();
  return FlattenJson(*json);
}

absl::StatusOr<FlatMap> DecodeJson(const std::string& text) {
  nlohmann::ordered_json root;
  try {
    root = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
  return FlattenJson(root);
}

}  // namespace

absl::StatusOr<FileFormat> ParseFileFormat(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "yaml" || lower == "yml") return FileFormat::kYaml;
  if (lower == "json") return FileFormat::kJson;
  if (lower == "properties") return FileFormat::kProperties;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format \"", name, "\": use yaml, json or properties"));
}

absl::StatusOr<FileFormat> FileFormatFromPath(const std::string& path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    absl::StatusOr<FileFormat> format = ParseFileFormat(path.substr(dot + 1));
    if (format.ok()) return format;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot tell the format of \"", path,
                   "\" from its extension (.yaml, .yml, .json, .properties): give --format"));
}

absl::StatusOr<FlatMap> DecodeConfig(const std::string& text, FileFormat format) {
  switch (format) {
    case FileFormat::kYaml:
      return DecodeYaml(text);
    case FileFormat::kJson:
      return DecodeJson(text);
    case FileFormat::kProperties:
      return ParseProperties(text);
  }
  return absl::InternalError("unknown file format");
}

std::string EncodeConfig(const FlatMap& flat, FileFormat format) {
  switch (format) {
    case FileFormat::kYaml:
      return JsonToYaml(Unflatten(flat));
    case FileFormat::kJson:
      return Unflatten(flat).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    case FileFormat::kProperties:
      return WriteProperties(flat);
  }
  return "";
}

}  // namespace confcenter::confctl
