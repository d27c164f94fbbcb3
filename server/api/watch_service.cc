#include "server/api/watch_service.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/api/grpc_services.h"
#include "server/api/redaction.h"

namespace confcenter {
namespace {

// Wraps shared serialized bytes in a slice without copying them.
grpc::ByteBuffer ToByteBuffer(const std::shared_ptr<const std::string>& bytes) {
  auto* owner = new std::shared_ptr<const std::string>(bytes);
  grpc::Slice slice(
      const_cast<char*>(bytes->data()), bytes->size(),
      [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }, owner);
  return grpc::ByteBuffer(&slice, 1);
}

// The stream's caller; a refusal is audited.
absl::StatusOr<std::shared_ptr<const auth::Access>> AdmitStream(const Gatekeeper* gate,
                                                                grpc::CallbackServerContext* ctx,
                                                                absl::string_view rpc,
                                                                absl::string_view tenant) {
  absl::StatusOr<std::shared_ptr<const auth::Access>> access = gate->Authenticate(ctx);
  if (!access.ok()) gate->AuditRefusal(ctx, nullptr, rpc, tenant, access.status());
  return access;
}

// Checks the caller may follow `req`'s view; a refusal is audited. Adds to `secrets` the
// services whose secret values the view will carry (a read of secrets, audited by the caller
// once per stream).
absl::Status AdmitView(const Gatekeeper* gate, grpc::CallbackServerContext* ctx,
                       absl::string_view rpc, const auth::Access& access,
                       const v1::SubscribeRequest& req, std::vector<std::string>* secrets) {
  absl::Status allowed =
      req.services().empty() ? access.RequireRead(req.tenant(), "") : absl::OkStatus();
  for (const std::string& s : req.services()) {
    if (allowed.ok()) allowed = access.RequireRead(req.tenant(), s);
  }
  if (!allowed.ok()) {
    gate->AuditRefusal(ctx, &access, rpc, req.tenant(), allowed);
    return allowed;
  }
  if (req.services().empty()) {
    if (access.Require(auth::Right::kReadSecrets, req.tenant()).ok()) {
      secrets->push_back(absl::StrCat(req.tenant(), "/*/*"));
    }
  }
  for (const std::string& s : req.services()) {
    if (access.MaySeeSecrets(req.tenant(), s)) {
      secrets->push_back(absl::StrCat(req.tenant(), "/", s, "/*"));
    }
  }
  return allowed;
}

// What one stream's view lets through: everything (no copy), or the hub's message re-encoded
// without what the caller may not see. Apply runs on the hub's thread under its locks: it
// only consults rights worked out when the stream started (ViewRights).
class ViewFilter {
 public:
  ViewFilter() = default;
  ViewFilter(const auth::Access& access, const v1::SubscribeRequest& req) {
    auto rights = std::make_unique<const ViewRights>(
        access, req.tenant(),
        std::vector<std::string>(req.services().begin(), req.services().end()));
    if (!rights->everything()) rights_ = std::move(rights);
  }
  std::shared_ptr<const std::string> Apply(std::shared_ptr<const std::string> message) const {
    if (rights_ == nullptr) return message;
    v1::SubscribeResponse response;
    if (!response.ParseFromString(*message)) return message;  // the hub's own bytes: never
    FilterSubscribeResponse(*rights_, &response);
    return std::make_shared<const std::string>(response.SerializeAsString());
  }

