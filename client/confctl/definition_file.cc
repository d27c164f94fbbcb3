#include "client/confctl/definition_file.h"

#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/confctl/flatten.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {
namespace {

using Json = nlohmann::ordered_json;

// yaml-cpp 0.7 (Debian 12) loops forever in YAML::LoadAll, allocating a null document per
// turn, on input where a document consumes nothing, such as ",[" (found by definition_fuzz;
// fixed upstream after 0.8, jbeder/yaml-cpp#1319). This walks the documents once with the
// event parser, which runs the same loop, and stops where a document starts where the
// previous one did.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  YAML::Mark start = YAML::Mark::null_mark();
};

// Throws YAML::Exception like LoadAll for malformed input, and for input LoadAll would loop on.
void CheckDocumentsEnd(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  int previous = -1;
  while (parser.HandleNextDocument(starts)) {
    if (starts.start.pos == previous) {
      throw YAML::ParserException(starts.start, "unexpected token: a document cannot start here");
    }
    previous = starts.start.pos;
  }
}

absl::StatusOr<std::vector<Json>> ParseDocuments(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (text[first] == '[' || text[first] == '{')) {
    try {
      return std::vector<Json>{Json::parse(text)};
    } catch (const nlohmann::json::exception& e) {
      // Flow-style YAML ("[{name: a}]") starts the same way: try it as YAML before failing.
      try {
        YAML::Node node = YAML::Load(text);
        absl::StatusOr<Json> doc = YamlToJson(node);
        if (doc.ok()) return std::vector<Json>{*std::move(doc)};
      } catch (const YAML::Exception&) {
      }
      return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
    }
  }
  std::vector<Json> docs;
  try {
    CheckDocumentsEnd(text);
    for (const YAML::Node& node : YAML::LoadAll(text)) {
      if (node.IsNull()) continue;
      absl::StatusOr<Json> doc = YamlToJson(node);
      if (!doc.ok()) return doc.status();
      docs.push_back(*std::move(doc));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  return docs;
}

// Upper-cases a short enum name into its proto name: "grpc" -> "PROTOCOL_GRPC".
void ExpandEnum(Json& object, const char* field, const std::string& prefix) {
  auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return;
  std::string upper = absl::AsciiStrToUpper(it->get<std::string>());
  if (!upper.empty() && absl::ascii_isdigit(upper[0])) return;  // an enum number
  if (upper.rfind(prefix, 0) != 0) upper = prefix + upper;
  *it = upper;
}

absl::Status Normalize(Json& def, const std::string& field) {
  if (!def.is_object()) return absl::InvalidArgumentError(absl::StrCat(field, ": must be a map"));
  ExpandEnum(def, "protocol", "PROTOCOL_");
  for (const char* keys : {"generated_keys", "generatedKeys"}) {
    auto it = def.find(keys);
    if (it == def.end() || !it->is_array()) continue;
    for (Json& key : *it) {
      if (key.is_object()) ExpandEnum(key, "kind", "GENERATED_KEY_KIND_");
    }
  }
  if (auto it = def.find("defaults"); it != def.end() && it->is_object()) {
    absl::StatusOr<FlatMap> flat = FlattenJson(*it);
    if (!flat.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".defaults: ", flat.status().message()));
    }
    Json flat_json = Json::object();
    for (const auto& [k, v] : *flat) flat_json[k] = v;
    *it = std::move(flat_json);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<v1::ServiceDefinition>> ParseDefinitionFile(const std::string& text) {
  absl::StatusOr<std::vector<Json>> docs = ParseDocuments(text);
  if (!docs.ok()) return docs.status();
  std::vector<Json> defs;
  for (Json& doc : *docs) {
    if (doc.is_array()) {
      for (Json& def : doc) defs.push_back(std::move(def));
    } else {
      defs.push_back(std::move(doc));
    }
  }
  if (defs.empty()) return absl::InvalidArgumentError("the file holds no service definition");
  std::vector<v1::ServiceDefinition> out;
  for (size_t i = 0; i < defs.size(); ++i) {
    const std::string field = absl::StrCat("definitions[", i, "]");
    if (absl::Status s = Normalize(defs[i], field); !s.ok()) return s;
    std::string json;
    try {
      json = defs[i].dump();
    } catch (const nlohmann::json::type_error& e) {
      // A YAML file may hold any bytes; definitions are proto3 strings, which are UTF-8.
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": is not valid UTF-8 text (", e.what(), ")"));
    }
    v1::ServiceDefinition def;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(json, &def, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", std::string(status.message())));
    }
    out.push_back(std::move(def));
  }
  return out;
}

}  // namespace confcenter::confctl
