// High availability on etcd, end to end: real etcd members (tests/etcd_cluster.h) and real
// confcenterd replicas on the etcd engine, over gRPC on loopback. Members and replicas are
// killed, stopped and paused while clients write and subscribe; nothing acknowledged may be
// lost, nothing applied twice, and every replica must agree on every revision.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "confcenter/client.h"
#include "confcenter/subscription.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/instances.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "storage/etcd_client.h"
#include "storage/key_codec.h"
#include "tests/child_process.h"
#include "tests/etcd_cluster.h"
#include "tests/ha/linearizability.h"
#include "tests/test_util.h"

namespace confcenter {
namespace {

using testing::ContinueProcess;
using testing::EtcdCluster;
using testing::Eventually;
using testing::ServerProcess;
using testing::StopProcess;
using testing::TempDir;

constexpr char kTenant[] = "integration";
constexpr char kService[] = "svc";

// A replica of confcenterd on the cluster, under one prefix shared by the replicas of a test.
std::unique_ptr<ServerProcess> StartReplica(const TempDir& dir, const std::string& name,
                                            const std::string& endpoints,
                                            std::vector<std::string> extra = {}) {
  std::vector<std::string> flags = {"--store=etcd",
                                    "--etcd_endpoints=" + endpoints,
                                    "--etcd_prefix=/ha/",
                                    "--etcd_request_timeout=2s",
                                    "--etcd_follow_timeout=2s",
                                    "--progress_interval=1s"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return std::make_unique<ServerProcess>(dir.path() + "/" + name, flags);
}

std::unique_ptr<v1::ConfigService::Stub> Stub(const ServerProcess& server) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::ConfigService::NewStub(
      grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
}

struct PutOutcome {
  grpc::Status status;
  int64_t revision = 0;
};

PutOutcome Put(v1::ConfigService::Stub& stub, const std::string& key, const std::string& value,
               std::optional<int64_t> expected = std::nullopt,
               absl::Duration timeout = absl::Seconds(15)) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::PutRequest req;
  req.set_tenant(kTenant);
  req.set_service(kService);
  req.set_key(key);
  req.set_value(value);
  if (expected) req.set_expected_revision(*expected);
  v1::PutResponse resp;
  PutOutcome out;
  out.status = stub.Put(&ctx, req, &resp);
  out.revision = resp.revision();
  return out;
}

// Get at or after `min_revision`: (status, value, entry revision).
struct GetOutcome {
  grpc::Status status;
  std::string value;
  int64_t mod_revision = 0;
  int64_t revision = 0;
};
GetOutcome Get(v1::ConfigService::Stub& stub, const std::string& key, int64_t min_revision = 0) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
  v1::GetRequest req;
  req.set_tenant(kTenant);
  req.set_service(kService);
  req.set_key(key);
  if (min_revision > 0) req.set_min_revision(min_revision);
  v1::GetResponse resp;
  GetOutcome out;
  out.status = stub.Get(&ctx, req, &resp);
  out.value = resp.entry().value();
  out.mod_revision = resp.entry().revision();
  out.revision = resp.revision();
  return out;
}

// GET /readyz on the replica's admin port: the HTTP status, or -1 if it did not answer.
int Readyz(const ServerProcess& server) {
  httplib::Client http("127.0.0.1", server.admin_port());
  http.set_connection_timeout(1);
  http.set_read_timeout(2);
  httplib::Result res = http.Get("/readyz");
  return res ? res->status : -1;
}

// GET /readyz's status and text, for failure messages.
std::string ReadyzText(const ServerProcess& server) {
  httplib::Client http("127.0.0.1", server.admin_port());
  http.set_read_timeout(2);
  httplib::Result res = http.Get("/readyz");
  return res ? absl::StrCat(res->status, " ", res->body) : "no answer";
}

class HaTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.ok()); }
  TempDir dir_;
  EtcdCluster cluster_{3};
};

