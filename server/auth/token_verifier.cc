#include "server/auth/token_verifier.h"

#include <cjose/cjose.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace confcenter::auth {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kRs256 = "RS256";
constexpr absl::string_view kEs256 = "ES256";
constexpr absl::string_view kHs256 = "HS256";
constexpr size_t kMinRsaBits = 2048;
constexpr size_t kMinOctBits = 256;  // an HS256 key shorter than the hash weakens it

struct JwkDeleter {
  void operator()(cjose_jwk_t* jwk) const { cjose_jwk_release(jwk); }
};
struct JwsDeleter {
  void operator()(cjose_jws_t* jws) const { cjose_jws_release(jws); }
};

// One verification key of an issuer.
struct Key {
  std::string kid;  // empty if the JWK has none
  // The one token alg this key verifies, fixed by its kty: RSA RS256, EC (P-256) ES256, oct
  // HS256. A JWK's own "alg" must say the same (checked on load), so comparing this with the
  // token's alg checks both the key type and the key's alg.
  absl::string_view alg;
  std::unique_ptr<cjose_jwk_t, JwkDeleter> jwk;
};

absl::Status Unauthenticated(absl::string_view reason) {
  return absl::UnauthenticatedError(reason);
}

// Text from a token or a file, made safe and short for an error message.
std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 64;
  std::string quoted = absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMax)), "\"");
  if (text.size() > kMax) quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  return text.str();
}

// The SHA-256 digest of `text`: 32 raw bytes.
std::string Sha256(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return std::string();  // (OpenSSL out of memory) matches no token: 32 bytes never empty
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

// ---- The static tokens file.

absl::Status TokensFileError(const std::string& path, const YAML::Node& node,
                             absl::string_view problem) {
  const int line = node.Mark().line;  // 0-based; -1 when yaml-cpp has no position
  if (line < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line + 1, ": ", problem));
}

// The name a static token may have: it names the caller in logs and audit records.
bool IsTokenName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("-_.:@", c)) return false;
  }
  return true;
}

absl::Status LoadStaticTokens(const std::string& path,
                              absl::flat_hash_map<std::string, std::string>* tokens) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  // yaml-cpp reports bad YAML, and conversions it cannot do, by throwing.
  try {
    YAML::Node root = YAML::Load(*text);
    if (!root.IsMap()) return TokensFileError(path, root, "expected a map with a tokens list");
    for (const auto& field : root) {
      const std::string key = field.first.Scalar();
      if (key != "tokens") {
        return TokensFileError(path, field.first, absl::StrCat("unknown field ", Quote(key)));
      }
    }
    const YAML::Node list = root["tokens"];
    if (list.IsNull()) return absl::OkStatus();  // "tokens:" with none listed
    if (!list.IsSequence()) return TokensFileError(path, list, "tokens: expected a list");
    absl::flat_hash_map<std::string, int> line_of_name;
    absl::flat_hash_map<std::string, int> line_of_digest;
    for (const YAML::Node& entry : list) {
      const int line = entry.Mark().line + 1;
      if (!entry.IsMap()) {
        return TokensFileError(path, entry, "expected a map with name and sha256");
      }
      for (const auto& field : entry) {
        const std::string key = field.first.Scalar();
        if (key != "name" && key != "sha256") {
          return TokensFileError(path, field.first, absl::StrCat("unknown field ", Quote(key)));
        }
        if (!field.second.IsScalar()) {
          return TokensFileError(path, field.second, absl::StrCat(key, ": expected text"));
        }
      }
      if (!entry["name"]) return TokensFileError(path, entry, "name missing");
      if (!entry["sha256"]) return TokensFileError(path, entry, "sha256 missing");
      const std::string name = entry["name"].Scalar();
      const std::string hex = absl::AsciiStrToLower(entry["sha256"].Scalar());
      if (!IsTokenName(name)) {
        return TokensFileError(
            path, entry["name"],
            absl::StrCat("name ", Quote(name), ": expected 1 to 128 of A-Z a-z 0-9 - _ . : @"));
      }
      if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), absl::ascii_isxdigit)) {
        return TokensFileError(path, entry["sha256"], "sha256: expected 64 hex digits");
      }
      const std::string digest = absl::HexStringToBytes(hex);
      if (auto [it, added] = line_of_name.emplace(name, line); !added) {
        return TokensFileError(
            path, entry["name"],
            absl::StrCat("name ", Quote(name), " already used on line ", it->second));
      }
      if (auto [it, added] = line_of_digest.emplace(digest, line); !added) {
        return TokensFileError(path, entry["sha256"],
                               absl::StrCat("sha256 already listed on line ", it->second));
      }
      tokens->emplace(digest, name);
    }
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat(path, ":", e.mark.line + 1, ": ", e.msg));
  }
  return absl::OkStatus();
}

