// Rollback planning (server/core/rollback_plan.h): which writes turn a scope's current own
// entries back into what they were at an earlier revision (a storage::StateAt, as the history
// store reads it), and the Txn operations, key count change and release message limit of
// such a rollback.
#include "server/core/rollback_plan.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/config_state.h"
#include "storage/store.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;
using storage::EntryRecord;
using Strings = std::vector<std::string>;

EntryRecord Value(const std::string& value, int64_t revision, int32_t content_type = 1) {
  EntryRecord e;
  e.set_value(value);
  e.set_content_type(content_type);
  e.set_create_revision(revision);
  e.set_mod_revision(revision);
  return e;
}

EntryRecord Mask(int64_t revision) {
  EntryRecord e;
  e.set_mask(true);
  e.set_create_revision(revision);
  e.set_mod_revision(revision);
  return e;
}

// "value" (text), "value:json"-style content types, "<mask>" or "<absent>".
std::string Describe(const std::optional<EntryRecord>& e) {
  if (!e) return "<absent>";
  if (e->mask()) return "<mask>";
  return e->content_type() == 1 ? e->value() : absl::StrCat(e->value(), ":", e->content_type());
}

// "service/key: before -> after" per change, in the planned order.
Strings Describe(const std::vector<RollbackChange>& changes) {
  Strings out;
  for (const RollbackChange& c : changes) {
    out.push_back(absl::StrCat(c.key.service, "/", c.key.key, ": ", Describe(c.before), " -> ",
                               Describe(c.after)));
  }
  return out;
}

class RollbackPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChangeSet set = Next();
    for (const auto& [tenant, parent] :
         {std::pair<std::string, std::string>{"integration", ""}, {"f1", "integration"}}) {
      Change* c = set.add_changes();
      c->set_type(Change::TENANT_PUT);
      c->set_tenant(tenant);
      c->mutable_tenant_record()->set_name(tenant);
      c->mutable_tenant_record()->set_parent(parent);
    }
    state_.Apply(set);
  }

  // Writes `entry` as `tenant`'s own current entry.
  void Current(const std::string& tenant, const std::string& service, const std::string& key,
               const EntryRecord& entry) {
    ChangeSet set = Next();
    Change* c = set.add_changes();
    c->set_type(Change::ENTRY_PUT);
    c->set_tenant(tenant);
    c->set_service(service);
    c->set_key(key);
    *c->mutable_entry() = entry;
    state_.Apply(set);
  }

  // Adds `entry` to `tenant`'s own entries at the past revision.
  void Past(const std::string& tenant, const std::string& service, const std::string& key,
            const EntryRecord& entry) {
    past_.entries.push_back({{tenant, service, key}, entry});
  }

  Strings Plan(const storage::HistoryScope& scope) const {
    return Describe(PlanRollbackChanges(state_, scope, past_));
  }

  ChangeSet Next() {
    ChangeSet set;
    set.set_revision(state_.revision() + 1);
    return set;
  }

  ConfigState state_;
  storage::StateAt past_;
};

storage::HistoryScope TenantScope(const std::string& tenant) { return {tenant, "", "", ""}; }

TEST_F(RollbackPlanTest, RestoresValuesMasksAndAbsencesAndSkipsWhatOnlyChangedRevision) {
  Past("f1", "svc", "absent-now", Value("old", 2));
  Past("f1", "svc", "changed", Value("v1", 2));
  Past("f1", "svc", "content-type", Value("{}", 2, /*content_type=*/1));
  Past("f1", "svc", "mask-now", Value("v", 2));
  Past("f1", "svc", "masked-then", Mask(2));
  Past("f1", "svc", "same-mask", Mask(2));
  Past("f1", "svc", "same-value", Value("v", 2));
  Current("f1", "svc", "added-since", Value("new", 5));
  Current("f1", "svc", "changed", Value("v2", 5));
  Current("f1", "svc", "content-type", Value("{}", 5, /*content_type=*/2));
  Current("f1", "svc", "mask-now", Mask(5));
  Current("f1", "svc", "masked-then", Value("v", 5));
  Current("f1", "svc", "same-mask", Mask(6));
  Current("f1", "svc", "same-value", Value("v", 6));  // written again since: same content

  EXPECT_EQ(Plan(TenantScope("f1")), (Strings{
                                         "svc/absent-now: <absent> -> old",
                                         "svc/added-since: new -> <absent>",
                                         "svc/changed: v2 -> v1",
                                         "svc/content-type: {}:2 -> {}",
                                         "svc/mask-now: <mask> -> v",
                                         "svc/masked-then: v -> <mask>",
                                     }));
}

