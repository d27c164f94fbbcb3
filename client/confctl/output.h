// How confctl prints results: aligned tables for people, JSON or YAML documents for scripts.
#ifndef CONFCENTER_CLIENT_CONFCTL_OUTPUT_H_
#define CONFCENTER_CLIENT_CONFCTL_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "confcenter/v1/types.pb.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace confcenter::confctl {

enum class OutputFormat { kTable, kJson, kYaml };

// "table", "json", "yaml" -> the format. Errors: INVALID_ARGUMENT otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name);

// The longest table cell a value gets, in characters, "..." included.
inline constexpr size_t kMaxCellChars = 60;

// A value for a table cell: cut before its first line break (\n or \r) and to at most
// `max_chars` UTF-8 characters, with "..." at the end of a cut value (within the limit).
// Never splits a UTF-8 character.
std::string CutValue(absl::string_view value, size_t max_chars = kMaxCellChars);

// The width of `text` on a terminal, counted as UTF-8 characters.
size_t DisplayWidth(absl::string_view text);

// Rows of cells under a header, printed with every column padded to its widest cell, two
// spaces between columns, the last column unpadded and no trailing spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // Adds a row; it should have as many cells as the header (missing cells print empty).
  void AddRow(std::vector<std::string> row);
  // Prints the header and the rows, each ending in "\n".
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// `message` in the proto3 JSON mapping with the .proto field names: every field present
// (zero values too), enums by name, 64-bit integers as strings.
nlohmann::ordered_json ProtoToJson(const google::protobuf::Message& message);

// Prints `doc` as pretty JSON (2-space indentation) or as a YAML document (JsonToYaml),
// ending in "\n", then flushes `out`. `format` must be kJson or kYaml.
void PrintDocument(const nlohmann::ordered_json& doc, OutputFormat format, std::ostream& out);

// PrintDocument(ProtoToJson(message), format, out).
void PrintMessage(const google::protobuf::Message& message, OutputFormat format, std::ostream& out);

// Prints one document of a stream of them: for kJson one line of compact JSON (JSON Lines),
// for kYaml a YAML document that starts with "---". Flushes `out`.
void PrintStreamDocument(const nlohmann::ordered_json& doc, OutputFormat format, std::ostream& out);

// Short names for people: CONTENT_TYPE_JSON -> "json", ENTRY_KIND_MASK -> "mask".
std::string ContentTypeName(v1::ContentType type);
std::string EntryKindName(v1::EntryKind kind);

}  // namespace confcenter::confctl

#endif  // CONFCENTER_CLIENT_CONFCTL_OUTPUT_H_
