// Replica failover of the client library and confctl: the address list (ClientOptions), one
// pick_first channel over it, and a Subscription that moves to the next replica and resumes
// there, against real confcenterd processes on loopback.
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "gtest/gtest.h"
#include "tests/child_process.h"
#include "tests/confctl/confctl_process.h"
#include "tests/test_util.h"
#include "tests/tls_certs.h"

namespace confcenter {
namespace {

using confcenter::testing::ConfctlResult;
using confcenter::testing::FreeLoopbackPort;
using confcenter::testing::RunConfctl;
using confcenter::testing::ScrapeMetric;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;

absl::StatusOr<std::string> TargetOf(const std::string& address) {
  ClientOptions options;
  options.address = address;
  return Client::Target(options);
}

// The error of Target for `address`: its message (empty if it succeeded).
std::string TargetError(const std::string& address) {
  absl::StatusOr<std::string> target = TargetOf(address);
  EXPECT_FALSE(target.ok()) << address << " -> " << *target;
  if (target.ok()) return "";
  EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument) << target.status();
  return std::string(target.status().message());
}

TEST(FailoverAddressTest, OneAddressIsUsedAsItIs) {
  EXPECT_EQ(*TargetOf("127.0.0.1:7070"), "127.0.0.1:7070");
  EXPECT_EQ(*TargetOf("confcenter.corp:7070"), "confcenter.corp:7070");
  EXPECT_EQ(*TargetOf("  dns:///confcenter.svc:7070 "), "dns:///confcenter.svc:7070");
  EXPECT_EQ(*TargetOf("[::1]:7070"), "[::1]:7070");
  EXPECT_EQ(*TargetOf("unix:/run/confcenter.sock"), "unix:/run/confcenter.sock");
}

TEST(FailoverAddressTest, ListBecomesOneIpv4Target) {
  EXPECT_EQ(*TargetOf("127.0.0.1:7070,10.0.0.2:7071"), "ipv4:127.0.0.1:7070,10.0.0.2:7071");
  EXPECT_EQ(*TargetOf(" 127.0.0.1:1 ,\t10.0.0.2:2 , 10.0.0.3:3"),
            "ipv4:127.0.0.1:1,10.0.0.2:2,10.0.0.3:3");
}

TEST(FailoverAddressTest, AddressesFieldWinsOverAddress) {
  ClientOptions options;
  options.address = "ignored.corp:1";
  options.addresses = {"127.0.0.1:1", " 10.0.0.2:2,10.0.0.3:3 "};
  EXPECT_EQ(*Client::Target(options), "ipv4:127.0.0.1:1,10.0.0.2:2,10.0.0.3:3");
  options.addresses = {"dns:///confcenter.svc:7070"};
  EXPECT_EQ(*Client::Target(options), "dns:///confcenter.svc:7070");
}

TEST(FailoverAddressTest, Ipv6LiteralsInBracketsMakeAnIpv6Target) {
  EXPECT_EQ(*TargetOf("[::1]:1,[fd00::2]:2"), "ipv6:[::1]:1,[fd00::2]:2");
  // One resolver takes one family: IPv4 entries become IPv4-mapped IPv6 addresses.
  EXPECT_EQ(*TargetOf("127.0.0.1:1,[::1]:2"), "ipv6:[::ffff:127.0.0.1]:1,[::1]:2");
}

TEST(FailoverAddressTest, BadListsAreErrorsNamingTheField) {
  EXPECT_TRUE(absl::StartsWith(TargetError(""), "address: empty")) << TargetError("");
  EXPECT_TRUE(absl::StartsWith(TargetError("  "), "address: empty"));
  EXPECT_TRUE(absl::StartsWith(TargetError("127.0.0.1:1,,127.0.0.1:2"),
                               "address: entry 2 of \"127.0.0.1:1,,127.0.0.1:2\" is empty"))
      << TargetError("127.0.0.1:1,,127.0.0.1:2");
  EXPECT_TRUE(absl::StartsWith(TargetError("127.0.0.1:1,"), "address: entry 2"));
  EXPECT_TRUE(absl::StartsWith(TargetError(", 127.0.0.1:1"), "address: entry 1"));
  EXPECT_TRUE(absl::StrContains(TargetError("cc-0.corp:7070,cc-1.corp:7070"),
                                "\"cc-0.corp:7070\" is not an IP address"));
  EXPECT_TRUE(absl::StrContains(TargetError("127.0.0.1:1,dns:///cc.svc:7070"),
                                "\"dns:///cc.svc:7070\" is a gRPC target"));
  EXPECT_TRUE(absl::StrContains(TargetError("::1:7070,127.0.0.1:1"), "without [brackets]"));
  EXPECT_TRUE(absl::StrContains(TargetError("127.0.0.1,127.0.0.1:2"), "has no port"));
  EXPECT_TRUE(absl::StrContains(TargetError("127.0.0.1:0,127.0.0.1:2"), "no valid port"));
  EXPECT_TRUE(absl::StrContains(TargetError("127.0.0.1:70000,127.0.0.1:2"), "no valid port"));
  EXPECT_TRUE(absl::StrContains(TargetError("[::1:7070,127.0.0.1:2"), "[IPv6 address]:port"));
  EXPECT_TRUE(absl::StrContains(TargetError("[nonsense]:1,127.0.0.1:2"), "not an IPv6"));

  ClientOptions options;
  options.addresses = {"127.0.0.1:1", " "};
  absl::StatusOr<std::string> target = Client::Target(options);
  ASSERT_FALSE(target.ok());
  EXPECT_TRUE(absl::StartsWith(target.status().message(), "addresses[1]: empty"))
      << target.status();
  options.addresses = {"127.0.0.1:1", "host:2"};
  target = Client::Target(options);
  ASSERT_FALSE(target.ok());
  EXPECT_TRUE(absl::StartsWith(target.status().message(), "addresses[1]: \"host:2\""))
      << target.status();
  // MakeChannel and the Client constructor fail the same way.
  options.addresses = {"127.0.0.1:1", ""};
  EXPECT_EQ(Client::MakeChannel(options).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Client::Create(options).ok());
  Client client(options);
  absl::StatusOr<v1::GetResponse> get = client.Get(v1::GetRequest());
  EXPECT_TRUE(absl::StartsWith(get.status().message(), "addresses[1]: empty")) << get.status();
}

TEST(FailoverAddressTest, TlsOverHostsThatDifferNeedsServerName) {
  ClientOptions options;
  options.address = "127.0.0.1:1,127.0.0.2:2";
  options.credentials.ca_file = "/nonexistent/ca.pem";
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Client::MakeChannel(options);
  ASSERT_FALSE(channel.ok());
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(channel.status().message(), "credentials.server_name: required"))
      << channel.status();
  // With server_name (or one host on several ports) the list passes; the CA file is next.
  options.credentials.server_name = "confcenter.test";
  EXPECT_TRUE(absl::StartsWith(Client::MakeChannel(options).status().message(), "ca_file:"))
      << Client::MakeChannel(options).status();
  options.credentials.server_name.clear();
  options.address = "127.0.0.1:1,127.0.0.1:2";
  EXPECT_TRUE(absl::StartsWith(Client::MakeChannel(options).status().message(), "ca_file:"));
}

