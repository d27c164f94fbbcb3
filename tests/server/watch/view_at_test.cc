// The watch hub's event computation (server/watch/view_at.h) on hand-built states and change
// sets: which events a change set makes for a subscriber of a tenant's merged view, and the
// chain such a subscriber follows at any revision since the change sets began.
#include "server/watch/view_at.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/config_state.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;
using Strings = std::vector<std::string>;

// Change sets built the way the committer writes them (every change carries the entry or
// registration it replaced), applied to a ConfigState and kept in the log a ViewAt reads.
class ViewAtTest : public ::testing::Test {
 protected:
  // An empty change set at the next revision; Add* fill it against the current state, Commit
  // applies it.
  ChangeSet NewSet() const {
    ChangeSet set;
    set.set_revision(state_.revision() + 1);
    return set;
  }

  // Creates `name` under `parent`, or moves it there if it exists.
  void AddTenant(ChangeSet& set, const std::string& name, const std::string& parent) const {
    Change* c = set.add_changes();
    c->set_type(Change::TENANT_PUT);
    c->set_tenant(name);
    storage::TenantRecord* record = c->mutable_tenant_record();
    if (const TenantState* current = state_.FindTenant(name)) {
      *record = current->record;
      *c->mutable_previous_tenant() = current->record;
      c->set_had_previous(true);
    } else {
      record->set_name(name);
      record->set_create_revision(set.revision());
    }
    record->set_parent(parent);
    record->set_mod_revision(set.revision());
  }

  // Removes `name` with its own entries, as Deregister does.
  void AddTenantDelete(ChangeSet& set, const std::string& name) const {
    const TenantState* current = state_.FindTenant(name);
    ASSERT_NE(current, nullptr) << name;
    for (const auto& [service, keys] : current->services) {
      for (const auto& [key, entry] : keys) AddDelete(set, name, service, key);
    }
    Change* c = set.add_changes();
    c->set_type(Change::TENANT_DELETE);
    c->set_tenant(name);
    *c->mutable_previous_tenant() = current->record;
    c->set_had_previous(true);
  }

  void AddPut(ChangeSet& set, const std::string& tenant, const std::string& service,
              const std::string& key, const std::string& value, int32_t content_type = 1) const {
    storage::EntryRecord entry;
    entry.set_value(value);
    entry.set_content_type(content_type);
    AddEntry(set, tenant, service, key, &entry);
  }

  void AddMask(ChangeSet& set, const std::string& tenant, const std::string& service,
               const std::string& key) const {
    storage::EntryRecord entry;
    entry.set_mask(true);
    AddEntry(set, tenant, service, key, &entry);
  }

  void AddDelete(ChangeSet& set, const std::string& tenant, const std::string& service,
                 const std::string& key) const {
    AddEntry(set, tenant, service, key, nullptr);
  }

  // Applies `set` and appends it to the log; returns its revision.
  int64_t Commit(const ChangeSet& set) {
    state_.Apply(set);
    log_.push_back(set);
    return set.revision();
  }

  // One-change sets.
  int64_t Tenant(const std::string& name, const std::string& parent) {
    ChangeSet set = NewSet();
    AddTenant(set, name, parent);
    return Commit(set);
  }
  int64_t Put(const std::string& tenant, const std::string& service, const std::string& key,
              const std::string& value) {
    ChangeSet set = NewSet();
    AddPut(set, tenant, service, key, value);
    return Commit(set);
  }
  int64_t Mask(const std::string& tenant, const std::string& service, const std::string& key) {
    ChangeSet set = NewSet();
    AddMask(set, tenant, service, key);
    return Commit(set);
  }
  int64_t Delete(const std::string& tenant, const std::string& service, const std::string& key) {
    ChangeSet set = NewSet();
    AddDelete(set, tenant, service, key);
    return Commit(set);
  }

  // Forgets the log so far: what it built is known only through the state, as for a hub
  // that started after it.
  void StartLogHere() { log_.clear(); }

