// Secret values at rest: sealed in every file of the data dir (state, change log, history,
// releases, WAL), opened on every read, refused with another key or none.
#include "storage/secret_seal.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "storage/rocksdb_store.h"
#include "tests/test_util.h"

namespace confcenter::storage {
namespace {

using confcenter::testing::TempDir;

constexpr char kSecret[] = "s3cr3t-Value-that-must-not-be-on-disk";

std::shared_ptr<const SecretSealer> Sealer(char fill) {
  absl::StatusOr<std::shared_ptr<const SecretSealer>> sealer =
      SecretSealer::FromKey(std::string(SecretSealer::kKeyBytes, fill));
  EXPECT_TRUE(sealer.ok()) << sealer.status();
  return *sealer;
}

EntryRecord SecretEntry(const std::string& value) {
  EntryRecord entry;
  entry.set_value(value);
  entry.set_secret(true);
  entry.set_mod_revision(2);
  return entry;
}

// A release that puts a secret and replaces another (so `previous_entry` is secret too).
ChangeSet SecretRelease(int64_t revision, const std::string& value) {
  ChangeSet set;
  set.set_revision(revision);
  set.set_release(true);
  Change* tenant = set.add_changes();
  tenant->set_type(Change::TENANT_PUT);
  tenant->set_tenant("integration");
  tenant->mutable_tenant_record()->set_name("integration");
  Change* c = set.add_changes();
  c->set_type(Change::ENTRY_PUT);
  c->set_tenant("integration");
  c->set_service("orders");
  c->set_key("db.password");
  *c->mutable_entry() = SecretEntry(value);
  c->mutable_entry()->set_mod_revision(revision);
  c->set_had_previous(true);
  *c->mutable_previous_entry() = SecretEntry(std::string(value) + "-previous");
  return set;
}

// Whether any file under `dir` contains `needle`.
bool AnyFileContains(const std::string& dir, const std::string& needle) {
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::unique_ptr<Store> Open(const std::string& path, std::shared_ptr<const SecretSealer> sealer) {
  RocksDbStoreOptions options;
  options.sealer = std::move(sealer);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(path, options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(SecretSealTest, SealsAndOpensOnlySecrets) {
  auto sealer = Sealer('k');
  EntryRecord secret = SecretEntry(kSecret);
  ASSERT_TRUE(sealer->Seal(&secret).ok());
  EXPECT_TRUE(secret.value().empty());
  EXPECT_EQ(secret.sealed_value().find(kSecret), std::string::npos);
  EntryRecord again = SecretEntry(kSecret);
  ASSERT_TRUE(sealer->Seal(&again).ok());
  EXPECT_NE(again.sealed_value(), secret.sealed_value()) << "a fresh nonce per value";
  ASSERT_TRUE(sealer->Open(&secret).ok());
  EXPECT_EQ(secret.value(), kSecret);
  EXPECT_TRUE(secret.sealed_value().empty());

  EntryRecord plain;
  plain.set_value("not secret");
  ASSERT_TRUE(sealer->Seal(&plain).ok());
  EXPECT_EQ(plain.value(), "not secret");
  EXPECT_TRUE(plain.sealed_value().empty());
}

TEST(SecretSealTest, AnotherKeyOrChangedBytesDoNotOpen) {
  EntryRecord entry = SecretEntry(kSecret);
  ASSERT_TRUE(Sealer('a')->Seal(&entry).ok());
  EntryRecord other = entry;
  EXPECT_EQ(Sealer('b')->Open(&other).code(), absl::StatusCode::kDataLoss);
  EntryRecord changed = entry;
  std::string bytes = changed.sealed_value();
  bytes[bytes.size() / 2] ^= 1;
  changed.set_sealed_value(bytes);
  EXPECT_EQ(Sealer('a')->Open(&changed).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(OpenEntry(nullptr, &entry).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SecretSealTest, KeyFilesAreHexOrRaw) {
  TempDir dir;
  const std::string hex = dir.path() + "/hex";
  std::ofstream(hex) << std::string(64, 'a') << "\n";
  EXPECT_TRUE(SecretSealer::FromKeyFile(hex).ok());
  const std::string raw = dir.path() + "/raw";
  std::ofstream(raw, std::ios::binary) << std::string(32, '\x01');
  EXPECT_TRUE(SecretSealer::FromKeyFile(raw).ok());
  const std::string bad = dir.path() + "/bad";
  std::ofstream(bad) << "too short\n";
  absl::StatusOr<std::shared_ptr<const SecretSealer>> s = SecretSealer::FromKeyFile(bad);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find(bad), std::string::npos) << s.status();
}

TEST(SecretSealTest, NoFileOfTheDataDirHoldsASealedStoresSecret) {
  TempDir dir;
  const std::string path = dir.path() + "/db";
  const std::string backup = dir.path() + "/backup";
  {
    auto store = Open(path, Sealer('k'));
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit({SecretRelease(1, kSecret)}).ok());
    EXPECT_FALSE(AnyFileContains(path, kSecret)) << "in the WAL";
    // Flushed to table files and compacted down to the last level, then backed up.
    ASSERT_TRUE(store->ReclaimSpace().ok());
    ASSERT_TRUE(store->Checkpoint(backup).ok());
  }
  EXPECT_FALSE(AnyFileContains(path, kSecret));
  EXPECT_FALSE(AnyFileContains(path, std::string(kSecret) + "-previous"));
  EXPECT_FALSE(AnyFileContains(backup, kSecret)) << "in the backup";
  EXPECT_FALSE(AnyFileContains(backup, std::string(kSecret) + "-previous"));
  EXPECT_TRUE(std::filesystem::exists(backup + "/CURRENT"));

  // Every read path opens it again.
  auto store = Open(path, Sealer('k'));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<LoadedState> state = store->LoadAll();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(state->entries[0].second.value(), kSecret);
  std::string logged;
  ASSERT_TRUE(store
                  ->ReadChanges(0,
                                [&](const ChangeSet& set) {
                                  logged = set.changes(1).entry().value();
                                  EXPECT_EQ(set.changes(1).previous_entry().value(),
                                            std::string(kSecret) + "-previous");
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(logged, kSecret);
  std::string versioned;
  ASSERT_TRUE(store
                  ->ReadHistory({"integration", "orders", "db.password", ""}, {}, 0,
                                [&](const EntryKey&, const HistoryRecord& r) {
                                  versioned = r.entry().value();
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(versioned, kSecret);
  absl::StatusOr<StateAt> at = store->ReadStateAt({"integration", "", "", ""}, 1);
  ASSERT_TRUE(at.ok()) << at.status();
  ASSERT_EQ(at->entries.size(), 1u);
  EXPECT_EQ(at->entries[0].second.value(), kSecret);
  absl::StatusOr<ChangeSet> release = store->GetRelease(1);
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(release->changes(1).entry().value(), kSecret);
}

TEST(SecretSealTest, WithoutTheKeyASealedStoreIsRefused) {
  TempDir dir;
  const std::string path = dir.path() + "/db";
  {
    auto store = Open(path, Sealer('k'));
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit({SecretRelease(1, kSecret)}).ok());
  }
  {
    auto store = Open(path, nullptr);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->LoadAll().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  auto store = Open(path, Sealer('x'));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LoadAll().status().code(), absl::StatusCode::kDataLoss);
}

TEST(SecretSealTest, TheScanFindsAnUnsealedSecret) {
  // The control for the tests above: without a sealer the value is in the data dir (its WAL
  // at least), so the scan would see a leak.
  TempDir dir;
  const std::string path = dir.path() + "/db";
  const std::string backup = dir.path() + "/backup";
  {
    auto store = Open(path, nullptr);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit({SecretRelease(1, kSecret)}).ok());
    EXPECT_TRUE(AnyFileContains(path, kSecret));
    // Also once only table files hold it (the WAL gone after the flush): compression does not
    // hide it from the scan.
    ASSERT_TRUE(store->ReclaimSpace().ok());
    ASSERT_TRUE(store->Checkpoint(backup).ok());
  }
  EXPECT_TRUE(AnyFileContains(path, kSecret));
  EXPECT_TRUE(AnyFileContains(backup, kSecret));
}

}  // namespace
}  // namespace confcenter::storage
