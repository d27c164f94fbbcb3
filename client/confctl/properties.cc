#include "client/confctl/properties.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/confctl/utf8.h"

namespace confcenter::confctl {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\f'; }

// One logical line: its text with continuations joined, and its first natural line number.
struct LogicalLine {
  std::string text;
  int line_number = 0;
};

// The natural lines of `text`, without their terminators.
std::vector<std::string> NaturalLines(absl::string_view text) {
  std::vector<std::string> lines;
  std::string current;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      lines.push_back(std::move(current));
      current.clear();
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) lines.push_back(std::move(current));
  return lines;
}

// True if `line` ends in an odd number of backslashes.
bool EndsWithContinuation(const std::string& line) {
  size_t backslashes = 0;
  for (auto it = line.rbegin(); it != line.rend() && *it == '\\'; ++it) ++backslashes;
  return backslashes % 2 == 1;
}

size_t FirstNonSpace(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  return i;
}

std::vector<LogicalLine> LogicalLines(absl::string_view text) {
  const std::vector<std::string> natural = NaturalLines(text);
  std::vector<LogicalLine> logical;
  for (size_t i = 0; i < natural.size(); ++i) {
    size_t start = FirstNonSpace(natural[i]);
    if (start == natural[i].size()) continue;
    if (natural[i][start] == '#' || natural[i][start] == '!') continue;
    LogicalLine line{natural[i].substr(start), static_cast<int>(i) + 1};
    while (EndsWithContinuation(line.text)) {
      line.text.pop_back();
      if (++i >= natural.size()) break;
      line.text += natural[i].substr(FirstNonSpace(natural[i]));
    }
    logical.push_back(std::move(line));
  }
  return logical;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

bool IsHighSurrogate(uint32_t unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
bool IsLowSurrogate(uint32_t unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

// Reads "\uXXXX" at text[*pos] (pointing at the backslash); advances past it.
std::optional<uint32_t> ReadUnicodeEscape(absl::string_view text, size_t* pos) {
  if (*pos + 6 > text.size() || text[*pos] != '\\' || text[*pos + 1] != 'u') {
    return std::nullopt;
  }
  uint32_t unit = 0;
  for (size_t i = *pos + 2; i < *pos + 6; ++i) {
    const char c = text[i];
    unit <<= 4;
    if (c >= '0' && c <= '9') {
      unit |= c - '0';
    } else if (c >= 'a' && c <= 'f') {
      unit |= c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      unit |= c - 'A' + 10;
    } else {
      return std::nullopt;
    }
  }
  *pos += 6;
  return unit;
}

absl::Status LineError(int line_number, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", what));
}

// Decodes a \uXXXX escape (and its low surrogate, if it is a high one) at text[*pos].
absl::Status DecodeUnicode(absl::string_view text, size_t* pos, int line_number, std::string* out) {
  std::optional<uint32_t> unit = ReadUnicodeEscape(text, pos);
  if (!unit) return LineError(line_number, "malformed \\uXXXX encoding");
  uint32_t code_point = *unit;
  if (IsHighSurrogate(code_point)) {
    std::optional<uint32_t> low = ReadUnicodeEscape(text, pos);
    if (!low || !IsLowSurrogate(*low)) return LineError(line_number, "unpaired surrogate");
    code_point = 0x10000 + ((code_point - 0xD800) << 10) + (*low - 0xDC00);
  } else if (IsLowSurrogate(code_point)) {
    return LineError(line_number, "unpaired surrogate");
  }
  AppendUtf8(code_point, out);
  return absl::OkStatus();
}

// Properties.loadConvert: resolves the escapes of a key or value.
absl::StatusOr<std::string> Unescape(absl::string_view text, int line_number) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] != '\\') {
      out.push_back(text[pos++]);
      continue;
    }
    if (pos + 1 >= text.size()) break;  // a lone trailing backslash stands for nothing
    const char next = text[pos + 1];
    if (next == 'u') {
      absl::Status status = DecodeUnicode(text, &pos, line_number, &out);
      if (!status.ok()) return status;
      continue;
    }
    switch (next) {
      case 't':
        out.push_back('\t');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'f':
        out.push_back('\f');
        break;
      default:
        out.push_back(next);
        break;
    }
    pos += 2;
  }
  return out;
}

// Splits a logical line into its raw (still escaped) key and value.
std::pair<absl::string_view, absl::string_view> SplitKeyValue(absl::string_view line) {
  size_t key_end = 0;
  size_t value_start = line.size();
  bool has_separator = false;
  bool escaped = false;
  for (; key_end < line.size(); ++key_end) {
    const char c = line[key_end];
    if (!escaped && (c == '=' || c == ':' || IsSpace(c))) {
      has_separator = c == '=' || c == ':';
      value_start = key_end + 1;
      break;
    }
    escaped = c == '\\' && !escaped;
  }
  while (value_start < line.size()) {
    const char c = line[value_start];
    if (!IsSpace(c)) {
      if (has_separator || (c != '=' && c != ':')) break;
      has_separator = true;
    }
    ++value_start;
  }
  return {line.substr(0, key_end), line.substr(value_start)};
}

// Decodes one UTF-8 character at text[*pos] and advances; an invalid byte is read as Latin-1.
uint32_t NextCodePoint(absl::string_view text, size_t* pos) {
  const unsigned char byte = static_cast<unsigned char>(text[*pos]);
  return NextUtf8(std::string_view(text.data(), text.size()), pos).value_or(byte);
}

void AppendUnicodeEscape(uint32_t unit, std::string* out) {
  absl::StrAppendFormat(out, "\\u%04X", unit);
}

// Properties.saveConvert.
std::string Escape(absl::string_view text, bool escape_all_spaces) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const bool first = pos == 0;
    const uint32_t c = NextCodePoint(text, &pos);
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\f':
        out += "\\f";
        break;
      case '=':
      case ':':
      case '#':
      case '!':
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
        break;
      case ' ':
        out += (first || escape_all_spaces) ? "\\ " : " ";
        break;
      default:
        if (c < 0x20 || c > 0x7E) {
          if (c >= 0x10000) {
            AppendUnicodeEscape(0xD800 + ((c - 0x10000) >> 10), &out);
            AppendUnicodeEscape(0xDC00 + ((c - 0x10000) & 0x3FF), &out);
          } else {
            AppendUnicodeEscape(c, &out);
          }
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<FlatMap> ParseProperties(absl::string_view text) {
  FlatMap flat;
  for (const LogicalLine& line : LogicalLines(text)) {
    const auto [raw_key, raw_value] = SplitKeyValue(line.text);
    absl::StatusOr<std::string> key = Unescape(raw_key, line.line_number);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> value = Unescape(raw_value, line.line_number);
    if (!value.ok()) return value.status();
    flat[*std::move(key)] = *std::move(value);
  }
  return flat;
}

std::string EscapePropertiesKey(absl::string_view key) { return Escape(key, true); }

std::string EscapePropertiesValue(absl::string_view value) { return Escape(value, false); }

std::string WriteProperties(const FlatMap& flat) {
  std::string out;
  for (const auto& [key, value] : flat) {
    absl::StrAppend(&out, EscapePropertiesKey(key), "=", EscapePropertiesValue(value), "\n");
  }
  return out;
}

}  // namespace confcenter::confctl
