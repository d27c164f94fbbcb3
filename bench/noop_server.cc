// The "ceiling" server of confcenter_vs_etcd: a trivial gRPC server (callback API, no work in
// the handlers) started as a separate process like confcenterd and etcd, so the harness can
// read every figure as a fraction of what gRPC itself allows on this machine.
//
//   confcenter_noop_server --listen=127.0.0.1:0 --port_file=PATH
//
// Writes the bound port to --port_file once serving; stops on SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "benchpb/noop.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Address to serve on (loopback only).");
ABSL_FLAG(std::string, port_file, "", "Where to write the bound port once serving.");

namespace confcenter::bench {
namespace {

class NoopServiceImpl final : public NoopService::CallbackService {
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, const NoopRequest*,
                                 NoopResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // Sends initial metadata, then nothing; finishes when the client cancels.
  grpc::ServerWriteReactor<NoopResponse>* Hold(grpc::CallbackServerContext*,
                                               const NoopRequest*) override {
    class Holder final : public grpc::ServerWriteReactor<NoopResponse> {
     public:
      Holder() { StartSendInitialMetadata(); }  // tells the client the stream is open
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }
    };
    return new Holder;
  }
};

}  // namespace
}  // namespace confcenter::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads

  confcenter::bench::NoopServiceImpl service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "noop server: cannot listen on %s\n", absl::GetFlag(FLAGS_listen).c_str());
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}
