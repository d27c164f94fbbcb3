// The gRPC edge of InstanceService: instances' reports, the instance table, and waiting
// until a revision has taken effect (server/watch/instance_registry.h holds the table).
#ifndef CONFCENTER_SERVER_API_INSTANCE_SERVICE_H_
#define CONFCENTER_SERVER_API_INSTANCE_SERVICE_H_

#include "confcenter/v1/instances.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/core/config_core.h"
#include "server/watch/instance_registry.h"

namespace confcenter {

class InstanceServiceImpl final : public v1::InstanceService::CallbackService {
 public:
  // `core`, `registry` and `gate` must outlive the service.
  InstanceServiceImpl(ConfigCore* core, InstanceRegistry* registry, const Gatekeeper* gate)
      : core_(core), registry_(registry), gate_(gate) {}

  grpc::ServerUnaryReactor* ReportInstance(grpc::CallbackServerContext* ctx,
                                           const v1::ReportInstanceRequest* req,
                                           v1::ReportInstanceResponse* resp) override;
  grpc::ServerUnaryReactor* ListInstances(grpc::CallbackServerContext* ctx,
                                          const v1::ListInstancesRequest* req,
                                          v1::ListInstancesResponse* resp) override;
  // Never blocks: the reactor is finished by the registry when the wait is answered.
  grpc::ServerUnaryReactor* WaitApplied(grpc::CallbackServerContext* ctx,
                                        const v1::WaitAppliedRequest* req,
                                        v1::WaitAppliedResponse* resp) override;

 private:
  ConfigCore* const core_;
  InstanceRegistry* const registry_;
  const Gatekeeper* const gate_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_INSTANCE_SERVICE_H_
