#include "storage/etcd_client.h"

#include <deque>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

namespace confcenter::storage {

namespace {

constexpr absl::string_view kOutcomeUnknownPayload = "confcenter.etcd/outcome-unknown";

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("etcd TLS: cannot read ", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::chrono::system_clock::time_point ToChrono(absl::Time t) { return absl::ToChronoTime(t); }

}  // namespace

absl::Status FromEtcd(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  const std::string& msg = status.error_message();
  const std::string text = absl::StrCat(what, ": ", msg);
  if (absl::StrContains(msg, "too many operations in txn request")) {
    return absl::ResourceExhaustedError(
        absl::StrCat(text, " (more compares or ops in one Txn than etcd's --max-txn-ops allows)"));
  }
  if (absl::StrContains(msg, "request is too large")) {
    return absl::ResourceExhaustedError(
        absl::StrCat(text, " (larger than etcd's --max-request-bytes allows)"));
  }
  if (absl::StrContains(msg, "duplicate key given in txn request")) {
    return absl::InternalError(text);
  }
  if (absl::StrContains(msg, "no leader")) return absl::UnavailableError(text);
  switch (status.error_code()) {
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(absl::StrCat(
          text, absl::StrContains(msg, "space exceeded")
                    ? " (etcd's --quota-backend-bytes is reached; compact and defragment)"
                    : ""));
    case grpc::StatusCode::OUT_OF_RANGE:
      return absl::OutOfRangeError(text);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return absl::UnavailableError(text);
    default:
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()), text);
  }
}

bool EtcdOutcomeUnknown(const absl::Status& status) {
  return status.GetPayload(kOutcomeUnknownPayload).has_value();
}

struct EtcdClient::Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
};

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {}
EtcdClient::~EtcdClient() = default;

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Open(EtcdOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd: no endpoints given");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadFile(options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!options.cert_file.empty() || !options.key_file.empty()) {
      absl::StatusOr<std::string> cert = ReadFile(options.cert_file);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFile(options.key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  } else if (!options.cert_file.empty() || !options.key_file.empty()) {
    return absl::InvalidArgumentError("etcd TLS: a client certificate needs the CA file too");
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(std::move(options)));
  for (const std::string& address : client->options_.endpoints) {
    if (address.empty()) return absl::InvalidArgumentError("etcd: an empty endpoint");
    grpc::ChannelArguments args;
    // etcd closes connections that ping more often than --grpc-keepalive-min-time (5 s).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    if (!client->options_.server_name.empty()) {
      args.SetSslTargetNameOverride(client->options_.server_name);
    }
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->address = address;
    endpoint->channel = grpc::CreateCustomChannel(address, credentials, args);
    endpoint->kv = etcdserverpb::KV::NewStub(endpoint->channel);
    endpoint->watch = etcdserverpb::Watch::NewStub(endpoint->channel);
    endpoint->lease = etcdserverpb::Lease::NewStub(endpoint->channel);
    endpoint->maintenance = etcdserverpb::Maintenance::NewStub(endpoint->channel);
    client->endpoints_.push_back(std::move(endpoint));
  }
  return client;
}

void EtcdClient::Prepare(grpc::ClientContext* context, absl::Time deadline) const {
  context->set_deadline(ToChrono(deadline));
  if (options_.require_leader) context->AddMetadata("hasleader", "true");
}

