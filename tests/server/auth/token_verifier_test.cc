#include "server/auth/token_verifier.h"

#include <atomic>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"

namespace confcenter::auth {
namespace {

using ::confcenter::testing::ConfusionSecret;
using ::confcenter::testing::TestKey;
using Json = nlohmann::json;

constexpr char kHsIssuer[] = "https://hs.example.com";
constexpr char kOpsToken[] = "cc_static_7Qx2P9vLm4Rk8Ws3Zt6Yb1Nd5Hf0Jg";

// Keys are made once: RSA generation is the slow part of these tests.
struct Keys {
  TestKey k8s_rsa = TestKey::Rsa("k8s-rsa");
  TestKey k8s_ec = TestKey::Ec("k8s-ec");
  TestKey gitlab = TestKey::Rsa("gitlab-1");
  TestKey github = TestKey::Rsa("github-1");
  TestKey hs_oct = TestKey::Oct("hs-oct");
  TestKey hs_rsa = TestKey::Rsa("hs-rsa");
};
const Keys& keys() {
  static const Keys* keys = new Keys();
  return *keys;
}

class TokenVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteJwks(Path("k8s.json"), {keys().k8s_rsa, keys().k8s_ec});
    testing::WriteJwks(Path("gitlab.json"), {keys().gitlab});
    testing::WriteJwks(Path("github.json"), {keys().github});
    // An issuer that allows HS256 and also has an RSA key: the key confusion target.
    testing::WriteJwks(Path("hs.json"), {keys().hs_oct, keys().hs_rsa});
    testing::WriteStaticTokensFile(Path("tokens.yaml"), {{"ops-alice", kOpsToken}});
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  TokenVerifierOptions Options() {
    TokenVerifierOptions options;
    options.static_tokens_file = Path("tokens.yaml");
    options.jwt_issuers = {
        {testing::kKubernetesIssuer, {testing::kAudience}, Path("k8s.json")},
        {testing::kGitLabIssuer, {testing::kAudience}, Path("gitlab.json")},
        {testing::kGitHubIssuer, {"other", testing::kAudience}, Path("github.json")},
        {kHsIssuer, {testing::kAudience}, Path("hs.json"), /*allow_hs256=*/true},
    };
    options.now = [this] { return now_; };
    return options;
  }

  std::unique_ptr<TokenVerifier> Make(TokenVerifierOptions options) {
    absl::StatusOr<std::unique_ptr<TokenVerifier>> verifier =
        TokenVerifier::Create(std::move(options));
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return verifier.ok() ? *std::move(verifier) : nullptr;
  }
  std::unique_ptr<TokenVerifier> Make() { return Make(Options()); }

  // The status Create returns for `options`.
  absl::Status CreateError(TokenVerifierOptions options) {
    return TokenVerifier::Create(std::move(options)).status();
  }

  testing::TempDir dir_;
  absl::Time now_ = absl::FromUnixSeconds(1'750'000'000);
};

TEST_F(TokenVerifierTest, KubernetesServiceAccountTokenNamesItsNamespaceAndServiceAccount) {
  auto verifier = Make();
  const std::string token =
      testing::SignJwt(keys().k8s_rsa, {}, testing::KubernetesClaims("feat-x", "orders", now_));
  absl::StatusOr<Identity> id = verifier->Verify(token);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->kind, IdentityKind::kJwt);
  EXPECT_EQ(id->name, "system:serviceaccount:feat-x:orders");
  EXPECT_EQ(DescribeIdentity(*id), "jwt:system:serviceaccount:feat-x:orders");
  EXPECT_EQ(id->issuer, testing::kKubernetesIssuer);
  EXPECT_EQ(id->audiences, std::vector<std::string>{"confcenter"});
  EXPECT_EQ(id->claims.at("kubernetes.namespace"), "feat-x");
  EXPECT_EQ(id->claims.at("kubernetes.serviceaccount"), "orders");
  EXPECT_EQ(id->claims.at("sub"), "system:serviceaccount:feat-x:orders");
  EXPECT_EQ(id->claims.at("exp"), absl::StrCat(absl::ToUnixSeconds(now_ + absl::Minutes(10))));
  EXPECT_EQ(id->claims.count("kubernetes.io"), 0u);  // an object, not a scalar
  EXPECT_EQ(id->claims.count("branch"), 0u);
  EXPECT_EQ(id->expires, now_ + absl::Minutes(10));
}

TEST_F(TokenVerifierTest, KubernetesNamespaceComesFromSubWhenTheClaimIsAbsent) {
  auto verifier = Make();
  Json claims = testing::KubernetesClaims("feat-y", "billing", now_);
  claims.erase("kubernetes.io");
  absl::StatusOr<Identity> id = verifier->Verify(testing::SignJwt(keys().k8s_rsa, {}, claims));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->claims.at("kubernetes.namespace"), "feat-y");
  EXPECT_EQ(id->claims.at("kubernetes.serviceaccount"), "billing");
}

