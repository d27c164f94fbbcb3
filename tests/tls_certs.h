// Test certificates made with the openssl command line: a CA, a server certificate for
// 127.0.0.1/localhost, client certificates (SPIFFE-style URI SAN and/or only a CN), and a
// second, "foreign" CA with a client certificate that the first CA does not vouch for.
// EC P-256 keys, valid for two days. Every function returns an error naming the openssl
// command and what it printed when openssl fails (ASSERT_TRUE(certs.ok()) << certs.status()).
//
//   confcenter::testing::TempDir dir;
//   absl::StatusOr<TlsCerts> certs = MakeTlsCerts(dir.path());
//   absl::StatusOr<TlsFiles> orders =
//       IssueClientCert(*certs, "orders", "orders", "spiffe://corp/ns/feat-x/sa/orders");
//
// Not thread-safe for the same TlsCerts (ReissueServerCert rewrites its files).
#ifndef CONFCENTER_TESTS_TLS_CERTS_H_
#define CONFCENTER_TESTS_TLS_CERTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace confcenter::testing {

// A certificate and its private key: paths of PEM files.
struct TlsFiles {
  std::string cert;
  std::string key;
};

struct TlsCerts {
  // The directory everything is in.
  std::string dir;
  // The test CA (self-signed, CN "confcenter test CA"): ca.crt, ca.key.
  TlsFiles ca;
  // Signed by `ca`; CN localhost, SAN IP:127.0.0.1 and DNS:localhost, EKU serverAuth:
  // server.crt, server.key.
  TlsFiles server;
  // The server certificate's serial number, hex without "0x" (as `openssl x509 -serial`
  // prints it after "serial="); changes with ReissueServerCert.
  std::string server_serial;
  // Another CA (CN "foreign test CA"), unrelated to `ca`: foreign-ca.crt, foreign-ca.key.
  TlsFiles foreign_ca;
  // A client certificate signed by `foreign_ca`: CN orders, SAN URI
  // spiffe://foreign/ns/feat-x/sa/orders (same names as a real one, wrong issuer):
  // foreign-client.crt, foreign-client.key.
  TlsFiles foreign_client;
};

// Creates both CAs, the server certificate and the foreign client certificate in `dir`
// (which must exist). Errors: INTERNAL with openssl's output if a command fails.
absl::StatusOr<TlsCerts> MakeTlsCerts(const std::string& dir);

// A client certificate signed by certs.ca (EKU clientAuth) with subject CN `common_name`
// and, unless `san_uri` is empty, the SAN URI `san_uri` (e.g.
// spiffe://corp/ns/feat-x/sa/orders). Written to <dir>/<name>.crt and <dir>/<name>.key
// (replacing earlier ones of that name). Errors: INVALID_ARGUMENT for an empty name or
// common_name; INTERNAL if openssl fails.
absl::StatusOr<TlsFiles> IssueClientCert(const TlsCerts& certs, const std::string& name,
                                         const std::string& common_name,
                                         const std::string& san_uri);

// Re-issues the server certificate in place, as a rotation would: a new key and a new
// serial from the same CA, same names. Each file is written beside its final path and
// renamed over it, the key first, then the certificate, so a file watcher never sees a
// partial file (watch the certificate: once it changes, the key is already the new one).
// Updates certs->server_serial. Errors: INTERNAL if openssl or a rename fails.
absl::Status ReissueServerCert(TlsCerts* certs);

// The content of a file (e.g. a PEM for grpc::SslCredentialsOptions); NOT_FOUND if it
// cannot be read.
absl::StatusOr<std::string> ReadPem(const std::string& path);

}  // namespace confcenter::testing

#endif  // CONFCENTER_TESTS_TLS_CERTS_H_
