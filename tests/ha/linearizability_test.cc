#include "tests/ha/linearizability.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace confcenter::testing::ha {
namespace {

Op Put(int client, int64_t call, int64_t ret, std::string key, std::string value, int64_t rev = 0) {
  Op op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = Op::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.rev = rev;
  return op;
}

Op Get(int client, int64_t call, int64_t ret, std::string key, std::optional<std::string> value,
       int64_t rev = 0) {
  Op op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = Op::kGet;
  op.key = std::move(key);
  op.exists = value.has_value();
  op.value = value.value_or("");
  op.rev = rev;
  return op;
}

Op Cas(int client, int64_t call, int64_t ret, std::string key, std::string expected,
       std::string value, bool ok) {
  Op op;
  op.client = client;
  op.call = call;
  op.ret = ret;
  op.kind = Op::kCasPut;
  op.key = std::move(key);
  op.expected_value = std::move(expected);
  op.value = std::move(value);
  op.ok = ok;
  return op;
}

Op CasRev(int client, int64_t call, int64_t ret, std::string key, int64_t expected,
          std::string value, bool ok, int64_t rev = 0) {
  Op op = Cas(client, call, ret, std::move(key), "", std::move(value), ok);
  op.expected_value.reset();
  op.expected = expected;
  op.rev = rev;
  return op;
}

void ExpectLinearizable(const std::vector<Op>& ops) {
  std::string why;
  EXPECT_TRUE(CheckLinearizable(ops, &why)) << why;
}

void ExpectNotLinearizable(const std::vector<Op>& ops) {
  const CheckResult r = CheckHistory(ops);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_FALSE(r.explanation.empty());
}

TEST(LinearizabilityTest, EmptyAndSequentialHistories) {
  ExpectLinearizable({});
  ExpectLinearizable({Get(0, 0, 1, "k", std::nullopt), Put(0, 2, 3, "k", "a"),
                      Get(1, 4, 5, "k", "a"), Put(1, 6, 7, "k", "b"), Get(0, 8, 9, "k", "b")});
}

TEST(LinearizabilityTest, StaleReadAfterACompletedWriteIsNotLinearizable) {
  const std::vector<Op> ops = {Put(0, 0, 10, "k", "a"), Put(0, 20, 30, "k", "b"),
                               Get(1, 40, 50, "k", "a")};
  const CheckResult r = CheckHistory(ops);
  ASSERT_EQ(r.verdict, Verdict::kNotLinearizable);
  // The explanation names the read that cannot be ordered.
  EXPECT_NE(r.explanation.find("client 1 [40, 50] get k -> \"a\""), std::string::npos)
      << r.explanation;
}

TEST(LinearizabilityTest, ReadConcurrentWithAWriteMaySeeEitherValue) {
  ExpectLinearizable({Put(0, 0, 10, "k", "a"), Put(0, 20, 40, "k", "b"), Get(1, 25, 30, "k", "a")});
  ExpectLinearizable({Put(0, 0, 10, "k", "a"), Put(0, 20, 40, "k", "b"), Get(1, 25, 30, "k", "b")});
  // But once a read saw the new value, a later read cannot see the old one.
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), Put(0, 20, 60, "k", "b"),
                         Get(1, 25, 30, "k", "b"), Get(2, 35, 40, "k", "a")});
}

TEST(LinearizabilityTest, ConcurrentWritesReadersMustAgreeOnOneOrder) {
  // a and b written concurrently; readers see a then b: fine.
  ExpectLinearizable({Put(0, 0, 100, "k", "a"), Put(1, 0, 100, "k", "b"), Get(2, 10, 20, "k", "a"),
                      Get(3, 30, 40, "k", "b")});
  // Two readers see both orders, each reading twice in sequence: no single order fits.
  ExpectNotLinearizable({Put(0, 0, 100, "k", "a"), Put(1, 0, 100, "k", "b"),
                         Get(2, 10, 20, "k", "a"), Get(2, 30, 40, "k", "b"),
                         Get(3, 10, 20, "k", "b"), Get(3, 30, 40, "k", "a")});
}