TEST_F(TokenVerifierTest, Es256TokenVerifiesWithTheIssuersEcKey) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(
      testing::SignJwt(keys().k8s_ec, {}, testing::KubernetesClaims("feat-x", "orders", now_)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->claims.at("kubernetes.namespace"), "feat-x");
}

TEST_F(TokenVerifierTest, TokenWithoutKidVerifiesWithAKeyOfItsAlgFamily) {
  auto verifier = Make();
  for (const TestKey* key : {&keys().k8s_rsa, &keys().k8s_ec}) {
    absl::StatusOr<Identity> id = verifier->Verify(testing::SignJwt(
        *key, {{"kid", nullptr}}, testing::KubernetesClaims("feat-x", "orders", now_)));
    EXPECT_TRUE(id.ok()) << key->alg() << ": " << id.status();
  }
}

TEST_F(TokenVerifierTest, GitLabBranchPipelineTokenNamesItsBranchAndProject) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(
      testing::SignJwt(keys().gitlab, {{"typ", "JWT"}},
                       testing::GitLabClaims("team/shop", "feat/x", "branch", now_)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "project_path:team/shop:ref_type:branch:ref:feat/x");
  EXPECT_EQ(id->issuer, testing::kGitLabIssuer);
  EXPECT_EQ(id->audiences, std::vector<std::string>{"confcenter"});  // aud sent as a string
  EXPECT_EQ(id->claims.at("branch"), "feat/x");
  EXPECT_EQ(id->claims.at("project_path"), "team/shop");
  EXPECT_EQ(id->claims.at("namespace_path"), "team");
  EXPECT_EQ(id->claims.at("ref_protected"), "false");
  EXPECT_EQ(id->claims.at("runner_id"), "1");  // a number, as decimal text
  EXPECT_EQ(id->claims.count("kubernetes.namespace"), 0u);
}

TEST_F(TokenVerifierTest, GitLabTagPipelineTokenHasNoBranch) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(testing::SignJwt(
      keys().gitlab, {}, testing::GitLabClaims("team/shop", "v1.2.0", "tag", now_)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->claims.count("branch"), 0u);
  EXPECT_EQ(id->claims.at("ref"), "v1.2.0");
}

TEST_F(TokenVerifierTest, GitHubActionsTokenNamesItsBranchWithoutRefsHeads) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(testing::SignJwt(
      keys().github, {}, testing::GitHubClaims("org/shop", "refs/heads/feat/x", now_)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "repo:org/shop:ref:refs/heads/feat/x");
  EXPECT_EQ(id->issuer, testing::kGitHubIssuer);
  EXPECT_EQ(id->claims.at("branch"), "feat/x");
  EXPECT_EQ(id->claims.at("repository"), "org/shop");
  EXPECT_EQ(id->claims.at("ref"), "refs/heads/feat/x");
}

TEST_F(TokenVerifierTest, GitHubTagTokenHasNoBranch) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(
      testing::SignJwt(keys().github, {}, testing::GitHubClaims("org/shop", "refs/tags/v1", now_)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->claims.count("branch"), 0u);
}

TEST_F(TokenVerifierTest, TokensOwnDerivedClaimNamesAreIgnored) {
  auto verifier = Make();
  Json claims = testing::GitHubClaims("org/shop", "refs/tags/v1", now_);
  claims["branch"] = "main";
  claims["kubernetes.namespace"] = "prod";
  absl::StatusOr<Identity> id = verifier->Verify(testing::SignJwt(keys().github, {}, claims));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->claims.count("branch"), 0u);
  EXPECT_EQ(id->claims.count("kubernetes.namespace"), 0u);
}

