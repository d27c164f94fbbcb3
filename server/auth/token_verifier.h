// Bearer tokens to identities: static tokens from a file (kept as SHA-256 digests only) and
// JWTs from trusted issuers, each verified against that issuer's JWKS file.
#ifndef CONFCENTER_SERVER_AUTH_TOKEN_VERIFIER_H_
#define CONFCENTER_SERVER_AUTH_TOKEN_VERIFIER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/auth/identity.h"

namespace confcenter::auth {

// One trusted JWT issuer.
struct JwtIssuer {
  // The exact `iss` claim accepted. Required; unique among the issuers.
  std::string issuer;
  // A token's `aud` must contain at least one of these. Required non-empty.
  std::vector<std::string> audiences;
  // A JWKS file ({"keys": [...]}) with the issuer's RSA (2048 bits or more) and EC P-256 keys,
  // and its oct (HMAC) keys only if allow_hs256 is set. Required.
  std::string jwks_file;
  // HS256 tokens are accepted only when set, and only verified with oct keys. Default off.
  bool allow_hs256 = false;
  // The clock skew allowed on `exp`, `nbf` and `iat`. Default 60 s; never negative.
  absl::Duration leeway = absl::Seconds(60);
};

struct TokenVerifierOptions {
  // A YAML file listing static tokens by name and SHA-256 (see Create). Empty (the default):
  // no static tokens.
  std::string static_tokens_file;
  // The trusted JWT issuers. Default none.
  std::vector<JwtIssuer> jwt_issuers;
  // The current time; tests inject theirs. Default absl::Now (also used if left empty).
  std::function<absl::Time()> now = absl::Now;
  // At most this many verified JWTs are remembered; 0 disables the cache. Default 10000.
  size_t max_cached_tokens = 10000;
};

// Thread-safe. The configuration is fixed at Create; to reload, build a new verifier and swap.
class TokenVerifier {
 public:
  // Tokens longer than this are refused unread.
  static constexpr size_t kMaxTokenBytes = 16 * 1024;

  // Reads the static tokens file and every issuer's JWKS file. The tokens file is
  //   tokens:
  //     - name: ops-alice      # the identity's name (kind token)
  //       sha256: <64 hex>     # SHA-256 of the token text; the token itself is never stored
  // Returns INVALID_ARGUMENT, its message starting with the file (and line, or the key's
  // index), for an unreadable or malformed file, a missing or unknown field, bad hex, a
  // duplicate name, digest or kid, an unsupported key; and for an issuer without issuer,
  // audiences or jwks_file, a duplicate issuer or a negative leeway. Never returns null.
  static absl::StatusOr<std::unique_ptr<TokenVerifier>> Create(TokenVerifierOptions options);

  ~TokenVerifier();
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

  // The identity `bearer_token` (the text after "Bearer ") proves: kind kToken for a listed
  // static token, kJwt for a JWT a trusted issuer signed that is valid now. Otherwise
  // UNAUTHENTICATED with a short reason that never contains the token, e.g. "unknown token",
  // "token expired", "issuer \"x\" not trusted", "audience not accepted", "signature does not
  // verify", "alg none not accepted", "alg HS256 not accepted for issuer \"x\"".
  // A verified JWT is remembered (by its digest) until it expires, so repeated calls skip the
  // signature check; its expiry is still checked against now() on every call.
  absl::StatusOr<Identity> Verify(absl::string_view bearer_token) const;

  // True if there are no static tokens and no issuers: every token is refused.
  bool empty() const;

 private:
  struct Issuer;  // one JwtIssuer with its imported keys (token_verifier.cc)
  struct CachedIdentity {
    Identity identity;
    absl::Duration leeway;  // the issuer's, applied to identity.expires
  };

  TokenVerifier(TokenVerifierOptions options, absl::flat_hash_map<std::string, std::string> tokens,
                std::vector<std::unique_ptr<const Issuer>> issuers);
  absl::StatusOr<CachedIdentity> VerifyJwt(absl::string_view token) const;
  void Remember(const std::string& digest, const CachedIdentity& entry) const;

  // Const after construction.
  const TokenVerifierOptions options_;
  // Static token names by the SHA-256 digest (32 raw bytes) of the token.
  const absl::flat_hash_map<std::string, std::string> static_tokens_;
  const std::vector<std::unique_ptr<const Issuer>> issuers_;

  mutable absl::Mutex mu_;
  // Verified JWTs by the SHA-256 digest of the token; at most options_.max_cached_tokens.
  mutable absl::flat_hash_map<std::string, CachedIdentity> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace confcenter::auth

#endif  // CONFCENTER_SERVER_AUTH_TOKEN_VERIFIER_H_
