// Access control end to end: the real confcenterd with a real policy file, static tokens and
// JWTs signed by keys made here, every RPC called by every kind of identity on protected and
// unprotected tenants; instance rights derived from service definitions, CI token scope, the
// audit's naming of callers, forged tokens, policy reload and the secure-by-default start-up.
#include <signal.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "confcenter/v1/access.grpc.pb.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/release.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using ::confcenter::testing::ServerProcess;
using ::confcenter::testing::TempDir;
using ::confcenter::testing::TestKey;
using ::confcenter::testing::WriteFile;

constexpr char kIntegration[] = "integration";
constexpr char kFeatX[] = "feat-x";
constexpr char kFeatY[] = "feat-y";
const char* const kTenants[] = {kIntegration, kFeatX, kFeatY};

// Static tokens: name -> secret.
const std::vector<std::pair<std::string, std::string>> kStaticTokens = {
    {"ops", "tok-ops-5b1f"},
    {"reader", "tok-reader-77aa"},
    {"secret-reader", "tok-secret-reader-0c3e"},
    {"editor", "tok-editor-91d2"},
    {"publisher", "tok-publisher-4e60"},
    {"auditor", "tok-auditor-a8b4"},
    {"deployer", "tok-deployer-3f19"},
    {"flip", "tok-flip-e2c7"},
};

std::string StaticToken(const std::string& name) {
  for (const auto& [n, t] : kStaticTokens) {
    if (n == name) return t;
  }
  ADD_FAILURE() << "no static token " << name;
  return "";
}

// Writes `content` to `path` as a deployment tool would: a temporary file renamed over it.
void ReplaceFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  WriteFile(tmp, content);
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

// The policy of the shared server. `flip_role` is the role of the "flip" token (reload test).
std::string PolicyYaml(const std::string& dir, const std::string& flip_role = "reader") {
  return absl::StrCat(R"(authentication:
  static_tokens_file: )",
                      dir, R"(/tokens.yaml
  jwt_issuers:
    - issuer: )",
                      testing::kKubernetesIssuer, R"(
      audiences: [confcenter]
      jwks_file: )",
                      dir, R"(/k8s-jwks.json
    - issuer: )",
                      testing::kGitLabIssuer, R"(
      audiences: [confcenter]
      jwks_file: )",
                      dir, R"(/gitlab-jwks.json
    - issuer: )",
                      testing::kGitHubIssuer, R"(
      audiences: [confcenter]
      jwks_file: )",
                      dir, R"(/github-jwks.json
protected:
  tenants: [integration]
  roles: [admin]
bindings:
  - subjects: [{kind: token, name: ops}]
    roles: [admin]
    tenants: ["*"]
  - subjects: [{kind: token, name: reader}]
    roles: [reader]
    tenants: ["feat-*"]
  - subjects: [{kind: token, name: secret-reader}]
    roles: [secret-reader]
    tenants: ["feat-*"]
  - subjects: [{kind: token, name: editor}]
    roles: [editor]
    tenants: ["feat-*"]
  - subjects: [{kind: token, name: deployer}]
    roles: [editor]
    tenants: ["feat-*"]
    act_for_others: true
  - subjects: [{kind: token, name: publisher}]
    roles: [publisher]
    tenants: [integration]
  - subjects: [{kind: token, name: auditor}]
    roles: [auditor]
    tenants: ["*"]
  - subjects: [{kind: token, name: flip}]
    roles: [)",
                      flip_role, R"(]
    tenants: ["feat-*"]
  - subjects:
      - kind: jwt
        issuer: )",
                      testing::kGitLabIssuer, R"(
        claims: {project_path: "team/*", ref_type: branch}
    roles: [cd, editor]
    tenants: ["{branch}"]
  - subjects:
      - kind: jwt
        issuer: )",
                      testing::kGitHubIssuer, R"(
        claims: {repository: "team/*"}
    roles: [cd, editor]
    tenants: ["{branch}"]
  - subjects:
      - kind: jwt
        issuer: )",
                      testing::kKubernetesIssuer, R"(
        name: "system:serviceaccount:*:*"
    roles: [instance]
    tenants: ["{namespace}"]
    service: "{serviceaccount}"
)");
}

// Every stub, and the metadata a caller sends.
class Api {
 public:
  explicit Api(const std::shared_ptr<grpc::Channel>& channel)
      : config(v1::ConfigService::NewStub(channel)),
        tenants(v1::TenantService::NewStub(channel)),
        history(v1::HistoryService::NewStub(channel)),
        watch(v1::WatchService::NewStub(channel)),
        admin(v1::AdminService::NewStub(channel)),
        access(v1::AccessService::NewStub(channel)),
        release(v1::ReleaseService::NewStub(channel)) {}