 private:
  std::unique_ptr<const ViewRights> rights_;
};

// Parses a raw method's request; false if `request` is not a `message`.
bool ParseRequest(const grpc::ByteBuffer& request, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  std::string data;
  if (request.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      data.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return message->ParseFromString(data);
}

// A stream's queue of messages, first in first out. Holds no memory while empty: libstdc++'s
// std::deque allocates ~0.6 KiB as soon as it is constructed, which every idle stream (nearly
// all of them) would pay. A drained queue gives back what a backlog made it take.
class MessageQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  void push_back(std::shared_ptr<const std::string> message) {
    items_.push_back(std::move(message));
  }
  // Requires !empty().
  std::shared_ptr<const std::string> pop_front() {
    std::shared_ptr<const std::string> message = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= kCompactAfter && 2 * head_ >= items_.size()) {
      // Amortized O(1): the taken half is dropped once, not per pop.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return message;
  }
  void clear() {
    if (items_.capacity() > kKeptCapacity) {
      std::vector<std::shared_ptr<const std::string>>().swap(items_);
    } else {
      items_.clear();
    }
    head_ = 0;
  }

 private:
  static constexpr size_t kCompactAfter = 64;
  static constexpr size_t kKeptCapacity = 8;
  std::vector<std::shared_ptr<const std::string>> items_;
  size_t head_ = 0;  // items_[0, head_) are taken
};

// One Subscribe stream. Lives until OnDone. At most one write in flight; the hub's Send and
// End only touch the queue under mu_ and never wait.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public WatchSink {
 public:
  SubscribeReactor(WatchHub* hub, size_t max_queued, Metrics* metrics, WriteStarter* starter,
                   const Gatekeeper* gate, InstanceRegistry* instances,
                   grpc::CallbackServerContext* ctx)
      : hub_(hub),
        max_queued_(max_queued),
        metrics_(metrics),
        starter_(starter),
        gate_(gate),
        instances_(instances),
        ctx_(ctx) {}

  void Start(const grpc::ByteBuffer* request) {
    v1::SubscribeRequest req;
    if (!ParseRequest(*request, &req)) {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      FinishLocked(ToGrpcStatus(
          absl::InvalidArgumentError("request: not a confcenter.v1.SubscribeRequest")));
      return;
    }
    absl::StatusOr<std::shared_ptr<const auth::Access>> access =
        AdmitStream(gate_, ctx_, "WatchService.Subscribe", req.tenant());
    absl::Status allowed = access.status();
    std::vector<std::string> secrets;
    if (allowed.ok()) {
      allowed = AdmitView(gate_, ctx_, "WatchService.Subscribe", **access, req, &secrets);
    }
    if (allowed.ok()) {
      gate_->AuditSecretRead(ctx_, **access, "WatchService.Subscribe", std::move(secrets));
    }
    if (allowed.ok() && req.has_instance()) allowed = InstanceRegistry::Validate(req.instance());
    if (!allowed.ok()) {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      FinishLocked(ToGrpcStatus(allowed));
      return;
    }
    filter_ = ViewFilter(**access, req);  // before the hub can Send
    SubscribeCommand command{req.tenant(),
                             std::vector<std::string>(req.services().begin(), req.services().end()),
                             std::nullopt};
    if (req.has_start_revision()) command.start_revision = req.start_revision();
    command.epoch = req.epoch();
    command.min_revision = req.min_revision();
    command.caller = Gatekeeper::CallerOf(ctx_, **access);
    if (req.has_instance() && !req.instance().instance_id().empty()) {
      InstanceIdentity identity;
      identity.instance_id = req.instance().instance_id();
      identity.service = req.instance().service();
      identity.labels.insert(req.instance().labels().begin(), req.instance().labels().end());
      command.instance = std::move(identity);
    }
    // Listed before the hub can send: a client reports as soon as it has its first message.
    uint64_t instance = 0;
    if (instances_ != nullptr) {
      InstanceStream stream{0, req.tenant(), command.services, Gatekeeper::PeerOf(ctx_),
                            command.caller};
      instance = instances_->Attach(stream, req.has_instance() ? &req.instance() : nullptr);
    }
    absl::StatusOr<uint64_t> id = hub_->Subscribe(command, this);
    if (instance != 0) {
      if (id.ok()) {
        instances_->SetStreamId(instance, *id);
      } else {
        instances_->Detach(instance);
        instance = 0;
      }
    }
    absl::MutexLock lock(&mu_);
    if (id.ok()) {
      id_ = *id;
      registered_ = true;
      instance_ = instance;
    } else {
      EndLocked(id.status());
    }
    // Finishing was held back until the id is known, so OnDone always unsubscribes.
    starting_ = false;
    if (deferred_finish_) FinishLocked(*deferred_finish_);
  }

