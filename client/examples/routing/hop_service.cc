// Example microservice for request-scoped routing (docs/routing.md): serves hoppb.Hop as
// service --name in tenant --tenant, and calls --next (if set) where the request's tenant
// routes it. Every instance adds itself to the reply, so the caller sees which instance
// served each hop.
//
//   hop_service --name=a --tenant=integration --next=b --listen=127.0.0.1:0
//               --port_file=/tmp/a.port --server=127.0.0.1:7070
//   hop_service --call=127.0.0.1:PORT --request_tenant=f1     # prints "a@integration b@f1 ..."
//
// The parts a real service needs are four: the server interceptor (the incoming tenant is
// made current), a Router for the dependencies, ChannelFor (a pooled channel whose calls
// carry the tenant on), and nothing else: the handler does not touch the tenant itself.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "confcenter/client.h"
#include "confcenter/request_tenant.h"
#include "confcenter/router.h"
#include "grpcpp/grpcpp.h"
#include "hoppb/hop.grpc.pb.h"

ABSL_FLAG(std::string, name, "", "The service this instance runs as (a, b, c...).");
ABSL_FLAG(std::string, tenant, "integration", "The tenant this instance runs in.");
ABSL_FLAG(std::string, next, "", "The service it calls; empty = none.");
ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Where to serve.");
ABSL_FLAG(std::string, port_file, "", "Written with the port once serving.");
ABSL_FLAG(std::string, server, "127.0.0.1:7070", "confcenterd address.");
ABSL_FLAG(std::string, call, "", "Client mode: call the Hop service at this address and exit.");
ABSL_FLAG(std::string, request_tenant, "",
          "Client mode: the x-confcenter-tenant to send (empty = none).");

namespace {

class HopService final : public hoppb::Hop::Service {
 public:
  HopService(std::string name, std::string tenant, std::string next,
             std::unique_ptr<confcenter::Router> router)
      : name_(std::move(name)),
        tenant_(std::move(tenant)),
        next_(std::move(next)),
        router_(std::move(router)) {}

  grpc::Status Call(grpc::ServerContext* context, const hoppb::CallRequest* request,
                    hoppb::CallReply* reply) override {
    hoppb::Visit* visit = reply->add_visits();
    visit->set_service(name_);
    visit->set_tenant(tenant_);
    visit->set_request_tenant(confcenter::TenantScope::Current());
    if (next_.empty()) return grpc::Status::OK;
    // Routed by the request's tenant; the channel's calls carry it on.
    std::shared_ptr<grpc::Channel> channel = router_->ChannelFor(next_);
    if (channel == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrCat("no route to ", next_));
    }
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    hoppb::CallReply downstream;
    grpc::Status status =
        hoppb::Hop::NewStub(channel)->Call(&call, hoppb::CallRequest(), &downstream);
    if (!status.ok()) return status;
    reply->mutable_visits()->MergeFrom(downstream.visits());
    return grpc::Status::OK;
  }

 private:
  const std::string name_, tenant_, next_;
  const std::unique_ptr<confcenter::Router> router_;
};

int CallOnce(const std::string& address, const std::string& request_tenant) {
  auto stub = hoppb::Hop::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.set_wait_for_ready(true);
  if (!request_tenant.empty()) {
    context.AddMetadata(std::string(confcenter::kTenantHeader), request_tenant);
  }
  hoppb::CallReply reply;
  grpc::Status status = stub->Call(&context, hoppb::CallRequest(), &reply);
  if (!status.ok()) {
    std::fprintf(stderr, "hop_service: %s\n", status.error_message().c_str());
    return 1;
  }
  std::string line;
  for (const hoppb::Visit& v : reply.visits()) {
    absl::StrAppend(&line, line.empty() ? "" : " ", v.service(), "@", v.tenant());
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_call).empty()) {
    return CallOnce(absl::GetFlag(FLAGS_call), absl::GetFlag(FLAGS_request_tenant));
  }
  // SIGTERM/SIGINT are taken by sigwait below, not by any thread gRPC starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string name = absl::GetFlag(FLAGS_name), tenant = absl::GetFlag(FLAGS_tenant),
                    next = absl::GetFlag(FLAGS_next);
  std::unique_ptr<confcenter::Router> router;
  if (!next.empty()) {
    confcenter::ClientOptions client_options;
    client_options.address = absl::GetFlag(FLAGS_server);
    client_options.credentials = confcenter::Credentials::FromEnvironment();
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        confcenter::Client::MakeChannel(client_options);
    confcenter::RouterOptions options;
    options.tenant = tenant;
    options.dependencies = {next};
    options.credentials = client_options.credentials;
    absl::StatusOr<std::unique_ptr<confcenter::Router>> started =
        channel.ok() ? confcenter::Router::Start(*channel, options)
                     : absl::StatusOr<std::unique_ptr<confcenter::Router>>(channel.status());
    if (!started.ok()) {
      std::fprintf(stderr, "hop_service: %s\n", started.status().ToString().c_str());
      return 2;
    }
    router = std::move(*started);
  }
  HopService service(name, tenant, next, std::move(router));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.experimental().SetInterceptorCreators(confcenter::TenantServerInterceptors());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "hop_service: cannot listen on %s\n", absl::GetFlag(FLAGS_listen).c_str());
    return 2;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string path = absl::GetFlag(FLAGS_port_file);
    std::ofstream(path + ".tmp") << port << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
  }
  int received = 0;
  sigwait(&signals, &received);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