TEST_F(TokenVerifierTest, Hs256AcceptedFromAnIssuerThatAllowsItWithAnOctKey) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(
      testing::SignJwt(keys().hs_oct, {}, testing::StandardClaims(kHsIssuer, "job-7", now_)));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "job-7");
}

// Every forged, stale or foreign token is refused with a reason that does not echo it.
TEST_F(TokenVerifierTest, AttacksAndBadTokensAreRefusedWithAReasonNotContainingTheToken) {
  auto verifier = Make();
  const Json k8s = testing::KubernetesClaims("feat-x", "orders", now_);
  const Json hs = testing::StandardClaims(kHsIssuer, "job-7", now_);
  const std::string valid = testing::SignJwt(keys().k8s_rsa, {}, k8s);
  Json escalated = k8s;
  escalated["sub"] = "system:serviceaccount:kube-system:admin";
  Json no_exp = k8s;
  no_exp.erase("exp");
  Json no_sub = k8s;
  no_sub.erase("sub");
  Json iat_future = k8s;
  iat_future["iat"] = absl::ToUnixSeconds(now_ + absl::Hours(1));
  Json no_aud = k8s;
  no_aud.erase("aud");
  struct Case {
    std::string what;
    std::string token;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"alg none", testing::AlgNoneJwt(k8s), "alg none not accepted"},
      {"tampered payload", testing::TamperedJwt(valid, escalated), "signature does not verify"},
      {"key confusion, JWK as HMAC secret",
       testing::KeyConfusionJwt(keys().k8s_rsa, k8s, ConfusionSecret::kJwkJson),
       "alg HS256 not accepted for issuer"},
      {"key confusion, PEM as HMAC secret, HS256 allowed",
       testing::KeyConfusionJwt(keys().hs_rsa, hs, ConfusionSecret::kPem),
       "key is not for alg HS256"},
      {"key confusion, JWK as HMAC secret, HS256 allowed",
       testing::KeyConfusionJwt(keys().hs_rsa, hs, ConfusionSecret::kJwkJson),
       "key is not for alg HS256"},
      {"key confusion without kid, HS256 allowed",
       testing::KeyConfusionJwt(keys().hs_rsa, hs, ConfusionSecret::kPem, /*with_kid=*/false),
       "signature does not verify"},
      {"expired", testing::ExpiredJwt(keys().k8s_rsa, k8s, now_), "token expired"},
      {"not yet valid", testing::NotYetValidJwt(keys().k8s_rsa, k8s, now_), "token not yet valid"},
      {"issued in the future", testing::SignJwt(keys().k8s_rsa, {}, iat_future),
       "token issued in the future"},
      {"wrong issuer", testing::WrongIssuerJwt(keys().k8s_rsa, k8s),
       "issuer \"https://evil.example.com\" not trusted"},
      {"wrong audience", testing::WrongAudienceJwt(keys().k8s_rsa, k8s), "audience not accepted"},
      {"no audience", testing::SignJwt(keys().k8s_rsa, {}, no_aud), "audience not accepted"},
      {"unknown kid", testing::SignJwt(keys().k8s_rsa, {{"kid", "rotated-away"}}, k8s),
       "unknown key id"},
      {"another issuer's key by its kid", testing::SignJwt(keys().gitlab, {}, k8s),
       "unknown key id"},
      {"another issuer's key without kid", testing::SignJwt(keys().gitlab, {{"kid", nullptr}}, k8s),
       "signature does not verify"},
      {"HS256 not allowed", testing::SignJwt(keys().hs_oct, {}, k8s),
       "alg HS256 not accepted for issuer"},
      {"RS512", testing::SignJwt(keys().k8s_rsa, {{"alg", "RS512"}}, k8s),
       "alg \"RS512\" not accepted"},
      {"no exp", testing::SignJwt(keys().k8s_rsa, {}, no_exp), "token has no exp"},
      {"no sub", testing::SignJwt(keys().k8s_rsa, {}, no_sub), "token has no sub"},
      {"crit header", testing::SignJwt(keys().k8s_rsa, {{"crit", {"exp"}}}, k8s),
       "crit header not supported"},
      {"signature cut off", valid.substr(0, valid.rfind('.') + 1), "signature does not verify"},
      {"garbage", "not a token at all", "unknown token"},
      {"garbage JWT shape", "aaaa.bbbb.cccc", "malformed token header"},
      {"not base64url", "eyJ!.eyJ.sig", "malformed token"},
      {"four segments", valid + ".x", "unknown token"},
      {"empty", "", "empty token"},
      {"too long", std::string(TokenVerifier::kMaxTokenBytes + 1, 'a'), "token too long"},
      {"static token with a suffix", std::string(kOpsToken) + "x", "unknown token"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Identity> id = verifier->Verify(c.token);
    ASSERT_FALSE(id.ok()) << c.what << ": accepted as " << DescribeIdentity(*id);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated) << c.what;
    EXPECT_TRUE(absl::StrContains(id.status().message(), c.reason))
        << c.what << ": " << id.status();
    if (c.token.size() >= 8) {
      EXPECT_FALSE(absl::StrContains(id.status().message(), c.token)) << c.what;
      const std::string signature = c.token.substr(c.token.rfind('.') + 1);
      if (signature.size() >= 8) {
        EXPECT_FALSE(absl::StrContains(id.status().message(), signature)) << c.what;
      }
    }
  }
}

