// cjose 0.6 hands out an RSA key as OpenSSL's RSA*, whose functions OpenSSL 3 deprecates.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "tests/auth_keys.h"

#include <cjose/cjose.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace confcenter::testing {
namespace {

using Json = nlohmann::json;

void Check(bool ok, absl::string_view what, const cjose_err* err = nullptr) {
  if (ok) return;
  std::fprintf(stderr, "auth_keys: %s failed%s%s\n", std::string(what).c_str(),
               err != nullptr ? ": " : "", err != nullptr ? err->message : "");
  std::abort();
}

int64_t Unix(absl::Time t) { return absl::ToUnixSeconds(t); }

// Signs `payload` with `jwk` under exactly `header`.
std::string Sign(const cjose_jwk_t* jwk, const Json& header, absl::string_view payload) {
  cjose_err err;
  cjose_header_t* hdr = cjose_header_new(&err);
  Check(hdr != nullptr, "cjose_header_new", &err);
  for (const auto& [name, value] : header.items()) {
    const bool set =
        value.is_string()
            ? cjose_header_set(hdr, name.c_str(), value.get<std::string>().c_str(), &err)
            : cjose_header_set_raw(hdr, name.c_str(), value.dump().c_str(), &err);
    Check(set, "cjose_header_set", &err);
  }
  cjose_jws_t* jws = cjose_jws_sign(jwk, hdr, reinterpret_cast<const uint8_t*>(payload.data()),
                                    payload.size(), &err);
  cjose_header_release(hdr);
  Check(jws != nullptr, "cjose_jws_sign", &err);
  const char* compact = nullptr;
  Check(cjose_jws_export(jws, &compact, &err), "cjose_jws_export", &err);
  std::string token = compact;
  cjose_jws_release(jws);
  return token;
}

std::string RsaPublicPem(const TestKey& key) {
  cjose_err err;
  RSA* rsa = static_cast<RSA*>(cjose_jwk_get_keydata(key.jwk(), &err));
  Check(rsa != nullptr, "cjose_jwk_get_keydata", &err);
  BIO* bio = BIO_new(BIO_s_mem());
  Check(bio != nullptr && PEM_write_bio_RSA_PUBKEY(bio, rsa) == 1, "PEM_write_bio_RSA_PUBKEY");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, size);
  BIO_free(bio);
  return pem;
}

}  // namespace

TestKey::TestKey(cjose_jwk_t* jwk, std::string kid, std::string alg)
    : jwk_(jwk, cjose_jwk_release), kid_(std::move(kid)), alg_(std::move(alg)) {
  cjose_err err;
  Check(jwk != nullptr, "creating a key");
  Check(cjose_jwk_set_kid(jwk, kid_.data(), kid_.size(), &err), "cjose_jwk_set_kid", &err);
}

TestKey TestKey::Rsa(std::string kid) {
  static const uint8_t kExponent[] = {0x01, 0x00, 0x01};  // 65537
  cjose_err err;
  return TestKey(cjose_jwk_create_RSA_random(2048, kExponent, sizeof(kExponent), &err),
                 std::move(kid), "RS256");
}

TestKey TestKey::Ec(std::string kid) {
  cjose_err err;
  return TestKey(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err), std::move(kid), "ES256");
}

TestKey TestKey::Oct(std::string kid) {
  cjose_err err;
  return TestKey(cjose_jwk_create_oct_random(256, &err), std::move(kid), "HS256");
}

Json TestKey::PublicJwk() const {
  cjose_err err;
  // An oct key is all secret: its "public" JSON would have no k.
  const bool with_secret = cjose_jwk_get_kty(jwk(), &err) == CJOSE_JWK_KTY_OCT;
  char* json = cjose_jwk_to_json(jwk(), with_secret, &err);
  Check(json != nullptr, "cjose_jwk_to_json", &err);
  Json jwk_json = Json::parse(json);
  cjose_get_dealloc()(json);
  return jwk_json;
}

void WriteFile(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  Check(static_cast<bool>(out), absl::StrCat("writing ", path));
}

