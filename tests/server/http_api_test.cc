// The HTTP/JSON API (server/api/http_gateway.h) against the real confcenterd: every unary RPC
// over POST with canonical JSON, bad requests answered with clear errors that change nothing,
// the same authentication and audit as gRPC, and Subscribe as Server-Sent Events resumed with
// Last-Event-ID without a gap.
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "confcenter/v1/access.grpc.pb.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/api/http_gateway.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"

namespace confcenter::testing {
namespace {

using Json = nlohmann::json;

constexpr char kAdminToken[] = "http-admin-token-0a1b2c3d";
constexpr char kReaderToken[] = "http-reader-token-4e5f6a7b";

struct Reply {
  int status = 0;
  Json body;
  std::string text;
  std::string retry_after;
};

class HttpApiTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> flags = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(flags));
    ASSERT_NE(server_->port(), 0);
    ASSERT_NE(server_->http_port(), 0);
  }

  Reply Post(const std::string& path, const std::string& body, const std::string& token = "") {
    httplib::Client http("127.0.0.1", server_->http_port());
    http.set_read_timeout(30, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", std::string("Bearer ") + token);
    httplib::Result res = http.Post(path.c_str(), headers, body, "application/json");
    Reply reply;
    if (!res) {
      ADD_FAILURE() << path << ": no answer (" << httplib::to_string(res.error()) << ")";
      return reply;
    }
    reply.status = res->status;
    reply.text = res->body;
    reply.retry_after = res->get_header_value("Retry-After");
    reply.body = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    return reply;
  }

  // The store's revision, as Resolve of integration answers it.
  int64_t Revision() {
    Reply r = Post("/v1/ConfigService/Resolve", R"({"tenant":"integration"})", admin_token_);
    int64_t revision = 0;
    EXPECT_TRUE(absl::SimpleAtoi(r.body.value("revision", "0"), &revision)) << r.text;
    return revision;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string admin_token_;
};

// Every unary RPC of every service, in a table: a request in JSON and what must come back.
// The table is checked against the API's descriptors, so a new RPC without a row fails here.
TEST_F(HttpApiTest, EveryUnaryRpcAnswersOverPostInTheCanonicalJsonMapping) {
  StartServer();
  struct Row {
    std::string rpc;
    std::string body;
    int status;
    std::string expect;  // a substring of the response body
  };
  const std::vector<Row> rows = {
      {"TenantService/Register",
       R"({"tenant":"integration","services":[{"name":"orders","version":"1.0.0",)"
       R"("endpoints":[{"name":"grpc","port":9000}]}]})",
       200, "\"revision\""},
      {"TenantService/Register",
       R"({"tenant":"feat-x","parent":"integration","services":[{"name":"orders"}],)"
       R"("ttl":"3600s"})",
       200, "\"revision\""},
      {"ConfigService/Put", R"({"tenant":"integration","service":"orders","key":"a","value":"1"})",
       200, "\"revision\""},
      {"ConfigService/Put", R"({"tenant":"feat-x","service":"orders","key":"a","value":"2"})", 200,
       "\"revision\""},
      {"ConfigService/Get", R"({"tenant":"feat-x","service":"orders","key":"a"})", 200,
       "\"value\":\"2\""},
      // lowerCamelCase out, and proto names accepted in.
      {"ConfigService/Resolve", R"({"tenant":"feat-x","services":["orders"]})", 200,
       "\"sourceTenant\":\"feat-x\""},
      {"ConfigService/List", R"({"tenant":"integration"})", 200, "\"key\":\"a\""},
      {"ConfigService/Mask", R"({"tenant":"feat-x","service":"orders","key":"m"})", 200,
       "\"revision\""},
      {"ConfigService/Delete", R"({"tenant":"feat-x","service":"orders","key":"m"})", 200,
       "\"revision\""},
      {"ConfigService/Txn",
       R"({"ops":[{"type":"TXN_OP_TYPE_PUT","tenant":"integration","service":"orders",)"
       R"("key":"c","value":"3"}],"release_message":"from curl"})",
       200, "\"revision\""},
      {"TenantService/GetTenant", R"({"tenant":"feat-x"})", 200, "\"parent\":\"integration\""},
      {"TenantService/ListTenants", R"({})", 200, "feat-x"},
      {"TenantService/ResolveDependencies", R"({"tenant":"feat-x","service":"orders"})", 200,
       "\"revision\""},
      {"TenantService/Touch", R"({"tenant":"feat-x"})", 200, "\"expireTime\""},
      {"HistoryService/History", R"({"tenant":"feat-x","service":"orders","key":"a"})", 200,
       "\"value\":\"2\""},
      {"HistoryService/ListReleases", R"({"tenant":"integration"})", 200, "from curl"},
      {"HistoryService/GetRelease", R"({"release_id":"999"})", 404, "\"status\":\"NOT_FOUND\""},
      {"HistoryService/Rollback",
       R"({"tenant":"feat-x","service":"orders","key":"a","to_revision":"4","dry_run":true})", 200,
       "\"dryRun\":true"},
      {"HistoryService/Diff", R"({"mode":"DIFF_MODE_PARENT","tenant":"feat-x"})", 200,
       "\"key\":\"a\""},
      {"HistoryService/QueryAudit", R"({"tenant":"feat-x"})", 200, "ConfigService.Put"},
      {"HistoryService/Explain", R"({"tenant":"feat-x","service":"orders","key":"a"})", 200,
       "\"decides\":true"},
      {"AdminService/CompactHistory", R"({"older_than":"3600s"})", 200, "\"storeBytesAfter\""},
      {"AdminService/RotateSecretKey", R"({})", 400, "--secret_key_file"},
      {"AccessService/WhoAmI", R"({})", 200, "admin"},
      {"InstanceService/ListInstances", R"({"tenant":"feat-x"})", 200, "\"revision\""},
      {"InstanceService/WaitApplied", R"({"tenant":"feat-x","revision":"2","timeout":"1s"})", 200,
       "\"allApplied\":true"},
      {"InstanceService/ReportInstance", R"({"tenant":"feat-x","instance_id":"nobody"})", 404,
       "instance_id"},
      {"ReleaseService/SetReview", R"({"tenant":"feat-x","review":{"drafts_required":true}})", 200,
       "\"draftsRequired\":true"},
      {"ReleaseService/CreateDraft",
       R"({"tenant":"feat-x","message":"m","changes":[{"service":"orders","key":"a",)"
       R"("op":"DRAFT_OP_PUT","value":"3"}]})",
       200, "\"draftId\""},
      {"ReleaseService/ListDrafts", R"({"tenant":"feat-x"})", 200, "\"changeCount\":1"},
      {"ReleaseService/GetDraft", R"({"tenant":"feat-x","draft_id":"999"})", 404, "draft_id"},
      {"ReleaseService/UpdateDraft", R"({"tenant":"feat-x","draft_id":"999"})", 404, "draft_id"},
      {"ReleaseService/DiscardDraft", R"({"tenant":"feat-x","draft_id":"999"})", 404, "draft_id"},
      {"ReleaseService/PublishDraft", R"({"tenant":"feat-x","draft_id":"999"})", 404, "draft_id"},
      {"ReleaseService/Promote",
       R"({"from_tenant":"integration","to_tenant":"feat-x","dry_run":true})", 200,
       "\"dryRun\":true"},
      {"ReleaseService/Reset", R"({"tenant":"feat-x","dry_run":true})", 200, "\"dryRun\":true"},
      {"ReleaseService/GetGray", R"({"tenant":"feat-x"})", 404, "no open gray release"},
      {"ReleaseService/StartGray",
       R"({"tenant":"integration","audience":{"selector":"zone=canary"},)"
       R"("changes":[{"service":"orders","key":"g","op":"DRAFT_OP_PUT","value":"1"}]})",
       200, "\"grayReleaseId\""},
      {"ReleaseService/AbortGray", R"({"tenant":"integration"})", 200, "\"revision\""},
      {"ReleaseService/PromoteGray", R"({"tenant":"integration"})", 404, "no open gray release"},
      {"TenantService/Deregister", R"({"tenant":"feat-x","all":true})", 200, "\"revision\""},
  };
  std::set<std::string> covered;
  for (const Row& row : rows) {
    const Reply reply = Post("/v1/" + row.rpc, row.body);
    EXPECT_EQ(reply.status, row.status) << row.rpc << " " << row.body << "\n" << reply.text;
    EXPECT_NE(reply.text.find(row.expect), std::string::npos)
        << row.rpc << ": no " << row.expect << " in " << reply.text;
    EXPECT_FALSE(reply.body.is_discarded()) << row.rpc << ": not JSON: " << reply.text;
    covered.insert(row.rpc);
  }
  // Every unary method of the API has a row.
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* service :
       {"ConfigService", "TenantService", "WatchService", "HistoryService", "AdminService",
        "AccessService", "InstanceService", "ReleaseService"}) {
    const google::protobuf::ServiceDescriptor* s =
        pool->FindServiceByName(absl::StrCat("confcenter.v1.", service));
    ASSERT_NE(s, nullptr) << service;
    for (int i = 0; i < s->method_count(); ++i) {
      if (s->method(i)->server_streaming()) continue;
      const std::string rpc = absl::StrCat(service, "/", s->method(i)->name());
      EXPECT_TRUE(covered.count(rpc)) << rpc << " has no row in the table";
    }
  }
}

