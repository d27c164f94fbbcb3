#include "server/api/gatekeeper.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/write.h"

namespace confcenter {
namespace {

std::string MetadataValue(const grpc::CallbackServerContext* ctx, absl::string_view name) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find(grpc::string_ref(name.data(), name.size()));
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::string FirstProperty(const grpc::AuthContext& context, const char* name) {
  for (const grpc::string_ref& v : context.FindPropertyValues(name)) {
    if (v.size() > 0) return std::string(v.data(), v.size());
  }
  return "";
}

}  // namespace

std::optional<auth::Identity> CertificateIdentity(const grpc::AuthContext& context) {
  if (!context.IsPeerAuthenticated()) return std::nullopt;
  std::string name = FirstProperty(context, GRPC_PEER_URI_PROPERTY_NAME);
  if (name.empty()) name = FirstProperty(context, GRPC_PEER_DNS_PROPERTY_NAME);
  if (name.empty()) name = FirstProperty(context, GRPC_X509_CN_PROPERTY_NAME);
  if (name.empty()) return std::nullopt;
  auth::Identity identity;
  identity.kind = auth::IdentityKind::kCertificate;
  identity.name = CutUtf8(name, kMaxUserBytes);
  return identity;
}

Gatekeeper::Gatekeeper(ConfigCore* core) : core_(core) {
  admission_ =
      MakeAdmission(std::make_shared<const auth::Policy>(auth::Policy::AllowAll()), nullptr);
}

std::shared_ptr<Gatekeeper::Admission> Gatekeeper::MakeAdmission(
    std::shared_ptr<const auth::Policy> policy,
    std::shared_ptr<const auth::TokenVerifier> verifier) {
  auto admission = std::make_shared<Admission>();
  admission->policy = std::move(policy);
  admission->verifier = std::move(verifier);
  auto anonymous =
      std::make_shared<const auth::Access>(auth::Identity{}, admission->policy, Dependencies());
  if (!anonymous->grants().empty()) admission->anonymous = std::move(anonymous);
  return admission;
}

void Gatekeeper::Install(std::shared_ptr<const auth::Policy> policy,
                         std::shared_ptr<const auth::TokenVerifier> verifier) {
  std::shared_ptr<Admission> admission = MakeAdmission(std::move(policy), std::move(verifier));
  absl::MutexLock lock(&mu_);
  admission_ = std::move(admission);
}

std::shared_ptr<const auth::Policy> Gatekeeper::policy() const {
  absl::MutexLock lock(&mu_);
  return admission_->policy;
}

std::shared_ptr<const auth::Access> Gatekeeper::Recall(Admission& admission,
                                                       const std::string& key) const {
  absl::MutexLock lock(&admission.mu);
  auto it = admission.remembered.find(key);
  if (it == admission.remembered.end() || it->second->identity().expires <= absl::Now()) {
    return nullptr;
  }
  return it->second;
}

std::shared_ptr<const auth::Access> Gatekeeper::Remember(Admission& admission, std::string key,
                                                         auth::Identity identity) const {
  auto access =
      std::make_shared<const auth::Access>(std::move(identity), admission.policy, Dependencies());
  absl::MutexLock lock(&admission.mu);
  if (admission.remembered.size() >= kMaxRemembered) admission.remembered.clear();
  admission.remembered[std::move(key)] = access;
  return access;
}

auth::DependencyLookup Gatekeeper::Dependencies() const {
  return [core = core_](const std::string& tenant, const std::string& service) {
    std::vector<std::string> out;
    core->ReadState([&](const ConfigState& state) {
      if (const v1::ServiceDefinition* def = state.DefinitionSeenBy(tenant, service)) {
        for (const v1::Dependency& d : def->dependencies()) out.push_back(d.service());
      }
    });
    return out;
  };
}

absl::StatusOr<std::shared_ptr<const auth::Access>> Gatekeeper::Authenticate(
    const grpc::CallbackServerContext* ctx) const {
  std::shared_ptr<Admission> admission;
  {
    absl::MutexLock lock(&mu_);
    admission = admission_;
  }
  if (admission->policy->allow_all()) return admission->anonymous;
  const std::string authorization = MetadataValue(ctx, "authorization");
  if (!authorization.empty()) {
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWithIgnoreCase(authorization, kBearer)) {
      return absl::UnauthenticatedError("the authorization header must be \"Bearer <token>\"");
    }
    const absl::string_view token = absl::string_view(authorization).substr(kBearer.size());
    // Remembered by digest, so the server keeps no token it was shown.
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    EVP_Digest(token.data(), token.size(), digest, &digest_size, EVP_sha256(), nullptr);
    std::string key =
        absl::StrCat("t", absl::string_view(reinterpret_cast<const char*>(digest), digest_size));
    if (std::shared_ptr<const auth::Access> known = Recall(*admission, key)) return known;
    if (admission->verifier == nullptr) {
      return absl::UnauthenticatedError("this server accepts no bearer tokens");
    }
    absl::StatusOr<auth::Identity> verified = admission->verifier->Verify(token);
    if (!verified.ok()) return verified.status();
    return Remember(*admission, std::move(key), *std::move(verified));
  }
  if (std::shared_ptr<const grpc::AuthContext> context = ctx->auth_context()) {
    if (std::optional<auth::Identity> cert = CertificateIdentity(*context)) {
      std::string key = absl::StrCat("c", cert->name);
      if (std::shared_ptr<const auth::Access> known = Recall(*admission, key)) return known;
      return Remember(*admission, std::move(key), *std::move(cert));
    }
  }
  if (admission->anonymous == nullptr) {
    return absl::UnauthenticatedError(
        "no credentials: send a bearer token (authorization: Bearer <token>) or a client "
        "certificate");
  }
  return admission->anonymous;
}

