// Request validation end to end: random bytes parsed as API request messages and sent through
// the real gRPC handlers (ConfigService, TenantService, HistoryService, WatchService,
// ReleaseService) to the
// real core on a RocksDB store in a temp dir, over an in-process channel. Properties: no crash
// or hang (every call answers within its deadline); every answer has one of the codes the API
// documents (never INTERNAL, UNKNOWN, UNAVAILABLE...); and every error message starts with the
// field it is about ("ops[2].tenant: ...").
//
// Input: up to 8 calls, each [1 byte: which RPC][2 bytes little-endian: length][request bytes],
// so one input can register a tenant and then write to it. The store lives for the whole run
// (state accumulates across inputs, which finds more, at the price of reproducing a finding
// only with the inputs before it: rerun the corpus to reproduce).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/release.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/grpcpp.h"
#include "server/api/grpc_services.h"
#include "server/api/history_service.h"
#include "server/api/release_service.h"
#include "server/api/watch_service.h"
#include "server/core/clock.h"
#include "server/core/config_core.h"
#include "server/core/history_core.h"
#include "server/watch/instance_registry.h"
#include "server/watch/watch_hub.h"
#include "spdlog/spdlog.h"
#include "storage/rocksdb_store.h"
#include "storage/store.h"
#include "tests/fuzz/fuzz_check.h"