TEST_F(HttpApiTest, BadRequestsGetClearErrorsAndChangeNothing) {
  StartServer({"--max_request_bytes=65536", "--max_value_bytes=4096"});
  ASSERT_EQ(Post("/v1/TenantService/Register",
                 R"({"tenant":"integration","services":[{"name":"orders"}]})")
                .status,
            200);
  const int64_t before = Revision();
  struct Bad {
    std::string path, body;
    int status;
    std::string code, message;
  };
  const std::vector<Bad> bad = {
      {"/v1/ConfigService/Put", R"({"tenant":"integration",)", 400, "INVALID_ARGUMENT",
       "body: not a valid confcenter.v1.PutRequest in JSON"},
      {"/v1/ConfigService/Put", R"({"tenant":"integration","service":"orders","bogus":1})", 400,
       "INVALID_ARGUMENT", "bogus"},
      {"/v1/ConfigService/Put", R"({"tenant":5,"service":"orders","key":"k","value":"v"})", 400,
       "INVALID_ARGUMENT", "tenant"},
      {"/v1/ConfigService/Put",
       R"({"tenant":"integration","service":"orders","key":"k",)"
       R"("value":"v","expected_revision":"x"})",
       400, "INVALID_ARGUMENT", "expected_revision"},
      {"/v1/ConfigService/Put", "[1,2]", 400, "INVALID_ARGUMENT", "body"},
      {"/v1/ConfigService/Put", "{\"tenant\":\"\xff\xfe\"}", 400, "INVALID_ARGUMENT", "body"},
      // Validated by the server as over gRPC, naming the field.
      {"/v1/ConfigService/Put", R"({"tenant":"Not A Name","service":"orders","key":"k"})", 400,
       "INVALID_ARGUMENT", "tenant:"},
      {"/v1/ConfigService/Put",
       absl::StrCat(R"({"tenant":"integration","service":"orders","key":"k","value":")",
                    std::string(8192, 'v'), "\"}"),
       400, "INVALID_ARGUMENT", "value:"},
      {"/v1/ConfigService/Put",
       absl::StrCat(R"({"tenant":"integration","service":"orders","key":"k","value":")",
                    std::string(70000, 'v'), "\"}"),
       413, "RESOURCE_EXHAUSTED", "--max_request_bytes"},
      {"/v1/ConfigService/Put", R"({"tenant":"nobody","service":"orders","key":"k","value":"v"})",
       404, "NOT_FOUND", "nobody"},
      {"/v1/ConfigService/Nope", "{}", 501, "UNIMPLEMENTED", "ConfigService/Nope"},
      {"/v1/NoService/Put", "{}", 501, "UNIMPLEMENTED", "NoService/Put"},
      {"/elsewhere", "{}", 404, "NOT_FOUND", "/v1/<Service>/<Method>"},
  };
  for (const Bad& b : bad) {
    const Reply reply = Post(b.path, b.body);
    EXPECT_EQ(reply.status, b.status) << b.path << " " << b.body.substr(0, 80) << "\n"
                                      << reply.text;
    EXPECT_EQ(reply.body.value("status", ""), b.code) << reply.text;
    EXPECT_GT(reply.body.value("code", 0), 0) << reply.text;
    EXPECT_NE(reply.body.value("message", "").find(b.message), std::string::npos)
        << b.path << ": the message does not name " << b.message << ": " << reply.text;
  }
  // A unary RPC is POST only.
  httplib::Client http("127.0.0.1", server_->http_port());
  httplib::Result get = http.Get("/v1/ConfigService/Resolve?tenant=integration");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  EXPECT_EQ(Revision(), before) << "a bad request changed the store";
}