// ---- JWKS files.

absl::StatusOr<std::vector<Key>> LoadJwks(const JwtIssuer& issuer) {
  const std::string& path = issuer.jwks_file;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const Json jwks = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (jwks.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected {\"keys\": [...]}"));
  }
  std::vector<Key> keys;
  absl::flat_hash_set<std::string> kids;
  const Json& list = jwks["keys"];
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& jwk = list[i];
    auto error = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": keys[", i, "]: ", problem));
    };
    if (!jwk.is_object()) return error("expected a JWK object");
    auto text_field = [&](const char* name) -> const std::string* {
      auto it = jwk.find(name);
      return it != jwk.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
    };
    for (const char* name : {"kty", "kid", "alg", "use", "crv"}) {
      if (jwk.contains(name) && !text_field(name)) return error(absl::StrCat(name, ": not text"));
    }
    // An encryption key cannot verify a signature: it is not one of the issuer's.
    if (const std::string* use = text_field("use"); use != nullptr && *use != "sig") continue;
    const std::string* kty = text_field("kty");
    if (kty == nullptr) return error("kty missing");
    Key key;
    if (*kty == "RSA") {
      key.alg = kRs256;
    } else if (*kty == "EC") {
      const std::string* crv = text_field("crv");
      if (crv == nullptr || *crv != "P-256") return error("EC keys must be on curve P-256");
      key.alg = kEs256;
    } else if (*kty == "oct") {
      if (!issuer.allow_hs256) return error("an oct key needs allow_hs256 for this issuer");
      key.alg = kHs256;
    } else {
      return error(absl::StrCat("kty ", Quote(*kty), " not supported (RSA, EC, oct)"));
    }
    if (const std::string* alg = text_field("alg"); alg != nullptr && *alg != key.alg) {
      return error(absl::StrCat("alg ", Quote(*alg), " not supported for a ", *kty, " key (only ",
                                key.alg, ")"));
    }
    if (const std::string* kid = text_field("kid"); kid != nullptr) {
      if (!kids.insert(*kid).second) return error(absl::StrCat("kid ", Quote(*kid), " repeated"));
      key.kid = *kid;
    }
    const std::string json = jwk.dump();
    cjose_err err;
    key.jwk.reset(cjose_jwk_import(json.data(), json.size(), &err));
    if (key.jwk == nullptr) return error(absl::StrCat("not a valid JWK: ", err.message));
    const size_t bits = cjose_jwk_get_keysize(key.jwk.get(), &err);
    if (key.alg == kRs256 && bits < kMinRsaBits) {
      return error(absl::StrCat("RSA key of ", bits, " bits; at least ", kMinRsaBits, " needed"));
    }
    if (key.alg == kHs256 && bits < kMinOctBits) {
      return error(absl::StrCat("oct key of ", bits, " bits; at least ", kMinOctBits, " needed"));
    }
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no signing keys"));
  return keys;
}

// ---- JWT parts.

bool IsBase64Url(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

// The JSON object a base64url segment encodes, or a discarded value.
Json DecodeJsonObject(absl::string_view segment) {
  uint8_t* bytes = nullptr;
  size_t size = 0;
  cjose_err err;
  if (!cjose_base64url_decode(segment.data(), segment.size(), &bytes, &size, &err)) {
    return Json(Json::value_t::discarded);
  }
  Json json = Json::parse(bytes, bytes + size, nullptr, /*allow_exceptions=*/false,
                          /*ignore_comments=*/false);
  cjose_get_dealloc()(bytes);
  return json.is_object() ? json : Json(Json::value_t::discarded);
}

// A JWT NumericDate (seconds since the epoch, possibly fractional) as a time.
std::optional<absl::Time> NumericDate(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t seconds = value.get<uint64_t>();
    if (seconds > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InfiniteFuture();
    }
    return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  }
  if (value.is_number_integer()) return absl::FromUnixSeconds(value.get<int64_t>());
  if (value.is_number_float() && std::isfinite(value.get<double>())) {
    return absl::UnixEpoch() + absl::Seconds(value.get<double>());  // saturates when huge
  }
  return std::nullopt;
}

