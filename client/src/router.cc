#include "confcenter/router.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/src/call_metadata.h"
#include "client/src/reconnect.h"
#include "common/names.h"
#include "confcenter/client.h"
#include "confcenter/request_tenant.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/support/client_interceptor.h"

namespace confcenter {
namespace {

constexpr absl::string_view kEndpointKeyPrefix = "_endpoint.";

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Endpoint name -> route, per service: one tenant's view of the dependencies' endpoints.
using EndpointMap =
    absl::flat_hash_map<std::string,
                        absl::flat_hash_map<std::string, std::pair<std::string, std::string>>>;

// One tenant whose map is followed.
struct TenantState {
  std::string name;
  bool pinned = false;   // the own tenant: never dropped
  bool checked = false;  // the server knows it (GetTenant); only then on the stream
  bool loaded = false;   // a snapshot has arrived: `endpoints` is its view
  // A request waited first_request_wait for it in vain (e.g. the server is down): later
  // requests do not wait again until it has loaded.
  bool waited_in_vain = false;
  EndpointMap endpoints;  // address, source tenant
  EndpointMap incoming;   // snapshot parts of the current stream
  std::optional<int64_t> revision;
  std::string epoch;
  mutable std::atomic<int64_t> last_used{0};
};

// Applies a view message's endpoint keys to `state`. False if the view must start over from a
// snapshot (progress of another store epoch).
bool ApplyViewMessage(const v1::SubscribeResponse& message, TenantState* state) {
  if (!message.epoch().empty() && message.epoch() != state->epoch) {
    if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS && !state->epoch.empty()) {
      return false;
    }
    if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS || message.snapshot_last()) {
      state->epoch = message.epoch();
    }
  }
  switch (message.kind()) {
    case v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT:
      for (const v1::ResolvedEntry& e : message.entries()) {
        if (!absl::StartsWith(e.key(), kEndpointKeyPrefix)) continue;
        state->incoming[e.service()][e.key().substr(kEndpointKeyPrefix.size())] = {
            e.value(), e.source_tenant()};
      }
      if (!message.snapshot_last()) return true;
      state->endpoints = std::move(state->incoming);
      state->incoming.clear();
      state->loaded = true;
      state->revision = message.revision();
      return true;
    case v1::SUBSCRIBE_RESPONSE_KIND_EVENTS:
      for (const v1::WatchEvent& e : message.events()) {
        if (!absl::StartsWith(e.key(), kEndpointKeyPrefix)) continue;
        std::string name = e.key().substr(kEndpointKeyPrefix.size());
        if (e.type() == v1::WatchEvent::TYPE_PUT) {
          state->endpoints[e.service()][name] = {e.value(), e.source_tenant()};
        } else if (auto it = state->endpoints.find(e.service()); it != state->endpoints.end()) {
          it->second.erase(name);
          if (it->second.empty()) state->endpoints.erase(it);
        }
      }
      state->revision = message.revision();
      return true;
    case v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS:
      if (state->loaded) state->revision = message.revision();
      return true;
    default:
      return true;
  }
}

}  // namespace

class Router::Impl {
 public:
  Impl(std::shared_ptr<grpc::Channel> channel, RouterOptions options)
      : options_(std::move(options)),
        channel_(channel),
        watch_(v1::WatchService::NewStub(channel)),
        tenants_stub_(v1::TenantService::NewStub(channel)),
        token_(options_.credentials),
        channel_credentials_(options_.channel_credentials != nullptr
                                 ? options_.channel_credentials
                                 : grpc::InsecureChannelCredentials()) {
    auto own = std::make_unique<TenantState>();
    own->name = options_.tenant;
    own->pinned = true;
    own_ = own.get();
    absl::MutexLock lock(&mu_);
    tenants_.emplace(options_.tenant, std::move(own));
  }

  void StartThread() {
    thread_ = std::thread([this] { Run(); });
  }