TEST_F(HttpApiTest, CredentialsRightsAndAuditAreGrpcs) {
  StartServer(
      {"--auth_policy=" + WriteAdminAndReaderPolicy(dir_.path(), kAdminToken, kReaderToken)});
  admin_token_ = kAdminToken;
  const std::string put = R"({"tenant":"integration","service":"orders","key":"k","value":"v"})";
  ASSERT_EQ(Post("/v1/TenantService/Register", R"({"tenant":"integration"})", kAdminToken).status,
            200);
  const Reply anonymous = Post("/v1/ConfigService/Put", put);
  EXPECT_EQ(anonymous.status, 401) << anonymous.text;
  EXPECT_EQ(anonymous.body.value("status", ""), "UNAUTHENTICATED");
  const Reply forged = Post("/v1/ConfigService/Put", put, "not-a-token");
  EXPECT_EQ(forged.status, 401) << forged.text;
  const Reply reader = Post("/v1/ConfigService/Put", put, kReaderToken);
  EXPECT_EQ(reader.status, 403) << reader.text;
  EXPECT_EQ(reader.body.value("status", ""), "PERMISSION_DENIED");
  const Reply admin = Post("/v1/ConfigService/Put", put, kAdminToken);
  EXPECT_EQ(admin.status, 200) << admin.text;
  EXPECT_EQ(Post("/v1/ConfigService/Get",
                 R"({"tenant":"integration","service":"orders","key":"k"})", kReaderToken)
                .status,
            200);
  // The audit names the token's identity and the HTTP client's address.
  const Reply audit =
      Post("/v1/HistoryService/QueryAudit", R"({"rpc":"ConfigService.Put"})", kAdminToken);
  ASSERT_EQ(audit.status, 200) << audit.text;
  bool accepted = false, denied = false;
  for (const Json& record : audit.body.value("entries", Json::array())) {
    EXPECT_TRUE(absl::StartsWith(record.value("peer", ""), "http:127.0.0.1:")) << record.dump();
    if (record.value("user", "") == "token:admin") accepted = true;
    if (record.value("user", "") == "token:reader") denied = true;
  }
  EXPECT_TRUE(accepted) << audit.text;
  EXPECT_TRUE(denied) << audit.text;
  // The header that carries the HTTP peer is believed only from the gateway: a gRPC client
  // that sends it (with a guessed key) is audited under its own address.
  auto stub = v1::ConfigService::NewStub(server_->Channel());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
  ctx.AddMetadata("x-confcenter-http-peer", "10.9.9.9:1");
  ctx.AddMetadata("x-confcenter-gateway-key", "guessed");
  v1::PutRequest spoof;
  spoof.set_tenant("integration");
  spoof.set_service("orders");
  spoof.set_key("spoofed");
  spoof.set_value("v");
  v1::PutResponse put_resp;
  ASSERT_TRUE(stub->Put(&ctx, spoof, &put_resp).ok());
  const Reply after =
      Post("/v1/HistoryService/QueryAudit", R"({"rpc":"ConfigService.Put"})", kAdminToken);
  EXPECT_EQ(after.text.find("10.9.9.9"), std::string::npos) << after.text;
  EXPECT_NE(after.text.find("\"peer\":\"ipv4:127.0.0.1:"), std::string::npos) << after.text;
}

