#include "confcenter/request_tenant.h"

#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "common/names.h"

namespace confcenter {
namespace {

thread_local std::string current_tenant;

// Adds the tenant header to each call's initial metadata unless the call has one.
class TenantClientInterceptor : public grpc::experimental::Interceptor {
 public:
  TenantClientInterceptor(const std::string* header, std::string tenant)
      : header_(header), tenant_(std::move(tenant)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      if (metadata->find(*header_) == metadata->end()) metadata->emplace(*header_, tenant_);
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
  const std::string tenant_;
};

class TenantClientInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  TenantClientInterceptorFactory(std::string own_tenant, std::string header)
      : own_tenant_(std::move(own_tenant)), header_(std::move(header)) {}

  // Runs on the thread that creates the call: the tenant is taken from its scope now.
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    const std::string& current = TenantScope::Current();
    return new TenantClientInterceptor(&header_, current.empty() ? own_tenant_ : current);
  }

 private:
  const std::string own_tenant_;
  const std::string header_;
};

// Makes the incoming tenant current on the thread that receives the call, and restores the
// thread's previous tenant when the status goes out on that same thread (a synchronous
// handler has returned). Another thread's tenant is never touched.
class TenantServerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit TenantServerInterceptor(const std::string* header) : header_(header) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      std::string tenant;
      std::multimap<grpc::string_ref, grpc::string_ref>* metadata =
          methods->GetRecvInitialMetadata();
      if (auto it = metadata->find(*header_); it != metadata->end()) {
        std::string value(it->second.data(), it->second.size());
        if (IsValidRequestTenant(value)) tenant = std::move(value);
      }
      previous_ = std::exchange(current_tenant, std::move(tenant));
      thread_ = std::this_thread::get_id();
      set_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && set_ &&
        thread_ == std::this_thread::get_id()) {
      current_tenant = std::move(previous_);
      set_ = false;
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
  std::string previous_;
  std::thread::id thread_;
  bool set_ = false;
};

class TenantServerInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit TenantServerInterceptorFactory(std::string header) : header_(std::move(header)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new TenantServerInterceptor(&header_);
  }

 private:
  const std::string header_;
};

}  // namespace

bool IsValidRequestTenant(std::string_view tenant) {
  return !tenant.empty() &&
         ValidateTenantName("tenant", absl::string_view(tenant.data(), tenant.size())).ok();
}

TenantScope::TenantScope(std::string tenant)
    : previous_(std::exchange(current_tenant,
                              IsValidRequestTenant(tenant) ? std::move(tenant) : std::string())) {}

TenantScope::~TenantScope() { current_tenant = std::move(previous_); }

const std::string& TenantScope::Current() { return current_tenant; }

std::string TenantOf(const grpc::ServerContextBase& context, std::string_view header) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(header.data(), header.size()));
  if (it == metadata.end()) return "";
  std::string value(it->second.data(), it->second.size());
  return IsValidRequestTenant(value) ? value : "";
}

std::string TenantFromHttpHeader(std::optional<std::string_view> value) {
  if (!value.has_value()) return "";
  std::string tenant(absl::StripAsciiWhitespace(absl::string_view(value->data(), value->size())));
  return IsValidRequestTenant(tenant) ? tenant : "";
}

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
TenantClientInterceptors(std::string own_tenant, std::string header) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<TenantClientInterceptorFactory>(
      std::move(own_tenant), absl::AsciiStrToLower(header)));
  return factories;
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
TenantServerInterceptors(std::string header) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(
      std::make_unique<TenantServerInterceptorFactory>(absl::AsciiStrToLower(header)));
  return factories;
}

}  // namespace confcenter