  // `token` empty = no credentials; `user` non-empty = the x-confcenter-user header.
  static void Prepare(grpc::ClientContext* ctx, const std::string& token,
                      const std::string& user = "") {
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    if (!user.empty()) ctx->AddMetadata("x-confcenter-user", user);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  grpc::Status Put(const std::string& token, const std::string& tenant, const std::string& service,
                   const std::string& key, const std::string& value,
                   v1::PutResponse* resp = nullptr, const std::string& user = "") {
    v1::PutRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    req.set_value(value);
    v1::PutResponse local;
    grpc::ClientContext ctx;
    Prepare(&ctx, token, user);
    return config->Put(&ctx, req, resp ? resp : &local);
  }
  grpc::Status Get(const std::string& token, const std::string& tenant, const std::string& service,
                   const std::string& key, v1::GetResponse* resp) {
    v1::GetRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    return config->Get(&ctx, req, resp);
  }
  grpc::Status Resolve(const std::string& token, const std::string& tenant,
                       const std::vector<std::string>& services, v1::ResolveResponse* resp) {
    v1::ResolveRequest req;
    req.set_tenant(tenant);
    for (const auto& s : services) req.add_services(s);
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    return config->Resolve(&ctx, req, resp);
  }
  grpc::Status Register(const std::string& token, const v1::RegisterRequest& req,
                        v1::RegisterResponse* resp = nullptr) {
    v1::RegisterResponse local;
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    return tenants->Register(&ctx, req, resp ? resp : &local);
  }
  grpc::Status GetTenant(const std::string& token, const std::string& tenant,
                         v1::GetTenantResponse* resp) {
    v1::GetTenantRequest req;
    req.set_tenant(tenant);
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    return tenants->GetTenant(&ctx, req, resp);
  }
  grpc::Status WhoAmI(const std::string& token, const std::string& tenant,
                      v1::WhoAmIResponse* resp) {
    v1::WhoAmIRequest req;
    req.set_tenant(tenant);
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    return access->WhoAmI(&ctx, req, resp);
  }
  // Every page of the audit of `tenant`, filtered by `user` if given.
  grpc::Status QueryAudit(const std::string& token, const std::string& tenant,
                          v1::QueryAuditResponse* resp, const std::string& user = "") {
    v1::QueryAuditRequest req;
    req.set_tenant(tenant);
    req.set_user(user);
    resp->Clear();
    for (int page = 0; page < 1000; ++page) {
      v1::QueryAuditResponse part;
      grpc::ClientContext ctx;
      Prepare(&ctx, token);
      grpc::Status st = history->QueryAudit(&ctx, req, &part);
      if (!st.ok()) return st;
      for (auto& e : *part.mutable_entries()) *resp->add_entries() = std::move(e);
      if (part.next_page_token().empty()) break;
      req.set_page_token(part.next_page_token());
    }
    return grpc::Status::OK;
  }
  grpc::Status History(const std::string& token, const std::string& tenant,
                       const std::string& service, const std::string& key,
                       v1::HistoryResponse* resp) {
    v1::HistoryRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    return history->History(&ctx, req, resp);
  }

  std::unique_ptr<v1::ConfigService::Stub> config;
  std::unique_ptr<v1::TenantService::Stub> tenants;
  std::unique_ptr<v1::HistoryService::Stub> history;
  std::unique_ptr<v1::WatchService::Stub> watch;
  std::unique_ptr<v1::AdminService::Stub> admin;
  std::unique_ptr<v1::AccessService::Stub> access;
  std::unique_ptr<v1::ReleaseService::Stub> release;
};

// A server-streaming call's outcome: OK once the first message arrived, else the stream's
// status.
template <typename Response>
grpc::Status FirstMessage(grpc::ClientContext* ctx, grpc::ClientReaderInterface<Response>* reader,
                          Response* first) {
  if (reader->Read(first)) {
    ctx->TryCancel();
    while (reader->Read(first)) {
    }
    reader->Finish().ok();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

v1::ServiceDefinition Definition(const std::string& name) {
  v1::ServiceDefinition d;
  d.set_name(name);
  d.set_version("1.2.0");
  d.set_protocol(v1::PROTOCOL_GRPC);
  v1::Endpoint* grpc = d.add_endpoints();
  grpc->set_name("grpc");
  grpc->set_port(9090);
  return d;
}

// orders: depends on payments, a generated secret db.password, smtp.password declared secret.
v1::ServiceDefinition Orders() {
  v1::ServiceDefinition d = Definition("orders");
  v1::Dependency* payments = d.add_dependencies();
  payments->set_service("payments");
  payments->set_range("^1.0");
  v1::GeneratedKey* password = d.add_generated_keys();
  password->set_key("db.password");
  password->set_kind(v1::GENERATED_KEY_KIND_SECRET);
  password->set_length(24);
  d.add_secret_keys("smtp.password");
  return d;
}

v1::RegisterRequest RegisterRequest(const std::string& tenant, const std::string& parent,
                                    std::vector<v1::ServiceDefinition> defs = {}) {
  v1::RegisterRequest r;
  r.set_tenant(tenant);
  if (parent.empty()) {
    r.set_root(true);
  } else {
    r.set_parent(parent);
  }
  for (auto& d : defs) *r.add_services() = std::move(d);
  return r;
}

// The keys, signing keys, tokens and the one server the tests share.
struct World {
  TempDir dir;
  TestKey k8s_key = TestKey::Rsa("k8s-1");
  TestKey gitlab_key = TestKey::Rsa("gitlab-1");
  TestKey github_key = TestKey::Ec("github-1");
  std::string policy_file;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<Api> api;
  std::string admin = StaticToken("ops");
  std::string cd;                             // GitLab CI token for branch feat/x
  std::string instance;                       // k8s SA system:serviceaccount:feat-x:orders
  std::map<std::string, int64_t> release_of;  // tenant -> a release touching only it

  void WriteAuthFiles() {
    testing::WriteStaticTokensFile(dir.path() + "/tokens.yaml", kStaticTokens);
    testing::WriteJwks(dir.path() + "/k8s-jwks.json", {k8s_key});
    testing::WriteJwks(dir.path() + "/gitlab-jwks.json", {gitlab_key});
    testing::WriteJwks(dir.path() + "/github-jwks.json", {github_key});
    policy_file = dir.path() + "/policy.yaml";
    WriteFile(policy_file, PolicyYaml(dir.path()));
    const absl::Time now = absl::Now();
    cd = testing::SignJwt(
        gitlab_key, {},
        testing::GitLabClaims("team/shop", "feat/x", "branch", now, absl::Hours(1)));
    instance = testing::SignJwt(k8s_key, {},
                                testing::KubernetesClaims("feat-x", "orders", now, absl::Hours(1)));
  }
};

World* world = nullptr;

class AccessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world = new World;
    world->WriteAuthFiles();
    world->server = std::make_unique<ServerProcess>(
        world->dir.path() + "/data",
        std::vector<std::string>{"--auth_policy=" + world->policy_file,
                                 "--auth_reload_interval=100ms", "--unsafe_no_fsync"});
    ASSERT_NE(world->server->port(), 0);
    world->api = std::make_unique<Api>(world->server->Channel());
    Api& api = *world->api;
    const std::string& admin = world->admin;
    ASSERT_TRUE(api.Register(admin, RegisterRequest(kIntegration, "",
                                                    {Orders(), Definition("payments"),
                                                     Definition("billing"), Definition("victim")}))
                    .ok());
    for (const char* t : {kFeatX, kFeatY}) {
      grpc::Status st =
          api.Register(admin, RegisterRequest(t, kIntegration, {Definition("victim")}));
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    ASSERT_TRUE(api.Put(admin, kIntegration, "payments", "api.key", "pay-secret-ish").ok());
    ASSERT_TRUE(api.Put(admin, kIntegration, "billing", "rate", "7").ok());
    for (const char* t : kTenants) {
      ASSERT_TRUE(api.Put(admin, t, "orders", "k", absl::StrCat("v-", t)).ok());
      v1::TxnRequest txn;
      v1::TxnOp* op = txn.add_ops();
      op->set_type(v1::TXN_OP_TYPE_PUT);
      op->set_tenant(t);
      op->set_service("orders");
      op->set_key("released");
      op->set_value("1");
      txn.set_release_message(absl::StrCat("release of ", t));
      v1::TxnResponse resp;
      grpc::ClientContext ctx;
      Api::Prepare(&ctx, admin);
      ASSERT_TRUE(api.config->Txn(&ctx, txn, &resp).ok());
      world->release_of[t] = resp.revision();
    }
  }
  static void TearDownTestSuite() {
    delete world;
    world = nullptr;
  }
  Api& api() { return *world->api; }
};

// ---------------------------------------------------------------------------------------------
// The matrix.

enum class Rpc {
  kPut,
  kGet,
  kDelete,
  kMask,
  kList,
  kResolve,
  kTxn,
  kRegister,
  kDeregister,
  kGetTenant,
  kListTenants,
  kResolveDependencies,
  kTouch,
  kHistory,
  kListReleases,
  kGetRelease,
  kRollback,
  kDiff,
  kQueryAudit,
  kSubscribe,
  kSubscribeViews,
  kBackup,
  kWhoAmI,
};
constexpr Rpc kAllRpcs[] = {Rpc::kPut,        Rpc::kGet,         Rpc::kDelete,
                            Rpc::kMask,       Rpc::kList,        Rpc::kResolve,
                            Rpc::kTxn,        Rpc::kRegister,    Rpc::kDeregister,
                            Rpc::kGetTenant,  Rpc::kListTenants, Rpc::kResolveDependencies,
                            Rpc::kTouch,      Rpc::kHistory,     Rpc::kListReleases,
                            Rpc::kGetRelease, Rpc::kRollback,    Rpc::kDiff,
                            Rpc::kQueryAudit, Rpc::kSubscribe,   Rpc::kSubscribeViews,
                            Rpc::kBackup,     Rpc::kWhoAmI};

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kPut:
      return "Put";
    case Rpc::kGet:
      return "Get";
    case Rpc::kDelete:
      return "Delete";
    case Rpc::kMask:
      return "Mask";
    case Rpc::kList:
      return "List";
    case Rpc::kResolve:
      return "Resolve";
    case Rpc::kTxn:
      return "Txn";
    case Rpc::kRegister:
      return "Register";
    case Rpc::kDeregister:
      return "Deregister";
    case Rpc::kGetTenant:
      return "GetTenant";
    case Rpc::kListTenants:
      return "ListTenants";
    case Rpc::kResolveDependencies:
      return "ResolveDependencies";
    case Rpc::kTouch:
      return "Touch";
    case Rpc::kHistory:
      return "History";
    case Rpc::kListReleases:
      return "ListReleases";
    case Rpc::kGetRelease:
      return "GetRelease";
    case Rpc::kRollback:
      return "Rollback";
    case Rpc::kDiff:
      return "Diff";
    case Rpc::kQueryAudit:
      return "QueryAudit";
    case Rpc::kSubscribe:
      return "Subscribe";
    case Rpc::kSubscribeViews:
      return "SubscribeViews";
    case Rpc::kBackup:
      return "Backup";
    case Rpc::kWhoAmI:
      return "WhoAmI";
  }
  return "?";
}

