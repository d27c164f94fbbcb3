// The client library's credentials against an in-process gRPC server (no confcenterd): TLS
// and mutual TLS with the certificates of tests/tls_certs.h, the bearer token on unary calls,
// streams and backups, token files that rotate, and the modes of the files the client writes.
#include "confcenter/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "confcenter/backup.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "grpcpp/security/server_credentials.h"
#include "gtest/gtest.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"
#include "tests/tls_certs.h"

namespace confcenter {
namespace {

using ::confcenter::testing::ConfctlResult;
using ::confcenter::testing::RunConfctl;
using ::confcenter::testing::TempDir;
using ::confcenter::testing::TlsCerts;
using ::confcenter::testing::TlsFiles;

// "echo authorization=[...] uri=[...] cn=[...]": what the server saw of the caller.
std::string Echo(const grpc::ServerContext& context) {
  std::string authorization;
  auto it = context.client_metadata().find("authorization");
  if (it != context.client_metadata().end()) {
    authorization = std::string(it->second.data(), it->second.size());
  }
  std::vector<std::string> uris, cns;
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context()) {
    for (const grpc::string_ref& v : auth->FindPropertyValues("x509_subject_alternative_name")) {
      uris.emplace_back(v.data(), v.size());
    }
    for (const grpc::string_ref& v : auth->FindPropertyValues("x509_common_name")) {
      cns.emplace_back(v.data(), v.size());
    }
  }
  return absl::StrCat("echo authorization=[", authorization, "] uri=[", absl::StrJoin(uris, ","),
                      "] cn=[", absl::StrJoin(cns, ","), "]");
}

// Config.Get: fails with the echo. Watch.Subscribe: tenant "echo" fails with the echo, any
// other gets a one-key snapshot and stays open. Admin.Backup: with an authorization header,
// fails with the echo; without, sends a one-file backup.
class FakeConfig final : public v1::ConfigService::Service {
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest*, v1::GetResponse*) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, Echo(*context));
  }
};

class FakeWatch final : public v1::WatchService::Service {
  grpc::Status Subscribe(grpc::ServerContext* context, const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::SubscribeResponse>* writer) override {
    if (request->tenant() == "echo") {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, Echo(*context));
    }
    v1::SubscribeResponse snapshot;
    snapshot.set_kind(v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
    snapshot.set_revision(7);
    snapshot.set_snapshot_last(true);
    v1::ResolvedEntry* e = snapshot.add_entries();
    e->set_service("login");
    e->set_key("db.password");
    e->set_value("hunter2");
    e->set_source_tenant(request->tenant());
    e->set_revision(7);
    writer->Write(snapshot);
    while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return grpc::Status::CANCELLED;
  }
};

class FakeAdmin final : public v1::AdminService::Service {
  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest*,
                      grpc::ServerWriter<v1::BackupResponse>* writer) override {
    if (context->client_metadata().count("authorization") > 0) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, Echo(*context));
    }
    const std::string data = "MANIFEST-000001\n";
    v1::BackupResponse message;
    v1::BackupFile* file = message.mutable_manifest()->add_files();
    file->set_name("CURRENT");
    file->set_size_bytes(static_cast<int64_t>(data.size()));
    file->set_crc32(static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                                reinterpret_cast<const Bytef*>(data.data()),
                                                static_cast<uInt>(data.size()))));
    message.mutable_manifest()->set_revision(7);
    writer->Write(message);
    message.Clear();
    message.mutable_chunk()->set_file("CURRENT");
    message.mutable_chunk()->set_data(data);
    writer->Write(message);
    message.Clear();
    message.mutable_done()->set_file_count(1);
    writer->Write(message);
    return grpc::Status::OK;
  }
};

// The three fake services on 127.0.0.1:<free port> with `credentials`.
class FakeServer {
 public:
  explicit FakeServer(std::shared_ptr<grpc::ServerCredentials> credentials) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port_);
    builder.RegisterService(&config_);
    builder.RegisterService(&watch_);
    builder.RegisterService(&admin_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }

 private:
  FakeConfig config_;
  FakeWatch watch_;
  FakeAdmin admin_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Writes `text` to `path` (replacing it in place, same inode).
