#include "server/api/access_service.h"

#include <string>

#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"

namespace confcenter {

grpc::ServerUnaryReactor* AccessServiceImpl::WhoAmI(grpc::CallbackServerContext* ctx,
                                                    const v1::WhoAmIRequest* req,
                                                    v1::WhoAmIResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "AccessService.WhoAmI", req->tenant(),
      [](const auth::Access&) { return absl::OkStatus(); }, &refused);
  if (access == nullptr) return refused;
  const auth::Identity& id = access->identity();
  resp->set_kind(auth::IdentityKindName(id.kind));
  resp->set_server_version(CONFCENTER_VERSION);
  resp->set_api_version("confcenter.v1");
  *resp->mutable_server_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  resp->set_name(id.name);
  resp->set_issuer(id.issuer);
  for (const std::string& a : id.audiences) resp->add_audiences(a);
  for (const auto& [claim, value] : id.claims) (*resp->mutable_claims())[claim] = value;
  resp->set_audit_name(gate_->ContextFor(ctx, *access, "").user);
  for (const auth::Grant& g : access->grants()) {
    v1::RoleGrant* out = resp->add_grants();
    out->set_role(auth::RoleName(g.role));
    out->set_tenants(g.tenant_pattern);
    out->set_service(g.service);
    out->set_act_for_others(g.act_for_others);
  }
  if (!req->tenant().empty()) {
    for (auth::Right r : access->RightsOn(req->tenant())) resp->add_rights(auth::RightName(r));
    resp->set_protected_(access->policy().IsProtected(req->tenant()));
    if (!req->service().empty()) {
      resp->set_may_read_service(access->RequireRead(req->tenant(), req->service()).ok());
      resp->set_may_read_service_secrets(access->MaySeeSecrets(req->tenant(), req->service()));
    }
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace confcenter
