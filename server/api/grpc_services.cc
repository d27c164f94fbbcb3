#include "server/api/grpc_services.h"

#include <utility>

#include "common/names.h"
#include "google/protobuf/util/time_util.h"
#include "server/api/gatekeeper.h"
#include "server/api/redaction.h"
#include "server/core/api_convert.h"

namespace confcenter {
namespace {

using google::protobuf::util::TimeUtil;
using storage::EntryRecord;

// Fills `out` from `info`, moving the definitions out of it.
void FillTenant(TenantInfo&& info, v1::Tenant* out) {
  out->set_name(info.record.name());
  out->set_parent(info.record.parent());
  for (const std::string& t : info.chain) out->add_chain(t);
  for (int i = 0; i < info.record.services_size(); ++i) {
    const storage::ServiceRecord& s = info.record.services(i);
    v1::RegisteredService* registered = out->add_services();
    *registered->mutable_definition() = std::move(info.definitions[i]);
    for (const auto& [name, address] : info.endpoints[i]) {
      (*registered->mutable_endpoints())[name] = address;
    }
    registered->set_revision(s.mod_revision());
    if (s.register_time_micros() > 0) {
      *registered->mutable_register_time() =
          TimeUtil::MicrosecondsToTimestamp(s.register_time_micros());
    }
    registered->mutable_warnings()->CopyFrom(s.warnings());
  }
  for (const std::string& c : info.children) out->add_children(c);
  out->set_key_count(info.key_count);
  out->set_create_revision(info.record.create_revision());
  out->set_revision(info.record.mod_revision());
  if (info.record.ttl_seconds() > 0) {
    *out->mutable_ttl() = TimeUtil::SecondsToDuration(info.record.ttl_seconds());
    *out->mutable_expire_time() =
        TimeUtil::MicrosecondsToTimestamp(info.record.expire_time_micros());
  }
  out->set_keep(info.keep);
  if (info.record.has_review()) {
    out->mutable_review()->set_drafts_required(info.record.review().drafts_required());
    out->mutable_review()->set_publisher_not_author(info.record.review().publisher_not_author());
  }
  out->set_open_drafts(info.record.drafts_size());
  out->set_gray_release_id(info.gray_release_id);
}

// Finishes the call with what `read` returns (it fills the response) once this replica has
// applied `min_revision`: at once when it has (or none is asked for), else when the core has
// applied it, or with UNAVAILABLE when the wait or the client's deadline runs out first.
grpc::ServerUnaryReactor* ReadAtLeast(ConfigCore* core, grpc::CallbackServerContext* ctx,
                                      int64_t min_revision, std::function<absl::Status()> read) {
  if (min_revision < 0) {
    return Finish(ctx, absl::InvalidArgumentError(
                           absl::StrCat("min_revision: must not be negative, got ", min_revision)));
  }
  if (min_revision == 0 || core->revision() >= min_revision) return Finish(ctx, read());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core->WhenApplied(min_revision, absl::FromChrono(ctx->deadline()),
                    [reactor, read = std::move(read)](absl::Status applied) {
                      if (applied.ok()) applied = read();
                      reactor->Finish(ToGrpcStatus(applied));
                    });
  return reactor;
}

// What a direct entry write of `tenant` needs: RequireWrite, and publish on a tenant whose
// review requires drafts (only secret values are written directly there, by publishers).
absl::Status RequireEntryWrite(ConfigCore* core, const auth::Access& access,
                               const std::string& tenant) {
  if (absl::Status s = RequireWrite(access, tenant); !s.ok()) return s;
  bool reviewed = false;
  core->ReadState([&](const ConfigState& state) {
    const TenantState* t = state.FindTenant(tenant);
    reviewed = t != nullptr && t->record.review().drafts_required();
  });
  return reviewed ? access.Require(auth::Right::kPublish, tenant) : absl::OkStatus();
}

// Runs a one-op transaction, after checking the caller may write there, and lets `fill` copy
// its result into the response.
template <typename Fill>
grpc::ServerUnaryReactor* SingleOp(ConfigCore* core, const Gatekeeper* gate,
                                   grpc::CallbackServerContext* ctx, absl::string_view rpc,
                                   WriteOp op, Fill fill) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate->Admit(
      ctx, rpc, op.tenant,
      [core, &op](const auth::Access& a) { return RequireEntryWrite(core, a, op.tenant); },
      &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  WriteContext context = gate->ContextFor(ctx, *access, rpc);
  std::vector<WriteOp> ops;
  ops.push_back(std::move(op));
  core->Txn(
      std::move(ops), /*single=*/true,
      [reactor, access, fill = std::move(fill)](absl::StatusOr<TxnResult> result) {
        if (result.ok()) fill(*result, *access);
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      std::move(context));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::ServerUnaryReactor* ConfigServiceImpl::Put(grpc::CallbackServerContext* ctx,
                                                 const v1::PutRequest* req, v1::PutResponse* resp) {
  WriteOp op{WriteOpType::kPut, req->tenant(),       req->service(), req->key(),
             req->value(),      req->content_type(), std::nullopt};
  if (req->has_expected_revision()) op.expected_revision = req->expected_revision();
  op.secret = req->secret();
  return SingleOp(core_, gate_, ctx, "ConfigService.Put", std::move(op),
                  [req, resp](const TxnResult& r, const auth::Access& access) {
                    resp->set_revision(r.revision);
                    FillEntry(req->tenant(), req->service(), req->key(), r.entries[0],
                              resp->mutable_entry());
                    RedactEntry(access, resp->mutable_entry());
                  });
}

grpc::ServerUnaryReactor* ConfigServiceImpl::Delete(grpc::CallbackServerContext* ctx,
                                                    const v1::DeleteRequest* req,
                                                    v1::DeleteResponse* resp) {
  WriteOp op{WriteOpType::kDelete, req->tenant(), req->service(), req->key(), "", 0, std::nullopt};
  if (req->has_expected_revision()) op.expected_revision = req->expected_revision();
  return SingleOp(core_, gate_, ctx, "ConfigService.Delete", std::move(op),
                  [req, resp](const TxnResult& r, const auth::Access& access) {
                    resp->set_revision(r.revision);
                    FillEntry(req->tenant(), req->service(), req->key(), r.entries[0],
                              resp->mutable_previous());
                    RedactEntry(access, resp->mutable_previous());
                  });
}

grpc::ServerUnaryReactor* ConfigServiceImpl::Mask(grpc::CallbackServerContext* ctx,
                                                  const v1::MaskRequest* req,
                                                  v1::MaskResponse* resp) {
  WriteOp op{WriteOpType::kMask, req->tenant(), req->service(), req->key(), "", 0, std::nullopt};
  if (req->has_expected_revision()) op.expected_revision = req->expected_revision();
  return SingleOp(core_, gate_, ctx, "ConfigService.Mask", std::move(op),
                  [req, resp](const TxnResult& r, const auth::Access&) {
                    resp->set_revision(r.revision);
                    FillEntry(req->tenant(), req->service(), req->key(), r.entries[0],
                              resp->mutable_entry());
                  });
}

grpc::ServerUnaryReactor* ConfigServiceImpl::Txn(grpc::CallbackServerContext* ctx,
                                                 const v1::TxnRequest* req, v1::TxnResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "ConfigService.Txn", req->ops_size() > 0 ? req->ops(0).tenant() : "",
      [this, req](const auth::Access& a) {
        for (const v1::TxnOp& op : req->ops()) {
          if (absl::Status s = RequireEntryWrite(core_, a, op.tenant()); !s.ok()) return s;
        }
        return absl::OkStatus();
      },
      &refused);
  if (access == nullptr) return refused;
  std::vector<WriteOp> ops;
  ops.reserve(req->ops_size());
  for (int i = 0; i < req->ops_size(); ++i) {
    const v1::TxnOp& in = req->ops(i);
    WriteOp op{WriteOpType::kPut, in.tenant(),       in.service(), in.key(),
               in.value(),        in.content_type(), std::nullopt};
    op.secret = in.secret();
    switch (in.type()) {
      case v1::TXN_OP_TYPE_PUT:
        break;
      case v1::TXN_OP_TYPE_DELETE:
        op.type = WriteOpType::kDelete;
        break;
      case v1::TXN_OP_TYPE_MASK:
        op.type = WriteOpType::kMask;
        break;
      default: {
        grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
        AuditTargets targets;
        targets.tenants.push_back(AuditName(in.tenant()));
        core_->RejectWrite(
            gate_->ContextFor(ctx, *access, "ConfigService.Txn", req->release_message()),
            std::move(targets),
            absl::InvalidArgumentError(absl::StrCat(
                "ops[", i, "].type: ", in.type(), " is not an operation; use PUT, DELETE or MASK")),
            [reactor](const absl::Status& s) { reactor->Finish(ToGrpcStatus(s)); });
        return reactor;
      }
    }
    if (in.has_expected_revision()) op.expected_revision = in.expected_revision();
    ops.push_back(std::move(op));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Txn(
      std::move(ops), /*single=*/false,
      [reactor, resp](absl::StatusOr<TxnResult> result) {
        if (result.ok()) resp->set_revision(result->revision);
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      gate_->ContextFor(ctx, *access, "ConfigService.Txn", req->release_message()));
  return reactor;
}

grpc::ServerUnaryReactor* ConfigServiceImpl::Get(grpc::CallbackServerContext* ctx,
                                                 const v1::GetRequest* req, v1::GetResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "ConfigService.Get", req->tenant(),
      [req](const auth::Access& a) -> absl::Status {
        if (absl::Status s = a.RequireRead(req->tenant(), req->service()); !s.ok()) return s;
        if (a.MaySeeKey(req->tenant(), req->service(), req->key())) return absl::OkStatus();
        return absl::PermissionDeniedError(
            absl::StrCat(auth::DescribeIdentity(a.identity()), " may read only the endpoints (",
                         auth::kEndpointKeyPrefixForAccess, "*) of service \"", req->service(),
                         "\" in tenant \"", req->tenant(), "\""));
      },
      &refused);
  if (access == nullptr) return refused;
  return ReadAtLeast(core_, ctx, req->min_revision(), [this, ctx, req, resp, access] {
    absl::StatusOr<EntryView> view = core_->Get(req->tenant(), req->service(), req->key());
    if (view.ok()) {
      resp->set_revision(view->revision);
      FillEntry(req->tenant(), req->service(), req->key(), view->entry, resp->mutable_entry());
      RedactEntry(*access, resp->mutable_entry());
      if (resp->entry().secret() && !resp->entry().redacted()) {
        gate_->AuditSecretRead(ctx, *access, "ConfigService.Get",
                               {absl::StrCat(req->tenant(), "/", req->service(), "/", req->key())});
      }
    }
    return view.status();
  });
}

grpc::ServerUnaryReactor* ConfigServiceImpl::List(grpc::CallbackServerContext* ctx,
                                                  const v1::ListRequest* req,
                                                  v1::ListResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "ConfigService.List", req->tenant(),
      [req](const auth::Access& a) { return a.RequireRead(req->tenant(), req->service()); },
      &refused);
  if (access == nullptr) return refused;
  return ReadAtLeast(core_, ctx, req->min_revision(), [this, ctx, req, resp, access] {
    absl::StatusOr<ListResult> list = core_->List(req->tenant(), req->service(), req->prefix(),
                                                  req->page_size(), req->page_token());
    if (list.ok()) {
      resp->set_revision(list->revision);
      for (const ListedEntry& e : list->entries) {
        FillEntry(req->tenant(), e.service, e.key, e.entry, resp->add_entries());
      }
      FilterEntries(*access, resp->mutable_entries());
      gate_->AuditSecretRead(ctx, *access, "ConfigService.List", SecretsShown(resp->entries()));
      resp->set_next_page_token(list->next_page_token);
    }
    return list.status();
  });
}

grpc::ServerUnaryReactor* ConfigServiceImpl::Resolve(grpc::CallbackServerContext* ctx,
                                                     const v1::ResolveRequest* req,
                                                     v1::ResolveResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "ConfigService.Resolve", req->tenant(),
      [req](const auth::Access& a) -> absl::Status {
        if (req->services().empty()) return a.RequireRead(req->tenant(), "");
        for (const std::string& s : req->services()) {
          if (absl::Status st = a.RequireRead(req->tenant(), s); !st.ok()) return st;
        }
        return absl::OkStatus();
      },
      &refused);
  if (access == nullptr) return refused;
  return ReadAtLeast(core_, ctx, req->min_revision(), [this, ctx, req, resp, access] {
    absl::StatusOr<ResolveResult> view = core_->Resolve(
        req->tenant(), std::vector<std::string>(req->services().begin(), req->services().end()));
    if (view.ok()) {
      resp->set_revision(view->revision);
      for (std::string& t : view->chain) resp->add_chain(std::move(t));
      resp->mutable_entries()->Reserve(static_cast<int>(view->entries.size()));
      for (ResolvedEntry& e : view->entries) MoveToProto(std::move(e), resp->add_entries());
      FilterResolved(*access, req->tenant(), resp->mutable_entries());
      gate_->AuditSecretRead(ctx, *access, "ConfigService.Resolve",
                             SecretsShown(req->tenant(), resp->entries()));
    }
    return view.status();
  });
}

grpc::ServerUnaryReactor* TenantServiceImpl::Register(grpc::CallbackServerContext* ctx,
                                                      const v1::RegisterRequest* req,
                                                      v1::RegisterResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "TenantService.Register", req->tenant(),
      [req](const auth::Access& a) { return RequireRegister(a, req->tenant()); }, &refused);
  if (access == nullptr) return refused;
  RegisterCommand command;
  command.tenant = req->tenant();
  command.parent = req->parent();
  command.root = req->root();
  command.services.assign(req->services().begin(), req->services().end());
  command.force = req->force();
  command.keep = req->keep();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (req->has_ttl()) {  // the core checks the range (and audits a rejection)
    command.ttl = FromProto(req->ttl());
  }
  core_->Register(
      std::move(command),
      [reactor, resp](absl::StatusOr<RegisterResult> result) {
        if (result.ok()) {
          resp->set_revision(result->revision);
          resp->set_created(result->created);
          FillTenant(std::move(result->tenant), resp->mutable_tenant());
          for (v1::DependencyMap& map : result->dependency_maps) {
            *resp->add_dependency_maps() = std::move(map);
          }
          for (const std::string& w : result->warnings) resp->add_warnings(w);
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      gate_->ContextFor(ctx, *access, "TenantService.Register"));
  return reactor;
}

grpc::ServerUnaryReactor* TenantServiceImpl::Deregister(grpc::CallbackServerContext* ctx,
                                                        const v1::DeregisterRequest* req,
                                                        v1::DeregisterResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "TenantService.Deregister", req->tenant(),
      [req](const auth::Access& a) { return RequireRegister(a, req->tenant()); }, &refused);
  if (access == nullptr) return refused;
  DeregisterCommand command;
  command.tenant = req->tenant();
  command.services.assign(req->services().begin(), req->services().end());
  command.all = req->all();
  command.force = req->force();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Deregister(
      std::move(command),
      [reactor, resp](absl::StatusOr<DeregisterResult> result) {
        if (result.ok()) {
          resp->set_revision(result->revision);
          for (const std::string& s : result->removed_services) {
            resp->add_removed_services(s);
          }
          resp->set_removed_keys(result->removed_keys);
          resp->set_tenant_removed(result->tenant_removed);
          for (const std::string& w : result->warnings) resp->add_warnings(w);
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      gate_->ContextFor(ctx, *access, "TenantService.Deregister"));
  return reactor;
}

grpc::ServerUnaryReactor* TenantServiceImpl::GetTenant(grpc::CallbackServerContext* ctx,
                                                       const v1::GetTenantRequest* req,
                                                       v1::GetTenantResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "TenantService.GetTenant", req->tenant(),
      [req](const auth::Access& a) { return a.Require(auth::Right::kRead, req->tenant()); },
      &refused);
  if (access == nullptr) return refused;
  int64_t revision = 0;
  absl::StatusOr<TenantInfo> info = core_->GetTenant(req->tenant(), &revision);
  if (info.ok()) {
    resp->set_revision(revision);
    FillTenant(*std::move(info), resp->mutable_tenant());
  }
  return Finish(ctx, info.status());
}

grpc::ServerUnaryReactor* TenantServiceImpl::ResolveDependencies(
    grpc::CallbackServerContext* ctx, const v1::ResolveDependenciesRequest* req,
    v1::ResolveDependenciesResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "TenantService.ResolveDependencies", req->tenant(),
      [req](const auth::Access& a) { return a.RequireRead(req->tenant(), req->service()); },
      &refused);
  if (access == nullptr) return refused;
  absl::StatusOr<DependenciesResult> deps =
      core_->ResolveDependencies(req->tenant(), req->service());
  if (deps.ok()) {
    resp->set_revision(deps->revision);
    resp->set_source_tenant(deps->source_tenant);
    *resp->mutable_map() = std::move(deps->map);
  }
  return Finish(ctx, deps.status());
}

grpc::ServerUnaryReactor* TenantServiceImpl::Touch(grpc::CallbackServerContext* ctx,
                                                   const v1::TouchRequest* req,
                                                   v1::TouchResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "TenantService.Touch", req->tenant(),
      [req](const auth::Access& a) { return RequireRegister(a, req->tenant()); }, &refused);
  if (access == nullptr) return refused;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Touch(
      req->tenant(),
      [reactor, resp](absl::StatusOr<TouchResult> result) {
        if (result.ok()) {
          resp->set_revision(result->revision);
          if (result->expire_time) {
            *resp->mutable_expire_time() =
                TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(*result->expire_time));
          }
        }
        reactor->Finish(ToGrpcStatus(result.status()));
      },
      gate_->ContextFor(ctx, *access, "TenantService.Touch"));
  return reactor;
}

grpc::ServerUnaryReactor* TenantServiceImpl::ListTenants(grpc::CallbackServerContext* ctx,
                                                         const v1::ListTenantsRequest* req,
                                                         v1::ListTenantsResponse* resp) {
  grpc::ServerUnaryReactor* refused = nullptr;
  std::shared_ptr<const auth::Access> access = gate_->Admit(
      ctx, "TenantService.ListTenants", "", [](const auth::Access&) { return absl::OkStatus(); },
      &refused);
  if (access == nullptr) return refused;
  absl::StatusOr<ListTenantsResult> list = core_->ListTenants(req->page_size(), req->page_token());
  if (list.ok()) {
    resp->set_revision(list->revision);
    for (TenantInfo& t : list->tenants) {  // only the tenants the caller may read
      if (access->Require(auth::Right::kRead, t.record.name()).ok()) {
        FillTenant(std::move(t), resp->add_tenants());
      }
    }
    resp->set_next_page_token(list->next_page_token);
  }
  return Finish(ctx, list.status());
}

}  // namespace confcenter
