// The gRPC edge: callback-API services that translate between confcenter.v1 messages and
// ConfigCore, and map absl::Status to grpc::Status. No business logic lives here.
#ifndef CONFCENTER_SERVER_API_GRPC_SERVICES_H_
#define CONFCENTER_SERVER_API_GRPC_SERVICES_H_

#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/core/config_core.h"

namespace confcenter {

class ConfigServiceImpl final : public v1::ConfigService::CallbackService {
 public:
  // `core` and `gate` must outlive the service.
  ConfigServiceImpl(ConfigCore* core, const Gatekeeper* gate) : core_(core), gate_(gate) {}

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* req,
                                v1::PutResponse* resp) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const v1::GetRequest* req,
                                v1::GetResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx, const v1::DeleteRequest* req,
                                   v1::DeleteResponse* resp) override;
  grpc::ServerUnaryReactor* Mask(grpc::CallbackServerContext* ctx, const v1::MaskRequest* req,
                                 v1::MaskResponse* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx, const v1::ListRequest* req,
                                 v1::ListResponse* resp) override;
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* ctx, const v1::ResolveRequest* req,
                                    v1::ResolveResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const v1::TxnRequest* req,
                                v1::TxnResponse* resp) override;

 private:
  ConfigCore* const core_;
  const Gatekeeper* const gate_;
};

class TenantServiceImpl final : public v1::TenantService::CallbackService {
 public:
  // `core` and `gate` must outlive the service.
  TenantServiceImpl(ConfigCore* core, const Gatekeeper* gate) : core_(core), gate_(gate) {}

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* req,
                                     v1::RegisterResponse* resp) override;
  grpc::ServerUnaryReactor* Deregister(grpc::CallbackServerContext* ctx,
                                       const v1::DeregisterRequest* req,
                                       v1::DeregisterResponse* resp) override;
  grpc::ServerUnaryReactor* GetTenant(grpc::CallbackServerContext* ctx,
                                      const v1::GetTenantRequest* req,
                                      v1::GetTenantResponse* resp) override;
  grpc::ServerUnaryReactor* ListTenants(grpc::CallbackServerContext* ctx,
                                        const v1::ListTenantsRequest* req,
                                        v1::ListTenantsResponse* resp) override;
  grpc::ServerUnaryReactor* ResolveDependencies(grpc::CallbackServerContext* ctx,
                                                const v1::ResolveDependenciesRequest* req,
                                                v1::ResolveDependenciesResponse* resp) override;
  grpc::ServerUnaryReactor* Touch(grpc::CallbackServerContext* ctx, const v1::TouchRequest* req,
                                  v1::TouchResponse* resp) override;

 private:
  ConfigCore* const core_;
  const Gatekeeper* const gate_;
};

// absl::Status -> grpc::Status, code and message unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);
// Finishes a unary call's default reactor with `status` and returns it.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_GRPC_SERVICES_H_
