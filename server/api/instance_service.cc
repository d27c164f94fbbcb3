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

grpc::ServerUnaryReactor* InstanceServiceImpl::ListInstances(grpc::CallbackServerContext* ctx,
                                                             const v1::ListInstancesRequest* req,
                                                             v1::ListInstancesResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "InstanceService.ListInstances", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kRead, req->tenant()); },
      &refused);
  if (access == nullptr) return refused;
  if (absl::Status s = CheckScope(core_, req->tenant(), req->service()); !s.ok()) {
    return Finish(ctx, s);
  }
  resp->set_revision(core_->revision());
  for (v1::Instance& instance : registry_->List(req->tenant(), req->service())) {
    *resp->add_instances() = std::move(instance);
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InstanceServiceImpl::WaitApplied(grpc::CallbackServerContext* ctx,
                                                           const v1::WaitAppliedRequest* req,
                                                           v1::WaitAppliedResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "InstanceService.WaitApplied", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kRead, req->tenant()); },
      &refused);
  if (access == nullptr) return refused;
  if (absl::Status s = CheckScope(core_, req->tenant(), req->service()); !s.ok()) {
    return Finish(ctx, s);
  }
  const int64_t current = core_->revision();
  if (req->revision() <= 0 || req->revision() > current) {
    return Finish(ctx, absl::InvalidArgumentError(
                           absl::StrCat("revision: ", req->revision(),
                                        " is not a revision of this store (1-", current, ")")));
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
  registry_->WaitApplied(req->tenant(), req->service(), req->revision(), deadline,
                         [reactor, resp](v1::WaitAppliedResponse answer) {
                           *resp = std::move(answer);
                           reactor->Finish(grpc::Status::OK);
                         });
  return reactor;
}

}  // namespace confcenter