// A changed key as a callback saw it.
struct Seen {
  std::string key, value;
  int64_t revision;
  bool operator==(const Seen& o) const {
    return key == o.key && value == o.value && revision == o.revision;
  }
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << s.key << "=" << s.value << "@" << s.revision;
}

class FailoverTest : public ::testing::Test {
 protected:
  // Writes and reads fail at once (no wait_for_ready): the list, not a wait, must carry them.
  static ClientOptions Options(std::vector<std::string> addresses) {
    ClientOptions options;
    options.addresses = std::move(addresses);
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    return options;
  }
  static std::string DeadAddress() {
    const int port = FreeLoopbackPort();  // nothing listens there
    EXPECT_NE(port, 0);
    return "127.0.0.1:" + std::to_string(port);
  }
  static absl::StatusOr<v1::PutResponse> Put(Client* client, const std::string& tenant,
                                             const std::string& key, const std::string& value) {
    v1::PutRequest req;
    req.set_tenant(tenant);
    req.set_service("login");
    req.set_key(key);
    req.set_value(value);
    return client->Put(req);
  }
  static absl::StatusOr<v1::GetResponse> Get(Client* client, const std::string& tenant,
                                             const std::string& key) {
    v1::GetRequest req;
    req.set_tenant(tenant);
    req.set_service("login");
    req.set_key(key);
    return client->Get(req);
  }
  // The subscription's own backoff is the default one (up to 10 s): a reconnect, to the next
  // replica, must end its waits rather than the backoff.
  static std::unique_ptr<Subscription> Follow(Client* client, const std::string& tenant) {
    SubscriptionOptions options;
    options.tenant = tenant;
    options.services = {"login"};
    return Subscription::Start(client->channel(), options);
  }

