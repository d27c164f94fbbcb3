// HistoryService against the real confcenterd: history, releases, rollback (with subscribers),
// diffs, the audit log, and that all of it survives a crash.
#include <map>
#include <string>
#include <vector>

#include "confcenter/v1/history.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using confcenter::testing::ApiClient;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;
using confcenter::testing::TestSubscriber;
using View = TestSubscriber::View;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start(std::vector<std::string> flags = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(flags));
    ASSERT_NE(server_->port(), 0);
    Connect();
  }
  void Connect() {
    channel_ = server_->Channel();
    api_ = std::make_unique<ApiClient>(channel_);
    history_ = v1::HistoryService::NewStub(channel_);
  }

  grpc::Status Rollback(const std::string& tenant, const std::string& service,
                        const std::string& key, int64_t to_revision, bool dry_run,
                        v1::RollbackResponse* resp, const std::string& user = "") {
    v1::RollbackRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    req.set_to_revision(to_revision);
    req.set_dry_run(dry_run);
    grpc::ClientContext ctx;
    if (!user.empty()) ctx.AddMetadata("x-confcenter-user", user);
    return history_->Rollback(&ctx, req, resp);
  }
  v1::HistoryResponse History(const std::string& tenant, const std::string& service = "",
                              const std::string& key = "", int page_size = 0,
                              const std::string& token = "") {
    v1::HistoryRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    req.set_page_size(page_size);
    req.set_page_token(token);
    v1::HistoryResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = history_->History(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }
  v1::DiffResponse Diff(const v1::DiffRequest& req, grpc::Status* status = nullptr) {
    v1::DiffResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = history_->Diff(&ctx, req, &resp);
    if (status != nullptr) {
      *status = st;
    } else {
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    return resp;
  }
  std::vector<v1::AuditEntry> Audit(const v1::QueryAuditRequest& req) {
    v1::QueryAuditResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = history_->QueryAudit(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.entries().begin(), resp.entries().end()};
  }
  grpc::Status PutAs(const std::string& user, const std::string& tenant, const std::string& service,
                     const std::string& key, const std::string& value,
                     int64_t* revision = nullptr) {
    return api_->Put(tenant, service, key, value, revision, user);
  }
  // The tenant's own entries as "service/key=VALUE" or "service/key=<mask>".
  std::vector<std::string> Own(const std::string& tenant) {
    v1::ListRequest req;
    req.set_tenant(tenant);
    req.set_page_size(1000);
    v1::ListResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(api_->config()->List(&ctx, req, &resp).ok());
    std::vector<std::string> out;
    for (const v1::Entry& e : resp.entries()) {
      out.push_back(e.service() + "/" + e.key() + "=" +
                    (e.kind() == v1::ENTRY_KIND_MASK ? "<mask>" : e.value()));
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ApiClient> api_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
};

TEST_F(HistoryTest, RollbackOfAKeyRestoresItsValueAsOneEventAtOneRevision) {
  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  int64_t r1 = 0, rev = 0;
  ASSERT_TRUE(api_->Put("f1", "a", "k", "v1", &r1).ok());
  ASSERT_TRUE(api_->Put("f1", "a", "k", "v2").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "other", "o2", &rev).ok());
  auto sub =
      std::make_unique<TestSubscriber>(channel_, "f1", std::vector<std::string>{"a"}, std::nullopt);
  ASSERT_TRUE(sub->WaitForRevision(rev));

  v1::RollbackResponse resp;
  ASSERT_TRUE(Rollback("f1", "a", "k", r1, false, &resp, "carol").ok());
  EXPECT_EQ(resp.revision(), rev + 1);
  ASSERT_EQ(resp.changes_size(), 1);
  EXPECT_EQ(resp.changes(0).before().value(), "v2");
  EXPECT_EQ(resp.changes(0).after().value(), "v1");
  ASSERT_TRUE(sub->WaitForRevision(resp.revision()));
  EXPECT_EQ(sub->view(), (View{{{"a", "k"}, "v1@f1"}, {{"a", "other"}, "o2@f1"}}));
  EXPECT_EQ(sub->event_revisions(), std::vector<int64_t>{resp.revision()});

  // The rollback is a release by carol with the default message, and a version in history.
  v1::HistoryResponse history = History("f1", "a", "k");
  ASSERT_EQ(history.versions_size(), 3);
  EXPECT_EQ(history.versions(0).revision(), resp.revision());
  EXPECT_EQ(history.versions(0).value(), "v1");
  EXPECT_EQ(history.versions(0).author(), "carol");
  EXPECT_EQ(history.versions(0).release_id(), resp.revision());
  EXPECT_EQ(history.versions(0).message(), "rollback to revision " + std::to_string(r1));
  EXPECT_EQ(history.versions(0).origin(), "HistoryService.Rollback");
  EXPECT_EQ(history.versions(2).release_id(), 0);  // a plain Put is not a release

  // Rolling back to where it already is changes nothing and commits nothing.
  ASSERT_TRUE(Rollback("f1", "a", "k", r1, false, &resp).ok());
  EXPECT_EQ(resp.changes_size(), 0);
  EXPECT_EQ(resp.revision(), rev + 1);
}

TEST_F(HistoryTest, RollbackOfAServiceRestoresMasksAndDeletionsAndTheDryRunWritesNothing) {
  ASSERT_TRUE(api_->Register("integration", {"a", "b"}).ok());
  ASSERT_TRUE(api_->Put("integration", "a", "hidden", "parent").ok());
  ASSERT_TRUE(api_->Put("integration", "a", "shared", "parent").ok());
  ASSERT_TRUE(api_->Register("f1", {"a", "b"}).ok());
  ASSERT_TRUE(api_->Mask("f1", "a", "hidden").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "kept", "k1").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "gone.later", "g1").ok());
  int64_t target = 0;
  ASSERT_TRUE(api_->Put("f1", "b", "untouched", "b1", &target).ok());
  const std::vector<std::string> own_at_target = Own("f1");
  const auto view_at_target = api_->Resolve("f1", {"a"});

  // Then: unmask, override the shared key, delete one, change one, add one; and b changes.
  ASSERT_TRUE(api_->Delete("f1", "a", "hidden").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "shared", "mine").ok());
  ASSERT_TRUE(api_->Delete("f1", "a", "gone.later").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "kept", "k2").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "new.key", "n").ok());
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("f1", "b", "untouched", "b2", &rev).ok());

  auto sub =
      std::make_unique<TestSubscriber>(channel_, "f1", std::vector<std::string>{"a"}, std::nullopt);
  ASSERT_TRUE(sub->WaitForRevision(rev));

  v1::RollbackResponse dry;
  ASSERT_TRUE(Rollback("f1", "a", "", target, true, &dry).ok());
  EXPECT_TRUE(dry.dry_run());
  EXPECT_EQ(dry.revision(), rev);
  EXPECT_EQ(dry.changes_size(), 5);  // hidden, shared, gone.later, kept, new.key
  int64_t after_dry = 0;
  api_->Resolve("f1", {}, &after_dry);
  EXPECT_EQ(after_dry, rev);  // nothing committed

  v1::RollbackResponse resp;
  ASSERT_TRUE(Rollback("f1", "a", "", target, false, &resp).ok());
  EXPECT_EQ(resp.revision(), rev + 1);
  EXPECT_EQ(resp.changes_size(), 5);
  // Service a is exactly as it was (mask included); service b keeps its later value.
  std::vector<std::string> expected = own_at_target;
  for (std::string& e : expected) {
    if (e == "b/untouched=b1") e = "b/untouched=b2";
  }
  EXPECT_EQ(Own("f1"), expected);
  EXPECT_EQ(api_->Resolve("f1", {"a"}), view_at_target);
  ASSERT_TRUE(sub->WaitForRevision(resp.revision()));
  EXPECT_EQ(sub->view(), view_at_target);
  EXPECT_EQ(sub->event_revisions(), std::vector<int64_t>{resp.revision()});
}

