#include "server/core/record_convert.h"

#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"

namespace confcenter {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// A definition with every field set, in every nested message too: repeated and map fields
// with more than one element, enums at values other than 0.
v1::ServiceDefinition FullDefinition() {
  v1::ServiceDefinition def;
  def.set_name("payments");
  (*def.mutable_metadata())["git.commit"] = "3f2a9c1";
  (*def.mutable_metadata())["owner"] = "team-pay";
  def.set_definition_version("1.2");
  def.set_version("1.4.0-rc.1+build.5");
  def.set_protocol(v1::PROTOCOL_HTTP);
  v1::Endpoint* http = def.add_endpoints();
  http->set_name("http");
  http->set_port(8080);
  http->set_address_template("{service}.{tenant}.internal:{port}");
  v1::Endpoint* metrics = def.add_endpoints();
  metrics->set_name("metrics");
  metrics->set_port(9102);
  metrics->set_address_template("{{x}}-{service}:{port}");
  v1::Dependency* ledger = def.add_dependencies();
  ledger->set_service("ledger");
  ledger->set_range("^2.0");
  v1::Dependency* cache = def.add_dependencies();
  cache->set_service("cache");
  cache->set_range(">=1.0 <2 || ^3");
  (*def.mutable_defaults())["db.pool.size"] = "10";
  (*def.mutable_defaults())["retry.max"] = "3";
  v1::GeneratedKey* secret = def.add_generated_keys();
  secret->set_key("db.password");
  secret->set_kind(v1::GENERATED_KEY_KIND_SECRET);
  secret->set_length(24);
  v1::GeneratedKey* token = def.add_generated_keys();
  token->set_key("api.token");
  token->set_kind(v1::GENERATED_KEY_KIND_TOKEN);
  token->set_length(40);
  def.mutable_health()->set_endpoint("http");
  def.mutable_health()->set_path("/healthz");
  def.mutable_self_check()->set_endpoint("metrics");
  def.mutable_self_check()->set_path("/selfcheck");
  def.add_secret_keys("smtp.password");
  def.add_secret_keys("partner.api_key");
  return def;
}

// Fails naming every field of `message` (nested ones included, as a path) that is not set.
void ExpectEveryFieldSet(const Message& message, const std::string& path) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string field_path = path + "." + field->name();
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(message, field);
      EXPECT_GE(size, 2) << field_path << " needs two elements";
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_map()) {
        for (int j = 0; j < size; ++j) {
          ExpectEveryFieldSet(reflection->GetRepeatedMessage(message, field, j),
                              field_path + "[" + std::to_string(j) + "]");
        }
      }
      continue;
    }
    // A proto3 scalar "has" a value when it is not the default.
    EXPECT_TRUE(reflection->HasField(message, field)) << field_path << " is not set";
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      ExpectEveryFieldSet(reflection->GetMessage(message, field), field_path);
    }
  }
}

// Fails unless `record` has exactly the fields of `api`, by number, with the same names,
// cardinality and wire types, recursively: an enum may be an int32 on the record side.
void ExpectSameShape(const Descriptor* api, const Descriptor* record) {
  SCOPED_TRACE(api->full_name() + " vs " + record->full_name());
  EXPECT_EQ(api->field_count(), record->field_count());
  for (int i = 0; i < api->field_count(); ++i) {
    const FieldDescriptor* a = api->field(i);
    const FieldDescriptor* r = record->FindFieldByNumber(a->number());
    ASSERT_NE(r, nullptr) << a->name() << " = " << a->number() << " is missing";
    EXPECT_EQ(a->name(), r->name());
    EXPECT_EQ(a->label(), r->label()) << a->name();
    EXPECT_EQ(a->is_map(), r->is_map()) << a->name();
    EXPECT_EQ(a->is_packed(), r->is_packed()) << a->name();
    if (a->type() == FieldDescriptor::TYPE_ENUM) {
      EXPECT_TRUE(r->type() == FieldDescriptor::TYPE_INT32 ||
                  r->type() == FieldDescriptor::TYPE_ENUM)
          << a->name() << " is an enum: int32 or an enum on the record side";
    } else {
      EXPECT_EQ(a->type(), r->type()) << a->name();
    }
    if (a->type() == FieldDescriptor::TYPE_MESSAGE && r->type() == FieldDescriptor::TYPE_MESSAGE) {
      ExpectSameShape(a->message_type(), r->message_type());
    }
  }
}

// The bytes of `message`, with map entries in key order (protobuf's deterministic mode).
std::string DeterministicBytes(const Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    EXPECT_TRUE(message.SerializeToCodedStream(&coded));
  }
  return out;
}