TEST(LinearizabilityTest, CompareAndSet) {
  ExpectLinearizable({Put(0, 0, 10, "k", "a"), Cas(1, 20, 30, "k", "a", "b", true),
                      Cas(2, 20, 30, "k", "a", "c", false), Get(0, 40, 50, "k", "b")});
  // Both CAS from "a" cannot succeed.
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), Cas(1, 20, 30, "k", "a", "b", true),
                         Cas(2, 20, 30, "k", "a", "c", true)});
  // A CAS that failed although the value was certainly the expected one.
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), Cas(1, 20, 30, "k", "a", "b", false)});
  // On revisions, as etcd's Compare(mod_revision): 0 means absent.
  ExpectLinearizable({CasRev(0, 0, 10, "k", 0, "a", true, 5),
                      CasRev(1, 20, 30, "k", 5, "b", true, 7),
                      CasRev(2, 40, 50, "k", 5, "c", false), Get(0, 60, 70, "k", "b", 7)});
  ExpectNotLinearizable(
      {CasRev(0, 0, 10, "k", 0, "a", true, 5), CasRev(1, 20, 30, "k", 0, "b", true, 7)});
}

TEST(LinearizabilityTest, RevisionsOnlyGrow) {
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a", 9), Put(0, 20, 30, "k", "b", 4)});
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a", 9), Get(0, 20, 30, "k", "a", 8)});
  ExpectLinearizable(
      {Put(0, 0, 30, "k", "a", 9), Put(1, 0, 30, "k", "b", 4), Get(0, 40, 50, "k", "a", 9)});
}

TEST(LinearizabilityTest, UnknownOutcomes) {
  // A write whose outcome is unknown may have happened...
  ExpectLinearizable(
      {Put(0, 0, 10, "k", "a"), Put(1, 20, kUnknownReturn, "k", "b"), Get(2, 100, 110, "k", "b")});
  // ...or not...
  ExpectLinearizable(
      {Put(0, 0, 10, "k", "a"), Put(1, 20, kUnknownReturn, "k", "b"), Get(2, 100, 110, "k", "a")});
  // ...but not before it was called, and not twice.
  ExpectNotLinearizable(
      {Put(0, 0, 10, "k", "a"), Get(2, 12, 15, "k", "b"), Put(1, 20, kUnknownReturn, "k", "b")});
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), Put(1, 20, kUnknownReturn, "k", "b"),
                         Get(2, 30, 40, "k", "b"), Put(0, 50, 60, "k", "c"),
                         Get(2, 70, 80, "k", "b")});
  // An unknown CAS applies only where its guard holds.
  Op cas = Cas(1, 20, 30, "k", "x", "b", true);
  cas.ret = kUnknownReturn;
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), cas, Get(2, 40, 50, "k", "b")});
  // Definite failures have no effect.
  Op failed = Put(1, 20, 30, "k", "b");
  failed.ok = false;
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), failed, Get(2, 40, 50, "k", "b")});
}

TEST(LinearizabilityTest, DeletesAndKeysAreIndependent) {
  Op del;
  del.client = 1;
  del.call = 20;
  del.ret = 30;
  del.kind = Op::kDelete;
  del.key = "k";
  del.exists = true;
  ExpectLinearizable({Put(0, 0, 10, "k", "a"), del, Get(2, 40, 50, "k", std::nullopt),
                      Put(0, 0, 10, "j", "a"), Get(2, 40, 50, "j", "a")});
  ExpectNotLinearizable({Put(0, 0, 10, "k", "a"), del, Get(2, 40, 50, "k", "a")});
  ExpectNotLinearizable({Put(0, 0, 10, "j", "a"), Get(2, 40, 50, "k", "a")});
}

TEST(LinearizabilityTest, GivesUpWithinItsBudget) {
  std::vector<Op> ops;
  for (int i = 0; i < 40; ++i) ops.push_back(Put(i, 0, 1000, "k", absl::StrCat(i)));
  ops.push_back(Get(99, 2000, 2001, "k", "none"));
  CheckOptions options;
  options.max_steps_per_key = 1000;
  EXPECT_EQ(CheckHistory(ops, options).verdict, Verdict::kUnknown);
}