TEST_F(HistoryTest, RollbackOfATenantRestoresItsExactEarlierStateAcrossServices) {
  ASSERT_TRUE(api_->Register("integration", {"a", "b"}).ok());
  ASSERT_TRUE(api_->Put("integration", "b", "x", "ix").ok());
  ASSERT_TRUE(api_->Register("f1", {"a", "b"}).ok());
  ASSERT_TRUE(api_->Put("f1", "a", "one", "1").ok());
  int64_t target = 0;
  ASSERT_TRUE(api_->Mask("f1", "b", "x", &target).ok());
  const std::vector<std::string> own_at_target = Own("f1");
  const auto view_at_target = api_->Resolve("f1");

  v1::TxnRequest txn;
  for (auto [type, service, key, value] :
       std::vector<std::tuple<v1::TxnOpType, std::string, std::string, std::string>>{
           {v1::TXN_OP_TYPE_DELETE, "a", "one", ""},
           {v1::TXN_OP_TYPE_DELETE, "b", "x", ""},
           {v1::TXN_OP_TYPE_PUT, "b", "y", "new"},
           {v1::TXN_OP_TYPE_PUT, "c", "z", "new"}}) {
    v1::TxnOp* op = txn.add_ops();
    op->set_type(type);
    op->set_tenant("f1");
    op->set_service(service);
    op->set_key(key);
    op->set_value(value);
  }
  txn.set_release_message("break everything");
  int64_t rev = 0;
  ASSERT_TRUE(api_->Txn(txn, &rev).ok());
  auto sub =
      std::make_unique<TestSubscriber>(channel_, "f1", std::vector<std::string>{}, std::nullopt);
  ASSERT_TRUE(sub->WaitForRevision(rev));

  v1::RollbackResponse resp;
  ASSERT_TRUE(Rollback("f1", "", "", target, false, &resp).ok());
  EXPECT_EQ(resp.changes_size(), 4);
  EXPECT_EQ(Own("f1"), own_at_target);
  EXPECT_EQ(api_->Resolve("f1"), view_at_target);
  ASSERT_TRUE(sub->WaitForRevision(resp.revision()));
  EXPECT_EQ(sub->view(), view_at_target);
  EXPECT_EQ(sub->event_revisions(), std::vector<int64_t>{resp.revision()});

  // Both commits are releases of f1, newest first; GetRelease shows before and after.
  v1::ListReleasesRequest list;
  list.set_tenant("f1");
  v1::ListReleasesResponse releases;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(history_->ListReleases(&ctx, list, &releases).ok());
  }
  ASSERT_EQ(releases.releases_size(), 2);
  EXPECT_EQ(releases.releases(0).release_id(), resp.revision());
  EXPECT_EQ(releases.releases(0).origin(), "HistoryService.Rollback");
  EXPECT_EQ(releases.releases(1).release_id(), rev);
  EXPECT_EQ(releases.releases(1).message(), "break everything");
  EXPECT_EQ(releases.releases(1).change_count(), 4);
  v1::GetReleaseRequest get;
  get.set_release_id(rev);
  v1::GetReleaseResponse release;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(history_->GetRelease(&ctx, get, &release).ok());
  }
  ASSERT_EQ(release.release().changes_size(), 4);
  const v1::ReleaseChange& masked = release.release().changes(1);  // b/x: mask -> deleted
  EXPECT_EQ(masked.key(), "x");
  EXPECT_EQ(masked.before().kind(), v1::ENTRY_KIND_MASK);
  EXPECT_FALSE(masked.has_after());
}

