#include "server/api/http_gateway.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/support/sync_stream.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/api/console_assets.h"
#include "server/api/http_listener.h"
#include "spdlog/spdlog.h"

namespace confcenter {
namespace {

namespace pb = google::protobuf;

constexpr char kPackage[] = "confcenter.v1.";
// With its charset, a type cpp-httplib 0.11 does not compress: it would use brotli at quality
// 11 whenever a browser accepts it, ~0.3 s of CPU for 1,000 keys' JSON (170 KB).
constexpr char kJsonType[] = "application/json; charset=utf-8";
// The services the gateway serves (every service of the API).
constexpr const char* kServices[] = {"ConfigService",   "TenantService", "WatchService",
                                     "HistoryService",  "AdminService",  "AccessService",
                                     "InstanceService", "ReleaseService"};

// The HTTP status of a gRPC code (google.rpc's mapping, as grpc-gateway uses).
int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorBody(grpc::StatusCode code, const std::string& message) {
  const nlohmann::json body = {
      {"code", static_cast<int>(code)},
      {"status", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))},
      {"message", message}};
  // A message may quote a caller's bytes: invalid UTF-8 is replaced, never thrown on.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ReplyError(httplib::Response& res, grpc::StatusCode code, const std::string& message) {
  res.status = HttpStatusOf(code);
  res.set_header("grpc-status", std::to_string(static_cast<int>(code)));
  res.set_content(ErrorBody(code, message), kJsonType);
}

