// The RocksDB store under injected disk faults (storage/fault_injection.h): a failed commit
// applies nothing, now or after a reopen, and commits succeed again once the fault clears.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/fault_injection.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter::storage {
namespace {

using confcenter::testing::TempDir;

ChangeSet PutEntry(int64_t revision, const std::string& key, const std::string& value) {
  ChangeSet set;
  set.set_revision(revision);
  Change* c = set.add_changes();
  c->set_type(Change::ENTRY_PUT);
  c->set_tenant("integration");
  c->set_service("svc");
  c->set_key(key);
  c->mutable_entry()->set_value(value);
  c->mutable_entry()->set_mod_revision(revision);
  return set;
}

AuditRecord Audit(const std::string& rpc) {
  AuditRecord record;
  record.set_rpc(rpc);
  return record;
}

std::unique_ptr<Store> Open(const std::string& path, std::shared_ptr<FaultSource> faults = {}) {
  RocksDbStoreOptions options;
  if (faults != nullptr) options.file_system = NewFaultInjectionFileSystem(std::move(faults));
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(path, options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

// key -> value of the current entries.
std::map<std::string, std::string> Entries(Store& store) {
  std::map<std::string, std::string> out;
  absl::StatusOr<LoadedState> state = store.LoadAll();
  EXPECT_TRUE(state.ok()) << state.status();
  if (!state.ok()) return out;
  for (const auto& [key, entry] : state->entries) out[key.key] = entry.value();
  return out;
}

// revision -> value of the first change, from the change log.
std::map<int64_t, std::string> Log(Store& store) {
  std::map<int64_t, std::string> out;
  absl::Status s = store.ReadChanges(0, [&](const ChangeSet& set) {
    out[set.revision()] = set.changes(0).entry().value();
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<std::string> AuditRpcs(Store& store) {
  std::vector<std::string> out;
  EXPECT_TRUE(store
                  .ReadAudit(0,
                             [&](const AuditRecord& r) {
                               out.push_back(r.rpc());
                               return true;
                             })
                  .ok());
  return out;
}

struct FaultCase {
  StorageFault fault;
  absl::StatusCode code;
  // Whether the store was just reopened (empty memtables) when the fault hits.
  bool right_after_open;
  friend void PrintTo(const FaultCase& c, std::ostream* os) {
    *os << StorageFaultName(c.fault) << (c.right_after_open ? " right after open" : "");
  }
};

class StoreFaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(StoreFaultTest, FailedCommitAppliesNothingAndTheStoreRecoversWhenTheFaultClears) {
  const FaultCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.path() + "/db";
  auto faults = std::make_shared<ManualFaultSource>();
  std::unique_ptr<Store> store = Open(path, faults);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CommitWithAudit({PutEntry(1, "k", "one")}, {Audit("first")}).ok());
  if (c.right_after_open) {
    store.reset();
    store = Open(path, faults);
    ASSERT_NE(store, nullptr);
  }

  faults->Set(c.fault);
  for (int attempt = 0; attempt < 3; ++attempt) {  // also while the store is stopped
    absl::Status failed = store->CommitWithAudit({PutEntry(2, "k", "lost")}, {Audit("failed")});
    EXPECT_EQ(failed.code(), c.code) << failed;
    EXPECT_NE(failed.message().find("injected fault"), std::string::npos) << failed;
    EXPECT_EQ(store->CurrentRevision(), 1);
  }
  // Reads keep working and see none of the failed commits.
  EXPECT_EQ(Entries(*store), (std::map<std::string, std::string>{{"k", "one"}}));
  EXPECT_EQ(Log(*store), (std::map<int64_t, std::string>{{1, "one"}}));

  faults->Set(StorageFault::kNone);
  absl::Status recovered = store->CommitWithAudit({PutEntry(2, "k", "two")}, {Audit("second")});
  ASSERT_TRUE(recovered.ok()) << recovered;
  EXPECT_EQ(store->CurrentRevision(), 2);
  ASSERT_TRUE(store->CommitWithAudit({PutEntry(3, "other", "three")}, {}).ok());

  // After a reopen (the WAL replayed) the failed commits are still absent.
  store.reset();
  store = Open(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision(), 3);
  EXPECT_EQ(Entries(*store),
            (std::map<std::string, std::string>{{"k", "two"}, {"other", "three"}}));
  EXPECT_EQ(Log(*store), (std::map<int64_t, std::string>{{1, "one"}, {2, "two"}, {3, "three"}}));
  EXPECT_EQ(AuditRpcs(*store), (std::vector<std::string>{"second", "first"}));
}

INSTANTIATE_TEST_SUITE_P(
    Faults, StoreFaultTest,
    ::testing::Values(FaultCase{StorageFault::kNoSpace, absl::StatusCode::kResourceExhausted,
                                false},
                      FaultCase{StorageFault::kNoSpace, absl::StatusCode::kResourceExhausted, true},
                      FaultCase{StorageFault::kIoError, absl::StatusCode::kUnavailable, false},
                      FaultCase{StorageFault::kIoError, absl::StatusCode::kUnavailable, true},
                      FaultCase{StorageFault::kSyncIoError, absl::StatusCode::kUnavailable, false},
                      FaultCase{StorageFault::kSyncIoError, absl::StatusCode::kUnavailable, true}),
    [](const ::testing::TestParamInfo<FaultCase>& info) {
      std::string name(StorageFaultName(info.param.fault));
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name + (info.param.right_after_open ? "_RightAfterOpen" : "_AfterWrites");
    });

TEST(StorageFaultTest, ParsesTheFaultNames) {
  for (StorageFault f : {StorageFault::kNone, StorageFault::kNoSpace, StorageFault::kIoError,
                         StorageFault::kSyncIoError}) {
    EXPECT_EQ(ParseStorageFault(StorageFaultName(f)).value(), f);
  }
  EXPECT_EQ(ParseStorageFault(" enospc\n").value(), StorageFault::kNoSpace);
  EXPECT_EQ(ParseStorageFault("").value(), StorageFault::kNone);
  EXPECT_EQ(ParseStorageFault("full").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confcenter::storage
