// Secret values at rest: sealed in every file of the data dir (state, change log, history,
// releases, WAL), opened on every read, refused with another key or none.
#include "storage/secret_seal.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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
  // Another key has another id: the value says which key it needs.
  const absl::Status unknown = Sealer('b')->Open(&other);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(unknown.message().find(Sealer('a')->primary_key_id()), std::string::npos) << unknown;
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
  EXPECT_EQ(store->LoadAll().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SecretSealTest, EveryValueNamesItsKeyAndOldKeysStillOpen) {
  const std::string old_key(SecretSealer::kKeyBytes, 'a');
  const std::string new_key(SecretSealer::kKeyBytes, 'b');
  auto old_sealer = *SecretSealer::FromKey(old_key);
  auto rotated = *SecretSealer::FromKeys(new_key, {old_key});
  EXPECT_EQ(old_sealer->primary_key_id().size(), 16u);
  EXPECT_NE(rotated->primary_key_id(), old_sealer->primary_key_id());
  EXPECT_EQ(rotated->old_key_ids(), std::vector<std::string>{old_sealer->primary_key_id()});
  EntryRecord entry = SecretEntry(kSecret);
  ASSERT_TRUE(old_sealer->Seal(&entry).ok());
  EXPECT_TRUE(rotated->NeedsReseal(entry));
  EXPECT_FALSE(old_sealer->NeedsReseal(entry));
  EntryRecord opened = entry;
  ASSERT_TRUE(rotated->Open(&opened).ok());
  EXPECT_EQ(opened.value(), kSecret);
  absl::StatusOr<bool> resealed = rotated->Reseal(&entry);
  ASSERT_TRUE(resealed.ok()) << resealed.status();
  EXPECT_TRUE(*resealed);
  EXPECT_FALSE(rotated->NeedsReseal(entry));
  EXPECT_EQ(old_sealer->Open(&entry).code(), absl::StatusCode::kFailedPrecondition)
      << "now under the new key";
  ASSERT_TRUE((*SecretSealer::FromKey(new_key))->Open(&entry).ok());
  EXPECT_EQ(entry.value(), kSecret);
  // A secret stored in plain text (written before the store had a key) is sealed by a reseal.
  EntryRecord plain = SecretEntry(kSecret);
  EXPECT_TRUE(rotated->NeedsReseal(plain));
  ASSERT_TRUE(*rotated->Reseal(&plain));
  EXPECT_TRUE(plain.value().empty());
  EXPECT_FALSE(rotated->NeedsReseal(plain));
}

TEST(SecretSealTest, AValueSealedBeforeKeyIdsStillOpensAndIsResealed) {
  // Sealed by the format without a key id (format 1: nonce 00..0b, key 'k' x 32), as stores
  // written before key ids hold them.
  EntryRecord entry;
  entry.set_secret(true);
  entry.set_sealed_value(absl::HexStringToBytes(
      "01000102030405060708090a0b06b8934f67a9ab0626f821ef107407f37156c83d8b8e813264deed0a44"));
  auto sealer = Sealer('k');
  EXPECT_TRUE(sealer->NeedsReseal(entry));
  EntryRecord opened = entry;
  ASSERT_TRUE(sealer->Open(&opened).ok());
  EXPECT_EQ(opened.value(), "legacy-secret");
  ASSERT_TRUE(sealer->Reseal(&entry).ok());
  EXPECT_FALSE(sealer->NeedsReseal(entry));
  ASSERT_TRUE(sealer->Open(&entry).ok());
  EXPECT_EQ(entry.value(), "legacy-secret");
}