grpc::ByteBuffer ToByteBuffer(const pb::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool FromByteBuffer(const grpc::ByteBuffer& buffer, pb::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return message->ParseFromString(bytes);
}

// Whether `value` can travel as a gRPC metadata value (printable ASCII).
bool IsHeaderValue(const std::string& value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// Message to canonical JSON (lowerCamelCase names, int64 as strings).
std::string ToJson(const pb::Message& message) {
  std::string json;
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  if (!pb::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  return json;
}

// Why a browser's request is refused, or "" if it may go on. A page elsewhere may send a
// "simple" cross-origin POST (no preflight) or a GET to a server on loopback, where without a
// policy every caller is admin; a page on a name that resolves to the server (DNS rebinding)
// is same-origin with it, so the name it used (Host) must be one the server answers browsers
// on. Browsers say where a request comes from (Origin, Sec-Fetch-Site); curl and the clients
// send neither and are not checked.
std::string BrowserRefusal(const httplib::Request& req, const std::vector<std::string>& hosts) {
  const bool has_origin = req.has_header("Origin");
  const bool has_fetch_site = req.has_header("Sec-Fetch-Site");
  if (!has_origin && !has_fetch_site) return "";
  const std::string host = req.get_header_value("Host");
  if (has_fetch_site) {
    const std::string site = req.get_header_value("Sec-Fetch-Site");
    if (site != "same-origin" && site != "none") {
      return absl::StrCat("Sec-Fetch-Site: ", site,
                          ": the API answers browsers only from its own origin (the console's)");
    }
  }
  if (has_origin) {
    const std::string origin = req.get_header_value("Origin");
    if (host.empty() || (origin != "http://" + host && origin != "https://" + host)) {
      return absl::StrCat("Origin: ", origin,
                          " is another site; the API answers browsers only on its own origin "
                          "(the console's)");
    }
  }
  // The name without its port ("[::1]:7080" -> "::1").
  std::string name = host;
  if (!name.empty() && name.front() == '[') {
    name = name.substr(1, name.find(']') == std::string::npos ? 0 : name.find(']') - 1);
  } else if (const size_t colon = name.rfind(':'); colon != std::string::npos) {
    name = name.substr(0, colon);
  }
  name = absl::AsciiStrToLower(name);
  for (const std::string& allowed : hosts) {
    if (allowed == "*" || allowed == name) return "";
  }
  return absl::StrCat("Host: ", host,
                      " is not a name this server answers browsers on; add it to "
                      "--http_allowed_hosts");
}

// A console file, with headers that keep it from being framed or run as anything else.
void ServeConsole(const httplib::Request& req, httplib::Response& res) {
  std::string path = req.matches[1];
  if (path.empty()) path = "index.html";
  const ConsoleFile* file = FindConsoleFile(path);
  if (file == nullptr) {
    ReplyError(res, grpc::StatusCode::NOT_FOUND, absl::StrCat("no console file ", path));
    return;
  }
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Cache-Control", "no-cache");
  res.set_content(reinterpret_cast<const char*>(file->data), file->size, ConsoleContentType(path));
}

// httplib's task queue with threads made on demand, up to `max`, and kept once made (an idle
// one waits for the next request). httplib's own ThreadPool makes them all at start: a
// thread per possible event stream, idle in every server that never serves one.
class GrowingThreadPool final : public httplib::TaskQueue {
 public:
  explicit GrowingThreadPool(size_t max) : max_(max) {}
  ~GrowingThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(std::move(fn));
    // Each idle thread takes one job; jobs beyond them need threads of their own (a stream
    // holds its thread for as long as it is open).
    if (jobs_.size() > idle_ && threads_.size() < max_) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  void shutdown() override {
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

 private:
  void Work() {
    absl::MutexLock lock(&mu_);
    while (true) {
      ++idle_;
      mu_.Await(absl::Condition(
          +[](GrowingThreadPool* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->stopping_ || !p->jobs_.empty(); },
          this));
      --idle_;
      if (jobs_.empty()) return;  // stopping, and nothing left to answer
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      mu_.Unlock();
      job();
      mu_.Lock();
    }
  }

  const size_t max_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

struct HttpGateway::Impl {
  HttpGatewayOptions options;
  // The names browsers may reach the API by: loopback, the listen host, --http_allowed_hosts.
  std::vector<std::string> browser_hosts;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<httplib::Server> http;
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  pb::MessageFactory* factory = pb::MessageFactory::generated_factory();

  absl::Mutex mu;
  std::set<grpc::ClientContext*> streams ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;

  // The method `service`/`method` of the API, or null.
  const pb::MethodDescriptor* FindMethod(const std::string& service,
                                         const std::string& method) const {
    if (std::find_if(std::begin(kServices), std::end(kServices),
                     [&](const char* s) { return service == s; }) == std::end(kServices)) {
      return nullptr;
    }
    const pb::ServiceDescriptor* s = pool->FindServiceByName(kPackage + service);
    return s == nullptr ? nullptr : s->FindMethodByName(method);
  }

  // Passes the caller's credentials and address on. False (and the reply set) if a header
  // cannot be passed on.
  bool PassCredentials(const httplib::Request& req, httplib::Response& res,
                       grpc::ClientContext* ctx) const {
    for (const char* name : {"authorization", "x-confcenter-user"}) {
      if (!req.has_header(name)) continue;
      const std::string value = req.get_header_value(name);
      if (!IsHeaderValue(value)) {
        ReplyError(res, grpc::StatusCode::INVALID_ARGUMENT,
                   absl::StrCat(name, ": the header holds characters outside printable ASCII"));
        return false;
      }
      ctx->AddMetadata(name, value);
    }
    ctx->AddMetadata(kHttpPeerHeader, absl::StrCat(req.remote_addr, ":", req.remote_port));
    ctx->AddMetadata(kGatewayKeyHeader, Gatekeeper::GatewayKey());
    return true;
  }

  // The request of `method` from the body (JSON), or for a GET from the query parameters.
  // False (and the reply set) if it does not parse.
  bool ParseRequest(const httplib::Request& req, httplib::Response& res,
                    const pb::MethodDescriptor* method, pb::Message* request) const {
    std::string json = req.body;
    if (req.method == "GET") {
      nlohmann::json query = nlohmann::json::object();
      for (const auto& [name, value] : req.params) {
        const pb::Descriptor* type = method->input_type();
        const pb::FieldDescriptor* field = type->FindFieldByName(name);
        if (field == nullptr) field = type->FindFieldByCamelcaseName(name);
        if (field == nullptr) {
          ReplyError(res, grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat(name, ": no such field in ", type->full_name()));
          return false;
        }
        nlohmann::json item = value;
        if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_BOOL) item = value == "true";
        if (field->is_repeated()) {
          query[field->name()].push_back(item);
        } else {
          query[field->name()] = item;
        }
      }
      json = query.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (absl::StripAsciiWhitespace(json).empty()) json = "{}";
    pb::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto parsed = pb::util::JsonStringToMessage(json, request, options);
    if (!parsed.ok()) {
      ReplyError(res, grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat("body: not a valid ", method->input_type()->full_name(),
                              " in JSON: ", std::string(parsed.message())));
      return false;
    }
    return true;
  }

  void Unary(const httplib::Request& req, httplib::Response& res,
             const pb::MethodDescriptor* method) {
    std::unique_ptr<pb::Message> request(factory->GetPrototype(method->input_type())->New());
    if (!ParseRequest(req, res, method, request.get())) return;
    grpc::ClientContext ctx;
    if (!PassCredentials(req, res, &ctx)) return;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.request_timeout));
    const std::string path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
    grpc::ByteBuffer out;
    const grpc::Status status = grpc::internal::BlockingUnaryCall(
        channel.get(),
        grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC), &ctx,
        ToByteBuffer(*request), &out);
    if (!status.ok()) {
      const auto& trailers = ctx.GetServerTrailingMetadata();
      if (auto it = trailers.find("grpc-retry-pushback-ms"); it != trailers.end()) {
        int64_t millis = 0;
        if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &millis)) {
          res.set_header("Retry-After",
                         std::to_string(std::max<int64_t>(1, (millis + 999) / 1000)));
        }
      }
      ReplyError(res, status.error_code(), status.error_message());
      return;
    }
    std::unique_ptr<pb::Message> response(factory->GetPrototype(method->output_type())->New());
    if (!FromByteBuffer(out, response.get())) {
      ReplyError(res, grpc::StatusCode::INTERNAL, "the server's response did not parse");
      return;
    }
    res.status = 200;
    res.set_content(ToJson(*response), kJsonType);
  }

  // A server-streaming call as Server-Sent Events, on this request's thread until it ends.
  void Stream(const httplib::Request& req, httplib::Response& res,
              const pb::MethodDescriptor* method) {
    auto request = std::shared_ptr<pb::Message>(factory->GetPrototype(method->input_type())->New());
    if (!ParseRequest(req, res, method, request.get())) return;
    // A reconnecting EventSource sends the id of the last event it got: resume after it.
    if (req.has_header("Last-Event-ID")) {
      int64_t revision = 0;
      const pb::FieldDescriptor* start = method->input_type()->FindFieldByName("start_revision");
      if (start == nullptr || !absl::SimpleAtoi(req.get_header_value("Last-Event-ID"), &revision)) {
        ReplyError(res, grpc::StatusCode::INVALID_ARGUMENT,
                   "Last-Event-ID: not a revision this stream can resume from");
        return;
      }
      request->GetReflection()->SetInt64(request.get(), start, revision);
    }
    auto ctx = std::make_shared<grpc::ClientContext>();
    if (!PassCredentials(req, res, ctx.get())) return;
    {
      absl::MutexLock lock(&mu);
      if (stopping) {
        ReplyError(res, grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
        return;
      }
      if (static_cast<int>(streams.size()) >= options.max_streams) {
        ReplyError(res, grpc::StatusCode::RESOURCE_EXHAUSTED,
                   absl::StrCat("the HTTP listener has ", streams.size(),
                                " open event streams, the most it takes (--http_max_streams); "
                                "retry with backoff, or use gRPC"));
        return;
      }
      streams.insert(ctx.get());
    }
    const std::string path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ctx, request, method, path](size_t, httplib::DataSink& sink) {
          std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
              grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
                  channel.get(),
                  grpc::internal::RpcMethod(path.c_str(),
                                            grpc::internal::RpcMethod::SERVER_STREAMING),
                  ctx.get(), ToByteBuffer(*request)));
          std::unique_ptr<pb::Message> message(factory->GetPrototype(method->output_type())->New());
          const pb::FieldDescriptor* revision = method->output_type()->FindFieldByName("revision");
          grpc::ByteBuffer buffer;
          bool open = true;
          while (open && reader->Read(&buffer)) {
            message->Clear();
            if (!FromByteBuffer(buffer, message.get())) break;
            std::string event;
            if (revision != nullptr && revision->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64) {
              absl::StrAppend(&event,
                              "id: ", message->GetReflection()->GetInt64(*message, revision), "\n");
            }
            absl::StrAppend(&event, "data: ", ToJson(*message), "\n\n");
            open = sink.write(event.data(), event.size());
          }
          if (!open) ctx->TryCancel();  // the client went away
          grpc::Status status = reader->Finish();
          {
            absl::MutexLock lock(&mu);
            if (stopping) {
              status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "the server is shutting down; reconnect (Last-Event-ID "
                                    "resumes where this stream ended)");
            }
          }
          if (open) {
            const std::string end = absl::StrCat(
                "event: end\ndata: ", ErrorBody(status.error_code(), status.error_message()),
                "\n\n");
            sink.write(end.data(), end.size());
            sink.done();
          }
          return open;
        },
        [this, ctx](bool) {
          absl::MutexLock lock(&mu);
          streams.erase(ctx.get());
        });
  }

  void Route(const httplib::Request& req, httplib::Response& res) {
    if (const std::string refusal = BrowserRefusal(req, browser_hosts); !refusal.empty()) {
      ReplyError(res, grpc::StatusCode::PERMISSION_DENIED, refusal);
      return;
    }
    const std::string service = req.matches[1];
    const std::string name = req.matches[2];
    const pb::MethodDescriptor* method = FindMethod(service, name);
    if (method == nullptr) {
      ReplyError(res, grpc::StatusCode::UNIMPLEMENTED,
                 absl::StrCat("no RPC ", service, "/", name, " (POST /v1/<Service>/<Method>)"));
      return;
    }
    if (method->client_streaming()) {
      ReplyError(res, grpc::StatusCode::UNIMPLEMENTED,
                 absl::StrCat(service, "/", name, " takes a stream of requests: use gRPC"));
      return;
    }
    if (method->server_streaming()) {
      Stream(req, res, method);
    } else if (req.method == "POST") {
      Unary(req, res, method);
    } else {
      ReplyError(res, grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat(service, "/", name, " is called with POST and a JSON body"));
      res.set_header("Allow", "POST");
      res.status = 405;
    }
  }
};

