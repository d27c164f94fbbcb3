#include "confcenter/credentials.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace confcenter {
namespace {

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The content of PEM file `path` given as `field`. FAILED_PRECONDITION naming both if it
// cannot be read or has no PEM block.
absl::StatusOr<std::string> ReadPemFile(const char* field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, ": ", path, " holds no PEM block (-----BEGIN ...)"));
  }
  return text.str();
}

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

Credentials Credentials::FromEnvironment() {
  Credentials c;
  c.ca_file = Getenv("CONFCENTER_CA");
  c.cert_file = Getenv("CONFCENTER_CERT");
  c.key_file = Getenv("CONFCENTER_KEY");
  c.token = Getenv("CONFCENTER_TOKEN");
  c.token_file = Getenv("CONFCENTER_TOKEN_FILE");
  return c;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const Credentials& credentials) {
  if (credentials.cert_file.empty() != credentials.key_file.empty()) {
    return absl::InvalidArgumentError(
        credentials.cert_file.empty()
            ? absl::StrCat("cert_file: required with key_file ", credentials.key_file)
            : absl::StrCat("key_file: required with cert_file ", credentials.cert_file));
  }
  if (!credentials.tls()) {
    if (!credentials.cert_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ca_file: required with cert_file ", credentials.cert_file,
                       " (TLS is on only with a CA to check the server against)"));
    }
    if (!credentials.server_name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("ca_file: required with server_name \"",
                                                     credentials.server_name, "\" (TLS is off)"));
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> roots = ReadPemFile("ca_file", credentials.ca_file);
  if (!roots.ok()) return roots.status();
  ssl.pem_root_certs = *std::move(roots);
  if (!credentials.cert_file.empty()) {
    absl::StatusOr<std::string> chain = ReadPemFile("cert_file", credentials.cert_file);
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> key = ReadPemFile("key_file", credentials.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(chain);
    ssl.pem_private_key = *std::move(key);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (creds == nullptr) return absl::InternalError("grpc::SslCredentials failed");
  return creds;
}

TokenSource::TokenSource(const Credentials& credentials)
    : token_(absl::StripAsciiWhitespace(credentials.token)), token_file_(credentials.token_file) {}

absl::StatusOr<std::string> TokenSource::Token() const {
  if (!token_.empty() || token_file_.empty()) return token_;
  struct stat st;
  if (stat(token_file_.c_str(), &st) != 0) {
    return absl::UnauthenticatedError(
        absl::StrCat("token_file: cannot read ", token_file_, ": ", std::strerror(errno)));
  }
  absl::MutexLock lock(&mu_);
  if (!cached_.empty() && st.st_dev == cached_dev_ && st.st_ino == cached_ino_ &&
      st.st_size == cached_size_ && SameTime(st.st_mtim, cached_mtime_)) {
    return cached_;
  }
  std::ifstream in(token_file_, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token_file: cannot read ", token_file_, ": ", std::strerror(errno)));
  }
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("token_file: ", token_file_, " is empty"));
  }
  // Keyed by what stat said before the read: a write racing the read shows up as a change
  // at the next call, which reads again.
  cached_dev_ = st.st_dev;
  cached_ino_ = st.st_ino;
  cached_size_ = st.st_size;
  cached_mtime_ = st.st_mtim;
  cached_ = token;
  return token;
}

absl::Status TokenSource::Apply(grpc::ClientContext* context) const {
  if (!enabled()) return absl::OkStatus();
  absl::StatusOr<std::string> token = Token();
  if (!token.ok()) return token.status();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", *token));
  return absl::OkStatus();
}

}  // namespace confcenter
