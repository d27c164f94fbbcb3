#include "server/core/config_core.h"

#include <future>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::TempDir;

template <typename T>
struct Waiter {
  std::promise<absl::StatusOr<T>> promise;
  std::function<void(absl::StatusOr<T>)> Done() {
    return [this](absl::StatusOr<T> r) { promise.set_value(std::move(r)); };
  }
  absl::StatusOr<T> Get() { return promise.get_future().get(); }
};

class ConfigCoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(CoreOptions options = {}) {
    core_.reset();
    auto store = storage::OpenRocksDbStore(dir_.path() + "/db", {});
    ASSERT_TRUE(store.ok()) << store.status();
    auto core = ConfigCore::Open(*std::move(store), options, &clock_);
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
  }

  absl::StatusOr<TxnResult> Txn(std::vector<WriteOp> ops, bool single = false) {
    Waiter<TxnResult> w;
    core_->Txn(std::move(ops), single, w.Done());
    return w.Get();
  }
  absl::StatusOr<TxnResult> Put(const std::string& tenant, const std::string& service,
                                const std::string& key, const std::string& value,
                                std::optional<int64_t> expected = std::nullopt) {
    return Txn({{WriteOpType::kPut, tenant, service, key, value, 0, expected}}, true);
  }
  absl::StatusOr<TxnResult> Mask(const std::string& tenant, const std::string& service,
                                 const std::string& key) {
    return Txn({{WriteOpType::kMask, tenant, service, key, "", 0, std::nullopt}}, true);
  }
  absl::StatusOr<TxnResult> Delete(const std::string& tenant, const std::string& service,
                                   const std::string& key) {
    return Txn({{WriteOpType::kDelete, tenant, service, key, "", 0, std::nullopt}}, true);
  }
  absl::StatusOr<RegisterResult> Register(const std::string& tenant, const std::string& parent = "",
                                          std::vector<std::string> services = {}) {
    RegisterCommand cmd;
    cmd.tenant = tenant;
    cmd.parent = parent;
    for (auto& s : services) cmd.services.emplace_back().set_name(s);
    Waiter<RegisterResult> w;
    core_->Register(std::move(cmd), w.Done());
    return w.Get();
  }
  absl::StatusOr<DeregisterResult> Dereg(const std::string& tenant,
                                         std::vector<std::string> services, bool all, bool force) {
    DeregisterCommand cmd;
    cmd.tenant = tenant;
    cmd.services = std::move(services);
    cmd.all = all;
    cmd.force = force;
    return Deregister(std::move(cmd));
  }
  absl::StatusOr<DeregisterResult> Deregister(DeregisterCommand cmd) {
    Waiter<DeregisterResult> w;
    core_->Deregister(std::move(cmd), w.Done());
    return w.Get();
  }
  std::string Value(const std::string& tenant, const std::string& service, const std::string& key) {
    auto view = core_->Resolve(tenant, {service});
    if (!view.ok()) return view.status().ToString();
    for (const ResolvedEntry& e : view->entries) {
      if (e.key == key) return e.value + "@" + e.source_tenant;
    }
    return "<absent>";
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<ConfigCore> core_;
};

TEST_F(ConfigCoreTest, IntegrationExistsFromTheFirstStart) {
  int64_t revision = 0;
  auto info = core_->GetTenant("integration", &revision);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->record.parent(), "");
  EXPECT_EQ(revision, 1);
}

TEST_F(ConfigCoreTest, RegisterIsIdempotentAndDefaultsToIntegrationParent) {
  auto first = Register("f1", "", {"a"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->tenant.record.parent(), "integration");
  EXPECT_EQ(first->tenant.chain, (std::vector<std::string>{"f1", "integration"}));
  auto again = Register("f1", "", {"a"});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->revision, first->revision);  // nothing changed, no new revision
}

TEST_F(ConfigCoreTest, MissingParentAndCyclesAreRejected) {
  EXPECT_EQ(Register("f1", "nope").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Register("a").ok());
  ASSERT_TRUE(Register("b", "a").ok());
  ASSERT_TRUE(Register("c", "b").ok());
  auto cycle = Register("a", "c");
  EXPECT_EQ(cycle.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cycle.status().message().find("cycle"), std::string::npos) << cycle.status();
  EXPECT_EQ(Register("a", "a").status().code(), absl::StatusCode::kFailedPrecondition);
  // A deep chain works, and moving a tenant under another one is allowed.
  ASSERT_TRUE(Register("d", "c").ok());
  int64_t rev;
  EXPECT_EQ(core_->GetTenant("d", &rev)->chain,
            (std::vector<std::string>{"d", "c", "b", "a", "integration"}));
  ASSERT_TRUE(Register("c", "integration").ok());
  EXPECT_EQ(core_->GetTenant("d", &rev)->chain,
            (std::vector<std::string>{"d", "c", "integration"}));
}

