// The history, release and audit column families of the RocksDB engine.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/key_codec.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter::storage {
namespace {

using confcenter::testing::TempDir;

constexpr int64_t kSecond = 1'000'000;

class HistoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    auto store = OpenRocksDbStore(dir_.path() + "/db", {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Commits one change set at the next revision, at time `t` seconds, putting (or, for
  // value == nullptr, deleting) each key.
  int64_t Write(int64_t t, const std::vector<std::pair<EntryKey, const char*>>& writes,
                bool release = false, const std::string& message = "") {
    ChangeSet set;
    set.set_revision(store_->CurrentRevision() + 1);
    set.set_commit_time_micros(t * kSecond);
    set.set_author("alice");
    set.set_message(message);
    set.set_origin(release ? "ConfigService.Txn" : "ConfigService.Put");
    set.set_release(release);
    for (const auto& [key, value] : writes) {
      Change* change = set.add_changes();
      change->set_tenant(key.tenant);
      change->set_service(key.service);
      change->set_key(key.key);
      if (value == nullptr) {
        change->set_type(Change::ENTRY_DELETE);
      } else {
        change->set_type(Change::ENTRY_PUT);
        change->mutable_entry()->set_value(value);
        change->mutable_entry()->set_mod_revision(set.revision());
      }
    }
    EXPECT_TRUE(store_->Commit({set}).ok());
    return set.revision();
  }

  // "key=value" of the scope's state at `revision`.
  std::vector<std::string> StateAt(const HistoryScope& scope, int64_t revision) {
    absl::StatusOr<storage::StateAt> state = store_->ReadStateAt(scope, revision);
    EXPECT_TRUE(state.ok()) << state.status();
    std::vector<std::string> out;
    if (!state.ok()) return out;
    for (const auto& [key, entry] : state->entries) {
      out.push_back(key.tenant + "/" + key.service + "/" + key.key + "=" + entry.value());
    }
    return out;
  }

  // "key@revision" of every version in the scope, in read order.
  std::vector<std::string> Versions(const HistoryScope& scope, EntryKey after = {},
                                    int64_t after_revision = 0, size_t limit = 1000) {
    std::vector<std::string> out;
    EXPECT_TRUE(store_
                    ->ReadHistory(scope, after, after_revision,
                                  [&](const EntryKey& key, const HistoryRecord& record) {
                                    out.push_back(key.tenant + "/" + key.key + "@" +
                                                  std::to_string(record.revision()) +
                                                  (record.deleted() ? "-" : ""));
                                    return out.size() < limit;
                                  })
                    .ok());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(HistoryStoreTest, PrefixNamedTenantsAndKeysNeverShareHistory) {
  Write(1, {{{"feat-login", "a", "k"}, "1"}, {{"feat-login-2", "a", "k"}, "2"}});
  Write(2, {{{"feat-login", "a", "k.x"}, "3"}, {{"feat-login", "a", "k"}, "4"}});
  EXPECT_EQ(Versions({"feat-login", "a", "k", ""}),
            (std::vector<std::string>{"feat-login/k@2", "feat-login/k@1"}));
  EXPECT_EQ(Versions({"feat-login", "", "", ""}),
            (std::vector<std::string>{"feat-login/k@2", "feat-login/k@1", "feat-login/k.x@2"}));
  EXPECT_EQ(Versions({"feat-login-2", "", "", ""}), (std::vector<std::string>{"feat-login-2/k@1"}));
  // A key prefix is a prefix of key names within the service.
  EXPECT_EQ(Versions({"feat-login", "a", "", "k."}),
            (std::vector<std::string>{"feat-login/k.x@2"}));
}

TEST_F(HistoryStoreTest, StateAtTakesEachKeysLatestVersionAndDropsDeletedKeys) {
  const EntryKey a{"t", "s", "a"}, b{"t", "s", "b"};
  const int64_t r1 = Write(1, {{a, "a1"}});
  const int64_t r2 = Write(2, {{b, "b1"}});
  const int64_t r3 = Write(3, {{a, "a2"}, {b, nullptr}});
  EXPECT_EQ(StateAt({"t", "", "", ""}, r1), (std::vector<std::string>{"t/s/a=a1"}));
  EXPECT_EQ(StateAt({"t", "", "", ""}, r2), (std::vector<std::string>{"t/s/a=a1", "t/s/b=b1"}));
  EXPECT_EQ(StateAt({"t", "", "", ""}, r3), (std::vector<std::string>{"t/s/a=a2"}));
  EXPECT_EQ(StateAt({"t", "s", "b", ""}, r2), (std::vector<std::string>{"t/s/b=b1"}));
  EXPECT_TRUE(StateAt({"t", "", "", ""}, 0).empty());
}

TEST_F(HistoryStoreTest, HistoryPagesResumeStrictlyAfterTheLastVersion) {
  for (int i = 0; i < 3; ++i) Write(i, {{{"t", "s", "a"}, "x"}, {{"t", "s", "b"}, "y"}});
  std::vector<std::string> all = Versions({"t", "s", "", ""});
  ASSERT_EQ(all, (std::vector<std::string>{"t/a@3", "t/a@2", "t/a@1", "t/b@3", "t/b@2", "t/b@1"}));
  EXPECT_EQ(Versions({"t", "s", "", ""}, {"t", "s", "a"}, 2),
            (std::vector<std::string>{"t/a@1", "t/b@3", "t/b@2", "t/b@1"}));
  EXPECT_EQ(Versions({"t", "s", "", ""}, {"t", "s", "a"}, 1),
            (std::vector<std::string>{"t/b@3", "t/b@2", "t/b@1"}));
}

TEST_F(HistoryStoreTest, CompactionKeepsLastVersionsAndRaisesTheFloor) {
  const EntryKey a{"t", "s", "a"}, gone{"t", "s", "gone"}, other{"u", "s", "a"};
  Write(10, {{a, "a1"}, {gone, "g1"}, {other, "o1"}});  // r1
  Write(20, {{a, "a2"}, {gone, nullptr}});              // r2
  Write(30, {{a, "a3"}});                               // r3
  Write(100, {{a, "a4"}});                              // r4
  absl::StatusOr<HistoryCompaction> compacted = store_->CompactHistory(50 * kSecond, 2);
  ASSERT_TRUE(compacted.ok()) << compacted.status();
  // a: r1, r2 go (old, not among the last 2); gone: its last version is an old deletion.
  EXPECT_EQ(compacted->versions_dropped, 4);
  EXPECT_EQ(Versions({"t", "", "", ""}), (std::vector<std::string>{"t/a@4", "t/a@3"}));
  EXPECT_EQ(*store_->HistoryFloor("t"), 3);
  EXPECT_EQ(*store_->HistoryFloor("u"), 0);  // untouched
  // From the floor on, the state is exact, and the deleted key does not come back.
  EXPECT_EQ(StateAt({"t", "", "", ""}, 3), (std::vector<std::string>{"t/s/a=a3"}));
  // Compacting again changes nothing; the floor survives a reopen.
  ASSERT_EQ(store_->CompactHistory(50 * kSecond, 2)->versions_dropped, 0);
  Open();
  EXPECT_EQ(*store_->HistoryFloor("t"), 3);
}

TEST_F(HistoryStoreTest, ReleasesAreIndexedPerTenantNewestFirst) {
  Write(1, {{{"t", "s", "a"}, "1"}}, /*release=*/false);
  const int64_t r2 = Write(2, {{{"t", "s", "a"}, "2"}, {{"u", "s", "a"}, "2"}}, true, "two");
  const int64_t r3 = Write(3, {{{"u", "s", "a"}, "3"}}, true, "three");
  std::vector<int64_t> t_releases, u_releases, all;
  ASSERT_TRUE(store_
                  ->ReadReleases("t", 0,
                                 [&](const ChangeSet& s) {
                                   t_releases.push_back(s.revision());
                                   return true;
                                 })
                  .ok());
  ASSERT_TRUE(store_
                  ->ReadReleases("u", 0,
                                 [&](const ChangeSet& s) {
                                   u_releases.push_back(s.revision());
                                   return true;
                                 })
                  .ok());
  ASSERT_TRUE(store_
                  ->ReadReleases("u", r3,
                                 [&](const ChangeSet& s) {
                                   all.push_back(s.revision());
                                   return true;
                                 })
                  .ok());
  EXPECT_EQ(t_releases, std::vector<int64_t>{r2});
  EXPECT_EQ(u_releases, (std::vector<int64_t>{r3, r2}));
  EXPECT_EQ(all, std::vector<int64_t>{r2});
  absl::StatusOr<ChangeSet> release = store_->GetRelease(r2);
  ASSERT_TRUE(release.ok());
  EXPECT_EQ(release->message(), "two");
  EXPECT_EQ(release->changes_size(), 2);
  EXPECT_EQ(store_->GetRelease(1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HistoryStoreTest, AuditAppendsWithSequenceSurvivesReopenAndCompacts) {
  for (int i = 1; i <= 3; ++i) {
    AuditRecord record;
    record.set_time_micros(i * kSecond);
    record.set_rpc("ConfigService.Put");
    ASSERT_TRUE(store_->CommitWithAudit({}, {record}).ok());
  }
  EXPECT_EQ(store_->CurrentRevision(), 0);  // audit alone commits no revision
  Open();
  AuditRecord record;
  record.set_time_micros(4 * kSecond);
  ASSERT_TRUE(store_->CommitWithAudit({}, {record}).ok());
  std::vector<int64_t> sequences;
  auto read = [&] {
    sequences.clear();
    EXPECT_TRUE(store_
                    ->ReadAudit(0,
                                [&](const AuditRecord& r) {
                                  sequences.push_back(r.sequence());
                                  return true;
                                })
                    .ok());
  };
  read();
  EXPECT_EQ(sequences, (std::vector<int64_t>{4, 3, 2, 1}));
  ASSERT_EQ(*store_->CompactAudit(3 * kSecond), 2);
  read();
  EXPECT_EQ(sequences, (std::vector<int64_t>{4, 3}));
}

}  // namespace
}  // namespace confcenter::storage