  // The events of the change set at `revision` for a stream of `tenant` following `services`
  // (every service if empty), as "PUT service/key=value@source_tenant#entry_revision" or
  // "DELETE service/key".
  Strings Events(int64_t revision, const std::string& tenant, const Strings& services = {}) const {
    Interest interest;
    interest.all = services.empty();
    interest.services.insert(services.begin(), services.end());
    const ChangeSet* set = nullptr;
    for (const ChangeSet& s : log_) {
      if (s.revision() == revision) set = &s;
    }
    EXPECT_NE(set, nullptr) << "no change set at revision " << revision;
    if (set == nullptr) return {};
    const ViewAt view(state_, log_, deleted_parents_);
    Strings out;
    for (const v1::WatchEvent& e : view.Events(*set, tenant, interest)) {
      if (e.type() == v1::WatchEvent::TYPE_DELETE) {
        EXPECT_TRUE(e.value().empty() && e.source_tenant().empty() && e.entry_revision() == 0)
            << e.ShortDebugString();
        out.push_back(absl::StrCat("DELETE ", e.service(), "/", e.key()));
      } else {
        EXPECT_EQ(e.type(), v1::WatchEvent::TYPE_PUT);
        out.push_back(absl::StrCat("PUT ", e.service(), "/", e.key(), "=", e.value(), "@",
                                   e.source_tenant(), "#", e.entry_revision()));
      }
    }
    return out;
  }

  // The chain a stream of `tenant` follows at revision t.
  Strings ChainAt(const std::string& tenant, int64_t t) const {
    const ViewAt view(state_, log_, deleted_parents_);
    return view.Chain(tenant, t);
  }

  ConfigState state_;
  std::vector<ChangeSet> log_;  // ViewAt keeps pointers into it: not changed while one lives
  absl::flat_hash_map<std::string, std::string> deleted_parents_;

 private:
  void AddEntry(ChangeSet& set, const std::string& tenant, const std::string& service,
                const std::string& key, const storage::EntryRecord* written) const {
    Change* c = set.add_changes();
    c->set_type(written != nullptr ? Change::ENTRY_PUT : Change::ENTRY_DELETE);
    c->set_tenant(tenant);
    c->set_service(service);
    c->set_key(key);
    const storage::EntryRecord* current = state_.FindEntry(tenant, service, key);
    if (written != nullptr) {
      storage::EntryRecord* entry = c->mutable_entry();
      *entry = *written;
      entry->set_mod_revision(set.revision());
      entry->set_create_revision(current != nullptr ? current->create_revision() : set.revision());
    }
    if (current != nullptr) {
      *c->mutable_previous_entry() = *current;
      c->set_had_previous(true);
    }
  }
};

TEST_F(ViewAtTest, SeedExampleBranchSeesItsOwnValueAndIntegrationsForTheRest) {
  Tenant("integration", "");
  for (const std::string s : {"d", "c", "b", "a"}) Put("integration", s, "endpoint", "i." + s);
  // f1 is registered with its own value of service a, in one change set.
  ChangeSet set = NewSet();
  AddTenant(set, "f1", "integration");
  AddPut(set, "f1", "a", "endpoint", "f1.a");
  const int64_t r = Commit(set);
  // i.d was written first (revision 2), i.a last (revision 5); events in (service, key) order.
  EXPECT_EQ(Events(r, "f1"),
            (Strings{"PUT a/endpoint=f1.a@f1#6", "PUT b/endpoint=i.b@integration#4",
                     "PUT c/endpoint=i.c@integration#3", "PUT d/endpoint=i.d@integration#2"}));
  EXPECT_EQ(Events(r, "integration"), Strings{}) << "integration's view did not change";
}

TEST_F(ViewAtTest, AWriteToIntegrationThatTheBranchOverridesMakesNoEventForTheBranch) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Tenant("f1-sub", "f1");
  Put("integration", "svc", "k", "i1");
  Put("f1", "svc", "k", "f");
  const int64_t r = Put("integration", "svc", "k", "i2");
  EXPECT_EQ(Events(r, "integration"), Strings{"PUT svc/k=i2@integration#6"});
  EXPECT_EQ(Events(r, "f1"), Strings{});
  EXPECT_EQ(Events(r, "f1-sub"), Strings{}) << "f1's value hides integration's below f1 too";
  // A key f1 does not override reaches the branch and the branch below it.
  const int64_t other = Put("integration", "svc", "other", "i");
  EXPECT_EQ(Events(other, "f1"), Strings{"PUT svc/other=i@integration#7"});
  EXPECT_EQ(Events(other, "f1-sub"), Strings{"PUT svc/other=i@integration#7"});
}

