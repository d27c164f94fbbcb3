#include "client/agent/render.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/confctl/properties.h"
#include "kainjow/mustache.hpp"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace confcenter::agent {
namespace {

using nlohmann::json;
namespace mustache = kainjow::mustache;

json EntryValue(const Entry& entry) {
  if (entry.json) {
    json parsed = json::parse(entry.value, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) return parsed;
  }
  return entry.value;
}

// The entries as one JSON object: flat ("db.pool": v) or nested by dots.
json Tree(const ViewData& view, bool nested) {
  json root = json::object();
  if (!nested) {
    for (const Entry& entry : view.entries) root[entry.key] = EntryValue(entry);
    return root;
  }
  // Keys that are a prefix (up to a dot) of another key cannot be both a value and an
  // object: they stay flat at the top level.
  std::vector<const Entry*> flat;
  for (size_t i = 0; i < view.entries.size(); ++i) {
    const Entry& entry = view.entries[i];
    const bool parent =
        i + 1 < view.entries.size() && absl::StartsWith(view.entries[i + 1].key, entry.key + ".");
    std::vector<std::string> parts = absl::StrSplit(entry.key, '.');
    bool empty_part = false;
    for (const std::string& part : parts) empty_part |= part.empty();
    if (parent || empty_part) {
      flat.push_back(&entry);
      continue;
    }
    json* node = &root;
    bool placed = true;
    for (size_t p = 0; p + 1 < parts.size(); ++p) {
      json& child = (*node)[parts[p]];
      if (child.is_null()) child = json::object();
      if (!child.is_object()) {  // an ancestor holds a value ("a" = 1 and "a.b.c")
        placed = false;
        break;
      }
      node = &child;
    }
    if (placed && !node->contains(parts.back())) {
      (*node)[parts.back()] = EntryValue(entry);
    } else {
      flat.push_back(&entry);
    }
  }
  for (const Entry* entry : flat) {
    if (!root.contains(entry->key)) root[entry->key] = EntryValue(*entry);
  }
  return root;
}

void EmitYaml(const json& value, YAML::Emitter& out) {
  switch (value.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, child] : value.items()) {
        out << YAML::Key << YAML::DoubleQuoted << key << YAML::Value;
        EmitYaml(child, out);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const json& child : value) EmitYaml(child, out);
      out << YAML::EndSeq;
      break;
    case json::value_t::string:
      // Quoted: "yes", "1.0" or "null" stay strings for every YAML reader.
      out << YAML::DoubleQuoted << value.get<std::string>();
      break;
    case json::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers and booleans of embedded JSON documents
      out << value.dump();
      break;
  }
}

std::string EnvName(const std::string& key, const RenderOptions& options) {
  if (auto it = options.env_names.find(key); it != options.env_names.end()) return it->second;
  std::string name = options.env_prefix;
  for (char c : key) {
    const char upper = absl::ascii_toupper(static_cast<unsigned char>(c));
    name += absl::ascii_isalnum(static_cast<unsigned char>(upper)) || upper == '_' ? upper : '_';
  }
  if (!name.empty() && absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) name = "_" + name;
  return name;
}

// A value as the shell, systemd's EnvironmentFile and docker-compose's env_file read it:
// bare when it holds only safe characters, else double-quoted with \ " $ ` and newlines
// escaped.
std::string EnvValue(const std::string& value) {
  bool safe = true;
  for (char c : value) {
    safe &= absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
            std::string_view("_-./:@%+,=").find(c) != std::string_view::npos;
  }
  if (safe) return value;
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '\\':
      case '"':
      case '$':
      case '`':
        out += '\\';
        out += c;
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

mustache::data MustacheData(const json& value) {
  switch (value.type()) {
    case json::value_t::object: {
      mustache::data object{mustache::data::type::object};
      for (const auto& [key, child] : value.items()) object.set(key, MustacheData(child));
      return object;
    }
    case json::value_t::array: {
      mustache::data list{mustache::data::type::list};
      for (const json& child : value) list.push_back(MustacheData(child));
      return list;
    }
    case json::value_t::string:
      return mustache::data(value.get<std::string>());
    case json::value_t::boolean:
      return mustache::data(value.get<bool>());
    case json::value_t::null:
      return mustache::data(std::string());
    default:
      return mustache::data(value.dump());
  }
}

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "json") return Format::kJson;
  if (name == "yaml") return Format::kYaml;
  if (name == "properties") return Format::kProperties;
  if (name == "env") return Format::kEnv;
  if (name == "template") return Format::kTemplate;
  return absl::InvalidArgumentError(
      absl::StrCat("format: \"", name, "\" is none of json, yaml, properties, env, template"));
}

struct Template::Impl {
  explicit Impl(const std::string& text) : templ(text) {}
  mutable mustache::mustache templ;
};

Template::Template(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Template::~Template() = default;

absl::StatusOr<std::shared_ptr<const Template>> Template::Parse(const std::string& text) {
  auto impl = std::make_unique<Impl>(text);
  if (!impl->templ.is_valid()) {
    return absl::InvalidArgumentError(impl->templ.error_message());
  }
  // Config files are not HTML.
  impl->templ.set_custom_escape([](const std::string& s) { return s; });
  return std::shared_ptr<const Template>(new Template(std::move(impl)));
}

std::string Template::Render(const ViewData& view) const {
  json data = Tree(view, /*nested=*/true);
  json entries = json::array();
  for (const Entry& entry : view.entries) {
    entries.push_back(
        {{"key", entry.key}, {"value", entry.value}, {"source_tenant", entry.source_tenant}});
  }
  data["_tenant"] = view.tenant;
  data["_service"] = view.service;
  data["_revision"] = std::to_string(view.revision);
  data["_entries"] = std::move(entries);
  return impl_->templ.render(MustacheData(data));
}

absl::StatusOr<std::string> Render(const ViewData& view, const RenderOptions& options) {
  switch (options.format) {
    case Format::kJson:
      return Tree(view, options.nested).dump(2) + "\n";
    case Format::kYaml: {
      YAML::Emitter out;
      EmitYaml(Tree(view, options.nested), out);
      return std::string(out.c_str()) + "\n";
    }
    case Format::kProperties: {
      std::string text;
      for (const Entry& entry : view.entries) {
        absl::StrAppend(&text, confctl::EscapePropertiesKey(entry.key), "=",
                        confctl::EscapePropertiesValue(entry.value), "\n");
      }
      return text;
    }
    case Format::kEnv: {
      std::string text;
      std::map<std::string, bool> taken;
      for (const Entry& entry : view.entries) {
        const std::string name = EnvName(entry.key, options);
        if (!taken.emplace(name, true).second) continue;
        absl::StrAppend(&text, name, "=", EnvValue(entry.value), "\n");
      }
      return text;
    }
    case Format::kTemplate:
      if (options.templ == nullptr) {
        return absl::InvalidArgumentError("template: required with format template");
      }
      return options.templ->Render(view);
  }
  return absl::InvalidArgumentError("format: unknown");
}

}  // namespace confcenter::agent
