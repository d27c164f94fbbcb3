// Power cuts: the RocksDB store written through a PowerCutFileSystem (storage/power_cut.h),
// with images of what a power cut would leave taken at many moments while commits, flushes and
// compactions run. Every image must open and hold every commit acknowledged before it was
// taken, whole, with nothing after a gap. The same run with fsync off must lose acknowledged
// commits in some image: proof the harness can see a loss.
#include "storage/power_cut.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter::storage {
namespace {

using confcenter::testing::TempDir;

// POWER_CUT_COMMITS=N runs longer (default 600: about 90 power cuts, 5 s);
// POWER_CUT_SEED=S replays a run's power-cut moments.
int Commits() {
  const char* n = std::getenv("POWER_CUT_COMMITS");
  return n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : 600;
}
constexpr int kKeys = 20;

std::string KeyOf(int revision) { return absl::StrCat("k", revision % kKeys); }
// Values of 1-16 KiB, so the 1 MiB memtables flush and level 0 compacts during the run.
std::string ValueOf(int revision) {
  return absl::StrCat(revision, ":", std::string(1024 * (1 + revision % 16), 'v'));
}

ChangeSet PutEntry(int64_t revision) {
  ChangeSet set;
  set.set_revision(revision);
  Change* c = set.add_changes();
  c->set_type(Change::ENTRY_PUT);
  c->set_tenant("integration");
  c->set_service("svc");
  c->set_key(KeyOf(static_cast<int>(revision)));
  c->mutable_entry()->set_value(ValueOf(static_cast<int>(revision)));
  c->mutable_entry()->set_mod_revision(revision);
  return set;
}

struct Image {
  std::string dir;
  int64_t acknowledged = 0;  // the last commit acknowledged before it was taken
};

struct Outcome {
  int images = 0;
  int images_losing_acknowledged = 0;
  int64_t acknowledged_verified = 0;
};

// Runs Commits() commits (fsync per `sync`), taking an image after a random 1-12 commits each
// time, then opens every image and checks it.
Outcome RunWithPowerCuts(bool sync, uint32_t seed) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  auto fs = std::make_shared<PowerCutFileSystem>(rocksdb::FileSystem::Default());
  RocksDbStoreOptions options;
  options.sync = sync;
  options.file_system = fs;
  options.disk_reserve_bytes = 2 << 20;  // memtables capped at 1 MiB: flushes during the run
  std::vector<Image> images;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(data, options);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return {};
    std::mt19937 random(seed);
    int next_image = 1;
    const int commits = Commits();
    for (int revision = 1; revision <= commits; ++revision) {
      AuditRecord audit;
      audit.set_rpc("Put");
      absl::Status s = (*store)->CommitWithAudit({PutEntry(revision)}, {audit});
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return {};
      if (--next_image == 0) {
        Image image{absl::StrCat(dir.path(), "/image-", images.size()), revision};
        EXPECT_TRUE(fs->CaptureImage(data, image.dir).ok());
        images.push_back(image);
        next_image = 1 + static_cast<int>(random() % 12);
      }
    }
  }
  Outcome outcome;
  for (const Image& image : images) {
    ++outcome.images;
    RocksDbStoreOptions plain;
    plain.create_if_missing = false;
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(image.dir, plain);
    if (!store.ok()) {
      ADD_FAILURE() << image.dir << " (after commit " << image.acknowledged
                    << ") does not open: " << store.status();
      ++outcome.images_losing_acknowledged;
      continue;
    }
    const int64_t revision = (*store)->CurrentRevision();
    if (revision < image.acknowledged) {
      ++outcome.images_losing_acknowledged;
      continue;
    }
    // Whole and in order: the change log runs 1..revision, and the state is what those
    // commits make.
    int64_t expected = 1;
    absl::Status read = (*store)->ReadChanges(0, [&](const ChangeSet& set) {
      EXPECT_EQ(set.revision(), expected);
      EXPECT_EQ(set.changes(0).entry().value(), ValueOf(static_cast<int>(expected)));
      ++expected;
      return true;
    });
    EXPECT_TRUE(read.ok()) << read;
    EXPECT_EQ(expected - 1, revision) << image.dir;
    absl::StatusOr<LoadedState> state = (*store)->LoadAll();
    EXPECT_TRUE(state.ok()) << state.status();
    if (!state.ok()) continue;
    std::map<std::string, std::string> want;
    for (int r = 1; r <= revision; ++r) want[KeyOf(r)] = ValueOf(r);
    std::map<std::string, std::string> got;
    for (const auto& [key, entry] : state->entries) got[key.key] = entry.value();
    EXPECT_EQ(got, want) << image.dir;
    outcome.acknowledged_verified += image.acknowledged;
  }
  return outcome;
}

TEST(PowerCutTest, EveryAcknowledgedCommitSurvivesAPowerCutAtAnyMoment) {
  const char* fixed = std::getenv("POWER_CUT_SEED");
  const uint32_t seed = fixed != nullptr ? static_cast<uint32_t>(std::strtoul(fixed, nullptr, 10))
                                         : std::random_device{}();
  Outcome outcome = RunWithPowerCuts(/*sync=*/true, seed);
  std::printf("seed %u: %d power cuts, %lld acknowledged commits verified in their images\n", seed,
              outcome.images, static_cast<long long>(outcome.acknowledged_verified));
  EXPECT_GE(outcome.images, Commits() / 10);
  EXPECT_EQ(outcome.images_losing_acknowledged, 0) << "seed " << seed;
}

TEST(PowerCutTest, WithoutFsyncAPowerCutLosesAcknowledgedCommits) {
  // The negative control: the harness sees a loss when there is one.
  Outcome outcome = RunWithPowerCuts(/*sync=*/false, 1);
  std::printf("without fsync: %d of %d power cuts lost acknowledged commits\n",
              outcome.images_losing_acknowledged, outcome.images);
  EXPECT_GT(outcome.images_losing_acknowledged, 0);
}

}  // namespace
}  // namespace confcenter::storage
