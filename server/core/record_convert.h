// Conversions between the API's messages (confcenter.v1) and the records the store keeps
// (confcenter.storage): the one place where the two meet, so the disk format does not follow
// the API by accident.
//
// storage::ServiceDefinitionRecord is wire-identical to v1::ServiceDefinition by construction
// (the same field numbers, types and nesting; enums are int32 on the record side, the same
// varint), so each conversion serializes one message and parses the bytes as the other.
// Bytes carry every field, nested, repeated and map ones included, with nothing to keep in
// step by hand: a field-by-field copy would silently drop a field someone forgot to add to it.
// A field only one side knows yet travels as an unknown field, so a stored definition
// round-trips unchanged. tests/server/core/record_convert_test.cc checks that the two
// messages stay field-for-field the same; should they ever have to differ, these become
// field-by-field copies.
#ifndef CONFCENTER_SERVER_CORE_RECORD_CONVERT_H_
#define CONFCENTER_SERVER_CORE_RECORD_CONVERT_H_

#include "confcenter/v1/tenant.pb.h"
#include "storage/records.pb.h"

namespace confcenter {

// The record that stores `definition`.
storage::ServiceDefinitionRecord ToRecord(const v1::ServiceDefinition& definition);

// The definition `record` stores, as the API shows it.
v1::ServiceDefinition FromRecord(const storage::ServiceDefinitionRecord& record);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_RECORD_CONVERT_H_
