// The core on a shared store (several replicas commit to one store): conflicts are planned
// again, other replicas' commits are applied and published once, batches are cut to the
// store's limits, an unreachable store refuses writes, and reads can wait for a revision.
// Two ConfigCores share one real RocksDB store through ReplicaStore, which plays etcd's part:
// a guarded commit, and a follow stream the test delivers by hand (so lag is deterministic).
// The real etcd engine runs the same paths in the etcd and HA suites.
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "confcenter/v1/watch.pb.h"
#include "gtest/gtest.h"
#include "server/core/config_core.h"
#include "server/watch/watch_hub.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using storage::ChangeSet;
using testing::TempDir;

// One store shared by the replicas: a RocksDB store and the lock that serializes commits.
struct Backing {
  absl::Mutex mu;
  std::unique_ptr<storage::Store> store;
};

// What one replica sees of the backing store: it knows the revisions it committed or was
// delivered, commits only on top of the newest (else ABORTED, after delivering what it
// missed), and hears of other replicas' commits when the test calls Deliver.
class ReplicaStore : public storage::Store {
 public:
  explicit ReplicaStore(Backing* backing) : backing_(backing) {}

  bool shared() const override { return true; }
  storage::CommitLimits Limits() const override { return limits_; }
  storage::CommitCost CostOf(const ChangeSet& set) const override {
    return {set.changes_size(), static_cast<int64_t>(set.ByteSizeLong())};
  }
  storage::CommitCost CostOf(const storage::AuditRecord&) const override { return {0, 0}; }
  absl::Status Follow(storage::StoreFollower* follower) override {
    absl::MutexLock lock(&mu_);
    follower_ = follower;
    return absl::OkStatus();
  }
  storage::StoreHealth Health() const override {
    absl::MutexLock lock(&mu_);
    return health_;
  }

  absl::Status CommitWithAudit(const std::vector<ChangeSet>& changes,
                               const std::vector<storage::AuditRecord>& audit) override {
    std::vector<ChangeSet> missed;
    {
      absl::MutexLock lock(&backing_->mu);
      const int64_t head = backing_->store->CurrentRevision();
      if (changes.empty() || changes.front().revision() == head + 1) {
        absl::Status st = backing_->store->CommitWithAudit(changes, audit);
        if (st.ok() && !changes.empty()) SetKnown(changes.back().revision());
        return st;
      }
      absl::Status read = backing_->store->ReadChanges(known(), [&](const ChangeSet& set) {
        missed.push_back(set);
        return true;
      });
      if (!read.ok()) return read;
      ++conflicts_;
    }
    // As the etcd engine does: hand the follower what the failed guard returned.
    Deliver(std::move(missed));
    return absl::AbortedError("another replica committed first");
  }

  // Delivers every revision this replica has not heard of yet, as its follow thread would.
  void CatchUp() {
    std::vector<ChangeSet> missed;
    {
      absl::MutexLock lock(&backing_->mu);
      absl::Status read = backing_->store->ReadChanges(known(), [&](const ChangeSet& set) {
        missed.push_back(set);
        return true;
      });
      EXPECT_TRUE(read.ok()) << read;
    }
    Deliver(std::move(missed));
  }

  void Reload() {
    absl::StatusOr<storage::LoadedState> loaded = LoadAll();
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    SetKnown(loaded->revision);
    storage::StoreFollower* follower = nullptr;
    {
      absl::MutexLock lock(&mu_);
      follower = follower_;
    }
    follower->Reloaded(*std::move(loaded));
  }

  void set_limits(storage::CommitLimits limits) { limits_ = limits; }
  void set_health(storage::StoreHealth health) {
    absl::MutexLock lock(&mu_);
    health_ = std::move(health);
  }
  int conflicts() const { return conflicts_; }

