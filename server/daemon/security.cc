#include "server/daemon/security.h"

#include <sys/stat.h>

#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "spdlog/spdlog.h"

namespace confcenter {
namespace {

absl::Status Readable(const char* setting, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(setting, ": cannot read \"", path, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsSettings& settings) {
  if (settings.cert_file.empty()) {
    if (!settings.key_file.empty() || !settings.client_ca_file.empty()) {
      return absl::InvalidArgumentError("tls_key and tls_client_ca need tls_cert");
    }
    if (settings.client_auth != "none") {
      return absl::InvalidArgumentError("tls_client_auth needs tls_cert (TLS)");
    }
    return grpc::InsecureServerCredentials();
  }
  if (absl::Status s = Readable("tls_cert", settings.cert_file); !s.ok()) return s;
  if (settings.key_file.empty()) return absl::InvalidArgumentError("tls_cert needs tls_key");
  if (absl::Status s = Readable("tls_key", settings.key_file); !s.ok()) return s;
  grpc_ssl_client_certificate_request_type request;
  if (settings.client_auth == "none") {
    request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  } else if (settings.client_auth == "optional") {
    request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  } else if (settings.client_auth == "require") {
    request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("tls_client_auth: \"", settings.client_auth,
                                                   "\" is not none, optional or require"));
  }
  if (request != GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE) {
    if (settings.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "tls_client_auth: client certificates need tls_client_ca (the CA they chain to)");
    }
    if (absl::Status s = Readable("tls_client_ca", settings.client_ca_file); !s.ok()) return s;
  }
  const unsigned int interval = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(settings.reload_interval)));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      settings.key_file, settings.cert_file, settings.client_ca_file, interval);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!settings.client_ca_file.empty()) options.watch_root_certs();
  options.set_cert_request_type(request);
  return grpc::experimental::TlsServerCredentials(options);
}

bool IsLoopbackListen(const std::string& listen) {
  absl::string_view host = listen;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') == absl::string_view::npos ? 0 : host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  return absl::StartsWith(host, "127.") || host == "::1" || host == "localhost";
}

PolicyWatcher::PolicyWatcher(std::string policy_file, absl::Duration interval, Gatekeeper* gate,
                             Metrics* metrics)
    : policy_file_(std::move(policy_file)), interval_(interval), gate_(gate), metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<PolicyWatcher>> PolicyWatcher::Start(std::string policy_file,
                                                                    absl::Duration interval,
                                                                    Gatekeeper* gate,
                                                                    Metrics* metrics) {
  std::unique_ptr<PolicyWatcher> watcher(
      new PolicyWatcher(std::move(policy_file), interval, gate, metrics));
  if (absl::Status s = watcher->Load(); !s.ok()) return s;
  watcher->thread_ = std::thread([w = watcher.get()] {
    while (!w->stop_.WaitForNotificationWithTimeout(w->interval_)) w->ReloadIfChanged();
  });
  return watcher;
}

PolicyWatcher::~PolicyWatcher() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::string PolicyWatcher::Fingerprint() const {
  std::string out;
  std::vector<std::string> files;
  {
    absl::MutexLock lock(&mu_);
    files = watched_;
  }
  for (const std::string& f : files) {
    struct stat st;
    if (stat(f.c_str(), &st) != 0) {
      absl::StrAppend(&out, f, ":missing;");
    } else {
      absl::StrAppend(&out, f, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":", st.st_size,
                      ":", st.st_ino, ";");
    }
  }
  return out;
}

absl::Status PolicyWatcher::Load() {
  absl::StatusOr<auth::Policy> policy = auth::Policy::Load(policy_file_);
  if (!policy.ok()) return policy.status();
  std::vector<std::string> watched = {policy_file_};
  if (!policy->authentication().static_tokens_file.empty()) {
    watched.push_back(policy->authentication().static_tokens_file);
  }
  for (const auth::JwtIssuer& issuer : policy->authentication().jwt_issuers) {
    watched.push_back(issuer.jwks_file);
  }
  {
    absl::MutexLock lock(&mu_);
    watched_ = watched;
  }
  // Taken before the token and key files are read, so a change made while they are read is
  // seen by the next check.
  const std::string fingerprint = Fingerprint();
  absl::StatusOr<std::unique_ptr<auth::TokenVerifier>> verifier =
      auth::TokenVerifier::Create(policy->authentication());
  if (!verifier.ok()) return verifier.status();
  gate_->Install(std::make_shared<const auth::Policy>(*std::move(policy)),
                 std::shared_ptr<const auth::TokenVerifier>(*std::move(verifier)));
  absl::MutexLock lock(&mu_);
  fingerprint_ = fingerprint;
  return absl::OkStatus();
}

bool PolicyWatcher::ReloadIfChanged() {
  const std::string now = Fingerprint();
  {
    absl::MutexLock lock(&mu_);
    if (now == fingerprint_) return false;
  }
  if (absl::Status s = Load(); !s.ok()) {
    spdlog::error("policy not reloaded, the previous one stays in force: {}",
                  std::string(s.message()));
    if (metrics_ != nullptr) metrics_->PolicyReloaded(false);
    const std::string failed = Fingerprint();
    absl::MutexLock lock(&mu_);
    fingerprint_ = failed;  // retried when a file changes again
    return false;
  }
  if (metrics_ != nullptr) metrics_->PolicyReloaded(true);
  spdlog::info("policy reloaded from {}", policy_file_);
  return true;
}

}  // namespace confcenter