TEST_F(TokenVerifierTest, LeewayAllowsClockSkewOnExpNbfAndIatButNoMore) {
  TokenVerifierOptions options = Options();
  options.jwt_issuers[0].leeway = absl::Seconds(60);
  auto verifier = Make(std::move(options));
  auto sign_at = [&](absl::Duration exp, absl::Duration nbf, absl::Duration iat) {
    Json claims = testing::KubernetesClaims("feat-x", "orders", now_);
    claims["exp"] = absl::ToUnixSeconds(now_ + exp);
    claims["nbf"] = absl::ToUnixSeconds(now_ + nbf);
    claims["iat"] = absl::ToUnixSeconds(now_ + iat);
    return testing::SignJwt(keys().k8s_rsa, {}, claims);
  };
  const absl::Duration zero = absl::ZeroDuration();
  EXPECT_TRUE(verifier->Verify(sign_at(absl::Seconds(-59), absl::Minutes(-5), zero)).ok());
  EXPECT_FALSE(verifier->Verify(sign_at(absl::Seconds(-60), absl::Minutes(-5), zero)).ok());
  EXPECT_TRUE(verifier->Verify(sign_at(absl::Minutes(5), absl::Seconds(60), zero)).ok());
  EXPECT_FALSE(verifier->Verify(sign_at(absl::Minutes(5), absl::Seconds(61), zero)).ok());
  EXPECT_TRUE(verifier->Verify(sign_at(absl::Minutes(5), zero, absl::Seconds(60))).ok());
  EXPECT_FALSE(verifier->Verify(sign_at(absl::Minutes(5), zero, absl::Seconds(61))).ok());
}

TEST_F(TokenVerifierTest, CachedTokenIsRefusedOnceTheClockPassesItsExpiry) {
  auto verifier = Make();
  const std::string token = testing::SignJwt(
      keys().k8s_rsa, {}, testing::KubernetesClaims("feat-x", "orders", now_, absl::Minutes(10)));
  absl::StatusOr<Identity> first = verifier->Verify(token);
  ASSERT_TRUE(first.ok()) << first.status();
  now_ += absl::Minutes(10);  // at exp, still within the 60 s leeway: served from the cache
  absl::StatusOr<Identity> again = verifier->Verify(token);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(DescribeIdentity(*again), DescribeIdentity(*first));
  EXPECT_EQ(again->claims, first->claims);
  EXPECT_EQ(again->expires, first->expires);
  now_ += absl::Seconds(60);
  absl::StatusOr<Identity> late = verifier->Verify(token);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(late.status().message(), "token expired");
  EXPECT_EQ(verifier->Verify(token).status().message(), "token expired");  // and stays refused
}