  int64_t CurrentRevision() const override { return known(); }
  storage::StoreStats Stats() const override { return backing_->store->Stats(); }
  absl::StatusOr<storage::LoadedState> LoadAll() override {
    absl::MutexLock lock(&backing_->mu);
    absl::StatusOr<storage::LoadedState> loaded = backing_->store->LoadAll();
    if (loaded.ok()) SetKnown(loaded->revision);
    return loaded;
  }
  absl::Status ReadChanges(int64_t after,
                           const std::function<bool(const ChangeSet&)>& visit) override {
    return backing_->store->ReadChanges(after, visit);
  }
  absl::StatusOr<int64_t> OldestChange() override { return backing_->store->OldestChange(); }
  absl::Status CompactChangesBefore(int64_t revision) override { return absl::OkStatus(); }
  absl::Status ReadHistory(
      const storage::HistoryScope& scope, const storage::EntryKey& after_key,
      int64_t after_revision,
      const std::function<bool(const storage::EntryKey&, const storage::HistoryRecord&)>& visit)
      override {
    return backing_->store->ReadHistory(scope, after_key, after_revision, visit);
  }
  absl::StatusOr<storage::StateAt> ReadStateAt(const storage::HistoryScope& scope,
                                               int64_t revision) override {
    return backing_->store->ReadStateAt(scope, revision);
  }
  absl::StatusOr<int64_t> HistoryFloor(const std::string& tenant) override {
    return backing_->store->HistoryFloor(tenant);
  }
  absl::Status ReadReleases(const std::string& tenant, int64_t before,
                            const std::function<bool(const ChangeSet&)>& visit) override {
    return backing_->store->ReadReleases(tenant, before, visit);
  }
  absl::StatusOr<ChangeSet> GetRelease(int64_t revision) override {
    return backing_->store->GetRelease(revision);
  }
  absl::Status ReadAudit(int64_t before,
                         const std::function<bool(const storage::AuditRecord&)>& visit) override {
    return backing_->store->ReadAudit(before, visit);
  }
  absl::StatusOr<storage::HistoryCompaction> CompactHistory(int64_t, int) override {
    return storage::HistoryCompaction{};
  }
  absl::StatusOr<int64_t> CompactAudit(int64_t) override { return 0; }

 private:
  int64_t known() const {
    absl::MutexLock lock(&mu_);
    return known_;
  }
  void SetKnown(int64_t revision) {
    absl::MutexLock lock(&mu_);
    known_ = std::max(known_, revision);
  }
  void Deliver(std::vector<ChangeSet> sets) {
    if (sets.empty()) return;
    SetKnown(sets.back().revision());
    storage::StoreFollower* follower = nullptr;
    {
      absl::MutexLock lock(&mu_);
      follower = follower_;
    }
    if (follower != nullptr) follower->Committed(std::move(sets), absl::Now());
  }

  Backing* const backing_;
  storage::CommitLimits limits_;
  int conflicts_ = 0;
  mutable absl::Mutex mu_;
  int64_t known_ ABSL_GUARDED_BY(mu_) = 0;
  storage::StoreFollower* follower_ ABSL_GUARDED_BY(mu_) = nullptr;
  storage::StoreHealth health_ ABSL_GUARDED_BY(mu_);
};

