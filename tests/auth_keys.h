// Test helpers for authentication: signing keys, their JWKS files, signed JWTs of the shapes
// real issuers send (Kubernetes, GitLab CI, GitHub Actions), the forged tokens attacks use,
// and static tokens files. Every helper aborts the test program if cjose or OpenSSL fails.
#ifndef CONFCENTER_TESTS_AUTH_KEYS_H_
#define CONFCENTER_TESTS_AUTH_KEYS_H_

#include <cjose/jwk.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace confcenter::testing {

inline constexpr char kKubernetesIssuer[] = "https://kubernetes.default.svc.cluster.local";
inline constexpr char kGitLabIssuer[] = "https://gitlab.example.com";
inline constexpr char kGitHubIssuer[] = "https://token.actions.githubusercontent.com";
inline constexpr char kAudience[] = "confcenter";

// A signing key with its kid. Copies share the key; thread-compatible.
class TestKey {
 public:
  // A fresh RSA-2048 key (RS256).
  static TestKey Rsa(std::string kid);
  // A fresh EC P-256 key (ES256).
  static TestKey Ec(std::string kid);
  // A fresh 256-bit oct key (HS256).
  static TestKey Oct(std::string kid);

  const std::string& kid() const { return kid_; }
  // The alg it signs with: "RS256", "ES256" or "HS256".
  const std::string& alg() const { return alg_; }
  // The JWK a verifier gets: the public parts (with kid), or an oct key's secret (it has no
  // public part).
  nlohmann::json PublicJwk() const;
  // The cjose key, private parts included; owned by this TestKey.
  const cjose_jwk_t* jwk() const { return jwk_.get(); }

 private:
  TestKey(cjose_jwk_t* jwk, std::string kid, std::string alg);
  std::shared_ptr<cjose_jwk_t> jwk_;
  std::string kid_;
  std::string alg_;
};

// Writes `content` to `path`, replacing it.
void WriteFile(const std::string& path, absl::string_view content);

// Writes {"keys": [...]} with each key's PublicJwk() to `path`: pass an oct key only where the
// verifier is to have it.
void WriteJwks(const std::string& path, const std::vector<TestKey>& keys);

// base64url without padding, as JWTs encode their parts.
std::string Base64Url(absl::string_view bytes);

// A compact JWS of `claims` signed by `key`. The header is {"alg": key.alg(), "kid": key.kid()}
// plus `header_extra` (an object; its fields win, so {"kid": nullptr} drops the kid).
std::string SignJwt(const TestKey& key, const nlohmann::json& header_extra,
                    const nlohmann::json& claims);

// The same with `payload` signed as it is (it need not be JSON).
std::string SignJwtPayload(const TestKey& key, const nlohmann::json& header_extra,
                           absl::string_view payload);

// Claims any valid token has: iss, sub, aud (a one-element array), iat = nbf = now,
// exp = now + ttl.
nlohmann::json StandardClaims(const std::string& issuer, const std::string& sub, absl::Time now,
                              absl::Duration ttl = absl::Minutes(10),
                              const std::string& audience = kAudience);
// A Kubernetes projected service-account token's claims (kKubernetesIssuer, sub
// system:serviceaccount:NS:NAME, the kubernetes.io claim).
nlohmann::json KubernetesClaims(const std::string& ns, const std::string& service_account,
                                absl::Time now, absl::Duration ttl = absl::Minutes(10));
// A GitLab CI id_token's claims (kGitLabIssuer) for `project_path` (group/project) at `ref`
// of `ref_type` ("branch" or "tag").
nlohmann::json GitLabClaims(const std::string& project_path, const std::string& ref,
                            const std::string& ref_type, absl::Time now,
                            absl::Duration ttl = absl::Minutes(10));
// A GitHub Actions OIDC token's claims (kGitHubIssuer) for `repository` (org/repo) at the full
// ref name `ref` (refs/heads/B or refs/tags/T).
nlohmann::json GitHubClaims(const std::string& repository, const std::string& ref, absl::Time now,
                            absl::Duration ttl = absl::Minutes(10));

// Forged tokens.
// Header {"alg":"none"}, the claims, an empty signature.
std::string AlgNoneJwt(const nlohmann::json& claims);
// `token` with its payload replaced by `claims` and its signature kept.
std::string TamperedJwt(const std::string& token, const nlohmann::json& claims);
// What an attacker uses as the HMAC secret in a key confusion attack.
enum class ConfusionSecret { kJwkJson, kPem };
// HS256 over `claims` with the RSA key's public JWK JSON or PEM (SubjectPublicKeyInfo) as the
// secret, the RSA key's kid in the header unless `with_kid` is false.
std::string KeyConfusionJwt(const TestKey& rsa_key, const nlohmann::json& claims,
                            ConfusionSecret secret, bool with_kid = true);
// Validly signed, but expired an hour before `now` (iat and nbf two hours before).
std::string ExpiredJwt(const TestKey& key, nlohmann::json claims, absl::Time now);
// Validly signed, but not valid before an hour after `now`.
std::string NotYetValidJwt(const TestKey& key, nlohmann::json claims, absl::Time now);
// Validly signed, but with iss "https://evil.example.com".
std::string WrongIssuerJwt(const TestKey& key, nlohmann::json claims);
// Validly signed, but with aud ["someone-else"].
std::string WrongAudienceJwt(const TestKey& key, nlohmann::json claims);

// Static tokens.
// The SHA-256 of `text` in lowercase hex.
std::string Sha256Hex(absl::string_view text);
// Writes a static tokens file listing each {name, token} by its name and the token's SHA-256.
void WriteStaticTokensFile(const std::string& path,
                           const std::vector<std::pair<std::string, std::string>>& tokens);
// Writes `dir`/tokens.yaml with tokens "admin" and "reader", and `dir`/policy.yaml that binds
// them to the roles of those names on every tenant. Returns the policy's path.
std::string WriteAdminAndReaderPolicy(const std::string& dir, const std::string& admin_token,
                                      const std::string& reader_token);

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_AUTH_KEYS_H_
