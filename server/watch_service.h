// The gRPC edge of WatchService.Subscribe: a callback-API write reactor per stream that
// queues the hub's pre-serialized messages and writes them one at a time.
#ifndef CONFCENTER_SERVER_WATCH_SERVICE_H_
#define CONFCENTER_SERVER_WATCH_SERVICE_H_

#include "confcenter/v1/watch.grpc.pb.h"
#include "server/metrics.h"
#include "server/watch_hub.h"

namespace confcenter {

// Subscribe is registered as a raw method so the hub's serialized messages go out as they
// are: one serialization per message, shared by every stream that gets it.
class WatchServiceImpl final
    : public v1::WatchService::WithRawCallbackMethod_Subscribe<v1::WatchService::Service> {
 public:
  // `hub` and `metrics` must outlive the service. `max_queued_messages` bounds each stream's
  // queue.
  WatchServiceImpl(WatchHub* hub, size_t max_queued_messages, Metrics* metrics)
      : hub_(hub), max_queued_messages_(max_queued_messages), metrics_(metrics) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request) override;

 private:
  WatchHub* const hub_;
  const size_t max_queued_messages_;
  Metrics* const metrics_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_WATCH_SERVICE_H_