TEST_F(HaTest, KillingAnEtcdMemberDuringWritesThroughTwoReplicasLosesNothingAcknowledged) {
  auto a = StartReplica(dir_, "a", cluster_.endpoints());
  auto b = StartReplica(dir_, "b", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b->port(), 0);

  absl::Mutex mu;
  std::map<std::string, std::pair<std::string, int64_t>> acked;  // key -> (value, revision)
  int64_t max_acked = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 6; ++w) {
    writers.emplace_back([&, w] {
      auto stub = Stub(w % 2 == 0 ? *a : *b);
      for (int i = 0; i < 400 && !stop; ++i) {
        const std::string key = absl::StrCat("w", w, "-", i);
        PutOutcome put = Put(*stub, key, key, std::nullopt, absl::Seconds(5));
        if (!put.status.ok()) {
          if (failed++ < 5 || failed % 500 == 0) {
            std::printf("write %s through %s failed: %d %s\n", key.c_str(), w % 2 == 0 ? "a" : "b",
                        put.status.error_code(), put.status.error_message().c_str());
          }
          continue;
        }
        absl::MutexLock lock(&mu);
        acked[key] = {key, put.revision};
        max_acked = std::max(max_acked, put.revision);
      }
    });
  }
  auto acked_count = [&] {
    absl::MutexLock lock(&mu);
    return acked.size();
  };
  ASSERT_TRUE(Eventually([&] { return acked_count() >= 100; }, absl::Seconds(30)));
  const int leader = cluster_.WaitForLeader();
  ASSERT_GE(leader, 0);
  cluster_.Kill(leader);
  const size_t at_kill = acked_count();
  // Writes go on without the old leader, once the others have elected a new one.
  EXPECT_TRUE(Eventually([&] { return acked_count() >= at_kill + 100; }, absl::Seconds(30)))
      << "writes did not go on after the leader died; etcd's leader now: " << cluster_.leader()
      << "; a: " << ReadyzText(*a) << "; b: " << ReadyzText(*b);
  ASSERT_TRUE(cluster_.Restart(leader));
  for (std::thread& t : writers) t.join();
  std::printf("acknowledged %zu writes, %d failed while the leader was down\n", acked.size(),
              failed.load());

  // Every acknowledged write is on both replicas, at the revision it was acknowledged with.
  for (ServerProcess* replica : {a.get(), b.get()}) {
    auto stub = Stub(*replica);
    for (const auto& [key, written] : acked) {
      GetOutcome got = Get(*stub, key, max_acked);
      ASSERT_TRUE(got.status.ok()) << key << ": " << got.status.error_message();
      EXPECT_EQ(got.value, written.first) << key;
      EXPECT_EQ(got.mod_revision, written.second) << key;
    }
  }
  // Revisions are unique: no two acknowledged writes share one.
  std::set<int64_t> revisions;
  for (const auto& [key, written] : acked) revisions.insert(written.second);
  EXPECT_EQ(revisions.size(), acked.size());
}

TEST_F(HaTest, WithoutQuorumWritesFailUnavailableReadsGoOnAndAllRecovers) {
  auto a = StartReplica(dir_, "a", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  auto stub = Stub(*a);
  PutOutcome before = Put(*stub, "k", "before");
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();
  ASSERT_EQ(Readyz(*a), 200);

  const int leader = cluster_.WaitForLeader();
  ASSERT_GE(leader, 0);
  const int first = (leader + 1) % 3, second = (leader + 2) % 3;
  cluster_.Stop(first);
  cluster_.Stop(second);

  const absl::Time start = absl::Now();
  PutOutcome lost = Put(*stub, "k", "during", std::nullopt, absl::Seconds(30));
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::UNAVAILABLE) << lost.status.error_message();
  std::printf("a write without quorum failed in %s: %s\n",
              absl::FormatDuration(absl::Now() - start).c_str(),
              lost.status.error_message().c_str());
  // Reads are served from memory.
  GetOutcome read = Get(*stub, "k");
  EXPECT_TRUE(read.status.ok()) << read.status.error_message();
  EXPECT_EQ(read.value, "before");
  EXPECT_TRUE(Eventually([&] { return Readyz(*a) == 503; }, absl::Seconds(15)))
      << "the replica still says it is ready without etcd";

  ASSERT_TRUE(cluster_.Restart(first));
  ASSERT_TRUE(cluster_.Restart(second));
  EXPECT_TRUE(Eventually([&] { return Readyz(*a) == 200; }, absl::Seconds(15)))
      << "the replica did not turn ready again";
  PutOutcome after = Put(*stub, "k", "after");
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
  // The write that failed was not applied later behind the client's back... unless the
  // store said it might be: then it must be at most once, before "after".
  EXPECT_EQ(Get(*stub, "k", after.revision).value, "after");
}

