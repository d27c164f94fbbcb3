#include "client/confctl/yaml_json.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {
namespace {

// True if a YAML reader could take the plain scalar `text` as a boolean, null or number
// (YAML 1.1 or 1.2), so that writing it as a string needs quotes. Errs on the side of quoting.
bool LooksTyped(const std::string& text) {
  static const auto* const kWords = new absl::flat_hash_set<std::string>{
      "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
      "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null",
      "NULL", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
      ".nan", ".NaN", ".NAN"};
  if (text.empty() || kWords->contains(text)) return true;
  const char first = text.front();
  if (!absl::ascii_isdigit(first) && first != '+' && first != '-' && first != '.') return false;
  return text.find_first_not_of("0123456789abcdefABCDEFxXoO_.:+-") == std::string::npos;
}

// True if yaml-cpp would write `text` plain but a reader would not get it back: trailing
// whitespace is dropped and control characters (other than the line breaks yaml-cpp already
// handles) are folded or refused. Found by import_fuzz ("x \r" came back as "x").
bool NeedsQuotes(const std::string& text) {
  if (!text.empty() && (text.back() == ' ' || text.back() == '\t')) return true;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f) return true;
  }
  return false;
}

void EmitString(const std::string& text, YAML::Emitter* out) {
  if (LooksTyped(text) || NeedsQuotes(text)) *out << YAML::DoubleQuoted;
  *out << text;
}

void Emit(const nlohmann::ordered_json& value, YAML::Emitter* out) {
  if (value.is_structured() && value.empty()) {
    // Flow style, so that an empty map or list stays on its key's line: "entries: []".
    *out << YAML::Flow;
  }
  if (value.is_object()) {
    *out << YAML::BeginMap;
    for (auto it = value.begin(); it != value.end(); ++it) {
      *out << YAML::Key;
      EmitString(it.key(), out);
      *out << YAML::Value;
      Emit(it.value(), out);
    }
    *out << YAML::EndMap;
  } else if (value.is_array()) {
    *out << YAML::BeginSeq;
    for (const auto& element : value) Emit(element, out);
    *out << YAML::EndSeq;
  } else if (value.is_string()) {
    EmitString(value.get_ref<const std::string&>(), out);
  } else if (value.is_null()) {
    *out << YAML::Null;
  } else {
    // Numbers and booleans: their JSON spelling is also their YAML spelling.
    *out << value.dump();
  }
}

}  // namespace

std::string JsonToYaml(const nlohmann::ordered_json& doc) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(doc, &out);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text.push_back('\n');
  return text;
}

}  // namespace confcenter::confctl
