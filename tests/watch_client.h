// A test subscriber: reads a Subscribe stream on its own thread, keeps the reconstructed
// view and every message it got, and lets the test wait (bounded) for what it expects.
#ifndef CONFCENTER_TESTS_WATCH_CLIENT_H_
#define CONFCENTER_TESTS_WATCH_CLIENT_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::testing {

class TestSubscriber {
 public:
  // (service, key) -> "value@source".
  using View = std::map<std::pair<std::string, std::string>, std::string>;

  // Starts the stream. `start_revision` absent: snapshot first.
  TestSubscriber(std::shared_ptr<grpc::Channel> channel, const std::string& tenant,
                 std::vector<std::string> services, std::optional<int64_t> start_revision,
                 View initial_view = {});
  // Cancels the stream and joins the reader.
  ~TestSubscriber();

  // Waits (up to 20 s) until the stream has seen a message with revision >= `revision`
  // (events, progress or a complete snapshot). False on timeout or if the stream ended.
  bool WaitForRevision(int64_t revision);
  // Waits (up to 20 s) until `count` messages have arrived; false otherwise.
  bool WaitForMessages(size_t count);
  // Waits (up to 20 s) for the stream to end and returns its status.
  grpc::Status WaitForEnd();
  // Cancels the stream and waits for the reader to stop.
  void Cancel();

  View view() const;
  std::vector<v1::SubscribeResponse> messages() const;
  // The revisions of the EVENTS messages received, in order.
  std::vector<int64_t> event_revisions() const;
  // The revision of the last message, 0 before any.
  int64_t last_revision() const;
  // Revisions of EVENTS messages that were not strictly increasing, if any.
  std::vector<int64_t> out_of_order() const;

 private:
  void ReadLoop();

  grpc::ClientContext ctx_;
  std::unique_ptr<v1::WatchService::Stub> stub_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  View view_;
  View pending_snapshot_;
  std::vector<v1::SubscribeResponse> messages_;
  std::vector<int64_t> out_of_order_;
  int64_t last_revision_ = 0;
  int64_t last_event_revision_ = 0;
  std::optional<grpc::Status> end_;
  std::thread thread_;
};

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_WATCH_CLIENT_H_