// What an identity holds, stated independently of the server: the tenants of each right.
struct Identity {
  std::string name;
  std::string token;  // empty: no credentials
  bool authenticated = true;
  bool admin = false;  // admin on "*"
  std::set<std::string> read, write, reg, publish, audit;
  std::string instance_tenant;  // instance of orders in this tenant
};

Identity Make(std::string name, std::string token) {
  Identity id;
  id.name = std::move(name);
  id.token = std::move(token);
  return id;
}

std::vector<Identity> Identities() {
  const std::set<std::string> all = {kIntegration, kFeatX, kFeatY};
  const std::set<std::string> feat = {kFeatX, kFeatY};
  std::vector<Identity> out;
  Identity admin = Make("admin", StaticToken("ops"));
  admin.admin = true;
  admin.read = admin.write = admin.reg = admin.publish = admin.audit = all;
  out.push_back(admin);
  Identity reader = Make("reader", StaticToken("reader"));
  reader.read = feat;
  out.push_back(reader);
  Identity secret_reader = Make("secret-reader", StaticToken("secret-reader"));
  secret_reader.read = feat;
  out.push_back(secret_reader);
  Identity editor = Make("editor", StaticToken("editor"));
  editor.read = editor.write = feat;
  out.push_back(editor);
  Identity publisher = Make("publisher", StaticToken("publisher"));
  publisher.read = publisher.write = publisher.publish = {kIntegration};
  out.push_back(publisher);
  Identity auditor = Make("auditor", StaticToken("auditor"));
  auditor.audit = all;
  out.push_back(auditor);
  Identity cd = Make("cd", world->cd);
  cd.read = cd.write = cd.reg = {kFeatX};
  out.push_back(cd);
  Identity instance = Make("instance", world->instance);
  instance.instance_tenant = kFeatX;
  out.push_back(instance);
  Identity forged = Make("forged", "tok-forged-00000000");
  forged.authenticated = false;
  out.push_back(forged);
  Identity none = Make("none", "");
  none.authenticated = false;
  out.push_back(none);
  return out;
}