TEST_F(ViewAtTest, DeletingABranchOverrideEmitsTheParentsValueFromIntegration) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  const int64_t written = Put("integration", "svc", "k", "i");
  Put("f1", "svc", "k", "f");
  const int64_t r = Delete("f1", "svc", "k");
  EXPECT_EQ(Events(r, "f1"), Strings{absl::StrCat("PUT svc/k=i@integration#", written)})
      << "the event carries integration's entry, written at revision " << written;
  EXPECT_EQ(Events(r, "integration"), Strings{});
}

TEST_F(ViewAtTest, AMaskEmitsDeleteAndDeletingTheMaskBringsTheParentsValueBack) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Tenant("f1-sub", "f1");
  const int64_t written = Put("integration", "svc", "k", "i");
  const int64_t masked = Mask("f1", "svc", "k");
  EXPECT_EQ(Events(masked, "f1"), Strings{"DELETE svc/k"});
  EXPECT_EQ(Events(masked, "f1-sub"), Strings{"DELETE svc/k"});
  EXPECT_EQ(Events(masked, "integration"), Strings{});

  const int64_t unmasked = Delete("f1", "svc", "k");
  EXPECT_EQ(Events(unmasked, "f1"), Strings{absl::StrCat("PUT svc/k=i@integration#", written)});
  EXPECT_EQ(Events(unmasked, "f1-sub"), Strings{absl::StrCat("PUT svc/k=i@integration#", written)});

  // Masking a key nobody above holds hides nothing: no event.
  EXPECT_EQ(Events(Mask("f1", "svc", "never-written"), "f1"), Strings{});
}

TEST_F(ViewAtTest, ATenantMovedToAnotherParentGetsEventsForExactlyTheKeysThatDiffer) {
  Tenant("integration", "");
  Tenant("f2", "integration");
  Tenant("f1", "integration");
  Tenant("f1-sub", "f1");
  Put("integration", "svc", "a", "i");  // 5: the same entry under either parent
  Put("integration", "svc", "b", "i");  // 6: f2 overrides it
  Put("integration", "svc", "c", "i");  // 7: f1 overrides it under either parent
  Put("f2", "svc", "b", "f2");          // 8
  Put("f2", "svc", "d", "f2");          // 9: only under f2
  Put("f1", "svc", "c", "f1");          // 10
  Put("f2", "other", "x", "f2");        // 11: another service

  const int64_t moved = Tenant("f1", "f2");
  EXPECT_EQ(ChainAt("f1", moved - 1), (Strings{"f1", "integration"}));
  EXPECT_EQ(ChainAt("f1", moved), (Strings{"f1", "f2", "integration"}));
  const Strings gained = {"PUT other/x=f2@f2#11", "PUT svc/b=f2@f2#8", "PUT svc/d=f2@f2#9"};
  EXPECT_EQ(Events(moved, "f1"), gained);
  EXPECT_EQ(Events(moved, "f1-sub"), gained) << "the subtree moved with f1";
  EXPECT_EQ(Events(moved, "f2"), Strings{});
  EXPECT_EQ(Events(moved, "integration"), Strings{});

  const int64_t back = Tenant("f1", "integration");
  EXPECT_EQ(Events(back, "f1"),
            (Strings{"DELETE other/x", "PUT svc/b=i@integration#6", "DELETE svc/d"}));
}

TEST_F(ViewAtTest, ADeregisteredTenantsStreamFollowsItsFormerParent) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Put("integration", "svc", "shared", "i");  // 3
  Put("f1", "svc", "shared", "f");           // 4
  Put("f1", "svc", "own", "f");              // 5
  ChangeSet set = NewSet();
  AddTenantDelete(set, "f1");
  const int64_t removed = Commit(set);
  EXPECT_EQ(ChainAt("f1", removed - 1), (Strings{"f1", "integration"}));
  EXPECT_EQ(ChainAt("f1", removed), Strings{"integration"});
  EXPECT_EQ(Events(removed, "f1"), (Strings{"DELETE svc/own", "PUT svc/shared=i@integration#3"}));

  // Later writes to the former parent reach the stream.
  const int64_t later = Put("integration", "svc", "new", "i");
  EXPECT_EQ(Events(later, "f1"), Strings{"PUT svc/new=i@integration#7"});
}

