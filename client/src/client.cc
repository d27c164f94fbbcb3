#include "confcenter/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/src/call_metadata.h"
#include "client/src/reconnect.h"
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

// One address of a list, as written and parsed.
struct ListEntry {
  std::string text;  // "10.0.0.1:7070" or "[fd00::1]:7070"
  std::string host;  // "10.0.0.1" or "fd00::1"
  std::string port;  // "7070"
  bool ipv6 = false;
};

// The entries of options.addresses (field "addresses[i]"), else of options.address (field
// "address"), each split at commas and stripped of whitespace; with the field each came from.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SplitAddresses(
    const ClientOptions& options) {
  std::vector<std::pair<std::string, std::string>> entries;  // (field, entry)
  auto split = [&](const std::string& field, const std::string& text) -> absl::Status {
    if (absl::StripAsciiWhitespace(text).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": empty (want host:port)"));
    }
    int index = 0;
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      ++index;
      part = absl::StripAsciiWhitespace(part);
      if (part.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ": entry ", index, " of \"", text,
                                                       "\" is empty (want host:port,host:port)"));
      }
      entries.emplace_back(field, std::string(part));
    }
    return absl::OkStatus();
  };
  if (options.addresses.empty()) {
    if (absl::Status s = split("address", options.address); !s.ok()) return s;
  }
  for (size_t i = 0; i < options.addresses.size(); ++i) {
    absl::Status s = split(absl::StrCat("addresses[", i, "]"), options.addresses[i]);
    if (!s.ok()) return s;
  }
  return entries;
}

// `entry` of a list: an IPv4 address or a bracketed IPv6 address, with a port.
absl::StatusOr<ListEntry> ParseListEntry(const std::string& field, const std::string& entry) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", entry, "\" ", why,
        "; a list of replicas holds IP addresses with ports (10.0.0.1:7070, [fd00::1]:7070), "
        "or give one dns:///name:port whose records are the replicas"));
  };
  if (absl::StrContains(entry, "://") || absl::StartsWith(entry, "dns:") ||
      absl::StartsWith(entry, "ipv4:") || absl::StartsWith(entry, "ipv6:") ||
      absl::StartsWith(entry, "unix:") || absl::StartsWith(entry, "unix-abstract:")) {
    return bad("is a gRPC target, which must be the only address");
  }
  ListEntry out;
  out.text = entry;
  std::string& port = out.port;
  if (absl::StartsWith(entry, "[")) {
    const size_t close = entry.find(']');
    if (close == std::string::npos || close + 1 >= entry.size() || entry[close + 1] != ':') {
      return bad("is not [IPv6 address]:port");
    }
    out.host = entry.substr(1, close - 1);
    port = entry.substr(close + 2);
    out.ipv6 = true;
  } else {
    const size_t colon = entry.rfind(':');
    if (colon == std::string::npos) return bad("has no port");
    out.host = entry.substr(0, colon);
    port = entry.substr(colon + 1);
    if (absl::StrContains(out.host, ':')) return bad("is an IPv6 address without [brackets]");
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return bad(absl::StrCat("has no valid port (\"", port, "\")"));
  }
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(out.ipv6 ? AF_INET6 : AF_INET, out.host.c_str(), buf) != 1) {
    return bad(out.ipv6 ? "is not an IPv6 address" : "is not an IP address (a host name?)");
  }
  return out;
}

// The parsed entries of a list; empty for one address (a target used as it is).
absl::StatusOr<std::vector<ListEntry>> ParseList(const ClientOptions& options) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> split = SplitAddresses(options);
  if (!split.ok()) return split.status();
  std::vector<ListEntry> list;
  if (split->size() == 1) return list;
  for (const auto& [field, entry] : *split) {
    absl::StatusOr<ListEntry> parsed = ParseListEntry(field, entry);
    if (!parsed.ok()) return parsed.status();
    list.push_back(*std::move(parsed));
  }
  return list;
}

// The addresses for messages: the list, or the one address.
std::string DisplayAddress(const ClientOptions& options) {
  return options.addresses.empty() ? options.address : absl::StrJoin(options.addresses, ",");
}

}  // namespace