  ~Impl() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (active_ != nullptr) active_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  std::optional<Route> EndpointFor(std::string_view dependency, std::string_view request_tenant,
                                   std::string_view endpoint) {
    lookups_.fetch_add(1, std::memory_order_relaxed);
    if (endpoint.empty()) endpoint = options_.endpoint;
    const bool own = request_tenant.empty() || request_tenant == options_.tenant;
    {
      absl::ReaderMutexLock lock(&mu_);
      const TenantState* state = own_;
      if (!own) {
        auto it = tenants_.find(Sv(request_tenant));
        state = it != tenants_.end() ? it->second.get() : nullptr;
      }
      if (state != nullptr && state->loaded) {
        state->last_used.store(clock_.fetch_add(1, std::memory_order_relaxed),
                               std::memory_order_relaxed);
        return Find(*state, dependency, endpoint);
      }
    }
    // Not followed yet, or its map has not arrived: add it and wait for the map a little;
    // else route by the own tenant.
    if (!own && !IsValidRequestTenant(request_tenant)) {
      invalid_tenant_.fetch_add(1, std::memory_order_relaxed);
      return OwnRoute(dependency, endpoint);
    }
    if (!own) {
      absl::MutexLock lock(&mu_);
      const std::string name(request_tenant);
      if (!Add(name)) {
        unknown_tenant_.fetch_add(1, std::memory_order_relaxed);
      } else if (WaitLoaded(name)) {
        return Find(*tenants_.find(name)->second, dependency, endpoint);
      } else {
        (tenants_.contains(name) ? not_loaded_ : unknown_tenant_)
            .fetch_add(1, std::memory_order_relaxed);
      }
    }
    return OwnRoute(dependency, endpoint);
  }

