// Bearer tokens and static tokens files (server/auth/token_verifier.h). One verifier is built
// at startup from fresh RSA, EC and oct keys (JWKS files in a temp dir), a fixed clock and a
// static tokens file. Each input is tried
//   1. as a bearer token;
//   2. as a JWT whose header and payload JSON are the input's first line and the rest, with a
//      signature of garbage: reaches the header and claims parsing before the signature check;
//   3. as the payload of a JWT the trusted HS256 issuer signed: reaches the claims checks;
//   4. as a static tokens file given to Create.
// Properties: nothing crashes; Verify answers OK or UNAUTHENTICATED whose reason does not
// contain the token; only the listed static token and validly signed claims are accepted, and
// an accepted JWT names its issuer, a subject, and expires after now minus the leeway; Create
// answers OK or INVALID_ARGUMENT starting with the file's path.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/auth/token_verifier.h"
#include "tests/auth_keys.h"
#include "tests/fuzz/fuzz_check.h"

namespace confcenter {
namespace {

constexpr char kStaticToken[] = "fuzz-static-token-0123456789";
constexpr char kHsIssuer[] = "https://hs.example.com";
const absl::Time kNow = absl::FromUnixSeconds(1'750'000'000);
const absl::Duration kLeeway = absl::Seconds(60);

struct Setup {
  std::string dir;
  std::unique_ptr<testing::TestKey> hs_key;
  std::unique_ptr<auth::TokenVerifier> verifier;
};

const Setup& Once() {
  static const Setup* setup = [] {
    auto* s = new Setup;
    const char* tmp = std::getenv("TMPDIR");
    std::string dir =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/token_fuzz.XXXXXX");
    FUZZ_CHECK(mkdtemp(dir.data()) != nullptr, "mkdtemp " + dir);
    s->dir = dir;
    s->hs_key = std::make_unique<testing::TestKey>(testing::TestKey::Oct("hs-1"));
    testing::WriteJwks(dir + "/k8s.json",
                       {testing::TestKey::Rsa("rsa-1"), testing::TestKey::Ec("ec-1")});
    testing::WriteJwks(dir + "/hs.json", {*s->hs_key, testing::TestKey::Rsa("hs-rsa")});
    testing::WriteStaticTokensFile(dir + "/tokens.yaml", {{"fuzz-ops", kStaticToken}});
    auth::TokenVerifierOptions options;
    options.static_tokens_file = dir + "/tokens.yaml";
    options.jwt_issuers = {
        {testing::kKubernetesIssuer, {testing::kAudience}, dir + "/k8s.json", false, kLeeway},
        {kHsIssuer, {testing::kAudience, "other"}, dir + "/hs.json", true, kLeeway}};
    options.now = [] { return kNow; };
    options.max_cached_tokens = 64;  // small, so eviction runs too
    absl::StatusOr<std::unique_ptr<auth::TokenVerifier>> verifier =
        auth::TokenVerifier::Create(std::move(options));
    FUZZ_CHECK(verifier.ok(), verifier.status().ToString());
    s->verifier = *std::move(verifier);
    std::atexit([] {
      const std::string& d = Once().dir;
      for (const char* f : {"/k8s.json", "/hs.json", "/tokens.yaml", "/input.yaml"}) {
        unlink((d + f).c_str());
      }
      rmdir(d.c_str());
    });
    return s;
  }();
  return *setup;
}

// Verifies `token` and checks the properties; `signed_by_us` says the token is ours to accept.
void CheckVerify(absl::string_view token, bool signed_by_us) {
  absl::StatusOr<auth::Identity> id = Once().verifier->Verify(token);
  if (!id.ok()) {
    FUZZ_CHECK(id.status().code() == absl::StatusCode::kUnauthenticated, id.status().ToString());
    FUZZ_CHECK(token.size() < 8 || !absl::StrContains(id.status().message(), token),
               id.status().ToString());
    return;
  }
  if (id->kind == auth::IdentityKind::kToken) {
    FUZZ_CHECK(token == kStaticToken && id->name == "fuzz-ops", auth::DescribeIdentity(*id));
    return;
  }
  FUZZ_CHECK(signed_by_us, "accepted a token nobody signed: " + auth::DescribeIdentity(*id));
  FUZZ_CHECK(id->kind == auth::IdentityKind::kJwt && id->issuer == kHsIssuer && !id->name.empty(),
             auth::DescribeIdentity(*id));
  FUZZ_CHECK(id->expires + kLeeway > kNow, auth::DescribeIdentity(*id));
}

}  // namespace
}  // namespace confcenter

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace confcenter;
  const Setup& setup = Once();
  const std::string input(reinterpret_cast<const char*>(data), size);

  CheckVerify(input, /*signed_by_us=*/false);

  const size_t newline = input.find('\n');
  const std::string header = input.substr(0, newline);
  const std::string payload = newline == std::string::npos ? "" : input.substr(newline + 1);
  CheckVerify(
      absl::StrCat(testing::Base64Url(header), ".", testing::Base64Url(payload), ".c2lnbmF0dXJl"),
      /*signed_by_us=*/false);

  if (size > 0 && size <= 4096) {
    // Signing raw bytes: the payload need not be JSON, the verifier must cope.
    CheckVerify(testing::SignJwtPayload(*setup.hs_key, {}, input), /*signed_by_us=*/true);
  }

  const std::string path = setup.dir + "/input.yaml";
  testing::WriteFile(path, input);
  auth::TokenVerifierOptions options;
  options.static_tokens_file = path;
  absl::StatusOr<std::unique_ptr<auth::TokenVerifier>> from_file =
      auth::TokenVerifier::Create(std::move(options));
  if (!from_file.ok()) {
    FUZZ_CHECK(from_file.status().code() == absl::StatusCode::kInvalidArgument,
               from_file.status().ToString());
    FUZZ_CHECK(absl::StartsWith(from_file.status().message(), path + ":"),
               from_file.status().ToString());
  } else {
    // Only a file that lists the token's digest (any case) lets it in.
    FUZZ_CHECK(
        (*from_file)->Verify(kStaticToken).status().code() == absl::StatusCode::kUnauthenticated ||
            absl::StrContains(absl::AsciiStrToLower(input), testing::Sha256Hex(kStaticToken)),
        "a tokens file without the digest accepted the token");
  }
  return 0;
}
