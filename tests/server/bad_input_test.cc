// Every bad request gets the right status code, a message that starts with the offending
// field, and changes nothing in the store.
#include <functional>

#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/release.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

struct Stubs {
  std::unique_ptr<v1::ConfigService::Stub> config;
  std::unique_ptr<v1::TenantService::Stub> tenants;
  std::unique_ptr<v1::HistoryService::Stub> history;
  std::unique_ptr<v1::ReleaseService::Stub> release;
};

struct BadInput {
  std::string name;
  std::function<grpc::Status(Stubs&)> call;
  grpc::StatusCode code;
  std::string field;  // the message must start with "<field>:"
};

v1::PutRequest PutReq(const std::string& tenant, const std::string& service, const std::string& key,
                      const std::string& value = "v") {
  v1::PutRequest r;
  r.set_tenant(tenant);
  r.set_service(service);
  r.set_key(key);
  r.set_value(value);
  return r;
}

grpc::Status Put(Stubs& s, const v1::PutRequest& r) {
  grpc::ClientContext ctx;
  v1::PutResponse resp;
  return s.config->Put(&ctx, r, &resp);
}

v1::TxnOp Op(v1::TxnOpType type, const std::string& tenant, const std::string& key,
             const std::string& value = "") {
  v1::TxnOp op;
  op.set_type(type);
  op.set_tenant(tenant);
  op.set_service("a");
  op.set_key(key);
  op.set_value(value);
  return op;
}

grpc::Status Txn(Stubs& s, std::vector<v1::TxnOp> ops) {
  v1::TxnRequest r;
  for (auto& op : ops) *r.add_ops() = op;
  grpc::ClientContext ctx;
  v1::TxnResponse resp;
  return s.config->Txn(&ctx, r, &resp);
}

grpc::Status Register(Stubs& s, const v1::RegisterRequest& r) {
  grpc::ClientContext ctx;
  v1::RegisterResponse resp;
  return s.tenants->Register(&ctx, r, &resp);
}

grpc::Status Deregister(Stubs& s, const v1::DeregisterRequest& r) {
  grpc::ClientContext ctx;
  v1::DeregisterResponse resp;
  return s.tenants->Deregister(&ctx, r, &resp);
}

grpc::Status History(Stubs& s, const std::string& tenant, const std::string& service,
                     const std::string& key, const std::string& prefix = "", int page_size = 0,
                     const std::string& token = "") {
  v1::HistoryRequest r;
  r.set_tenant(tenant);
  r.set_service(service);
  r.set_key(key);
  r.set_prefix(prefix);
  r.set_page_size(page_size);
  r.set_page_token(token);
  grpc::ClientContext ctx;
  v1::HistoryResponse resp;
  return s.history->History(&ctx, r, &resp);
}

grpc::Status Rollback(Stubs& s, const std::string& tenant, const std::string& service,
                      const std::string& key, int64_t to_revision,
                      const std::string& message = "") {
  v1::RollbackRequest r;
  r.set_tenant(tenant);
  r.set_service(service);
  r.set_key(key);
  r.set_to_revision(to_revision);
  r.set_message(message);
  grpc::ClientContext ctx;
  v1::RollbackResponse resp;
  return s.history->Rollback(&ctx, r, &resp);
}

grpc::Status Diff(Stubs& s, v1::DiffMode mode, const std::string& tenant,
                  const std::string& other = "", int64_t from = 0) {
  v1::DiffRequest r;
  r.set_mode(mode);
  r.set_tenant(tenant);
  r.set_other_tenant(other);
  r.set_from_revision(from);
  grpc::ClientContext ctx;
  v1::DiffResponse resp;
  return s.history->Diff(&ctx, r, &resp);
}

grpc::Status Explain(Stubs& s, const std::string& tenant, const std::string& service,
                     const std::string& key) {
  v1::ExplainRequest r;
  r.set_tenant(tenant);
  r.set_service(service);
  r.set_key(key);
  grpc::ClientContext ctx;
  v1::ExplainResponse resp;
  return s.history->Explain(&ctx, r, &resp);
}