absl::Status EtcdClient::Call(
    absl::string_view method, bool retry_after_send,
    const std::function<grpc::Status(Endpoint&, grpc::ClientContext*)>& call) {
  const absl::Time deadline = absl::Now() + options_.request_timeout;
  const size_t n = endpoints_.size();
  const size_t first = preferred_.load(std::memory_order_relaxed) % n;
  // Endpoints whose connection is failing (a dead member: gRPC waits out its reconnect
  // backoff) go last, so a call does not spend its deadline dialling one while others answer.
  std::vector<size_t> order;
  std::vector<size_t> failing;
  for (size_t i = 0; i < n; ++i) {
    const size_t index = (first + i) % n;
    (endpoints_[index]->channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE ? failing
                                                                                   : order)
        .push_back(index);
  }
  order.insert(order.end(), failing.begin(), failing.end());
  // One endpoint may not take the whole deadline while others are left to try.
  const absl::Duration dial_timeout =
      n > 1 ? std::min(options_.dial_timeout, options_.request_timeout / 2) : options_.dial_timeout;
  absl::Status last;
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t index = order[attempt];
    Endpoint& endpoint = *endpoints_[index];
    const std::string what = absl::StrCat(method, " on ", endpoint.address);
    const absl::Time dial_deadline = std::min(deadline, absl::Now() + dial_timeout);
    if (!endpoint.channel->WaitForConnected(ToChrono(dial_deadline))) {
      last = absl::UnavailableError(absl::StrCat(what, ": cannot connect within ",
                                                 absl::FormatDuration(dial_timeout),
                                                 "; nothing was sent"));
      size_t expected = index;
      preferred_.compare_exchange_strong(expected, (index + 1) % n, std::memory_order_relaxed);
      if (absl::Now() >= deadline) break;
      continue;
    }
    grpc::ClientContext context;
    Prepare(&context, deadline);
    const grpc::Status status = call(endpoint, &context);
    if (status.ok()) {
      preferred_.store(index, std::memory_order_relaxed);
      return absl::OkStatus();
    }
    last = FromEtcd(status, what);
    const bool transport = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           status.error_code() == grpc::StatusCode::CANCELLED;
    // "no leader" (hasleader) is refused before the request is processed: safe to repeat.
    const bool refused = absl::StrContains(status.error_message(), "no leader");
    if (transport || refused) {
      // A member that is connected but does not answer (stopped, cut off) would take the
      // whole deadline of every later call again: later calls start on the next endpoint.
      size_t expected = index;
      preferred_.compare_exchange_strong(expected, (index + 1) % n, std::memory_order_relaxed);
    }
    if (transport && !refused && !retry_after_send) {
      last.SetPayload(kOutcomeUnknownPayload, absl::Cord("1"));
      return last;
    }
    if (!transport && !refused) return last;
    if (absl::Now() >= deadline) break;
  }
  return last;
}