TEST(SecretSealTest, KeyFilesAreReadAgainOnReloadAndABrokenOneChangesNothing) {
  TempDir dir;
  const std::string primary = dir.path() + "/primary.key";
  const std::string old = dir.path() + "/old.key";
  std::ofstream(primary) << std::string(64, 'a') << "\n";
  std::ofstream(old) << std::string(64, 'a') << "\n";
  // An old key file that does not exist holds no key (a Secret without the item yet); a
  // missing primary is an error.
  absl::StatusOr<std::shared_ptr<const SecretSealer>> absent =
      SecretSealer::FromKeyFiles(primary, {dir.path() + "/absent.key"});
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_TRUE((*absent)->old_key_ids().empty());
  EXPECT_EQ(SecretSealer::FromKeyFile(dir.path() + "/absent.key").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto sealer = *SecretSealer::FromKeyFiles(primary, {old});
  const std::string first = sealer->primary_key_id();
  EXPECT_TRUE(sealer->old_key_ids().empty()) << "the same key once";
  std::ofstream(primary) << std::string(64, 'b') << "\n";
  ASSERT_TRUE(sealer->Reload().ok());
  EXPECT_NE(sealer->primary_key_id(), first);
  EXPECT_EQ(sealer->old_key_ids(), std::vector<std::string>{first});
  std::ofstream(old) << "broken\n";
  const absl::Status broken = sealer->Reload();
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.message().find(old), std::string::npos) << broken;
  EXPECT_EQ(sealer->old_key_ids(), std::vector<std::string>{first}) << "unchanged";
  // Files that drop the key sealing now (b: neither primary nor old any more) are refused.
  const std::string second = sealer->primary_key_id();
  std::ofstream(old) << std::string(64, 'a') << "\n";
  std::ofstream(primary) << std::string(64, 'c') << "\n";
  const absl::Status dropped = sealer->Reload();
  EXPECT_EQ(dropped.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dropped.message().find(second), std::string::npos) << dropped;
  EXPECT_EQ(sealer->primary_key_id(), second) << "unchanged";
}

// A rotation while commits go on: every value ends under the new key (commits seal with it,
// the pass re-seals the rest without writing over a commit), and the store then opens, with
// every read path, with the new key alone.
TEST(SecretSealTest, ResealingWhileCommitsRunLeavesEverythingUnderTheNewKey) {
  TempDir dir;
  const std::string path = dir.path() + "/db";
  const std::string old_key(SecretSealer::kKeyBytes, 'o');
  const std::string new_key(SecretSealer::kKeyBytes, 'n');
  constexpr int kBefore = 600;  // more than one re-seal batch
  constexpr int kDuring = 300;
  {
    auto store = Open(path, *SecretSealer::FromKey(old_key));
    ASSERT_NE(store, nullptr);
    for (int r = 1; r <= kBefore; ++r) {
      ASSERT_TRUE(store->Commit({SecretRelease(r, absl::StrCat(kSecret, r))}).ok());
    }
  }
  {
    auto store = Open(path, *SecretSealer::FromKeys(new_key, {old_key}));
    ASSERT_NE(store, nullptr);
    std::thread writer([&] {
      for (int r = kBefore + 1; r <= kBefore + kDuring; ++r) {
        ASSERT_TRUE(store->Commit({SecretRelease(r, absl::StrCat(kSecret, r))}).ok());
      }
    });
    absl::StatusOr<ResealReport> report = store->ResealSecrets();
    writer.join();
    ASSERT_TRUE(report.ok()) << report.status();
    // Each of the kBefore change sets, history versions and releases, and the entry.
    EXPECT_GE(report->resealed, 3 * kBefore);
    EXPECT_EQ(report->remaining, 0);
  }
  auto store = Open(path, *SecretSealer::FromKey(new_key));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<LoadedState> state = store->LoadAll();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->entries.size(), 1u);
  EXPECT_EQ(state->entries[0].second.value(), absl::StrCat(kSecret, kBefore + kDuring));
  int64_t expected = 1;
  ASSERT_TRUE(store
                  ->ReadChanges(0,
                                [&](const ChangeSet& set) {
                                  EXPECT_EQ(set.changes(1).entry().value(),
                                            absl::StrCat(kSecret, expected));
                                  ++expected;
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(expected, kBefore + kDuring + 1);
  int versions = 0;
  ASSERT_TRUE(store
                  ->ReadHistory({"integration", "orders", "db.password", ""}, {}, 0,
                                [&](const EntryKey&, const HistoryRecord&) {
                                  ++versions;
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(versions, kBefore + kDuring);
  absl::StatusOr<ChangeSet> release = store->GetRelease(1);
  ASSERT_TRUE(release.ok()) << release.status();
  EXPECT_EQ(release->changes(1).entry().value(), absl::StrCat(kSecret, 1));
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
