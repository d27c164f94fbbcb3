// Blocking one-line calls of the confcenter API for tests.
#ifndef CONFCENTER_TESTS_API_CLIENT_H_
#define CONFCENTER_TESTS_API_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::testing {

class ApiClient {
 public:
  explicit ApiClient(std::shared_ptr<grpc::Channel> channel)
      : config_(v1::ConfigService::NewStub(channel)),
        tenants_(v1::TenantService::NewStub(channel)) {}

  // Each returns the call's status; `revision` (if given) receives the response's revision.
  grpc::Status Register(const std::string& tenant, const std::vector<std::string>& services = {},
                        const std::string& parent = "", int64_t* revision = nullptr) {
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    req.set_parent(parent);
    for (const auto& s : services) req.add_services()->set_name(s);
    v1::RegisterResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = tenants_->Register(&ctx, req, &resp);
    if (revision) *revision = resp.revision();
    return st;
  }
  grpc::Status Deregister(const std::string& tenant, const std::vector<std::string>& services,
                          bool all = false, int64_t* revision = nullptr) {
    v1::DeregisterRequest req;
    req.set_tenant(tenant);
    for (const auto& s : services) req.add_services(s);
    req.set_all(all);
    v1::DeregisterResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = tenants_->Deregister(&ctx, req, &resp);
    if (revision) *revision = resp.revision();
    return st;
  }
  // `user`, if given, is sent as the x-confcenter-user header (the audit's identity).
  grpc::Status Put(const std::string& tenant, const std::string& service, const std::string& key,
                   const std::string& value, int64_t* revision = nullptr,
                   const std::string& user = "") {
    v1::PutRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    req.set_value(value);
    v1::PutResponse resp;
    grpc::ClientContext ctx;
    if (!user.empty()) ctx.AddMetadata("x-confcenter-user", user);
    grpc::Status st = config_->Put(&ctx, req, &resp);
    if (revision) *revision = resp.revision();
    return st;
  }
  grpc::Status Delete(const std::string& tenant, const std::string& service, const std::string& key,
                      int64_t* revision = nullptr) {
    v1::DeleteRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    v1::DeleteResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = config_->Delete(&ctx, req, &resp);
    if (revision) *revision = resp.revision();
    return st;
  }
  grpc::Status Mask(const std::string& tenant, const std::string& service, const std::string& key,
                    int64_t* revision = nullptr) {
    v1::MaskRequest req;
    req.set_tenant(tenant);
    req.set_service(service);
    req.set_key(key);
    v1::MaskResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = config_->Mask(&ctx, req, &resp);
    if (revision) *revision = resp.revision();
    return st;
  }
  grpc::Status Txn(const v1::TxnRequest& req, int64_t* revision = nullptr) {
    v1::TxnResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = config_->Txn(&ctx, req, &resp);
    if (revision) *revision = resp.revision();
    return st;
  }
  // The resolved view as (service, key) -> "value@source"; `revision` gets its revision.
  std::map<std::pair<std::string, std::string>, std::string> Resolve(
      const std::string& tenant, const std::vector<std::string>& services = {},
      int64_t* revision = nullptr, grpc::Status* status = nullptr) {
    v1::ResolveRequest req;
    req.set_tenant(tenant);
    for (const auto& s : services) req.add_services(s);
    v1::ResolveResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = config_->Resolve(&ctx, req, &resp);
    if (status) *status = st;
    if (revision) *revision = resp.revision();
    std::map<std::pair<std::string, std::string>, std::string> view;
    for (const auto& e : resp.entries()) {
      view[{e.service(), e.key()}] = e.value() + "@" + e.source_tenant();
    }
    return view;
  }

  v1::ConfigService::Stub* config() { return config_.get(); }
  v1::TenantService::Stub* tenants() { return tenants_.get(); }

 private:
  std::unique_ptr<v1::ConfigService::Stub> config_;
  std::unique_ptr<v1::TenantService::Stub> tenants_;
};

// Everything a client can observe of the store: every tenant (with its registered services)
// and every tenant's own entries. Tests compare it before and after a rejected request.
inline std::string StoreFingerprint(v1::ConfigService::Stub* config,
                                    v1::TenantService::Stub* tenants) {
  std::string out;
  v1::ListTenantsRequest lt;
  lt.set_page_size(1000);
  v1::ListTenantsResponse listed;
  grpc::ClientContext ctx;
  // A failed read shows in the text, so it cannot pass for an unchanged store.
  grpc::Status st = tenants->ListTenants(&ctx, lt, &listed);
  if (!st.ok()) return "ListTenants failed: " + st.error_message();
  out += listed.DebugString();
  for (const v1::Tenant& t : listed.tenants()) {
    v1::ListRequest lr;
    lr.set_tenant(t.name());
    lr.set_page_size(1000);
    v1::ListResponse list;
    grpc::ClientContext c;
    grpc::Status listed_ok = config->List(&c, lr, &list);
    if (!listed_ok.ok()) return "List failed: " + listed_ok.error_message();
    out += list.DebugString();
  }
  return out;
}

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_API_CLIENT_H_