const std::string* TextClaim(const Json& claims, const char* name) {
  auto it = claims.find(name);
  return it != claims.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

// The claims Identity::claims derives; a token's own top-level claims of these names are left
// out, so a policy on them always sees the derivation identity.h describes.
constexpr const char* kNamespaceClaim = "kubernetes.namespace";
constexpr const char* kServiceAccountClaim = "kubernetes.serviceaccount";
constexpr const char* kBranchClaim = "branch";

std::map<std::string, std::string> IdentityClaims(const Json& payload, const std::string& sub) {
  std::map<std::string, std::string> claims;
  for (const auto& [name, value] : payload.items()) {
    if (name == kNamespaceClaim || name == kServiceAccountClaim || name == kBranchClaim) continue;
    if (value.is_string()) {
      claims[name] = value.get<std::string>();
    } else if (value.is_boolean()) {
      claims[name] = value.get<bool>() ? "true" : "false";
    } else if (value.is_number()) {
      claims[name] = value.dump();
    }
  }
  // Kubernetes: the kubernetes.io claim, else a sub of the form system:serviceaccount:NS:NAME.
  std::string ns, account;
  if (auto k8s = payload.find("kubernetes.io"); k8s != payload.end() && k8s->is_object()) {
    if (const std::string* n = TextClaim(*k8s, "namespace")) ns = *n;
    if (auto sa = k8s->find("serviceaccount"); sa != k8s->end() && sa->is_object()) {
      if (const std::string* n = TextClaim(*sa, "name")) account = *n;
    }
  }
  if ((ns.empty() || account.empty()) && absl::StartsWith(sub, "system:serviceaccount:")) {
    std::vector<std::string> parts = absl::StrSplit(sub, ':');
    if (parts.size() == 4 && !parts[2].empty() && !parts[3].empty()) {
      ns = parts[2];
      account = parts[3];
    }
  }
  if (!ns.empty() && !account.empty()) {
    claims[kNamespaceClaim] = ns;
    claims[kServiceAccountClaim] = account;
  }
  // CI: GitHub's ref is a full ref name (refs/heads/B for a branch, refs/tags/T, refs/pull/..);
  // GitLab's is the short name, a branch's when ref_type is "branch".
  if (const std::string* ref = TextClaim(payload, "ref")) {
    const std::string* ref_type = TextClaim(payload, "ref_type");
    if (absl::StartsWith(*ref, "refs/")) {
      if (absl::StartsWith(*ref, "refs/heads/") && ref->size() > 11) {
        claims[kBranchClaim] = ref->substr(11);
      }
    } else if (ref_type != nullptr && *ref_type == "branch" && !ref->empty()) {
      claims[kBranchClaim] = *ref;
    }
  }
  return claims;
}

}  // namespace

struct TokenVerifier::Issuer {
  JwtIssuer config;
  std::vector<Key> keys;
};

absl::StatusOr<std::unique_ptr<TokenVerifier>> TokenVerifier::Create(TokenVerifierOptions options) {
  if (!options.now) options.now = absl::Now;
  absl::flat_hash_map<std::string, std::string> tokens;
  if (!options.static_tokens_file.empty()) {
    absl::Status loaded = LoadStaticTokens(options.static_tokens_file, &tokens);
    if (!loaded.ok()) return loaded;
  }
  std::vector<std::unique_ptr<const Issuer>> issuers;
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < options.jwt_issuers.size(); ++i) {
    const JwtIssuer& config = options.jwt_issuers[i];
    auto error = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(absl::StrCat("jwt_issuers[", i, "]: ", problem));
    };
    if (config.issuer.empty()) return error("issuer missing");
    if (!names.insert(config.issuer).second) {
      return error(absl::StrCat("issuer ", Quote(config.issuer), " listed twice"));
    }
    if (config.audiences.empty()) return error("audiences missing");
    if (config.jwks_file.empty()) return error("jwks_file missing");
    if (config.leeway < absl::ZeroDuration()) return error("leeway negative");
    absl::StatusOr<std::vector<Key>> keys = LoadJwks(config);
    if (!keys.ok()) return keys.status();
    issuers.push_back(std::make_unique<const Issuer>(Issuer{config, *std::move(keys)}));
  }
  return std::unique_ptr<TokenVerifier>(
      new TokenVerifier(std::move(options), std::move(tokens), std::move(issuers)));
}

