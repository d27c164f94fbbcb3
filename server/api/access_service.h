// The gRPC edge of AccessService: WhoAmI, for debugging a denial.
#ifndef CONFCENTER_SERVER_API_ACCESS_SERVICE_H_
#define CONFCENTER_SERVER_API_ACCESS_SERVICE_H_

#include "confcenter/v1/access.grpc.pb.h"
#include "server/api/gatekeeper.h"

namespace confcenter {

class AccessServiceImpl final : public v1::AccessService::CallbackService {
 public:
  // `gate` must outlive the service.
  explicit AccessServiceImpl(const Gatekeeper* gate) : gate_(gate) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* ctx, const v1::WhoAmIRequest* req,
                                   v1::WhoAmIResponse* resp) override;

 private:
  const Gatekeeper* const gate_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_ACCESS_SERVICE_H_