TEST_F(TokenVerifierTest, FullCacheKeepsVerifyingEveryToken) {
  TokenVerifierOptions options = Options();
  options.max_cached_tokens = 2;
  auto verifier = Make(std::move(options));
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    tokens.push_back(testing::SignJwt(
        keys().k8s_rsa, {}, testing::KubernetesClaims("feat-x", absl::StrCat("svc", i), now_)));
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<Identity> id = verifier->Verify(tokens[i]);
      ASSERT_TRUE(id.ok()) << id.status();
      EXPECT_EQ(id->claims.at("kubernetes.serviceaccount"), absl::StrCat("svc", i));
    }
  }
}

TEST_F(TokenVerifierTest, ConcurrentCallersSharingASmallCacheAllGetTheirIdentity) {
  TokenVerifierOptions options = Options();
  options.max_cached_tokens = 2;  // every call races inserts, hits and evictions
  auto verifier = Make(std::move(options));
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) {
    tokens.push_back(testing::SignJwt(
        keys().k8s_ec, {}, testing::KubernetesClaims("feat-x", absl::StrCat("svc", i), now_)));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 30; ++n) {
        const int i = (t + n) % 3;
        absl::StatusOr<Identity> id = verifier->Verify(tokens[i]);
        if (!id.ok() || id->claims.at("kubernetes.serviceaccount") != absl::StrCat("svc", i)) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(TokenVerifierTest, NoCacheStillVerifies) {
  TokenVerifierOptions options = Options();
  options.max_cached_tokens = 0;
  auto verifier = Make(std::move(options));
  const std::string token =
      testing::SignJwt(keys().k8s_rsa, {}, testing::KubernetesClaims("feat-x", "orders", now_));
  EXPECT_TRUE(verifier->Verify(token).ok());
  EXPECT_TRUE(verifier->Verify(token).ok());
}

TEST_F(TokenVerifierTest, StaticTokenIsAcceptedAndNeverExpires) {
  auto verifier = Make();
  absl::StatusOr<Identity> id = verifier->Verify(kOpsToken);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->kind, IdentityKind::kToken);
  EXPECT_EQ(DescribeIdentity(*id), "token:ops-alice");
  EXPECT_EQ(id->expires, absl::InfiniteFuture());
  EXPECT_TRUE(id->claims.empty());
  now_ += absl::Hours(24 * 3650);
  EXPECT_TRUE(verifier->Verify(kOpsToken).ok());
  absl::StatusOr<Identity> unknown = verifier->Verify("cc_static_somebody_elses_token");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.status().message(), "unknown token");
}

TEST_F(TokenVerifierTest, TheTokensFileHoldsOnlyDigests) {
  EXPECT_TRUE(absl::StrContains(
      [&] {
        std::ifstream in(Path("tokens.yaml"));
        return std::string(std::istreambuf_iterator<char>(in), {});
      }(),
      testing::Sha256Hex(kOpsToken)));
}

