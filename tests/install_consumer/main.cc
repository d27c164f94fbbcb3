// Links against the installed client library and asks a server for a tenant's view.
#include <cstdio>

#include "confcenter/client.h"
#include "confcenter/subscription.h"

int main(int argc, char** argv) {
  confcenter::ClientOptions options;
  if (argc > 1) options.address = argv[1];
  confcenter::Client client(options);
  confcenter::v1::ResolveRequest request;
  request.set_tenant("integration");
  absl::StatusOr<confcenter::v1::ResolveResponse> view = client.Resolve(request);
  if (!view.ok()) {
    std::printf("error: %s\n", view.status().ToString().c_str());
    return 1;
  }
  std::printf("integration at revision %lld\n", static_cast<long long>(view->revision()));
  return 0;
}
