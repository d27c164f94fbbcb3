// Authentication and authorization at the gRPC edge: who a call comes from (bearer token or
// mTLS client certificate), what the policy lets it do, and who the audit log names.
#ifndef CONFCENTER_SERVER_API_GATEKEEPER_H_
#define CONFCENTER_SERVER_API_GATEKEEPER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/auth/access.h"
#include "server/auth/policy.h"
#include "server/auth/token_verifier.h"
#include "server/core/config_core.h"

namespace confcenter {

// The metadata in which the HTTP gateway (server/api/http_gateway.h) passes on its client's
// address, and the one that proves a call comes from the gateway (Gatekeeper::GatewayKey);
// see Gatekeeper::PeerOf.
inline constexpr char kHttpPeerHeader[] = "x-confcenter-http-peer";
inline constexpr char kGatewayKeyHeader[] = "x-confcenter-gateway-key";

// The metadata header naming the user a trusted caller acts for; recorded as "on behalf of"
// only for identities the policy lets act for others, ignored otherwise.
inline constexpr char kUserHeader[] = "x-confcenter-user";
// Longest user name kept; longer ones are cut.
inline constexpr size_t kMaxUserBytes = 256;

class Gatekeeper {
 public:
  // Starts with the allow-all policy (the loopback default). `core` must outlive it.
  explicit Gatekeeper(ConfigCore* core);

  // Makes `policy` and `verifier` (built from policy->authentication()) the ones later calls
  // are checked against; calls already admitted keep the ones they were admitted with.
  void Install(std::shared_ptr<const auth::Policy> policy,
               std::shared_ptr<const auth::TokenVerifier> verifier);

  // The current policy.
  std::shared_ptr<const auth::Policy> policy() const;

  // Who the call comes from and what it may do. UNAUTHENTICATED if a bearer token is sent and
  // refused (with the verifier's reason), or if nothing is sent and the anonymous caller holds
  // no role.
  absl::StatusOr<std::shared_ptr<const auth::Access>> Authenticate(
      const grpc::CallbackServerContext* ctx) const;

  // The write context of an admitted call: its author is the authenticated identity (with
  // x-confcenter-user as "on behalf of" where allowed; on the allow-all default, the header
  // itself, as before authentication existed).
  WriteContext ContextFor(const grpc::CallbackServerContext* ctx, const auth::Access& access,
                          absl::string_view rpc, std::string message = "") const;

  // The caller's address: the gRPC peer ("ipv4:127.0.0.1:5000"), or for a call the HTTP
  // gateway made for an HTTP client (kHttpPeerHeader) "http:<client address>". The header is
  // believed only with the gateway's key (kGatewayKeyHeader), which never leaves the process.
  static std::string PeerOf(const grpc::CallbackServerContext* ctx);
  // A random value made once per process, which the HTTP gateway sends with its calls.
  static const std::string& GatewayKey();
  // Whom per-caller limits count the call against: "<kind>:<name>" of an authenticated
  // identity, else "peer:<host>" (the peer address without its port).
  static std::string CallerOf(const grpc::CallbackServerContext* ctx, const auth::Access& access);
  // "peer:<host>": the caller of a call with no identity (anonymous or unauthenticated).
  static std::string PeerCaller(const grpc::CallbackServerContext* ctx);

  // Authenticates the call and runs `check` on what it may do. On failure audits the refusal,
  // finishes the call's default reactor with the status, stores the reactor in `*refused`
  // and returns null.
  using Check = std::function<absl::Status(const auth::Access&)>;
  std::shared_ptr<const auth::Access> Admit(grpc::CallbackServerContext* ctx, absl::string_view rpc,
                                            absl::string_view tenant, const Check& check,
                                            grpc::ServerUnaryReactor** refused) const;

  // Records a refused call (unauthenticated or denied) in the audit log, then finishes
  // `reactor` with `status`. `access` is null for an unauthenticated call.
  void Refuse(const grpc::CallbackServerContext* ctx, const auth::Access* access,
              absl::string_view rpc, absl::string_view tenant, const absl::Status& status,
              grpc::ServerUnaryReactor* reactor) const;
  // As Refuse, for calls that are not unary (streams): audits only.
  void AuditRefusal(const grpc::CallbackServerContext* ctx, const auth::Access* access,
                    absl::string_view rpc, absl::string_view tenant,
                    const absl::Status& status) const;

  // Records in the audit log that the call read the values of the secret keys `keys`
  // ("tenant/service/key"; nothing if empty).
  void AuditSecretRead(const grpc::CallbackServerContext* ctx, const auth::Access& access,
                       absl::string_view rpc, std::vector<std::string> keys) const;

 private:
  // Most admitted credentials remembered per policy; when full, the memory starts over.
  static constexpr size_t kMaxRemembered = 10'000;

  // What Install sets, swapped whole, with what was admitted under it: a credential seen
  // before costs a digest and a lookup, not a verification and a pass over the bindings.
  struct Admission {
    std::shared_ptr<const auth::Policy> policy;
    std::shared_ptr<const auth::TokenVerifier> verifier;
    std::shared_ptr<const auth::Access> anonymous;  // the caller without credentials
    absl::Mutex mu;
    // "t" + SHA-256 of a bearer token, or "c" + a certificate identity's name.
    absl::flat_hash_map<std::string, std::shared_ptr<const auth::Access>> remembered
        ABSL_GUARDED_BY(mu);
  };

  std::shared_ptr<Admission> MakeAdmission(std::shared_ptr<const auth::Policy> policy,
                                           std::shared_ptr<const auth::TokenVerifier> verifier);
  // The access remembered under `key`, if it has not expired; else null.
  std::shared_ptr<const auth::Access> Recall(Admission& admission, const std::string& key) const;
  std::shared_ptr<const auth::Access> Remember(Admission& admission, std::string key,
                                               auth::Identity identity) const;
  auth::DependencyLookup Dependencies() const;

  ConfigCore* const core_;
  mutable absl::Mutex mu_;
  std::shared_ptr<Admission> admission_ ABSL_GUARDED_BY(mu_);
};

// Checks for Admit.
// Writing entries of `tenant`: write, and publish too if it is protected.
absl::Status RequireWrite(const auth::Access& access, absl::string_view tenant);
// Register, Deregister, Touch: register, and manage-protected too if it is protected.
absl::Status RequireRegister(const auth::Access& access, absl::string_view tenant);

// The identity an mTLS client certificate proves (first SAN URI, else DNS name, else CN), or
// nullopt when the peer did not present a verified certificate.
std::optional<auth::Identity> CertificateIdentity(const grpc::AuthContext& context);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_GATEKEEPER_H_
