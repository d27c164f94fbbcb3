#include "server/api/instance_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/names.h"
#include "google/protobuf/util/time_util.h"
#include "server/api/grpc_services.h"

namespace confcenter {
namespace {

constexpr absl::Duration kDefaultWait = absl::Seconds(60);
constexpr absl::Duration kMaxWait = absl::Minutes(10);
// How long ListInstances waits for the other replicas' tables.
constexpr absl::Duration kPeerListTimeout = absl::Seconds(2);
// How long a shared store's replica waits to apply a revision named by a WaitApplied (written
// through another replica) before answering UNAVAILABLE (retry).
constexpr absl::Duration kRevisionWait = absl::Seconds(5);

absl::Status NotARevision(int64_t revision, int64_t current) {
  return absl::InvalidArgumentError(
      absl::StrCat("revision: ", revision, " is not a revision of this store (1-", current, ")"));
}

v1::UnreachableReplica Unreachable(const storage::ReplicaAddress& replica,
                                   const absl::Status& status) {
  v1::UnreachableReplica out;
  out.set_replica(replica.replica_id);
  out.set_address(replica.address);
  out.set_error(status.ToString());
  return out;
}

// The tenant must be named well and exist (a typo must not wait for nothing), the service
// (if any) named well.
absl::Status CheckScope(ConfigCore* core, const std::string& tenant, const std::string& service) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (!service.empty()) {
    if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  }
  int64_t revision = 0;
  return core->GetTenant(tenant, &revision).status();
}

}  // namespace

grpc::ServerUnaryReactor* InstanceServiceImpl::ReportInstance(grpc::CallbackServerContext* ctx,
                                                              const v1::ReportInstanceRequest* req,
                                                              v1::ReportInstanceResponse*) {
  grpc::ServerUnaryReactor* refused = nullptr;
  // Opening the stream checked the rights; the registry checks this is the same identity.
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "InstanceService.ReportInstance", req->tenant(),
      [](const auth::Access&) { return absl::OkStatus(); }, &refused);
  if (access == nullptr) return refused;
  return Finish(ctx, registry_->Report(*req, Gatekeeper::CallerOf(ctx, *access)));
}

bool InstanceServiceImpl::Admit(grpc::CallbackServerContext* ctx, const char* method,
                                const std::string& tenant, bool replica_local,
                                grpc::ServerUnaryReactor** refused) const {
  if (peers_ != nullptr) {
    absl::StatusOr<bool> from_peer = peers_->FromPeer(*ctx);
    if (!from_peer.ok()) {
      *refused = Finish(ctx, from_peer.status());
      return false;
    }
    if (*from_peer) {
      if (replica_local) return true;
      *refused = Finish(ctx, absl::InvalidArgumentError(
                                 "replica_local: a call from another replica must be local"));
      return false;
    }
  }
  return gate_->Admit(
             ctx, method, tenant,
             [&tenant](const auth::Access& a) { return a.Require(auth::Right::kRead, tenant); },
             refused) != nullptr;
}