void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// The message of a Get through `client` (the fake answers every Get with the echo).
std::string GetEcho(Client& client) {
  absl::StatusOr<v1::GetResponse> response = client.Get(v1::GetRequest());
  EXPECT_FALSE(response.ok());
  return std::string(response.status().message());
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TlsCerts> certs = testing::MakeTlsCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    absl::StatusOr<TlsFiles> orders =
        testing::IssueClientCert(certs_, "orders", "orders", "spiffe://corp/ns/feat-x/sa/orders");
    ASSERT_TRUE(orders.ok()) << orders.status();
    orders_ = *orders;
  }

  // A server that requires a client certificate from certs_.ca.
  std::unique_ptr<FakeServer> StartMtlsServer() {
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = *testing::ReadPem(certs_.ca.cert);
    ssl.pem_key_cert_pairs.push_back(
        {*testing::ReadPem(certs_.server.key), *testing::ReadPem(certs_.server.cert)});
    auto server = std::make_unique<FakeServer>(grpc::SslServerCredentials(ssl));
    EXPECT_NE(server->port(), 0);
    return server;
  }

  // Options for `address` that fail fast: one attempt, a short deadline.
  static ClientOptions FastOptions(const std::string& address) {
    ClientOptions options;
    options.address = address;
    options.max_attempts = 1;
    options.deadline = absl::Seconds(2);
    return options;
  }

  Credentials MtlsCredentials() const {
    Credentials c;
    c.ca_file = certs_.ca.cert;
    c.cert_file = orders_.cert;
    c.key_file = orders_.key;
    return c;
  }

  TempDir dir_;
  TlsCerts certs_;
  TlsFiles orders_;
};

TEST_F(CredentialsTest, MutualTlsClientConnectsAndItsTokenAndCertificateArrive) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  ClientOptions options = FastOptions(server->address());
  options.credentials = MtlsCredentials();
  options.credentials.token = "tok-123";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string echo = GetEcho(**client);
  EXPECT_NE(echo.find("authorization=[Bearer tok-123]"), std::string::npos) << echo;
  EXPECT_NE(echo.find("spiffe://corp/ns/feat-x/sa/orders"), std::string::npos) << echo;
  EXPECT_NE(echo.find("cn=[orders]"), std::string::npos) << echo;
}

TEST_F(CredentialsTest, TheTokenIsSentOnSubscribeStreamsAndBackups) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  ClientOptions options = FastOptions(server->address());
  options.credentials = MtlsCredentials();
  options.credentials.token = "tok-stream";
  Client client(options);

  v1::SubscribeRequest request;
  request.set_tenant("echo");
  std::unique_ptr<WatchStream> stream = client.Subscribe(request);
  v1::SubscribeResponse message;
  EXPECT_FALSE(stream->Read(&message));
  absl::Status finished = stream->Finish();
  EXPECT_NE(finished.message().find("authorization=[Bearer tok-stream]"), std::string::npos)
      << finished;

  absl::StatusOr<v1::BackupManifest> backup = client.Backup(dir_.path() + "/backup");
  ASSERT_FALSE(backup.ok());
  EXPECT_NE(backup.status().message().find("authorization=[Bearer tok-stream]"), std::string::npos)
      << backup.status();
}

TEST_F(CredentialsTest, SubscriptionSendsTheTokenOfItsTokenFile) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  ClientOptions options = FastOptions(server->address());
  options.credentials = MtlsCredentials();
  Client client(options);
  const std::string token_file = dir_.path() + "/token";
  WriteFile(token_file, "projected-1\n");
  SubscriptionOptions follow;
  follow.tenant = "echo";
  follow.credentials.token_file = token_file;
  follow.initial_backoff = absl::Milliseconds(10);
  follow.max_backoff = absl::Milliseconds(50);
  std::unique_ptr<Subscription> sub = Subscription::Start(client.channel(), follow);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline && sub->last_error().message().find(
                                       "authorization=[Bearer projected-1]") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_NE(sub->last_error().message().find("authorization=[Bearer projected-1]"),
            std::string::npos)
      << sub->last_error();
}

