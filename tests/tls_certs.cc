#include "tests/tls_certs.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace confcenter::testing {
namespace {

namespace fs = std::filesystem;

// Runs `openssl args...` (found on PATH) to completion. INTERNAL with the command line and
// its output unless it exits 0.
absl::Status RunOpenssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv_storage = {"openssl"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string command = absl::StrJoin(argv_storage, " ");
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execvp("openssl", argv.data());
    std::fprintf(stderr, "cannot run openssl: %s (is it installed and on PATH?)\n",
                 std::strerror(errno));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("`", command, "` failed (wait status ", status, "): ", output));
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// A random positive serial of exactly 16 hex digits (top bit of 63 set, so openssl prints
// it back the same way).
std::string NewSerial() {
  static std::mt19937_64 rng(std::random_device{}());
  const uint64_t serial = (rng() & 0x7fffffffffffffffULL) | 0x4000000000000000ULL;
  return absl::StrFormat("%016X", serial);
}

// The openssl config of one certificate: its extensions in section [ext].
std::string Config(const std::vector<std::string>& extensions) {
  return absl::StrCat("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n[ext]\n",
                      absl::StrJoin(extensions, "\n"), "\n");
}

// A self-signed CA certificate and its key.
absl::Status MakeCa(const TlsFiles& ca, const std::string& common_name, const std::string& cnf) {
  if (absl::Status s = WriteText(
          cnf, Config({"basicConstraints = critical,CA:TRUE",
                       "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash"}));
      !s.ok()) {
    return s;
  }
  return RunOpenssl({"req",     "-x509",       "-newkey",
                     "ec",      "-pkeyopt",    "ec_paramgen_curve:prime256v1",
                     "-nodes",  "-keyout",     ca.key,
                     "-out",    ca.cert,       "-days",
                     "2",       "-subj",       "/CN=" + common_name,
                     "-config", cnf,           "-extensions",
                     "ext",     "-set_serial", "0x" + NewSerial()});
}

// A leaf certificate signed by `ca` with `extensions`, written to `out` (key and cert).
absl::Status MakeLeaf(const TlsFiles& ca, const TlsFiles& out, const std::string& common_name,
                      const std::string& serial, std::vector<std::string> extensions,
                      const std::string& cnf) {
  extensions.push_back("basicConstraints = critical,CA:FALSE");
  extensions.push_back("keyUsage = critical,digitalSignature");
  extensions.push_back("subjectKeyIdentifier = hash");
  extensions.push_back("authorityKeyIdentifier = keyid");
  if (absl::Status s = WriteText(cnf, Config(extensions)); !s.ok()) return s;
  return RunOpenssl({"req",        "-x509",    "-newkey",
                     "ec",         "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes",     "-keyout",  out.key,
                     "-out",       out.cert,   "-days",
                     "2",          "-subj",    "/CN=" + common_name,
                     "-config",    cnf,        "-extensions",
                     "ext",        "-CA",      ca.cert,
                     "-CAkey",     ca.key,     "-set_serial",
                     "0x" + serial});
}

std::string InDir(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

absl::Status MakeServerCert(const TlsCerts& certs, const TlsFiles& out, const std::string& serial) {
  return MakeLeaf(certs.ca, out, "localhost", serial,
                  {"extendedKeyUsage = serverAuth", "subjectAltName = IP:127.0.0.1,DNS:localhost"},
                  InDir(certs.dir, "server.cnf"));
}

}  // namespace

absl::StatusOr<TlsCerts> MakeTlsCerts(const std::string& dir) {
  TlsCerts certs;
  certs.dir = dir;
  certs.ca = {InDir(dir, "ca.crt"), InDir(dir, "ca.key")};
  certs.server = {InDir(dir, "server.crt"), InDir(dir, "server.key")};
  certs.foreign_ca = {InDir(dir, "foreign-ca.crt"), InDir(dir, "foreign-ca.key")};
  certs.foreign_client = {InDir(dir, "foreign-client.crt"), InDir(dir, "foreign-client.key")};
  if (absl::Status s = MakeCa(certs.ca, "confcenter test CA", InDir(dir, "ca.cnf")); !s.ok()) {
    return s;
  }
  certs.server_serial = NewSerial();
  if (absl::Status s = MakeServerCert(certs, certs.server, certs.server_serial); !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeCa(certs.foreign_ca, "foreign test CA", InDir(dir, "foreign-ca.cnf"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeLeaf(certs.foreign_ca, certs.foreign_client, "orders", NewSerial(),
                                {"extendedKeyUsage = clientAuth",
                                 "subjectAltName = URI:spiffe://foreign/ns/feat-x/sa/orders"},
                                InDir(dir, "foreign-client.cnf"));
      !s.ok()) {
    return s;
  }
  return certs;
}

absl::StatusOr<TlsFiles> IssueClientCert(const TlsCerts& certs, const std::string& name,
                                         const std::string& common_name,
                                         const std::string& san_uri) {
  if (name.empty() || common_name.empty()) {
    return absl::InvalidArgumentError("IssueClientCert: name and common_name must be set");
  }
  TlsFiles out{InDir(certs.dir, name + ".crt"), InDir(certs.dir, name + ".key")};
  std::vector<std::string> extensions = {"extendedKeyUsage = clientAuth"};
  if (!san_uri.empty()) extensions.push_back("subjectAltName = URI:" + san_uri);
  if (absl::Status s = MakeLeaf(certs.ca, out, common_name, NewSerial(), extensions,
                                InDir(certs.dir, name + ".cnf"));
      !s.ok()) {
    return s;
  }
  return out;
}

absl::Status ReissueServerCert(TlsCerts* certs) {
  const TlsFiles tmp{certs->server.cert + ".tmp", certs->server.key + ".tmp"};
  const std::string serial = NewSerial();
  if (absl::Status s = MakeServerCert(*certs, tmp, serial); !s.ok()) return s;
  std::error_code ec;
  fs::rename(tmp.key, certs->server.key, ec);
  if (!ec) fs::rename(tmp.cert, certs->server.cert, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot rename the new server certificate into place: ", ec.message()));
  }
  certs->server_serial = serial;
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace confcenter::testing
