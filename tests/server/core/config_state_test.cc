#include "server/core/config_state.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;

// Builds state by applying change sets, one revision each.
class ResolverTest : public ::testing::Test {
 protected:
  void Tenant(const std::string& name, const std::string& parent) {
    ChangeSet set = Next();
    Change* c = set.add_changes();
    c->set_type(Change::TENANT_PUT);
    c->set_tenant(name);
    c->mutable_tenant_record()->set_name(name);
    c->mutable_tenant_record()->set_parent(parent);
    state_.Apply(set);
  }
  void Put(const std::string& tenant, const std::string& service, const std::string& key,
           const std::string& value, bool mask = false) {
    ChangeSet set = Next();
    Change* c = set.add_changes();
    c->set_type(Change::ENTRY_PUT);
    c->set_tenant(tenant);
    c->set_service(service);
    c->set_key(key);
    c->mutable_entry()->set_value(value);
    c->mutable_entry()->set_mask(mask);
    c->mutable_entry()->set_mod_revision(set.revision());
    state_.Apply(set);
  }
  void Delete(const std::string& tenant, const std::string& service, const std::string& key) {
    ChangeSet set = Next();
    Change* c = set.add_changes();
    c->set_type(Change::ENTRY_DELETE);
    c->set_tenant(tenant);
    c->set_service(service);
    c->set_key(key);
    state_.Apply(set);
  }
  // "service/key=value@source" for each resolved entry.
  std::vector<std::string> Resolve(const std::string& tenant,
                                   std::vector<std::string> services = {}) {
    auto chain = state_.Chain("tenant", tenant);
    EXPECT_TRUE(chain.ok()) << chain.status();
    if (services.empty()) services = state_.ServicesOf(*chain);
    std::vector<std::string> out;
    for (const ResolvedEntry& e : state_.Resolve(*chain, services)) {
      out.push_back(e.service + "/" + e.key + "=" + e.value + "@" + e.source_tenant);
    }
    return out;
  }
  ChangeSet Next() {
    ChangeSet set;
    set.set_revision(state_.revision() + 1);
    return set;
  }
  ConfigState state_;
};

TEST_F(ResolverTest, SeedExampleBranchSeesItsOwnServiceAndIntegrationsForTheRest) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  for (const char* s : {"a", "b", "c", "d"})
    Put("integration", s, "endpoint", std::string("i.") + s);
  Put("f1", "a", "endpoint", "f1.a");
  EXPECT_EQ(Resolve("f1"),
            (std::vector<std::string>{"a/endpoint=f1.a@f1", "b/endpoint=i.b@integration",
                                      "c/endpoint=i.c@integration", "d/endpoint=i.d@integration"}));
}

TEST_F(ResolverTest, MergesKeyByKeyAlongAThreeLevelChainWithProvenance) {
  Tenant("global", "");
  Tenant("integration", "global");
  Tenant("f1", "integration");
  Put("global", "svc", "a", "g");
  Put("global", "svc", "b", "g");
  Put("global", "svc", "c", "g");
  Put("integration", "svc", "b", "i");
  Put("integration", "svc", "c", "i");
  Put("f1", "svc", "c", "f");
  Put("f1", "svc", "d", "f");
  EXPECT_EQ(Resolve("f1"), (std::vector<std::string>{"svc/a=g@global", "svc/b=i@integration",
                                                     "svc/c=f@f1", "svc/d=f@f1"}));
  std::vector<ResolvedEntry> entries = state_.Resolve(*state_.Chain("tenant", "f1"), {"svc"});
  EXPECT_EQ(entries[2].revision, 9);  // revisions 1-3 created tenants; f1 wrote c 9th
}

TEST_F(ResolverTest, MaskHidesAncestorsKeyAndDeletingTheMaskBringsItBack) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Tenant("f1-sub", "f1");
  Put("integration", "svc", "a", "i");
  Put("integration", "svc", "b", "i");
  Put("f1", "svc", "a", "", /*mask=*/true);
  EXPECT_EQ(Resolve("f1"), (std::vector<std::string>{"svc/b=i@integration"}));
  EXPECT_EQ(Resolve("f1-sub"), (std::vector<std::string>{"svc/b=i@integration"}));
  Put("f1-sub", "svc", "a", "sub");  // a nearer tenant may define the key again
  EXPECT_EQ(Resolve("f1-sub"),
            (std::vector<std::string>{"svc/a=sub@f1-sub", "svc/b=i@integration"}));
  Delete("f1", "svc", "a");
  EXPECT_EQ(Resolve("f1"),
            (std::vector<std::string>{"svc/a=i@integration", "svc/b=i@integration"}));
}