// Records what a replica published.
class RecordingListener : public CommitListener {
 public:
  void Committed(const std::vector<ChangeSet>& change_sets, const ConfigState& state,
                 absl::Time) override {
    absl::MutexLock lock(&mu_);
    for (const ChangeSet& set : change_sets) revisions_.push_back(set.revision());
  }
  void Reloaded(const ConfigState& state) override {
    absl::MutexLock lock(&mu_);
    reloaded_at_.push_back(state.revision());
  }
  std::vector<int64_t> revisions() const {
    absl::MutexLock lock(&mu_);
    return revisions_;
  }
  std::vector<int64_t> reloaded_at() const {
    absl::MutexLock lock(&mu_);
    return reloaded_at_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> revisions_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> reloaded_at_ ABSL_GUARDED_BY(mu_);
};

struct Replica {
  ReplicaStore* store = nullptr;  // owned by core
  std::unique_ptr<ConfigCore> core;
  RecordingListener listener;
};

class SharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenRocksDbStore(dir_.path() + "/db", {});
    ASSERT_TRUE(store.ok()) << store.status();
    backing_.store = *std::move(store);
    Start(a_);
    Start(b_);
  }
  void TearDown() override {
    for (Replica* r : {&a_, &b_}) {
      if (r->core) r->core->SetCommitListener(nullptr);
      r->core.reset();
    }
  }

  void Start(Replica& r) {
    auto store = std::make_unique<ReplicaStore>(&backing_);
    r.store = store.get();
    auto core = ConfigCore::Open(std::move(store), CoreOptions{}, &clock_);
    ASSERT_TRUE(core.ok()) << core.status();
    r.core = *std::move(core);
    r.core->SetCommitListener(&r.listener);
  }

  static absl::StatusOr<TxnResult> Txn(Replica& r, std::vector<WriteOp> ops, bool single = true) {
    std::promise<absl::StatusOr<TxnResult>> done;
    r.core->Txn(std::move(ops), single,
                [&done](absl::StatusOr<TxnResult> result) { done.set_value(std::move(result)); });
    return done.get_future().get();
  }
  static absl::StatusOr<TxnResult> Put(Replica& r, const std::string& key, const std::string& value,
                                       std::optional<int64_t> expected = std::nullopt) {
    return Txn(r, {{WriteOpType::kPut, "integration", "svc", key, value, 0, expected}});
  }
  static std::string Value(Replica& r, const std::string& key) {
    absl::StatusOr<EntryView> view = r.core->Get("integration", "svc", key);
    return view.ok() ? view->entry.value() : view.status().ToString();
  }

  TempDir dir_;
  ManualClock clock_{absl::FromUnixSeconds(1700000000)};
  Backing backing_;
  Replica a_, b_;
};

TEST_F(SharedStoreTest, TheFirstRevisionIsCreatedOnceAndTheSecondReplicaLoadsIt) {
  EXPECT_EQ(a_.core->revision(), 1);
  EXPECT_EQ(b_.core->revision(), 1);
  EXPECT_EQ(backing_.store->CurrentRevision(), 1);
}

