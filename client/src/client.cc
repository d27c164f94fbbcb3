#include "confcenter/client.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"

namespace confcenter {
namespace {

class GrpcWatchStream final : public WatchStream {
 public:
  GrpcWatchStream(v1::WatchService::Stub* stub, const v1::SubscribeRequest& request,
                  const std::string& user) {
    if (!user.empty()) ctx_.AddMetadata("x-confcenter-user", user);
    reader_ = stub->Subscribe(&ctx_, request);
  }
  bool Read(v1::SubscribeResponse* message) override { return reader_->Read(message); }
  absl::Status Finish() override { return FromGrpcStatus(reader_->Finish()); }
  void Cancel() override { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
};

absl::Duration Jittered(absl::Duration d) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return d * jitter(rng);
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

grpc::ChannelArguments Client::ChannelArguments(const ClientOptions& options) {
  grpc::ChannelArguments args;
  const int initial = static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::max(1, initial));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::max(1, initial));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              std::max(1, static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff))));
  if (options.receive_window_bytes > 0) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, options.receive_window_bytes);
  }
  return args;
}

std::shared_ptr<grpc::Channel> Client::MakeChannel(const ClientOptions& options) {
  return grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(),
                                   ChannelArguments(options));
}

Client::Client(const ClientOptions& options) : Client(MakeChannel(options), options) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options)
    : options_(options),
      channel_(std::move(channel)),
      config_(v1::ConfigService::NewStub(channel_)),
      tenants_(v1::TenantService::NewStub(channel_)),
      watch_(v1::WatchService::NewStub(channel_)),
      history_(v1::HistoryService::NewStub(channel_)),
      admin_(v1::AdminService::NewStub(channel_)) {}

template <typename Request, typename Response, typename Call>
absl::StatusOr<Response> Client::Unary(const Request& request, bool idempotent, Call call) {
  const int attempts =
      (idempotent || options_.retry_writes) ? std::max(1, options_.max_attempts) : 1;
  absl::Duration backoff = options_.initial_backoff;
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
    if (!options_.user.empty()) ctx.AddMetadata("x-confcenter-user", options_.user);
    ctx.set_wait_for_ready(options_.wait_for_ready);
    Response response;
    status = call(&ctx, request, &response);
    if (status.ok()) return response;
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && options_.wait_for_ready &&
        channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
      // The deadline passed while waiting for a connection: say so, as UNAVAILABLE.
      return absl::UnavailableError(absl::StrCat("cannot reach confcenterd at ", options_.address,
                                                 " within ",
                                                 absl::FormatDuration(options_.deadline)));
    }
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= attempts) break;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(Jittered(backoff)));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return FromGrpcStatus(status);
}

#define CONFCENTER_UNARY(Method, Stub, Idempotent)                                          \
  absl::StatusOr<v1::Method##Response> Client::Method(const v1::Method##Request& request) { \
    return Unary<v1::Method##Request, v1::Method##Response>(                                \
        request, Idempotent,                                                                \
        [this](grpc::ClientContext* ctx, const v1::Method##Request& req,                    \
               v1::Method##Response* resp) { return Stub->Method(ctx, req, resp); });       \
  }

CONFCENTER_UNARY(Put, config_, false)
CONFCENTER_UNARY(Get, config_, true)
CONFCENTER_UNARY(Delete, config_, false)
CONFCENTER_UNARY(Mask, config_, false)
CONFCENTER_UNARY(List, config_, true)
CONFCENTER_UNARY(Resolve, config_, true)
CONFCENTER_UNARY(Txn, config_, false)
CONFCENTER_UNARY(Register, tenants_, true)
CONFCENTER_UNARY(Deregister, tenants_, true)
CONFCENTER_UNARY(GetTenant, tenants_, true)
CONFCENTER_UNARY(ListTenants, tenants_, true)
CONFCENTER_UNARY(ResolveDependencies, tenants_, true)
CONFCENTER_UNARY(Touch, tenants_, true)
CONFCENTER_UNARY(History, history_, true)
CONFCENTER_UNARY(ListReleases, history_, true)
CONFCENTER_UNARY(GetRelease, history_, true)
CONFCENTER_UNARY(Rollback, history_, false)
CONFCENTER_UNARY(Diff, history_, true)
CONFCENTER_UNARY(QueryAudit, history_, true)

#undef CONFCENTER_UNARY

std::unique_ptr<WatchStream> Client::Subscribe(const v1::SubscribeRequest& request) {
  return std::make_unique<GrpcWatchStream>(watch_.get(), request, options_.user);
}

}  // namespace confcenter