TEST_F(CredentialsTest, PlaintextClientIsRefusedByATlsServer) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  Client client(FastOptions(server->address()));
  absl::StatusOr<v1::GetResponse> response = client.Get(v1::GetRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST_F(CredentialsTest, ClientCertificateOfAForeignCaIsRefused) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  ClientOptions options = FastOptions(server->address());
  options.credentials.ca_file = certs_.ca.cert;
  options.credentials.cert_file = certs_.foreign_client.cert;
  options.credentials.key_file = certs_.foreign_client.key;
  Client client(options);
  absl::StatusOr<v1::GetResponse> response = client.Get(v1::GetRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST_F(CredentialsTest, TlsClientWithoutACertificateIsRefusedWhenTheServerRequiresOne) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  ClientOptions options = FastOptions(server->address());
  options.credentials.ca_file = certs_.ca.cert;
  Client client(options);
  absl::StatusOr<v1::GetResponse> response = client.Get(v1::GetRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST_F(CredentialsTest, ServerNameIsCheckedAgainstTheServerCertificate) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  ClientOptions options = FastOptions(server->address());
  options.credentials = MtlsCredentials();
  options.credentials.server_name = "localhost";  // in the certificate: accepted
  Client good(options);
  EXPECT_NE(GetEcho(good).find("echo"), std::string::npos);
  options.credentials.server_name = "other.example";  // not in it: refused
  Client bad(options);
  EXPECT_EQ(bad.Get(v1::GetRequest()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(CredentialsTest, TokenIsSentOnAPlaintextChannelToo) {
  FakeServer server(grpc::InsecureServerCredentials());
  ClientOptions options = FastOptions(server.address());
  options.credentials.token = "  loopback-token\n";
  Client client(options);
  EXPECT_NE(GetEcho(client).find("authorization=[Bearer loopback-token]"), std::string::npos);
}

TEST_F(CredentialsTest, WithoutATokenNoAuthorizationHeaderIsSent) {
  FakeServer server(grpc::InsecureServerCredentials());
  Client client(FastOptions(server.address()));
  EXPECT_NE(GetEcho(client).find("authorization=[]"), std::string::npos);
}

TEST_F(CredentialsTest, UnreadableCertificateFilesAreAnErrorAtCreationNamingTheFile) {
  ClientOptions options = FastOptions("127.0.0.1:1");
  options.credentials.ca_file = dir_.path() + "/no-such-ca.pem";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(client.status().message().find("ca_file: cannot read " + options.credentials.ca_file),
            std::string::npos)
      << client.status();

  // The constructor cannot fail: every call, and every call on its channel, fails instead.
  Client broken(options);
  absl::StatusOr<v1::GetResponse> response = broken.Get(v1::GetRequest());
  EXPECT_EQ(response.status(), client.status());
  SubscriptionOptions follow;
  follow.tenant = "f1";
  follow.initial_backoff = absl::Milliseconds(10);
  std::unique_ptr<Subscription> sub = Subscription::Start(broken.channel(), follow);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline && sub->last_error().ok()) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_NE(sub->last_error().message().find("no-such-ca.pem"), std::string::npos)
      << sub->last_error();

  options.credentials.ca_file = certs_.ca.cert;
  options.credentials.cert_file = orders_.cert;
  options.credentials.key_file = dir_.path() + "/no-such-key.pem";
  EXPECT_NE(Client::Create(options).status().message().find("key_file: cannot read"),
            std::string::npos);
  options.credentials.key_file = dir_.path() + "/not-pem.key";
  WriteFile(options.credentials.key_file, "not pem\n");
  EXPECT_NE(Client::Create(options).status().message().find("holds no PEM block"),
            std::string::npos);
}

TEST_F(CredentialsTest, InconsistentCredentialsAreInvalidArguments) {
  Credentials c;
  c.cert_file = orders_.cert;  // no key
  c.ca_file = certs_.ca.cert;
  EXPECT_EQ(MakeChannelCredentials(c).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(MakeChannelCredentials(c).status().message().find("key_file"), std::string::npos);
  c.key_file = orders_.key;
  c.ca_file.clear();  // mTLS without TLS
  EXPECT_EQ(MakeChannelCredentials(c).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(MakeChannelCredentials(c).status().message().find("ca_file"), std::string::npos);
  Credentials name_only;
  name_only.server_name = "localhost";
  EXPECT_EQ(MakeChannelCredentials(name_only).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeChannelCredentials(Credentials()).ok());
}

// confctl's --ca/--cert/--key/--token/--token-file, and the environment variables they fall
// back to, reach every call it makes.
TEST_F(CredentialsTest, ConfctlSendsItsCertificateAndTokenFromFlags) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  const std::string token_file = dir_.path() + "/token";
  WriteFile(token_file, "from-file\n");
  ConfctlResult result = RunConfctl({"--ca", certs_.ca.cert, "--cert", orders_.cert, "--key",
                                     orders_.key, "--token-file", token_file, "get", "t", "s", "k"},
                                    server->address());
  EXPECT_NE(result.err.find("authorization=[Bearer from-file]"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("spiffe://corp/ns/feat-x/sa/orders"), std::string::npos) << result.err;
}

TEST_F(CredentialsTest, ConfctlFallsBackToTheEnvironment) {
  std::unique_ptr<FakeServer> server = StartMtlsServer();
  setenv("CONFCENTER_CA", certs_.ca.cert.c_str(), 1);
  setenv("CONFCENTER_CERT", orders_.cert.c_str(), 1);
  setenv("CONFCENTER_KEY", orders_.key.c_str(), 1);
  setenv("CONFCENTER_TOKEN", "from-env", 1);
  ConfctlResult result = RunConfctl({"get", "t", "s", "k"}, server->address());
  // A flag wins over its variable.
  ConfctlResult flag =
      RunConfctl({"--token", "from-flag", "get", "t", "s", "k"}, server->address());
  for (const char* name :
       {"CONFCENTER_CA", "CONFCENTER_CERT", "CONFCENTER_KEY", "CONFCENTER_TOKEN"}) {
    unsetenv(name);
  }
  EXPECT_NE(result.err.find("authorization=[Bearer from-env]"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("cn=[orders]"), std::string::npos) << result.err;
  EXPECT_NE(flag.err.find("authorization=[Bearer from-flag]"), std::string::npos) << flag.err;
}

TEST_F(CredentialsTest, ConfctlWithAnUnreadableCaFileIsAUsageErrorNamingIt) {
  const std::string missing = dir_.path() + "/missing-ca.pem";
  ConfctlResult result = RunConfctl({"--ca", missing, "tenants"}, "127.0.0.1:1");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find(missing), std::string::npos) << result.err;
  // Commands that make no call do not load the credentials.
  ConfctlResult offline = RunConfctl({"--ca", missing, "tenant-name", "feat/x"}, "");
  EXPECT_EQ(offline.exit_code, 0) << offline.err;

  ConfctlResult token =
      RunConfctl({"--token-file", missing + ".token", "--timeout", "1s", "tenants"}, "127.0.0.1:1");
  EXPECT_NE(token.err.find("UNAUTHENTICATED"), std::string::npos) << token.err;
  EXPECT_NE(token.err.find(missing + ".token"), std::string::npos) << token.err;
}

TEST(CredentialsFromEnvironmentTest, ReadsTheFiveVariables) {
  setenv("CONFCENTER_CA", "/etc/confcenter/ca.pem", 1);
  setenv("CONFCENTER_CERT", "/etc/confcenter/tls.crt", 1);
  setenv("CONFCENTER_KEY", "/etc/confcenter/tls.key", 1);
  setenv("CONFCENTER_TOKEN", "abc", 1);
  setenv("CONFCENTER_TOKEN_FILE", "/var/run/secrets/tokens/confcenter", 1);
  Credentials c = Credentials::FromEnvironment();
  EXPECT_EQ(c.ca_file, "/etc/confcenter/ca.pem");
  EXPECT_EQ(c.cert_file, "/etc/confcenter/tls.crt");
  EXPECT_EQ(c.key_file, "/etc/confcenter/tls.key");
  EXPECT_EQ(c.token, "abc");
  EXPECT_EQ(c.token_file, "/var/run/secrets/tokens/confcenter");
  EXPECT_TRUE(c.tls());
  for (const char* name : {"CONFCENTER_CA", "CONFCENTER_CERT", "CONFCENTER_KEY", "CONFCENTER_TOKEN",
                           "CONFCENTER_TOKEN_FILE"}) {
    unsetenv(name);
  }
  c = Credentials::FromEnvironment();
  EXPECT_TRUE(c.ca_file.empty() && c.cert_file.empty() && c.key_file.empty() && c.token.empty() &&
              c.token_file.empty());
  EXPECT_FALSE(c.tls());
}

// Sets `path`'s modification time to `seconds` since the epoch.
void SetMtime(const std::string& path, time_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(TokenSourceTest, TokenFileIsReReadWhenItsModificationTimeChanges) {
  TempDir dir;
  const std::string path = dir.path() + "/token";
  WriteFile(path, "token-aaa\n");
  SetMtime(path, 1'700'000'000);
  Credentials c;
  c.token_file = path;
  TokenSource source(c);
  EXPECT_EQ(*source.Token(), "token-aaa");

  // Same size, same inode, same time: the cached token is served (the file is not re-read).
  WriteFile(path, "token-bbb\n");
  SetMtime(path, 1'700'000'000);
  EXPECT_EQ(*source.Token(), "token-aaa");

  // The time moves (as a rotation moves it): the new token.
  SetMtime(path, 1'700'000'060);
  EXPECT_EQ(*source.Token(), "token-bbb");

  // Kubernetes swaps a symlink to a new file: another inode, read again.
  const std::string rotated = dir.path() + "/token.new";
  WriteFile(rotated, "token-ccc\n");
  SetMtime(rotated, 1'700'000'060);
  std::filesystem::rename(rotated, path);
  EXPECT_EQ(*source.Token(), "token-ccc");
}

TEST(TokenSourceTest, MissingOrEmptyTokenFileFailsTheCallWithUnauthenticatedNamingTheFile) {
  TempDir dir;
  Credentials c;
  c.token_file = dir.path() + "/absent-token";
  TokenSource source(c);
  absl::StatusOr<std::string> token = source.Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(token.status().message().find(c.token_file), std::string::npos) << token.status();

  WriteFile(c.token_file, "\n");
  EXPECT_EQ(source.Token().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(source.Token().status().message().find("is empty"), std::string::npos);

  // No call is made: nothing listens at the address, yet the error is the token's.
  ClientOptions options;
  options.address = "127.0.0.1:1";
  options.credentials = c;
  Client client(options);
  absl::StatusOr<v1::GetResponse> response = client.Get(v1::GetRequest());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnauthenticated) << response.status();
  EXPECT_NE(response.status().message().find(c.token_file), std::string::npos);
}

TEST(TokenSourceTest, TheTokenTextWinsOverTheTokenFile) {
  Credentials c;
  c.token = "inline";
  c.token_file = "/nonexistent/token";
  EXPECT_EQ(*TokenSource(c).Token(), "inline");
  EXPECT_FALSE(TokenSource(Credentials()).enabled());
}

TEST(ClientFileModeTest, SubscriptionCacheFileIsOwnerOnly) {
  FakeServer server(grpc::InsecureServerCredentials());
  TempDir dir;
  const std::string cache = dir.path() + "/cache.json";
  WriteFile(cache, "{}\n");
  ASSERT_EQ(chmod(cache.c_str(), 0644), 0);
  ClientOptions options;
  options.address = server.address();
  Client client(options);
  SubscriptionOptions follow;
  follow.tenant = "f1";
  follow.cache_file = cache;
  std::unique_ptr<Subscription> sub = Subscription::Start(client.channel(), follow);
  ASSERT_TRUE(sub->WaitForRevision(7, absl::Seconds(5))) << sub->last_error();
  EXPECT_EQ(sub->GetString("login", "db.password", ""), "hunter2");
  EXPECT_EQ(Mode(cache), 0600);
}

TEST(ClientFileModeTest, BackupFilesAndDirectoryAreOwnerOnly) {
  FakeServer server(grpc::InsecureServerCredentials());
  TempDir dir;
  ClientOptions options;
  options.address = server.address();
  Client client(options);
  const std::string backup = dir.path() + "/backup";
  absl::StatusOr<v1::BackupManifest> manifest = client.Backup(backup);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(Mode(backup), 0700);
  EXPECT_EQ(Mode(backup + "/CURRENT"), 0600);
  EXPECT_EQ(Mode(backup + "/" + kBackupManifestFile), 0600);

  const std::string restored = dir.path() + "/data";
  ASSERT_TRUE(RestoreBackup(backup, restored).ok());
  EXPECT_EQ(Mode(restored + "/CURRENT"), 0600);
}

}  // namespace
}  // namespace confcenter
