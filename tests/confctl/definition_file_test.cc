// Unit tests of ParseDefinitionFile, the reader of `confctl register -f` files: YAML (one or
// more documents, lists) and JSON, snake_case and lowerCamelCase names, short enum names,
// nested defaults, and errors that name the definition.
#include "client/confctl/definition_file.h"

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace confcenter::confctl {
namespace {

v1::ServiceDefinition FromText(const std::string& text) {
  v1::ServiceDefinition def;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &def)) << text;
  return def;
}

std::vector<v1::ServiceDefinition> MustParse(const std::string& file) {
  absl::StatusOr<std::vector<v1::ServiceDefinition>> defs = ParseDefinitionFile(file);
  EXPECT_TRUE(defs.ok()) << defs.status() << "\n" << file;
  return defs.ok() ? *std::move(defs) : std::vector<v1::ServiceDefinition>();
}

std::vector<std::string> Names(const std::vector<v1::ServiceDefinition>& defs) {
  std::vector<std::string> names;
  for (const v1::ServiceDefinition& d : defs) names.push_back(d.name());
  return names;
}

void ExpectEqualProto(const v1::ServiceDefinition& actual, const v1::ServiceDefinition& expected) {
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(actual, expected))
      << "actual:\n"
      << actual.DebugString() << "expected:\n"
      << expected.DebugString();
}

// Every field of the definition, as a person writes it: short lowercase enum names, numbers
// and versions as plain scalars, defaults nested.
TEST(DefinitionFileTest, FullYamlDefinition) {
  const std::string yaml = R"(# orders, as deployed
definition_version: "1.2"
name: orders
version: 1.4.0-rc.1+build.5
metadata:
  git.commit: 5114f85
  owner: team-a
protocol: grpc
endpoints:
  - name: grpc
    port: 9090
  - {name: admin, port: 9000, address_template: "{service}-admin.{tenant}:{port}"}
dependencies:
  - {service: payments, range: ^1.2}
  - service: inventory
    range: ">=1.0 <2 || ^3"
  - service: audit
defaults:
  db:
    pool:
      size: 10
    host: db.local
  feature.flag: true
  retries: 08
  empty: ~
generated_keys:
  - {key: db.password, kind: secret, length: 32}
  - {key: instance.id, kind: UUID}
  - {key: api.token, kind: Token, length: 64}
  - {key: session.key, kind: GENERATED_KEY_KIND_SECRET}
health: {endpoint: grpc, path: grpc.health.v1.Health}
self_check:
  endpoint: admin
)";
  const v1::ServiceDefinition expected = FromText(R"pb(
    definition_version: "1.2"
    name: "orders"
    version: "1.4.0-rc.1+build.5"
    metadata { key: "git.commit" value: "5114f85" }
    metadata { key: "owner" value: "team-a" }
    protocol: PROTOCOL_GRPC
    endpoints { name: "grpc" port: 9090 }
    endpoints { name: "admin" port: 9000 address_template: "{service}-admin.{tenant}:{port}" }
    dependencies { service: "payments" range: "^1.2" }
    dependencies { service: "inventory" range: ">=1.0 <2 || ^3" }
    dependencies { service: "audit" }
    defaults { key: "db.pool.size" value: "10" }
    defaults { key: "db.host" value: "db.local" }
    defaults { key: "feature.flag" value: "true" }
    defaults { key: "retries" value: "08" }
    defaults { key: "empty" value: "" }
    generated_keys { key: "db.password" kind: GENERATED_KEY_KIND_SECRET length: 32 }
    generated_keys { key: "instance.id" kind: GENERATED_KEY_KIND_UUID }
    generated_keys { key: "api.token" kind: GENERATED_KEY_KIND_TOKEN length: 64 }
    generated_keys { key: "session.key" kind: GENERATED_KEY_KIND_SECRET }
    health { endpoint: "grpc" path: "grpc.health.v1.Health" }
    self_check { endpoint: "admin" }
  )pb");
  std::vector<v1::ServiceDefinition> defs = MustParse(yaml);
  ASSERT_EQ(defs.size(), 1u);
  ExpectEqualProto(defs[0], expected);
}

TEST(DefinitionFileTest, ShortProtocolNamesInAnyCase) {
  const std::pair<const char*, v1::Protocol> cases[] = {
      {"grpc", v1::PROTOCOL_GRPC},        {"HTTP", v1::PROTOCOL_HTTP},
      {"Tcp", v1::PROTOCOL_TCP},          {"PROTOCOL_HTTP", v1::PROTOCOL_HTTP},
      {"protocol_tcp", v1::PROTOCOL_TCP},
  };
  for (const auto& [text, protocol] : cases) {
    std::vector<v1::ServiceDefinition> defs =
        MustParse(std::string("name: a\nprotocol: ") + text + "\n");
    ASSERT_EQ(defs.size(), 1u) << text;
    EXPECT_EQ(defs[0].protocol(), protocol) << text;
  }
}