WriteContext Gatekeeper::ContextFor(const grpc::CallbackServerContext* ctx,
                                    const auth::Access& access, absl::string_view rpc,
                                    std::string message) const {
  WriteContext context;
  context.rpc = std::string(rpc);
  const std::string header = CutUtf8(MetadataValue(ctx, kUserHeader), kMaxUserBytes);
  if (access.identity().kind == auth::IdentityKind::kAnonymous) {
    context.user = header.empty() ? "anonymous" : header;
  } else {
    context.user = auth::DescribeIdentity(access.identity());
    if (!header.empty() && access.ActsForOthers()) {
      context.user = CutUtf8(absl::StrCat(context.user, " on behalf of ", header), kMaxUserBytes);
    }
  }
  context.peer = PeerOf(ctx);
  context.caller = CallerOf(ctx, access);
  context.message = std::move(message);
  if (ctx->deadline() != std::chrono::system_clock::time_point::max()) {
    context.deadline = absl::FromChrono(ctx->deadline());
  }
  return context;
}

std::string Gatekeeper::CallerOf(const grpc::CallbackServerContext* ctx,
                                 const auth::Access& access) {
  const auth::Identity& identity = access.identity();
  if (identity.kind != auth::IdentityKind::kAnonymous) {
    return absl::StrCat(auth::IdentityKindName(identity.kind), ":", identity.name);
  }
  return PeerCaller(ctx);
}

const std::string& Gatekeeper::GatewayKey() {
  static const std::string* const key = [] {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // no entropy: nothing is safe
    return new std::string(absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes))));
  }();
  return *key;
}

std::string Gatekeeper::PeerOf(const grpc::CallbackServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto peer = metadata.find(kHttpPeerHeader);
  auto key = metadata.find(kGatewayKeyHeader);
  if (peer != metadata.end() && key != metadata.end() &&
      absl::string_view(key->second.data(), key->second.size()) == GatewayKey()) {
    return absl::StrCat("http:", absl::string_view(peer->second.data(), peer->second.size()));
  }
  return ctx->peer();
}