// The expected outcome of a cell: a code and, for PERMISSION_DENIED, the right named.
struct Expect {
  grpc::StatusCode code;
  std::string right;         // PERMISSION_DENIED: the right the message names
  bool tenant_wide = false;  // the message names "every tenant" rather than the tenant
};

Expect Expected(const Identity& id, Rpc rpc, const std::string& tenant) {
  const Expect ok{grpc::StatusCode::OK, ""};
  auto denied = [](const std::string& right) {
    return Expect{grpc::StatusCode::PERMISSION_DENIED, right};
  };
  if (!id.authenticated) return {grpc::StatusCode::UNAUTHENTICATED, ""};
  const bool is_protected = tenant == kIntegration;
  switch (rpc) {
    case Rpc::kWhoAmI:
    case Rpc::kListTenants:
      return ok;
    case Rpc::kBackup:
      return id.admin ? ok : Expect{grpc::StatusCode::PERMISSION_DENIED, "admin", true};
    case Rpc::kGet:
    case Rpc::kList:
    case Rpc::kResolve:
    case Rpc::kResolveDependencies:
    case Rpc::kSubscribe:
    case Rpc::kSubscribeViews:  // service-scoped reads: instances too
      return id.read.count(tenant) || id.instance_tenant == tenant ? ok : denied("read");
    case Rpc::kGetTenant:
    case Rpc::kHistory:
    case Rpc::kListReleases:
    case Rpc::kGetRelease:
    case Rpc::kDiff:  // tenant-wide reads
      return id.read.count(tenant) ? ok : denied("read");
    case Rpc::kPut:
    case Rpc::kDelete:
    case Rpc::kMask:
    case Rpc::kTxn:
      if (!id.write.count(tenant)) return denied("write");
      return is_protected && !id.publish.count(tenant) ? denied("publish") : ok;
    case Rpc::kRegister:
    case Rpc::kDeregister:
    case Rpc::kTouch:
      if (!id.reg.count(tenant)) return denied("register");
      return is_protected && !id.admin ? denied("manage-protected") : ok;
    case Rpc::kRollback:
      return id.publish.count(tenant) ? ok : denied("publish");
    case Rpc::kQueryAudit:
      return id.audit.count(tenant) ? ok : denied("audit");
  }
  return ok;
}

bool IsWrite(Rpc rpc) {
  return rpc == Rpc::kPut || rpc == Rpc::kDelete || rpc == Rpc::kMask || rpc == Rpc::kTxn ||
         rpc == Rpc::kRollback;
}