TokenVerifier::TokenVerifier(TokenVerifierOptions options,
                             absl::flat_hash_map<std::string, std::string> tokens,
                             std::vector<std::unique_ptr<const Issuer>> issuers)
    : options_(std::move(options)),
      static_tokens_(std::move(tokens)),
      issuers_(std::move(issuers)) {}

TokenVerifier::~TokenVerifier() = default;

bool TokenVerifier::empty() const { return static_tokens_.empty() && issuers_.empty(); }

absl::StatusOr<Identity> TokenVerifier::Verify(absl::string_view bearer_token) const {
  if (bearer_token.empty()) return Unauthenticated("empty token");
  if (bearer_token.size() > kMaxTokenBytes) return Unauthenticated("token too long");
  const std::string digest = Sha256(bearer_token);
  // Found by digest: a lookup's timing can tell only about digests the caller computed from
  // tokens it already holds, never about a listed token.
  if (auto it = static_tokens_.find(digest); it != static_tokens_.end()) {
    Identity identity;
    identity.kind = IdentityKind::kToken;
    identity.name = it->second;
    return identity;
  }
  const absl::Time now = options_.now();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = cache_.find(digest); it != cache_.end()) {
      if (now >= it->second.identity.expires + it->second.leeway) {
        cache_.erase(it);
        return Unauthenticated("token expired");
      }
      return it->second.identity;
    }
  }
  if (std::count(bearer_token.begin(), bearer_token.end(), '.') != 2) {
    return Unauthenticated("unknown token");
  }
  absl::StatusOr<CachedIdentity> verified = VerifyJwt(bearer_token);
  if (!verified.ok()) return verified.status();
  Remember(digest, *verified);
  return verified->identity;
}