absl::StatusOr<etcdserverpb::RangeResponse> EtcdClient::Range(
    const etcdserverpb::RangeRequest& request) {
  etcdserverpb::RangeResponse response;
  absl::Status status = Call("Range", true, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.kv->Range(context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<int64_t> EtcdClient::RangeAll(
    absl::string_view key, absl::string_view range_end, int64_t revision, int64_t page_size,
    const std::function<absl::Status(const mvccpb::KeyValue& kv)>& visit) {
  etcdserverpb::RangeRequest request;
  request.set_key(std::string(key));
  request.set_range_end(std::string(range_end));
  request.set_limit(page_size > 0 ? page_size : 0);
  request.set_revision(revision > 0 ? revision : 0);
  while (true) {
    absl::StatusOr<etcdserverpb::RangeResponse> page = Range(request);
    if (!page.ok()) return page.status();
    if (request.revision() == 0) request.set_revision(page->header().revision());
    for (const mvccpb::KeyValue& kv : page->kvs()) {
      if (absl::Status s = visit(kv); !s.ok()) return s;
    }
    if (!page->more() || page->kvs().empty()) break;
    // The next page starts right after the last key (key + "\0").
    std::string next = page->kvs(page->kvs_size() - 1).key();
    next.push_back('\0');
    request.set_key(std::move(next));
  }
  return request.revision();
}

absl::StatusOr<etcdserverpb::PutResponse> EtcdClient::Put(absl::string_view key,
                                                          absl::string_view value, int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(std::string(key));
  request.set_value(std::string(value));
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  absl::Status status = Call("Put", false, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.kv->Put(context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> EtcdClient::DeleteRange(
    absl::string_view key, absl::string_view range_end) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(std::string(key));
  request.set_range_end(std::string(range_end));
  etcdserverpb::DeleteRangeResponse response;
  absl::Status status = Call("DeleteRange", false, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.kv->DeleteRange(context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdClient::Txn(const etcdserverpb::TxnRequest& request) {
  etcdserverpb::TxnResponse response;
  absl::Status status = Call("Txn", false, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.kv->Txn(context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::Status EtcdClient::Compact(int64_t revision, bool physical) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(physical);
  etcdserverpb::CompactionResponse response;
  return Call("Compact", false, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.kv->Compact(context, request, &response);
  });
}

absl::StatusOr<int64_t> EtcdClient::LeaseGrant(absl::Duration ttl) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(std::max<int64_t>(1, absl::ToInt64Seconds(ttl)));
  etcdserverpb::LeaseGrantResponse response;
  absl::Status status = Call("LeaseGrant", false, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.lease->LeaseGrant(context, request, &response);
  });
  if (!status.ok()) return status;
  if (!response.error().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("LeaseGrant: ", response.error()));
  }
  return response.id();
}

absl::Status EtcdClient::LeaseRevoke(int64_t lease_id) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease_id);
  etcdserverpb::LeaseRevokeResponse response;
  // Revoking twice is harmless (the second says the lease is not found).
  return Call("LeaseRevoke", true, [&](Endpoint& e, grpc::ClientContext* context) {
    return e.lease->LeaseRevoke(context, request, &response);
  });
}

absl::StatusOr<absl::Duration> EtcdClient::LeaseKeepAlive(int64_t lease_id) {
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease_id);
  etcdserverpb::LeaseKeepAliveResponse response;
  // Refreshing twice is harmless: safe to repeat on another endpoint.
  absl::Status status =
      Call("LeaseKeepAlive", true, [&](Endpoint& e, grpc::ClientContext* context) {
        auto stream = e.lease->LeaseKeepAlive(context);
        if (!stream->Write(request)) return stream->Finish();
        // etcd ends the stream when the client half-closes, after answering what it read.
        stream->WritesDone();
        const bool answered = stream->Read(&response);
        grpc::Status finished = stream->Finish();
        if (finished.ok() && !answered) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the keepalive stream ended unanswered");
        }
        return finished;
      });
  if (!status.ok()) return status;
  return absl::Seconds(response.ttl());
}

absl::StatusOr<etcdserverpb::StatusResponse> EtcdClient::Status(absl::string_view endpoint) {
  for (const auto& e : endpoints_) {
    if (e->address != endpoint) continue;
    grpc::ClientContext context;
    Prepare(&context, absl::Now() + options_.request_timeout);
    etcdserverpb::StatusRequest request;
    etcdserverpb::StatusResponse response;
    grpc::Status status = e->maintenance->Status(&context, request, &response);
    if (!status.ok()) return FromEtcd(status, absl::StrCat("Status of ", endpoint));
    return response;
  }
  return absl::NotFoundError(absl::StrCat("etcd: ", endpoint, " is not an endpoint"));
}

namespace {

// One watch stream: a bidi reactor with one read always outstanding and writes queued.
class WatchReactor final
    : public EtcdWatch,
      public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  WatchReactor(std::string endpoint, EtcdWatchCallbacks callbacks)
      : endpoint_(std::move(endpoint)), callbacks_(std::move(callbacks)) {}

  ~WatchReactor() override {
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  grpc::ClientContext* context() { return &context_; }

  // Starts the call with the create request.
  void Start(const EtcdWatchRequest& request) {
    etcdserverpb::WatchRequest create;
    etcdserverpb::WatchCreateRequest* c = create.mutable_create_request();
    c->set_key(request.key);
    c->set_range_end(request.range_end);
    c->set_start_revision(request.start_revision);
    c->set_progress_notify(request.progress_notify);
    c->set_prev_kv(request.prev_kv);
    c->set_fragment(true);
    Enqueue(std::move(create));
    StartRead(&response_);
    StartCall();
  }

  void RequestProgress() override {
    etcdserverpb::WatchRequest progress;
    progress.mutable_progress_request();
    Enqueue(std::move(progress));
  }

  const std::string& endpoint() const override { return endpoint_; }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    writing_ = false;
    if (ok && !ended_) WriteNextLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status.
    if (response_.canceled()) {
      if (response_.compact_revision() > 0) {
        Finish([&] { Report(callbacks_.on_compacted, response_.compact_revision()); });
      } else {
        const std::string reason = response_.cancel_reason().empty()
                                       ? std::string("the watch was cancelled by etcd")
                                       : response_.cancel_reason();
        Finish([&] {
          Report(callbacks_.on_broken,
                 absl::UnavailableError(absl::StrCat("Watch on ", endpoint_, ": ", reason)));
        });
      }
      return;
    }
    for (mvccpb::Event& event : *response_.mutable_events()) pending_.push_back(std::move(event));
    if (!response_.fragment()) {
      if (!pending_.empty()) {
        std::vector<mvccpb::Event> events;
        events.swap(pending_);
        if (callbacks_.on_events) {
          callbacks_.on_events(std::move(events), response_.header().revision());
        }
      } else if (!response_.created() && callbacks_.on_progress) {
        callbacks_.on_progress(response_.header().revision());
      }
    }
    response_.Clear();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    bool report;
    {
      absl::MutexLock lock(&mu_);
      report = !reported_;
      reported_ = true;
      ended_ = true;
    }
    if (report && callbacks_.on_broken) {
      callbacks_.on_broken(
          status.ok() ? absl::UnavailableError(absl::StrCat("Watch on ", endpoint_, ": ended"))
                      : FromEtcd(status, absl::StrCat("Watch on ", endpoint_)));
    }
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  template <typename F, typename A>
  static void Report(const F& f, A arg) {
    if (f) f(std::move(arg));
  }

  // Reports the final callback once and ends the stream.
  template <typename R>
  void Finish(R report) {
    {
      absl::MutexLock lock(&mu_);
      if (reported_) return;
      reported_ = true;
      ended_ = true;
    }
    report();
    context_.TryCancel();
  }

  void Enqueue(etcdserverpb::WatchRequest request) {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    queue_.push_back(std::move(request));
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queue_.empty()) return;
    writing_ = true;
    // The stream stays open for writing: etcd cancels the watches of a half-closed stream.
    StartWrite(&queue_.front());
  }

  const std::string endpoint_;
  const EtcdWatchCallbacks callbacks_;
  grpc::ClientContext context_;
  etcdserverpb::WatchResponse response_;
  std::vector<mvccpb::Event> pending_;  // events of a fragmented response so far

  absl::Mutex mu_;
  std::deque<etcdserverpb::WatchRequest> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool reported_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdWatch>> EtcdClient::Watch(const EtcdWatchRequest& request,
                                                             EtcdWatchCallbacks callbacks) {
  const absl::Time deadline = absl::Now() + options_.request_timeout;
  const size_t n = endpoints_.size();
  size_t first = preferred_.load(std::memory_order_relaxed) % n;
  if (n > 1 && endpoints_[first]->address == request.avoid_endpoint) first = (first + 1) % n;
  for (size_t attempt = 0; attempt < n; ++attempt) {
    Endpoint& endpoint = *endpoints_[(first + attempt) % n];
    if (n > 1 && attempt + 1 < n && endpoint.address == request.avoid_endpoint) continue;
    const absl::Time dial_deadline = std::min(deadline, absl::Now() + options_.dial_timeout);
    if (!endpoint.channel->WaitForConnected(ToChrono(dial_deadline))) continue;
    auto watch = std::make_unique<WatchReactor>(endpoint.address, std::move(callbacks));
    if (options_.require_leader) watch->context()->AddMetadata("hasleader", "true");
    endpoint.watch->async()->Watch(watch->context(), watch.get());
    watch->Start(request);
    return watch;
  }
  return absl::UnavailableError(absl::StrCat("Watch: no etcd endpoint connected within ",
                                             absl::FormatDuration(options_.request_timeout), " (",
                                             absl::StrJoin(options_.endpoints, ","), ")"));
}

}  // namespace confcenter::storage
