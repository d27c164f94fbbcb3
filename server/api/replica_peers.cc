#include "server/api/replica_peers.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "confcenter/credentials.h"
#include "grpcpp/alarm.h"

namespace confcenter {
namespace {

// A peer that cannot be reached is asked again this often while it stays announced.
constexpr absl::Duration kRetryEvery = absl::Milliseconds(500);
// A waiting peer answers this long before the caller's deadline, so its answer arrives in time.
constexpr absl::Duration kAnswerMargin = absl::Milliseconds(200);

// A replica that announced itself without an address cannot be asked.
absl::Status NoAddress() {
  return absl::UnavailableError("it announced no address (--advertise_address)");
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// Collects one answer per peer and calls `done` with all of them after the last.
template <typename Response>
class Gather {
 public:
  Gather(size_t expected, std::function<void(std::vector<PeerAnswer<Response>>)> done)
      : pending_(expected), done_(std::move(done)) {}

  void Add(PeerAnswer<Response> answer) {
    std::vector<PeerAnswer<Response>> all;
    {
      absl::MutexLock lock(&mu_);
      answers_.push_back(std::move(answer));
      if (--pending_ > 0) return;
      all = std::move(answers_);
    }
    done_(std::move(all));
  }

 private:
  absl::Mutex mu_;
  size_t pending_ ABSL_GUARDED_BY(mu_);
  std::vector<PeerAnswer<Response>> answers_ ABSL_GUARDED_BY(mu_);
  const std::function<void(std::vector<PeerAnswer<Response>>)> done_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaPeers>> ReplicaPeers::Create(
    storage::Store* store, const PeerChannelOptions& options) {
  Credentials tls;  // plaintext without a CA
  if (!options.ca_file.empty()) {
    tls.ca_file = options.ca_file;
    tls.cert_file = options.cert_file;
    tls.key_file = options.key_file;
    tls.server_name = options.server_name;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(tls);
  if (!credentials.ok()) {
    return absl::Status(credentials.status().code(),
                        absl::StrCat("TLS to the other replicas (--peer_tls_ca, --tls_cert, "
                                     "--tls_key): ",
                                     credentials.status().message()));
  }
  return std::unique_ptr<ReplicaPeers>(
      new ReplicaPeers(store, *std::move(credentials), options.server_name));
}

absl::StatusOr<bool> ReplicaPeers::FromPeer(const grpc::CallbackServerContext& ctx) const {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(kSecretHeader);
  if (it == metadata.end()) return false;
  const std::string secret = store_->PeerSecret();
  const grpc::string_ref given = it->second;
  if (secret.empty() || given.size() != secret.size() ||
      CRYPTO_memcmp(given.data(), secret.data(), secret.size()) != 0) {
    return absl::UnauthenticatedError(
        absl::StrCat(kSecretHeader, ": not the peer secret of this store's replicas"));
  }
  return true;
}

std::vector<storage::ReplicaAddress> ReplicaPeers::Others() const {
  std::vector<storage::ReplicaAddress> others = store_->Replicas();
  const std::string me = self();
  others.erase(
      std::remove_if(others.begin(), others.end(),
                     [&me](const storage::ReplicaAddress& r) { return r.replica_id == me; }),
      others.end());
  return others;
}

v1::InstanceService::Stub* ReplicaPeers::StubFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<v1::InstanceService::Stub>& stub = stubs_[address];
  if (stub == nullptr) {
    grpc::ChannelArguments args;
    if (!server_name_.empty()) args.SetSslTargetNameOverride(server_name_);
    stub = v1::InstanceService::NewStub(grpc::CreateCustomChannel(address, credentials_, args));
  }
  return stub.get();
}

std::unique_ptr<grpc::ClientContext> ReplicaPeers::Context(absl::Time deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(deadline));
  context->AddMetadata(kSecretHeader, store_->PeerSecret());
  return context;
}

void ReplicaPeers::ListInstances(const v1::ListInstancesRequest& request, absl::Time deadline,
                                 ListDone done) {
  const std::vector<storage::ReplicaAddress> others = Others();
  if (others.empty()) {
    done({});
    return;
  }
  auto gather = std::make_shared<Gather<v1::ListInstancesResponse>>(others.size(), std::move(done));
  for (const storage::ReplicaAddress& replica : others) {
    if (replica.address.empty()) {
      gather->Add({replica, NoAddress(), {}});
      continue;
    }
    struct Call {
      std::unique_ptr<grpc::ClientContext> context;
      v1::ListInstancesRequest request;
      v1::ListInstancesResponse response;
    };
    auto call = std::make_shared<Call>();
    call->context = Context(deadline);
    call->request = request;
    call->request.set_replica_local(true);
    StubFor(replica.address)
        ->async()
        ->ListInstances(
            call->context.get(), &call->request, &call->response,
            [call, gather, replica](grpc::Status status) {
              gather->Add({replica, FromGrpc(status),
                           status.ok() ? std::move(call->response) : v1::ListInstancesResponse()});
            });
  }
}

// One peer's WaitApplied, asked again while the peer is announced but unreachable.
class ReplicaPeers::PeerWait : public std::enable_shared_from_this<PeerWait> {
 public:
  using Retry = std::function<bool(const storage::ReplicaAddress&)>;
  PeerWait(storage::ReplicaAddress replica, v1::WaitAppliedRequest request, absl::Time deadline,
           v1::InstanceService::Stub* stub,
           std::function<std::unique_ptr<grpc::ClientContext>(absl::Time)> context,
           Retry still_announced, std::shared_ptr<Gather<v1::WaitAppliedResponse>> gather)
      : replica_(std::move(replica)),
        request_(std::move(request)),
        deadline_(deadline),
        stub_(stub),
        context_factory_(std::move(context)),
        still_announced_(std::move(still_announced)),
        gather_(std::move(gather)) {}

  void Start() {
    grpc::ClientContext* context = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        const absl::Duration left = deadline_ - absl::Now() - kAnswerMargin;
        const absl::Duration timeout = std::max(absl::ZeroDuration(), left);
        request_.mutable_timeout()->set_seconds(absl::ToInt64Seconds(timeout));
        request_.mutable_timeout()->set_nanos(
            static_cast<int32_t>(absl::ToInt64Nanoseconds(timeout % absl::Seconds(1))));
        context_ = context_factory_(deadline_);
        context = context_.get();
        response_.Clear();
      }
    }
    if (context == nullptr) {
      gather_->Add({replica_, absl::CancelledError("the server is stopping"), {}});
      return;
    }
    stub_->async()->WaitApplied(context, &request_, &response_,
                                [self = shared_from_this()](grpc::Status status) mutable {
                                  std::shared_ptr<PeerWait> me = std::move(self);
                                  me->Answered(status);
                                });
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (context_ != nullptr) context_->TryCancel();
    if (alarm_ != nullptr) alarm_->Cancel();
  }

