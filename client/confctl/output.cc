#include "client/confctl/output.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/confctl/yaml_json.h"
#include "google/protobuf/util/json_util.h"

namespace confcenter::confctl {
namespace {

constexpr char kEllipsis[] = "...";

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The byte length of the first `chars` UTF-8 characters of `text` (all of it if shorter).
size_t PrefixBytes(absl::string_view text, size_t chars) {
  size_t pos = 0;
  for (size_t n = 0; n < chars && pos < text.size(); ++n) {
    ++pos;
    while (pos < text.size() && IsContinuationByte(text[pos])) ++pos;
  }
  return pos;
}

std::string Dump(const nlohmann::ordered_json& doc, int indent) {
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// "CONTENT_TYPE_JSON" -> "json" given the prefix "CONTENT_TYPE_".
std::string ShortEnumName(const std::string& full, absl::string_view prefix) {
  absl::string_view name = full;
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "yaml") return OutputFormat::kYaml;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown output format \"", name, "\": use table, json or yaml"));
}

std::string CutValue(absl::string_view value, size_t max_chars) {
  const size_t line_end = value.find_first_of("\r\n");
  const bool multiline = line_end != absl::string_view::npos;
  absl::string_view first_line = value.substr(0, line_end);
  const size_t ellipsis_chars = sizeof(kEllipsis) - 1;
  if (!multiline && DisplayWidth(first_line) <= max_chars) return std::string(first_line);
  const size_t keep = max_chars > ellipsis_chars ? max_chars - ellipsis_chars : 0;
  return absl::StrCat(first_line.substr(0, PrefixBytes(first_line, keep)), kEllipsis);
}

size_t DisplayWidth(absl::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return !IsContinuationByte(c); });
}

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

void Table::Print(std::ostream& out) const {
  const size_t columns = rows_.front().size();
  std::vector<size_t> widths(columns, 0);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < columns && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      if (i > 0) line += "  ";
      line += cell;
      if (i + 1 < columns) line.append(widths[i] - DisplayWidth(cell), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  out.flush();
}

nlohmann::ordered_json ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
    return nlohmann::ordered_json::object();
  }
  return nlohmann::ordered_json::parse(text);
}

void PrintDocument(const nlohmann::ordered_json& doc, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kYaml) {
    out << JsonToYaml(doc);
  } else {
    out << Dump(doc, 2) << "\n";
  }
  out.flush();
}

void PrintMessage(const google::protobuf::Message& message, OutputFormat format,
                  std::ostream& out) {
  PrintDocument(ProtoToJson(message), format, out);
}

void PrintStreamDocument(const nlohmann::ordered_json& doc, OutputFormat format,
                         std::ostream& out) {
  if (format == OutputFormat::kYaml) {
    out << "---\n" << JsonToYaml(doc);
  } else {
    out << Dump(doc, -1) << "\n";
  }
  out.flush();
}

std::string ContentTypeName(v1::ContentType type) {
  return ShortEnumName(v1::ContentType_Name(type), "CONTENT_TYPE_");
}

std::string EntryKindName(v1::EntryKind kind) {
  return ShortEnumName(v1::EntryKind_Name(kind), "ENTRY_KIND_");
}

}  // namespace confcenter::confctl