void WriteJwks(const std::string& path, const std::vector<TestKey>& keys) {
  Json jwks = {{"keys", Json::array()}};
  for (const TestKey& key : keys) jwks["keys"].push_back(key.PublicJwk());
  WriteFile(path, jwks.dump(2));
}

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string SignJwt(const TestKey& key, const Json& header_extra, const Json& claims) {
  return SignJwtPayload(key, header_extra, claims.dump());
}

std::string SignJwtPayload(const TestKey& key, const Json& header_extra,
                           absl::string_view payload) {
  Json header = {{"alg", key.alg()}, {"kid", key.kid()}};
  if (header_extra.is_object()) {
    for (const auto& [name, value] : header_extra.items()) {
      if (value.is_null()) {
        header.erase(name);
      } else {
        header[name] = value;
      }
    }
  }
  return Sign(key.jwk(), header, payload);
}

Json StandardClaims(const std::string& issuer, const std::string& sub, absl::Time now,
                    absl::Duration ttl, const std::string& audience) {
  return {{"iss", issuer},    {"sub", sub},       {"aud", Json::array({audience})},
          {"iat", Unix(now)}, {"nbf", Unix(now)}, {"exp", Unix(now + ttl)}};
}

Json KubernetesClaims(const std::string& ns, const std::string& service_account, absl::Time now,
                      absl::Duration ttl) {
  Json claims =
      StandardClaims(kKubernetesIssuer,
                     absl::StrCat("system:serviceaccount:", ns, ":", service_account), now, ttl);
  claims["kubernetes.io"] = {
      {"namespace", ns},
      {"pod",
       {{"name", service_account + "-7d9f8c6b5-x2x4q"},
        {"uid", "0f5e8a36-1c7e-4e3b-9a59-2b1d1c2e3f40"}}},
      {"serviceaccount",
       {{"name", service_account}, {"uid", "8d7c2b4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"}}}};
  return claims;
}

Json GitLabClaims(const std::string& project_path, const std::string& ref,
                  const std::string& ref_type, absl::Time now, absl::Duration ttl) {
  const std::string ns = project_path.substr(0, project_path.rfind('/'));
  Json claims = StandardClaims(
      kGitLabIssuer,
      absl::StrCat("project_path:", project_path, ":ref_type:", ref_type, ":ref:", ref), now, ttl);
  claims["aud"] = kAudience;  // GitLab sends a single audience as a string
  claims.update({{"namespace_id", "72"},
                 {"namespace_path", ns},
                 {"project_id", "20"},
                 {"project_path", project_path},
                 {"user_id", "1"},
                 {"user_login", "alice"},
                 {"user_email", "alice@example.com"},
                 {"pipeline_id", "574"},
                 {"pipeline_source", "push"},
                 {"job_id", "302"},
                 {"ref", ref},
                 {"ref_type", ref_type},
                 {"ref_path", absl::StrCat(ref_type == "tag" ? "refs/tags/" : "refs/heads/", ref)},
                 {"ref_protected", "false"},
                 {"runner_id", 1},
                 {"runner_environment", "self-hosted"},
                 {"jti", "235b3a54-b797-45c7-ae9a-f72d7bc6ef5b"}});
  return claims;
}

Json GitHubClaims(const std::string& repository, const std::string& ref, absl::Time now,
                  absl::Duration ttl) {
  const std::string owner = repository.substr(0, repository.find('/'));
  Json claims =
      StandardClaims(kGitHubIssuer, absl::StrCat("repo:", repository, ":ref:", ref), now, ttl);
  claims["aud"] = kAudience;
  claims.update({{"jti", "example-id"},
                 {"ref", ref},
                 {"sha", "example-sha"},
                 {"repository", repository},
                 {"repository_owner", owner},
                 {"repository_owner_id", "65"},
                 {"repository_id", "74"},
                 {"repository_visibility", "private"},
                 {"actor", "alice"},
                 {"actor_id", "12"},
                 {"run_id", "example-run-id"},
                 {"run_number", "10"},
                 {"run_attempt", "2"},
                 {"workflow", "deploy"},
                 {"workflow_ref", absl::StrCat(repository, "/.github/workflows/deploy.yml@", ref)},
                 {"event_name", "push"},
                 {"ref_type", absl::StartsWith(ref, "refs/tags/") ? "tag" : "branch"},
                 {"head_ref", ""},
                 {"base_ref", ""},
                 {"runner_environment", "github-hosted"}});
  return claims;
}