TEST_F(SharedStoreTest, AWriteThatLostTheRevisionIsPlannedAgainOnTheNewerState) {
  ASSERT_TRUE(Put(a_, "k1", "from-a").ok());  // revision 2; b has not heard of it
  absl::StatusOr<TxnResult> b_write = Put(b_, "k2", "from-b");
  ASSERT_TRUE(b_write.ok()) << b_write.status();
  EXPECT_EQ(b_write->revision, 3);
  EXPECT_EQ(b_.store->conflicts(), 1);
  // b applied a's revision (delivered by the failed guard) before its own, each once.
  EXPECT_EQ(b_.listener.revisions(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Value(b_, "k1"), "from-a");
  EXPECT_EQ(Value(b_, "k2"), "from-b");

  a_.store->CatchUp();
  a_.store->CatchUp();  // a second delivery of the same revisions changes nothing
  EXPECT_EQ(a_.listener.revisions(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Value(a_, "k2"), "from-b");
  EXPECT_EQ(a_.core->revision(), b_.core->revision());
}

TEST_F(SharedStoreTest, ACompareAndSetIsJudgedAgainstTheStateItFinallyCommitsOn) {
  absl::StatusOr<TxnResult> first = Put(a_, "k", "v1");
  ASSERT_TRUE(first.ok());
  b_.store->CatchUp();
  ASSERT_TRUE(Put(a_, "k", "v2", first->revision).ok());  // b has not heard of v2
  // b still sees v1's revision, so its plan passes the compare; on the newer state it fails.
  absl::StatusOr<TxnResult> stale = Put(b_, "k", "v3", first->revision);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  EXPECT_EQ(Value(b_, "k"), "v2");
}

TEST_F(SharedStoreTest, ConcurrentWritersOnBothReplicasLoseNothingAndDoubleNothing) {
  constexpr int kWrites = 60;
  std::vector<std::thread> writers;
  for (Replica* r : {&a_, &b_}) {
    writers.emplace_back([r, this] {
      for (int i = 0; i < kWrites; ++i) {
        const std::string key = absl::StrCat(r == &a_ ? "a" : "b", i);
        absl::StatusOr<TxnResult> put = Put(*r, key, key);
        EXPECT_TRUE(put.ok()) << put.status();
      }
    });
  }
  for (std::thread& t : writers) t.join();
  a_.store->CatchUp();
  b_.store->CatchUp();
  EXPECT_EQ(a_.core->revision(), 1 + 2 * kWrites);
  EXPECT_EQ(b_.core->revision(), 1 + 2 * kWrites);
  for (Replica* r : {&a_, &b_}) {
    std::vector<int64_t> expected;
    for (int64_t rev = 2; rev <= 1 + 2 * kWrites; ++rev) expected.push_back(rev);
    EXPECT_EQ(r->listener.revisions(), expected);  // every revision published once, in order
    for (int i = 0; i < kWrites; ++i) {
      EXPECT_EQ(Value(*r, absl::StrCat("a", i)), absl::StrCat("a", i));
      EXPECT_EQ(Value(*r, absl::StrCat("b", i)), absl::StrCat("b", i));
    }
  }
}

TEST_F(SharedStoreTest, BatchesAreCutToTheStoreLimitAndAWriteOverItAloneIsRefused) {
  a_.store->set_limits({/*max_ops=*/3, INT64_MAX});
  absl::StatusOr<TxnResult> big =
      Txn(a_,
          {{WriteOpType::kPut, "integration", "svc", "x1", "1", 0, std::nullopt},
           {WriteOpType::kPut, "integration", "svc", "x2", "2", 0, std::nullopt},
           {WriteOpType::kPut, "integration", "svc", "x3", "3", 0, std::nullopt},
           {WriteOpType::kPut, "integration", "svc", "x4", "4", 0, std::nullopt}},
          /*single=*/false);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  EXPECT_NE(big.status().message().find("--etcd_max_txn_ops"), std::string::npos) << big.status();
  EXPECT_EQ(a_.core->revision(), 1);

  // Many small writes at once: each fits, the batch does not; all commit, densely.
  std::vector<std::thread> writers;
  for (int i = 0; i < 20; ++i) {
    writers.emplace_back([this, i] { EXPECT_TRUE(Put(a_, absl::StrCat("k", i), "v").ok()); });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(a_.core->revision(), 21);
  std::vector<int64_t> expected;
  for (int64_t rev = 2; rev <= 21; ++rev) expected.push_back(rev);
  EXPECT_EQ(a_.listener.revisions(), expected);

  // The refused write was audited with its error.
  bool audited = false;
  ASSERT_TRUE(backing_.store
                  ->ReadAudit(0,
                              [&](const storage::AuditRecord& record) {
                                if (record.error_code() ==
                                    static_cast<int>(absl::StatusCode::kResourceExhausted)) {
                                  audited = true;
                                }
                                return true;
                              })
                  .ok());
  EXPECT_TRUE(audited);
}

TEST_F(SharedStoreTest, AnUnreachableStoreRefusesWritesWithItsReasonAndNothingChanges) {
  a_.store->set_health({false, "lost etcd: no leader", 0});
  absl::StatusOr<TxnResult> put = Put(a_, "k", "v");
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(put.status().message().find("lost etcd: no leader"), std::string::npos);
  EXPECT_EQ(backing_.store->CurrentRevision(), 1);
  a_.store->set_health({});
  EXPECT_TRUE(Put(a_, "k", "v").ok());
}

TEST_F(SharedStoreTest, AReadWaitsForARevisionAnotherReplicaCommitted) {
  absl::StatusOr<TxnResult> put = Put(a_, "k", "v");
  ASSERT_TRUE(put.ok());
  std::promise<absl::Status> waited;
  b_.core->WhenApplied(put->revision, absl::InfiniteFuture(),
                       [&](absl::Status s) { waited.set_value(s); });
  std::future<absl::Status> result = waited.get_future();
  EXPECT_EQ(result.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  b_.store->CatchUp();
  EXPECT_TRUE(result.get().ok());
  EXPECT_EQ(Value(b_, "k"), "v");

  // A wait whose deadline has passed answers at once, naming both revisions.
  std::promise<absl::Status> expired;
  b_.core->WhenApplied(put->revision + 5, absl::Now() - absl::Seconds(1),
                       [&](absl::Status s) { expired.set_value(s); });
  absl::Status late = expired.get_future().get();
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(late.message().find(absl::StrCat("at revision ", put->revision)), std::string::npos)
      << late;
  EXPECT_NE(late.message().find(absl::StrCat("requested ", put->revision + 5)), std::string::npos)
      << late;
}

TEST_F(SharedStoreTest, AReloadReplacesTheStateAndTellsTheListener) {
  ASSERT_TRUE(Put(a_, "k", "v").ok());
  ASSERT_TRUE(Put(a_, "k", "w").ok());
  b_.store->Reload();  // as after its watch fell behind a compaction of the log
  EXPECT_EQ(b_.listener.reloaded_at(), (std::vector<int64_t>{3}));
  EXPECT_TRUE(b_.listener.revisions().empty());
  EXPECT_EQ(Value(b_, "k"), "w");
  EXPECT_EQ(b_.core->revision(), 3);
  EXPECT_TRUE(Put(b_, "k2", "x").ok());
}

// Records what the hub sends one stream.
class RecordingSink : public WatchSink {
 public:
  bool Send(std::shared_ptr<const std::string> message) override {
    v1::SubscribeResponse parsed;
    EXPECT_TRUE(parsed.ParseFromString(*message));
    absl::MutexLock lock(&mu_);
    messages_.push_back(std::move(parsed));
    return true;
  }
  void End(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    ended_ = status;
  }
  // Waits (bounded) until `count` messages arrived; returns them all.
  std::vector<v1::SubscribeResponse> WaitFor(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return messages_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return messages_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::SubscribeResponse> messages_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> ended_ ABSL_GUARDED_BY(mu_);
};

TEST_F(SharedStoreTest, TheHubResyncsAfterAReloadAndWaitsForAResumePointFromAnotherReplica) {
  WatchOptions options;
  options.progress_interval = absl::ZeroDuration();
  ConfigCore* b = b_.core.get();
  WatchHub hub(
      b_.store, [b](const std::function<void(const ConfigState&)>& fn) { b->ReadState(fn); },
      options, &clock_);
  b_.core->SetCommitListener(&hub);

  RecordingSink live;
  absl::StatusOr<uint64_t> id = hub.Subscribe({"integration", {"svc"}, std::nullopt}, &live);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(live.WaitFor(1).back().kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);

  // Another replica's write reaches the stream as an event once b follows it.
  absl::StatusOr<TxnResult> first = Put(a_, "k", "v");
  ASSERT_TRUE(first.ok());
  b_.store->CatchUp();
  std::vector<v1::SubscribeResponse> got = live.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].kind(), v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
  EXPECT_EQ(got[1].revision(), first->revision);

  // b falls behind a compaction and reloads: the stream gets the new view, marked resync.
  absl::StatusOr<TxnResult> second = Put(a_, "k", "w");
  ASSERT_TRUE(second.ok());
  b_.store->Reload();
  got = live.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
  EXPECT_TRUE(got[2].resync());
  EXPECT_EQ(got[2].revision(), second->revision);
  ASSERT_EQ(got[2].entries_size(), 1);
  EXPECT_EQ(got[2].entries(0).value(), "w");

  // A client that got revision R from a: resuming on b, which has not applied R yet, waits
  // for it rather than resyncing.
  absl::StatusOr<TxnResult> third = Put(a_, "k", "x");
  ASSERT_TRUE(third.ok());
  RecordingSink resumed;
  id = hub.Subscribe({"integration", {"svc"}, third->revision}, &resumed);
  ASSERT_TRUE(id.ok()) << id.status();
  b_.store->CatchUp();
  got = resumed.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind(), v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS);
  EXPECT_EQ(got[0].revision(), third->revision);
  EXPECT_FALSE(got[0].resync());
  b_.core->SetCommitListener(nullptr);
  hub.Shutdown();
}

}  // namespace
}  // namespace confcenter