TEST_F(ViewAtTest, ATenantDeregisteredBeforeTheLogBeganFollowsItsParentFromDeletedParents) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  ChangeSet set = NewSet();
  AddTenantDelete(set, "f1");
  Commit(set);
  StartLogHere();
  const int64_t r = Put("integration", "svc", "k", "i");

  EXPECT_EQ(ChainAt("f1", r), Strings{}) << "nothing says where f1 was";
  EXPECT_EQ(Events(r, "f1"), Strings{});

  deleted_parents_["f1"] = "integration";  // as the hub records at the deregistration
  EXPECT_EQ(ChainAt("f1", r), Strings{"integration"});
  EXPECT_EQ(Events(r, "f1"), Strings{"PUT svc/k=i@integration#4"});
}

TEST_F(ViewAtTest, OnlyFollowedServicesGetEvents) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Tenant("f2", "integration");
  Put("f2", "svc-a", "k", "f2");
  Put("f2", "svc-b", "k", "f2");
  ChangeSet set = NewSet();
  AddPut(set, "integration", "svc-a", "k", "i");
  AddPut(set, "integration", "svc-b", "k", "i");
  const int64_t r = Commit(set);
  EXPECT_EQ(Events(r, "f1", {"svc-a"}), Strings{"PUT svc-a/k=i@integration#6"});
  EXPECT_EQ(Events(r, "f1", {"svc-b"}), Strings{"PUT svc-b/k=i@integration#6"});
  EXPECT_EQ(Events(r, "f1", {"svc-c"}), Strings{});
  EXPECT_EQ(Events(r, "f1", {"svc-a", "svc-b"}),
            (Strings{"PUT svc-a/k=i@integration#6", "PUT svc-b/k=i@integration#6"}));
  EXPECT_EQ(Events(r, "f1"), Events(r, "f1", {"svc-a", "svc-b"}));

  // A move re-resolves only the followed services too.
  const int64_t moved = Tenant("f1", "f2");
  EXPECT_EQ(Events(moved, "f1", {"svc-b"}), Strings{"PUT svc-b/k=f2@f2#5"});
}

TEST_F(ViewAtTest, EventsNameTheWinningEntrysTenantRevisionAndContentType) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  Tenant("f1-sub", "f1");
  ChangeSet set = NewSet();
  AddPut(set, "f1", "svc", "k", "{}", /*content_type=*/v1::CONTENT_TYPE_JSON);
  const int64_t r = Commit(set);
  const ViewAt view(state_, log_, deleted_parents_);
  Interest all;
  all.all = true;
  const std::vector<v1::WatchEvent> events = view.Events(log_.back(), "f1-sub", all);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), v1::WatchEvent::TYPE_PUT);
  EXPECT_EQ(events[0].service(), "svc");
  EXPECT_EQ(events[0].key(), "k");
  EXPECT_EQ(events[0].value(), "{}");
  EXPECT_EQ(events[0].content_type(), v1::CONTENT_TYPE_JSON);
  EXPECT_EQ(events[0].source_tenant(), "f1") << "the writer, not the subscribed tenant";
  EXPECT_EQ(events[0].entry_revision(), r);
}

TEST_F(ViewAtTest, EventsOfPastChangeSetsAreComputedFromTheStateAfterLaterOnes) {
  Tenant("integration", "");
  Tenant("f1", "integration");
  const int64_t first = Put("integration", "svc", "k", "i1");
  const int64_t second = Put("integration", "svc", "k", "i2");
  const int64_t overridden = Put("f1", "svc", "k", "f");
  const int64_t masked = Mask("integration", "svc", "k");
  const int64_t removed = Delete("f1", "svc", "k");
  // Replayed from the log after all of them, each change set's events are as they were.
  EXPECT_EQ(Events(first, "f1"), Strings{"PUT svc/k=i1@integration#3"});
  EXPECT_EQ(Events(second, "f1"), Strings{"PUT svc/k=i2@integration#4"});
  EXPECT_EQ(Events(overridden, "f1"), Strings{"PUT svc/k=f@f1#5"});
  EXPECT_EQ(Events(masked, "f1"), Strings{});
  EXPECT_EQ(Events(masked, "integration"), Strings{"DELETE svc/k"});
  EXPECT_EQ(Events(removed, "f1"), Strings{"DELETE svc/k"}) << "integration's mask shows";
}

}  // namespace
}  // namespace confcenter
