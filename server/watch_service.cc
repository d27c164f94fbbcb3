#include "server/watch_service.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "server/grpc_services.h"

namespace confcenter {
namespace {

// Wraps shared serialized bytes in a slice without copying them.
grpc::ByteBuffer ToByteBuffer(const std::shared_ptr<const std::string>& bytes) {
  auto* owner = new std::shared_ptr<const std::string>(bytes);
  grpc::Slice slice(const_cast<char*>(bytes->data()), bytes->size(),
                    [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); },
                    owner);
  return grpc::ByteBuffer(&slice, 1);
}

// One Subscribe stream. Lives until OnDone. At most one write in flight; the hub's Send and
// End only touch the queue under mu_ and never wait.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public WatchSink {
 public:
  SubscribeReactor(WatchHub* hub, size_t max_queued, Metrics* metrics, WriteStarter* starter)
      : hub_(hub), max_queued_(max_queued), metrics_(metrics), starter_(starter) {}

  void Start(const grpc::ByteBuffer* request) {
    v1::SubscribeRequest req;
    std::vector<grpc::Slice> slices;
    std::string data;
    if (request->Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        data.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    if (!req.ParseFromString(data)) {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      FinishLocked(ToGrpcStatus(
          absl::InvalidArgumentError("request: not a confcenter.v1.SubscribeRequest")));
      return;
    }
    SubscribeCommand command{req.tenant(),
                             std::vector<std::string>(req.services().begin(),
                                                      req.services().end()),
                             std::nullopt};
    if (req.has_start_revision()) command.start_revision = req.start_revision();
    absl::StatusOr<uint64_t> id = hub_->Subscribe(command, this);
    absl::MutexLock lock(&mu_);
    if (id.ok()) {
      id_ = *id;
      registered_ = true;
    } else {
      EndLocked(id.status());
    }
    // Finishing was held back until the id is known, so OnDone always unsubscribes.
    starting_ = false;
    if (deferred_finish_) FinishLocked(*deferred_finish_);
  }

  bool Send(std::shared_ptr<const std::string> message) override {
    absl::MutexLock lock(&mu_);
    if (finishing_) return true;  // being torn down: drop quietly
    if (queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(message));
    if (queue_.size() > high_water_) {
      high_water_ = queue_.size();
      metrics_->QueueDepthRaised(high_water_);
    }
    if (!writing_ && !finishing_) {
      // Busy from now: until the starter has run, a Finish waits (end_status_) as it would
      // for a write in flight, so the reactor outlives the posted work.
      writing_ = true;
      starter_->Post(reinterpret_cast<uintptr_t>(this) / alignof(SubscribeReactor), [this] {
        absl::MutexLock lock(&mu_);
        writing_ = false;
        if (end_status_) {
          FinishLocked(*end_status_);
        } else {
          WriteNextLocked();
        }
      });
    }
    return true;
  }

  void End(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    EndLocked(status);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) metrics_->MessageWritten();
    if (!ok) {  // the stream is broken (client gone); OnCancel follows
      queue_.clear();
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    if (end_status_) {
      FinishLocked(*end_status_);
    } else {
      WriteNextLocked();
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    queue_.clear();
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
    else end_status_ = grpc::Status::CANCELLED;
  }

  void OnDone() override {
    bool registered;
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      registered = registered_;
      id = id_;
      metrics_->StreamEnded(high_water_);
    }
    if (registered) hub_->Unsubscribe(id);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (queue_.empty() || finishing_) return;
    in_flight_ = ToByteBuffer(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&in_flight_);
  }

  void EndLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queue_.clear();
    if (writing_) {
      end_status_ = ToGrpcStatus(status);
    } else {
      FinishLocked(ToGrpcStatus(status));
    }
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (starting_) {
      deferred_finish_ = status;
      return;
    }
    if (finishing_) return;
    finishing_ = true;
    Finish(status);
  }

  WatchHub* const hub_;
  const size_t max_queued_;
  Metrics* const metrics_;
  WriteStarter* const starter_;
  absl::Mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_ ABSL_GUARDED_BY(mu_);
  size_t high_water_ ABSL_GUARDED_BY(mu_) = 0;  // the longest queue_ has been
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;  // inside Start: Finish waits
  std::optional<grpc::Status> deferred_finish_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t id_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

WriteStarter::WriteStarter(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    workers_.push_back(std::make_unique<Worker>());
    Worker* worker = workers_.back().get();
    worker->thread = std::thread([worker] { Run(worker); });
  }
}

WriteStarter::~WriteStarter() {
  for (auto& worker : workers_) {
    absl::MutexLock lock(&worker->mu);
    worker->stopping = true;
  }
  for (auto& worker : workers_) worker->thread.join();
}

void WriteStarter::Post(size_t key, std::function<void()> work) {
  Worker& worker = *workers_[key % workers_.size()];
  absl::MutexLock lock(&worker.mu);
  worker.work.push_back(std::move(work));
}

void WriteStarter::Run(Worker* worker) {
  while (true) {
    std::deque<std::function<void()>> batch;
    {
      absl::MutexLock lock(&worker->mu);
      worker->mu.Await(absl::Condition(
          +[](Worker* w)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu) { return !w->work.empty() || w->stopping; },
          worker));
      if (worker->work.empty()) return;  // stopping, and everything posted has run
      batch.swap(worker->work);
    }
    for (auto& work : batch) work();
  }
}

int WatchServiceImpl::DefaultWriteThreads() {
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchServiceImpl::Subscribe(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  auto* reactor = new SubscribeReactor(hub_, max_queued_messages_, metrics_, &starter_);
  reactor->Start(request);
  return reactor;
}

}  // namespace confcenter
