#include "storage/rocksdb_store.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter::storage {
namespace {

using confcenter::testing::TempDir;

ChangeSet PutEntry(int64_t revision, const std::string& tenant, const std::string& service,
                   const std::string& key, const std::string& value) {
  ChangeSet set;
  set.set_revision(revision);
  Change* c = set.add_changes();
  c->set_type(Change::ENTRY_PUT);
  c->set_tenant(tenant);
  c->set_service(service);
  c->set_key(key);
  c->mutable_entry()->set_value(value);
  c->mutable_entry()->set_mod_revision(revision);
  return set;
}

ChangeSet PutTenant(int64_t revision, const std::string& name) {
  ChangeSet set;
  set.set_revision(revision);
  Change* c = set.add_changes();
  c->set_type(Change::TENANT_PUT);
  c->set_tenant(name);
  c->mutable_tenant_record()->set_name(name);
  return set;
}

std::unique_ptr<Store> Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(path, {});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(RocksDbStoreTest, CommittedStateSurvivesReopen) {
  TempDir dir;
  {
    auto store = Open(dir.path() + "/db");
    ASSERT_TRUE(
        store->Commit({PutTenant(1, "integration"), PutEntry(2, "integration", "a", "k", "v")})
            .ok());
    EXPECT_EQ(store->CurrentRevision(), 2);
  }
  auto store = Open(dir.path() + "/db");
  EXPECT_EQ(store->CurrentRevision(), 2);
  absl::StatusOr<LoadedState> state = store->LoadAll();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->tenants.size(), 1u);
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(state->entries[0].first, (EntryKey{"integration", "a", "k"}));
  EXPECT_EQ(state->entries[0].second.value(), "v");
}

TEST(RocksDbStoreTest, CommitIsAllOrNothing) {
  TempDir dir;
  auto store = Open(dir.path() + "/db");
  ASSERT_TRUE(store->Commit({PutTenant(1, "integration")}).ok());
  // The second change set skips a revision: the whole call must be rejected, the first too.
  absl::Status s = store->Commit(
      {PutEntry(2, "integration", "a", "k", "v"), PutEntry(4, "integration", "a", "k2", "v")});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->CurrentRevision(), 1);
  EXPECT_TRUE(store->LoadAll()->entries.empty());
  int seen = 0;
  ASSERT_TRUE(store->ReadChanges(0, [&](const ChangeSet&) { return ++seen, true; }).ok());
  EXPECT_EQ(seen, 1);
}

TEST(RocksDbStoreTest, TenantScansAreIsolatedFromPrefixNamedTenants) {
  TempDir dir;
  auto store = Open(dir.path() + "/db");
  ASSERT_TRUE(store
                  ->Commit({PutTenant(1, "feat-login"), PutTenant(2, "feat-login-2"),
                            PutEntry(3, "feat-login", "svc", "a", "mine"),
                            PutEntry(4, "feat-login-2", "svc", "a", "theirs")})
                  .ok());
  absl::StatusOr<LoadedState> state = store->LoadAll();
  ASSERT_TRUE(state.ok());
  int mine = 0;
  for (const auto& [key, record] : state->entries) {
    if (key.tenant == "feat-login") {
      ++mine;
      EXPECT_EQ(record.value(), "mine");
    }
  }
  EXPECT_EQ(mine, 1);
}

TEST(RocksDbStoreTest, ChangeLogReplaysInOrderAndReportsCompaction) {
  TempDir dir;
  auto store = Open(dir.path() + "/db");
  ASSERT_TRUE(store->Commit({PutTenant(1, "integration")}).ok());
  for (int r = 2; r <= 10; ++r) {
    ASSERT_TRUE(store->Commit({PutEntry(r, "integration", "a", "k", std::to_string(r))}).ok());
  }
  std::vector<int64_t> revisions;
  ASSERT_TRUE(store
                  ->ReadChanges(6,
                                [&](const ChangeSet& c) {
                                  revisions.push_back(c.revision());
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(revisions, (std::vector<int64_t>{7, 8, 9, 10}));

  ASSERT_TRUE(store->CompactChangesBefore(5).ok());
  EXPECT_EQ(store->OldestChange().value(), 5);
  absl::Status s = store->ReadChanges(2, [](const ChangeSet&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("oldest revision kept is 5"), std::string::npos) << s;
  EXPECT_TRUE(store->ReadChanges(4, [](const ChangeSet&) { return true; }).ok());
  EXPECT_TRUE(store->ReadChanges(10, [](const ChangeSet&) { return true; }).ok());
}

TEST(RocksDbStoreTest, RefusesForeignAndLockedDirectories) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/foreign");
  std::ofstream(dir.path() + "/foreign/notes.txt") << "hello";
  EXPECT_EQ(OpenRocksDbStore(dir.path() + "/foreign", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);

  auto first = Open(dir.path() + "/db");
  absl::StatusOr<std::unique_ptr<Store>> second = OpenRocksDbStore(dir.path() + "/db", {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("locked"), std::string::npos) << second.status();
}

}  // namespace
}  // namespace confcenter::storage