absl::StatusOr<std::string> Client::Target(const ClientOptions& options) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> split = SplitAddresses(options);
  if (!split.ok()) return split.status();
  if (split->size() == 1) return split->front().second;
  absl::StatusOr<std::vector<ListEntry>> list = ParseList(options);
  if (!list.ok()) return list.status();
  const bool ipv6 =
      std::any_of(list->begin(), list->end(), [](const ListEntry& e) { return e.ipv6; });
  std::vector<std::string> parts;
  for (const ListEntry& e : *list) {
    // One resolver takes one family: IPv4 addresses join an IPv6 list as IPv4-mapped ones.
    parts.push_back(ipv6 && !e.ipv6 ? absl::StrCat("[::ffff:", e.host, "]:", e.port) : e.text);
  }
  return absl::StrCat(ipv6 ? "ipv6:" : "ipv4:", absl::StrJoin(parts, ","));
}

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
  if (options.keepalive_time > absl::ZeroDuration()) {
    const auto millis = [](absl::Duration d) {
      return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, INT32_MAX));
    };
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, millis(options.keepalive_time));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, millis(options.keepalive_timeout));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // a quiet stream is pinged too
  }
  if (options.receive_window_bytes > 0) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, options.receive_window_bytes);
  }
  if (options.credentials.tls() && !options.credentials.server_name.empty()) {
    args.SetSslTargetNameOverride(options.credentials.server_name);
  }
  absl::StatusOr<std::vector<ListEntry>> list = ParseList(options);
  if (list.ok() && !list->empty()) {
    // Stay on one replica; on losing it, try the list again in order (the dead one is
    // refused at once) rather than spread calls over all of them.
    args.SetLoadBalancingPolicyName("pick_first");
    // The authority of an "ipv4:a,b" target would be the whole list; TLS checks this name
    // (or server_name) against every replica's certificate.
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, list->front().text);
  }
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Client::MakeChannel(const ClientOptions& options) {
  absl::StatusOr<std::string> target = Target(options);
  if (!target.ok()) return target.status();
  absl::StatusOr<std::vector<ListEntry>> list = ParseList(options);
  if (!list.ok()) return list.status();
  if (options.credentials.tls() && options.credentials.server_name.empty()) {
    for (const ListEntry& e : *list) {
      if (e.host != list->front().host) {
        return absl::InvalidArgumentError(absl::StrCat(
            "credentials.server_name: required with TLS when the addresses name different "
            "hosts (",
            list->front().host, ", ", e.host,
            "): one channel checks one name, which every replica's certificate must hold"));
      }
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.credentials);
  if (!credentials.ok()) return credentials.status();
  return grpc::CreateCustomChannel(*target, *credentials, ChannelArguments(options));
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
      admin_(v1::AdminService::NewStub(channel_)),
      instances_(v1::InstanceService::NewStub(channel_)),
      release_(v1::ReleaseService::NewStub(channel_)),
      access_(v1::AccessService::NewStub(channel_)) {}

absl::Status Client::Prepare(grpc::ClientContext* context) const {
  if (!channel_status_.ok()) return channel_status_;
  return internal::AddCallMetadata(context, options_.user, *token_);
}

template <typename Request, typename Response, typename Call>
absl::StatusOr<Response> Client::Unary(const Request& request, bool idempotent, Call call,
                                       absl::Duration extra) {
  const absl::Time deadline = absl::Now() + options_.deadline + extra;
  const int attempts = std::max(1, options_.max_attempts);
  absl::Duration backoff = options_.initial_backoff;
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    if (absl::Status s = Prepare(&ctx); !s.ok()) return s;
    ctx.set_wait_for_ready(options_.wait_for_ready);
    Response response;
    status = call(&ctx, request, &response);
    if (status.ok()) return response;
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && options_.wait_for_ready &&
        channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
      // The deadline passed while waiting for a connection: say so, as UNAVAILABLE.
      return absl::UnavailableError(absl::StrCat("cannot reach confcenterd at ",
                                                 DisplayAddress(options_), " within ",
                                                 absl::FormatDuration(options_.deadline)));
    }
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= attempts) break;
    // A write that may have reached a replica goes back to the caller: repeating it could
    // apply it twice. One that never got a connection is safe to repeat.
    if (!idempotent && !options_.retry_writes &&
        (options_.wait_for_ready || !internal::IsConnectFailure(FromGrpcStatus(status)))) {
      break;
    }
    const absl::Duration wait = Jittered(backoff);
    if (absl::Now() + wait >= deadline) break;  // no time left for another attempt
    internal::WaitForReconnect(channel_.get(), absl::Now() + wait,
                               /*lost=*/internal::IsConnectFailure(FromGrpcStatus(status)));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return FromGrpcStatus(status);
}

