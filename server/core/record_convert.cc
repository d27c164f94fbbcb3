#include "server/core/record_convert.h"

#include <string>

namespace confcenter {
namespace {

// `from` serialized and parsed as a `To`. Neither step can fail here: proto3 messages have no
// required fields, and the bytes are a valid message of the same shape (strings are valid
// UTF-8 on both sides, as protobuf checks them on both sides).
template <typename To, typename From>
To Reparse(const From& from) {
  std::string bytes;
  static_cast<void>(from.SerializeToString(&bytes));
  To to;
  static_cast<void>(to.ParseFromString(bytes));
  return to;
}

}  // namespace

storage::ServiceDefinitionRecord ToRecord(const v1::ServiceDefinition& definition) {
  return Reparse<storage::ServiceDefinitionRecord>(definition);
}

v1::ServiceDefinition FromRecord(const storage::ServiceDefinitionRecord& record) {
  return Reparse<v1::ServiceDefinition>(record);
}

}  // namespace confcenter