HttpGateway::HttpGateway(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {
  StartServing(impl_->http.get(), &thread_);
}

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(
    const HttpGatewayOptions& options, std::shared_ptr<grpc::Channel> channel) {
  absl::StatusOr<ListenAddress> listen = ParseListenAddress("http_listen", options.listen);
  if (!listen.ok()) return listen.status();
  if (options.max_concurrent_requests < 1 || options.max_streams < 0) {
    return absl::InvalidArgumentError(
        "http_max_concurrency must be at least 1 and http_max_streams not negative");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->browser_hosts = {"localhost", "127.0.0.1", "::1"};
  if (listen->host != "0.0.0.0" && listen->host != "::" && !listen->host.empty()) {
    impl->browser_hosts.push_back(absl::AsciiStrToLower(listen->host));
  }
  for (const std::string& host : options.allowed_hosts) {
    impl->browser_hosts.push_back(absl::AsciiStrToLower(host));
  }
  impl->channel = std::move(channel);
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("the HTTP listener's TLS needs both a certificate and a key");
  }
  if (!options.tls_cert_file.empty()) {
    auto https = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                      options.tls_key_file.c_str());
    if (!https->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the HTTP listener cannot use ", options.tls_cert_file, " and ", options.tls_key_file));
    }
    impl->http = std::move(https);
  } else {
    impl->http = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *impl->http;
  // A thread per request being answered, and per open event stream, made when needed.
  const size_t threads = static_cast<size_t>(options.max_concurrent_requests + options.max_streams);
  http.new_task_queue = [threads] { return new GrowingThreadPool(threads); };
  // Replies go out whole at once: without it the last segment of a reply waits on a delayed
  // ACK (40 ms on Linux) when the client sends its next request on the same connection.
  http.set_tcp_nodelay(true);
  http.set_payload_max_length(static_cast<size_t>(options.max_request_bytes));
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);
  Impl* raw = impl.get();
  const auto route = [raw](const httplib::Request& req, httplib::Response& res) {
    raw->Route(req, res);
  };
  http.Post(R"(/v1/([A-Za-z]+)/([A-Za-z]+))", route);
  http.Get(R"(/v1/([A-Za-z]+)/([A-Za-z]+))", route);
  http.Get(R"(/console/([A-Za-z0-9_.-]*))", ServeConsole);
  http.Get("/",
           [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/console/"); });
  http.Get("/favicon.ico",
           [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  http.set_error_handler(
      [max = options.max_request_bytes](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;  // a reply of ours
        if (res.status == 413) {
          ReplyError(res, grpc::StatusCode::RESOURCE_EXHAUSTED,
                     absl::StrCat("body: more than ", max, " bytes (--max_request_bytes)"));
          res.status = 413;
        } else if (res.status == 404) {
          ReplyError(res, grpc::StatusCode::NOT_FOUND,
                     "no such path: the API is POST /v1/<Service>/<Method>");
        }
      });
  absl::StatusOr<int> bound = Bind(&http, "http_listen", *listen);
  if (!bound.ok()) return bound.status();
  return std::unique_ptr<HttpGateway>(new HttpGateway(std::move(impl), *bound));
}

HttpGateway::~HttpGateway() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stopping = true;
    for (grpc::ClientContext* ctx : impl_->streams) ctx->TryCancel();
  }
  impl_->http->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace confcenter