// Runs one cell; checks the code, the denial message and that a refused call changed nothing.
void RunCell(Api& api, const Identity& id, Rpc rpc, const std::string& tenant, int* cells) {
  SCOPED_TRACE(absl::StrCat(id.name, " x ", RpcName(rpc), " x ", tenant));
  ++*cells;
  const std::string& admin = world->admin;
  const Expect want = Expected(id, rpc, tenant);
  const bool allowed = want.code == grpc::StatusCode::OK;
  const std::string cell_key = absl::StrCat("m.", id.name, ".", RpcName(rpc));
  const std::string probe = absl::StrCat("probe-", id.name);
  // The writes' target: a key of the cell's own, with a known value and revision.
  v1::PutResponse before;
  int64_t first_revision = 0;
  if (IsWrite(rpc)) {
    ASSERT_TRUE(api.Put(admin, tenant, "orders", cell_key, "orig", &before).ok());
    if (rpc == Rpc::kRollback) {
      first_revision = before.revision();
      ASSERT_TRUE(api.Put(admin, tenant, "orders", cell_key, "orig2", &before).ok());
    }
  }
  grpc::ClientContext ctx;
  Api::Prepare(&ctx, id.token);
  grpc::Status st;
  switch (rpc) {
    case Rpc::kPut: {
      v1::PutRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key(cell_key);
      req.set_value("changed");
      v1::PutResponse resp;
      st = api.config->Put(&ctx, req, &resp);
      break;
    }
    case Rpc::kGet: {
      v1::GetRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key("k");
      v1::GetResponse resp;
      st = api.config->Get(&ctx, req, &resp);
      if (st.ok()) {
        EXPECT_EQ(resp.entry().value(), absl::StrCat("v-", tenant));
      }
      break;
    }
    case Rpc::kDelete: {
      v1::DeleteRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key(cell_key);
      v1::DeleteResponse resp;
      st = api.config->Delete(&ctx, req, &resp);
      break;
    }
    case Rpc::kMask: {
      v1::MaskRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key(cell_key);
      v1::MaskResponse resp;
      st = api.config->Mask(&ctx, req, &resp);
      break;
    }
    case Rpc::kList: {
      v1::ListRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      v1::ListResponse resp;
      st = api.config->List(&ctx, req, &resp);
      if (st.ok()) {
        EXPECT_GT(resp.entries_size(), 0);
      }
      break;
    }
    case Rpc::kResolve: {
      v1::ResolveRequest req;
      req.set_tenant(tenant);
      req.add_services("orders");
      v1::ResolveResponse resp;
      st = api.config->Resolve(&ctx, req, &resp);
      if (st.ok()) {
        EXPECT_GT(resp.entries_size(), 0);
      }
      break;
    }
    case Rpc::kTxn: {
      v1::TxnRequest req;
      v1::TxnOp* op = req.add_ops();
      op->set_type(v1::TXN_OP_TYPE_PUT);
      op->set_tenant(tenant);
      op->set_service("orders");
      op->set_key(cell_key);
      op->set_value("changed");
      v1::TxnResponse resp;
      st = api.config->Txn(&ctx, req, &resp);
      break;
    }
    case Rpc::kRegister: {
      v1::RegisterRequest req;
      req.set_tenant(tenant);
      *req.add_services() = Definition(probe);
      v1::RegisterResponse resp;
      st = api.tenants->Register(&ctx, req, &resp);
      break;
    }
    case Rpc::kDeregister: {
      // Allowed callers remove what is absent (idempotent, OK); refused ones try the victim.
      v1::DeregisterRequest req;
      req.set_tenant(tenant);
      req.add_services(allowed ? "absent" : "victim");
      v1::DeregisterResponse resp;
      st = api.tenants->Deregister(&ctx, req, &resp);
      break;
    }
    case Rpc::kGetTenant: {
      v1::GetTenantRequest req;
      req.set_tenant(tenant);
      v1::GetTenantResponse resp;
      st = api.tenants->GetTenant(&ctx, req, &resp);
      if (st.ok()) {
        EXPECT_EQ(resp.tenant().name(), tenant);
      }
      break;
    }
    case Rpc::kListTenants: {
      v1::ListTenantsRequest req;
      v1::ListTenantsResponse resp;
      st = api.tenants->ListTenants(&ctx, req, &resp);
      if (st.ok()) {  // filtered to the readable tenants
        std::set<std::string> got;
        for (const auto& t : resp.tenants()) got.insert(t.name());
        EXPECT_EQ(got, id.read);
      }
      break;
    }
    case Rpc::kResolveDependencies: {
      v1::ResolveDependenciesRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      v1::ResolveDependenciesResponse resp;
      st = api.tenants->ResolveDependencies(&ctx, req, &resp);
      break;
    }
    case Rpc::kTouch: {
      v1::TouchRequest req;
      req.set_tenant(tenant);
      v1::TouchResponse resp;
      st = api.tenants->Touch(&ctx, req, &resp);
      break;
    }
    case Rpc::kHistory: {
      v1::HistoryRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key("k");
      v1::HistoryResponse resp;
      st = api.history->History(&ctx, req, &resp);
      if (st.ok()) {
        EXPECT_GT(resp.versions_size(), 0);
      }
      break;
    }
    case Rpc::kListReleases: {
      v1::ListReleasesRequest req;
      req.set_tenant(tenant);
      v1::ListReleasesResponse resp;
      st = api.history->ListReleases(&ctx, req, &resp);
      break;
    }
    case Rpc::kGetRelease: {
      v1::GetReleaseRequest req;
      req.set_release_id(world->release_of[tenant]);
      v1::GetReleaseResponse resp;
      st = api.history->GetRelease(&ctx, req, &resp);
      if (st.ok()) {
        EXPECT_EQ(resp.release().message(), absl::StrCat("release of ", tenant));
      }
      break;
    }
    case Rpc::kRollback: {
      // Allowed callers dry-run; refused ones try for real.
      v1::RollbackRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key(cell_key);
      req.set_to_revision(first_revision);
      req.set_dry_run(allowed);
      v1::RollbackResponse resp;
      st = api.history->Rollback(&ctx, req, &resp);
      break;
    }
    case Rpc::kDiff: {
      v1::DiffRequest req;
      req.set_mode(v1::DIFF_MODE_TENANTS);
      req.set_tenant(tenant);
      req.set_other_tenant(tenant);
      v1::DiffResponse resp;
      st = api.history->Diff(&ctx, req, &resp);
      break;
    }
    case Rpc::kQueryAudit: {
      v1::QueryAuditRequest req;
      req.set_tenant(tenant);
      req.set_page_size(5);
      v1::QueryAuditResponse resp;
      st = api.history->QueryAudit(&ctx, req, &resp);
      break;
    }
    case Rpc::kSubscribe: {
      v1::SubscribeRequest req;
      req.set_tenant(tenant);
      req.add_services("orders");
      auto reader = api.watch->Subscribe(&ctx, req);
      v1::SubscribeResponse first;
      st = FirstMessage(&ctx, reader.get(), &first);
      if (st.ok()) {
        EXPECT_EQ(first.kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
      }
      break;
    }
    case Rpc::kSubscribeViews: {
      v1::SubscribeViewsRequest req;
      v1::SubscribeRequest* view = req.add_views();
      view->set_tenant(tenant);
      view->add_services("orders");
      auto reader = api.watch->SubscribeViews(&ctx, req);
      v1::SubscribeViewsResponse first;
      st = FirstMessage(&ctx, reader.get(), &first);
      if (st.ok()) {
        ASSERT_GT(first.messages_size(), 0);
        EXPECT_EQ(first.messages(0).end_code(), 0) << first.messages(0).end_message();
      }
      break;
    }
    case Rpc::kBackup: {
      // Read to the end: one backup runs at a time.
      auto reader = api.admin->Backup(&ctx, v1::BackupRequest());
      v1::BackupResponse first;
      v1::BackupResponse next;
      const bool any = reader->Read(&first);
      while (reader->Read(&next)) {
      }
      st = reader->Finish();
      if (st.ok()) {
        EXPECT_TRUE(any && first.has_manifest());
      }
      break;
    }
    case Rpc::kWhoAmI: {
      v1::WhoAmIRequest req;
      req.set_tenant(tenant);
      v1::WhoAmIResponse resp;
      st = api.access->WhoAmI(&ctx, req, &resp);
      break;
    }
  }
  EXPECT_EQ(st.error_code(), want.code) << st.error_message();
  if (want.code == grpc::StatusCode::PERMISSION_DENIED) {
    const std::string where =
        want.tenant_wide ? std::string("every tenant") : absl::StrCat("tenant \"", tenant, "\"");
    EXPECT_TRUE(absl::StrContains(st.error_message(),
                                  absl::StrCat("\"", want.right, "\" right on ", where)))
        << st.error_message();
  }
  if (allowed) return;
  // Refused: nothing changed.
  if (IsWrite(rpc)) {
    v1::GetResponse now;
    ASSERT_TRUE(api.Get(admin, tenant, "orders", cell_key, &now).ok());
    EXPECT_EQ(now.entry().value(), before.entry().value());
    EXPECT_EQ(now.entry().revision(), before.entry().revision());
    EXPECT_EQ(now.entry().kind(), v1::ENTRY_KIND_VALUE);
  } else if (rpc == Rpc::kRegister || rpc == Rpc::kDeregister) {
    v1::GetTenantResponse t;
    ASSERT_TRUE(api.GetTenant(admin, tenant, &t).ok());
    std::set<std::string> services;
    for (const auto& s : t.tenant().services()) services.insert(s.definition().name());
    EXPECT_EQ(services.count(probe), 0u);
    EXPECT_EQ(services.count("victim"), 1u);
  }
}

TEST_F(AccessTest, Matrix) {
  int cells = 0;
  for (const Identity& id : Identities()) {
    for (Rpc rpc : kAllRpcs) {
      for (const char* tenant : kTenants) RunCell(api(), id, rpc, tenant, &cells);
    }
  }
  EXPECT_GE(cells, 150);
  std::printf("access matrix: %d cells\n", cells);
}

// The orders instance of feat-x reads its own view with secrets, only the endpoints of its
// dependency, nothing of other services or tenants.
TEST_F(AccessTest, InstanceRightsFollowDefinitions) {
  const std::string& instance = world->instance;
  v1::ResolveResponse own;
  ASSERT_TRUE(api().Resolve(instance, kFeatX, {"orders"}, &own).ok());
  v1::ResolveResponse truth;
  ASSERT_TRUE(api().Resolve(world->admin, kFeatX, {"orders"}, &truth).ok());
  std::string real_password;
  for (const auto& e : truth.entries()) {
    if (e.key() == "db.password") real_password = e.value();
  }
  ASSERT_FALSE(real_password.empty());
  bool seen = false;
  for (const auto& e : own.entries()) {
    if (e.key() != "db.password") continue;
    seen = true;
    EXPECT_EQ(e.value(), real_password);
    EXPECT_TRUE(e.secret());
    EXPECT_FALSE(e.redacted());
  }
  EXPECT_TRUE(seen);

  v1::ResolveResponse dep;
  ASSERT_TRUE(api().Resolve(instance, kFeatX, {"payments"}, &dep).ok());
  ASSERT_GT(dep.entries_size(), 0);
  for (const auto& e : dep.entries()) {
    EXPECT_TRUE(absl::StartsWith(e.key(), "_endpoint.")) << e.key();
  }
  v1::ResolveResponse none;
  grpc::Status st = api().Resolve(instance, kFeatX, {"billing"}, &none);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "\"read\" right on tenant \"feat-x\""))
      << st.error_message();
  st = api().Resolve(instance, kFeatY, {"orders"}, &none);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "tenant \"feat-y\"")) << st.error_message();
}

