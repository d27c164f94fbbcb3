// confcenterd's transport security and access policy, from its settings: the gRPC server
// credentials (TLS with certificates reloaded as their files change, optional or required
// client certificates), the policy and token verifier (reloaded as their files change), and
// the secure-by-default check on where the server listens.
#ifndef CONFCENTER_SERVER_DAEMON_SECURITY_H_
#define CONFCENTER_SERVER_DAEMON_SECURITY_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "server/api/gatekeeper.h"
#include "server/core/metrics.h"

namespace confcenter {

struct TlsSettings {
  std::string cert_file;             // server certificate chain (PEM); empty = plaintext
  std::string key_file;              // its private key (PEM)
  std::string client_ca_file;        // CA bundle client certificates must chain to
  std::string client_auth = "none";  // none, optional or require
  absl::Duration reload_interval = absl::Seconds(60);  // how often the files are checked
};

// Plaintext when `settings.cert_file` is empty; else TLS whose certificate, key and client
// CA are re-read every reload_interval (open streams keep going on the old ones).
// INVALID_ARGUMENT naming the setting for missing or unreadable files, a client_auth other
// than none/optional/require, or a client_auth without a client CA.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsSettings& settings);

// Whether `listen` (host:port) is a loopback address: 127.x.x.x, [::1] or localhost.
bool IsLoopbackListen(const std::string& listen);

// The policy file and everything it names, loaded and installed into a Gatekeeper, then
// re-read when any of those files changes (checked every `interval`). A file that fails to
// load leaves the installed policy in force and is logged with its reason.
class PolicyWatcher {
 public:
  // Loads `policy_file` and installs it. INVALID_ARGUMENT (with the file and line) if it or a
  // file it names does not load: the server must not start on a policy it cannot read.
  // Reloads are counted in `metrics` (may be null).
  static absl::StatusOr<std::unique_ptr<PolicyWatcher>> Start(std::string policy_file,
                                                              absl::Duration interval,
                                                              Gatekeeper* gate, Metrics* metrics);
  // Stops the polling thread.
  ~PolicyWatcher();

  // Reloads now if a file changed; returns whether a new policy was installed. The polling
  // thread calls it; so may a SIGHUP handler.
  bool ReloadIfChanged();

 private:
  PolicyWatcher(std::string policy_file, absl::Duration interval, Gatekeeper* gate,
                Metrics* metrics);
  absl::Status Load();
  // The modification times and sizes of the policy file and the files it names.
  std::string Fingerprint() const;

  const std::string policy_file_;
  const absl::Duration interval_;
  Gatekeeper* const gate_;
  Metrics* const metrics_;
  mutable absl::Mutex mu_;
  std::vector<std::string> watched_ ABSL_GUARDED_BY(mu_);
  std::string fingerprint_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_DAEMON_SECURITY_H_