  bool Send(std::shared_ptr<const std::string> message) override {
    message = filter_.Apply(std::move(message));
    absl::MutexLock lock(&mu_);
    if (finishing_) return true;  // being torn down: drop quietly
    if (queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(message));
    if (queue_.size() > high_water_) {
      high_water_ = queue_.size();
      metrics_->QueueDepthRaised(high_water_);
    }
    if (!writing_) {
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
    if (!writing_)
      FinishLocked(grpc::Status::CANCELLED);
    else
      end_status_ = grpc::Status::CANCELLED;
  }

  void OnDone() override {
    bool registered;
    uint64_t id;
    uint64_t instance;
    {
      absl::MutexLock lock(&mu_);
      registered = registered_;
      id = id_;
      instance = instance_;
      metrics_->StreamEnded(high_water_);
    }
    if (instance != 0) instances_->Detach(instance);
    if (registered) hub_->Unsubscribe(id);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (queue_.empty() || finishing_) return;
    in_flight_ = ToByteBuffer(queue_.pop_front());
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
  const Gatekeeper* const gate_;
  InstanceRegistry* const instances_;  // null: no instance table
  grpc::CallbackServerContext* const ctx_;
  ViewFilter filter_;  // set in Start, before the hub knows the stream
  absl::Mutex mu_;
  MessageQueue queue_ ABSL_GUARDED_BY(mu_);
  size_t high_water_ ABSL_GUARDED_BY(mu_) = 0;  // the longest queue_ has been
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;  // inside Start: Finish waits
  std::optional<grpc::Status> deferred_finish_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t instance_ ABSL_GUARDED_BY(mu_) = 0;  // the instance table's handle (0: none)
};

// One SubscribeViews stream: a hub stream per view, whose sinks (View) feed one queue. Each
// write takes everything queued (up to about kMaxEnvelopeBytes) into one
// SubscribeViewsResponse; consecutive items with the same serialized message (the hub shares
// one per revision and content) become one ViewMessage naming every view.
// Lives until OnDone. At most one write in flight; Send and End never wait.
class SubscribeViewsReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  static constexpr int kMaxViews = 10'000;
  static constexpr size_t kMaxEnvelopeBytes = 1 << 20;

  SubscribeViewsReactor(WatchHub* hub, size_t max_queued, Metrics* metrics, WriteStarter* starter,
                        const Gatekeeper* gate, grpc::CallbackServerContext* ctx)
      : hub_(hub),
        max_queued_(max_queued),
        metrics_(metrics),
        starter_(starter),
        gate_(gate),
        ctx_(ctx) {}

  void Start(const grpc::ByteBuffer* request) {
    v1::SubscribeViewsRequest req;
    absl::Status valid =
        ParseRequest(*request, &req)
            ? absl::OkStatus()
            : absl::InvalidArgumentError("request: not a confcenter.v1.SubscribeViewsRequest");
    if (valid.ok() && req.views_size() == 0) {
      valid = absl::InvalidArgumentError("views: at least one view is required");
    }
    if (valid.ok() && req.views_size() > kMaxViews) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("views: ", req.views_size(), " views; at most ", kMaxViews, " per stream"));
    }
    if (valid.ok()) {
      views_.reserve(req.views_size());
      for (int i = 0; i < req.views_size(); ++i) {
        views_.push_back(std::make_unique<View>(this, static_cast<uint32_t>(i)));
      }
      absl::StatusOr<std::shared_ptr<const auth::Access>> access =
          AdmitStream(gate_, ctx_, "WatchService.SubscribeViews", req.views(0).tenant());
      if (!access.ok()) valid = access.status();
      std::vector<std::string> secrets;
      for (int i = 0; i < req.views_size() && valid.ok(); ++i) {
        const v1::SubscribeRequest& v = req.views(i);
        if (absl::Status s =
                AdmitView(gate_, ctx_, "WatchService.SubscribeViews", **access, v, &secrets);
            !s.ok()) {
          valid = absl::Status(s.code(), absl::StrCat("views[", i, "]: ", s.message()));
          break;
        }
        views_[i]->filter = ViewFilter(**access, v);
        SubscribeCommand command{v.tenant(),
                                 std::vector<std::string>(v.services().begin(), v.services().end()),
                                 std::nullopt};
        if (v.has_start_revision()) command.start_revision = v.start_revision();
        command.epoch = v.epoch();
        command.min_revision = v.min_revision();
        command.caller = Gatekeeper::CallerOf(ctx_, **access);
        absl::StatusOr<uint64_t> id = hub_->Subscribe(command, views_[i].get());
        if (id.ok()) {
          views_[i]->hub_id = *id;
          views_[i]->registered = true;
        } else {
          // Field errors ("tenant: ...") become "views[i].tenant: ...".
          const bool field_error = id.status().code() == absl::StatusCode::kInvalidArgument ||
                                   id.status().code() == absl::StatusCode::kNotFound;
          valid = absl::Status(
              id.status().code(),
              absl::StrCat("views[", i, "]", field_error ? "." : ": ", id.status().message()));
        }
      }
      if (valid.ok()) {
        gate_->AuditSecretRead(ctx_, **access, "WatchService.SubscribeViews", std::move(secrets));
      }
    }
    if (!valid.ok()) UnsubscribeAll();  // the hub no longer touches the views
    absl::MutexLock lock(&mu_);
    starting_ = false;
    if (!valid.ok()) {
      queue_.clear();
      FinishLocked(ToGrpcStatus(valid));
      return;
    }
    MaybeStartWriteLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {  // the stream is broken (client gone); OnCancel follows
      queue_.clear();
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    metrics_->MessageWritten();
    MaybeStartWriteLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    queue_.clear();
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&mu_);
      metrics_->StreamEnded(high_water_);
    }
    UnsubscribeAll();
    delete this;
  }

 private:
  // The hub's sink for one view.
  struct View final : public WatchSink {
    View(SubscribeViewsReactor* stream, uint32_t index) : stream(stream), index(index) {}
    bool Send(std::shared_ptr<const std::string> message) override {
      return stream->Enqueue(this, filter.Apply(std::move(message)));
    }
    void End(const absl::Status& status) override { stream->EndView(this, status); }

    SubscribeViewsReactor* const stream;
    const uint32_t index;
    ViewFilter filter;        // written in Start only
    uint64_t hub_id = 0;      // written in Start only
    bool registered = false;  // written in Start only
    size_t queued = 0;        // guarded by stream->mu_
    bool ended = false;       // guarded by stream->mu_
  };
  // A message for one view, or (message null) the view's end.
  struct Item {
    View* view;
    std::shared_ptr<const std::string> message;
    absl::Status end;
  };

  bool Enqueue(View* view, std::shared_ptr<const std::string> message) {
    absl::MutexLock lock(&mu_);
    if (finishing_ || cancelled_ || view->ended) return true;  // being torn down: drop quietly
    if (view->queued >= max_queued_) return false;
    ++view->queued;
    if (view->queued > high_water_) {
      high_water_ = view->queued;
      metrics_->QueueDepthRaised(high_water_);
    }
    queue_.push_back({view, std::move(message), absl::OkStatus()});
    MaybeStartWriteLocked();
    return true;
  }

  void EndView(View* view, const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (finishing_ || cancelled_ || view->ended) return;
    view->ended = true;
    ++ended_views_;
    last_end_ = status;
    // Its queued messages go first: they are older than the end.
    queue_.push_back({view, nullptr, status});
    MaybeStartWriteLocked();
  }

  // Starts the next write if none is in flight: on the starter, so the hub's thread only
  // queues. Finishes once every view has ended and its end has been written.
  void MaybeStartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finishing_ || starting_) return;
    if (cancelled_) {  // OnCancel came while a write was in flight
      queue_.clear();
      FinishLocked(grpc::Status::CANCELLED);
      return;
    }
    if (queue_.empty()) {
      if (ended_views_ == views_.size()) {
        FinishLocked(last_end_.code() == absl::StatusCode::kUnavailable ? ToGrpcStatus(last_end_)
                                                                        : grpc::Status::OK);
      }
      return;
    }
    writing_ = true;
    starter_->Post(reinterpret_cast<uintptr_t>(this) / alignof(SubscribeViewsReactor), [this] {
      absl::MutexLock lock(&mu_);
      if (cancelled_ || finishing_) {
        writing_ = false;
        queue_.clear();
        FinishLocked(grpc::Status::CANCELLED);
        return;
      }
      in_flight_ = TakeEnvelopeLocked();
      StartWrite(&in_flight_);
    });
  }

  // Encodes queued items into one SubscribeViewsResponse, by hand: the messages are already
  // serialized SubscribeResponses and go in as they are.
  grpc::ByteBuffer TakeEnvelopeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    using google::protobuf::io::CodedOutputStream;
    using google::protobuf::io::StringOutputStream;
    auto envelope = std::make_shared<std::string>();
    std::string view_message;
    std::string packed_views;
    while (!queue_.empty()) {
      // Past the cap only with a single item, so an envelope is never much bigger than what
      // a Subscribe stream would send in one message.
      const size_t next = queue_.front().message ? queue_.front().message->size() : 0;
      if (!envelope->empty() && envelope->size() + next > kMaxEnvelopeBytes) break;
      Item first = std::move(queue_.front());
      queue_.pop_front();
      std::vector<uint32_t> views{first.view->index};
      if (first.message != nullptr) {
        --first.view->queued;
        while (!queue_.empty() && queue_.front().message == first.message) {
          views.push_back(queue_.front().view->index);
          --queue_.front().view->queued;
          queue_.pop_front();
        }
      }
      packed_views.clear();
      {
        StringOutputStream out(&packed_views);
        CodedOutputStream coded(&out);
        for (uint32_t v : views) coded.WriteVarint32(v);
      }
      view_message.clear();
      {
        StringOutputStream out(&view_message);
        CodedOutputStream coded(&out);
        coded.WriteTag(WireTag(v1::ViewMessage::kViewsFieldNumber));
        coded.WriteVarint32(static_cast<uint32_t>(packed_views.size()));
        coded.WriteString(packed_views);
        if (first.message != nullptr) {
          coded.WriteTag(WireTag(v1::ViewMessage::kMessageFieldNumber));
          coded.WriteVarint32(static_cast<uint32_t>(first.message->size()));
          coded.WriteString(*first.message);
        } else {
          v1::ViewMessage end;
          end.set_end_code(static_cast<int32_t>(first.end.code()));
          end.set_end_message(std::string(first.end.message()));
          coded.WriteString(end.SerializeAsString());  // fields 3 and 4 only
        }
      }
      StringOutputStream out(envelope.get());
      CodedOutputStream coded(&out);
      coded.WriteTag(WireTag(v1::SubscribeViewsResponse::kMessagesFieldNumber));
      coded.WriteVarint32(static_cast<uint32_t>(view_message.size()));
      coded.WriteString(view_message);
    }
    return ToByteBuffer(envelope);
  }

  static uint32_t WireTag(int field) {
    return google::protobuf::internal::WireFormatLite::MakeTag(
        field, google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  }

  void UnsubscribeAll() {
    for (auto& view : views_) {
      if (view->registered) hub_->Unsubscribe(view->hub_id);
      view->registered = false;
    }
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;
    finishing_ = true;
    Finish(status);
  }

  WatchHub* const hub_;
  const size_t max_queued_;
  Metrics* const metrics_;
  WriteStarter* const starter_;
  const Gatekeeper* const gate_;
  grpc::CallbackServerContext* const ctx_;
  std::vector<std::unique_ptr<View>> views_;  // fixed after Start
  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  size_t high_water_ ABSL_GUARDED_BY(mu_) = 0;  // the longest a view's queue has been
  size_t ended_views_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_end_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a write is posted or in flight
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;  // inside Start: writes wait
};

}  // namespace