std::string AlgNoneJwt(const Json& claims) {
  return absl::StrCat(Base64Url(R"({"alg":"none","typ":"JWT"})"), ".", Base64Url(claims.dump()),
                      ".");
}

std::string TamperedJwt(const std::string& token, const Json& claims) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  Check(parts.size() == 3, "TamperedJwt: a compact JWS");
  return absl::StrCat(parts[0], ".", Base64Url(claims.dump()), ".", parts[2]);
}

std::string KeyConfusionJwt(const TestKey& rsa_key, const Json& claims, ConfusionSecret secret,
                            bool with_kid) {
  const std::string bytes =
      secret == ConfusionSecret::kPem ? RsaPublicPem(rsa_key) : rsa_key.PublicJwk().dump();
  cjose_err err;
  std::shared_ptr<cjose_jwk_t> hmac(
      cjose_jwk_create_oct_spec(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &err),
      cjose_jwk_release);
  Check(hmac != nullptr, "cjose_jwk_create_oct_spec", &err);
  Json header = {{"alg", "HS256"}};
  if (with_kid) header["kid"] = rsa_key.kid();
  return Sign(hmac.get(), header, claims.dump());
}

std::string ExpiredJwt(const TestKey& key, Json claims, absl::Time now) {
  claims["iat"] = Unix(now - absl::Hours(2));
  claims["nbf"] = Unix(now - absl::Hours(2));
  claims["exp"] = Unix(now - absl::Hours(1));
  return SignJwt(key, Json::object(), claims);
}

std::string NotYetValidJwt(const TestKey& key, Json claims, absl::Time now) {
  claims["nbf"] = Unix(now + absl::Hours(1));
  claims["exp"] = Unix(now + absl::Hours(2));
  return SignJwt(key, Json::object(), claims);
}

std::string WrongIssuerJwt(const TestKey& key, Json claims) {
  claims["iss"] = "https://evil.example.com";
  return SignJwt(key, Json::object(), claims);
}

std::string WrongAudienceJwt(const TestKey& key, Json claims) {
  claims["aud"] = Json::array({"someone-else"});
  return SignJwt(key, Json::object(), claims);
}

std::string Sha256Hex(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  Check(EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) == 1,
        "EVP_Digest");
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size));
}

void WriteStaticTokensFile(const std::string& path,
                           const std::vector<std::pair<std::string, std::string>>& tokens) {
  std::string yaml = "tokens:\n";
  for (const auto& [name, token] : tokens) {
    absl::StrAppend(&yaml, "  - name: ", name, "\n    sha256: ", Sha256Hex(token), "\n");
  }
  WriteFile(path, yaml);
}

std::string WriteAdminAndReaderPolicy(const std::string& dir, const std::string& admin_token,
                                      const std::string& reader_token) {
  WriteStaticTokensFile(dir + "/tokens.yaml", {{"admin", admin_token}, {"reader", reader_token}});
  const std::string policy = dir + "/policy.yaml";
  WriteFile(policy, absl::StrCat("authentication:\n  static_tokens_file: ", dir,
                                 "/tokens.yaml\n"
                                 "bindings:\n"
                                 "  - subjects: [{kind: token, name: admin}]\n"
                                 "    roles: [admin]\n"
                                 "    tenants: [\"*\"]\n"
                                 "  - subjects: [{kind: token, name: reader}]\n"
                                 "    roles: [reader]\n"
                                 "    tenants: [\"*\"]\n"));
  return policy;
}

}  // namespace confcenter::testing