grpc::ServerUnaryReactor* InstanceServiceImpl::ListInstances(grpc::CallbackServerContext* ctx,
                                                             const v1::ListInstancesRequest* req,
                                                             v1::ListInstancesResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  if (!Admit(ctx, "InstanceService.ListInstances", req->tenant(), req->replica_local(), &refused)) {
    return refused;
  }
  if (absl::Status s = CheckScope(core_, req->tenant(), req->service()); !s.ok()) {
    return Finish(ctx, s);
  }
  const std::string self = peers_ != nullptr ? peers_->self() : std::string();
  resp->set_revision(core_->revision());
  for (v1::Instance& instance : registry_->List(req->tenant(), req->service())) {
    instance.set_replica(self);
    *resp->add_instances() = std::move(instance);
  }
  if (req->replica_local() || peers_ == nullptr || !peers_->shared()) {
    return Finish(ctx, absl::OkStatus());
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::Time deadline = absl::Now() + kPeerListTimeout;
  deadline = std::min(deadline, absl::FromChrono(ctx->deadline()) - absl::Milliseconds(100));
  peers_->ListInstances(
      *req, deadline, [reactor, resp](std::vector<PeerAnswer<v1::ListInstancesResponse>> answers) {
        for (PeerAnswer<v1::ListInstancesResponse>& answer : answers) {
          if (!answer.status.ok()) {
            *resp->add_unreachable_replicas() = Unreachable(answer.replica, answer.status);
            continue;
          }
          for (v1::Instance& instance : *answer.response.mutable_instances()) {
            *resp->add_instances() = std::move(instance);
          }
        }
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

grpc::ServerUnaryReactor* InstanceServiceImpl::WaitApplied(grpc::CallbackServerContext* ctx,
                                                           const v1::WaitAppliedRequest* req,
                                                           v1::WaitAppliedResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  if (!Admit(ctx, "InstanceService.WaitApplied", req->tenant(), req->replica_local(), &refused)) {
    return refused;
  }
  if (absl::Status s = CheckScope(core_, req->tenant(), req->service()); !s.ok()) {
    return Finish(ctx, s);
  }
  const int64_t current = core_->revision();
  const bool shared = peers_ != nullptr && peers_->shared();
  if (req->revision() <= 0 || (req->revision() > current && !shared)) {
    return Finish(ctx, NotARevision(req->revision(), current));
  }
  absl::Duration timeout = kDefaultWait;
  if (req->has_timeout()) {
    timeout = absl::Seconds(req->timeout().seconds()) + absl::Nanoseconds(req->timeout().nanos());
    if (timeout < absl::ZeroDuration() || timeout > kMaxWait) {
      return Finish(ctx, absl::InvalidArgumentError(absl::StrCat(
                             "timeout: ", absl::FormatDuration(timeout), " is outside 0s-10m")));
    }
  }
  // Answered a little before the client's own deadline, so it gets the laggards, not
  // DEADLINE_EXCEEDED.
  absl::Time deadline = absl::Now() + timeout;
  const absl::Time client_deadline = absl::FromChrono(ctx->deadline());
  if (client_deadline < deadline) deadline = client_deadline - absl::Milliseconds(100);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (req->revision() <= current) {
    WaitEverywhere(reactor, req, resp, deadline);
    return reactor;
  }
  // A shared store: the revision may come from a write through another replica that this
  // one has not applied yet. The store's head says whether it exists at all; if it does, wait
  // until this replica has applied it.
  core_->store()->ReadHead([this, reactor, req, resp, deadline](absl::StatusOr<int64_t> head) {
    if (!head.ok()) {
      reactor->Finish(ToGrpcStatus(head.status()));
      return;
    }
    if (req->revision() > *head) {
      reactor->Finish(ToGrpcStatus(NotARevision(req->revision(), *head)));
      return;
    }
    core_->WhenApplied(req->revision(), std::min(deadline, absl::Now() + kRevisionWait),
                       [this, reactor, req, resp, deadline](absl::Status applied) {
                         if (!applied.ok()) {
                           reactor->Finish(ToGrpcStatus(applied));  // UNAVAILABLE: retry
                           return;
                         }
                         WaitEverywhere(reactor, req, resp, deadline);
                       });
  });
  return reactor;
}

void InstanceServiceImpl::WaitEverywhere(grpc::ServerUnaryReactor* reactor,
                                         const v1::WaitAppliedRequest* req,
                                         v1::WaitAppliedResponse* resp, absl::Time deadline) {
  const std::string self = peers_ != nullptr ? peers_->self() : std::string();
  if (req->replica_local() || peers_ == nullptr || !peers_->shared()) {
    registry_->WaitApplied(req->tenant(), req->service(), req->revision(), deadline,
                           [reactor, resp, self](v1::WaitAppliedResponse answer) {
                             for (v1::Instance& i : *answer.mutable_laggards()) i.set_replica(self);
                             *resp = std::move(answer);
                             reactor->Finish(grpc::Status::OK);
                           });
    return;
  }
  // This replica's instances and the others', waited for at once; answered when both are.
  struct Both {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 2;
    v1::WaitAppliedResponse local ABSL_GUARDED_BY(mu);
    std::vector<PeerAnswer<v1::WaitAppliedResponse>> peers ABSL_GUARDED_BY(mu);
  };
  auto both = std::make_shared<Both>();
  auto finish_if_last = [both, reactor, resp] {
    v1::WaitAppliedResponse merged;
    std::vector<PeerAnswer<v1::WaitAppliedResponse>> peers;
    {
      absl::MutexLock lock(&both->mu);
      if (--both->pending > 0) return;
      merged = std::move(both->local);
      peers = std::move(both->peers);
    }
    for (PeerAnswer<v1::WaitAppliedResponse>& answer : peers) {
      if (!answer.status.ok()) {
        merged.set_all_applied(false);
        *merged.add_unreachable_replicas() = Unreachable(answer.replica, answer.status);
        continue;
      }
      v1::WaitAppliedResponse& theirs = answer.response;
      merged.set_all_applied(merged.all_applied() && theirs.all_applied());
      merged.set_instances(merged.instances() + theirs.instances());
      merged.set_anonymous(merged.anonymous() + theirs.anonymous());
      for (v1::Instance& laggard : *theirs.mutable_laggards()) {
        *merged.add_laggards() = std::move(laggard);
      }
    }
    *resp = std::move(merged);
    reactor->Finish(grpc::Status::OK);
  };
  registry_->WaitApplied(req->tenant(), req->service(), req->revision(), deadline,
                         [both, finish_if_last, self](v1::WaitAppliedResponse answer) {
                           for (v1::Instance& i : *answer.mutable_laggards()) i.set_replica(self);
                           {
                             absl::MutexLock lock(&both->mu);
                             both->local = std::move(answer);
                           }
                           finish_if_last();
                         });
  peers_->WaitApplied(*req, deadline,
                      [both, finish_if_last](std::vector<PeerAnswer<v1::WaitAppliedResponse>> a) {
                        {
                          absl::MutexLock lock(&both->mu);
                          both->peers = std::move(a);
                        }
                        finish_if_last();
                      });
}

}  // namespace confcenter
