// How a client proves who it is to confcenterd and checks that it talks to the right server:
// TLS (server verified against a CA; optionally a client certificate for mTLS) and/or a
// bearer token sent as the `authorization: Bearer <token>` metadata of every call.
//
//   confcenter::ClientOptions options;
//   options.address = "confcenter.corp:7070";
//   options.credentials = confcenter::Credentials::FromEnvironment();
//   absl::StatusOr<std::unique_ptr<confcenter::Client>> client =
//       confcenter::Client::Create(options);
//
// A token is sent on plaintext channels too (the loopback default), so anyone who can read
// the traffic can replay it: set ca_file whenever the server is not on this host.
#ifndef CONFCENTER_CLIENT_CREDENTIALS_H_
#define CONFCENTER_CLIENT_CREDENTIALS_H_

#include <sys/types.h>

#include <ctime>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace confcenter {

struct Credentials {
  // PEM file of the CA certificates the server's certificate must chain to. Set = TLS on
  // (the server's name or IP, or server_name, must be in its certificate); empty = plaintext.
  // Read once, when the channel is made. Default empty.
  std::string ca_file;
  // PEM files of this client's certificate chain and private key, for mutual TLS: give both
  // or neither; they need ca_file. Read once, when the channel is made. Default empty.
  std::string cert_file;
  std::string key_file;
  // The name to check the server's certificate against instead of the host of the address
  // (e.g. when connecting by IP to a certificate issued for a DNS name). Needs ca_file.
  // Default empty = the address's host.
  std::string server_name;
  // A bearer token, sent as `authorization: Bearer <token>` on every call. Takes precedence
  // over token_file. Default empty = none.
  std::string token;
  // A file holding the bearer token (surrounding whitespace ignored), e.g. a Kubernetes
  // projected service account token. Read at the first call and again whenever its
  // modification time, size or inode changes, so a rotated token is picked up. A call made
  // while the file is missing, unreadable or empty fails with UNAUTHENTICATED naming the
  // file (nothing is sent). Default empty = none.
  std::string token_file;

  // TLS is on (ca_file set).
  bool tls() const { return !ca_file.empty(); }

  // From the environment: CONFCENTER_CA (ca_file), CONFCENTER_CERT (cert_file),
  // CONFCENTER_KEY (key_file), CONFCENTER_TOKEN (token), CONFCENTER_TOKEN_FILE (token_file).
  // Unset or empty variables leave the field empty. Nothing is read or checked yet.
  static Credentials FromEnvironment();
};

// The channel credentials `credentials` describe: SSL with its CA (and client certificate)
// when ca_file is set, else insecure. Reads the PEM files now. Errors:
// INVALID_ARGUMENT if cert_file and key_file are not both set or both empty, or if
// cert_file/key_file/server_name is set without ca_file (naming the field);
// FAILED_PRECONDITION naming the file if one cannot be read or holds no PEM block.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const Credentials& credentials);

// Adds the bearer token of Credentials to calls. Thread-safe: one TokenSource may serve any
// number of concurrent calls.
class TokenSource {
 public:
  explicit TokenSource(const Credentials& credentials);
  TokenSource(const TokenSource&) = delete;
  TokenSource& operator=(const TokenSource&) = delete;

  // Whether a token is configured (token or token_file set).
  bool enabled() const { return !token_.empty() || !token_file_.empty(); }

  // The current token: `token`, or token_file's content (re-read if the file changed); ""
  // when none is configured. UNAUTHENTICATED naming the file if it is missing, unreadable
  // or empty.
  absl::StatusOr<std::string> Token() const;

  // Adds `authorization: Bearer <token>` to `context` when a token is configured; OK and
  // nothing added when none is. Errors: those of Token() (then nothing is added).
  absl::Status Apply(grpc::ClientContext* context) const;

 private:
  const std::string token_;
  const std::string token_file_;

  mutable absl::Mutex mu_;
  // The token_file version cached_ was read from.
  mutable dev_t cached_dev_ ABSL_GUARDED_BY(mu_) = 0;
  mutable ino_t cached_ino_ ABSL_GUARDED_BY(mu_) = 0;
  mutable off_t cached_size_ ABSL_GUARDED_BY(mu_) = -1;
  mutable timespec cached_mtime_ ABSL_GUARDED_BY(mu_) = {0, 0};
  mutable std::string cached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace confcenter

#endif  // CONFCENTER_CLIENT_CREDENTIALS_H_