  void Track(std::string_view tenant) {
    if (!IsValidRequestTenant(tenant)) return;
    absl::MutexLock lock(&mu_);
    Add(std::string(tenant));
  }

  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address) {
    absl::MutexLock lock(&channels_mu_);
    const int64_t now = clock_.fetch_add(1, std::memory_order_relaxed);
    if (auto it = channels_.find(address); it != channels_.end()) {
      it->second.second = now;
      return it->second.first;
    }
    if (static_cast<int>(channels_.size()) >= options_.max_channels) {
      auto oldest = std::min_element(
          channels_.begin(), channels_.end(),
          [](const auto& a, const auto& b) { return a.second.second < b.second.second; });
      channels_.erase(oldest);  // callers that hold it keep it open
    }
    std::shared_ptr<grpc::Channel> channel =
        grpc::experimental::CreateCustomChannelWithInterceptors(
            address, channel_credentials_, grpc::ChannelArguments(),
            TenantClientInterceptors(options_.tenant, options_.header));
    channels_.emplace(address, std::make_pair(channel, now));
    return channel;
  }

  RouterStats stats() const {
    RouterStats stats;
    stats.lookups = lookups_.load(std::memory_order_relaxed);
    stats.invalid_tenant = invalid_tenant_.load(std::memory_order_relaxed);
    stats.unknown_tenant = unknown_tenant_.load(std::memory_order_relaxed);
    stats.not_loaded = not_loaded_.load(std::memory_order_relaxed);
    stats.evictions = evictions_.load(std::memory_order_relaxed);
    stats.stream_restarts = stream_restarts_.load(std::memory_order_relaxed);
    absl::ReaderMutexLock lock(&mu_);
    stats.tracked_tenants = static_cast<int>(tenants_.size()) - 1;
    for (const auto& [name, state] : tenants_) {
      if (!state->pinned && state->loaded) ++stats.loaded_tenants;
    }
    return stats;
  }

 private:
  // The own tenant's route, once its map has arrived (waited for up to first_request_wait).
  std::optional<Route> OwnRoute(std::string_view dependency, std::string_view endpoint) {
    absl::MutexLock lock(&mu_);
    // The own tenant was not known to the server (e.g. the instance started before its CD
    // step registered it): a request asks about it again now, at most once per answer.
    if (unknown_.erase(options_.tenant) > 0) {
      restart_ = true;
      if (active_ != nullptr) active_->TryCancel();
    }
    if (!WaitLoaded(options_.tenant)) return std::nullopt;
    return Find(*own_, dependency, endpoint);
  }

  // Waits up to first_request_wait until `name`'s map has arrived (true) or the tenant was
  // dropped or the router stops (false). Once such a wait has ended without the map, the
  // next requests do not wait (false at once) until it arrives.
  bool WaitLoaded(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto settled = [this, &name]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = tenants_.find(name);
      return stopping_ || it == tenants_.end() || it->second->loaded;
    };
    auto it = tenants_.find(name);
    if (it != tenants_.end() && !it->second->loaded && it->second->waited_in_vain) return false;
    // A zero wait never releases the lock, so a map that arrives meanwhile cannot make the
    // answer depend on scheduling.
    if (options_.first_request_wait > absl::ZeroDuration()) {
      mu_.AwaitWithTimeout(absl::Condition(&settled), options_.first_request_wait);
    }
    it = tenants_.find(name);
    if (it == tenants_.end()) return false;
    if (!it->second->loaded) it->second->waited_in_vain = true;
    return it->second->loaded;
  }

  std::optional<Route> Find(const TenantState& state, std::string_view dependency,
                            std::string_view endpoint) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto service = state.endpoints.find(Sv(dependency));
    if (service == state.endpoints.end()) return std::nullopt;
    auto it = service->second.find(Sv(endpoint));
    if (it == service->second.end()) return std::nullopt;
    return Route{it->second.first, it->second.second, state.name};
  }

  // Starts following `name` unless the server is known not to have it (false). At capacity
  // the least recently used tenant is dropped. The stream picks it up at its next start.
  bool Add(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (tenants_.contains(name)) return true;
    if (auto it = unknown_.find(name); it != unknown_.end()) {
      if (absl::Now() < it->second) return false;
      unknown_.erase(it);
    }
    if (static_cast<int>(tenants_.size()) - 1 >= options_.max_tenants) {
      auto oldest = tenants_.end();
      for (auto it = tenants_.begin(); it != tenants_.end(); ++it) {
        if (it->second->pinned) continue;
        if (oldest == tenants_.end() ||
            it->second->last_used.load(std::memory_order_relaxed) <
                oldest->second->last_used.load(std::memory_order_relaxed)) {
          oldest = it;
        }
      }
      if (oldest != tenants_.end()) {
        tenants_.erase(oldest);
        evictions_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    auto state = std::make_unique<TenantState>();
    state->name = name;
    state->last_used.store(clock_.fetch_add(1, std::memory_order_relaxed));
    tenants_.emplace(name, std::move(state));
    // A new view: the stream starts again with it (the others resume where they were).
    restart_ = true;
    if (active_ != nullptr) active_->TryCancel();
    return true;
  }

  // Drops `name` (the server does not know it) for unknown_tenant_ttl.
  void MarkUnknown(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = tenants_.find(name);
    if (it == tenants_.end()) return;
    if (it->second->pinned) {
      it->second->checked = false;
    } else {
      tenants_.erase(it);
    }
    if (unknown_.size() >= 10000) unknown_.clear();  // bounded: forget, ask again
    unknown_[name] = absl::Now() + options_.unknown_tenant_ttl;
  }

  // Asks the server about the tenants not yet checked; drops those it does not have. Returns
  // the error of a call that failed otherwise (then try again later).
  absl::Status CheckNewTenants() {
    std::vector<std::string> names;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, state] : tenants_) {
        if (state->checked) continue;
        if (state->pinned) {
          if (auto it = unknown_.find(name); it != unknown_.end() && absl::Now() < it->second)
            continue;  // the own tenant, asked about again after the ttl
        }
        names.push_back(name);
      }
    }
    absl::Status failure;
    for (const std::string& name : names) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      absl::Status status = internal::AddCallMetadata(&ctx, options_.user, token_);
      v1::GetTenantRequest request;
      request.set_tenant(name);
      v1::GetTenantResponse response;
      if (status.ok()) status = FromGrpcStatus(tenants_stub_->GetTenant(&ctx, request, &response));
      absl::MutexLock lock(&mu_);
      auto it = tenants_.find(name);
      if (it == tenants_.end()) continue;
      if (status.ok()) {
        it->second->checked = true;
      } else if (absl::IsNotFound(status)) {
        MarkUnknown(name);
      } else {
        failure = status;
      }
    }
    return failure;
  }

  void Run() {
    absl::Duration backoff = options_.initial_backoff;
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    while (true) {
      {
        // From here on, a tenant added makes this round start again (below) or cancels the
        // stream it opens.
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        restart_ = false;
      }
      absl::Status status = CheckNewTenants();
      grpc::ClientContext ctx;
      v1::SubscribeViewsRequest request;
      std::vector<std::string> views;
      if (status.ok()) status = internal::AddCallMetadata(&ctx, options_.user, token_);
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        if (restart_) continue;  // added while the new ones were checked: check it too
        for (auto& [name, state] : tenants_) {
          if (!state->checked) continue;
          v1::SubscribeRequest* view = request.add_views();
          view->set_tenant(name);
          for (const std::string& s : options_.dependencies) view->add_services(s);
          if (state->revision.has_value()) {
            view->set_start_revision(*state->revision);
            view->set_epoch(state->epoch);
          }
          state->incoming.clear();
          views.push_back(name);
        }
        if (status.ok() && !views.empty()) active_ = &ctx;
      }
      bool ended_view = false;
      if (status.ok() && !views.empty()) {
        stream_restarts_.fetch_add(1, std::memory_order_relaxed);
        std::unique_ptr<grpc::ClientReader<v1::SubscribeViewsResponse>> reader =
            watch_->SubscribeViews(&ctx, request);
        v1::SubscribeViewsResponse response;
        while (reader->Read(&response)) {
          backoff = options_.initial_backoff;  // the server answered
          absl::MutexLock lock(&mu_);
          for (const v1::ViewMessage& m : response.messages()) {
            if (m.end_code() != 0) ended_view = true;
            for (uint32_t index : m.views()) {
              if (index >= views.size()) continue;
              auto it = tenants_.find(views[index]);
              if (it == tenants_.end() || m.end_code() != 0) continue;  // dropped meanwhile
              if (!ApplyViewMessage(m.message(), it->second.get())) {
                it->second->revision.reset();  // another epoch: from a snapshot
                it->second->epoch.clear();
                ended_view = true;
              }
            }
          }
          if (ended_view) ctx.TryCancel();
        }
        status = FromGrpcStatus(reader->Finish());
      }
      absl::Duration wait;
      {
        absl::MutexLock lock(&mu_);
        active_ = nullptr;
        if (stopping_) return;
        if (restart_ || ended_view) continue;  // a new tenant, or a view to resume: at once
        if (absl::IsNotFound(status)) {
          // A followed tenant is gone: ask about each again before the next stream.
          for (auto& [name, state] : tenants_) state->checked = false;
        }
        wait = (views.empty() ? options_.max_backoff : backoff) * jitter(rng);
        if (!absl::IsUnavailable(status)) {
          mu_.AwaitWithTimeout(absl::Condition(
                                   +[](Impl* impl) ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl->mu_) {
                                     return impl->stopping_ || impl->restart_;
                                   },
                                   this),
                               wait);
          if (stopping_) return;
        }
      }
      // After a lost connection, a new one ends the wait early (so does a new tenant).
      if (absl::IsUnavailable(status) &&
          internal::WaitForReconnect(channel_.get(), absl::Now() + wait,
                                     /*lost=*/internal::IsConnectFailure(status), [this] {
                                       absl::MutexLock lock(&mu_);
                                       return stopping_ || restart_;
                                     })) {
        continue;  // stopping (the loop's start returns) or a new tenant
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }

  const RouterOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::WatchService::Stub> watch_;
  const std::unique_ptr<v1::TenantService::Stub> tenants_stub_;
  const TokenSource token_;
  const std::shared_ptr<grpc::ChannelCredentials> channel_credentials_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<TenantState>> tenants_ ABSL_GUARDED_BY(mu_);
  TenantState* own_;  // in tenants_ for the router's life
  // Tenants the server did not know, until when they are not asked about again.
  absl::flat_hash_map<std::string, absl::Time> unknown_ ABSL_GUARDED_BY(mu_);
  bool restart_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* active_ ABSL_GUARDED_BY(mu_) = nullptr;

  absl::Mutex channels_mu_;
  absl::flat_hash_map<std::string, std::pair<std::shared_ptr<grpc::Channel>, int64_t>> channels_
      ABSL_GUARDED_BY(channels_mu_);

  // Use order for least-recently-used eviction.
  std::atomic<int64_t> clock_{1};
  std::atomic<int64_t> lookups_{0}, invalid_tenant_{0}, unknown_tenant_{0}, not_loaded_{0},
      evictions_{0}, stream_restarts_{0};
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<Router>> Router::Start(std::shared_ptr<grpc::Channel> channel,
                                                      RouterOptions options) {
  if (absl::Status s = ValidateTenantName("tenant", options.tenant); !s.ok()) return s;
  if (options.dependencies.empty()) {
    return absl::InvalidArgumentError("dependencies: at least one service is required");
  }
  for (size_t i = 0; i < options.dependencies.size(); ++i) {
    if (absl::Status s =
            ValidateServiceName(absl::StrCat("dependencies[", i, "]"), options.dependencies[i]);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ValidateEndpointName("endpoint", options.endpoint); !s.ok()) return s;
  if (options.max_tenants < 1 || options.max_tenants > 9999) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tenants: ", options.max_tenants, " is outside 1-9999"));
  }
  if (options.max_channels < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_channels: ", options.max_channels, " must be at least 1"));
  }
  auto impl = std::make_unique<Impl>(std::move(channel), std::move(options));
  impl->StartThread();
  return std::unique_ptr<Router>(new Router(std::move(impl)));
}

Router::Router(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Router::~Router() = default;

std::optional<Route> Router::EndpointFor(std::string_view dependency,
                                         std::string_view request_tenant,
                                         std::string_view endpoint) {
  return impl_->EndpointFor(dependency, request_tenant, endpoint);
}

std::optional<Route> Router::EndpointFor(std::string_view dependency) {
  return impl_->EndpointFor(dependency, TenantScope::Current(), {});
}

std::shared_ptr<grpc::Channel> Router::ChannelFor(std::string_view dependency) {
  std::optional<Route> route = EndpointFor(dependency);
  if (!route.has_value()) return nullptr;
  return impl_->ChannelFor(route->address);
}

void Router::Track(std::string_view tenant) { impl_->Track(tenant); }

RouterStats Router::stats() const { return impl_->stats(); }

}  // namespace confcenter