v1::DraftChange DraftPut(const std::string& key, const std::string& value) {
  v1::DraftChange c;
  c.set_service("a");
  c.set_key(key);
  c.set_op(v1::DRAFT_OP_PUT);
  c.set_value(value);
  return c;
}

grpc::Status CreateDraft(Stubs& s, const std::string& tenant, std::vector<v1::DraftChange> changes,
                         const std::string& user = "alice", int64_t* id = nullptr) {
  v1::CreateDraftRequest r;
  r.set_tenant(tenant);
  for (v1::DraftChange& c : changes) *r.add_changes() = std::move(c);
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-confcenter-user", user);
  v1::DraftResponse resp;
  grpc::Status status = s.release->CreateDraft(&ctx, r, &resp);
  if (id != nullptr) *id = resp.draft().draft_id();
  return status;
}

grpc::Status Publish(Stubs& s, const std::string& tenant, int64_t id, const std::string& user) {
  v1::PublishDraftRequest r;
  r.set_tenant(tenant);
  r.set_draft_id(id);
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-confcenter-user", user);
  v1::PublishDraftResponse resp;
  return s.release->PublishDraft(&ctx, r, &resp);
}

grpc::Status Promote(Stubs& s, const std::string& from, const std::string& to,
                     const std::string& service = "") {
  v1::PromoteRequest r;
  r.set_from_tenant(from);
  r.set_to_tenant(to);
  if (!service.empty()) r.add_services(service);
  grpc::ClientContext ctx;
  v1::PromoteResponse resp;
  return s.release->Promote(&ctx, r, &resp);
}

grpc::Status StartGray(Stubs& s, const std::string& tenant, const v1::GrayAudience& audience,
                       std::vector<v1::DraftChange> changes = {DraftPut("g", "1")}) {
  v1::StartGrayRequest r;
  r.set_tenant(tenant);
  *r.mutable_audience() = audience;
  for (v1::DraftChange& c : changes) *r.add_changes() = std::move(c);
  grpc::ClientContext ctx;
  v1::GrayResponse resp;
  return s.release->StartGray(&ctx, r, &resp);
}

v1::GrayAudience Audience(const std::string& selector, int percentage = 0) {
  v1::GrayAudience a;
  a.set_selector(selector);
  a.set_percentage(percentage);
  return a;
}

// Everything a client can observe of the store.
std::string Fingerprint(Stubs& s) {
  return testing::StoreFingerprint(s.config.get(), s.tenants.get());
}

