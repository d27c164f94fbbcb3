#include "confcenter/client.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/src/call_metadata.h"
#include "grpc/grpc.h"

namespace confcenter {
namespace {

class GrpcWatchStream final : public WatchStream {
 public:
  // `prepare` sets up the context; if it fails, no call is made and the stream is empty.
  template <typename Prepare>
  GrpcWatchStream(v1::WatchService::Stub* stub, const v1::SubscribeRequest& request,
                  Prepare prepare) {
    status_ = prepare(&ctx_);
    if (status_.ok()) reader_ = stub->Subscribe(&ctx_, request);
  }
  bool Read(v1::SubscribeResponse* message) override {
    return reader_ != nullptr && reader_->Read(message);
  }
  absl::Status Finish() override {
    return reader_ != nullptr ? FromGrpcStatus(reader_->Finish()) : status_;
  }
  void Cancel() override { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  absl::Status status_;  // why no call was made
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
};

absl::Duration Jittered(absl::Duration d) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return d * jitter(rng);
}

// A channel that fails every call with `status` (gRPC's "lame" channel).
std::shared_ptr<grpc::Channel> FailingChannel(const std::string& address,
                                              const absl::Status& status) {
  grpc_init();  // the channel holds its own reference to the library
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannelInternal(
      address,
      grpc_lame_client_channel_create(address.c_str(), static_cast<grpc_status_code>(status.code()),
                                      std::string(status.message()).c_str()),
      {});
  grpc_shutdown();
  return channel;
}

std::pair<std::shared_ptr<grpc::Channel>, absl::Status> ChannelOrError(
    const ClientOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Client::MakeChannel(options);
  if (channel.ok()) return {*std::move(channel), absl::OkStatus()};
  return {FailingChannel(options.address, channel.status()), channel.status()};
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
  if (options.credentials.tls() && !options.credentials.server_name.empty()) {
    args.SetSslTargetNameOverride(options.credentials.server_name);
  }
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Client::MakeChannel(const ClientOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.credentials);
  if (!credentials.ok()) return credentials.status();
  return grpc::CreateCustomChannel(options.address, *credentials, ChannelArguments(options));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options);
  if (!channel.ok()) return channel.status();
  return std::make_unique<Client>(*std::move(channel), options);
}

Client::Client(const ClientOptions& options) : Client(ChannelOrError(options), options) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options)
    : Client(std::make_pair(std::move(channel), absl::OkStatus()), options) {}

Client::Client(std::pair<std::shared_ptr<grpc::Channel>, absl::Status> channel,
               const ClientOptions& options)
    : options_(options),
      channel_(std::move(channel.first)),
      channel_status_(std::move(channel.second)),
      token_(std::make_unique<TokenSource>(options.credentials)),
      config_(v1::ConfigService::NewStub(channel_)),
      tenants_(v1::TenantService::NewStub(channel_)),
      watch_(v1::WatchService::NewStub(channel_)),
      history_(v1::HistoryService::NewStub(channel_)),
      admin_(v1::AdminService::NewStub(channel_)) {}

absl::Status Client::Prepare(grpc::ClientContext* context) const {
  if (!channel_status_.ok()) return channel_status_;
  return internal::AddCallMetadata(context, options_.user, *token_);
}

template <typename Request, typename Response, typename Call>
absl::StatusOr<Response> Client::Unary(const Request& request, bool idempotent, Call call) {
  const int attempts =
      (idempotent || options_.retry_writes) ? std::max(1, options_.max_attempts) : 1;
  absl::Duration backoff = options_.initial_backoff;
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
    if (absl::Status s = Prepare(&ctx); !s.ok()) return s;
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
  return std::make_unique<GrpcWatchStream>(
      watch_.get(), request, [this](grpc::ClientContext* ctx) { return Prepare(ctx); });
}

}  // namespace confcenter