  TempDir dir_;
};

TEST_F(FailoverTest, DeadFirstAddressThenLiveServerServesReadsWritesAndSubscriptions) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  Client client(Options({DeadAddress(), server.address()}));
  absl::StatusOr<v1::PutResponse> put = Put(&client, "integration", "pool.size", "8");
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<v1::GetResponse> get = Get(&client, "integration", "pool.size");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().value(), "8");

  std::unique_ptr<Subscription> sub = Follow(&client, "integration");
  ASSERT_TRUE(sub->WaitForRevision(put->revision(), absl::Seconds(20))) << sub->last_error();
  EXPECT_EQ(sub->GetInt("login", "pool.size", 0), 8);
  put = Put(&client, "integration", "pool.size", "9");
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE(sub->WaitForRevision(put->revision(), absl::Seconds(20))) << sub->last_error();
  EXPECT_EQ(sub->GetInt("login", "pool.size", 0), 9);

  // The same with the dead address written into `address` as a list.
  ClientOptions listed = Options({});
  listed.address = DeadAddress() + ", " + server.address();
  Client by_address(listed);
  get = Get(&by_address, "integration", "pool.size");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().value(), "9");
}

TEST_F(FailoverTest, MixedIpv4AndIpv6ListReachesTheIpv4Server) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  // ipv6:[::1]:dead,[::ffff:127.0.0.1]:live; [::1] may not even exist on this host.
  ClientOptions options = Options({});
  options.address = "[::1]:" + std::to_string(FreeLoopbackPort()) + "," + server.address();
  ASSERT_TRUE(absl::StartsWith(*Client::Target(options), "ipv6:"));
  Client client(options);
  absl::StatusOr<v1::PutResponse> put = Put(&client, "integration", "k", "v6");
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<v1::GetResponse> get = Get(&client, "integration", "k");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().value(), "v6");
}

TEST_F(FailoverTest, ReadsMoveToTheNextReplicaWhenTheConnectedOneDies) {
  // Two independent servers (own data), so that a read shows which one answered.
  auto a = std::make_unique<ServerProcess>(dir_.path() + "/a");
  ServerProcess b(dir_.path() + "/b");
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b.port(), 0);
  for (auto [server, name] : {std::pair{a.get(), "a"}, std::pair{&b, "b"}}) {
    ClientOptions direct = Options({});
    direct.address = server->address();
    Client writer(direct);
    ASSERT_TRUE(Put(&writer, "integration", "who", name).ok());
  }
  Client client(Options({a->address(), b.address()}));
  absl::StatusOr<v1::GetResponse> get = Get(&client, "integration", "who");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().value(), "a");  // pick_first: the first address that answers
  a->Kill();
  for (int i = 0; i < 3; ++i) {  // after it died: B, within each call's attempts, for good
    get = Get(&client, "integration", "who");
    ASSERT_TRUE(get.ok()) << get.status();
    EXPECT_EQ(get->entry().value(), "b");
  }
}

TEST_F(FailoverTest, TlsOverAListChecksServerNameOnEveryReplica) {
  absl::StatusOr<testing::TlsCerts> certs = testing::MakeTlsCerts(dir_.path());
  ASSERT_TRUE(certs.ok()) << certs.status();
  ServerProcess server(dir_.path() + "/data",
                       {"--tls_cert=" + certs->server.cert, "--tls_key=" + certs->server.key});
  ASSERT_NE(server.port(), 0);
  // Different hosts: the name to check is server_name ("localhost" is in the certificate).
  ClientOptions options =
      Options({"127.0.0.2:" + std::to_string(FreeLoopbackPort()), server.address()});
  options.credentials.ca_file = certs->ca.cert;
  options.credentials.server_name = "localhost";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<v1::PutResponse> put = Put(client->get(), "integration", "k", "tls");
  ASSERT_TRUE(put.ok()) << put.status();
  // One host on two ports: its IP is the name checked, and the certificate holds it.
  options.addresses = {DeadAddress(), server.address()};
  options.credentials.server_name.clear();
  client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<v1::GetResponse> get = Get(client->get(), "integration", "k");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().value(), "tls");
  // A name the certificate does not hold fails the handshake on the live replica too.
  options.credentials.server_name = "elsewhere.test";
  options.deadline = absl::Seconds(2);
  client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  get = Get(client->get(), "integration", "k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable) << get.status();
}