TEST_F(ConfigCoreTest, CompareAndSetChecksTheOwnEntryRevision) {
  ASSERT_TRUE(Register("f1").ok());
  auto created = Put("f1", "a", "k", "v1", /*expected=*/0);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(Put("f1", "a", "k", "again", 0).status().code(), absl::StatusCode::kFailedPrecondition);
  auto stale = Put("f1", "a", "k", "v2", created->revision - 1);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find(absl::StrCat("is at revision ", created->revision)),
            std::string::npos)
      << stale.status();
  auto updated = Put("f1", "a", "k", "v2", created->revision);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->entries[0].version(), 2);
  EXPECT_EQ(updated->entries[0].create_revision(), created->revision);
  EXPECT_EQ(Value("f1", "a", "k"), "v2@f1");
}

TEST_F(ConfigCoreTest, TxnIsAtomicUnderOneRevision) {
  ASSERT_TRUE(Register("f1").ok());
  ASSERT_TRUE(Put("integration", "a", "x", "i").ok());
  auto ok = Txn({{WriteOpType::kPut, "f1", "a", "k1", "1", 0, std::nullopt},
                 {WriteOpType::kPut, "integration", "b", "k2", "2", 0, std::nullopt},
                 {WriteOpType::kMask, "f1", "a", "x", "", 0, std::nullopt}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto entry = core_->Get("integration", "b", "k2");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->entry.mod_revision(), ok->revision);
  EXPECT_EQ(core_->Get("f1", "a", "k1")->entry.mod_revision(), ok->revision);
  EXPECT_EQ(Value("f1", "a", "x"), "<absent>");

  // The last op fails its compare-and-set: nothing of the Txn is applied.
  const int64_t before = core_->revision();
  auto failed = Txn({{WriteOpType::kPut, "f1", "a", "k1", "changed", 0, std::nullopt},
                     {WriteOpType::kDelete, "f1", "a", "x", "", 0, std::nullopt},
                     {WriteOpType::kPut, "f1", "a", "k3", "3", 0, int64_t{999}}});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(failed.status().message().find("ops[2].expected_revision"), std::string::npos)
      << failed.status();
  EXPECT_EQ(core_->revision(), before);
  EXPECT_EQ(core_->Get("f1", "a", "k1")->entry.value(), "1");
  EXPECT_TRUE(core_->Get("f1", "a", "x")->entry.mask());
  EXPECT_EQ(core_->Get("f1", "a", "k3").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ConfigCoreTest, AWriteWhoseClientDeadlinePassedIsDroppedAndAudited) {
  const int64_t before = core_->revision();
  WriteContext context;
  context.rpc = "ConfigService.Put";
  context.deadline = absl::Now() - absl::Milliseconds(1);  // the client already gave up
  Waiter<TxnResult> w;
  core_->Txn({{WriteOpType::kPut, "integration", "a", "k", "v", 0, std::nullopt}}, true, w.Done(),
             context);
  absl::StatusOr<TxnResult> dropped = w.Get();
  EXPECT_EQ(dropped.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(dropped.status().message().find("nothing was written"), std::string::npos);
  EXPECT_EQ(core_->revision(), before);
  EXPECT_EQ(core_->Get("integration", "a", "k").status().code(), absl::StatusCode::kNotFound);
  std::vector<storage::AuditRecord> audit;
  ASSERT_TRUE(core_->store()
                  ->ReadAudit(0,
                              [&](const storage::AuditRecord& r) {
                                audit.push_back(r);
                                return false;  // the newest only
                              })
                  .ok());
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].error_code(), static_cast<int32_t>(absl::StatusCode::kDeadlineExceeded));

  context.deadline = absl::Now() + absl::Seconds(60);  // a live deadline is no obstacle
  Waiter<TxnResult> live;
  core_->Txn({{WriteOpType::kPut, "integration", "a", "k", "v", 0, std::nullopt}}, true,
             live.Done(), context);
  EXPECT_TRUE(live.Get().ok());
}

TEST_F(ConfigCoreTest, KeysPerTenantQuotaIsResourceExhaustedAndChangesNothing) {
  CoreOptions options;
  options.max_keys_per_tenant = 3;
  Reopen(options);
  ASSERT_TRUE(Register("f1").ok());
  ASSERT_TRUE(Put("f1", "a", "k1", "1").ok());
  ASSERT_TRUE(Put("f1", "a", "k2", "1").ok());
  auto over = Txn({{WriteOpType::kPut, "f1", "a", "k3", "1", 0, std::nullopt},
                   {WriteOpType::kPut, "f1", "b", "k4", "1", 0, std::nullopt}});
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.status().message().find("--max_keys_per_tenant"), std::string::npos);
  EXPECT_TRUE(Put("f1", "a", "k1", "overwrite is fine").ok());
  EXPECT_TRUE(Put("f1", "a", "k3", "1").ok());
  // Other tenants have their own quota.
  EXPECT_TRUE(Put("integration", "a", "k4", "1").ok());
}