// An SSE reader on its own thread: collects (id, data) of each event until it has seen an
// event with id >= stop_at (or an `end` event), then disconnects.
class SseReader {
 public:
  // GET `path`, or with a `body` POST it.
  SseReader(int port, const std::string& path, const std::string& last_event_id, int64_t stop_at,
            const std::string& body = "")
      : stop_at_(stop_at) {
    thread_ = std::thread([this, port, path, last_event_id, body] {
      httplib::Client http("127.0.0.1", port);
      http.set_read_timeout(20, 0);
      httplib::Headers headers;
      if (!last_event_id.empty()) headers.emplace("Last-Event-ID", last_event_id);
      const auto feed = [this](const char* data, size_t n) { return Feed(std::string(data, n)); };
      httplib::Request req;
      req.method = body.empty() ? "GET" : "POST";
      req.path = path;
      req.headers = headers;
      if (!body.empty()) {
        req.body = body;
        req.set_header("Content-Type", "application/json");
      }
      req.content_receiver = [feed](const char* data, size_t n, uint64_t, uint64_t) {
        return feed(data, n);
      };
      httplib::Result res = http.send(req);
      std::lock_guard<std::mutex> lock(mu_);
      status_ = res ? res->status : -1;
      done_ = true;
      cv_.notify_all();
    });
  }
  ~SseReader() { thread_.join(); }

