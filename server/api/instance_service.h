// The gRPC edge of InstanceService: instances' reports, the instance table, and waiting
// until a revision has taken effect (server/watch/instance_registry.h holds the table).
#ifndef CONFCENTER_SERVER_API_INSTANCE_SERVICE_H_
#define CONFCENTER_SERVER_API_INSTANCE_SERVICE_H_

#include "confcenter/v1/instances.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/api/replica_peers.h"
#include "server/core/config_core.h"
#include "server/watch/instance_registry.h"

namespace confcenter {

class InstanceServiceImpl final : public v1::InstanceService::CallbackService {
 public:
  // `core`, `registry`, `gate` and `peers` must outlive the service. With several replicas
  // (peers->shared()), ListInstances and WaitApplied ask the other replicas too, unless the
  // request is replica_local; a call from another replica (its peer secret) passes without
  // credentials, for replica_local requests only.
  InstanceServiceImpl(ConfigCore* core, InstanceRegistry* registry, const Gatekeeper* gate,
                      ReplicaPeers* peers)
      : core_(core), registry_(registry), gate_(gate), peers_(peers) {}

  grpc::ServerUnaryReactor* ReportInstance(grpc::CallbackServerContext* ctx,
                                           const v1::ReportInstanceRequest* req,
                                           v1::ReportInstanceResponse* resp) override;
  grpc::ServerUnaryReactor* ListInstances(grpc::CallbackServerContext* ctx,
                                          const v1::ListInstancesRequest* req,
                                          v1::ListInstancesResponse* resp) override;
  // Never blocks: the reactor is finished by the registry (and the peers) when the wait is
  // answered.
  grpc::ServerUnaryReactor* WaitApplied(grpc::CallbackServerContext* ctx,
                                        const v1::WaitAppliedRequest* req,
                                        v1::WaitAppliedResponse* resp) override;

 private:
  ConfigCore* const core_;
  InstanceRegistry* const registry_;
  const Gatekeeper* const gate_;
  ReplicaPeers* const peers_;

  // Admits the call (`check` on the caller's rights), or a replica's replica_local call.
  // nullptr-free: returns false with *refused set when refused.
  bool Admit(grpc::CallbackServerContext* ctx, const char* method, const std::string& tenant,
             bool replica_local, grpc::ServerUnaryReactor** refused) const;
  // Waits for this replica's instances and, unless `req` is replica_local, the others'.
  void WaitEverywhere(grpc::ServerUnaryReactor* reactor, const v1::WaitAppliedRequest* req,
                      v1::WaitAppliedResponse* resp, absl::Time deadline);
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_INSTANCE_SERVICE_H_
