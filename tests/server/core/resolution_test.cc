// The resolution rule (server/core/resolution.h) alone, and as its three users apply it:
// ConfigState::Resolve (reads) and the watch hub's ViewAt (events) must agree, which the
// randomized property test checks: for random chains, entries and changes, the events
// computed for a change turn the view before it into exactly the view after it.
#include "server/core/resolution.h"

#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/config_state.h"
#include "server/watch/view_at.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;
using storage::EntryRecord;

EntryRecord Value(const std::string& value, int64_t revision = 1) {
  EntryRecord e;
  e.set_value(value);
  e.set_content_type(1);
  e.set_mod_revision(revision);
  return e;
}

EntryRecord Mask(int64_t revision = 1) {
  EntryRecord e;
  e.set_mask(true);
  e.set_mod_revision(revision);
  return e;
}

// Resolves over a chain given as one optional entry per level (nullptr: none).
Resolution ResolveLevels(const std::vector<const EntryRecord*>& levels,
                         std::vector<size_t>* asked = nullptr) {
  return ResolveAlongChain(levels.size(), [&](size_t i) {
    if (asked != nullptr) asked->push_back(i);
    return levels[i];
  });
}

TEST(ResolutionRule, TheNearestTenantWithAnEntryWins) {
  const EntryRecord branch = Value("branch"), integration = Value("integration");
  Resolution r = ResolveLevels({&branch, &integration});
  EXPECT_EQ(r.level, 0u);
  ASSERT_NE(r.entry(), nullptr);
  EXPECT_EQ(r.entry()->value(), "branch");

  r = ResolveLevels({nullptr, &integration});
  EXPECT_EQ(r.level, 1u);
  EXPECT_EQ(r.entry()->value(), "integration");
}

TEST(ResolutionRule, AMaskHidesWhatTenantsFurtherUpHold) {
  const EntryRecord mask = Mask(), integration = Value("integration"), root = Value("root");
  Resolution r = ResolveLevels({nullptr, &mask, &integration});
  EXPECT_FALSE(r.visible());
  EXPECT_EQ(r.entry(), nullptr);
  EXPECT_EQ(r.level, 1u) << "the mask decides";
  EXPECT_EQ(r.decider, &mask);
  // A value below a mask wins over it: the mask is further up.
  const EntryRecord branch = Value("branch");
  EXPECT_EQ(ResolveLevels({&branch, &mask, &root}).entry(), &branch);
}

TEST(ResolutionRule, NoEntryAnywhereIsAbsent) {
  Resolution r = ResolveLevels({nullptr, nullptr, nullptr});
  EXPECT_FALSE(r.visible());
  EXPECT_EQ(r.level, Resolution::kNone);
  EXPECT_EQ(r.decider, nullptr);
  EXPECT_FALSE(ResolveLevels({}).visible());
}

TEST(ResolutionRule, StopsAtTheDecidingLevel) {
  const EntryRecord branch = Value("branch"), integration = Value("integration");
  std::vector<size_t> asked;
  ResolveLevels({nullptr, &branch, &integration}, &asked);
  EXPECT_EQ(asked, (std::vector<size_t>{0, 1}));
}

// ---------------------------------------------------------------------------------------------
// The property test.

// (service, key) -> (value, source tenant, entry revision)
using View =
    std::map<std::pair<std::string, std::string>, std::tuple<std::string, std::string, int64_t>>;

View ViewOf(const ConfigState& state, const std::vector<std::string>& chain) {
  View view;
  for (const ResolvedEntry& e : state.Resolve(chain, state.ServicesOf(chain))) {
    view[{e.service, e.key}] = {e.value, e.source_tenant, e.revision};
  }
  return view;
}

std::string Describe(const View& view) {
  std::string out;
  for (const auto& [sk, v] : view) {
    absl::StrAppend(&out, sk.first, "/", sk.second, "=", std::get<0>(v), "@", std::get<1>(v), "#",
                    std::get<2>(v), " ");
  }
  return out;
}

// Random tenants with random chains (a parent is always an older tenant, so no cycles),
// random own entries, then random change sets; after each, every tenant's events must turn
// its view before into its view after.
class RandomHistory {
 public:
  explicit RandomHistory(uint32_t seed) : rng_(seed) {}

  void Build(int tenants, int entries) {
    tenant_count_ = tenants;
    ChangeSet set = Next();
    for (int i = 0; i < tenants; ++i) {
      storage::TenantRecord record;
      record.set_name(TenantName(i));
      if (i > 0) record.set_parent(TenantName(Pick(i)));
      Change* c = set.add_changes();
      c->set_type(Change::TENANT_PUT);
      c->set_tenant(record.name());
      *c->mutable_tenant_record() = record;
    }
    state_.Apply(set);
    for (int i = 0; i < entries; ++i) {
      ChangeSet s = Next();
      AddRandomEntryChange(s);
      state_.Apply(s);
    }
  }