// Histories from a real sequential execution on a few keys, each operation given a random
// interval around the instant it ran: linearizable by construction. Corrupting one read so
// that it returns a value overwritten before it started makes it not linearizable.
TEST(LinearizabilityTest, RandomHistoriesFromASequentialExecution) {
  std::mt19937 rng(20261206);
  int corrupted_rounds = 0;
  for (int round = 0; round < 60; ++round) {
    const int keys = 1 + round % 3;
    const int n = 50 + static_cast<int>(rng() % 150);
    const bool with_revs = round % 2 == 0;
    std::map<std::string, KeyState> state;
    std::vector<Op> ops;
    int64_t revision = 0;
    for (int i = 0; i < n; ++i) {
      const std::string key = absl::StrCat("k", rng() % keys);
      const int64_t at = 100 * i;
      Op op;
      op.client = static_cast<int>(rng() % 8);
      op.key = key;
      op.call = at - static_cast<int64_t>(rng() % 250);
      op.ret = at + static_cast<int64_t>(rng() % 250);
      KeyState& s = state[key];
      const int r = static_cast<int>(rng() % 10);
      if (r < 4) {
        op.kind = Op::kGet;
        op.exists = s.exists;
        op.value = s.value;
        if (with_revs && s.exists) op.rev = s.rev;
      } else if (r < 8) {
        op.kind = Op::kPut;
        op.value = absl::StrCat("v", i);
        s = KeyState{true, op.value, ++revision};
        if (with_revs) op.rev = revision;
      } else {
        op.kind = Op::kCasPut;
        op.value = absl::StrCat("v", i);
        op.expected_value = rng() % 2 ? s.value : "nope";
        op.ok = s.exists && s.value == *op.expected_value;
        if (op.ok) {
          s = KeyState{true, op.value, ++revision};
          if (with_revs) op.rev = revision;
        }
      }
      if (r >= 4 && rng() % 20 == 0) op.ret = kUnknownReturn;
      ops.push_back(op);
    }
    std::shuffle(ops.begin(), ops.end(), rng);
    std::string why;
    ASSERT_TRUE(CheckLinearizable(ops, &why)) << "round " << round << ": " << why;

    // Corrupt a read: give it a value that a later completed write replaced before the read
    // was called (values are unique, so no order can explain it).
    bool corrupted = false;
    for (Op& read : ops) {
      if (read.kind != Op::kGet || corrupted) continue;
      for (const Op& w1 : ops) {
        if (corrupted || w1.key != read.key || w1.kind != Op::kPut || w1.ret == kUnknownReturn ||
            w1.value == read.value) {
          continue;
        }
        for (const Op& w2 : ops) {
          if (w2.key == read.key && w2.kind == Op::kPut && w2.ret != kUnknownReturn &&
              w1.ret < w2.call && w2.ret < read.call) {
            read.exists = true;
            read.value = w1.value;
            read.rev = w1.rev;
            corrupted = true;
            break;
          }
        }
      }
    }
    if (!corrupted) continue;
    ++corrupted_rounds;
    const CheckResult r = CheckHistory(ops);
    EXPECT_EQ(r.verdict, Verdict::kNotLinearizable) << "round " << round;
  }
  EXPECT_GE(corrupted_rounds, 40);
}

// The size the HA scenarios record (about 3,000 operations on 4 keys, tens of them open at
// once, a few with unknown outcomes) is checked within the default budget.
TEST(LinearizabilityTest, ScenarioSizedHistory) {
  std::mt19937 rng(7);
  std::map<std::string, KeyState> state;
  std::vector<Op> ops;
  int64_t revision = 0;
  for (int i = 0; i < 3000; ++i) {
    Op op;
    op.client = static_cast<int>(rng() % 100);
    op.key = absl::StrCat("k", rng() % 4);
    op.call = 100 * i - static_cast<int64_t>(rng() % 2000);
    op.ret = 100 * i + static_cast<int64_t>(rng() % 2000);
    KeyState& s = state[op.key];
    if (rng() % 2) {
      op.kind = Op::kGet;
      op.exists = s.exists;
      op.value = s.value;
      op.rev = s.exists ? s.rev : 0;
    } else {
      op.kind = Op::kPut;
      op.value = absl::StrCat("v", i);
      s = KeyState{true, op.value, ++revision};
      op.rev = revision;
      if (rng() % 50 == 0) op.ret = kUnknownReturn;
    }
    ops.push_back(op);
  }
  std::string why;
  EXPECT_TRUE(CheckLinearizable(ops, &why)) << why;
}

}  // namespace
}  // namespace confcenter::testing::ha
