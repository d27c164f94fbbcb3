// The gRPC edge's side of the metrics: an interceptor that counts and times every RPC, and
// turns a refusal's retry advice (server/core/retry_advice.h) into the trailer
// grpc-retry-pushback-ms.
#ifndef CONFCENTER_SERVER_API_RPC_METRICS_H_
#define CONFCENTER_SERVER_API_RPC_METRICS_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "server/core/metrics.h"

namespace confcenter {

// Counts every RPC of the server it is installed in (ServerBuilder::experimental()
// .SetInterceptorCreators) into `metrics`, which must outlive the server, and adds
// grpc-retry-pushback-ms to the trailers of statuses that carry retry advice.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcMetricsInterceptor(
    Metrics* metrics);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_RPC_METRICS_H_