TEST(DefinitionFileTest, MultiDocumentYamlKeepsOrderAndSkipsEmptyDocuments) {
  const std::string yaml =
      "---\n"
      "name: payments\nversion: 1.2.0\n"
      "---\n"
      "# nothing but a comment\n"
      "---\n"
      "- name: orders\n  dependencies: [{service: payments}]\n"
      "- name: inventory\n"
      "---\n"
      "name: audit\n"
      "...\n";
  std::vector<v1::ServiceDefinition> defs = MustParse(yaml);
  EXPECT_EQ(Names(defs), (std::vector<std::string>{"payments", "orders", "inventory", "audit"}));
  ASSERT_EQ(defs.size(), 4u);
  EXPECT_EQ(defs[0].version(), "1.2.0");
  ASSERT_EQ(defs[1].dependencies_size(), 1);
  EXPECT_EQ(defs[1].dependencies(0).service(), "payments");
}

TEST(DefinitionFileTest, YamlListOfDefinitions) {
  const std::string yaml =
      "- name: payments\n"
      "  protocol: grpc\n"
      "  endpoints: [{name: grpc, port: 9090}]\n"
      "- name: orders\n"
      "  protocol: http\n"
      "  defaults: {db: {pool: {size: 4}}}\n";
  std::vector<v1::ServiceDefinition> defs = MustParse(yaml);
  ASSERT_EQ(defs.size(), 2u);
  ExpectEqualProto(defs[0], FromText(R"pb(
                     name: "payments"
                     protocol: PROTOCOL_GRPC
                     endpoints { name: "grpc" port: 9090 }
                   )pb"));
  ExpectEqualProto(defs[1], FromText(R"pb(
                     name: "orders"
                     protocol: PROTOCOL_HTTP
                     defaults { key: "db.pool.size" value: "4" }
                   )pb"));
}

TEST(DefinitionFileTest, JsonObjectAndList) {
  const std::string object = R"({
    "name": "orders",
    "definition_version": "1",
    "version": "1.4.0",
    "protocol": "PROTOCOL_HTTP",
    "endpoints": [{"name": "http", "port": 8080}, {"name": "admin", "port": "9000"}],
    "defaults": {"db": {"pool": {"size": 10}, "ratio": 1.5}, "feature.on": false},
    "generated_keys": [{"key": "db.password", "kind": "secret"}],
    "health": {"endpoint": "http", "path": "/healthz"}
  })";
  std::vector<v1::ServiceDefinition> defs = MustParse(object);
  ASSERT_EQ(defs.size(), 1u);
  ExpectEqualProto(defs[0], FromText(R"pb(
                     name: "orders"
                     definition_version: "1"
                     version: "1.4.0"
                     protocol: PROTOCOL_HTTP
                     endpoints { name: "http" port: 8080 }
                     endpoints { name: "admin" port: 9000 }
                     defaults { key: "db.pool.size" value: "10" }
                     defaults { key: "db.ratio" value: "1.5" }
                     defaults { key: "feature.on" value: "false" }
                     generated_keys { key: "db.password" kind: GENERATED_KEY_KIND_SECRET }
                     health { endpoint: "http" path: "/healthz" }
                   )pb"));

  defs = MustParse("  \n[{\"name\": \"a\", \"protocol\": \"tcp\"}, {\"name\": \"b\"}]\n");
  EXPECT_EQ(Names(defs), (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(defs.size(), 2u);
  EXPECT_EQ(defs[0].protocol(), v1::PROTOCOL_TCP);
}

TEST(DefinitionFileTest, LowerCamelCaseNames) {
  const std::string yaml =
      "definitionVersion: '1.0'\n"
      "name: orders\n"
      "endpoints: [{name: http, port: 8080, addressTemplate: 'orders.{tenant}:{port}'}]\n"
      "generatedKeys: [{key: session.key, kind: token, length: 48}]\n"
      "health: {endpoint: http, path: /healthz}\n"
      "selfCheck: {endpoint: http, path: /selfcheck}\n";
  std::vector<v1::ServiceDefinition> defs = MustParse(yaml);
  ASSERT_EQ(defs.size(), 1u);
  ExpectEqualProto(
      defs[0], FromText(R"pb(
        definition_version: "1.0"
        name: "orders"
        endpoints { name: "http" port: 8080 address_template: "orders.{tenant}:{port}" }
        generated_keys { key: "session.key" kind: GENERATED_KEY_KIND_TOKEN length: 48 }
        health { endpoint: "http" path: "/healthz" }
        self_check { endpoint: "http" path: "/selfcheck" }
      )pb"));

  defs = MustParse(R"({"name": "a", "generatedKeys": [{"key": "k", "kind": "uuid"}]})");
  ASSERT_EQ(defs.size(), 1u);
  ASSERT_EQ(defs[0].generated_keys_size(), 1);
  EXPECT_EQ(defs[0].generated_keys(0).kind(), v1::GENERATED_KEY_KIND_UUID);
}

// Each error is INVALID_ARGUMENT; the message starts with `prefix` and contains `detail`.
TEST(DefinitionFileTest, FlowStyleYamlAndEnumNumbers) {
  absl::StatusOr<std::vector<v1::ServiceDefinition>> defs =
      ParseDefinitionFile("[{name: a, protocol: 2, generated_keys: [{key: k, kind: 3}]}]");
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_EQ(defs->size(), 1u);
  EXPECT_EQ((*defs)[0].name(), "a");
  EXPECT_EQ((*defs)[0].protocol(), v1::PROTOCOL_HTTP);
  EXPECT_EQ((*defs)[0].generated_keys(0).kind(), v1::GENERATED_KEY_KIND_TOKEN);
}

TEST(DefinitionFileTest, ErrorsNameTheDefinition) {
  struct Case {
    const char* name;
    std::string file;
    std::string prefix;
    std::string detail;
  };
  const Case cases[] = {
      {"unknown field", "name: orders\nendpionts: [{name: http, port: 80}]\n",
       "definitions[0]: ", "endpionts: Cannot find field"},
      {"unknown field in the second definition", "- name: a\n- name: b\n  colour: red\n",
       "definitions[1]: ", "colour: Cannot find field"},
      {"unknown nested field", "name: a\nhealth: {endpoint: http, timeout: 5s}\n",
       "definitions[0]: ", "timeout: Cannot find field"},
      {"unknown field in JSON", R"({"name": "a", "verison": "1.0.0"})",
       "definitions[0]: ", "verison: Cannot find field"},
      {"list where a map is expected", "name: a\nhealth: [http]\n", "definitions[0]: ", "health"},
      {"list where a string is expected", "name: [a, b]\n", "definitions[0]: ", "name"},
      {"port that is not a number", "name: a\nendpoints: [{name: http, port: eighty}]\n",
       "definitions[0]: ", "endpoints[0].port"},
      {"unknown protocol", "name: a\nprotocol: udp\n", "definitions[0]: ", "PROTOCOL_UDP"},
      {"unknown generated key kind", "name: a\ngenerated_keys: [{key: k, kind: password}]\n",
       "definitions[0]: ", "generated_keys[0].kind"},
      {"a document that is not a map", "name: a\n---\njust text\n", "definitions[1]: must be a map",
       ""},
      {"a list element that is not a map", "- name: a\n- [b]\n", "definitions[1]: must be a map",
       ""},
      {"nested defaults colliding with a dotted key",
       "name: a\ndefaults: {db: {pool: 1}, db.pool: 2}\n", "definitions[0].defaults: ", "db.pool"},
      {"empty file", "", "the file holds no service definition", ""},
      {"blank file with comments", "\n  \n# nothing here\n---\n",
       "the file holds no service "
       "definition",
       ""},
      {"empty JSON list", "[]", "the file holds no service definition", ""},
      // Found by definition_fuzz: the conversion to JSON threw, and confctl aborted.
      {"a value that is not UTF-8", "- name: a\n- name: b\n  version: caf\xe9\n",
       "definitions[1]: is not valid UTF-8 text", ""},
      {"invalid YAML", "name: orders\nendpoints: [{name: http\n", "invalid YAML: ", ""},
      // Found by definition_fuzz: yaml-cpp's LoadAll looped forever (and ran out of memory).
      {"a document that cannot start", ",[", "invalid YAML: ", "a document cannot start here"},
      {"the same after a valid document", "name: a\n---\n, {b", "invalid YAML: ", ""},
      {"invalid YAML: a list entry inside a map", "name: a\n- b\n", "invalid YAML: ", ""},
      {"invalid JSON (and not flow-style YAML either)", "{\"name\": \"a\"", "invalid JSON: ", ""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<v1::ServiceDefinition>> defs = ParseDefinitionFile(c.file);
    if (defs.ok()) {
      ADD_FAILURE() << c.name << ": parsed as " << defs->size() << " definitions"
                    << (defs->empty() ? "" : ":\n" + (*defs)[0].DebugString());
      continue;
    }
    EXPECT_EQ(defs.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    const std::string message(defs.status().message());
    EXPECT_EQ(message.rfind(c.prefix, 0), 0u) << c.name << ": " << message;
    EXPECT_NE(message.find(c.detail), std::string::npos) << c.name << ": " << message;
  }
}

}  // namespace
}  // namespace confcenter::confctl