  // Waits (20 s at most) for the stream to end; the events it got.
  std::vector<std::pair<int64_t, Json>> Events() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [this] { return done_; });
    return events_;
  }
  bool saw_end() {
    std::lock_guard<std::mutex> lock(mu_);
    return end_;
  }
  // Whether the stream has ended (after Events()).
  bool ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  // Waits (20 s at most) for the first event; false if the stream ended without one.
  bool WaitForFirstEvent() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [this] { return done_ || !events_.empty(); });
    return !events_.empty();
  }

 private:
  bool Feed(const std::string& chunk) {
    std::lock_guard<std::mutex> lock(mu_);
    buffer_ += chunk;
    size_t blank;
    while ((blank = buffer_.find("\n\n")) != std::string::npos) {
      const std::string event = buffer_.substr(0, blank);
      buffer_.erase(0, blank + 2);
      int64_t id = 0;
      std::string data, name;
      for (absl::string_view line : absl::StrSplit(event, '\n')) {
        if (absl::ConsumePrefix(&line, "id: ")) (void)absl::SimpleAtoi(line, &id);
        if (absl::ConsumePrefix(&line, "data: ")) data = std::string(line);
        if (absl::ConsumePrefix(&line, "event: ")) name = std::string(line);
      }
      if (name == "end") {
        end_ = true;
        return false;
      }
      events_.emplace_back(id, Json::parse(data, nullptr, false));
      cv_.notify_all();
      if (id >= stop_at_) return false;
    }
    return true;
  }

  const int64_t stop_at_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;
  std::vector<std::pair<int64_t, Json>> events_;
  bool end_ = false;
  bool done_ = false;
  int status_ = 0;
  std::thread thread_;
};

int64_t PutRevision(const Reply& reply) {
  int64_t revision = 0;
  EXPECT_TRUE(absl::SimpleAtoi(reply.body.value("revision", "0"), &revision)) << reply.text;
  return revision;
}

TEST_F(HttpApiTest, SubscribeOverServerSentEventsResumesWithLastEventIdWithoutAGap) {
  StartServer();
  ASSERT_EQ(Post("/v1/TenantService/Register",
                 R"({"tenant":"integration","services":[{"name":"orders"}]})")
                .status,
            200);
  auto put = [&](int i) {
    return PutRevision(Post("/v1/ConfigService/Put",
                            absl::StrCat(R"({"tenant":"integration","service":"orders","key":"k)",
                                         i, R"(","value":"v)", i, "\"}")));
  };
  const std::string path = "/v1/WatchService/Subscribe?tenant=integration&services=orders";
  std::vector<int64_t> revisions;
  for (int i = 0; i < 3; ++i) revisions.push_back(put(i));
  int64_t seen = 0;
  {
    // The snapshot (at revisions[2]) first, then the events of the next puts.
    SseReader first(server_->http_port(), path, "", revisions[2] + 2);
    // The snapshot may come before or after these puts; either way the stream reaches them.
    revisions.push_back(put(3));
    revisions.push_back(put(4));
    const auto events = first.Events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events[0].second.value("kind", ""), "SUBSCRIBE_RESPONSE_KIND_SNAPSHOT");
    EXPECT_FALSE(events[0].second.value("epoch", "").empty());
    seen = events.back().first;
    EXPECT_EQ(seen, revisions[4]);
  }
  // Missed while disconnected; the reconnect says where it was.
  for (int i = 5; i < 8; ++i) revisions.push_back(put(i));
  SseReader resumed(server_->http_port(), path, std::to_string(seen), revisions.back());
  const auto events = resumed.Events();
  std::vector<int64_t> replayed;
  for (const auto& [id, data] : events) {
    if (data.value("kind", "") == "SUBSCRIBE_RESPONSE_KIND_EVENTS") replayed.push_back(id);
    EXPECT_NE(data.value("kind", ""), "SUBSCRIBE_RESPONSE_KIND_SNAPSHOT") << data.dump();
  }
  EXPECT_EQ(replayed, std::vector<int64_t>(revisions.begin() + 5, revisions.end()));
  // A stream of a tenant that does not exist ends at once with the status, as an event.
  SseReader missing(server_->http_port(), "/v1/WatchService/Subscribe?tenant=nobody", "",
                    INT64_MAX);
  EXPECT_TRUE(missing.Events().empty());
  EXPECT_TRUE(missing.saw_end());
}