TEST_F(HaTest, SubscribersOfAKilledReplicaResumeOnAnotherWithEveryChangeExactlyOnce) {
  auto a = StartReplica(dir_, "a", cluster_.endpoints());
  auto b = StartReplica(dir_, "b", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b->port(), 0);

  ClientOptions options;
  options.addresses = {a->address(), b->address()};
  options.initial_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(500);
  constexpr int kSubscribers = 50;
  struct Seen {
    absl::Mutex mu;
    std::vector<std::pair<std::string, int64_t>> changes;  // (value, revision)
    absl::Time first_after_kill = absl::InfiniteFuture();
  };
  std::vector<std::unique_ptr<Seen>> seen;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  std::atomic<int64_t> killed_at_nanos{0};
  for (int i = 0; i < kSubscribers; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Client::MakeChannel(options);
    ASSERT_TRUE(channel.ok()) << channel.status();
    SubscriptionOptions sub;
    sub.tenant = kTenant;
    sub.services = {kService};
    sub.initial_backoff = absl::Milliseconds(50);
    sub.max_backoff = absl::Milliseconds(500);
    seen.push_back(std::make_unique<Seen>());
    Seen* s = seen.back().get();
    subscriptions.push_back(Subscription::Start(*channel, sub));
    subscriptions.back()->OnChange(
        kService, "k", false, [s, &killed_at_nanos](const ConfigChange& c) {
          absl::MutexLock lock(&s->mu);
          s->changes.emplace_back(c.new_value ? c.new_value->value : "", c.revision);
          if (killed_at_nanos.load() != 0 && s->first_after_kill == absl::InfiniteFuture()) {
            s->first_after_kill = absl::Now();
          }
        });
  }
  // Every subscriber has its first snapshot (of revision 1, before any write) from A.
  for (auto& s : subscriptions) ASSERT_TRUE(s->WaitForRevision(1, absl::Seconds(20)));
  auto writer = Stub(*b);
  constexpr int kWrites = 200;
  std::vector<int64_t> revisions;
  for (int i = 1; i <= kWrites; ++i) {
    PutOutcome put = Put(*writer, "k", absl::StrCat(i));
    ASSERT_TRUE(put.status.ok()) << put.status.error_message();
    revisions.push_back(put.revision);
    if (i == kWrites / 2) {
      // Every subscriber has the first half from A before A dies.
      for (auto& s : subscriptions)
        ASSERT_TRUE(s->WaitForRevision(put.revision, absl::Seconds(20)));
      killed_at_nanos = absl::GetCurrentTimeNanos();
      a->Kill();
    }
  }
  const absl::Time killed_at = absl::FromUnixNanos(killed_at_nanos.load());
  std::vector<double> failover_ms;
  for (int i = 0; i < kSubscribers; ++i) {
    ASSERT_TRUE(subscriptions[i]->WaitForRevision(revisions.back(), absl::Seconds(30)))
        << "subscriber " << i << " did not resume: " << subscriptions[i]->last_error();
    absl::MutexLock lock(&seen[i]->mu);
    std::vector<std::pair<std::string, int64_t>> expected;
    for (int w = 1; w <= kWrites; ++w) expected.emplace_back(absl::StrCat(w), revisions[w - 1]);
    EXPECT_EQ(seen[i]->changes, expected) << "subscriber " << i;
    failover_ms.push_back(absl::ToDoubleMilliseconds(seen[i]->first_after_kill - killed_at));
  }
  std::sort(failover_ms.begin(), failover_ms.end());
  std::printf(
      "failover (kill -9 of the replica -> first event on the other), %d subscribers: "
      "p50 %.0f ms, p99 %.0f ms\n",
      kSubscribers, failover_ms[failover_ms.size() / 2],
      failover_ms[failover_ms.size() * 99 / 100]);
  // They resumed; none had to start over from a snapshot: the replicas share one store
  // epoch, which the subscribers sent with their resume points.
  EXPECT_EQ(testing::ScrapeMetric(b->admin_port(), "confcenter_resyncs_total"), 0);
  EXPECT_FALSE(subscriptions[0]->epoch().empty());
}

v1::SubscribeResponse FirstMessageOfResume(const ServerProcess& server, int64_t start_revision,
                                           const std::string& epoch) {
  return testing::FirstMessageOfResume(server.Channel(), kTenant, kService, start_revision, epoch);
}

