// HistoryCore in-process with a ManualClock: retention boundaries of history and audit.
#include "server/core/history_core.h"

#include <future>

#include "gtest/gtest.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

// Tenant f1 with service a registered.
RegisterCommand RegisterF1() {
  RegisterCommand command;
  command.tenant = "f1";
  command.services.emplace_back().set_name("a");
  return command;
}

using confcenter::testing::TempDir;

class HistoryCoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    history_.reset();
    core_.reset();
    auto store = storage::OpenRocksDbStore(dir_.path() + "/db", {});
    ASSERT_TRUE(store.ok()) << store.status();
    auto core = ConfigCore::Open(*std::move(store), {}, &clock_);
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
    HistoryOptions options;
    options.history_keep_versions = 2;
    options.compaction_interval = absl::ZeroDuration();  // the test compacts
    history_ = std::make_unique<HistoryCore>(core_.get(), options, &clock_);
  }

  int64_t Write(WriteOpType type, const std::string& key, const std::string& value = "") {
    std::promise<absl::StatusOr<TxnResult>> done;
    core_->Txn({{type, "f1", "a", key, value, 0, std::nullopt}}, true,
               [&](absl::StatusOr<TxnResult> r) { done.set_value(std::move(r)); });
    absl::StatusOr<TxnResult> result = done.get_future().get();
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->revision : 0;
  }
  absl::StatusOr<RollbackOutcome> Rollback(int64_t to, bool dry_run, const std::string& key = "") {
    std::promise<absl::StatusOr<RollbackOutcome>> done;
    history_->Rollback({"f1", key.empty() ? "" : "a", key, to, dry_run}, {},
                       [&](absl::StatusOr<RollbackOutcome> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<ConfigCore> core_;
  std::unique_ptr<HistoryCore> history_;
};

TEST_F(HistoryCoreTest, RollbackPastTheKeptHistoryIsFailedPreconditionNamingTheOldestRevision) {
  std::promise<absl::StatusOr<RegisterResult>> registered;
  core_->Register(RegisterF1(),
                  [&](absl::StatusOr<RegisterResult> r) { registered.set_value(std::move(r)); });
  ASSERT_TRUE(registered.get_future().get().ok());
  const int64_t v1 = Write(WriteOpType::kPut, "k", "1");
  const int64_t v2 = Write(WriteOpType::kPut, "k", "2");
  const int64_t v3 = Write(WriteOpType::kPut, "k", "3");
  const int64_t gone = Write(WriteOpType::kPut, "gone", "x");
  const int64_t gone_deleted = Write(WriteOpType::kDelete, "gone");
  clock_.Advance(absl::Hours(24 * 31));
  const int64_t v4 = Write(WriteOpType::kPut, "k", "4");  // young

  // v1..v3 are past 30 days: of k, v1 and v2 go (v3 and v4 are its last 2); "gone" goes
  // entirely (its last version is an old deletion).
  ASSERT_TRUE(history_->Compact().ok());
  HistoryQuery query;
  query.tenant = "f1";
  absl::StatusOr<HistoryPage> page = history_->History(query);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->versions.size(), 2u);
  EXPECT_EQ(page->versions[0].record.revision(), v4);
  EXPECT_EQ(page->versions[1].record.revision(), v3);
  EXPECT_EQ(page->oldest_revision, std::max(v3, gone_deleted));

  absl::StatusOr<RollbackOutcome> old = Rollback(v2, /*dry_run=*/false);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(old.status().message(),
            "to_revision: revision " + std::to_string(v2) +
                " is older than the oldest revision available for tenant \"f1\" (" +
                std::to_string(page->oldest_revision) +
                "); history is kept for 30 days (--history_retention_age) and at least the last "
                "2 versions of each key (--history_keep_versions)");
  EXPECT_EQ(Rollback(gone, true).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core_->revision(), v4);  // nothing written

  // At the oldest revision available the state is exact: k=3, and "gone" stays gone.
  absl::StatusOr<RollbackOutcome> ok = Rollback(page->oldest_revision, false);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->changes.size(), 1u);
  EXPECT_EQ(ok->changes[0].key.key, "k");
  EXPECT_EQ(ok->changes[0].after->value(), "3");

  // Diffs at a lost revision say so, naming the field.
  DiffQuery diff;
  diff.mode = DiffMode::kRevisions;
  diff.tenant = "f1";
  diff.from_revision = v1;
  absl::StatusOr<DiffResult> result = history_->Diff(diff);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(result.status().message().substr(0, 15), "from_revision: ");

  // The boundary survives a restart.
  Open();
  EXPECT_EQ(Rollback(v2, true).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(HistoryCoreTest, TheLastVersionsOfAKeyAreKeptWhateverTheirAge) {
  std::promise<absl::StatusOr<RegisterResult>> registered;
  core_->Register(RegisterF1(),
                  [&](absl::StatusOr<RegisterResult> r) { registered.set_value(std::move(r)); });
  ASSERT_TRUE(registered.get_future().get().ok());
  Write(WriteOpType::kPut, "k", "1");
  const int64_t masked = Write(WriteOpType::kMask, "k");
  clock_.Advance(absl::Hours(24 * 365));
  ASSERT_TRUE(history_->Compact().ok());
  HistoryQuery query;
  query.tenant = "f1";
  absl::StatusOr<HistoryPage> page = history_->History(query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->versions.size(), 2u);  // both kept: they are the last 2
  EXPECT_EQ(page->oldest_revision, 0);
  // A mask is restored as a mask.
  Write(WriteOpType::kDelete, "k");
  absl::StatusOr<RollbackOutcome> back = Rollback(masked, false, "k");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->changes.size(), 1u);
  EXPECT_TRUE(back->changes[0].after->mask());
}

TEST_F(HistoryCoreTest, AuditRecordsGoAfterTheirRetentionAge) {
  std::promise<absl::StatusOr<RegisterResult>> registered;
  core_->Register({"f1", "", false, {}},
                  [&](absl::StatusOr<RegisterResult> r) { registered.set_value(std::move(r)); });
  ASSERT_TRUE(registered.get_future().get().ok());
  clock_.Advance(absl::Hours(24 * 91));
  Write(WriteOpType::kPut, "k", "1");
  ASSERT_TRUE(history_->Compact().ok());
  absl::StatusOr<AuditPage> audit = history_->QueryAudit({});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->records.size(), 1u);  // the Register is past 90 days
  EXPECT_EQ(audit->records[0].rpc(), "ConfigService.Put");
  EXPECT_EQ(audit->records[0].user(), "anonymous");
}

}  // namespace
}  // namespace confcenter