TEST_F(TokenVerifierTest, EmptyOnlyWithoutTokensAndIssuers) {
  EXPECT_TRUE(Make(TokenVerifierOptions())->empty());
  EXPECT_EQ(Make(TokenVerifierOptions())->Verify(kOpsToken).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(Make()->empty());
  TokenVerifierOptions tokens_only;
  tokens_only.static_tokens_file = Path("tokens.yaml");
  EXPECT_FALSE(Make(std::move(tokens_only))->empty());
}

TEST_F(TokenVerifierTest, BadStaticTokensFilesAreRefusedNamingFileAndLine) {
  const std::string hash = testing::Sha256Hex("a");
  const std::string other = testing::Sha256Hex("b");
  struct Case {
    std::string yaml;
    std::string error;  // after "FILE"
  };
  const std::vector<Case> cases = {
      {"tokens:\n  - name: a\n    sha256: " + hash + "\n  - name: b\n    sha256: xyz\n",
       ":5: sha256: expected 64 hex digits"},
      {"tokens:\n  - name: a\n    sha256: " + hash +
           "\n  - name: b\n    sha256: " + hash.substr(0, 63) + "g\n",
       ":5: sha256: expected 64 hex digits"},
      {"tokens:\n  - name: a\n    sha256: " + hash + "\n  - name: a\n    sha256: " + other + "\n",
       ":4: name \"a\" already used on line 2"},
      {"tokens:\n  - name: a\n    sha256: " + hash + "\n  - name: b\n    sha256: " + hash + "\n",
       ":5: sha256 already listed on line 2"},
      {"tokens:\n  - name: a\n", ":2: sha256 missing"},
      {"tokens:\n  - sha256: " + hash + "\n", ":2: name missing"},
      {"tokens:\n  - name: a\n    sha265: " + hash + "\n", ":3: unknown field \"sha265\""},
      {"tokens:\n  - name: a b\n    sha256: " + hash + "\n", ":2: name \"a b\": expected"},
      {"token:\n  - name: a\n", ":1: unknown field \"token\""},
      {"tokens: [\n", ":2:"},
      {"- a\n- b\n", ":1: expected a map with a tokens list"},
      {"tokens:\n  - just-a-string\n", ":2: expected a map with name and sha256"},
  };
  for (const Case& c : cases) {
    testing::WriteFile(Path("bad.yaml"), c.yaml);
    TokenVerifierOptions options;
    options.static_tokens_file = Path("bad.yaml");
    absl::Status status = CreateError(std::move(options));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_TRUE(absl::StartsWith(status.message(), Path("bad.yaml") + c.error)) << c.yaml << "\n"
                                                                                << status;
  }
  TokenVerifierOptions missing;
  missing.static_tokens_file = Path("missing.yaml");
  EXPECT_TRUE(absl::StartsWith(CreateError(std::move(missing)).message(),
                               Path("missing.yaml") + ": cannot read"));
}

TEST_F(TokenVerifierTest, BadJwksFilesAndIssuersAreRefusedNamingFileAndKey) {
  const Json rsa = keys().k8s_rsa.PublicJwk();
  Json p384 = keys().k8s_ec.PublicJwk();
  p384["crv"] = "P-384";
  Json rs384 = rsa;
  rs384["alg"] = "RS384";
  struct Case {
    std::string jwks;
    std::string error;  // after "FILE"
  };
  const std::vector<Case> cases = {
      {"{", ": not JSON"},
      {"[]", ": expected {\"keys\": [...]}"},
      {R"({"keys": []})", ": no signing keys"},
      {Json{{"keys", {rsa, keys().hs_oct.PublicJwk()}}}.dump(),
       ": keys[1]: an oct key needs allow_hs256"},
      {Json{{"keys", {rsa, p384}}}.dump(), ": keys[1]: EC keys must be on curve P-256"},
      {Json{{"keys", {rsa, rsa}}}.dump(), ": keys[1]: kid \"k8s-rsa\" repeated"},
      {Json{{"keys", {rs384}}}.dump(), ": keys[0]: alg \"RS384\" not supported"},
      {Json{{"keys", {{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "abc"}}}}}.dump(),
       ": keys[0]: kty \"OKP\" not supported"},
      {Json{{"keys", {{{"kty", "RSA"}, {"n", "AQAB"}}}}}.dump(), ": keys[0]: not a valid JWK"},
  };
  for (const Case& c : cases) {
    testing::WriteFile(Path("bad.json"), c.jwks);
    TokenVerifierOptions options;
    options.jwt_issuers = {{testing::kKubernetesIssuer, {testing::kAudience}, Path("bad.json")}};
    absl::Status status = CreateError(std::move(options));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.jwks;
    EXPECT_TRUE(absl::StartsWith(status.message(), Path("bad.json") + c.error)) << c.jwks << "\n"
                                                                                << status;
  }

  TokenVerifierOptions options = Options();
  options.jwt_issuers[1].audiences.clear();
  EXPECT_EQ(CreateError(options).message(), "jwt_issuers[1]: audiences missing");
  options = Options();
  options.jwt_issuers[2].issuer = testing::kKubernetesIssuer;
  EXPECT_TRUE(absl::StartsWith(CreateError(options).message(), "jwt_issuers[2]: issuer"));
  options = Options();
  options.jwt_issuers[0].leeway = absl::Seconds(-1);
  EXPECT_EQ(CreateError(options).message(), "jwt_issuers[0]: leeway negative");
  options = Options();
  options.jwt_issuers[0].jwks_file = Path("missing.json");
  EXPECT_TRUE(
      absl::StartsWith(CreateError(options).message(), Path("missing.json") + ": cannot read"));
}

}  // namespace
}  // namespace confcenter::auth