// etcd's own disaster recovery (snapshot save, then snapshot restore) takes the store back in
// time just like confctl restore does. Restored as etcd's guide does it (same token and peer
// URLs) the cluster may even keep its cluster id, so the documented procedure starts the
// first replica with --new_epoch: a subscriber's resume point from before the restore then
// gets a resync snapshot, not a replay of the restored store's later writes.
TEST_F(HaTest, AnEtcdSnapshotRestoreStartsANewEpochSoOldResumePointsResync) {
  auto a = StartReplica(dir_, "a", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  auto writer = Stub(*a);
  ASSERT_TRUE(Put(*writer, "k", "1").status.ok());
  const std::string snapshot = dir_.path() + "/etcd.snapshot";
  ASSERT_TRUE(cluster_.SaveSnapshot(0, snapshot));
  ASSERT_TRUE(Put(*writer, "k", "2").status.ok());
  PutOutcome lost = Put(*writer, "lost", "after the snapshot");
  ASSERT_TRUE(lost.status.ok()) << lost.status.error_message();
  const int64_t resume_point = lost.revision;
  const v1::SubscribeResponse before = FirstMessageOfResume(*a, resume_point, "");
  ASSERT_EQ(before.kind(), v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS);
  const std::string old_epoch = before.epoch();
  ASSERT_FALSE(old_epoch.empty());
  a->Kill();

  ASSERT_TRUE(cluster_.RestoreFromSnapshot(snapshot));
  auto b = StartReplica(dir_, "b", cluster_.endpoints(), {"--new_epoch"});
  ASSERT_NE(b->port(), 0);
  auto restored = Stub(*b);
  int64_t head = 0;
  for (int i = 0; i < 3; ++i) {
    PutOutcome put = Put(*restored, "k", absl::StrCat("restored-", i));
    ASSERT_TRUE(put.status.ok()) << put.status.error_message();
    head = put.revision;
  }
  ASSERT_GT(head, resume_point) << "the restored store counts past the old resume point";

  // Control: without the epoch the old resume point is replayed as if nothing had happened.
  EXPECT_EQ(FirstMessageOfResume(*b, resume_point, "").kind(), v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
  const v1::SubscribeResponse resync = FirstMessageOfResume(*b, resume_point, old_epoch);
  EXPECT_EQ(resync.kind(), v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
  EXPECT_TRUE(resync.resync());
  EXPECT_EQ(resync.revision(), head);
  EXPECT_FALSE(resync.epoch().empty());
  EXPECT_NE(resync.epoch(), old_epoch);
  // "lost" was written after the snapshot: not in the restored view.
  for (const v1::ResolvedEntry& entry : resync.entries()) EXPECT_NE(entry.key(), "lost");
  // A second replica started afterwards (without the flag) shares the new epoch: a resume
  // from the first one's stream is a resume there too.
  auto c = StartReplica(dir_, "c", cluster_.endpoints());
  ASSERT_NE(c->port(), 0);
  const v1::SubscribeResponse on_c = FirstMessageOfResume(*c, head, resync.epoch());
  EXPECT_EQ(on_c.kind(), v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS);
  EXPECT_EQ(on_c.epoch(), resync.epoch());
}

TEST_F(HaTest, ConcurrentWritesToTheSameKeysThroughTwoReplicasAreLinearizable) {
  auto a = StartReplica(dir_, "a", cluster_.endpoints());
  auto b = StartReplica(dir_, "b", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b->port(), 0);
  const absl::Time origin = absl::Now();
  auto now = [origin] { return absl::ToInt64Nanoseconds(absl::Now() - origin); };
  // The highest revision any client has seen acknowledged: a read asks the replica for at
  // least that (min_revision), which is what makes a read through a lagging replica current.
  std::atomic<int64_t> seen_revision{0};
  absl::Mutex mu;
  std::vector<testing::ha::Op> history;
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&, c] {
      auto stub = Stub(c % 2 == 0 ? *a : *b);
      std::mt19937 random(c);
      std::map<std::string, int64_t> last_read;  // key -> mod revision this client last saw
      for (int i = 0; i < 120; ++i) {
        testing::ha::Op op;
        op.client = c;
        op.key = absl::StrCat("k", random() % 3);
        const int kind = static_cast<int>(random() % 3);
        op.call = now();
        if (kind == 0) {
          op.kind = testing::ha::Op::kGet;
          GetOutcome got = Get(*stub, op.key, seen_revision.load());
          op.ret = now();
          if (got.status.ok()) {
            op.exists = true;
            op.value = got.value;
            op.rev = got.mod_revision;
            last_read[op.key] = got.mod_revision;
          } else if (got.status.error_code() == grpc::StatusCode::NOT_FOUND) {
            op.exists = false;
            last_read[op.key] = 0;
          } else {
            op.ok = false;
          }
        } else {
          op.kind = kind == 1 ? testing::ha::Op::kPut : testing::ha::Op::kCasPut;
          op.value = absl::StrCat(c, "-", i);
          std::optional<int64_t> expected;
          if (kind == 2) {
            op.expected = last_read.count(op.key) ? last_read[op.key] : 0;
            expected = op.expected;
          }
          PutOutcome put = Put(*stub, op.key, op.value, expected);
          if (put.status.ok()) {
            // Published before the return is recorded, so a read called after this write
            // returned asks for at least its revision.
            int64_t prev = seen_revision.load();
            while (prev < put.revision &&
                   !seen_revision.compare_exchange_weak(prev, put.revision)) {
            }
          }
          op.ret = now();
          if (put.status.ok()) {
            op.rev = put.revision;
          } else if (kind == 2 &&
                     put.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
            op.ok = false;
          } else {
            op.ret = testing::ha::kUnknownReturn;
          }
        }
        absl::MutexLock lock(&mu);
        history.push_back(op);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  std::string why;
  EXPECT_TRUE(testing::ha::CheckLinearizable(history, &why)) << why;
  // One serial order: every acknowledged write has its own revision.
  std::set<int64_t> revisions;
  int writes = 0;
  for (const testing::ha::Op& op : history) {
    if (op.kind != testing::ha::Op::kGet && op.ok && op.ret != testing::ha::kUnknownReturn) {
      ++writes;
      revisions.insert(op.rev);
    }
  }
  EXPECT_EQ(static_cast<int>(revisions.size()), writes);
  const double conflicts_a =
      testing::ScrapeMetric(a->admin_port(), "confcenter_store_commit_conflicts_total");
  const double conflicts_b =
      testing::ScrapeMetric(b->admin_port(), "confcenter_store_commit_conflicts_total");
  EXPECT_GE(conflicts_a, 0) << "a does not export confcenter_store_commit_conflicts_total";
  EXPECT_GE(conflicts_b, 0) << "b does not export confcenter_store_commit_conflicts_total";
  const double conflicts = conflicts_a + conflicts_b;
  std::printf(
      "%zu operations, %d acknowledged writes, %.0f commits planned again after a "
      "conflict, checked linearizable\n",
      history.size(), writes, conflicts);
}

TEST_F(HaTest, AReplicaCutOffFromEtcdTurnsNotReadyAndCatchesUpWhenBack) {
  // a talks to member 0 only; b to every member.
  auto a = StartReplica(dir_, "a", cluster_.endpoint(0));
  auto b = StartReplica(dir_, "b", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b->port(), 0);
  ASSERT_TRUE(Eventually([&] { return Readyz(*a) == 200; }, absl::Seconds(10)));
  cluster_.Pause(0);
  EXPECT_TRUE(Eventually([&] { return Readyz(*a) == 503; }, absl::Seconds(10)))
      << "a replica whose etcd member hangs still says it is ready";
  auto stub_a = Stub(*a);
  PutOutcome refused = Put(*stub_a, "k", "through-a", std::nullopt, absl::Seconds(20));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.status.error_message();
  // b goes on meanwhile (the two other members keep a quorum). b's watch may have been on
  // the paused member too: then b refuses writes (UNAVAILABLE, "retry") until its watch has
  // moved to another member, as a client would see it; it must get there by itself.
  auto stub_b = Stub(*b);
  int64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    PutOutcome put;
    ASSERT_TRUE(Eventually(
        [&] {
          put = Put(*stub_b, absl::StrCat("b", i), "x");
          return put.status.error_code() != grpc::StatusCode::UNAVAILABLE;
        },
        absl::Seconds(15)))
        << "b did not move off the paused member: " << put.status.error_message();
    ASSERT_TRUE(put.status.ok()) << put.status.error_message();
    last = put.revision;
  }
  cluster_.Resume(0);
  EXPECT_TRUE(Eventually([&] { return Readyz(*a) == 200; }, absl::Seconds(15)))
      << "the replica did not recover by itself";
  GetOutcome got = Get(*stub_a, "b19", last);
  EXPECT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_TRUE(Put(*stub_a, "k", "through-a-again").status.ok());
}

// Instances on both replicas: ListInstances and WaitApplied through either answer for the
// cluster, a hanging instance on one replica is named by the other, and a replica that cannot
// be asked is named instead of being silently left out.
TEST_F(HaTest, InstancesOfEveryReplicaAreListedAndWaitedForThroughAnyReplica) {
  auto a = StartReplica(dir_, "a", cluster_.endpoints());
  auto b = StartReplica(dir_, "b", cluster_.endpoints());
  ASSERT_NE(a->port(), 0);
  ASSERT_NE(b->port(), 0);
  absl::Notification release;
  absl::Cleanup release_on_exit = [&] {
    if (!release.HasBeenNotified()) release.Notify();
  };
  std::vector<std::unique_ptr<Subscription>> instances;
  // 3 instances on a (one of them hangs on "hang"), 2 on b.
  for (int i = 0; i < 5; ++i) {
    SubscriptionOptions sub;
    sub.tenant = kTenant;
    sub.services = {kService};
    sub.instance.id = absl::StrCat("svc-", i);
    sub.initial_backoff = absl::Milliseconds(50);
    sub.max_backoff = absl::Milliseconds(500);
    instances.push_back(Subscription::Start(i < 3 ? a->Channel() : b->Channel(), sub));
    instances.back()->OnChange(kService, "k", false, [&release, i](const ConfigChange& c) {
      if (i == 0 && c.new_value && c.new_value->value == "hang") release.WaitForNotification();
    });
  }
  ClientOptions through_b;
  through_b.address = b->address();
  Client client_b(through_b);
  auto list = [&](Client& client) {
    v1::ListInstancesRequest request;
    request.set_tenant(kTenant);
    absl::StatusOr<v1::ListInstancesResponse> listed = client.ListInstances(request);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? *listed : v1::ListInstancesResponse();
  };
  auto wait_applied = [&](Client& client, int64_t revision, absl::Duration timeout) {
    v1::WaitAppliedRequest request;
    request.set_tenant(kTenant);
    request.set_revision(revision);
    request.mutable_timeout()->set_seconds(absl::ToInt64Seconds(timeout));
    absl::StatusOr<v1::WaitAppliedResponse> answer = client.WaitApplied(request);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : v1::WaitAppliedResponse();
  };
  // Every instance is listed through b, each with the replica that holds its stream.
  v1::ListInstancesResponse listed;
  ASSERT_TRUE(Eventually(
      [&] {
        listed = list(client_b);
        if (listed.instances_size() != 5) return false;
        for (const v1::Instance& i : listed.instances()) {
          if (!i.current()) return false;
        }
        return true;
      },
      absl::Seconds(20)))
      << listed.DebugString();
  std::map<std::string, int> per_replica;
  for (const v1::Instance& i : listed.instances()) ++per_replica[i.replica()];
  ASSERT_EQ(per_replica.size(), 2u);
  std::vector<int> counts;
  for (const auto& [replica, count] : per_replica) counts.push_back(count);
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<int>{2, 3}));

  // A write through a, waited for through b: every instance on both replicas applied it.
  auto stub_a = Stub(*a);
  PutOutcome put = Put(*stub_a, "k", "v1");
  ASSERT_TRUE(put.status.ok()) << put.status.error_message();
  v1::WaitAppliedResponse applied = wait_applied(client_b, put.revision, absl::Seconds(20));
  EXPECT_TRUE(applied.all_applied());
  EXPECT_EQ(applied.instances(), 5);
  EXPECT_EQ(applied.unreachable_replicas_size(), 0);
  // A revision no replica has written is refused, naming the field (the store's head decides).
  v1::WaitAppliedRequest ahead;
  ahead.set_tenant(kTenant);
  ahead.set_revision(put.revision + 1000);
  absl::StatusOr<v1::WaitAppliedResponse> refused = client_b.WaitApplied(ahead);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("revision:"), std::string::npos) << refused.status();

  // An instance on a hangs: b names it, with a's replica id.
  put = Put(*stub_a, "k", "hang");
  ASSERT_TRUE(put.status.ok()) << put.status.error_message();
  v1::WaitAppliedResponse late = wait_applied(client_b, put.revision, absl::Seconds(3));
  EXPECT_FALSE(late.all_applied());
  EXPECT_EQ(late.instances(), 5);
  ASSERT_EQ(late.laggards_size(), 1);
  EXPECT_EQ(late.laggards(0).info().instance_id(), "svc-0");
  EXPECT_EQ(per_replica.count(late.laggards(0).replica()), 1u);
  release.Notify();
  EXPECT_TRUE(wait_applied(client_b, put.revision, absl::Seconds(20)).all_applied());

  // Another replica's call proves itself with the store's peer secret, for local answers only;
  // a wrong secret is refused.
  storage::EtcdOptions etcd_options;
  etcd_options.endpoints = {cluster_.endpoint(0)};
  absl::StatusOr<std::unique_ptr<storage::EtcdClient>> etcd =
      storage::EtcdClient::Open(etcd_options);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  etcdserverpb::RangeRequest range;
  range.set_key("/ha/meta/peer_secret");
  absl::StatusOr<etcdserverpb::RangeResponse> secret = (*etcd)->Range(range);
  ASSERT_TRUE(secret.ok() && secret->kvs_size() == 1) << secret.status();
  auto instance_stub = v1::InstanceService::NewStub(b->Channel());
  auto peer_list = [&](const std::string& given, bool local, v1::ListInstancesResponse* out) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-confcenter-peer", given);
    v1::ListInstancesRequest request;
    request.set_tenant(kTenant);
    request.set_replica_local(local);
    return instance_stub->ListInstances(&ctx, request, out);
  };
  v1::ListInstancesResponse local;
  grpc::Status status = peer_list(secret->kvs(0).value(), true, &local);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(local.instances_size(), 2);  // b's own
  EXPECT_EQ(peer_list("not-the-secret", true, &local).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(peer_list(secret->kvs(0).value(), false, &local).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // a stops answering (SIGSTOP): b lists its own instances and names a as unreachable, and a
  // wait through b cannot claim that every instance applied.
  auto stub_b = Stub(*b);
  put = Put(*stub_b, "k", "v3");
  ASSERT_TRUE(put.status.ok()) << put.status.error_message();
  ASSERT_TRUE(StopProcess(a->pid()));
  absl::Cleanup resume_a = [&] { ContinueProcess(a->pid()); };
  v1::ListInstancesResponse partial = list(client_b);
  EXPECT_EQ(partial.instances_size(), 2);
  ASSERT_EQ(partial.unreachable_replicas_size(), 1);
  EXPECT_EQ(partial.unreachable_replicas(0).address(), a->address());
  v1::WaitAppliedResponse unsure = wait_applied(client_b, put.revision, absl::Seconds(3));
  EXPECT_FALSE(unsure.all_applied());
  ASSERT_EQ(unsure.unreachable_replicas_size(), 1);
  EXPECT_EQ(unsure.unreachable_replicas(0).address(), a->address());
}

// A Subscribe stream read on a thread of its own: every message it got, in order.
class StreamRecorder {
 public:
  StreamRecorder(const ServerProcess& server, const std::string& tenant,
                 const std::string& service) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = v1::WatchService::NewStub(
        grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), args));
    v1::SubscribeRequest request;
    request.set_tenant(tenant);
    request.add_services(service);
    reader_ = stub_->Subscribe(&ctx_, request);
    thread_ = std::thread([this] {
      v1::SubscribeResponse message;
      while (reader_->Read(&message)) {
        absl::MutexLock lock(&mu_);
        messages_.push_back(message);
      }
    });
  }
  ~StreamRecorder() {
    ctx_.TryCancel();
    thread_.join();
  }
  std::vector<v1::SubscribeResponse> messages() const {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  // The value of `key` in the view the messages so far build (a resync snapshot replaces it).
  std::optional<std::string> ValueOf(const std::string& key) const {
    std::map<std::string, std::string> view;
    for (const v1::SubscribeResponse& m : messages()) {
      if (m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT) {
        if (m.resync()) view.clear();
        for (const auto& e : m.entries()) view[e.key()] = e.value();
      }
      for (const auto& e : m.events()) {
        if (e.type() == v1::WatchEvent::TYPE_PUT) {
          view[e.key()] = e.value();
        } else {
          view.erase(e.key());
        }
      }
    }
    auto it = view.find(key);
    if (it == view.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::unique_ptr<v1::WatchService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  mutable absl::Mutex mu_;
  std::vector<v1::SubscribeResponse> messages_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST_F(HaTest, AReplicaBehindACompactionReloadsAndResyncsItsSubscribersWithoutASilentGap) {
  // Both keep 5 revisions of change log beyond the head.
  const std::vector<std::string> short_log = {"--log_retention_revisions=5",
                                              "--log_retention_age=0s"};
  auto b = StartReplica(dir_, "b", cluster_.endpoints(), short_log);
  ASSERT_NE(b->port(), 0);
  auto a = StartReplica(dir_, "a", cluster_.endpoints(), short_log);
  ASSERT_NE(a->port(), 0);
  auto stub_a = Stub(*a);
  auto stub_b = Stub(*b);
  PutOutcome first = Put(*stub_b, "k", "v0");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_TRUE(Get(*stub_a, "k", first.revision).status.ok());
  StreamRecorder stream(*a, kTenant, kService);
  ASSERT_TRUE(Eventually([&] { return stream.ValueOf("k") == "v0"; }, absl::Seconds(10)));

  // a hangs (SIGSTOP) while b writes more than etcd buffers for a's watch, trims the change
  // log, and etcd compacts its own history past everything a has seen.
  ASSERT_TRUE(StopProcess(a->pid()));
  // Whatever fails below, a must run again to be stopped at the end.
  absl::Cleanup resume_a = [pid = a->pid()] { ContinueProcess(pid); };
  const std::string big(8 << 10, 'x');
  int64_t last = 0;
  for (int i = 1; i <= 600; ++i) {
    PutOutcome put =
        Put(*stub_b, i % 3 == 0 ? "k" : absl::StrCat("other", i % 50), absl::StrCat("v", i, big));
    ASSERT_TRUE(put.status.ok()) << put.status.error_message();
    last = put.revision;
  }
  storage::EtcdOptions etcd;
  etcd.endpoints = {cluster_.endpoint(0)};
  absl::StatusOr<std::unique_ptr<storage::EtcdClient>> raw = storage::EtcdClient::Open(etcd);
  ASSERT_TRUE(raw.ok()) << raw.status();
  // The oldest change set left in the log is far past a's revision (b trims on its tick).
  const std::string log_prefix = "/ha/log/";
  ASSERT_TRUE(Eventually(
      [&] {
        etcdserverpb::RangeRequest request;
        request.set_key(log_prefix);
        request.set_range_end("/ha/log0");  // '0' follows '/'
        request.set_limit(1);
        absl::StatusOr<etcdserverpb::RangeResponse> r = (*raw)->Range(request);
        if (!r.ok() || r->kvs().empty()) return false;
        return r->kvs(0).key() > log_prefix + storage::EncodeRevision(last - 10);
      },
      absl::Seconds(15)))
      << "b did not trim the change log";
  etcdserverpb::RangeRequest head;
  head.set_key("/");
  head.set_count_only(true);
  absl::StatusOr<etcdserverpb::RangeResponse> now = (*raw)->Range(head);
  ASSERT_TRUE(now.ok()) << now.status();
  ASSERT_TRUE((*raw)->Compact(now->header().revision()).ok());
  std::move(resume_a).Invoke();

  GetOutcome got = Get(*stub_a, "other1", last);
  EXPECT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_TRUE(absl::StartsWith(got.value, "v551")) << got.value.substr(0, 10);
  EXPECT_TRUE(Eventually([&] { return stream.ValueOf("k") == absl::StrCat("v600", big); },
                         absl::Seconds(15)))
      << "the subscriber of a never got the writes made while a was stopped";
  // Never a silent gap: every write touched the view, so the stream has an event for every
  // revision in order, except where a resync snapshot replaced the view.
  bool resynced = false;
  int64_t previous = 0;
  for (const v1::SubscribeResponse& m : stream.messages()) {
    EXPECT_GE(m.revision(), previous);
    if (m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT) {
      if (m.resync()) resynced = true;
    } else if (m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) {
      EXPECT_EQ(m.revision(), previous + 1) << "a gap in the events, without a resync";
    }
    previous = m.revision();
  }
  EXPECT_TRUE(resynced) << "a could not have replayed a trimmed log, yet sent no resync";
  EXPECT_EQ(stream.ValueOf("other1"), absl::StrCat("v551", big));
}

TEST(HaQuotaTest, AFullEtcdQuotaRefusesWritesNamingItReadsGoOnAndWritesResumeOnceFreed) {
  // One member with an 8 MiB space quota: etcd raises its NOSPACE alarm once it is full.
  EtcdCluster cluster(1, {"--quota-backend-bytes=8388608"});
  ASSERT_TRUE(cluster.ok());
  TempDir dir;
  auto replica = StartReplica(dir, "a", cluster.endpoints(),
                              {"--log_retention_revisions=1", "--log_retention_age=0s"});
  ASSERT_NE(replica->port(), 0);
  auto stub = Stub(*replica);
  const std::string value(200 << 10, 'x');
  PutOutcome put;
  int64_t acknowledged = 0;
  for (int i = 0; i < 300; ++i) {  // 300 x 200 KiB, each several times over: far past 8 MiB
    put = Put(*stub, absl::StrCat("k", i % 4), absl::StrCat(i, value));
    if (!put.status.ok()) break;
    acknowledged = put.revision;
  }
  ASSERT_EQ(put.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << put.status.error_message();
  EXPECT_TRUE(absl::StrContains(put.status.error_message(), "--quota-backend-bytes"))
      << put.status.error_message();
  ASSERT_GT(acknowledged, 0);
  // Reads go on, at the last acknowledged revision; the refused write is not there.
  GetOutcome got = Get(*stub, "k0", acknowledged);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.revision, acknowledged);
  // The replica trims its change log on its next tick (deleting works while etcd is full);
  // then the operator frees the space etcd holds, and writes resume without a restart.
  storage::EtcdOptions etcd;
  etcd.endpoints = {cluster.endpoint(0)};
  absl::StatusOr<std::unique_ptr<storage::EtcdClient>> raw = storage::EtcdClient::Open(etcd);
  ASSERT_TRUE(raw.ok()) << raw.status();
  int64_t bundles = -1;
  EXPECT_TRUE(Eventually(
      [&] {
        etcdserverpb::RangeRequest request;
        request.set_key("/ha/log/");
        request.set_range_end("/ha/log0");  // '0' follows '/'
        request.set_count_only(true);
        absl::StatusOr<etcdserverpb::RangeResponse> r = (*raw)->Range(request);
        bundles = r.ok() ? r->count() : -1;
        return bundles >= 0 && bundles <= 2;
      },
      absl::Seconds(10)))
      << "the change log still holds " << bundles << " bundles";
  ASSERT_TRUE(testing::EtcdJsonRecoverSpace(cluster.endpoint(0)).ok());
  PutOutcome again;
  EXPECT_TRUE(Eventually(
      [&] {
        again = Put(*stub, "after", "freed");
        return again.status.ok();
      },
      absl::Seconds(10)))
      << again.status.error_message();
  EXPECT_EQ(again.revision, acknowledged + 1) << "a refused write was applied after all";
}

}  // namespace
}  // namespace confcenter