#define CONFCENTER_UNARY_AS(Method, Response, Stub, Idempotent)                                \
  absl::StatusOr<v1::Response> Client::Method(const v1::Method##Request& request) {            \
    return Unary<v1::Method##Request, v1::Response>(                                           \
        request, Idempotent,                                                                   \
        [this](grpc::ClientContext* ctx, const v1::Method##Request& req, v1::Response* resp) { \
          return Stub->Method(ctx, req, resp);                                                 \
        });                                                                                    \
  }
#define CONFCENTER_UNARY(Method, Stub, Idempotent) \
  CONFCENTER_UNARY_AS(Method, Method##Response, Stub, Idempotent)

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
CONFCENTER_UNARY(Explain, history_, true)
CONFCENTER_UNARY(WhoAmI, access_, true)
CONFCENTER_UNARY(RotateSecretKey, admin_, false)
CONFCENTER_UNARY(ListInstances, instances_, true)
CONFCENTER_UNARY(SetReview, release_, true)
CONFCENTER_UNARY_AS(CreateDraft, DraftResponse, release_, false)
CONFCENTER_UNARY_AS(UpdateDraft, DraftResponse, release_, false)
CONFCENTER_UNARY_AS(GetDraft, DraftResponse, release_, true)
CONFCENTER_UNARY(ListDrafts, release_, true)
CONFCENTER_UNARY(DiscardDraft, release_, false)
CONFCENTER_UNARY(PublishDraft, release_, false)
CONFCENTER_UNARY(Promote, release_, false)
CONFCENTER_UNARY(Reset, release_, false)
CONFCENTER_UNARY_AS(StartGray, GrayResponse, release_, false)
CONFCENTER_UNARY_AS(GetGray, GrayResponse, release_, true)
absl::StatusOr<v1::EndGrayResponse> Client::PromoteGray(const v1::EndGrayRequest& request) {
  return Unary<v1::EndGrayRequest, v1::EndGrayResponse>(
      request, false,
      [this](grpc::ClientContext* ctx, const v1::EndGrayRequest& req, v1::EndGrayResponse* resp) {
        return release_->PromoteGray(ctx, req, resp);
      });
}
absl::StatusOr<v1::EndGrayResponse> Client::AbortGray(const v1::EndGrayRequest& request) {
  return Unary<v1::EndGrayRequest, v1::EndGrayResponse>(
      request, false,
      [this](grpc::ClientContext* ctx, const v1::EndGrayRequest& req, v1::EndGrayResponse* resp) {
        return release_->AbortGray(ctx, req, resp);
      });
}

#undef CONFCENTER_UNARY
#undef CONFCENTER_UNARY_AS

absl::StatusOr<v1::WaitAppliedResponse> Client::WaitApplied(const v1::WaitAppliedRequest& request) {
  const absl::Duration wait = request.has_timeout()
                                  ? absl::Seconds(request.timeout().seconds()) +
                                        absl::Nanoseconds(request.timeout().nanos())
                                  : absl::Seconds(60);
  return Unary<v1::WaitAppliedRequest, v1::WaitAppliedResponse>(
      request, /*idempotent=*/true,
      [this](grpc::ClientContext* ctx, const v1::WaitAppliedRequest& req,
             v1::WaitAppliedResponse* resp) { return instances_->WaitApplied(ctx, req, resp); },
      wait);
}

std::unique_ptr<WatchStream> Client::Subscribe(const v1::SubscribeRequest& request) {
  return std::make_unique<GrpcWatchStream>(
      watch_.get(), request, [this](grpc::ClientContext* ctx) { return Prepare(ctx); });
}

}  // namespace confcenter