TEST_F(ResolverTest, DeletingAnOverrideFallsBackToTheParent) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Put("integration", "svc", "a", "i");
  Put("f1", "svc", "a", "f");
  EXPECT_EQ(Resolve("f1"), (std::vector<std::string>{"svc/a=f@f1"}));
  Delete("f1", "svc", "a");
  EXPECT_EQ(Resolve("f1"), (std::vector<std::string>{"svc/a=i@integration"}));
}

TEST_F(ResolverTest, UnknownTenantIsNotFoundAndOnlyRequestedServicesResolve) {
  Tenant("integration", "");
  Put("integration", "a", "k", "1");
  Put("integration", "b", "k", "2");
  EXPECT_EQ(state_.Chain("tenant", "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Resolve("integration", {"b"}), (std::vector<std::string>{"b/k=2@integration"}));
  EXPECT_EQ(Resolve("integration", {"zzz"}), std::vector<std::string>{});
}

TEST_F(ResolverTest, ChainListsNearestFirstAndChildrenAreFound) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Tenant("f1-sub", "f1");
  EXPECT_EQ(*state_.Chain("tenant", "f1-sub"),
            (std::vector<std::string>{"f1-sub", "f1", "integration"}));
  EXPECT_EQ(state_.Children("integration"), std::vector<std::string>{"f1"});
}

// A registration record: `name` with a definition of that name at `version`.
storage::ServiceRecord Registered(const std::string& name, const std::string& version) {
  storage::ServiceRecord service;
  service.set_name(name);
  service.mutable_definition()->set_name(name);
  service.mutable_definition()->set_version(version);
  service.mutable_definition()->set_protocol(v1::PROTOCOL_GRPC);
  storage::ServiceDefinitionRecord::Endpoint* endpoint =
      service.mutable_definition()->add_endpoints();
  endpoint->set_name("grpc");
  endpoint->set_port(9090);
  return service;
}

TEST(ConfigStateDefinitionsTest, FollowTheRecordsOnLoadAndApply) {
  storage::LoadedState loaded;
  loaded.revision = 1;
  storage::TenantRecord& integration = loaded.tenants.emplace_back();
  integration.set_name("integration");
  *integration.add_services() = Registered("a", "1.0.0");
  // A registration written before definitions existed: name and metadata only.
  storage::ServiceRecord* legacy = integration.add_services();
  legacy->set_name("b");
  (*legacy->mutable_metadata())["owner"] = "ops";
  ConfigState state;
  state.Load(std::move(loaded));

  const TenantState* t = state.FindTenant("integration");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->definitions.size(), 2u);
  EXPECT_EQ(t->definitions[0].name(), "a");
  EXPECT_EQ(t->definitions[0].version(), "1.0.0");
  EXPECT_EQ(t->definitions[0].protocol(), v1::PROTOCOL_GRPC);
  EXPECT_EQ(t->definitions[0].endpoints(0).port(), 9090);
  EXPECT_EQ(t->definitions[1].name(), "b");
  EXPECT_EQ(t->definitions[1].metadata().at("owner"), "ops");
  // The legacy record itself now holds that definition (a rewrite stores it).
  EXPECT_TRUE(t->record.services(1).metadata().empty());
  EXPECT_EQ(t->record.services(1).definition().metadata().at("owner"), "ops");

  // A new registration replaces the definitions with the record's.
  ChangeSet set;
  set.set_revision(2);
  Change* change = set.add_changes();
  change->set_type(Change::TENANT_PUT);
  change->set_tenant("integration");
  change->mutable_tenant_record()->set_name("integration");
  *change->mutable_tenant_record()->add_services() = Registered("a", "2.0.0");
  state.Apply(set);
  t = state.FindTenant("integration");
  ASSERT_EQ(t->definitions.size(), 1u);
  EXPECT_EQ(t->definitions[0].version(), "2.0.0");
}

}  // namespace
}  // namespace confcenter