  // A random change set: a few entry changes, sometimes a tenant moved to another parent.
  ChangeSet RandomChange() {
    ChangeSet set = Next();
    const int n = 1 + Pick(4);
    std::set<std::tuple<std::string, std::string, std::string>> touched;
    for (int i = 0; i < n; ++i) AddRandomEntryChange(set, &touched);
    if (Pick(4) == 0) {  // move a non-root tenant under an older one
      const int t = 1 + Pick(tenant_count_ - 1);
      const storage::TenantRecord& current = state_.FindTenant(TenantName(t))->record;
      storage::TenantRecord moved = current;
      moved.set_parent(TenantName(Pick(t)));
      Change* c = set.add_changes();
      c->set_type(Change::TENANT_PUT);
      c->set_tenant(moved.name());
      *c->mutable_tenant_record() = moved;
      *c->mutable_previous_tenant() = current;
      c->set_had_previous(true);
    }
    return set;
  }

  ConfigState& state() { return state_; }
  int tenant_count() const { return tenant_count_; }
  static std::string TenantName(int i) { return i == 0 ? "integration" : absl::StrCat("t", i); }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  ChangeSet Next() {
    ChangeSet set;
    set.set_revision(++revision_);
    return set;
  }

  void AddRandomEntryChange(
      ChangeSet& set,
      std::set<std::tuple<std::string, std::string, std::string>>* touched = nullptr) {
    const std::string tenant = TenantName(Pick(tenant_count_));
    const std::string service = absl::StrCat("s", Pick(3));
    const std::string key = absl::StrCat("k", Pick(5));
    if (touched != nullptr && !touched->insert({tenant, service, key}).second) return;
    const EntryRecord* current = state_.FindEntry(tenant, service, key);
    Change* c = set.add_changes();
    c->set_tenant(tenant);
    c->set_service(service);
    c->set_key(key);
    if (current != nullptr) {
      *c->mutable_previous_entry() = *current;
      c->set_had_previous(true);
    }
    const int what = Pick(current != nullptr ? 3 : 2);
    if (what == 2) {
      c->set_type(Change::ENTRY_DELETE);
    } else {
      c->set_type(Change::ENTRY_PUT);
      *c->mutable_entry() = what == 0 ? Value(absl::StrCat("v", set.revision()), set.revision())
                                      : Mask(set.revision());
    }
  }

  std::mt19937 rng_;
  ConfigState state_;
  int64_t revision_ = 0;
  int tenant_count_ = 0;
};

TEST(ResolutionProperty, EventsOfAChangeTurnEveryViewBeforeIntoTheViewAfter) {
  int checked_views = 0, nonempty_event_lists = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    RandomHistory history(seed);
    history.Build(/*tenants=*/8, /*entries=*/60);
    for (int step = 0; step < 25; ++step) {
      const ConfigState before = history.state();
      const ChangeSet change = history.RandomChange();
      history.state().Apply(change);
      const ConfigState& after = history.state();
      // ViewAt keeps pointers into both: they must outlive it.
      const std::vector<ChangeSet> later = {change};
      const absl::flat_hash_map<std::string, std::string> no_deleted_parents;
      const ViewAt view_at(after, later, no_deleted_parents);
      Interest all;
      all.all = true;
      for (int t = 0; t < history.tenant_count(); ++t) {
        const std::string tenant = RandomHistory::TenantName(t);
        View view = ViewOf(before, *before.Chain("tenant", tenant));
        const View expected = ViewOf(after, *after.Chain("tenant", tenant));
        const std::vector<v1::WatchEvent> events = view_at.Events(change, tenant, all);
        if (!events.empty()) ++nonempty_event_lists;
        for (const v1::WatchEvent& e : events) {
          if (e.type() == v1::WatchEvent::TYPE_DELETE) {
            EXPECT_EQ(view.erase({e.service(), e.key()}), 1u)
                << "a DELETE event for a key the view did not have: " << e.ShortDebugString();
          } else {
            view[{e.service(), e.key()}] = {e.value(), e.source_tenant(), e.entry_revision()};
          }
        }
        ASSERT_EQ(Describe(view), Describe(expected))
            << "seed " << seed << " step " << step << " tenant " << tenant << "\nchange "
            << change.ShortDebugString();
        ++checked_views;
      }
    }
  }
  EXPECT_EQ(checked_views, 40 * 25 * 8);
  EXPECT_GT(nonempty_event_lists, 1000) << "the random changes should move many views";
}

}  // namespace
}  // namespace confcenter