namespace {
// How deep this thread is in bursts of the hub's Sends (see WriteStarter).
thread_local int burst_depth = 0;
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
  if (burst_depth == 0) worker.runnable = true;
}

void WriteStarter::BurstBegins() { ++burst_depth; }

void WriteStarter::BurstEnds() {
  if (--burst_depth > 0) return;
  for (auto& worker : workers_) {
    absl::MutexLock lock(&worker->mu);
    if (!worker->work.empty()) worker->runnable = true;
  }
}

void WriteStarter::Run(Worker* worker) {
  while (true) {
    std::deque<std::function<void()>> batch;
    {
      absl::MutexLock lock(&worker->mu);
      worker->mu.Await(absl::Condition(
          +[](Worker* w)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu) { return w->runnable || w->stopping; },
          worker));
      // Stopping: what is still posted runs (held or not), then the thread ends.
      if (worker->work.empty()) return;
      batch.swap(worker->work);
      worker->runnable = false;
    }
    for (auto& work : batch) work();
  }
}

int WatchServiceImpl::DefaultWriteThreads() {
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchServiceImpl::SubscribeViews(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  auto* reactor =
      new SubscribeViewsReactor(hub_, max_queued_messages_, metrics_, &starter_, gate_, ctx);
  reactor->Start(request);
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchServiceImpl::Subscribe(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  auto* reactor =
      new SubscribeReactor(hub_, max_queued_messages_, metrics_, &starter_, gate_, instances_, ctx);
  reactor->Start(request);
  return reactor;
}

}  // namespace confcenter