TEST(RecordConvertTest, TheRecordHasTheShapeOfTheApiDefinition) {
  ExpectSameShape(v1::ServiceDefinition::descriptor(),
                  storage::ServiceDefinitionRecord::descriptor());
}

TEST(RecordConvertTest, TheFullDefinitionSetsEveryField) {
  ExpectEveryFieldSet(FullDefinition(), "definition");
}

TEST(RecordConvertTest, RoundTripsEveryField) {
  const v1::ServiceDefinition def = FullDefinition();
  const storage::ServiceDefinitionRecord record = ToRecord(def);
  ExpectEveryFieldSet(record, "record");
  EXPECT_TRUE(record.GetReflection()->GetUnknownFields(record).empty());
  EXPECT_EQ(record.name(), "payments");
  EXPECT_EQ(record.metadata().at("owner"), "team-pay");
  EXPECT_EQ(record.protocol(), v1::PROTOCOL_HTTP);
  EXPECT_EQ(record.endpoints(1).address_template(), "{{x}}-{service}:{port}");
  EXPECT_EQ(record.dependencies(1).range(), ">=1.0 <2 || ^3");
  EXPECT_EQ(record.defaults().at("retry.max"), "3");
  EXPECT_EQ(record.generated_keys(1).kind(), v1::GENERATED_KEY_KIND_TOKEN);
  EXPECT_EQ(record.generated_keys(1).length(), 40);
  EXPECT_EQ(record.health().path(), "/healthz");
  EXPECT_EQ(record.self_check().endpoint(), "metrics");
  EXPECT_EQ(record.secret_keys(1), "partner.api_key");

  const v1::ServiceDefinition back = FromRecord(record);
  // Compared as bytes, not with MessageDifferencer: its reflection over map fields crashes in
  // the TSan build, whose inline protobuf code does not match Debian's uninstrumented library.
  EXPECT_EQ(DeterministicBytes(back), DeterministicBytes(def));
  EXPECT_TRUE(back.GetReflection()->GetUnknownFields(back).empty());
}

TEST(RecordConvertTest, BytesAreIdentical) {
  const v1::ServiceDefinition def = FullDefinition();
  const storage::ServiceDefinitionRecord record = ToRecord(def);
  const std::string api_bytes = DeterministicBytes(def);
  EXPECT_EQ(DeterministicBytes(record), api_bytes);
  EXPECT_EQ(DeterministicBytes(FromRecord(record)), api_bytes);
  // What 0.1.0 stored (a v1::ServiceDefinition's bytes) parses as the record it is.
  storage::ServiceDefinitionRecord parsed;
  ASSERT_TRUE(parsed.ParseFromString(api_bytes));
  EXPECT_EQ(DeterministicBytes(parsed), DeterministicBytes(record));
}

TEST(RecordConvertTest, EmptyDefinitionStaysEmpty) {
  EXPECT_EQ(ToRecord(v1::ServiceDefinition()).ByteSizeLong(), 0u);
  EXPECT_EQ(FromRecord(storage::ServiceDefinitionRecord()).ByteSizeLong(), 0u);
}

TEST(RecordConvertTest, EnumValuesTheApiDoesNotNameSurvive) {
  v1::ServiceDefinition def;
  def.set_protocol(static_cast<v1::Protocol>(7));
  def.add_generated_keys()->set_kind(static_cast<v1::GeneratedKeyKind>(-1));
  const storage::ServiceDefinitionRecord record = ToRecord(def);
  EXPECT_EQ(record.protocol(), 7);
  EXPECT_EQ(record.generated_keys(0).kind(), -1);
  const v1::ServiceDefinition back = FromRecord(record);
  EXPECT_EQ(static_cast<int>(back.protocol()), 7);
  EXPECT_EQ(static_cast<int>(back.generated_keys(0).kind()), -1);
}

TEST(RecordConvertTest, FieldsOnlyOneSideKnowsAreKept) {
  // A field the record does not have (yet): an unknown field of the record, back on the way
  // out. Field 15 stands for one the API may gain.
  v1::ServiceDefinition def = FullDefinition();
  def.GetReflection()->MutableUnknownFields(&def)->AddLengthDelimited(15, "future");
  const storage::ServiceDefinitionRecord record = ToRecord(def);
  EXPECT_EQ(record.GetReflection()->GetUnknownFields(record).field_count(), 1);
  const v1::ServiceDefinition back = FromRecord(record);
  EXPECT_EQ(DeterministicBytes(back), DeterministicBytes(def));
}

}  // namespace
}  // namespace confcenter
