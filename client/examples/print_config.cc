// Example microservice: follows its configuration in confcenter, prints it, and prints every
// change as it happens (the hot reload every service of the seed needs). With the server
// unreachable it starts from the cache file of its last run, flagged stale.
//
//   print_config --server=127.0.0.1:7070 --tenant=feature-login --services=login \
//                --cache_file=/tmp/login-config.json [--print_once]
// TLS and a bearer token come from CONFCENTER_CA, _CERT, _KEY, _TOKEN, _TOKEN_FILE.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7070", "confcenterd address.");
ABSL_FLAG(std::string, tenant, "integration", "Tenant (the branch) to follow.");
ABSL_FLAG(std::string, services, "", "Comma-separated services to follow; empty = all.");
ABSL_FLAG(std::string, cache_file, "", "Where to keep the last good configuration.");
ABSL_FLAG(bool, print_once, false,
          "Print the configuration once (after up to 2 s waiting for the server) and exit.");

namespace {
volatile std::sig_atomic_t g_stop = 0;

void Print(const confcenter::Subscription& sub) {
  std::printf("# tenant %s at revision %lld%s\n", absl::GetFlag(FLAGS_tenant).c_str(),
              static_cast<long long>(sub.revision()), sub.stale() ? " (stale: from cache)" : "");
  for (const auto& [key, v] : sub.Snapshot()) {
    std::printf("%s/%s = %s  [from %s]\n", key.first.c_str(), key.second.c_str(), v.value.c_str(),
                v.source_tenant.c_str());
  }
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  confcenter::ClientOptions client_options;
  client_options.address = absl::GetFlag(FLAGS_server);
  // TLS and the bearer token from CONFCENTER_CA, _CERT, _KEY, _TOKEN, _TOKEN_FILE.
  client_options.credentials = confcenter::Credentials::FromEnvironment();
  absl::StatusOr<std::unique_ptr<confcenter::Client>> client =
      confcenter::Client::Create(client_options);
  if (!client.ok()) {
    std::fprintf(stderr, "print_config: %s\n", client.status().ToString().c_str());
    return 2;
  }

  confcenter::SubscriptionOptions options;
  options.tenant = absl::GetFlag(FLAGS_tenant);
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_services), ',', absl::SkipEmpty())) {
    options.services.emplace_back(s);
  }
  options.cache_file = absl::GetFlag(FLAGS_cache_file);
  options.credentials = client_options.credentials;  // the token; the channel has the TLS
  auto sub = confcenter::Subscription::Start((*client)->channel(), options);

  if (absl::GetFlag(FLAGS_print_once)) {
    sub->WaitForRevision(1, absl::Seconds(2));
    Print(*sub);
    return sub->Snapshot().empty() && sub->stale() ? 1 : 0;
  }
  sub->OnChange("", "", /*prefix=*/true, [](const confcenter::ConfigChange& c) {
    std::printf("change @%lld: %s/%s %s -> %s\n", static_cast<long long>(c.revision),
                c.service.c_str(), c.key.c_str(),
                c.old_value ? c.old_value->value.c_str() : "(none)",
                c.new_value ? c.new_value->value.c_str() : "(deleted)");
    std::fflush(stdout);
  });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  sub->WaitForRevision(1, absl::Seconds(2));
  Print(*sub);
  while (!g_stop) sub->WaitForRevision(INT64_MAX, absl::Milliseconds(200));
  return 0;
}