// A CI token registers the tenant of its branch and nothing else.
TEST_F(AccessTest, CiTokenScope) {
  const absl::Time now = absl::Now();
  const std::string github = testing::SignJwt(
      world->github_key, {}, testing::GitHubClaims("team/shop", "refs/heads/feat/x", now));
  for (const std::string& token : {world->cd, github}) {
    SCOPED_TRACE(token == world->cd ? "gitlab" : "github");
    grpc::Status st = api().Register(token, RegisterRequest(kFeatX, kIntegration));
    EXPECT_TRUE(st.ok()) << st.error_message();
    st = api().Register(token, RegisterRequest(kFeatY, kIntegration, {Definition("ci-intruder")}));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_TRUE(absl::StrContains(st.error_message(), "tenant \"feat-y\"")) << st.error_message();
    st = api().Register(token, RegisterRequest(kIntegration, "", {Definition("ci-intruder")}));
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_TRUE(absl::StrContains(st.error_message(), "tenant \"integration\""))
        << st.error_message();
  }
  for (const char* t : {kFeatY, kIntegration}) {
    v1::GetTenantResponse resp;
    ASSERT_TRUE(api().GetTenant(world->admin, t, &resp).ok());
    for (const auto& s : resp.tenant().services()) {
      EXPECT_NE(s.definition().name(), "ci-intruder");
    }
  }
  // A tag pipeline's token names no branch: no grant at all.
  const std::string tag = testing::SignJwt(
      world->gitlab_key, {}, testing::GitLabClaims("team/shop", "v1.0.0", "tag", now));
  EXPECT_EQ(api().Register(tag, RegisterRequest(kFeatX, kIntegration)).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// The release workflow's rights: review is an admin's; drafts need write, also where direct
// writes need more; publishing needs publish; promotion needs read on its source.
TEST_F(AccessTest, ReleaseWorkflowRights) {
  Api& a = api();
  const std::string& admin = world->admin;
  const std::string editor = StaticToken("editor");
  const std::string reader = StaticToken("reader");
  const std::string publisher = StaticToken("publisher");
  ASSERT_TRUE(
      a.Register(admin, RegisterRequest("feat-rel", kIntegration, {Definition("rel")})).ok());
  auto set_review = [&](const std::string& token) {
    v1::SetReviewRequest r;
    r.set_tenant("feat-rel");
    r.mutable_review()->set_drafts_required(true);
    grpc::ClientContext ctx;
    Api::Prepare(&ctx, token);
    v1::SetReviewResponse resp;
    return a.release->SetReview(&ctx, r, &resp);
  };
  EXPECT_EQ(set_review(editor).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(set_review(reader).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(set_review(admin).ok());

  auto create = [&](const std::string& token, const std::string& tenant, int64_t* id) {
    v1::CreateDraftRequest r;
    r.set_tenant(tenant);
    v1::DraftChange* c = r.add_changes();
    c->set_service("rel");
    c->set_key("k");
    c->set_op(v1::DRAFT_OP_PUT);
    c->set_value(token.substr(0, 8));
    grpc::ClientContext ctx;
    Api::Prepare(&ctx, token);
    v1::DraftResponse resp;
    grpc::Status st = a.release->CreateDraft(&ctx, r, &resp);
    if (id != nullptr) *id = resp.draft().draft_id();
    return st;
  };
  auto publish = [&](const std::string& token, const std::string& tenant, int64_t id) {
    v1::PublishDraftRequest r;
    r.set_tenant(tenant);
    r.set_draft_id(id);
    grpc::ClientContext ctx;
    Api::Prepare(&ctx, token);
    v1::PublishDraftResponse resp;
    return a.release->PublishDraft(&ctx, r, &resp);
  };
  // The editor drafts on the reviewed tenant but may neither write it directly nor publish.
  EXPECT_EQ(a.Put(editor, "feat-rel", "rel", "k", "direct").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  int64_t draft = 0;
  ASSERT_TRUE(create(editor, "feat-rel", &draft).ok());
  EXPECT_EQ(create(reader, "feat-rel", nullptr).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    v1::ListDraftsRequest r;
    r.set_tenant("feat-rel");
    grpc::ClientContext ctx;
    Api::Prepare(&ctx, reader);
    v1::ListDraftsResponse resp;
    ASSERT_TRUE(a.release->ListDrafts(&ctx, r, &resp).ok());
    ASSERT_EQ(resp.drafts_size(), 1);
    EXPECT_EQ(resp.drafts(0).author(), "token:editor");
  }
  grpc::Status st = publish(editor, "feat-rel", draft);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "\"publish\"")) << st.error_message();
  ASSERT_TRUE(publish(admin, "feat-rel", draft).ok());

  // On the protected integration a publisher publishes what the admin drafted.
  ASSERT_TRUE(create(admin, kIntegration, &draft).ok());
  EXPECT_EQ(publish(editor, kIntegration, draft).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(publish(publisher, kIntegration, draft).ok());

  // Promotion reads its source: the editor has no read on integration.
  auto promote = [&](const std::string& token) {
    v1::PromoteRequest r;
    r.set_from_tenant(kIntegration);
    r.set_to_tenant("feat-rel");
    r.add_services("rel");
    grpc::ClientContext ctx;
    Api::Prepare(&ctx, token);
    v1::PromoteResponse resp;
    return a.release->Promote(&ctx, r, &resp);
  };
  EXPECT_EQ(promote(editor).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(promote(admin).ok());
  v1::DeregisterRequest remove;
  remove.set_tenant("feat-rel");
  remove.set_all(true);
  grpc::ClientContext ctx;
  Api::Prepare(&ctx, admin);
  v1::DeregisterResponse removed;
  ASSERT_TRUE(a.tenants->Deregister(&ctx, remove, &removed).ok());
}

// The audit and history name the authenticated identity, never a header it sends.
TEST_F(AccessTest, AuditNamesTheAuthenticatedIdentity) {
  ASSERT_TRUE(
      api()
          .Put(StaticToken("editor"), kFeatX, "orders", "audit.spoof", "1", nullptr, "mallory")
          .ok());
  ASSERT_TRUE(
      api()
          .Put(StaticToken("deployer"), kFeatX, "orders", "audit.behalf", "1", nullptr, "alice")
          .ok());
  EXPECT_EQ(api().Put(StaticToken("reader"), kFeatX, "orders", "audit.denied", "1").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::HistoryResponse h;
  ASSERT_TRUE(api().History(world->admin, kFeatX, "orders", "audit.spoof", &h).ok());
  ASSERT_EQ(h.versions_size(), 1);
  EXPECT_EQ(h.versions(0).author(), "token:editor");
  ASSERT_TRUE(api().History(world->admin, kFeatX, "orders", "audit.behalf", &h).ok());
  ASSERT_EQ(h.versions_size(), 1);
  EXPECT_EQ(h.versions(0).author(), "token:deployer on behalf of alice");

  v1::QueryAuditResponse audit;
  grpc::Status st = api().QueryAudit(StaticToken("auditor"), kFeatX, &audit);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::map<std::string, const v1::AuditEntry*> by_key;
  for (const auto& e : audit.entries()) {
    EXPECT_FALSE(absl::StrContains(e.user(), "mallory")) << e.user();
    for (const auto& k : e.keys()) by_key[std::string(absl::StripPrefix(k, "feat-x/orders/"))] = &e;
  }
  v1::QueryAuditResponse as_mallory;
  ASSERT_TRUE(api().QueryAudit(StaticToken("auditor"), kFeatX, &as_mallory, "mallory").ok());
  EXPECT_EQ(as_mallory.entries_size(), 0);
  ASSERT_TRUE(by_key.count("audit.spoof"));
  EXPECT_EQ(by_key["audit.spoof"]->user(), "token:editor");
  ASSERT_TRUE(by_key.count("audit.behalf"));
  EXPECT_EQ(by_key["audit.behalf"]->user(), "token:deployer on behalf of alice");
  bool denied_seen = false;
  for (const auto& e : audit.entries()) {
    if (e.user() == "token:reader" && e.error_code() == "PERMISSION_DENIED" &&
        e.rpc() == "ConfigService.Put") {
      denied_seen = true;
    }
  }
  EXPECT_TRUE(denied_seen);
}

// Forged and invalid tokens are refused at the door and write nothing.
TEST_F(AccessTest, TokenAttacks) {
  const absl::Time now = absl::Now();
  const nlohmann::json claims = testing::GitLabClaims("team/shop", "feat/x", "branch", now);
  nlohmann::json other = claims;
  other["ref"] = "feat/y";
  const std::map<std::string, std::string> attacks = {
      {"expired", testing::ExpiredJwt(world->gitlab_key, claims, now)},
      {"wrong audience", testing::WrongAudienceJwt(world->gitlab_key, claims)},
      {"wrong issuer", testing::WrongIssuerJwt(world->gitlab_key, claims)},
      {"not yet valid", testing::NotYetValidJwt(world->gitlab_key, claims, now)},
      {"alg none", testing::AlgNoneJwt(claims)},
      {"tampered", testing::TamperedJwt(world->cd, other)},
      {"key confusion pem",
       testing::KeyConfusionJwt(world->gitlab_key, claims, testing::ConfusionSecret::kPem)},
      {"key confusion jwk",
       testing::KeyConfusionJwt(world->gitlab_key, claims, testing::ConfusionSecret::kJwkJson)},
      {"unknown signer", testing::SignJwt(TestKey::Rsa("gitlab-1"), {}, claims)},
  };
  for (const auto& [name, token] : attacks) {
    SCOPED_TRACE(name);
    for (const char* t : {kFeatX, kFeatY}) {
      grpc::Status st = api().Put(token, t, "orders", "attack", name);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    }
    v1::WhoAmIResponse who;
    EXPECT_EQ(api().WhoAmI(token, "", &who).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  for (const char* t : {kFeatX, kFeatY}) {
    v1::GetResponse got;
    EXPECT_EQ(api().Get(world->admin, t, "orders", "attack", &got).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

// A rewritten policy takes effect without a restart; a broken one leaves the old in force.
TEST(AccessReloadTest, PolicyReload) {
  World w;
  w.WriteAuthFiles();
  ServerProcess server(
      w.dir.path() + "/data",
      {"--auth_policy=" + w.policy_file, "--auth_reload_interval=100ms", "--unsafe_no_fsync"});
  ASSERT_NE(server.port(), 0);
  Api api(server.Channel());
  ASSERT_TRUE(api.Register(w.admin, RegisterRequest(kIntegration, "")).ok());
  ASSERT_TRUE(api.Register(w.admin, RegisterRequest(kFeatX, kIntegration)).ok());
  const std::string flip = StaticToken("flip");
  auto roles = [&] {
    v1::WhoAmIResponse who;
    grpc::Status st = api.WhoAmI(flip, kFeatX, &who);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::set<std::string> out;
    for (const auto& g : who.grants()) out.insert(g.role());
    return out;
  };
  EXPECT_EQ(roles(), std::set<std::string>{"reader"});
  EXPECT_EQ(api.Put(flip, kFeatX, "orders", "k", "1").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  ReplaceFile(w.policy_file, PolicyYaml(w.dir.path(), "editor"));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (roles() != std::set<std::string>{"editor"} && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling interval, not a wait for time
  }
  ASSERT_EQ(roles(), std::set<std::string>{"editor"});
  grpc::Status st = api.Put(flip, kFeatX, "orders", "k", "1");
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GE(testing::ScrapeMetric(server.admin_port(), "confcenter_auth_policy_reloads_total"), 1);

  // Broken: an unknown role. The server counts the failed reload; the old policy stays.
  ReplaceFile(w.policy_file, PolicyYaml(w.dir.path(), "wizard"));
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (testing::ScrapeMetric(server.admin_port(),
                               "confcenter_auth_policy_reload_failures_total") < 1 &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));  // polling interval, not a wait for time
  }
  ASSERT_EQ(
      testing::ScrapeMetric(server.admin_port(), "confcenter_auth_policy_reload_failures_total"),
      1);
  EXPECT_EQ(roles(), std::set<std::string>{"editor"});
  st = api.Put(flip, kFeatX, "orders", "k", "2");
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(kill(server.pid(), 0), 0);  // still up
  v1::WhoAmIResponse who;
  EXPECT_TRUE(api.WhoAmI(w.admin, "", &who).ok());
}

// Without a policy the server refuses to listen beyond loopback unless told it is insecure.
TEST(AccessSecureByDefaultTest, NonLoopbackNeedsPolicy) {
  TempDir dir;
  std::string output;
  const std::vector<std::string> base = {"--listen=0.0.0.0:0", "--admin_listen=127.0.0.1:0",
                                         "--http_listen=127.0.0.1:0",
                                         "--data_dir=" + dir.path() + "/data"};
  const int code = testing::RunServerToExit(base, &output, {}, 20);
  EXPECT_GT(code, 0) << output;
  EXPECT_TRUE(absl::StrContains(output, "--auth_policy")) << output;
  int reason_lines = 0;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StrContains(line, "--auth_policy")) ++reason_lines;
  }
  EXPECT_EQ(reason_lines, 1) << output;

  std::vector<std::string> insecure = base;
  insecure.push_back("--insecure_no_auth");
  EXPECT_EQ(testing::RunServerToExit(insecure, &output, {}, 2), -1) << output;
}

}  // namespace
}  // namespace confcenter
