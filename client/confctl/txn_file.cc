#include "client/confctl/txn_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/confctl/flatten.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace confcenter::confctl {
namespace {

using Json = nlohmann::ordered_json;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::StatusOr<Json> ParseDocument(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (text[first] == '[' || text[first] == '{')) {
    try {
      return Json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
    }
  }
  try {
    return YamlToJson(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
}

// A scalar as text (strings as they are, numbers and booleans as JSON writes them).
absl::StatusOr<std::string> ScalarField(const Json& value, const std::string& field) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return FieldError(field, "must be a string");
}

absl::StatusOr<v1::TxnOpType> ParseOpType(const std::string& text, const std::string& field) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "put" || lower == "txn_op_type_put") return v1::TXN_OP_TYPE_PUT;
  if (lower == "delete" || lower == "txn_op_type_delete") return v1::TXN_OP_TYPE_DELETE;
  if (lower == "mask" || lower == "txn_op_type_mask") return v1::TXN_OP_TYPE_MASK;
  return FieldError(field, absl::StrCat("\"", text, "\" is not put, delete or mask"));
}

absl::StatusOr<int64_t> ParseRevision(const Json& value, const std::string& field) {
  int64_t revision = -1;
  if (value.is_number_integer()) {
    revision = value.get<int64_t>();
  } else if (!value.is_string() || !absl::SimpleAtoi(value.get<std::string>(), &revision)) {
    return FieldError(field, "must be an integer revision");
  }
  if (revision < 0) return FieldError(field, "must not be negative");
  return revision;
}

// Sets one field of `op` from `value`.
absl::Status SetField(const std::string& name, const Json& value, const std::string& field,
                      v1::TxnOp* op) {
  if (name == "expected_revision") {
    absl::StatusOr<int64_t> revision = ParseRevision(value, field);
    if (!revision.ok()) return revision.status();
    op->set_expected_revision(*revision);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> text = ScalarField(value, field);
  if (!text.ok()) return text.status();
  if (name == "type") {
    absl::StatusOr<v1::TxnOpType> type = ParseOpType(*text, field);
    if (!type.ok()) return type.status();
    op->set_type(*type);
  } else if (name == "content_type") {
    absl::StatusOr<v1::ContentType> type = ParseContentType(*text);
    if (!type.ok()) return FieldError(field, std::string(type.status().message()));
    op->set_content_type(*type);
  } else if (name == "tenant") {
    op->set_tenant(*text);
  } else if (name == "service") {
    op->set_service(*text);
  } else if (name == "key") {
    op->set_key(*text);
  } else if (name == "value") {
    op->set_value(*text);
  } else {
    return FieldError(field,
                      "unknown field (use type, tenant, service, key, value, "
                      "content_type, expected_revision)");
  }
  return absl::OkStatus();
}

absl::Status ParseOp(const Json& item, const std::string& prefix, v1::TxnOp* op) {
  if (!item.is_object()) return FieldError(prefix, "must be a map");
  for (auto it = item.begin(); it != item.end(); ++it) {
    if (it.value().is_null()) continue;
    absl::Status status = SetField(it.key(), it.value(), absl::StrCat(prefix, ".", it.key()), op);
    if (!status.ok()) return status;
  }
  for (const char* required : {"type", "tenant", "service", "key"}) {
    if (!item.contains(required) || item[required].is_null()) {
      return FieldError(absl::StrCat(prefix, ".", required), "is required");
    }
  }
  const bool is_put = op->type() == v1::TXN_OP_TYPE_PUT;
  if (!is_put && (item.contains("value") || item.contains("content_type"))) {
    return FieldError(prefix, "value and content_type are for put only");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ContentType> ParseContentType(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "text") return v1::CONTENT_TYPE_TEXT;
  if (lower == "json") return v1::CONTENT_TYPE_JSON;
  if (lower == "yaml") return v1::CONTENT_TYPE_YAML;
  if (lower == "properties") return v1::CONTENT_TYPE_PROPERTIES;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", name, "\" is not a content type: use text, json, yaml or properties"));
}

absl::StatusOr<v1::TxnRequest> ParseTxnFile(const std::string& text) {
  absl::StatusOr<Json> doc = ParseDocument(text);
  if (!doc.ok()) return doc.status();
  const Json* ops = &*doc;
  if (doc->is_object() && doc->size() == 1 && doc->contains("ops")) ops = &doc->at("ops");
  if (!ops->is_array()) return FieldError("ops", "the file must hold a list of operations");
  if (ops->empty()) return FieldError("ops", "the list of operations is empty");
  v1::TxnRequest request;
  for (size_t i = 0; i < ops->size(); ++i) {
    absl::Status status = ParseOp((*ops)[i], absl::StrCat("ops[", i, "]"), request.add_ops());
    if (!status.ok()) return status;
  }
  return request;
}

}  // namespace confcenter::confctl
