// Secrets never reach a caller without the right to read them, on any read path of the real
// confcenterd: generated keys, a definition's secret_keys and values written with `secret`,
// through Get, List, Resolve, Subscribe (snapshot and live events), SubscribeViews, History,
// releases, Diff, the audit log, tenants, dependency maps, Rollback and confctl export; nor
// reach the server's log (at its most verbose level). The files that hold secrets on the client
// side (the Subscription cache, backups) are readable by their owner only.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/auth_keys.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using confcenter::testing::ConfctlResult;
using confcenter::testing::RunConfctl;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kAdminToken[] = "admin-token-5b0c1e2d3f4a";
constexpr char kReaderToken[] = "reader-token-9e8d7c6b5a4f";
constexpr char kSmtpMarker[] = "SMTP-PASSWORD-MARKER-1f2e3d";
constexpr char kSmtpMarker2[] = "SMTP-PASSWORD-MARKER-TWO-4c5b6a";
constexpr char kFeatSmtpMarker[] = "FEAT-X-SMTP-MARKER-7a8b9c";
constexpr char kPutSecretMarker[] = "PUT-SECRET-MARKER-0d1e2f";
constexpr char kPutSecretMarker2[] = "PUT-SECRET-UNFLAGGED-MARKER-3a4b5c";

const std::set<std::string>& SecretKeys() {
  static const auto* keys =
      new std::set<std::string>{"db.password", "api.token", "smtp.password", "vault.key"};
  return *keys;
}

std::chrono::system_clock::time_point In(std::chrono::seconds d) {
  return std::chrono::system_clock::now() + d;
}

// Every message under `msg` with a `redacted` field whose key (its own `key` field or the
// nearest enclosing message's) is a secret key must be redacted with an empty value.
void ExpectRedacted(const Message& msg, const std::string& where, std::string key = "") {
  const google::protobuf::Descriptor* d = msg.GetDescriptor();
  const Reflection* r = msg.GetReflection();
  if (const FieldDescriptor* k = d->FindFieldByName("key");
      k != nullptr && k->type() == FieldDescriptor::TYPE_STRING && !k->is_repeated()) {
    if (!r->GetString(msg, k).empty()) key = r->GetString(msg, k);
  }
  const FieldDescriptor* redacted = d->FindFieldByName("redacted");
  const FieldDescriptor* value = d->FindFieldByName("value");
  if (redacted != nullptr && value != nullptr && SecretKeys().count(key) > 0) {
    // A delete event or a mask carries no value at all; anything with one must be redacted.
    if (!r->GetString(msg, value).empty() || !r->GetBool(msg, redacted)) {
      ADD_FAILURE() << where << ": key " << key << " not redacted in " << msg.ShortDebugString();
    }
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_map()) continue;
    if (f->is_repeated()) {
      for (int j = 0; j < r->FieldSize(msg, f); ++j) {
        ExpectRedacted(r->GetRepeatedMessage(msg, f, j), where, key);
      }
    } else if (r->HasField(msg, f)) {
      ExpectRedacted(r->GetMessage(msg, f), where, key);
    }
  }
}

class SecretLeakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    confcenter::testing::WriteAdminAndReaderPolicy(dir_.path(), kAdminToken, kReaderToken);
    // The key that seals secrets at rest, outside the data dir; the old keys' file holds the
    // same key until a test rotates.
    std::ofstream(dir_.path() + "/secret.key") << std::string(64, 'c') << "\n";
    std::ofstream(dir_.path() + "/old.key") << std::string(64, 'c') << "\n";
    log_path_ = dir_.path() + "/server.log";
    // ServerProcess's child inherits the test's stdout and stderr (where it logs): point them
    // at a file while it starts.
    fflush(stdout);
    fflush(stderr);
    const int saved_out = dup(1);
    const int saved_err = dup(2);
    const int log_fd = open(log_path_.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{"--auth_policy=" + dir_.path() + "/policy.yaml",
                                 "--secret_key_file=" + dir_.path() + "/secret.key",
                                 "--secret_old_key_files=" + dir_.path() + "/old.key",
                                 "--log_level=trace"});
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(log_fd);
    ASSERT_NE(server_->port(), 0);
    channel_ = server_->Channel();
    config_ = v1::ConfigService::NewStub(channel_);
    tenants_ = v1::TenantService::NewStub(channel_);
    history_ = v1::HistoryService::NewStub(channel_);
    watch_ = v1::WatchService::NewStub(channel_);
  }

  static void Auth(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", std::string("Bearer ") + token);
    ctx->set_deadline(In(std::chrono::seconds(10)));
  }

  int64_t AdminPut(const std::string& tenant, const std::string& key, const std::string& value,
                   bool secret = false) {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::PutRequest req;
    req.set_tenant(tenant);
    req.set_service("orders");
    req.set_key(key);
    req.set_value(value);
    req.set_secret(secret);
    v1::PutResponse resp;
    grpc::Status st = config_->Put(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.revision();
  }

  // Records a response (or an error) read as the reader, for the final leak check.
  void Record(const std::string& what, const grpc::Status& st, const Message* resp) {
    std::string text = what + " status " + std::to_string(st.error_code()) + " " +
                       st.error_message() + " " + st.error_details();
    if (resp != nullptr) {
      text += resp->SerializeAsString();
      text += resp->DebugString();
      ExpectRedacted(*resp, what);
    }
    seen_.emplace_back(what, std::move(text));
  }

  template <typename Resp>
  void ExpectOk(const std::string& what, const grpc::Status& st, const Resp& resp) {
    EXPECT_TRUE(st.ok()) << what << ": " << st.error_code() << " " << st.error_message();
    Record(what, st, &resp);
  }

  // The admin's resolved view of `tenant` (serialized, without its revision), on a channel of
  // its own: usable right after a restart.
  std::string AdminView(const std::string& tenant) {
    v1::ResolveRequest req;
    req.set_tenant(tenant);
    v1::ResolveResponse resp;
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    ctx.set_wait_for_ready(true);  // after the restart, until the channel connects
    ctx.set_deadline(In(std::chrono::seconds(20)));
    // A channel of its own: a shared subchannel may still hold the stopped server's connection.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel =
        grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
    grpc::Status st = v1::ConfigService::NewStub(channel)->Resolve(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    resp.clear_revision();
    return resp.SerializeAsString();
  }

  // Reads a Subscribe stream until its snapshot is complete.
  void ReadSnapshot(grpc::ClientReader<v1::SubscribeResponse>* stream, const std::string& what) {
    v1::SubscribeResponse msg;
    bool done = false;
    while (!done && stream->Read(&msg)) {
      Record(what, grpc::Status::OK, &msg);
      done = msg.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT && msg.snapshot_last();
    }
    ASSERT_TRUE(done) << what << ": the stream ended before its snapshot";
  }

  TempDir dir_;
  std::string log_path_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ConfigService::Stub> config_;
  std::unique_ptr<v1::TenantService::Stub> tenants_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
  std::unique_ptr<v1::WatchService::Stub> watch_;
  std::vector<std::pair<std::string, std::string>> seen_;
};

TEST_F(SecretLeakTest, ReaderNeverSeesSecrets) {
  // --- As admin: the service with generated and declared secrets, values, a branch.
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::RegisterRequest req;
    req.set_tenant("integration");
    v1::ServiceDefinition* def = req.add_services();
    def->set_name("orders");
    def->set_version("1.0.0");
    (*def->mutable_defaults())["plain.key"] = "plain-value";
    v1::GeneratedKey* db = def->add_generated_keys();
    db->set_key("db.password");
    db->set_kind(v1::GENERATED_KEY_KIND_SECRET);
    v1::GeneratedKey* api = def->add_generated_keys();
    api->set_key("api.token");
    api->set_kind(v1::GENERATED_KEY_KIND_TOKEN);
    def->add_secret_keys("smtp.password");
    v1::RegisterResponse resp;
    grpc::Status st = tenants_->Register(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  AdminPut("integration", "smtp.password", kSmtpMarker);
  AdminPut("integration", "vault.key", kPutSecretMarker, /*secret=*/true);
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::RegisterRequest req;
    req.set_tenant("feat-x");
    req.set_parent("integration");
    v1::RegisterResponse resp;
    grpc::Status st = tenants_->Register(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  AdminPut("feat-x", "smtp.password", kFeatSmtpMarker);

  // The secrets, as the admin (who may read them) sees them.
  std::vector<std::string> secrets = {kSmtpMarker, kSmtpMarker2, kFeatSmtpMarker, kPutSecretMarker,
                                      kPutSecretMarker2};
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::ResolveRequest req;
    req.set_tenant("feat-x");
    v1::ResolveResponse resp;
    grpc::Status st = config_->Resolve(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::set<std::string> found;
    for (const v1::ResolvedEntry& e : resp.entries()) {
      if (SecretKeys().count(e.key()) == 0) continue;
      found.insert(e.key());
      EXPECT_TRUE(e.secret()) << e.ShortDebugString();
      EXPECT_FALSE(e.redacted()) << e.ShortDebugString();
      ASSERT_GE(e.value().size(), 16u) << e.ShortDebugString();
      if (e.key() == "db.password" || e.key() == "api.token") secrets.push_back(e.value());
      if (e.key() == "smtp.password") EXPECT_EQ(e.value(), kFeatSmtpMarker);
      if (e.key() == "vault.key") EXPECT_EQ(e.value(), kPutSecretMarker);
    }
    EXPECT_EQ(found, SecretKeys());
  }
  ASSERT_EQ(secrets.size(), 7u);

  // --- As the reader: streams first, so they see a live change to secrets.
  grpc::ClientContext sub_ctx;
  sub_ctx.AddMetadata("authorization", std::string("Bearer ") + kReaderToken);
  sub_ctx.set_deadline(In(std::chrono::seconds(60)));
  v1::SubscribeRequest sub_req;
  sub_req.set_tenant("integration");
  auto sub = watch_->Subscribe(&sub_ctx, sub_req);
  ReadSnapshot(sub.get(), "Subscribe integration");
  grpc::ClientContext sub_feat_ctx;
  sub_feat_ctx.AddMetadata("authorization", std::string("Bearer ") + kReaderToken);
  sub_feat_ctx.set_deadline(In(std::chrono::seconds(60)));
  v1::SubscribeRequest sub_feat_req;
  sub_feat_req.set_tenant("feat-x");
  auto sub_feat = watch_->Subscribe(&sub_feat_ctx, sub_feat_req);
  ReadSnapshot(sub_feat.get(), "Subscribe feat-x");

  grpc::ClientContext views_ctx;
  views_ctx.AddMetadata("authorization", std::string("Bearer ") + kReaderToken);
  views_ctx.set_deadline(In(std::chrono::seconds(60)));
  v1::SubscribeViewsRequest views_req;
  views_req.add_views()->set_tenant("integration");
  views_req.add_views()->set_tenant("feat-x");
  auto views = watch_->SubscribeViews(&views_ctx, views_req);
  {
    std::set<uint32_t> done;
    v1::SubscribeViewsResponse msg;
    while (done.size() < 2 && views->Read(&msg)) {
      Record("SubscribeViews snapshot", grpc::Status::OK, &msg);
      for (const v1::ViewMessage& m : msg.messages()) {
        EXPECT_EQ(m.end_code(), 0) << m.end_message();
        if (m.message().kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT &&
            m.message().snapshot_last()) {
          done.insert(m.views().begin(), m.views().end());
        }
      }
    }
    ASSERT_EQ(done.size(), 2u) << "SubscribeViews ended before both snapshots";
  }

  // The admin changes secrets: a declared secret key, and a `secret` key rewritten without
  // the flag (it stays secret), then a plain key last so every stream has a known end.
  AdminPut("integration", "smtp.password", kSmtpMarker2);
  AdminPut("integration", "vault.key", kPutSecretMarker2);
  const int64_t last = AdminPut("integration", "plain.key", "changed");
  auto read_events = [&](grpc::ClientReader<v1::SubscribeResponse>* stream, const std::string& what,
                         std::set<std::string> expect_keys) {
    v1::SubscribeResponse msg;
    int64_t revision = 0;
    while (revision < last && stream->Read(&msg)) {
      Record(what, grpc::Status::OK, &msg);
      revision = msg.revision();
      for (const v1::WatchEvent& e : msg.events()) {
        expect_keys.erase(e.key());
        if (SecretKeys().count(e.key()) > 0) {
          EXPECT_TRUE(e.secret()) << what << " " << e.ShortDebugString();
          EXPECT_TRUE(e.redacted()) << what << " " << e.ShortDebugString();
        }
      }
    }
    EXPECT_GE(revision, last) << what << ": the stream ended early";
    EXPECT_TRUE(expect_keys.empty()) << what << ": no event for " << *expect_keys.begin();
  };
  read_events(sub.get(), "Subscribe integration events",
              {"smtp.password", "vault.key", "plain.key"});
  // feat-x overrides smtp.password: its view changes in vault.key and plain.key only.
  read_events(sub_feat.get(), "Subscribe feat-x events", {"vault.key", "plain.key"});
  {
    v1::SubscribeViewsResponse msg;
    int64_t revision[2] = {0, 0};
    while ((revision[0] < last || revision[1] < last) && views->Read(&msg)) {
      Record("SubscribeViews events", grpc::Status::OK, &msg);
      for (const v1::ViewMessage& m : msg.messages()) {
        for (uint32_t v : m.views()) {
          if (v < 2) revision[v] = m.message().revision();
        }
      }
    }
    EXPECT_GE(revision[0], last);
    EXPECT_GE(revision[1], last);
  }
  sub_ctx.TryCancel();
  sub_feat_ctx.TryCancel();
  views_ctx.TryCancel();

  // Unary reads.
  for (const std::string tenant : {"integration", "feat-x"}) {
    for (const std::string& key : SecretKeys()) {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::GetRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      req.set_key(key);
      v1::GetResponse resp;
      grpc::Status st = config_->Get(&ctx, req, &resp);
      // feat-x owns only smtp.password; the others are NOT_FOUND there.
      if (tenant == "integration" || key == "smtp.password") {
        ExpectOk("Get " + tenant + " " + key, st, resp);
        EXPECT_TRUE(resp.entry().redacted()) << resp.ShortDebugString();
      } else {
        Record("Get " + tenant + " " + key, st, &resp);
      }
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::ListRequest req;
      req.set_tenant(tenant);
      v1::ListResponse resp;
      ExpectOk("List " + tenant, config_->List(&ctx, req, &resp), resp);
      EXPECT_GT(resp.entries_size(), 0);
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::ResolveRequest req;
      req.set_tenant(tenant);
      v1::ResolveResponse resp;
      ExpectOk("Resolve " + tenant, config_->Resolve(&ctx, req, &resp), resp);
      int redacted = 0;
      for (const v1::ResolvedEntry& e : resp.entries()) redacted += e.redacted();
      EXPECT_EQ(redacted, 4) << resp.ShortDebugString();
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::HistoryRequest req;
      req.set_tenant(tenant);
      req.set_page_size(1000);
      v1::HistoryResponse resp;
      ExpectOk("History " + tenant, history_->History(&ctx, req, &resp), resp);
      EXPECT_GT(resp.versions_size(), 0);
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::ListReleasesRequest req;
      req.set_tenant(tenant);
      req.set_page_size(1000);
      v1::ListReleasesResponse resp;
      ExpectOk("ListReleases " + tenant, history_->ListReleases(&ctx, req, &resp), resp);
      for (const v1::Release& rel : resp.releases()) {
        grpc::ClientContext get_ctx;
        Auth(&get_ctx, kReaderToken);
        v1::GetReleaseRequest get_req;
        get_req.set_release_id(rel.release_id());
        v1::GetReleaseResponse get_resp;
        ExpectOk("GetRelease " + std::to_string(rel.release_id()),
                 history_->GetRelease(&get_ctx, get_req, &get_resp), get_resp);
      }
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::GetTenantRequest req;
      req.set_tenant(tenant);
      v1::GetTenantResponse resp;
      ExpectOk("GetTenant " + tenant, tenants_->GetTenant(&ctx, req, &resp), resp);
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::ResolveDependenciesRequest req;
      req.set_tenant(tenant);
      req.set_service("orders");
      v1::ResolveDependenciesResponse resp;
      ExpectOk("ResolveDependencies " + tenant, tenants_->ResolveDependencies(&ctx, req, &resp),
               resp);
    }
  }
  // Every revision of every release, as the reader (GetRelease of ids not listed per tenant).
  for (int64_t id = 1; id <= last; ++id) {
    grpc::ClientContext ctx;
    Auth(&ctx, kReaderToken);
    v1::GetReleaseRequest req;
    req.set_release_id(id);
    v1::GetReleaseResponse resp;
    grpc::Status st = history_->GetRelease(&ctx, req, &resp);
    Record("GetRelease #" + std::to_string(id), st, &resp);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kReaderToken);
    v1::DiffRequest req;
    req.set_mode(v1::DIFF_MODE_TENANTS);
    req.set_tenant("feat-x");
    req.set_other_tenant("integration");
    v1::DiffResponse resp;
    ExpectOk("Diff TENANTS", history_->Diff(&ctx, req, &resp), resp);
    EXPECT_GT(resp.entries_size(), 0);
  }
  for (const std::string tenant : {"integration", "feat-x"}) {
    for (bool own : {false, true}) {
      grpc::ClientContext ctx;
      Auth(&ctx, kReaderToken);
      v1::DiffRequest req;
      req.set_mode(v1::DIFF_MODE_REVISIONS);
      req.set_tenant(tenant);
      req.set_from_revision(1);
      req.set_own_entries(own);
      v1::DiffResponse resp;
      ExpectOk("Diff REVISIONS " + tenant, history_->Diff(&ctx, req, &resp), resp);
      EXPECT_GT(resp.entries_size(), 0);
    }
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kReaderToken);
    v1::DiffRequest req;
    req.set_mode(v1::DIFF_MODE_PARENT);
    req.set_tenant("feat-x");
    v1::DiffResponse resp;
    ExpectOk("Diff PARENT", history_->Diff(&ctx, req, &resp), resp);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kReaderToken);
    v1::ListTenantsRequest req;
    v1::ListTenantsResponse resp;
    ExpectOk("ListTenants", tenants_->ListTenants(&ctx, req, &resp), resp);
    EXPECT_EQ(resp.tenants_size(), 2);
  }
  // The reader may not audit nor roll back; the denials carry no secrets either.
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kReaderToken);
    v1::QueryAuditRequest req;
    v1::QueryAuditResponse resp;
    grpc::Status st = history_->QueryAudit(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    Record("QueryAudit (reader)", st, &resp);
  }
  for (const std::string& key : SecretKeys()) {
    grpc::ClientContext ctx;
    Auth(&ctx, kReaderToken);
    v1::RollbackRequest req;
    req.set_tenant("integration");
    req.set_service("orders");
    req.set_key(key);
    req.set_to_revision(1);
    req.set_dry_run(true);
    v1::RollbackResponse resp;
    grpc::Status st = history_->Rollback(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    Record("Rollback dry_run " + key, st, &resp);
  }
  // The audit log holds no values, so not even the admin reads secrets there.
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::QueryAuditRequest req;
    req.set_page_size(1000);
    v1::QueryAuditResponse resp;
    ExpectOk("QueryAudit (admin)", history_->QueryAudit(&ctx, req, &resp), resp);
    // ... but it records who read them: the admin's Resolve of feat-x named the keys; the
    // reader, who saw them redacted, read none.
    bool admin_read_secrets = false;
    for (const v1::AuditEntry& e : resp.entries()) {
      const bool reads_secrets = absl::StartsWith(e.detail(), "read ");
      EXPECT_FALSE(reads_secrets && e.user() == "token:reader") << e.ShortDebugString();
      if (reads_secrets && e.user() == "token:admin" && e.rpc() == "ConfigService.Resolve" &&
          std::find(e.keys().begin(), e.keys().end(), "feat-x/orders/db.password") !=
              e.keys().end()) {
        admin_read_secrets = true;
      }
    }
    EXPECT_TRUE(admin_read_secrets) << resp.ShortDebugString();
  }
  // confctl as the reader.
  for (const std::string tenant : {"integration", "feat-x"}) {
    for (const std::string format : {"yaml", "json", "properties"}) {
      ConfctlResult r =
          RunConfctl({"--token", kReaderToken, "export", tenant, "orders", "--format", format},
                     server_->address());
      EXPECT_EQ(r.exit_code, 0) << r.err;
      seen_.emplace_back("confctl export " + tenant + " " + format, r.out + r.err);
    }
    ConfctlResult r = RunConfctl(
        {"--token", kReaderToken, "-o", "json", "get", tenant, "orders", "smtp.password"},
        server_->address());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    seen_.emplace_back("confctl get " + tenant, r.out + r.err);
  }

  ASSERT_GT(seen_.size(), 40u);
  for (const auto& [what, text] : seen_) {
    for (const std::string& secret : secrets) {
      EXPECT_EQ(text.find(secret), std::string::npos)
          << what << " holds the secret " << secret << ":\n"
          << text;
    }
  }

  // What the admin sees, to compare after a restart.
  auto admin_view = [&](const std::string& tenant) { return AdminView(tenant); };
  const std::string integration_before = admin_view("integration");
  const std::string feat_before = admin_view("feat-x");

  // The server's log (at debug) holds none of them either.
  EXPECT_EQ(server_->Stop(), 0);
  std::ifstream in(log_path_);
  std::stringstream log;
  log << in.rdbuf();
  // (The capture works: the start-up line is there.)
  EXPECT_NE(log.str().find("serving gRPC"), std::string::npos) << log.str();
  for (const std::string& secret : secrets) {
    EXPECT_EQ(log.str().find(secret), std::string::npos) << "the server log holds " << secret;
  }

  // Nor does any file of the data dir, now that the server has stopped (memtables flushed,
  // the WAL closed): secrets are sealed at rest. (A store without --secret_key_file holds
  // them: tests/storage/secret_seal_test.cc checks that this scan would see them.)
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_.path() + "/data")) {
    if (!f.is_regular_file()) continue;
    std::ifstream file(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    for (const std::string& secret : secrets) {
      EXPECT_EQ(bytes.find(secret), std::string::npos) << f.path() << " holds " << secret;
    }
  }
  // And they open again after the restart: the admin sees the same views.
  ASSERT_TRUE(server_->Restart());
  EXPECT_EQ(admin_view("integration"), integration_before);
  EXPECT_EQ(admin_view("feat-x"), feat_before);
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST_F(SecretLeakTest, FilesHoldingSecretsAreOwnerOnly) {
  {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::RegisterRequest req;
    req.set_tenant("integration");
    v1::ServiceDefinition* def = req.add_services();
    def->set_name("orders");
    v1::GeneratedKey* db = def->add_generated_keys();
    db->set_key("db.password");
    db->set_kind(v1::GENERATED_KEY_KIND_SECRET);
    v1::RegisterResponse resp;
    grpc::Status st = tenants_->Register(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const int64_t rev = AdminPut("integration", "smtp.password", kSmtpMarker, /*secret=*/true);

  // The Subscription's cache, as the admin: it holds the secrets.
  const std::string cache = dir_.path() + "/cache/orders.view";
  std::filesystem::create_directories(dir_.path() + "/cache");
  {
    SubscriptionOptions opts;
    opts.tenant = "integration";
    opts.cache_file = cache;
    opts.credentials.token = kAdminToken;
    std::unique_ptr<Subscription> subscription = Subscription::Start(channel_, opts);
    ASSERT_TRUE(subscription->WaitForRevision(rev, absl::Seconds(20)));
    EXPECT_EQ(subscription->GetString("orders", "smtp.password", ""), kSmtpMarker);
  }
  ASSERT_TRUE(std::filesystem::exists(cache));
  EXPECT_EQ(Mode(cache), 0600u);

  // A backup, as the admin.
  const std::string backup = dir_.path() + "/backup";
  ConfctlResult r = RunConfctl({"--token", kAdminToken, "backup", backup}, server_->address());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(backup)) {
    if (entry.is_regular_file()) {
      ++files;
      EXPECT_EQ(Mode(entry.path().string()), 0600u) << entry.path();
    }
  }
  EXPECT_GT(files, 0);
}

// Rotation, online: with a new key in --secret_key_file and the old one in
// --secret_old_key_files, RotateSecretKey (admins only, audited) re-seals every stored secret
// value, current and historical, while the server serves; the old key can then go, and a
// restart with the new key alone opens everything, history included.
TEST_F(SecretLeakTest, RotatingTheKeyReSealsEverySecretOnlineAndTheOldKeyCanGo) {
  for (const auto& [tenant, parent] :
       {std::pair<std::string, std::string>{"integration", ""}, {"feat-x", "integration"}}) {
    grpc::ClientContext ctx;
    Auth(&ctx, kAdminToken);
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    req.set_parent(parent);
    // A generated secret too: sealed by the server itself.
    v1::ServiceDefinition* def = req.add_services();
    def->set_name("orders");
    v1::GeneratedKey* db = def->add_generated_keys();
    db->set_key("db.password");
    db->set_kind(v1::GENERATED_KEY_KIND_SECRET);
    v1::RegisterResponse resp;
    grpc::Status st = tenants_->Register(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  AdminPut("integration", "smtp.password", kSmtpMarker, /*secret=*/true);
  AdminPut("integration", "smtp.password", kSmtpMarker2, /*secret=*/true);
  AdminPut("feat-x", "smtp.password", kFeatSmtpMarker, /*secret=*/true);

  // Nothing to rotate to yet: the key file still holds the key in use.
  ConfctlResult unchanged =
      RunConfctl({"--token", kAdminToken, "rotate-secret-key"}, server_->address());
  EXPECT_NE(unchanged.exit_code, 0);
  EXPECT_NE(unchanged.err.find("still holds key"), std::string::npos) << unchanged.err;
  std::ofstream(dir_.path() + "/secret.key") << std::string(64, 'd') << "\n";
  ConfctlResult denied =
      RunConfctl({"--token", kReaderToken, "rotate-secret-key"}, server_->address());
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("PERMISSION_DENIED"), std::string::npos) << denied.err;
  ConfctlResult rotated =
      RunConfctl({"--token", kAdminToken, "-o", "json", "rotate-secret-key"}, server_->address());
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  const nlohmann::json report = nlohmann::json::parse(rotated.out);
  const std::string new_id = report.value("primary_key_id", "");
  ASSERT_EQ(report["old_key_ids"].size(), 1u) << rotated.out;
  EXPECT_NE(report["old_key_ids"][0].get<std::string>(), new_id);
  // Three current entries... at least the values, their change sets and history versions.
  EXPECT_GE(std::stoll(report.value("records_resealed", "0")), 9) << rotated.out;
  EXPECT_EQ(report.value("records_remaining", "0"), "0") << rotated.out;
  // Written after the rotation: sealed with the new key at once.
  AdminPut("integration", "late.password", kPutSecretMarker, /*secret=*/true);
  const std::string integration_before = AdminView("integration");
  const std::string feat_before = AdminView("feat-x");
  EXPECT_NE(integration_before.find(kSmtpMarker2), std::string::npos);
  ConfctlResult audit =
      RunConfctl({"--token", kAdminToken, "-o", "json", "audit"}, server_->address());
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("AdminService.RotateSecretKey"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("-> " + new_id), std::string::npos) << audit.out;

  // The old key goes: the server starts with the new one alone and reads everything.
  std::ofstream(dir_.path() + "/old.key") << std::string(64, 'd') << "\n";
  ASSERT_EQ(server_->Stop(), 0);
  ASSERT_TRUE(server_->Restart());
  EXPECT_EQ(AdminView("integration"), integration_before);
  EXPECT_EQ(AdminView("feat-x"), feat_before);
  // History: the first version, written under the old key, reads back.
  grpc::ClientContext ctx;
  Auth(&ctx, kAdminToken);
  ctx.set_wait_for_ready(true);
  v1::HistoryRequest req;
  req.set_tenant("integration");
  req.set_service("orders");
  req.set_key("smtp.password");
  v1::HistoryResponse resp;
  grpc::Status st = v1::HistoryService::NewStub(server_->Channel())->History(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_NE(resp.DebugString().find(kSmtpMarker), std::string::npos) << resp.DebugString();
}

}  // namespace
}  // namespace confcenter