namespace confcenter {
namespace {

TEST_F(HistoryCoreTest, TheVersionInForceAtTheRetentionCutoffIsKept) {
  std::promise<absl::StatusOr<RegisterResult>> registered;
  core_->Register(RegisterF1(),
                  [&](absl::StatusOr<RegisterResult> r) { registered.set_value(std::move(r)); });
  ASSERT_TRUE(registered.get_future().get().ok());
  Write(WriteOpType::kPut, "k", "old");  // 40 days before the compaction
  clock_.Advance(absl::Hours(24 * 20));
  const int64_t twenty_days_ago = Write(WriteOpType::kPut, "other", "x");
  clock_.Advance(absl::Hours(24 * 20));
  Write(WriteOpType::kPut, "k", "new1");  // 3 young versions: more than keep_versions (2)
  Write(WriteOpType::kPut, "k", "new2");
  Write(WriteOpType::kPut, "k", "new3");
  ASSERT_TRUE(history_->Compact().ok());
  // k=old was in force 30 days ago (the cutoff) and until today: rolling back to 20 days
  // ago must still work, and give k=old back.
  absl::StatusOr<RollbackOutcome> back = Rollback(twenty_days_ago, /*dry_run=*/true);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->changes.size(), 1u);
  EXPECT_EQ(back->changes[0].key.key, "k");
  EXPECT_EQ(back->changes[0].after->value(), "old");
}

}  // namespace
}  // namespace confcenter