absl::StatusOr<TokenVerifier::CachedIdentity> TokenVerifier::VerifyJwt(
    absl::string_view token) const {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts[0].empty() || parts[1].empty() ||
      !(IsBase64Url(parts[0]) && IsBase64Url(parts[1]) && IsBase64Url(parts[2]))) {
    return Unauthenticated("malformed token");
  }
  const Json header = DecodeJsonObject(parts[0]);
  if (header.is_discarded()) return Unauthenticated("malformed token header");
  const std::string* alg_text = TextClaim(header, "alg");
  if (alg_text == nullptr) return Unauthenticated("token header has no alg");
  const std::string& alg = *alg_text;
  if (alg == "none") return Unauthenticated("alg none not accepted");
  if (alg != kRs256 && alg != kEs256 && alg != kHs256) {
    return Unauthenticated(absl::StrCat("alg ", Quote(alg), " not accepted"));
  }
  // RFC 7515 4.1.11: a verifier must understand every extension listed in crit; we know none.
  if (header.contains("crit")) return Unauthenticated("crit header not supported");
  const Json payload = DecodeJsonObject(parts[1]);
  if (payload.is_discarded()) return Unauthenticated("malformed token payload");

  // The issuer is chosen by the unverified iss; only that issuer's keys may then verify it.
  const std::string* iss = TextClaim(payload, "iss");
  if (iss == nullptr) return Unauthenticated("token has no iss");
  const Issuer* issuer = nullptr;
  for (const auto& candidate : issuers_) {
    if (candidate->config.issuer == *iss) issuer = candidate.get();
  }
  if (issuer == nullptr)
    return Unauthenticated(absl::StrCat("issuer ", Quote(*iss), " not trusted"));
  if (alg == kHs256 && !issuer->config.allow_hs256) {
    return Unauthenticated(absl::StrCat("alg HS256 not accepted for issuer ", Quote(*iss)));
  }

  // Only keys whose type is the alg's family: an HS256 token never meets an RSA or EC key, so
  // a public key cannot serve as an HMAC secret.
  std::vector<const cjose_jwk_t*> keys;
  if (header.contains("kid")) {
    const std::string* kid = TextClaim(header, "kid");
    if (kid == nullptr) return Unauthenticated("malformed token header");
    const Key* key = nullptr;
    for (const Key& k : issuer->keys) {
      if (k.kid == *kid) key = &k;
    }
    if (key == nullptr) return Unauthenticated("unknown key id");
    if (key->alg != alg) return Unauthenticated(absl::StrCat("key is not for alg ", alg));
    keys.push_back(key->jwk.get());
  } else {
    for (const Key& k : issuer->keys) {
      if (k.alg == alg) keys.push_back(k.jwk.get());
    }
    if (keys.empty()) return Unauthenticated(absl::StrCat("issuer has no key for alg ", alg));
  }

  cjose_err err;
  std::unique_ptr<cjose_jws_t, JwsDeleter> jws(cjose_jws_import(token.data(), token.size(), &err));
  if (jws == nullptr) return Unauthenticated("malformed token");
  // cjose verifies with the alg its own JSON parser read: it must be the one checked above.
  const char* cjose_alg = cjose_header_get(cjose_jws_get_protected(jws.get()), CJOSE_HDR_ALG, &err);
  if (cjose_alg == nullptr || alg != cjose_alg) return Unauthenticated("malformed token header");
  bool verified = false;
  for (const cjose_jwk_t* key : keys) {
    if (cjose_jws_verify(jws.get(), key, &err)) {
      verified = true;
      break;
    }
  }
  if (!verified) return Unauthenticated("signature does not verify");

  // The claims, now that the issuer vouches for them.
  const absl::Time now = options_.now();
  const absl::Duration leeway = issuer->config.leeway;
  auto exp_it = payload.find("exp");
  if (exp_it == payload.end()) return Unauthenticated("token has no exp");
  const std::optional<absl::Time> exp = NumericDate(*exp_it);
  if (!exp.has_value()) return Unauthenticated("token exp is not a number");
  if (now >= *exp + leeway) return Unauthenticated("token expired");
  for (const char* name : {"nbf", "iat"}) {
    auto it = payload.find(name);
    if (it == payload.end()) continue;
    const std::optional<absl::Time> t = NumericDate(*it);
    if (!t.has_value()) return Unauthenticated(absl::StrCat("token ", name, " is not a number"));
    if (*t - leeway > now) {
      return Unauthenticated(std::string(name) == "nbf" ? "token not yet valid"
                                                        : "token issued in the future");
    }
  }
  std::vector<std::string> audiences;
  if (auto aud = payload.find("aud"); aud != payload.end()) {
    if (aud->is_string()) audiences.push_back(aud->get<std::string>());
    if (aud->is_array()) {
      for (const Json& a : *aud) {
        if (!a.is_string()) return Unauthenticated("token aud is not text");
        audiences.push_back(a.get<std::string>());
      }
    }
  }
  bool accepted = false;
  for (const std::string& a : audiences) {
    for (const std::string& wanted : issuer->config.audiences) accepted = accepted || a == wanted;
  }
  if (!accepted) return Unauthenticated("audience not accepted");
  const std::string* sub = TextClaim(payload, "sub");
  if (sub == nullptr || sub->empty()) return Unauthenticated("token has no sub");

  CachedIdentity entry;
  entry.leeway = leeway;
  Identity& identity = entry.identity;
  identity.kind = IdentityKind::kJwt;
  identity.name = *sub;
  identity.issuer = *iss;
  identity.audiences = std::move(audiences);
  identity.claims = IdentityClaims(payload, *sub);
  identity.expires = *exp;
  return entry;
}

void TokenVerifier::Remember(const std::string& digest, const CachedIdentity& entry) const {
  if (options_.max_cached_tokens == 0) return;
  const absl::Time now = options_.now();
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= options_.max_cached_tokens) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      auto here = it++;
      if (now >= here->second.identity.expires + here->second.leeway) cache_.erase(here);
    }
    // Still full of live tokens: start over rather than scan again on every insert; each
    // forgotten token costs one more signature check.
    if (cache_.size() >= options_.max_cached_tokens) cache_.clear();
  }
  cache_.insert_or_assign(digest, entry);
}

}  // namespace confcenter::auth
