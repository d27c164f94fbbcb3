#include "client/confctl/yaml_json.h"

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "client/confctl/utf8.h"

// Written by hand rather than with YAML::Emitter: yaml-cpp's writer replaces U+FFFE and
// U+FFFF with U+FFFD even when escaping, and writes U+0085/U+2028/U+2029 raw in plain scalars,
// where a reader takes them as line breaks (found by import_fuzz). The block layout of a JSON
// document is small; what matters is the scalar rules below.
namespace confcenter::confctl {
namespace {

constexpr int kIndent = 2;

// True if a YAML reader could take the plain scalar `text` as a boolean, null or number
// (YAML 1.1 or 1.2), so that writing it as a string needs quotes. Errs on the side of quoting.
bool LooksTyped(std::string_view text) {
  static const auto* const kWords = new absl::flat_hash_set<std::string_view>{
      "y",     "Y",     "yes",   "Yes",   "YES",   "n",     "N",    "no",   "No",   "NO",
      "true",  "True",  "TRUE",  "false", "False", "FALSE", "on",   "On",   "ON",   "off",
      "Off",   "OFF",   "~",     "null",  "Null",  "NULL",  ".inf", ".Inf", ".INF", "+.inf",
      "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN", ".NAN"};
  if (text.empty() || kWords->contains(text)) return true;
  const char first = text.front();
  if (!absl::ascii_isdigit(first) && first != '+' && first != '-' && first != '.') return false;
  return text.find_first_not_of("0123456789abcdefABCDEFxXoO_.:+-") == std::string_view::npos;
}

// True if `code` may appear unescaped in a scalar: YAML's printable set (1.2 §5.1) less
// what a YAML 1.1 reader takes as a line break or a byte order mark, and less the no-break
// space, which readers disagree about. Tab and line feed are handled by the callers.
bool WritableRaw(uint32_t code) {
  if (code < 0x80) return code >= 0x20 && code != 0x7F;
  if (code <= 0xA0) return false;  // C1 controls (U+0085 is NEL) and the no-break space.
  return code != 0x2028 && code != 0x2029 && code != 0xFEFF && code != 0xFFFE && code != 0xFFFF;
}

// True if `text` can be written as a plain (unquoted) scalar, as a key or a value, and read
// back as the same string. Conservative: anything doubtful is quoted.
bool PlainIsSafe(std::string_view text) {
  if (LooksTyped(text)) return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@` ").find(text.front()) != std::string_view::npos) {
    return false;
  }
  if (text.back() == ' ' || text.back() == ':') return false;
  if (text.find(": ") != std::string_view::npos || text.find(" #") != std::string_view::npos) {
    return false;
  }
  // A document end marker at the start of a line; a merge key.
  if (text.substr(0, 3) == "..." || text == "<<") return false;
  for (size_t pos = 0; pos < text.size();) {
    const std::optional<uint32_t> code = NextUtf8(text, &pos);
    if (!code || !WritableRaw(*code)) return false;  // invalid UTF-8 is written as U+FFFD
  }
  return true;
}

// YAML's short escape of `code`, or nullptr if it has none we use.
const char* ShortEscape(uint32_t code) {
  switch (code) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\t':
      return "\\t";
    case '\r':
      return "\\r";
    default:
      return nullptr;
  }
}

void AppendDoubleQuoted(std::string_view text, std::string* out) {
  out->push_back('"');
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const std::optional<uint32_t> code = NextUtf8(text, &pos);
    if (!code) {
      out->append("\\uFFFD");  // invalid UTF-8
    } else if (const char* escape = ShortEscape(*code)) {
      out->append(escape);
    } else if (WritableRaw(*code)) {
      out->append(text.substr(start, pos - start));  // valid UTF-8: NextUtf8 said so
    } else if (*code <= 0xFF) {
      absl::StrAppendFormat(out, "\\x%02X", *code);
    } else {
      absl::StrAppendFormat(out, "\\u%04X", *code);
    }
  }
  out->push_back('"');
}

void AppendScalar(std::string_view text, std::string* out) {
  if (PlainIsSafe(text)) {
    out->append(text);
  } else {
    AppendDoubleQuoted(text, out);
  }
}

bool IsBlock(const nlohmann::ordered_json& value) {
  return value.is_structured() && !value.empty();
}

// Appends a non-block value (scalar, or empty map or list in flow style) with no line break.
void AppendInline(const nlohmann::ordered_json& value, std::string* out) {
  if (value.is_object()) {
    out->append("{}");
  } else if (value.is_array()) {
    out->append("[]");
  } else if (value.is_string()) {
    AppendScalar(value.get_ref<const std::string&>(), out);
  } else if (value.is_null()) {
    out->append("~");
  } else {
    // Numbers and booleans: their JSON spelling is also their YAML spelling.
    out->append(value.dump());
  }
}

// Appends the non-empty map or list `value` in block style, each entry on its own line,
// indented by `indent` spaces; the first line's indentation is already written (after "- ")
// when `first_line_indented`.
void AppendBlock(const nlohmann::ordered_json& value, int indent, bool first_line_indented,
                 std::string* out) {
  bool first = true;
  const auto start_line = [&] {
    if (!first || !first_line_indented) out->append(indent, ' ');
    first = false;
  };
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      start_line();
      AppendScalar(it.key(), out);
      out->push_back(':');
      if (IsBlock(it.value())) {  // Lists too are indented under their key.
        out->push_back('\n');
        AppendBlock(it.value(), indent + kIndent, false, out);
      } else {
        out->push_back(' ');
        AppendInline(it.value(), out);
        out->push_back('\n');
      }
    }
  } else {
    for (const auto& element : value) {
      start_line();
      out->append("- ");
      if (IsBlock(element)) {
        AppendBlock(element, indent + kIndent, true, out);
      } else {
        AppendInline(element, out);
        out->push_back('\n');
      }
    }
  }
}

}  // namespace

std::string JsonToYaml(const nlohmann::ordered_json& doc) {
  std::string out;
  if (IsBlock(doc)) {
    AppendBlock(doc, 0, false, &out);
  } else {
    AppendInline(doc, &out);
    out.push_back('\n');
  }
  return out;
}

}  // namespace confcenter::confctl