TEST_F(RollbackPlanTest, ChangesCarryTheCurrentAndThePastEntriesWhole) {
  Past("f1", "svc", "k", Value("v1", 2));
  Current("f1", "svc", "k", Value("v2", 7));
  const std::vector<RollbackChange> changes = PlanRollbackChanges(state_, TenantScope("f1"), past_);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].key, (storage::EntryKey{"f1", "svc", "k"}));
  ASSERT_TRUE(changes[0].before.has_value());
  EXPECT_EQ(changes[0].before->mod_revision(), 7);
  ASSERT_TRUE(changes[0].after.has_value());
  EXPECT_EQ(changes[0].after->mod_revision(), 2);
}

TEST_F(RollbackPlanTest, OrdersChangesByServiceThenKey) {
  Past("f1", "a", "z", Value("old", 2));
  Past("f1", "b", "a", Value("old", 2));
  Past("f1", "b", "c", Value("old", 2));
  Current("f1", "a", "y", Value("new", 5));
  Current("f1", "b", "b", Value("new", 5));
  Current("f1", "c", "a", Value("new", 5));
  Current("f1", "a", "a", Value("new", 5));
  EXPECT_EQ(Plan(TenantScope("f1")), (Strings{
                                         "a/a: new -> <absent>",
                                         "a/y: new -> <absent>",
                                         "a/z: <absent> -> old",
                                         "b/a: <absent> -> old",
                                         "b/b: new -> <absent>",
                                         "b/c: <absent> -> old",
                                         "c/a: new -> <absent>",
                                     }));
}

TEST_F(RollbackPlanTest, TouchesOnlyTheScopesTenantServiceAndKey) {
  for (const char* tenant : {"integration", "f1"}) {
    for (const char* service : {"svc", "other"}) {
      Past(tenant, service, "db.host", Value("old", 2));
      Past(tenant, service, "db.port", Value("old", 2));
      Past(tenant, service, "log.level", Value("old", 2));
      Current(tenant, service, "db.host", Value("new", 5));
      Current(tenant, service, "db.port", Value("new", 5));
      Current(tenant, service, "log.level", Value("new", 5));
    }
  }
  Past("integration", "svc", "db.gone", Value("old", 2));  // integration's, deleted since
  EXPECT_EQ(Plan({"f1", "svc", "db.port", ""}), Strings{"svc/db.port: new -> old"});
  EXPECT_EQ(
      Plan({"f1", "svc", "", ""}),
      (Strings{"svc/db.host: new -> old", "svc/db.port: new -> old", "svc/log.level: new -> old"}));
  EXPECT_EQ(Plan({"f1", "", "", "db."}),
            (Strings{"other/db.host: new -> old", "other/db.port: new -> old",
                     "svc/db.host: new -> old", "svc/db.port: new -> old"}));
  EXPECT_EQ(Plan({"f1", "svc", "", "log."}), Strings{"svc/log.level: new -> old"});
  EXPECT_EQ(Plan(TenantScope("f1")).size(), 6u) << "f1's keys only, never integration's";
}