namespace confcenter {
namespace {

// The server and clients, created once and never destroyed (the process exits).
struct World {
  ManualClock clock;
  std::unique_ptr<ConfigCore> core;
  std::unique_ptr<WatchHub> hub;
  std::unique_ptr<HistoryCore> history;
  std::unique_ptr<Gatekeeper> gate;  // allow-all: the loopback default
  std::unique_ptr<ConfigServiceImpl> config_service;
  std::unique_ptr<TenantServiceImpl> tenant_service;
  std::unique_ptr<HistoryServiceImpl> history_service;
  std::unique_ptr<WatchServiceImpl> watch_service;
  std::unique_ptr<InstanceRegistry> instances;
  std::unique_ptr<ReleaseServiceImpl> release_service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::ConfigService::Stub> config;
  std::unique_ptr<v1::TenantService::Stub> tenant;
  std::unique_ptr<v1::HistoryService::Stub> history_stub;
  std::unique_ptr<v1::WatchService::Stub> watch;
  std::unique_ptr<v1::ReleaseService::Stub> release;
};

World* Start() {
  spdlog::set_level(spdlog::level::off);
  // Invalid UTF-8 in a request string is common here; protobuf logs each one.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/request_fuzz.XXXXXX");
  FUZZ_CHECK(mkdtemp(dir.data()) != nullptr, dir);
  auto* w = new World;
  storage::RocksDbStoreOptions store_options;
  store_options.sync = false;  // speed; durability is not under test here
  auto store = storage::OpenRocksDbStore(dir + "/db", store_options);
  FUZZ_CHECK(store.ok(), store.status().ToString());
  CoreOptions options;
  options.reclaim_interval = absl::ZeroDuration();
  auto core = ConfigCore::Open(*std::move(store), options, &w->clock);
  FUZZ_CHECK(core.ok(), core.status().ToString());
  w->core = *std::move(core);
  WatchOptions watch_options;
  watch_options.progress_interval = absl::ZeroDuration();
  watch_options.metrics = w->core->metrics();
  ConfigCore* c = w->core.get();
  w->hub = std::make_unique<WatchHub>(
      c->store(), [c](const std::function<void(const ConfigState&)>& fn) { c->ReadState(fn); },
      watch_options, &w->clock);
  c->SetCommitListener(w->hub.get());
  HistoryOptions history_options;
  history_options.compaction_interval = absl::ZeroDuration();
  w->history = std::make_unique<HistoryCore>(w->core.get(), history_options, &w->clock);
  w->gate = std::make_unique<Gatekeeper>(w->core.get());
  w->config_service = std::make_unique<ConfigServiceImpl>(w->core.get(), w->gate.get());
  w->tenant_service = std::make_unique<TenantServiceImpl>(w->core.get(), w->gate.get());
  w->history_service = std::make_unique<HistoryServiceImpl>(w->history.get(), w->gate.get());
  w->watch_service =
      std::make_unique<WatchServiceImpl>(w->hub.get(), 1024, w->core->metrics(), w->gate.get());
  w->instances = std::make_unique<InstanceRegistry>(w->hub.get(), &w->clock);
  w->release_service =
      std::make_unique<ReleaseServiceImpl>(w->core.get(), w->instances.get(), w->gate.get());
  grpc::ServerBuilder builder;
  builder.RegisterService(w->release_service.get());
  builder.RegisterService(w->config_service.get());
  builder.RegisterService(w->tenant_service.get());
  builder.RegisterService(w->history_service.get());
  builder.RegisterService(w->watch_service.get());
  w->server = builder.BuildAndStart();
  FUZZ_CHECK(w->server != nullptr, "in-process server did not start");
  std::shared_ptr<grpc::Channel> channel = w->server->InProcessChannel(grpc::ChannelArguments());
  w->config = v1::ConfigService::NewStub(channel);
  w->tenant = v1::TenantService::NewStub(channel);
  w->history_stub = v1::HistoryService::NewStub(channel);
  w->watch = v1::WatchService::NewStub(channel);
  w->release = v1::ReleaseService::NewStub(channel);
  return w;
}

void CheckAnswer(const std::string& rpc, const google::protobuf::Message& request,
                 const grpc::Status& status) {
  const std::string ctx = absl::StrCat(rpc, "(", request.ShortDebugString(), ") -> ",
                                       status.error_code(), ": ", status.error_message());
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::OUT_OF_RANGE:
      break;
    default:
      FUZZ_CHECK(false, "unexpected status code: " + ctx);
  }
  FUZZ_CHECK(fuzz::StartsWithFieldPath(status.error_message()),
             "the error does not start with a field: " + ctx);
}

// Parses `bytes` as the request of `method` and calls it; skips bytes that do not parse.
template <typename Stub, typename Request, typename Response>
void Unary(const std::string& rpc, Stub* stub,
           grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
           const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  Response response;
  const grpc::Status status = (stub->*method)(&context, request, &response);
  CheckAnswer(rpc, request, status);
}

// Parses `bytes` as the request of server-streaming `method` and opens the stream. A stream
// that starts answers at once (a snapshot, or replay then PROGRESS): we stop at its first
// message; one that ends before any must end with a well-formed error.
template <typename Stub, typename Request, typename Response>
void ServerStream(const std::string& rpc, Stub* stub,
                  std::unique_ptr<grpc::ClientReader<Response>> (Stub::*method)(
                      grpc::ClientContext*, const Request&),
                  const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  std::unique_ptr<grpc::ClientReader<Response>> reader = (stub->*method)(&context, request);
  Response first;
  const bool got = reader->Read(&first);
  if (got) context.TryCancel();
  const grpc::Status status = reader->Finish();
  if (!got) CheckAnswer(rpc, request, status);
}

}  // namespace
}  // namespace confcenter

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter;
  static World* w = Start();
  using CS = v1::ConfigService::Stub;
  using TS = v1::TenantService::Stub;
  using HS = v1::HistoryService::Stub;
  using WS = v1::WatchService::Stub;
  using RS = v1::ReleaseService::Stub;
  const std::vector<std::function<void(const std::string&)>> calls = {
      [&](const std::string& b) { Unary("Put", w->config.get(), &CS::Put, b); },
      [&](const std::string& b) { Unary("Get", w->config.get(), &CS::Get, b); },
      [&](const std::string& b) { Unary("Delete", w->config.get(), &CS::Delete, b); },
      [&](const std::string& b) { Unary("Mask", w->config.get(), &CS::Mask, b); },
      [&](const std::string& b) { Unary("List", w->config.get(), &CS::List, b); },
      [&](const std::string& b) { Unary("Resolve", w->config.get(), &CS::Resolve, b); },
      [&](const std::string& b) { Unary("Txn", w->config.get(), &CS::Txn, b); },
      [&](const std::string& b) { Unary("Register", w->tenant.get(), &TS::Register, b); },
      [&](const std::string& b) { Unary("Deregister", w->tenant.get(), &TS::Deregister, b); },
      [&](const std::string& b) {
        Unary("ResolveDependencies", w->tenant.get(), &TS::ResolveDependencies, b);
      },
      [&](const std::string& b) { Unary("Touch", w->tenant.get(), &TS::Touch, b); },
      [&](const std::string& b) { Unary("GetTenant", w->tenant.get(), &TS::GetTenant, b); },
      [&](const std::string& b) { Unary("ListTenants", w->tenant.get(), &TS::ListTenants, b); },
      [&](const std::string& b) { Unary("History", w->history_stub.get(), &HS::History, b); },
      [&](const std::string& b) {
        Unary("ListReleases", w->history_stub.get(), &HS::ListReleases, b);
      },
      [&](const std::string& b) { Unary("GetRelease", w->history_stub.get(), &HS::GetRelease, b); },
      [&](const std::string& b) { Unary("Rollback", w->history_stub.get(), &HS::Rollback, b); },
      [&](const std::string& b) { Unary("Diff", w->history_stub.get(), &HS::Diff, b); },
      [&](const std::string& b) { Unary("QueryAudit", w->history_stub.get(), &HS::QueryAudit, b); },
      [&](const std::string& b) { ServerStream("Subscribe", w->watch.get(), &WS::Subscribe, b); },
      [&](const std::string& b) {
        ServerStream("SubscribeViews", w->watch.get(), &WS::SubscribeViews, b);
      },
      [&](const std::string& b) { Unary("SetReview", w->release.get(), &RS::SetReview, b); },
      [&](const std::string& b) { Unary("CreateDraft", w->release.get(), &RS::CreateDraft, b); },
      [&](const std::string& b) { Unary("UpdateDraft", w->release.get(), &RS::UpdateDraft, b); },
      [&](const std::string& b) { Unary("GetDraft", w->release.get(), &RS::GetDraft, b); },
      [&](const std::string& b) { Unary("ListDrafts", w->release.get(), &RS::ListDrafts, b); },
      [&](const std::string& b) { Unary("DiscardDraft", w->release.get(), &RS::DiscardDraft, b); },
      [&](const std::string& b) { Unary("PublishDraft", w->release.get(), &RS::PublishDraft, b); },
      [&](const std::string& b) { Unary("Promote", w->release.get(), &RS::Promote, b); },
      [&](const std::string& b) { Unary("Reset", w->release.get(), &RS::Reset, b); },
      [&](const std::string& b) { Unary("StartGray", w->release.get(), &RS::StartGray, b); },
      [&](const std::string& b) { Unary("GetGray", w->release.get(), &RS::GetGray, b); },
      [&](const std::string& b) { Unary("PromoteGray", w->release.get(), &RS::PromoteGray, b); },
      [&](const std::string& b) { Unary("AbortGray", w->release.get(), &RS::AbortGray, b); },
      [&](const std::string& b) { Unary("Explain", w->history_stub.get(), &HS::Explain, b); },
  };
  size_t pos = 0;
  for (int n = 0; n < 8 && pos + 3 <= size; ++n) {
    const size_t which = data[pos] % calls.size();
    const size_t length = data[pos + 1] | (size_t{data[pos + 2]} << 8);
    pos += 3;
    const size_t take = std::min(length, size - pos);
    calls[which](std::string(reinterpret_cast<const char*>(data) + pos, take));
    pos += take;
  }
  return 0;
}
