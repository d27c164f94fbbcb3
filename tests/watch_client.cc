#include "tests/watch_client.h"

#include <chrono>

namespace confcenter::testing {

namespace {
constexpr auto kWait = std::chrono::seconds(20);
}

TestSubscriber::TestSubscriber(std::shared_ptr<grpc::Channel> channel, const std::string& tenant,
                               std::vector<std::string> services,
                               std::optional<int64_t> start_revision, View initial_view)
    : stub_(v1::WatchService::NewStub(channel)), view_(std::move(initial_view)) {
  v1::SubscribeRequest req;
  req.set_tenant(tenant);
  for (auto& s : services) req.add_services(s);
  if (start_revision) {
    req.set_start_revision(*start_revision);
    last_revision_ = *start_revision;
    last_event_revision_ = *start_revision;
  }
  reader_ = stub_->Subscribe(&ctx_, req);
  thread_ = std::thread([this] { ReadLoop(); });
}

TestSubscriber::~TestSubscriber() { Cancel(); }

void TestSubscriber::Cancel() {
  ctx_.TryCancel();
  if (thread_.joinable()) thread_.join();
}

void TestSubscriber::ReadLoop() {
  v1::SubscribeResponse msg;
  while (reader_->Read(&msg)) {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.push_back(msg);
    switch (msg.kind()) {
      case v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT:
        for (const auto& e : msg.entries()) {
          pending_snapshot_[{e.service(), e.key()}] = e.value() + "@" + e.source_tenant();
        }
        if (msg.snapshot_last()) {
          view_ = std::move(pending_snapshot_);
          pending_snapshot_.clear();
          last_revision_ = msg.revision();
          last_event_revision_ = msg.revision();
        }
        break;
      case v1::SUBSCRIBE_RESPONSE_KIND_EVENTS:
        if (msg.revision() <= last_event_revision_) out_of_order_.push_back(msg.revision());
        last_event_revision_ = msg.revision();
        last_revision_ = msg.revision();
        for (const auto& e : msg.events()) {
          if (e.type() == v1::WatchEvent::TYPE_PUT) {
            view_[{e.service(), e.key()}] = e.value() + "@" + e.source_tenant();
          } else {
            view_.erase({e.service(), e.key()});
          }
        }
        break;
      default:
        if (msg.revision() < last_revision_) out_of_order_.push_back(msg.revision());
        last_revision_ = msg.revision();
        break;
    }
    cv_.notify_all();
  }
  grpc::Status status = reader_->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  end_ = status;
  cv_.notify_all();
}

bool TestSubscriber::WaitForRevision(int64_t revision) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, kWait, [&] { return last_revision_ >= revision || end_; }) &&
         last_revision_ >= revision;
}

bool TestSubscriber::WaitForMessages(size_t count) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, kWait, [&] { return messages_.size() >= count || end_; }) &&
         messages_.size() >= count;
}

grpc::Status TestSubscriber::WaitForEnd() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, kWait, [&] { return end_.has_value(); })) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stream did not end within 20 s");
  }
  return *end_;
}

TestSubscriber::View TestSubscriber::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

std::vector<v1::SubscribeResponse> TestSubscriber::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

std::vector<int64_t> TestSubscriber::event_revisions() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  for (const auto& m : messages_) {
    if (m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) out.push_back(m.revision());
  }
  return out;
}

int64_t TestSubscriber::last_revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_revision_;
}

std::vector<int64_t> TestSubscriber::out_of_order() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_of_order_;
}

}  // namespace confcenter::testing