TEST_F(RollbackPlanTest, ATenantWithoutCurrentEntriesGetsThePastOnesBack) {
  Past("f1", "svc", "a", Value("1", 2));
  Past("f1", "svc", "b", Mask(3));
  EXPECT_EQ(Plan(TenantScope("f1")),
            (Strings{"svc/a: <absent> -> 1", "svc/b: <absent> -> <mask>"}));
  EXPECT_EQ(Plan(TenantScope("gone")), Strings{}) << "nothing now, nothing then";
}

TEST_F(RollbackPlanTest, NothingDiffersNothingIsPlanned) {
  Past("f1", "svc", "k", Value("v", 2));
  Current("f1", "svc", "k", Value("v", 2));
  EXPECT_TRUE(PlanRollbackChanges(state_, TenantScope("f1"), past_).empty());
}

RollbackChange MakeChange(const std::string& key, std::optional<EntryRecord> before,
                          std::optional<EntryRecord> after) {
  return {{"f1", "svc", key}, std::move(before), std::move(after)};
}

TEST(RollbackOps, RestoringAValueIsAPutAMaskAMaskAndAbsenceADelete) {
  const std::vector<RollbackChange> changes = {
      MakeChange("value", Value("new", 5), Value("{\"a\":1}", 2, /*content_type=*/2)),
      MakeChange("mask", Value("new", 5), Mask(2)),
      MakeChange("absent", Value("new", 5), std::nullopt),
      MakeChange("added", std::nullopt, Value("old", 2)),
  };
  const std::vector<WriteOp> ops = RollbackOps(changes);
  ASSERT_EQ(ops.size(), 4u) << "one op per change, in order";
  EXPECT_EQ(ops[0].type, WriteOpType::kPut);
  EXPECT_EQ(ops[0].value, "{\"a\":1}");
  EXPECT_EQ(ops[0].content_type, 2);
  EXPECT_EQ(ops[1].type, WriteOpType::kMask);
  EXPECT_EQ(ops[2].type, WriteOpType::kDelete);
  EXPECT_EQ(ops[3].type, WriteOpType::kPut);
  EXPECT_EQ(ops[3].value, "old");
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(ops[i].tenant, "f1");
    EXPECT_EQ(ops[i].service, "svc");
    EXPECT_EQ(ops[i].key, changes[i].key.key);
    EXPECT_FALSE(ops[i].expected_revision.has_value()) << "unconditional";
  }
}

TEST(KeyCountDelta, CountsKeysAddedMinusKeysRemoved) {
  EXPECT_EQ(KeyCountDelta({}), 0);
  EXPECT_EQ(KeyCountDelta({MakeChange("replaced", Value("new", 5), Value("old", 2))}), 0);
  EXPECT_EQ(KeyCountDelta({MakeChange("masked", Value("new", 5), Mask(2))}), 0)
      << "a mask is an own entry too";
  EXPECT_EQ(KeyCountDelta({MakeChange("a", std::nullopt, Value("old", 2)),
                           MakeChange("b", std::nullopt, Mask(2)),
                           MakeChange("c", Value("new", 5), std::nullopt)}),
            1);
  EXPECT_EQ(KeyCountDelta({MakeChange("a", Value("new", 5), std::nullopt),
                           MakeChange("b", Mask(5), std::nullopt)}),
            -2);
}

TEST(ValidateReleaseMessage, AcceptsUpTo4096BytesAndNamesTheFieldBeyond) {
  EXPECT_TRUE(ValidateReleaseMessage("message", "").ok());
  EXPECT_TRUE(ValidateReleaseMessage("message", std::string(kMaxReleaseMessageBytes, 'x')).ok());
  const absl::Status too_long =
      ValidateReleaseMessage("message", std::string(kMaxReleaseMessageBytes + 1, 'x'));
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(too_long.message(), "message: 4097 bytes exceed the limit of 4096 bytes");
  EXPECT_EQ(kMaxReleaseMessageBytes, 4096u);
}

}  // namespace
}  // namespace confcenter