TEST(BadInputTest, EachIsRejectedWithCodeAndFieldAndChangesNothing) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data",
                       {"--max_value_bytes=1024", "--max_txn_ops=4", "--max_keys_per_tenant=3"});
  ASSERT_NE(server.port(), 0);
  Stubs s{
      v1::ConfigService::NewStub(server.Channel()), v1::TenantService::NewStub(server.Channel()),
      v1::HistoryService::NewStub(server.Channel()), v1::ReleaseService::NewStub(server.Channel())};

  // Setup: f1 under integration (full: 3 keys), f1-sub under f1.
  {
    v1::RegisterRequest r;
    r.set_tenant("f1");
    r.add_services()->set_name("a");
    ASSERT_TRUE(Register(s, r).ok());
    r.set_tenant("f1-sub");
    r.set_parent("f1");
    ASSERT_TRUE(Register(s, r).ok());
    for (const char* k : {"k1", "k2", "k3"}) ASSERT_TRUE(Put(s, PutReq("f1", "a", k)).ok());
  }
  // pre: a reviewed root (drafts, four eyes) with a published draft and an open one.
  int64_t published_draft = 0, open_draft = 0;
  {
    v1::RegisterRequest r;
    r.set_tenant("pre");
    r.set_root(true);
    v1::ServiceDefinition* def = r.add_services();
    def->set_name("a");
    def->add_secret_keys("token");
    ASSERT_TRUE(Register(s, r).ok());
    v1::SetReviewRequest review;
    review.set_tenant("pre");
    review.mutable_review()->set_drafts_required(true);
    review.mutable_review()->set_publisher_not_author(true);
    grpc::ClientContext ctx;
    v1::SetReviewResponse reviewed;
    ASSERT_TRUE(s.release->SetReview(&ctx, review, &reviewed).ok());
    ASSERT_TRUE(CreateDraft(s, "pre", {DraftPut("k", "1")}, "alice", &published_draft).ok());
    ASSERT_TRUE(Publish(s, "pre", published_draft, "bob").ok());
    ASSERT_TRUE(CreateDraft(s, "pre", {DraftPut("k", "2")}, "alice", &open_draft).ok());
  }

  using C = grpc::StatusCode;
  const std::string long_name(64, 'a');
  std::vector<BadInput> cases = {
      {"put empty tenant", [](Stubs& s) { return Put(s, PutReq("", "a", "k")); },
       C::INVALID_ARGUMENT, "tenant"},
      {"put uppercase tenant", [](Stubs& s) { return Put(s, PutReq("Feat_X", "a", "k")); },
       C::INVALID_ARGUMENT, "tenant"},
      {"put 64-char tenant", [&](Stubs& s) { return Put(s, PutReq(long_name, "a", "k")); },
       C::INVALID_ARGUMENT, "tenant"},
      {"put tenant ending in dash", [](Stubs& s) { return Put(s, PutReq("f1-", "a", "k")); },
       C::INVALID_ARGUMENT, "tenant"},
      {"put empty service", [](Stubs& s) { return Put(s, PutReq("f1", "", "k")); },
       C::INVALID_ARGUMENT, "service"},
      {"put uppercase service", [](Stubs& s) { return Put(s, PutReq("f1", "A", "k")); },
       C::INVALID_ARGUMENT, "service"},
      {"put empty key", [](Stubs& s) { return Put(s, PutReq("f1", "a", "")); }, C::INVALID_ARGUMENT,
       "key"},
      {"put key with empty segment", [](Stubs& s) { return Put(s, PutReq("f1", "a", "a..b")); },
       C::INVALID_ARGUMENT, "key"},
      {"put reserved key", [](Stubs& s) { return Put(s, PutReq("integration", "a", "_x")); },
       C::INVALID_ARGUMENT, "key"},
      {"put key with slash", [](Stubs& s) { return Put(s, PutReq("f1", "a", "a/b")); },
       C::INVALID_ARGUMENT, "key"},
      {"put 257-char key",
       [](Stubs& s) { return Put(s, PutReq("f1", "a", std::string(257, 'k'))); },
       C::INVALID_ARGUMENT, "key"},
      {"put value over the limit",
       [](Stubs& s) { return Put(s, PutReq("integration", "a", "k", std::string(1025, 'v'))); },
       C::INVALID_ARGUMENT, "value"},
      {"put unknown content type",
       [](Stubs& s) {
         auto r = PutReq("integration", "a", "k");
         r.set_content_type(static_cast<v1::ContentType>(99));
         return Put(s, r);
       },
       C::INVALID_ARGUMENT, "content_type"},
      {"put negative expected revision",
       [](Stubs& s) {
         auto r = PutReq("integration", "a", "k");
         r.set_expected_revision(-1);
         return Put(s, r);
       },
       C::INVALID_ARGUMENT, "expected_revision"},
      {"put to unknown tenant", [](Stubs& s) { return Put(s, PutReq("nope", "a", "k")); },
       C::NOT_FOUND, "tenant"},
      {"put with stale expected revision",
       [](Stubs& s) {
         auto r = PutReq("f1", "a", "k1");
         r.set_expected_revision(1);
         return Put(s, r);
       },
       C::FAILED_PRECONDITION, "expected_revision"},
      {"put over the keys-per-tenant quota",
       [](Stubs& s) { return Put(s, PutReq("f1", "a", "k4")); }, C::RESOURCE_EXHAUSTED, "tenant"},
      {"get missing key",
       [](Stubs& s) {
         v1::GetRequest r;
         r.set_tenant("f1");
         r.set_service("a");
         r.set_key("missing");
         v1::GetResponse resp;
         grpc::ClientContext ctx;
         return s.config->Get(&ctx, r, &resp);
       },
       C::NOT_FOUND, "key"},
      {"get in unknown tenant",
       [](Stubs& s) {
         v1::GetRequest r;
         r.set_tenant("nope");
         r.set_service("a");
         r.set_key("k1");
         v1::GetResponse resp;
         grpc::ClientContext ctx;
         return s.config->Get(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
      {"delete entry that does not exist",
       [](Stubs& s) {
         v1::DeleteRequest r;
         r.set_tenant("f1");
         r.set_service("a");
         r.set_key("missing");
         v1::DeleteResponse resp;
         grpc::ClientContext ctx;
         return s.config->Delete(&ctx, r, &resp);
       },
       C::NOT_FOUND, "key"},
      {"mask in unknown tenant",
       [](Stubs& s) {
         v1::MaskRequest r;
         r.set_tenant("nope");
         r.set_service("a");
         r.set_key("k1");
         v1::MaskResponse resp;
         grpc::ClientContext ctx;
         return s.config->Mask(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
      {"list page size too large",
       [](Stubs& s) {
         v1::ListRequest r;
         r.set_tenant("f1");
         r.set_page_size(5000);
         v1::ListResponse resp;
         grpc::ClientContext ctx;
         return s.config->List(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "page_size"},
      {"list with forged page token",
       [](Stubs& s) {
         v1::ListRequest r;
         r.set_tenant("f1");
         r.set_page_token("%%%");
         v1::ListResponse resp;
         grpc::ClientContext ctx;
         return s.config->List(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "page_token"},
      {"list prefix with bad character",
       [](Stubs& s) {
         v1::ListRequest r;
         r.set_tenant("f1");
         r.set_prefix("a b");
         v1::ListResponse resp;
         grpc::ClientContext ctx;
         return s.config->List(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "prefix"},
      {"resolve invalid service name",
       [](Stubs& s) {
         v1::ResolveRequest r;
         r.set_tenant("f1");
         r.add_services("a");
         r.add_services("B!");
         v1::ResolveResponse resp;
         grpc::ClientContext ctx;
         return s.config->Resolve(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "services[1]"},
      {"resolve unknown tenant",
       [](Stubs& s) {
         v1::ResolveRequest r;
         r.set_tenant("feat-typo");
         v1::ResolveResponse resp;
         grpc::ClientContext ctx;
         return s.config->Resolve(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
      {"txn without ops", [](Stubs& s) { return Txn(s, {}); }, C::INVALID_ARGUMENT, "ops"},
      {"txn op without type",
       [](Stubs& s) {
         return Txn(s, {Op(v1::TXN_OP_TYPE_PUT, "f1", "k1", "x"),
                        Op(v1::TXN_OP_TYPE_UNSPECIFIED, "f1", "k2")});
       },
       C::INVALID_ARGUMENT, "ops[1].type"},
      {"txn writes a key twice",
       [](Stubs& s) {
         return Txn(
             s, {Op(v1::TXN_OP_TYPE_PUT, "f1", "k1", "x"), Op(v1::TXN_OP_TYPE_MASK, "f1", "k1")});
       },
       C::INVALID_ARGUMENT, "ops[1].key"},
      {"txn over the op limit",
       [](Stubs& s) {
         std::vector<v1::TxnOp> ops;
         for (int i = 0; i < 5; ++i)
           ops.push_back(Op(v1::TXN_OP_TYPE_PUT, "f1", "k" + std::to_string(i), "x"));
         return Txn(s, ops);
       },
       C::INVALID_ARGUMENT, "ops"},
      {"txn delete with a value",
       [](Stubs& s) { return Txn(s, {Op(v1::TXN_OP_TYPE_DELETE, "f1", "k1", "x")}); },
       C::INVALID_ARGUMENT, "ops[0].value"},
      {"txn op in unknown tenant after valid ops",
       [](Stubs& s) {
         return Txn(s, {Op(v1::TXN_OP_TYPE_PUT, "f1", "k1", "x"),
                        Op(v1::TXN_OP_TYPE_PUT, "integration", "k1", "x"),
                        Op(v1::TXN_OP_TYPE_PUT, "nope", "k1", "x")});
       },
       C::NOT_FOUND, "ops[2].tenant"},
      {"register invalid tenant",
       [](Stubs& s) {
         v1::RegisterRequest r;
         r.set_tenant("feature/login");
         return Register(s, r);
       },
       C::INVALID_ARGUMENT, "tenant"},
      {"register under missing parent",
       [](Stubs& s) {
         v1::RegisterRequest r;
         r.set_tenant("f2");
         r.set_parent("nope");
         return Register(s, r);
       },
       C::NOT_FOUND, "parent"},
      {"register making a cycle",
       [](Stubs& s) {
         v1::RegisterRequest r;
         r.set_tenant("f1");
         r.set_parent("f1-sub");
         return Register(s, r);
       },
       C::FAILED_PRECONDITION, "parent"},
      {"register root with parent",
       [](Stubs& s) {
         v1::RegisterRequest r;
         r.set_tenant("global");
         r.set_root(true);
         r.set_parent("integration");
         return Register(s, r);
       },
       C::INVALID_ARGUMENT, "parent"},
      {"register duplicate services",
       [](Stubs& s) {
         v1::RegisterRequest r;
         r.set_tenant("f2");
         r.add_services()->set_name("a");
         r.add_services()->set_name("a");
         return Register(s, r);
       },
       C::INVALID_ARGUMENT, "services[1].name"},
      {"register bad metadata key",
       [](Stubs& s) {
         v1::RegisterRequest r;
         r.set_tenant("f2");
         auto* svc = r.add_services();
         svc->set_name("a");
         (*svc->mutable_metadata())["bad key"] = "v";
         return Register(s, r);
       },
       C::INVALID_ARGUMENT, "services[0].metadata[\"bad key\"]"},
      {"deregister all with services",
       [](Stubs& s) {
         v1::DeregisterRequest r;
         r.set_tenant("f1");
         r.set_all(true);
         r.add_services("a");
         return Deregister(s, r);
       },
       C::INVALID_ARGUMENT, "services"},
      {"deregister a service twice",
       [](Stubs& s) {
         v1::DeregisterRequest r;
         r.set_tenant("f1");
         r.add_services("a");
         r.add_services("a");
         return Deregister(s, r);
       },
       C::INVALID_ARGUMENT, "services[1]"},
      {"deregister nothing",
       [](Stubs& s) {
         v1::DeregisterRequest r;
         r.set_tenant("f1");
         return Deregister(s, r);
       },
       C::INVALID_ARGUMENT, "services"},
      {"deregister integration without force",
       [](Stubs& s) {
         v1::DeregisterRequest r;
         r.set_tenant("integration");
         r.set_all(true);
         return Deregister(s, r);
       },
       C::FAILED_PRECONDITION, "force"},
      {"deregister tenant with children",
       [](Stubs& s) {
         v1::DeregisterRequest r;
         r.set_tenant("f1");
         r.set_all(true);
         return Deregister(s, r);
       },
       C::FAILED_PRECONDITION, "tenant"},
      {"get unknown tenant",
       [](Stubs& s) {
         v1::GetTenantRequest r;
         r.set_tenant("nope");
         v1::GetTenantResponse resp;
         grpc::ClientContext ctx;
         return s.tenants->GetTenant(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
      {"list tenants negative page size",
       [](Stubs& s) {
         v1::ListTenantsRequest r;
         r.set_page_size(-1);
         v1::ListTenantsResponse resp;
         grpc::ClientContext ctx;
         return s.tenants->ListTenants(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "page_size"},
      // HistoryService.
      {"history empty tenant", [](Stubs& s) { return History(s, "", "", ""); }, C::INVALID_ARGUMENT,
       "tenant"},
      {"history key without service", [](Stubs& s) { return History(s, "f1", "", "k1"); },
       C::INVALID_ARGUMENT, "service"},
      {"history key and prefix", [](Stubs& s) { return History(s, "f1", "a", "k1", "k"); },
       C::INVALID_ARGUMENT, "prefix"},
      {"history key with space", [](Stubs& s) { return History(s, "f1", "a", "k 1"); },
       C::INVALID_ARGUMENT, "key"},
      {"history page size too large", [](Stubs& s) { return History(s, "f1", "", "", "", 5000); },
       C::INVALID_ARGUMENT, "page_size"},
      {"history forged page token",
       [](Stubs& s) { return History(s, "f1", "", "", "", 0, "AAAA"); }, C::INVALID_ARGUMENT,
       "page_token"},
      {"history of unknown tenant", [](Stubs& s) { return History(s, "nope", "", ""); },
       C::NOT_FOUND, "tenant"},
      {"list releases forged token",
       [](Stubs& s) {
         v1::ListReleasesRequest r;
         r.set_tenant("f1");
         r.set_page_token("!!");
         grpc::ClientContext ctx;
         v1::ListReleasesResponse resp;
         return s.history->ListReleases(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "page_token"},
      {"get release zero",
       [](Stubs& s) {
         v1::GetReleaseRequest r;
         grpc::ClientContext ctx;
         v1::GetReleaseResponse resp;
         return s.history->GetRelease(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "release_id"},
      {"get release of a plain put",
       [](Stubs& s) {
         v1::GetReleaseRequest r;
         r.set_release_id(4);
         grpc::ClientContext ctx;
         v1::GetReleaseResponse resp;
         return s.history->GetRelease(&ctx, r, &resp);
       },
       C::NOT_FOUND, "release_id"},
      {"rollback without revision", [](Stubs& s) { return Rollback(s, "f1", "", "", 0); },
       C::INVALID_ARGUMENT, "to_revision"},
      {"rollback ahead of the store", [](Stubs& s) { return Rollback(s, "f1", "", "", 1000); },
       C::OUT_OF_RANGE, "to_revision"},
      {"rollback before the tenant existed", [](Stubs& s) { return Rollback(s, "f1", "", "", 1); },
       C::FAILED_PRECONDITION, "to_revision"},
      {"rollback unknown tenant", [](Stubs& s) { return Rollback(s, "nope", "", "", 1); },
       C::NOT_FOUND, "tenant"},
      {"rollback key without service", [](Stubs& s) { return Rollback(s, "f1", "", "k1", 2); },
       C::INVALID_ARGUMENT, "service"},
      {"rollback message too long",
       [](Stubs& s) { return Rollback(s, "f1", "", "", 2, std::string(5000, 'm')); },
       C::INVALID_ARGUMENT, "message"},
      {"diff without mode", [](Stubs& s) { return Diff(s, v1::DIFF_MODE_UNSPECIFIED, "f1"); },
       C::INVALID_ARGUMENT, "mode"},
      {"diff tenants without the other",
       [](Stubs& s) { return Diff(s, v1::DIFF_MODE_TENANTS, "f1"); }, C::INVALID_ARGUMENT,
       "other_tenant"},
      {"diff root against its parent",
       [](Stubs& s) { return Diff(s, v1::DIFF_MODE_PARENT, "integration"); },
       C::FAILED_PRECONDITION, "tenant"},
      {"diff revisions without from",
       [](Stubs& s) { return Diff(s, v1::DIFF_MODE_REVISIONS, "f1"); }, C::INVALID_ARGUMENT,
       "from_revision"},
      {"query audit with until before since",
       [](Stubs& s) {
         v1::QueryAuditRequest r;
         r.mutable_since()->set_seconds(2000);
         r.mutable_until()->set_seconds(1000);
         grpc::ClientContext ctx;
         v1::QueryAuditResponse resp;
         return s.history->QueryAudit(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "until"},
      {"explain an invalid key", [](Stubs& s) { return Explain(s, "f1", "a", "_endpoint.grpc"); },
       C::INVALID_ARGUMENT, "key"},
      {"explain without a service", [](Stubs& s) { return Explain(s, "f1", "", "k1"); },
       C::INVALID_ARGUMENT, "service"},
      {"explain an unknown tenant", [](Stubs& s) { return Explain(s, "nope", "a", "k1"); },
       C::NOT_FOUND, "tenant"},
      {"txn release message too long",
       [](Stubs& s) {
         v1::TxnRequest r;
         *r.add_ops() = Op(v1::TXN_OP_TYPE_PUT, "f1", "k1", "x");
         r.set_release_message(std::string(5000, 'm'));
         grpc::ClientContext ctx;
         v1::TxnResponse resp;
         return s.config->Txn(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "release_message"},
      // The release workflow.
      {"publish a missing draft", [](Stubs& s) { return Publish(s, "pre", 999999, "bob"); },
       C::NOT_FOUND, "draft_id"},
      {"publish an already published draft",
       [&](Stubs& s) { return Publish(s, "pre", published_draft, "bob"); }, C::NOT_FOUND,
       "draft_id"},
      {"publish by the draft's author where four eyes are required",
       [&](Stubs& s) { return Publish(s, "pre", open_draft, "alice"); }, C::FAILED_PRECONDITION,
       "draft_id"},
      {"publish draft id 0", [](Stubs& s) { return Publish(s, "pre", 0, "bob"); },
       C::INVALID_ARGUMENT, "draft_id"},
      {"publish in an unknown tenant", [](Stubs& s) { return Publish(s, "nope", 5, "bob"); },
       C::NOT_FOUND, "tenant"},
      {"promote into the tenant's own ancestor",
       [](Stubs& s) { return Promote(s, "f1-sub", "f1"); }, C::INVALID_ARGUMENT, "to_tenant"},
      {"promote into itself", [](Stubs& s) { return Promote(s, "f1", "f1"); }, C::INVALID_ARGUMENT,
       "to_tenant"},
      {"promote without from", [](Stubs& s) { return Promote(s, "", "pre"); }, C::INVALID_ARGUMENT,
       "from_tenant"},
      {"promote from an unknown tenant", [](Stubs& s) { return Promote(s, "nope", "pre"); },
       C::NOT_FOUND, "from_tenant"},
      {"promote a bad service name", [](Stubs& s) { return Promote(s, "f1", "pre", "A"); },
       C::INVALID_ARGUMENT, "services[0]"},
      {"draft without changes", [](Stubs& s) { return CreateDraft(s, "pre", {}); },
       C::INVALID_ARGUMENT, "changes"},
      {"draft change of an unknown op",
       [](Stubs& s) {
         v1::DraftChange c = DraftPut("k", "v");
         c.set_op(static_cast<v1::DraftOp>(9));
         return CreateDraft(s, "pre", {c});
       },
       C::INVALID_ARGUMENT, "changes[0].op"},
      {"draft delete of a key without an own entry",
       [](Stubs& s) {
         v1::DraftChange c;
         c.set_service("a");
         c.set_key("absent");
         c.set_op(v1::DRAFT_OP_DELETE);
         return CreateDraft(s, "pre", {c});
       },
       C::INVALID_ARGUMENT, "changes[0].op"},
      {"draft with a key twice",
       [](Stubs& s) {
         return CreateDraft(s, "pre", {DraftPut("x", "1"), DraftPut("x", "2")});
       },
       C::INVALID_ARGUMENT, "changes[1].key"},
      {"draft value over the limit",
       [](Stubs& s) { return CreateDraft(s, "pre", {DraftPut("x", std::string(1025, 'v'))}); },
       C::INVALID_ARGUMENT, "changes[0].value"},
      {"draft of a secret value",
       [](Stubs& s) { return CreateDraft(s, "pre", {DraftPut("token", "s3cret")}); },
       C::INVALID_ARGUMENT, "changes[0].value"},
      {"draft with a bad key",
       [](Stubs& s) { return CreateDraft(s, "pre", {DraftPut("a/b", "1")}); }, C::INVALID_ARGUMENT,
       "changes[0].key"},
      {"draft in an unknown tenant",
       [](Stubs& s) { return CreateDraft(s, "nope", {DraftPut("x", "1")}); }, C::NOT_FOUND,
       "tenant"},
      {"put to a tenant that requires drafts",
       [](Stubs& s) { return Put(s, PutReq("pre", "a", "k", "direct")); }, C::FAILED_PRECONDITION,
       "tenant"},
      {"update dropping a key the draft lacks",
       [&](Stubs& s) {
         v1::UpdateDraftRequest r;
         r.set_tenant("pre");
         r.set_draft_id(open_draft);
         r.add_remove()->set_service("a");
         r.mutable_remove(0)->set_key("other");
         grpc::ClientContext ctx;
         v1::DraftResponse resp;
         return s.release->UpdateDraft(&ctx, r, &resp);
       },
       C::INVALID_ARGUMENT, "remove[0]"},
      {"discard an unknown draft",
       [](Stubs& s) {
         v1::DiscardDraftRequest r;
         r.set_tenant("pre");
         r.set_draft_id(424242);
         grpc::ClientContext ctx;
         v1::DiscardDraftResponse resp;
         return s.release->DiscardDraft(&ctx, r, &resp);
       },
       C::NOT_FOUND, "draft_id"},
      {"get an unknown draft",
       [](Stubs& s) {
         v1::GetDraftRequest r;
         r.set_tenant("pre");
         r.set_draft_id(424242);
         grpc::ClientContext ctx;
         v1::DraftResponse resp;
         return s.release->GetDraft(&ctx, r, &resp);
       },
       C::NOT_FOUND, "draft_id"},
      {"review of an unknown tenant",
       [](Stubs& s) {
         v1::SetReviewRequest r;
         r.set_tenant("nope");
         grpc::ClientContext ctx;
         v1::SetReviewResponse resp;
         return s.release->SetReview(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
      {"gray percentage over 100", [](Stubs& s) { return StartGray(s, "f1", Audience("", 101)); },
       C::INVALID_ARGUMENT, "audience.percentage"},
      {"gray percentage below 0", [](Stubs& s) { return StartGray(s, "f1", Audience("", -1)); },
       C::INVALID_ARGUMENT, "audience.percentage"},
      {"gray selector that does not parse",
       [](Stubs& s) { return StartGray(s, "f1", Audience("zone=a=b")); }, C::INVALID_ARGUMENT,
       "audience.selector"},
      {"gray selector with a bad label key",
       [](Stubs& s) { return StartGray(s, "f1", Audience("zo ne=a")); }, C::INVALID_ARGUMENT,
       "audience.selector"},
      {"gray audience naming nobody", [](Stubs& s) { return StartGray(s, "f1", Audience("")); },
       C::INVALID_ARGUMENT, "audience"},
      {"gray deletion",
       [](Stubs& s) {
         v1::DraftChange c;
         c.set_service("a");
         c.set_key("k1");
         c.set_op(v1::DRAFT_OP_DELETE);
         return StartGray(s, "f1", Audience("zone=a"), {c});
       },
       C::INVALID_ARGUMENT, "changes[0].op"},
      {"gray without changes or draft",
       [](Stubs& s) { return StartGray(s, "f1", Audience("zone=a"), {}); }, C::INVALID_ARGUMENT,
       "changes"},
      {"gray on a reviewed tenant without a draft",
       [](Stubs& s) { return StartGray(s, "pre", Audience("zone=a")); }, C::FAILED_PRECONDITION,
       "draft_id"},
      {"gray in an unknown tenant",
       [](Stubs& s) { return StartGray(s, "nope", Audience("zone=a")); }, C::NOT_FOUND, "tenant"},
      {"promote a gray release that is not open",
       [](Stubs& s) {
         v1::EndGrayRequest r;
         r.set_tenant("f1");
         grpc::ClientContext ctx;
         v1::EndGrayResponse resp;
         return s.release->PromoteGray(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
      {"abort a gray release by a wrong id",
       [](Stubs& s) {
         v1::EndGrayRequest r;
         r.set_tenant("f1");
         r.set_gray_release_id(77);
         grpc::ClientContext ctx;
         v1::EndGrayResponse resp;
         return s.release->AbortGray(&ctx, r, &resp);
       },
       C::NOT_FOUND, "gray_release_id"},
      {"reset of an unknown tenant",
       [](Stubs& s) {
         v1::ResetRequest r;
         r.set_tenant("nope");
         grpc::ClientContext ctx;
         v1::ResetResponse resp;
         return s.release->Reset(&ctx, r, &resp);
       },
       C::NOT_FOUND, "tenant"},
  };
  ASSERT_GE(cases.size(), 25u);

  const std::string before = Fingerprint(s);
  for (const BadInput& c : cases) {
    grpc::Status status = c.call(s);
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_EQ(status.error_message().rfind(c.field + ":", 0), 0u)
        << c.name << ": message does not start with \"" << c.field
        << ":\": " << status.error_message();
    EXPECT_EQ(Fingerprint(s), before) << c.name << " changed the store";
  }
}

}  // namespace
}  // namespace confcenter
