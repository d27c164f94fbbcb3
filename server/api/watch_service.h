// The gRPC edge of WatchService: a callback-API write reactor per Subscribe stream that
// queues the hub's pre-serialized messages and writes them one at a time, and one per
// SubscribeViews stream that queues its views' messages and writes them in envelopes.
#ifndef CONFCENTER_SERVER_API_WATCH_SERVICE_H_
#define CONFCENTER_SERVER_API_WATCH_SERVICE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "server/api/gatekeeper.h"
#include "server/core/metrics.h"
#include "server/watch/instance_registry.h"
#include "server/watch/watch_hub.h"

namespace confcenter {

// Threads that start streams' writes, so that the hub's publishing thread only queues: gRPC
// runs a write it is handed inline (framing, sendmsg), and one thread doing that for every
// stream of a fan-out was the bottleneck (37.7k against 77.9k events/s with 2 threads here).
// During a burst of the hub's Sends (it is the hub's SendBurstListener) posts wait, so that a
// stream holding many views takes all it got in the burst into one write.
class WriteStarter final : public SendBurstListener {
 public:
  // `threads` >= 1 worker threads.
  explicit WriteStarter(int threads);
  // Runs what is still posted, then joins the threads.
  ~WriteStarter() override;
  // Runs `work` on the thread `key` maps to (one key, one thread: its posts run in order);
  // inside a burst on the calling thread, once the burst ends.
  void Post(size_t key, std::function<void()> work);

  // SendBurstListener; bursts may nest.
  void BurstBegins() override;
  void BurstEnds() override;

 private:
  struct Worker {
    absl::Mutex mu;
    std::deque<std::function<void()>> work ABSL_GUARDED_BY(mu);
    bool runnable ABSL_GUARDED_BY(mu) = false;  // work holds something not held back
    bool stopping ABSL_GUARDED_BY(mu) = false;
    std::thread thread;
  };
  static void Run(Worker* worker);
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Subscribe and SubscribeViews are registered as raw methods so the hub's serialized
// messages go out as they are: one serialization per message, shared by every stream that
// gets it (SubscribeViews wraps them in its envelope without parsing them).
class WatchServiceImpl final
    : public v1::WatchService::WithRawCallbackMethod_Subscribe<
          v1::WatchService::WithRawCallbackMethod_SubscribeViews<v1::WatchService::Service>> {
 public:
  // `hub`, `metrics` and `gate` must outlive the service. `max_queued_messages` bounds each
  // stream's queue. Streams' writes are started on `write_threads` threads (WriteStarter).
  // `instances` (may be null) lists the streams' instances and must outlive the service too.
  WatchServiceImpl(WatchHub* hub, size_t max_queued_messages, Metrics* metrics,
                   const Gatekeeper* gate, InstanceRegistry* instances = nullptr,
                   int write_threads = DefaultWriteThreads())
      : hub_(hub),
        max_queued_messages_(max_queued_messages),
        metrics_(metrics),
        gate_(gate),
        instances_(instances),
        starter_(write_threads) {}
  // One per core, at least 2.
  static int DefaultWriteThreads();
  // For WatchHub::SetSendBurstListener: holds the writes started during a burst of Sends.
  SendBurstListener* send_burst_listener() { return &starter_; }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* SubscribeViews(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;

 private:
  WatchHub* const hub_;
  const size_t max_queued_messages_;
  Metrics* const metrics_;
  const Gatekeeper* const gate_;
  InstanceRegistry* const instances_;
  WriteStarter starter_;  // destroyed after the gRPC server: its threads finish every stream
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_WATCH_SERVICE_H_