std::string Gatekeeper::PeerCaller(const grpc::CallbackServerContext* ctx) {
  // "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "http:127.0.0.1:5000", "unix:/path": the host,
  // without the port.
  const std::string address = PeerOf(ctx);
  absl::string_view peer = address;
  if (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:") ||
      absl::StartsWith(peer, "http:")) {
    peer = peer.substr(0, peer.rfind(':'));
  }
  return absl::StrCat("peer:", peer);
}

std::shared_ptr<const auth::Access> Gatekeeper::Admit(grpc::CallbackServerContext* ctx,
                                                      absl::string_view rpc,
                                                      absl::string_view tenant, const Check& check,
                                                      grpc::ServerUnaryReactor** refused) const {
  absl::StatusOr<std::shared_ptr<const auth::Access>> access = Authenticate(ctx);
  if (!access.ok()) {
    Refuse(ctx, nullptr, rpc, tenant, access.status(), *refused = ctx->DefaultReactor());
    return nullptr;
  }
  if (absl::Status s = check(**access); !s.ok()) {
    Refuse(ctx, access->get(), rpc, tenant, s, *refused = ctx->DefaultReactor());
    return nullptr;
  }
  return *std::move(access);
}

absl::Status RequireWrite(const auth::Access& access, absl::string_view tenant) {
  if (absl::Status s = access.Require(auth::Right::kWrite, tenant); !s.ok()) return s;
  if (!access.policy().IsProtected(tenant)) return absl::OkStatus();
  return access.Require(auth::Right::kPublish, tenant);
}

absl::Status RequireRegister(const auth::Access& access, absl::string_view tenant) {
  if (absl::Status s = access.Require(auth::Right::kRegister, tenant); !s.ok()) return s;
  if (!access.policy().IsProtected(tenant)) return absl::OkStatus();
  return access.Require(auth::Right::kManageProtected, tenant);
}

void Gatekeeper::AuditRefusal(const grpc::CallbackServerContext* ctx, const auth::Access* access,
                              absl::string_view rpc, absl::string_view tenant,
                              const absl::Status& status) const {
  WriteContext context;
  if (access != nullptr) {
    context = ContextFor(ctx, *access, rpc);
  } else {
    context.rpc = std::string(rpc);
    context.user = "unauthenticated";
    context.peer = PeerOf(ctx);
    context.caller = PeerCaller(ctx);
  }
  AuditTargets targets;
  if (!tenant.empty()) targets.tenants.push_back(AuditName(tenant));
  core_->RejectWrite(std::move(context), std::move(targets), status, [](const absl::Status&) {});
}

void Gatekeeper::AuditSecretRead(const grpc::CallbackServerContext* ctx, const auth::Access& access,
                                 absl::string_view rpc, std::vector<std::string> keys) const {
  // Without authentication everyone may read everything: who read a secret tells nothing.
  if (keys.empty() || access.policy().allow_all()) return;
  AuditTargets targets;
  targets.detail = absl::StrCat("read ", keys.size(), " secret value(s)");
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (std::string& k : keys) {
    if (targets.keys.size() == kMaxAuditKeys) break;
    const std::string tenant = k.substr(0, k.find('/'));
    if (targets.tenants.empty() || targets.tenants.back() != tenant) {
      targets.tenants.push_back(AuditName(tenant));
    }
    targets.keys.push_back(AuditName(k));
  }
  core_->AuditRead(ContextFor(ctx, access, rpc), std::move(targets));
}

void Gatekeeper::Refuse(const grpc::CallbackServerContext* ctx, const auth::Access* access,
                        absl::string_view rpc, absl::string_view tenant, const absl::Status& status,
                        grpc::ServerUnaryReactor* reactor) const {
  AuditRefusal(ctx, access, rpc, tenant, status);
  reactor->Finish(
      grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message())));
}

}  // namespace confcenter
