#include "client/confctl/flatten.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace confcenter::confctl {
namespace {

using Json = nlohmann::ordered_json;

std::string JoinKey(const std::string& prefix, const std::string& segment) {
  return prefix.empty() ? segment : absl::StrCat(prefix, ".", segment);
}

std::string ScalarText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

absl::Status TooDeep() {
  return absl::InvalidArgumentError(
      absl::StrCat("the document nests deeper than ", kMaxNestingDepth,
                   " levels; a config key has at most that many segments"));
}

// `depth` is the number of segments in `path`.
absl::Status FlattenInto(const Json& value, const std::string& path, int depth, FlatMap* out) {
  if (value.is_object() || value.is_array()) {
    if (depth >= kMaxNestingDepth && !value.empty()) return TooDeep();
    size_t index = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++index) {
      const std::string segment = value.is_object() ? it.key() : std::to_string(index);
      absl::Status status = FlattenInto(it.value(), JoinKey(path, segment), depth + 1, out);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }
  if (!out->emplace(path, ScalarText(value)).second) {
    return absl::InvalidArgumentError(
        absl::StrCat("key \"", path, "\" is given twice (once nested, once dotted?)"));
  }
  return absl::OkStatus();
}

// One node of the key trie: a value, children by segment, or both.
struct TrieNode {
  std::optional<std::string> value;
  std::map<std::string, TrieNode> children;
};

void Insert(const std::string& key, const std::string& value, TrieNode* root) {
  std::vector<std::string> segments = absl::StrSplit(key, '.');
  for (const std::string& segment : segments) {
    if (segment.empty()) {
      segments = {key};
      break;
    }
  }
  TrieNode* node = root;
  for (const std::string& segment : segments) node = &node->children[segment];
  node->value = value;
}

bool CanBeArrayElement(const TrieNode& node) {
  return !(node.value.has_value() && !node.children.empty());
}

// True if the children are exactly "0".."n-1", each renderable as one array element.
bool IsArray(const TrieNode& node) {
  if (node.children.empty()) return false;
  for (size_t i = 0; i < node.children.size(); ++i) {
    auto it = node.children.find(std::to_string(i));
    if (it == node.children.end() || !CanBeArrayElement(it->second)) return false;
  }
  return true;
}

Json Render(const TrieNode& node);

// Adds `child` under `name` to `object`; see Unflatten for a child with value and children.
void AddEntries(const std::string& name, const TrieNode& child, Json* object) {
  if (child.children.empty()) {
    (*object)[name] = child.value.value_or("");
    return;
  }
  if (!child.value.has_value()) {
    (*object)[name] = Render(child);
    return;
  }
  (*object)[name] = *child.value;
  for (const auto& [segment, grandchild] : child.children) {
    AddEntries(absl::StrCat(name, ".", segment), grandchild, object);
  }
}

Json RenderElement(const TrieNode& node) {
  if (node.children.empty()) return Json(node.value.value_or(""));
  return Render(node);
}

Json Render(const TrieNode& node) {
  if (IsArray(node)) {
    Json array = Json::array();
    for (size_t i = 0; i < node.children.size(); ++i) {
      array.push_back(RenderElement(node.children.at(std::to_string(i))));
    }
    return array;
  }
  Json object = Json::object();
  for (const auto& [segment, child] : node.children) AddEntries(segment, child, &object);
  return object;
}

}  // namespace

absl::StatusOr<FlatMap> FlattenJson(const nlohmann::ordered_json& root) {
  if (root.is_null()) return FlatMap();
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the document must be a map of keys, not a ", root.type_name()));
  }
  FlatMap flat;
  absl::Status status = FlattenInto(root, "", 0, &flat);
  if (!status.ok()) return status;
  return flat;
}

namespace {

// `depth` counts the maps and sequences above `node`; `values` counts what was converted so far.
absl::StatusOr<Json> YamlToJsonBounded(const YAML::Node& node, int depth, size_t* values) {
  if (++*values > kMaxYamlValues) {
    return absl::InvalidArgumentError(absl::StrCat("the document expands to more than ",
                                                   kMaxYamlValues, " values (nested aliases?)"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return Json(node.Scalar());
    case YAML::NodeType::Sequence: {
      if (depth >= kMaxNestingDepth && node.size() > 0) return TooDeep();
      Json array = Json::array();
      for (const YAML::Node& element : node) {
        absl::StatusOr<Json> converted = YamlToJsonBounded(element, depth + 1, values);
        if (!converted.ok()) return converted.status();
        array.push_back(*std::move(converted));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      if (depth >= kMaxNestingDepth && node.size() > 0) return TooDeep();
      Json object = Json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", entry.first.Mark().line + 1, ": map keys must be scalars"));
        }
        absl::StatusOr<Json> converted = YamlToJsonBounded(entry.second, depth + 1, values);
        if (!converted.ok()) return converted.status();
        object[entry.first.Scalar()] = *std::move(converted);
      }
      return object;
    }
  }
  return Json(nullptr);
}

}  // namespace

absl::StatusOr<nlohmann::ordered_json> YamlToJson(const YAML::Node& node) {
  size_t values = 0;
  return YamlToJsonBounded(node, 0, &values);
}

nlohmann::ordered_json Unflatten(const FlatMap& flat) {
  TrieNode root;
  for (const auto& [key, value] : flat) Insert(key, value, &root);
  if (root.children.empty()) return Json::object();
  Json object = Json::object();
  for (const auto& [segment, child] : root.children) AddEntries(segment, child, &object);
  return object;
}

}  // namespace confcenter::confctl
