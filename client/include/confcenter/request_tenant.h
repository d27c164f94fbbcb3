// The tenant a request belongs to, carried from service to service (docs/routing.md).
//
// A request that enters a branch's flow carries its tenant in the x-confcenter-tenant header.
// Each service keeps that tenant for the work it does for the request and sends it on with
// every call it makes, so a service running in integration still routes a branch's request to
// the branch's deployment of the next service (Router::EndpointFor).
//
//   // Server: the interceptor makes the incoming tenant current while the handler runs.
//   builder.experimental().SetInterceptorCreators(confcenter::TenantServerInterceptors());
//   // Client: calls on this channel send the current tenant (else the instance's own).
//   auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
//       address, creds, args, confcenter::TenantClientInterceptors("integration"));
//   // A thread hop: capture where the request's work is handed over, restore on the thread.
//   pool.Submit([tenant = confcenter::TenantScope::Current()] {
//     confcenter::TenantScope scope(tenant);
//     ...calls made here carry the tenant...
//   });
#ifndef CONFCENTER_CLIENT_REQUEST_TENANT_H_
#define CONFCENTER_CLIENT_REQUEST_TENANT_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_interceptor.h"
#include "grpcpp/support/server_interceptor.h"

namespace confcenter {

// The metadata / HTTP header that carries the request's tenant (HTTP headers match it in any
// case).
inline constexpr std::string_view kTenantHeader = "x-confcenter-tenant";

// Whether `tenant` is a valid tenant name (1-63 characters of [a-z0-9-], first and last
// [a-z0-9]): a header with anything else is ignored, never sent on.
bool IsValidRequestTenant(std::string_view tenant);

// The current request's tenant on this thread, set for a scope: the constructor makes
// `tenant` current, the destructor restores what was current before (scopes nest). An
// empty or invalid tenant makes "no request tenant" current: calls then carry the
// instance's own tenant. Not copyable; create it on the thread that does the work.
class TenantScope {
 public:
  explicit TenantScope(std::string tenant);
  ~TenantScope();
  TenantScope(const TenantScope&) = delete;
  TenantScope& operator=(const TenantScope&) = delete;

  // This thread's current request tenant; empty when none.
  static const std::string& Current();

 private:
  std::string previous_;
};

// The tenant an incoming gRPC call carries in `header`, if valid; empty otherwise.
std::string TenantOf(const grpc::ServerContextBase& context,
                     std::string_view header = kTenantHeader);
// The tenant of an HTTP request's header value (nullopt: the header is absent), if valid;
// empty otherwise. For HTTP servers: `TenantScope scope(TenantFromHttpHeader(value));`.
std::string TenantFromHttpHeader(std::optional<std::string_view> value);

// Client interceptors (for CreateCustomChannelWithInterceptors) that add `header` to every
// call: the current TenantScope's tenant when the call is created, else `own_tenant`. A call
// that already has the header (ClientContext::AddMetadata) keeps its own.
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
TenantClientInterceptors(std::string own_tenant, std::string header = std::string(kTenantHeader));

// Server interceptors (ServerBuilder::experimental().SetInterceptorCreators) that make the
// incoming call's tenant current (a TenantScope) on the thread that runs the handler, until
// the handler returns: for synchronous handlers and for callback handlers up to their first
// return. Work the handler hands to another thread takes the tenant with it
// (TenantScope::Current(), then a TenantScope there); a reactor that finishes later on
// another thread opens its own scope from TenantOf(context).
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
TenantServerInterceptors(std::string header = std::string(kTenantHeader));

}  // namespace confcenter

#endif  // CONFCENTER_CLIENT_REQUEST_TENANT_H_