 private:
  // The attempt in flight ended: answer, or ask again in a while.
  void Answered(const grpc::Status& status) {
    PeerAnswer<v1::WaitAppliedResponse> answer{replica_, FromGrpc(status), {}};
    if (status.ok()) {
      answer.response = std::move(response_);
    } else if (!still_announced_(replica_)) {
      // It left the cluster (stopped, or its lease expired): its instances are on other
      // replicas now, or gone.
      answer.status = absl::OkStatus();
      answer.response.set_all_applied(true);
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
               absl::Now() + kRetryEvery + kAnswerMargin < deadline_) {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        alarm_ = std::make_unique<grpc::Alarm>();  // the previous one has fired
        alarm_->Set(absl::ToChronoTime(absl::Now() + kRetryEvery),
                    [self = shared_from_this()](bool) mutable {
                      std::shared_ptr<PeerWait> me = std::move(self);  // no cycle via the alarm
                      me->Start();  // answers at once if cancelled meanwhile
                    });
        return;
      }
    }
    gather_->Add(std::move(answer));
  }

  const storage::ReplicaAddress replica_;
  v1::WaitAppliedRequest request_;
  const absl::Time deadline_;
  v1::InstanceService::Stub* const stub_;
  const std::function<std::unique_ptr<grpc::ClientContext>(absl::Time)> context_factory_;
  const Retry still_announced_;
  const std::shared_ptr<Gather<v1::WaitAppliedResponse>> gather_;
  // One attempt at a time: these belong to the attempt in flight.
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  v1::WaitAppliedResponse response_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Alarm> alarm_ ABSL_GUARDED_BY(mu_);
};

void ReplicaPeers::Shutdown() {
  std::vector<std::weak_ptr<PeerWait>> waits;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    waits.swap(waits_);
  }
  for (const std::weak_ptr<PeerWait>& weak : waits) {
    if (std::shared_ptr<PeerWait> wait = weak.lock()) wait->Cancel();
  }
}

void ReplicaPeers::WaitApplied(const v1::WaitAppliedRequest& request, absl::Time deadline,
                               WaitDone done) {
  const std::vector<storage::ReplicaAddress> others = Others();
  if (others.empty()) {
    done({});
    return;
  }
  auto gather = std::make_shared<Gather<v1::WaitAppliedResponse>>(others.size(), std::move(done));
  v1::WaitAppliedRequest local = request;
  local.set_replica_local(true);
  for (const storage::ReplicaAddress& replica : others) {
    if (replica.address.empty()) {
      gather->Add({replica, NoAddress(), {}});
      continue;
    }
    auto wait = std::make_shared<PeerWait>(
        replica, local, deadline, StubFor(replica.address),
        [this](absl::Time d) { return Context(d); },
        [this](const storage::ReplicaAddress& r) {
          for (const storage::ReplicaAddress& now : store_->Replicas()) {
            if (now.replica_id == r.replica_id && now.address == r.address) return true;
          }
          return false;
        },
        gather);
    {
      absl::MutexLock lock(&mu_);
      waits_.erase(std::remove_if(waits_.begin(), waits_.end(),
                                  [](const std::weak_ptr<PeerWait>& w) { return w.expired(); }),
                   waits_.end());
      waits_.push_back(wait);
      if (stopping_) wait->Cancel();
    }
    wait->Start();
  }
}

}  // namespace confcenter