TEST_F(ConfigCoreTest, DeregisterRemovesServicesThenTheEmptyBranchTenant) {
  ASSERT_TRUE(Put("integration", "a", "k", "i").ok());
  ASSERT_TRUE(Register("f1", "", {"a", "b"}).ok());
  ASSERT_TRUE(Put("f1", "a", "k", "f").ok());
  ASSERT_TRUE(Put("f1", "b", "k", "f").ok());
  auto removed = Dereg("f1", {"a"}, false, false);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->removed_services, std::vector<std::string>{"a"});
  EXPECT_EQ(removed->removed_keys, 1);
  EXPECT_FALSE(removed->tenant_removed);
  EXPECT_EQ(Value("f1", "a", "k"), "i@integration");  // fell back

  auto last = Dereg("f1", {"b"}, false, false);
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last->tenant_removed);
  int64_t rev;
  EXPECT_EQ(core_->GetTenant("f1", &rev).status().code(), absl::StatusCode::kNotFound);

  const int64_t before = core_->revision();
  auto again = Dereg("f1", {}, true, false);  // idempotent
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->tenant_removed);
  EXPECT_EQ(core_->revision(), before);
}

TEST_F(ConfigCoreTest, DeregisterAllNeedsNoChildrenAndForceForIntegration) {
  ASSERT_TRUE(Register("f1").ok());
  ASSERT_TRUE(Register("f1-sub", "f1").ok());
  ASSERT_TRUE(Put("f1", "a", "k", "v").ok());
  auto blocked = Dereg("f1", {}, true, false);
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(blocked.status().message().find("f1-sub"), std::string::npos);
  ASSERT_TRUE(Dereg("f1-sub", {}, true, false).ok());
  auto all = Dereg("f1", {}, true, false);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->tenant_removed);
  EXPECT_EQ(all->removed_keys, 1);

  EXPECT_EQ(Dereg("integration", {}, true, false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  int64_t rev;
  EXPECT_TRUE(core_->GetTenant("integration", &rev).ok());
  ASSERT_TRUE(Dereg("integration", {}, true, true).ok());
  EXPECT_EQ(core_->GetTenant("integration", &rev).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ConfigCoreTest, StateAndRevisionSurviveReopen) {
  ASSERT_TRUE(Register("f1", "", {"a"}).ok());
  ASSERT_TRUE(Put("f1", "a", "k", "v").ok());
  ASSERT_TRUE(Mask("f1", "a", "hidden").ok());
  const int64_t revision = core_->revision();
  Reopen();
  EXPECT_EQ(core_->revision(), revision);
  EXPECT_EQ(Value("f1", "a", "k"), "v@f1");
  EXPECT_TRUE(core_->Get("f1", "a", "hidden")->entry.mask());
  auto next = Put("f1", "a", "k", "v2");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->revision, revision + 1);
}

TEST_F(ConfigCoreTest, ConcurrentWritersGetDistinctConsecutiveRevisions) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> revisions;
  const int64_t start = core_->revision();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = Put("integration", "svc", absl::StrCat("t", t, ".k", i), "v");
        ASSERT_TRUE(r.ok()) << r.status();
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_TRUE(revisions.insert(r->revision).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(revisions.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*revisions.begin(), start + 1);
  EXPECT_EQ(*revisions.rbegin(), start + kThreads * kPerThread);
  EXPECT_EQ(core_->List("integration", "svc", "", 1000, "")->entries.size(),
            static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(ConfigCoreTest, ListPagesThroughEntriesInOrder) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(Put("integration", i < 4 ? "a" : "b", absl::StrCat("k", i), "v").ok());
  ASSERT_TRUE(Put("integration", "a", "other", "v").ok());
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = core_->List("integration", "", "k", 3, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (auto& e : page->entries) seen.push_back(e.service + "/" + e.key);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"a/k0", "a/k1", "a/k2", "a/k3", "b/k4", "b/k5", "b/k6"}));
  EXPECT_EQ(core_->List("integration", "", "", 0, "not-a-token").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace confcenter

namespace confcenter {
namespace {

class RegistryTtlTest : public ConfigCoreTest {
 protected:
  absl::StatusOr<RegisterResult> RegisterWithTtl(const std::string& tenant, absl::Duration ttl,
                                                 const std::string& parent = "") {
    RegisterCommand cmd;
    cmd.tenant = tenant;
    cmd.parent = parent;
    cmd.ttl = ttl;
    cmd.services.emplace_back().set_name("svc");
    Waiter<RegisterResult> w;
    core_->Register(std::move(cmd), w.Done());
    return w.Get();
  }
  absl::StatusOr<TouchResult> Touch(const std::string& tenant) {
    Waiter<TouchResult> w;
    core_->Touch(tenant, w.Done());
    return w.Get();
  }
  bool Exists(const std::string& tenant) {
    int64_t revision = 0;
    return core_->GetTenant(tenant, &revision).ok();
  }
};

TEST_F(RegistryTtlTest, ExpiredTenantsAreReclaimedAndTouchRenews) {
  ASSERT_TRUE(RegisterWithTtl("f1", absl::Seconds(60)).ok());
  ASSERT_TRUE(RegisterWithTtl("f2", absl::Seconds(60)).ok());
  ASSERT_TRUE(Register("kept", "", {"svc"}).ok());  // no TTL: never expires
  int64_t revision = 0;
  auto f1 = core_->GetTenant("f1", &revision);
  ASSERT_TRUE(f1.ok());
  EXPECT_EQ(f1->record.ttl_seconds(), 60);
  EXPECT_EQ(f1->record.expire_time_micros(), absl::ToUnixMicros(clock_.Now() + absl::Seconds(60)));

  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(core_->ReclaimExpired().empty());
  auto touched = Touch("f1");  // f1 now expires at 90 s, f2 still at 60 s
  ASSERT_TRUE(touched.ok()) << touched.status();
  ASSERT_TRUE(touched->expire_time.has_value());
  EXPECT_EQ(*touched->expire_time, clock_.Now() + absl::Seconds(60));

  clock_.Advance(absl::Seconds(30));  // 60 s: f2's expiry, inclusive
  EXPECT_EQ(core_->ReclaimExpired(), std::vector<std::string>{"f2"});
  EXPECT_FALSE(Exists("f2"));
  EXPECT_TRUE(Exists("f1"));

  ASSERT_TRUE(RegisterWithTtl("f1", absl::ZeroDuration()).ok());  // Register renews too: 120 s
  clock_.Advance(absl::Seconds(59));
  EXPECT_TRUE(core_->ReclaimExpired().empty());
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(core_->ReclaimExpired(), std::vector<std::string>{"f1"});
  EXPECT_FALSE(Exists("f1"));
  EXPECT_TRUE(Exists("kept"));
  EXPECT_TRUE(Exists("integration"));

  // A touch of a tenant without TTL changes nothing; of a missing one is NOT_FOUND.
  auto untouched = Touch("kept");
  ASSERT_TRUE(untouched.ok());
  EXPECT_FALSE(untouched->expire_time.has_value());
  EXPECT_EQ(untouched->revision, core_->revision());
  EXPECT_EQ(Touch("f1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTtlTest, ExpiredParentGoesWithItsExpiredChildrenButNotWithLiveOnes) {
  ASSERT_TRUE(RegisterWithTtl("p", absl::Seconds(10)).ok());
  ASSERT_TRUE(RegisterWithTtl("p-child", absl::Seconds(10), "p").ok());
  ASSERT_TRUE(RegisterWithTtl("q", absl::Seconds(10)).ok());
  ASSERT_TRUE(Register("q-child", "q", {"svc"}).ok());  // no TTL: keeps q alive
  clock_.Advance(absl::Seconds(11));
  std::vector<std::string> removed = core_->ReclaimExpired();
  EXPECT_EQ(removed, (std::vector<std::string>{"p-child", "p"}));
  EXPECT_TRUE(Exists("q"));
  EXPECT_TRUE(Exists("q-child"));
}

TEST_F(RegistryTtlTest, RootsCannotExpireAndTtlsBelowASecondAreRejected) {
  RegisterCommand root;
  root.tenant = "global";
  root.root = true;
  root.ttl = absl::Seconds(60);
  Waiter<RegisterResult> w1;
  core_->Register(root, w1.Done());
  EXPECT_EQ(w1.Get().status().code(), absl::StatusCode::kInvalidArgument);
  auto short_ttl = RegisterWithTtl("f1", absl::Milliseconds(500));
  EXPECT_EQ(short_ttl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(short_ttl.status().message(), "ttl: 500ms is shorter than the minimum of 1s");
  auto integration = RegisterWithTtl("integration", absl::Seconds(60));
  EXPECT_EQ(integration.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Exists("f1"));
}

}  // namespace
}  // namespace confcenter