TEST_F(FailoverTest, WriteThatReachesNoReplicaFailsUnavailableAsAConnectFailure) {
  ClientOptions options = Options({DeadAddress(), DeadAddress()});
  options.deadline = absl::Seconds(3);
  Client client(options);
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::PutResponse> put = Put(&client, "integration", "k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable) << put.status();
  // What Client recognizes as "nothing was sent" (and so retries even for a write).
  EXPECT_TRUE(absl::StartsWith(put.status().message(), "failed to connect to all addresses"))
      << put.status();
  EXPECT_LT(absl::Now() - start, options.deadline + absl::Seconds(1));
}

TEST_F(FailoverTest, WriteIsRetriedUntilAReplicaIsUpWhenNothingWasSent) {
  const int port = FreeLoopbackPort();
  ASSERT_NE(port, 0);
  ClientOptions options = Options({DeadAddress(), "127.0.0.1:" + std::to_string(port)});
  options.max_attempts = 1;
  Client once(options);
  absl::StatusOr<v1::PutResponse> put = Put(&once, "integration", "k", "v");
  ASSERT_EQ(put.status().code(), absl::StatusCode::kUnavailable) << put.status();

  // The server starts while the write's attempts fail to connect (nothing sent, so the
  // write may be repeated); one of them reaches it. retry_writes stays off.
  options.max_attempts = 1000;
  options.deadline = absl::Seconds(20);
  Client client(options);
  std::unique_ptr<ServerProcess> server;
  absl::Time serving;
  std::thread start([&] {
    server = std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{},
                                             std::vector<std::string>{}, port);
    serving = absl::Now();
  });
  put = Put(&client, "integration", "k", "v");
  const absl::Time done = absl::Now();
  start.join();
  ASSERT_NE(server->port(), 0);
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<v1::GetResponse> get = Get(&client, "integration", "k");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().revision(), put->revision());  // applied once
  // The retries notice the new server within the channel's backoff (200 ms here), not at
  // gRPC's backup poll (every 5 s), which is all that reads a synchronous client's
  // connection attempts between calls.
  std::printf("write retried: done %lld ms after the server began serving\n",
              static_cast<long long>(absl::ToInt64Milliseconds(done - serving)));
  EXPECT_LT(done - serving, absl::Seconds(4));
}

