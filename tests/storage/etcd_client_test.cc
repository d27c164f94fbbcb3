// EtcdClient against one real etcd member (/usr/bin/etcd, scripts/deps.sh installs it) that
// the suite starts on free loopback ports, with --max-txn-ops=16. Every test works under its
// own key prefix, so the tests share the member.
#include "storage/etcd_client.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/etcd_store.h"
#include "tests/child_process.h"
#include "tests/test_util.h"
#include "tests/tls_certs.h"

namespace confcenter::storage {
namespace {

using ::confcenter::testing::ChildProcess;
using ::confcenter::testing::FileTail;
using ::confcenter::testing::FreeLoopbackPort;
using ::testing::HasSubstr;

constexpr int kMaxTxnOps = 16;

// One etcd member in a fresh directory (under /dev/shm when there is one: cheap fsync).
class EtcdMember {
 public:
  // With `tls`, clients must use TLS with a client certificate from tls->ca (etcd's
  // --client-cert-auth); the server certificate is tls->server (127.0.0.1).
  explicit EtcdMember(const testing::TlsCerts* tls = nullptr) {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    if (const char* tmp = getenv("TMPDIR"); tmp != nullptr && *tmp) base = tmp;
    std::string templ = base + "/etcd_client_test.XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) return;
    dir_ = templ;
    client_port_ = FreeLoopbackPort();
    int peer_port = FreeLoopbackPort();
    while (peer_port == client_port_) peer_port = FreeLoopbackPort();
    const std::string client_url =
        absl::StrCat(tls != nullptr ? "https" : "http", "://127.0.0.1:", client_port_);
    const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port);
    std::vector<std::string> flags = {"--name=m0",
                                      "--data-dir=" + dir_ + "/m0",
                                      "--listen-client-urls=" + client_url,
                                      "--advertise-client-urls=" + client_url,
                                      "--listen-peer-urls=" + peer_url,
                                      "--initial-advertise-peer-urls=" + peer_url,
                                      "--initial-cluster=m0=" + peer_url,
                                      "--initial-cluster-state=new",
                                      absl::StrCat("--max-txn-ops=", kMaxTxnOps),
                                      "--logger=zap",
                                      "--log-outputs=stderr",
                                      "--log-level=info"};
    if (tls != nullptr) {
      flags.insert(flags.end(), {"--cert-file=" + tls->server.cert, "--key-file=" + tls->server.key,
                                 "--client-cert-auth", "--trusted-ca-file=" + tls->ca.cert});
    }
    process_ = std::make_unique<ChildProcess>("/usr/bin/etcd", flags, dir_ + "/etcd.log");
    // A connection that reaches etcd 3.4 before it serves clients stalls for ~10 s: wait for
    // its log to say it serves (bounded: 20 s).
    for (int i = 0; i < 2000 && process_->Running(); ++i) {
      if (FileTail(process_->log_path(), 1 << 16).find("serving client traffic") !=
          std::string::npos) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!ready_) {
      std::fprintf(stderr, "etcd did not serve within 20 s; its log ends:\n%s\n",
                   FileTail(process_->log_path()).c_str());
    }
  }
  ~EtcdMember() {
    process_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  bool ready() const { return ready_; }
  std::string endpoint() const { return absl::StrCat("127.0.0.1:", client_port_); }

 private:
  std::string dir_;
  int client_port_ = 0;
  bool ready_ = false;
  std::unique_ptr<ChildProcess> process_;
};

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { member_ = new EtcdMember(); }
  static void TearDownTestSuite() {
    delete member_;
    member_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(member_->ready());
    EtcdOptions options;
    options.endpoints = {member_->endpoint()};
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    prefix_ =
        absl::StrCat("/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }

  std::string Key(const std::string& name) const { return prefix_ + name; }
  std::string PrefixEnd() const {
    std::string end = prefix_;
    end.back()++;
    return end;
  }
  int64_t PutOk(const std::string& name, const std::string& value) {
    absl::StatusOr<etcdserverpb::PutResponse> put = client_->Put(Key(name), value);
    EXPECT_TRUE(put.ok()) << put.status();
    return put.ok() ? put->header().revision() : 0;
  }

  static EtcdMember* member_;
  std::unique_ptr<EtcdClient> client_;
  std::string prefix_;
};

EtcdMember* EtcdClientTest::member_ = nullptr;

TEST_F(EtcdClientTest, PutThenRangeRoundTrips) {
  const int64_t rev = PutOk("a", "one");
  etcdserverpb::RangeRequest request;
  request.set_key(Key("a"));
  absl::StatusOr<etcdserverpb::RangeResponse> range = client_->Range(request);
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->kvs_size(), 1);
  EXPECT_EQ(range->kvs(0).value(), "one");
  EXPECT_EQ(range->kvs(0).mod_revision(), rev);
  EXPECT_EQ(range->kvs(0).version(), 1);
}

TEST_F(EtcdClientTest, RangeAllPagesAtAFixedRevision) {
  for (int i = 0; i < 25; ++i) PutOk(absl::StrCat("k", 100 + i), absl::StrCat("old", i));
  etcdserverpb::RangeRequest head;
  head.set_key(Key("k100"));
  const int64_t at = client_->Range(head)->header().revision();
  for (int i = 0; i < 25; ++i) PutOk(absl::StrCat("k", 100 + i), absl::StrCat("new", i));
  PutOk("k999", "added later");

  std::vector<std::string> values;
  absl::StatusOr<int64_t> read_at =
      client_->RangeAll(prefix_, PrefixEnd(), at, 4, [&](const mvccpb::KeyValue& kv) {
        values.push_back(kv.value());
        return absl::OkStatus();
      });
  ASSERT_TRUE(read_at.ok()) << read_at.status();
  EXPECT_EQ(*read_at, at);
  ASSERT_EQ(values.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(values[i], absl::StrCat("old", i));

  // At the newest revision (0): fixed at the first page, sees the new values.
  values.clear();
  read_at = client_->RangeAll(prefix_, PrefixEnd(), 0, 7, [&](const mvccpb::KeyValue& kv) {
    values.push_back(kv.value());
    return absl::OkStatus();
  });
  ASSERT_TRUE(read_at.ok()) << read_at.status();
  EXPECT_GT(*read_at, at);
  ASSERT_EQ(values.size(), 26u);
  EXPECT_EQ(values[0], "new0");

  // A visitor's error stops the walk and is returned.
  int visited = 0;
  read_at = client_->RangeAll(prefix_, PrefixEnd(), 0, 3, [&](const mvccpb::KeyValue&) {
    return ++visited == 5 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(read_at.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(visited, 5);
}

TEST_F(EtcdClientTest, TxnComparesModRevision) {
  const int64_t rev = PutOk("head", "1");
  auto guarded_put = [&](int64_t expected_mod, const std::string& value) {
    etcdserverpb::TxnRequest txn;
    etcdserverpb::Compare* cmp = txn.add_compare();
    cmp->set_key(Key("head"));
    cmp->set_target(etcdserverpb::Compare::MOD);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_mod_revision(expected_mod);
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(Key("head"));
    put->set_value(value);
    etcdserverpb::RangeRequest* get = txn.add_failure()->mutable_request_range();
    get->set_key(Key("head"));
    return client_->Txn(txn);
  };
  absl::StatusOr<etcdserverpb::TxnResponse> first = guarded_put(rev, "2");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded());
  const int64_t rev2 = first->header().revision();
  EXPECT_GT(rev2, rev);

  // The same base again: the compare fails, the failure branch reads the current head.
  absl::StatusOr<etcdserverpb::TxnResponse> second = guarded_put(rev, "3");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->succeeded());
  ASSERT_EQ(second->responses_size(), 1);
  const etcdserverpb::RangeResponse& current = second->responses(0).response_range();
  ASSERT_EQ(current.kvs_size(), 1);
  EXPECT_EQ(current.kvs(0).value(), "2");
  EXPECT_EQ(current.kvs(0).mod_revision(), rev2);
}

TEST_F(EtcdClientTest, TxnOverMaxTxnOpsNamesTheLimit) {
  etcdserverpb::TxnRequest txn;
  for (int i = 0; i <= kMaxTxnOps; ++i) {
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(Key(absl::StrCat("op", i)));
    put->set_value("v");
  }
  absl::StatusOr<etcdserverpb::TxnResponse> response = client_->Txn(txn);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(), HasSubstr("too many operations in txn request"));
  EXPECT_THAT(response.status().message(), HasSubstr("--max-txn-ops"));
  EXPECT_FALSE(EtcdOutcomeUnknown(response.status()));

  // Writing one key twice in a Txn is a caller's bug.
  etcdserverpb::TxnRequest twice;
  for (int i = 0; i < 2; ++i) {
    etcdserverpb::PutRequest* put = twice.add_success()->mutable_request_put();
    put->set_key(Key("same"));
    put->set_value("v");
  }
  response = client_->Txn(twice);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(response.status().message(), HasSubstr("duplicate key"));
}

TEST_F(EtcdClientTest, RangeAtACompactedRevisionIsOutOfRange) {
  const int64_t old_rev = PutOk("c", "1");
  const int64_t new_rev = PutOk("c", "2");
  ASSERT_TRUE(client_->Compact(new_rev, /*physical=*/true).ok());

  etcdserverpb::RangeRequest request;
  request.set_key(Key("c"));
  request.set_revision(old_rev);
  absl::StatusOr<etcdserverpb::RangeResponse> range = client_->Range(request);
  EXPECT_EQ(range.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(range.status().message(), HasSubstr("compacted"));
  absl::StatusOr<int64_t> all = client_->RangeAll(
      prefix_, PrefixEnd(), old_rev, 10, [](const mvccpb::KeyValue&) { return absl::OkStatus(); });
  EXPECT_EQ(all.status().code(), absl::StatusCode::kOutOfRange);
  // Compacting again at the same revision is refused the same way.
  EXPECT_EQ(client_->Compact(new_rev).code(), absl::StatusCode::kOutOfRange);
}

// Collects what a watch reports.
struct WatchLog {
  absl::Mutex mu;
  std::vector<mvccpb::Event> events ABSL_GUARDED_BY(mu);
  int64_t compacted ABSL_GUARDED_BY(mu) = 0;
  std::vector<absl::Status> broken ABSL_GUARDED_BY(mu);

  EtcdWatchCallbacks Callbacks() {
    EtcdWatchCallbacks callbacks;
    callbacks.on_events = [this](std::vector<mvccpb::Event> batch, int64_t) {
      absl::MutexLock lock(&mu);
      for (mvccpb::Event& e : batch) events.push_back(std::move(e));
    };
    callbacks.on_compacted = [this](int64_t revision) {
      absl::MutexLock lock(&mu);
      compacted = revision;
    };
    callbacks.on_broken = [this](absl::Status status) {
      absl::MutexLock lock(&mu);
      broken.push_back(std::move(status));
    };
    return callbacks;
  }
  // Waits (at most 5 s) until `done` holds.
  bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 500; ++i) {
      {
        absl::MutexLock lock(&mu);
        if (done()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

TEST_F(EtcdClientTest, WatchFromARevisionDeliversEveryEventInOrder) {
  const int64_t start = PutOk("w0", "0");
  for (int i = 1; i < 10; ++i) PutOk(absl::StrCat("w", i), absl::StrCat(i));
  ASSERT_TRUE(client_->DeleteRange(Key("w3")).ok());

  WatchLog log;
  EtcdWatchRequest request;
  request.key = prefix_;
  request.range_end = PrefixEnd();
  request.start_revision = start;
  absl::StatusOr<std::unique_ptr<EtcdWatch>> watch = client_->Watch(request, log.Callbacks());
  ASSERT_TRUE(watch.ok()) << watch.status();
  // Events after the watch was created arrive too.
  for (int i = 10; i < 15; ++i) PutOk(absl::StrCat("w", i), absl::StrCat(i));

  ASSERT_TRUE(log.WaitFor([&] { return log.events.size() >= 16; }));
  (*watch)->RequestProgress();
  absl::MutexLock lock(&log.mu);
  ASSERT_EQ(log.events.size(), 16u);
  EXPECT_TRUE(log.broken.empty());
  int64_t previous = 0;
  for (size_t i = 0; i < log.events.size(); ++i) {
    const mvccpb::Event& e = log.events[i];
    EXPECT_GT(e.kv().mod_revision(), previous) << i;
    previous = e.kv().mod_revision();
  }
  EXPECT_EQ(log.events[0].kv().mod_revision(), start);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(log.events[i].type(), mvccpb::Event::PUT);
    EXPECT_EQ(log.events[i].kv().key(), Key(absl::StrCat("w", i)));
  }
  EXPECT_EQ(log.events[10].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(log.events[10].kv().key(), Key("w3"));
  for (int i = 10; i < 15; ++i) EXPECT_EQ(log.events[i + 1].kv().value(), absl::StrCat(i));
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionReportsTheCompaction) {
  const int64_t old_rev = PutOk("x", "1");
  const int64_t new_rev = PutOk("x", "2");
  ASSERT_TRUE(client_->Compact(new_rev).ok());

  WatchLog log;
  EtcdWatchRequest request;
  request.key = prefix_;
  request.range_end = PrefixEnd();
  request.start_revision = old_rev;
  absl::StatusOr<std::unique_ptr<EtcdWatch>> watch = client_->Watch(request, log.Callbacks());
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(log.WaitFor([&] { return log.compacted != 0; }));
  absl::MutexLock lock(&log.mu);
  EXPECT_GE(log.compacted, new_rev);
  EXPECT_TRUE(log.broken.empty());
  EXPECT_TRUE(log.events.empty());
}

TEST_F(EtcdClientTest, UnreachableEndpointFailsWithinTheDeadline) {
  EtcdOptions options;
  options.endpoints = {absl::StrCat("127.0.0.1:", FreeLoopbackPort())};
  options.dial_timeout = absl::Milliseconds(500);
  options.request_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(options);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Time start = absl::Now();
  etcdserverpb::RangeRequest request;
  request.set_key("a");
  absl::StatusOr<etcdserverpb::RangeResponse> range = (*client)->Range(request);
  EXPECT_EQ(range.status().code(), absl::StatusCode::kUnavailable);
  absl::Status put = (*client)->Put("a", "b").status();
  EXPECT_EQ(put.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(EtcdOutcomeUnknown(put)) << put;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(EtcdClientTest, FailsOverToAReachableEndpoint) {
  EtcdOptions options;
  options.endpoints = {absl::StrCat("127.0.0.1:", FreeLoopbackPort()), member_->endpoint()};
  options.dial_timeout = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<etcdserverpb::PutResponse> put = (*client)->Put(Key("f"), "v");
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<etcdserverpb::StatusResponse> status = (*client)->Status(member_->endpoint());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(status->version(), HasSubstr("3.4"));
  EXPECT_NE(status->leader(), 0u);
  EXPECT_EQ((*client)->Status("nowhere:1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EtcdClientTest, LeaseGrantAttachAndRevoke) {
  absl::StatusOr<int64_t> lease = client_->LeaseGrant(absl::Seconds(30));
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(client_->Put(Key("leased"), "v", *lease).ok());
  ASSERT_TRUE(client_->LeaseRevoke(*lease).ok());
  etcdserverpb::RangeRequest request;
  request.set_key(Key("leased"));
  EXPECT_EQ(client_->Range(request)->kvs_size(), 0);
}

TEST_F(EtcdClientTest, LeaseKeepAliveRefreshesAndReportsAnEndedLease) {
  absl::StatusOr<int64_t> lease = client_->LeaseGrant(absl::Seconds(30));
  ASSERT_TRUE(lease.ok()) << lease.status();
  absl::StatusOr<absl::Duration> ttl = client_->LeaseKeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GE(*ttl, absl::Seconds(29));
  ASSERT_TRUE(client_->LeaseRevoke(*lease).ok());
  ttl = client_->LeaseKeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(*ttl, absl::ZeroDuration());
}

TEST_F(EtcdClientTest, WatchTriesTheAvoidedEndpointLast) {
  // Two names of the one member: the watch goes to the one not avoided.
  const std::string other = absl::StrCat("localhost:", member_->endpoint().substr(10));
  EtcdOptions options;
  options.endpoints = {member_->endpoint(), other};
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(options);
  ASSERT_TRUE(client.ok()) << client.status();
  WatchLog log;
  EtcdWatchRequest request;
  request.key = prefix_;
  request.range_end = PrefixEnd();
  request.avoid_endpoint = member_->endpoint();
  absl::StatusOr<std::unique_ptr<EtcdWatch>> watch = (*client)->Watch(request, log.Callbacks());
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ((*watch)->endpoint(), other);
  request.avoid_endpoint = other;
  watch = (*client)->Watch(request, log.Callbacks());
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ((*watch)->endpoint(), member_->endpoint());
}

// TLS to etcd with client certificates (etcd's --client-cert-auth), as the HA deployment
// runs it: the client and the store connect with a certificate from the cluster's CA, and
// everything else is refused.
class EtcdTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    absl::StatusOr<testing::TlsCerts> certs = testing::MakeTlsCerts(dir_->path());
    if (!certs.ok()) {
      std::fprintf(stderr, "%s\n", certs.status().ToString().c_str());
      return;
    }
    certs_ = new testing::TlsCerts(*certs);
    absl::StatusOr<testing::TlsFiles> client =
        testing::IssueClientCert(*certs_, "confcenterd", "confcenterd", "");
    if (client.ok()) client_ = new testing::TlsFiles(*client);
    member_ = new EtcdMember(certs_);
  }
  static void TearDownTestSuite() {
    delete member_;
    delete client_;
    delete certs_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(certs_, nullptr);
    ASSERT_NE(client_, nullptr);
    ASSERT_TRUE(member_->ready());
  }
  static EtcdOptions Options() {
    EtcdOptions options;
    options.endpoints = {member_->endpoint()};
    options.ca_file = certs_->ca.cert;
    options.cert_file = client_->cert;
    options.key_file = client_->key;
    options.request_timeout = absl::Seconds(2);
    return options;
  }
  static absl::Status TryPut(EtcdOptions options) {
    options.request_timeout = absl::Seconds(1);  // each is refused at the handshake
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(options);
    if (!client.ok()) return client.status();
    return (*client)->Put("/tls/k", "v").status();
  }

  static testing::TempDir* dir_;
  static testing::TlsCerts* certs_;
  static testing::TlsFiles* client_;
  static EtcdMember* member_;
};
testing::TempDir* EtcdTlsTest::dir_ = nullptr;
testing::TlsCerts* EtcdTlsTest::certs_ = nullptr;
testing::TlsFiles* EtcdTlsTest::client_ = nullptr;
EtcdMember* EtcdTlsTest::member_ = nullptr;

TEST_F(EtcdTlsTest, AClientCertificateFromTheClustersCaIsServed) {
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(Options());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Put("/tls/k", "v").ok());
  etcdserverpb::RangeRequest range;
  range.set_key("/tls/k");
  absl::StatusOr<etcdserverpb::RangeResponse> read = (*client)->Range(range);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->kvs_size(), 1);
  EXPECT_EQ(read->kvs(0).value(), "v");
}

TEST_F(EtcdTlsTest, NoCertificateAForeignOneOrPlaintextIsRefused) {
  EtcdOptions no_cert = Options();
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  EXPECT_FALSE(TryPut(no_cert).ok());

  EtcdOptions foreign = Options();
  foreign.cert_file = certs_->foreign_client.cert;
  foreign.key_file = certs_->foreign_client.key;
  EXPECT_FALSE(TryPut(foreign).ok());

  EtcdOptions plaintext = Options();
  plaintext.ca_file.clear();
  plaintext.cert_file.clear();
  plaintext.key_file.clear();
  EXPECT_FALSE(TryPut(plaintext).ok());

  EtcdOptions wrong_ca = Options();
  wrong_ca.ca_file = certs_->foreign_ca.cert;
  EXPECT_FALSE(TryPut(wrong_ca).ok());
}

TEST_F(EtcdTlsTest, TheStoreCommitsAndLoadsOverTls) {
  EtcdStoreOptions options;
  options.client = Options();
  options.prefix = "/tls-store/";
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->LoadAll().ok());
  ChangeSet set;
  set.set_revision(1);
  Change* change = set.add_changes();
  change->set_type(Change::TENANT_PUT);
  change->set_tenant("integration");
  change->mutable_tenant_record()->set_name("integration");
  ASSERT_TRUE((*store)->Commit({set}).ok());
  store->reset();
  store = OpenEtcdStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<LoadedState> loaded = (*store)->LoadAll();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->revision, 1);
  ASSERT_EQ(loaded->tenants.size(), 1u);
}

}  // namespace
}  // namespace confcenter::storage
