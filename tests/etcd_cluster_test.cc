// The etcd test cluster itself: members come up, replicate, elect a new leader when one dies,
// refuse writes without a quorum and recover, and survive a pause. Talks to etcd through its
// JSON gateway only.
#include "tests/etcd_cluster.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace confcenter::testing {
namespace {

// Retries a put through member i until it succeeds or `timeout` passes (a member that just
// lost or regained its leader refuses writes for a moment).
absl::Status PutEventually(const EtcdCluster& cluster, int i, const std::string& key,
                           const std::string& value, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status st;
  do {
    st = EtcdJsonPut(cluster.endpoint(i), key, value, absl::Seconds(2));
    if (st.ok()) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (absl::Now() < deadline);
  return st;
}

TEST(EtcdClusterTest, ComesUpAndReplicates) {
  EtcdCluster cluster;
  ASSERT_TRUE(cluster.ok());
  ASSERT_EQ(cluster.size(), 3);
  EXPECT_EQ(cluster.endpoints(),
            absl::StrCat(cluster.endpoint(0), ",", cluster.endpoint(1), ",", cluster.endpoint(2)));
  EXPECT_GE(cluster.WaitForLeader(), 0);
  ASSERT_TRUE(EtcdJsonPut(cluster.endpoint(0), "/k", "v1").ok());
  // A linearizable read through another member sees the write.
  absl::StatusOr<std::optional<std::string>> got = EtcdJsonGet(cluster.endpoint(2), "/k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "v1");
  got = EtcdJsonGet(cluster.endpoint(1), "/absent");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::nullopt);
}

TEST(EtcdClusterTest, KilledLeaderIsReplaced) {
  EtcdCluster cluster;
  ASSERT_TRUE(cluster.ok());
  const int old_leader = cluster.WaitForLeader();
  ASSERT_GE(old_leader, 0);
  ASSERT_TRUE(EtcdJsonPut(cluster.endpoint(old_leader), "/k", "before").ok());
  cluster.Kill(old_leader);
  EXPECT_EQ(cluster.pid(old_leader), 0);
  const int new_leader = cluster.WaitForLeader(absl::Seconds(10), old_leader);
  ASSERT_GE(new_leader, 0);
  EXPECT_NE(new_leader, old_leader);
  const int other = 3 - old_leader - new_leader;
  ASSERT_TRUE(PutEventually(cluster, other, "/k", "after").ok());
  absl::StatusOr<std::optional<std::string>> got = EtcdJsonGet(cluster.endpoint(new_leader), "/k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "after");
  // The killed member comes back on its data dir and catches up.
  ASSERT_TRUE(cluster.Restart(old_leader));
  got = EtcdJsonGet(cluster.endpoint(old_leader), "/k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "after");
}

TEST(EtcdClusterTest, NoWritesWithoutQuorumAndRecovery) {
  EtcdCluster cluster;
  ASSERT_TRUE(cluster.ok());
  ASSERT_TRUE(EtcdJsonPut(cluster.endpoint(2), "/k", "v1").ok());
  // etcd 3.4 exits from SIGTERM by the signal again: 128 + 15.
  EXPECT_EQ(cluster.Stop(0), 143);
  EXPECT_EQ(cluster.Stop(1), 143);
  EXPECT_EQ(cluster.Stop(1), -1);  // not running any more
  // The survivor cannot commit: the put fails or times out, within the bound.
  const absl::Time start = absl::Now();
  const absl::Status st = EtcdJsonPut(cluster.endpoint(2), "/k", "lost?", absl::Seconds(2));
  EXPECT_FALSE(st.ok());
  std::fprintf(stderr, "put without quorum: %s after %s\n", st.ToString().c_str(),
               absl::FormatDuration(absl::Now() - start).c_str());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(cluster.leader(), -1);
  EXPECT_FALSE(cluster.Healthy(2));
  // One member back makes a quorum again; then the other.
  ASSERT_TRUE(cluster.Restart(0));
  ASSERT_TRUE(PutEventually(cluster, 2, "/k", "v2").ok());
  ASSERT_TRUE(cluster.Restart(1));
  EXPECT_GE(cluster.WaitForLeader(), 0);
  absl::StatusOr<std::optional<std::string>> got = EtcdJsonGet(cluster.endpoint(1), "/k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "v2");
  EXPECT_FALSE(cluster.Restart(1));  // already running
}

TEST(EtcdClusterTest, PausedMemberIsCutOffAndCatchesUpOnResume) {
  EtcdCluster cluster;
  ASSERT_TRUE(cluster.ok());
  const int leader = cluster.WaitForLeader();
  ASSERT_GE(leader, 0);
  const int paused = (leader + 1) % 3;
  const int writer = (leader + 2) % 3;
  cluster.Pause(paused);
  EXPECT_FALSE(cluster.serving(paused));
  // Its clients get no answer; the other two go on.
  EXPECT_FALSE(EtcdJsonGet(cluster.endpoint(paused), "/k", true, absl::Milliseconds(500)).ok());
  ASSERT_TRUE(PutEventually(cluster, writer, "/k", "while paused").ok());
  EXPECT_NE(cluster.WaitForLeader(), -1);  // the other two keep a leader
  cluster.Resume(paused);
  EXPECT_TRUE(cluster.serving(paused));
  // Once resumed it answers, and a linearizable read through it sees the write.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<std::optional<std::string>> got;
  do {
    got = EtcdJsonGet(cluster.endpoint(paused), "/k");
    if (got.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (absl::Now() < deadline);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "while paused");
}

TEST(EtcdClusterTest, PausedLeaderIsReplaced) {
  EtcdCluster cluster;
  ASSERT_TRUE(cluster.ok());
  const int leader = cluster.WaitForLeader();
  ASSERT_GE(leader, 0);
  cluster.Pause(leader);
  const int next = cluster.WaitForLeader(absl::Seconds(10), leader);
  ASSERT_GE(next, 0);
  ASSERT_TRUE(PutEventually(cluster, next, "/k", "v").ok());
  cluster.Resume(leader);
  // The old leader steps down and follows the new one.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (cluster.leader() != next && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(cluster.leader(), next);
}

}  // namespace
}  // namespace confcenter::testing