TEST_F(FailoverTest, SubscriptionMovesToTheNextReplicaAndResumesWithoutGapOrDuplicate) {
  const std::string data_a = dir_.path() + "/a";
  const std::string data_b = dir_.path() + "/b";
  auto a = std::make_unique<ServerProcess>(data_a);
  ASSERT_NE(a->port(), 0);
  const int port_b = FreeLoopbackPort();
  ASSERT_NE(port_b, 0);
  const std::string address_b = "127.0.0.1:" + std::to_string(port_b);
  // B is not started yet: the channel connects to A, the first address that answers.
  Client client(Options({a->address(), address_b}));

  v1::RegisterRequest reg;
  reg.set_tenant("f1");
  ASSERT_TRUE(client.Register(reg).ok());
  absl::StatusOr<v1::PutResponse> put = Put(&client, "f1", "before", "1");
  ASSERT_TRUE(put.ok()) << put.status();

  absl::Mutex mu;
  std::vector<Seen> seen;
  absl::Time first_event;  // of the changes after the kill
  bool after_kill = false;
  std::unique_ptr<Subscription> sub = Follow(&client, "f1");
  sub->OnChange("login", "", /*prefix=*/true, [&](const ConfigChange& c) {
    absl::MutexLock lock(&mu);
    if (after_kill && seen.empty()) first_event = absl::Now();
    seen.push_back({c.key, c.new_value ? c.new_value->value : "<deleted>", c.revision});
  });
  ASSERT_TRUE(sub->WaitForRevision(put->revision(), absl::Seconds(20))) << sub->last_error();
  put = Put(&client, "f1", "on-a", "2");  // an event on A's stream
  ASSERT_TRUE(put.ok()) << put.status();
  const int64_t last_on_a = put->revision();
  ASSERT_TRUE(sub->WaitForRevision(last_on_a, absl::Seconds(20))) << sub->last_error();
  {
    absl::MutexLock lock(&mu);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), (Seen{"on-a", "2", last_on_a}));
    seen.clear();
    after_kill = true;
  }

  // A crashes after its last write; B starts on a copy of its data (the shared revision
  // space the etcd engine gives replicas), on the port the client was given.
  const absl::Time kill = absl::Now();
  a->Kill();
  // The stream sees the loss and retries while no replica answers (B is down too): the
  // channel has been through its reconnect backoff on both addresses before B starts.
  const absl::Time bound = absl::Now() + absl::Seconds(10);
  while (!absl::StartsWith(sub->last_error().message(), "failed to connect to all addresses") &&
         absl::Now() < bound) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(sub->stale());
  ASSERT_TRUE(absl::StartsWith(sub->last_error().message(), "failed to connect to all addresses"))
      << sub->last_error();
  std::filesystem::copy(data_a, data_b, std::filesystem::copy_options::recursive);
  ServerProcess b(data_b, {}, {}, port_b);
  ASSERT_EQ(b.port(), port_b);
  const absl::Time b_serving = absl::Now();

  // The stream resumes on B from the last revision it got: caught up, nothing new yet.
  ASSERT_TRUE(sub->WaitForRevision(last_on_a, absl::Seconds(20))) << sub->last_error();
  const absl::Time resumed = absl::Now();
  EXPECT_EQ(sub->revision(), last_on_a);
  // Within the channel's reconnect backoff (200 ms here), not the subscription's (up to
  // 10 s by now) nor gRPC's 5 s backup poll.
  EXPECT_LT(resumed - b_serving, absl::Seconds(4));

  // Every later change, written through B, arrives exactly once, as an event of its own
  // revision (a resync would bring them as one snapshot's difference).
  ClientOptions b_only = Options({});
  b_only.address = b.address();
  Client writer(b_only);
  std::vector<Seen> want;
  for (int i = 0; i < 5; ++i) {
    const std::string key = i % 2 == 0 ? "on-b" : "on-a";
    const std::string value = "b" + std::to_string(i);
    put = Put(&writer, "f1", key, value);
    ASSERT_TRUE(put.ok()) << put.status();
    want.push_back({key, value, put->revision()});
  }
  ASSERT_TRUE(sub->WaitForRevision(want.back().revision, absl::Seconds(20))) << sub->last_error();
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen, want);
  }
  EXPECT_EQ(ScrapeMetric(b.admin_port(), "confcenter_resyncs_total"), 0);
  EXPECT_EQ(sub->GetString("login", "on-b", ""), "b4");
  EXPECT_EQ(sub->GetString("login", "before", ""), "1");

  // Reads through the list now come from B.
  absl::StatusOr<v1::GetResponse> get = Get(&client, "f1", "on-a");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->entry().value(), "b3");

  absl::MutexLock lock(&mu);
  std::printf(
      "failover: kill -> B serving %lld ms (copy + start), B serving -> stream resumed on B "
      "%lld ms, kill -> first event on B %lld ms\n",
      static_cast<long long>(absl::ToInt64Milliseconds(b_serving - kill)),
      static_cast<long long>(absl::ToInt64Milliseconds(resumed - b_serving)),
      static_cast<long long>(absl::ToInt64Milliseconds(first_event - kill)));
  RecordProperty("reconnect_ms", static_cast<int>(absl::ToInt64Milliseconds(resumed - b_serving)));
}

TEST_F(FailoverTest, ConfctlWithDeadThenLiveAddressWorks) {
  ServerProcess server(dir_.path() + "/data");
  ASSERT_NE(server.port(), 0);
  const std::string list = DeadAddress() + "," + server.address();
  ConfctlResult put =
      RunConfctl({"--address", list, "put", "integration", "login", "pool.size", "12"}, "");
  ASSERT_EQ(put.exit_code, 0) << put.err;
  ConfctlResult get =
      RunConfctl({"--server", list, "-o", "json", "get", "integration", "login", "pool.size"}, "");
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(absl::StrContains(get.out, "\"12\"")) << get.out;
  // $CONFCENTER_ADDR takes the same list.
  get = RunConfctl({"-o", "json", "get", "integration", "login", "pool.size"}, list);
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_TRUE(absl::StrContains(get.out, "\"12\"")) << get.out;
  // watch connects through the list too.
  ConfctlResult watch = RunConfctl({"--address", list, "-o", "json", "watch", "integration",
                                    "--from-revision", "0", "--count", "1"},
                                   "", "", std::chrono::seconds(20));
  EXPECT_EQ(watch.exit_code, 0) << watch.err;
  EXPECT_TRUE(absl::StrContains(watch.out, "pool.size")) << watch.out;

  ConfctlResult bad =
      RunConfctl({"--address", "127.0.0.1:1,,127.0.0.1:2", "get", "integration", "login", "k"}, "");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "--server: address: entry 2")) << bad.err;
}

}  // namespace
}  // namespace confcenter