TEST_F(HistoryTest, RollbackErrorsNameTheFieldAndChangeNothing) {
  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  int64_t rev = 0;
  ASSERT_TRUE(api_->Put("f1", "a", "k", "v", &rev).ok());
  v1::RollbackResponse resp;
  grpc::Status st = Rollback("f1", "", "", rev + 10, false, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(st.error_message().rfind("to_revision: revision", 0), 0u) << st.error_message();
  st = Rollback("f1", "", "", 1, false, &resp);  // before f1 was registered
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message().rfind("to_revision: tenant \"f1\" was created at revision", 0), 0u)
      << st.error_message();
  st = Rollback("nope", "", "", 1, false, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  int64_t after = 0;
  api_->Resolve("f1", {}, &after);
  EXPECT_EQ(after, rev);
}

TEST_F(HistoryTest, HistoryPagesThroughEveryVersionWithAuthorKindAndTime) {
  ASSERT_TRUE(api_->Register("feat-login", {"a"}).ok());
  ASSERT_TRUE(api_->Register("feat-login-2", {"a"}).ok());
  ASSERT_TRUE(PutAs("alice", "feat-login", "a", "db.url", "u1").ok());
  ASSERT_TRUE(api_->Mask("feat-login", "a", "db.url").ok());
  ASSERT_TRUE(api_->Delete("feat-login", "a", "db.url").ok());
  ASSERT_TRUE(PutAs("bob", "feat-login", "a", "db.url", "u2").ok());
  ASSERT_TRUE(PutAs("bob", "feat-login-2", "a", "db.url", "other").ok());
  ASSERT_TRUE(PutAs("bob", "feat-login", "a", "db.pool", "8").ok());

  std::vector<std::string> seen;
  std::string token;
  do {
    v1::HistoryResponse page = History("feat-login", "a", "", 2, token);
    EXPECT_LE(page.versions_size(), 2);
    for (const v1::Version& v : page.versions()) {
      seen.push_back(v.key() + ":" + v1::VersionKind_Name(v.kind()) + ":" + v.value() + ":" +
                     v.author());
      EXPECT_GT(v.commit_time().seconds(), 1'600'000'000);
    }
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "db.pool:VERSION_KIND_VALUE:8:bob",
                      "db.url:VERSION_KIND_VALUE:u2:bob",
                      "db.url:VERSION_KIND_DELETED::anonymous",
                      "db.url:VERSION_KIND_MASK::anonymous",
                      "db.url:VERSION_KIND_VALUE:u1:alice",
                  }));
  // feat-login-2's version is its own.
  EXPECT_EQ(History("feat-login-2").versions_size(), 1);
  // An unknown tenant without history is NOT_FOUND, not an empty list.
  v1::HistoryRequest req;
  req.set_tenant("feat-typo");
  v1::HistoryResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(history_->History(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A table of diff cases over one fixture:
//   integration: a/{k1=i1, k2=i2, k3=i3}, b/{x=ix}
//   f1 (child of integration): a/k1=f1 (override), a/k2 masked, a/k4=f4 (added),
//                              a/k3=i3 (override with the same value)
//   f2 (child of integration): b/x=f2
TEST_F(HistoryTest, DiffTable) {
  grpc::Status registered = api_->Register("integration", {"a", "b"});
  ASSERT_TRUE(registered.ok()) << registered.error_code() << " " << registered.error_message();
  int64_t r0 = 0;
  ASSERT_TRUE(api_->Put("integration", "a", "k1", "i1").ok());
  ASSERT_TRUE(api_->Put("integration", "a", "k2", "i2").ok());
  ASSERT_TRUE(api_->Put("integration", "a", "k3", "i3").ok());
  ASSERT_TRUE(api_->Put("integration", "b", "x", "ix", &r0).ok());
  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  ASSERT_TRUE(api_->Register("f2", {"b"}).ok());
  int64_t r1 = 0, r2 = 0;
  ASSERT_TRUE(api_->Put("f1", "a", "k1", "f1", &r1).ok());
  ASSERT_TRUE(api_->Mask("f1", "a", "k2").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "k4", "f4").ok());
  ASSERT_TRUE(api_->Put("f1", "a", "k3", "i3").ok());
  ASSERT_TRUE(api_->Put("f2", "b", "x", "f2", &r2).ok());

  auto req = [](v1::DiffMode mode, std::string tenant, std::string other,
                std::vector<std::string> services, int64_t from = 0, int64_t to = 0,
                bool own = false) {
    v1::DiffRequest r;
    r.set_mode(mode);
    r.set_tenant(tenant);
    r.set_other_tenant(other);
    for (auto& s : services) r.add_services(s);
    r.set_from_revision(from);
    r.set_to_revision(to);
    r.set_own_entries(own);
    return r;
  };
  // Each diff entry as "TYPE service/key left->right" with values@source.
  auto render = [](const v1::DiffResponse& d) {
    std::vector<std::string> out;
    for (const v1::DiffEntry& e : d.entries()) {
      auto side = [](bool has, const v1::DiffValue& v) {
        if (!has) return std::string("-");
        return (v.kind() == v1::ENTRY_KIND_MASK ? std::string("<mask>") : v.value()) + "@" +
               v.source_tenant();
      };
      out.push_back(v1::DiffType_Name(e.type()).substr(10) + " " + e.service() + "/" + e.key() +
                    " " + side(e.has_left(), e.left()) + "->" + side(e.has_right(), e.right()));
    }
    return out;
  };
  struct Case {
    std::string name;
    v1::DiffRequest request;
    std::vector<std::string> expected;
  };
  using V = std::vector<std::string>;
  std::vector<Case> cases = {
      {"what f1 changes against integration",
       req(v1::DIFF_MODE_TENANTS, "integration", "f1", {"a"}),
       V{"CHANGED a/k1 i1@integration->f1@f1", "REMOVED a/k2 i2@integration->-",
         "ADDED a/k4 -->f4@f1"}},
      {"the other way round", req(v1::DIFF_MODE_TENANTS, "f1", "integration", {"a"}),
       V{"CHANGED a/k1 f1@f1->i1@integration", "ADDED a/k2 -->i2@integration",
         "REMOVED a/k4 f4@f1->-"}},
      {"all services of both", req(v1::DIFF_MODE_TENANTS, "f1", "f2", {}),
       V{"CHANGED a/k1 f1@f1->i1@integration", "ADDED a/k2 -->i2@integration",
         "REMOVED a/k4 f4@f1->-", "CHANGED b/x ix@integration->f2@f2"}},
      {"a tenant against itself", req(v1::DIFF_MODE_TENANTS, "f1", "f1", {}), V{}},
      {"f1 against its parent", req(v1::DIFF_MODE_PARENT, "f1", "", {}),
       V{"CHANGED a/k1 i1@integration->f1@f1", "REMOVED a/k2 i2@integration->-",
         "ADDED a/k4 -->f4@f1"}},
      {"f2 against its parent, other service only", req(v1::DIFF_MODE_PARENT, "f2", "", {"a"}),
       V{}},
      {"f1 resolved between two revisions", req(v1::DIFF_MODE_REVISIONS, "f1", "", {"a"}, r1, 0),
       V{"REMOVED a/k2 i2@integration->-", "ADDED a/k4 -->f4@f1"}},
      {"f1 own entries between two revisions, masks included",
       req(v1::DIFF_MODE_REVISIONS, "f1", "", {}, r1, r2, true),
       V{"ADDED a/k2 --><mask>@f1", "ADDED a/k3 -->i3@f1", "ADDED a/k4 -->f4@f1"}},
      {"f1 resolved before it had anything of its own",
       req(v1::DIFF_MODE_REVISIONS, "f1", "", {"a"}, r0, r1),
       V{"CHANGED a/k1 i1@integration->f1@f1"}},
      {"integration between the same revision",
       req(v1::DIFF_MODE_REVISIONS, "integration", "", {}, r2, r2), V{}},
  };
  ASSERT_GE(cases.size(), 8u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::DiffResponse d = Diff(c.request);
    EXPECT_EQ(render(d), c.expected);
    EXPECT_GE(d.revision(), r2);
  }
  // Errors.
  grpc::Status st;
  Diff(req(v1::DIFF_MODE_PARENT, "integration", "", {}), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  Diff(req(v1::DIFF_MODE_TENANTS, "f1", "nope", {}), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message().rfind("other_tenant:", 0), 0u) << st.error_message();
  Diff(req(v1::DIFF_MODE_REVISIONS, "f1", "", {}, r2 + 100), &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

TEST_F(HistoryTest, AuditOfANameCutInsideAUtf8CharacterStaysReadable) {
  // 299 ASCII bytes then a 2-byte character: the audit cut (300 bytes) falls inside it.
  const std::string tenant = std::string(299, 'a') + "\xc3\xa9";
  ASSERT_FALSE(PutAs("alice", tenant, "a", "k", "v").ok());
  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  std::vector<v1::AuditEntry> all = Audit({});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].rpc(), "ConfigService.Put");
  EXPECT_EQ(all[1].error_code(), "INVALID_ARGUMENT");
  ASSERT_EQ(all[1].tenants_size(), 1);
  EXPECT_EQ(all[1].tenants(0), std::string(299, 'a'));
}

TEST_F(HistoryTest,
       AuditOfRejectedTxnOpTypeAndRollbackWithNamesCutInsideAUtf8CharacterStaysReadable) {
  // Both are rejected before the core (unknown op type; invalid tenant name in a rollback)
  // and audited with their names cut to 300 bytes: the cut falls inside the 2-byte character.
  const std::string tenant = std::string(299, 'a') + "\xc3\xa9";
  v1::TxnRequest txn;
  v1::TxnOp* op = txn.add_ops();
  op->set_type(static_cast<v1::TxnOpType>(7));
  op->set_tenant(tenant);
  op->set_service("a");
  op->set_key("k");
  v1::TxnResponse txn_resp;
  grpc::ClientContext ctx;
  ASSERT_EQ(api_->config()->Txn(&ctx, txn, &txn_resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::RollbackResponse rollback_resp;
  ASSERT_EQ(Rollback(tenant, "a", "k", 1, false, &rollback_resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<v1::AuditEntry> all = Audit({});  // fails (DATA_LOSS) if a record is not UTF-8
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].rpc(), "HistoryService.Rollback");
  EXPECT_EQ(all[1].rpc(), "ConfigService.Txn");
  for (const v1::AuditEntry& e : all) {
    ASSERT_EQ(e.tenants_size(), 1);
    EXPECT_EQ(e.tenants(0), std::string(299, 'a'));
  }
}

TEST_F(HistoryTest, AuditRecordsEveryWriteAttemptIncludingRejectedOnesWithTheError) {
  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  int64_t rev = 0;
  ASSERT_TRUE(PutAs("alice", "f1", "a", "k", "v", &rev).ok());
  ASSERT_FALSE(PutAs("alice", "f1", "a", "Bad Key", "v").ok());  // validation
  ASSERT_FALSE(PutAs("mallory", "nope", "a", "k", "v").ok());    // unknown tenant
  ASSERT_FALSE(api_->Delete("f1", "a", "missing").ok());         // nothing to delete
  v1::TxnRequest txn;
  v1::TxnOp* op = txn.add_ops();
  op->set_tenant("f1");
  op->set_service("a");
  op->set_key("k");
  ASSERT_FALSE(api_->Txn(txn).ok());  // op without a type: rejected at the edge
  v1::RollbackResponse resp;
  ASSERT_FALSE(Rollback("f1", "", "", rev + 5, false, &resp, "carol").ok());
  ASSERT_TRUE(Rollback("f1", "", "", rev, true, &resp, "carol").ok());  // dry run: no write

  std::vector<v1::AuditEntry> all = Audit({});
  ASSERT_EQ(all.size(), 7u);  // Register + 6 attempts (the dry run is not one)
  auto line = [](const v1::AuditEntry& e) {
    return e.rpc() + " " + e.user() + " " + (e.keys().empty() ? "" : e.keys(0)) + " " +
           std::to_string(e.revision()) + " " + e.error_code();
  };
  EXPECT_EQ(line(all[0]), "HistoryService.Rollback carol  0 OUT_OF_RANGE");
  EXPECT_EQ(line(all[1]), "ConfigService.Txn anonymous  0 INVALID_ARGUMENT");
  EXPECT_EQ(line(all[2]), "ConfigService.Delete anonymous f1/a/missing 0 NOT_FOUND");
  EXPECT_EQ(line(all[3]), "ConfigService.Put mallory nope/a/k 0 NOT_FOUND");
  EXPECT_EQ(line(all[4]), "ConfigService.Put alice f1/a/Bad Key 0 INVALID_ARGUMENT");
  EXPECT_EQ(line(all[5]), "ConfigService.Put alice f1/a/k " + std::to_string(rev) + " ");
  EXPECT_EQ(all[6].rpc(), "TenantService.Register");
  EXPECT_EQ(all[3].error_message(), "tenant: tenant \"nope\" not found; Register it first");
  EXPECT_NE(all[5].peer().find("127.0.0.1"), std::string::npos);
  EXPECT_GT(all[0].sequence(), all[1].sequence());

  // Filters: user, rpc (short name), tenant, time range.
  v1::QueryAuditRequest q;
  q.set_user("alice");
  EXPECT_EQ(Audit(q).size(), 2u);
  q.Clear();
  q.set_rpc("Put");
  EXPECT_EQ(Audit(q).size(), 3u);
  q.Clear();
  q.set_tenant("nope");
  EXPECT_EQ(Audit(q).size(), 1u);
  q.Clear();
  q.mutable_since()->set_seconds(all[0].time().seconds() + 3600);
  EXPECT_EQ(Audit(q).size(), 0u);
  q.Clear();
  q.set_page_size(4);
  v1::QueryAuditResponse page;
  grpc::ClientContext ctx;
  ASSERT_TRUE(history_->QueryAudit(&ctx, q, &page).ok());
  EXPECT_EQ(page.entries_size(), 4);
  EXPECT_FALSE(page.next_page_token().empty());
}

TEST_F(HistoryTest, HistoryReleasesAndAuditSurviveACrash) {
  ASSERT_TRUE(api_->Register("f1", {"a"}).ok());
  v1::TxnRequest txn;
  v1::TxnOp* op = txn.add_ops();
  op->set_type(v1::TXN_OP_TYPE_PUT);
  op->set_tenant("f1");
  op->set_service("a");
  op->set_key("k");
  op->set_value("v");
  txn.set_release_message("first release");
  int64_t rev = 0;
  ASSERT_TRUE(api_->Txn(txn, &rev).ok());
  ASSERT_FALSE(api_->Put("nope", "a", "k", "v").ok());
  server_->Kill();
  ASSERT_TRUE(server_->Restart());
  Connect();
  v1::HistoryResponse history = History("f1", "a", "k");
  ASSERT_EQ(history.versions_size(), 1);
  EXPECT_EQ(history.versions(0).release_id(), rev);
  EXPECT_EQ(history.versions(0).message(), "first release");
  std::vector<v1::AuditEntry> audit = Audit({});
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0].error_code(), "NOT_FOUND");
  EXPECT_EQ(audit[1].revision(), rev);
  // Sequence numbers go on after the restart.
  ASSERT_FALSE(api_->Put("nope", "a", "k", "v").ok());
  EXPECT_EQ(Audit({})[0].sequence(), audit[0].sequence() + 1);
}

TEST_F(HistoryTest, ReflectionListsHistoryService) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count("confcenter.v1.HistoryService"));
  req.set_file_containing_symbol("confcenter.v1.HistoryService");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace confcenter