// The other streams: SubscribeViews (a POSTed request) as events too; the stream cap answers
// 429; a server shutting down ends an open stream with an end event. (A client that went away
// frees its slot when the next message or progress finds it gone: progress is frequent here.)
TEST_F(HttpApiTest, EveryStreamingRpcIsAnEventStreamAndTheirNumberIsCapped) {
  StartServer({"--http_max_streams=1", "--progress_interval=100ms"});
  ASSERT_EQ(Post("/v1/TenantService/Register",
                 R"({"tenant":"integration","services":[{"name":"orders"}]})")
                .status,
            200);
  const int64_t revision =
      PutRevision(Post("/v1/ConfigService/Put",
                       R"({"tenant":"integration","service":"orders","key":"k","value":"v"})"));
  {
    // Views: the first message holds view 0's snapshot (no single revision: no id).
    SseReader views(server_->http_port(), "/v1/WatchService/SubscribeViews", "", 0,
                    R"({"views":[{"tenant":"integration","services":["orders"]}]})");
    const auto events = views.Events();
    ASSERT_FALSE(events.empty());
    const Json first = events[0].second["messages"][0];
    EXPECT_EQ(first["message"].value("kind", ""), "SUBSCRIBE_RESPONSE_KIND_SNAPSHOT")
        << events[0].second.dump();
    EXPECT_EQ(first["message"].value("revision", ""), std::to_string(revision));
  }
  // While one stream is open (once the views stream above is released), another is refused.
  std::unique_ptr<SseReader> open;
  for (int attempt = 0; attempt < 100; ++attempt) {
    open = std::make_unique<SseReader>(
        server_->http_port(), "/v1/WatchService/Subscribe?tenant=integration", "", INT64_MAX);
    if (open->WaitForFirstEvent()) break;
  }
  int refused = 0;
  httplib::Client http("127.0.0.1", server_->http_port());
  http.Get(
      "/v1/WatchService/Subscribe?tenant=integration",
      [&](const httplib::Response& response) {
        refused = response.status;
        return false;
      },
      [](const char*, size_t) { return false; });
  EXPECT_EQ(refused, 429);
  // A stopping server ends the open stream (with an end event when it can still send one:
  // the listener may close first) rather than leaving the client hanging.
  server_->Stop();
  open->Events();
  EXPECT_TRUE(open->ended());
}

// httplib would set SO_REUSEPORT, under which a second listener on the port would silently
// get half of the connections; ours is refused, naming the flag.
TEST_F(HttpApiTest, APortAnotherListenerHoldsIsRefusedNamingTheFlag) {
  StartServer();
  HttpGatewayOptions options;
  options.listen = absl::StrCat("127.0.0.1:", server_->http_port());
  absl::StatusOr<std::unique_ptr<HttpGateway>> second =
      HttpGateway::Start(options, grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                      grpc::InsecureChannelCredentials()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(second.status().message(), "http_listen")) << second.status();
}

}  // namespace
}  // namespace confcenter::testing
