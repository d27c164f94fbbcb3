// Model-based test of Subscribe: a seeded random mix of writes, registrations and
// deregistrations across integration and five branch tenants (one two levels deep), with 50
// subscribers that start at different points, disconnect and resume. At the end every
// subscriber's reconstructed view equals Resolve at the same revision, and no subscriber saw
// a revision twice or out of order.
//
// WATCH_MODEL_SEED and WATCH_MODEL_OPS override the seed and the operation count.
#include <cstdlib>
#include <random>

#include "gtest/gtest.h"
#include "tests/api_client.h"
#include "tests/test_util.h"
#include "tests/watch_client.h"

namespace confcenter {
namespace {

using confcenter::testing::ApiClient;
using confcenter::testing::ServerProcess;
using confcenter::testing::TempDir;
using confcenter::testing::TestSubscriber;

int64_t EnvOr(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

const std::vector<std::string> kTenants = {"integration", "b1", "b2", "b3", "b4", "b5"};
const std::vector<std::string> kServices = {"s1", "s2", "s3"};
const std::vector<std::string> kKeys = {"k1", "k2", "k3", "k4"};

std::string ParentOf(const std::string& tenant) {
  if (tenant == "b5") return "b4";
  return tenant == "integration" ? "" : "integration";
}

struct Sub {
  std::string tenant;
  std::vector<std::string> services;
  std::unique_ptr<TestSubscriber> stream;
  int resumes = 0;
};

TEST(WatchModelTest, EverySubscriberEndsWithResolvesViewAndNoRevisionTwice) {
  const uint64_t seed = static_cast<uint64_t>(EnvOr("WATCH_MODEL_SEED", 20261129));
  const int ops = static_cast<int>(EnvOr("WATCH_MODEL_OPS", 400));
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };

  TempDir dir;
  ServerProcess server(dir.path() + "/data", {"--progress_interval=20ms"});
  ASSERT_NE(server.port(), 0);
  auto channel = server.Channel();
  ApiClient api(channel);
  for (const std::string& t : kTenants) ASSERT_TRUE(api.Register(t, {"s1"}, ParentOf(t)).ok());

  std::vector<Sub> subs;
  auto start_sub = [&](int i) {
    Sub sub;
    sub.tenant = kTenants[i % kTenants.size()];
    if (i % 3 == 1) sub.services = {"s1"};
    if (i % 3 == 2) sub.services = {"s1", "s3"};
    sub.stream = std::make_unique<TestSubscriber>(channel, sub.tenant, sub.services, std::nullopt);
    subs.push_back(std::move(sub));
  };
  for (int i = 0; i < 30; ++i) start_sub(i);

  auto exists = [&](const std::string& tenant) {
    grpc::Status st;
    api.Resolve(tenant, {"s1"}, nullptr, &st);
    return st.ok();
  };

  for (int op = 0; op < ops; ++op) {
    if (op == ops / 3 || op == 2 * ops / 3) {  // late joiners start from a snapshot
      for (int i = 0; i < 10; ++i) {
        const std::string& tenant = kTenants[subs.size() % kTenants.size()];
        if (!exists(tenant)) {
          ASSERT_TRUE(api.Register(tenant, {}, ParentOf(tenant)).ok());
        }
        start_sub(static_cast<int>(subs.size()));
      }
    }
    if (op % 25 == 24) {  // a few subscribers drop and resume from their last revision
      for (int n = 0; n < 3; ++n) {
        Sub& sub = subs[rng() % subs.size()];
        if (!exists(sub.tenant)) continue;  // a new stream to a missing tenant is NOT_FOUND
        sub.stream->Cancel();
        const int64_t from = sub.stream->last_revision();
        TestSubscriber::View view = sub.stream->view();
        ASSERT_TRUE(sub.stream->out_of_order().empty()) << sub.tenant;
        sub.stream = std::make_unique<TestSubscriber>(channel, sub.tenant, sub.services, from,
                                                      std::move(view));
        ++sub.resumes;
      }
    }
    const int kind = static_cast<int>(rng() % 100);
    const std::string tenant = pick(kTenants);
    const std::string service = pick(kServices);
    const std::string key = pick(kKeys);
    if (kind < 35) {
      (void)api.Put(tenant, service, key, "v" + std::to_string(op));
    } else if (kind < 50) {
      (void)api.Delete(tenant, service, key);
    } else if (kind < 60) {
      (void)api.Mask(tenant, service, key);
    } else if (kind < 75) {
      v1::TxnRequest txn;
      for (const std::string& t : {pick(kTenants), pick(kTenants)}) {
        v1::TxnOp* op_msg = txn.add_ops();
        op_msg->set_type(chance(80) ? v1::TXN_OP_TYPE_PUT : v1::TXN_OP_TYPE_MASK);
        op_msg->set_tenant(t);
        op_msg->set_service(pick(kServices));
        op_msg->set_key(pick(kKeys));
        if (op_msg->type() == v1::TXN_OP_TYPE_PUT) op_msg->set_value("t" + std::to_string(op));
      }
      (void)api.Txn(txn);  // duplicate keys or missing tenants fail as a whole: fine
    } else if (kind < 87) {
      if (tenant != "integration" || chance(30)) {
        (void)api.Register(tenant, {service}, ParentOf(tenant));
      }
    } else if (tenant != "integration") {
      if (chance(40)) {
        (void)api.Deregister(tenant, {}, /*all=*/true);  // b4 with b5 under it is refused
      } else {
        (void)api.Deregister(tenant, {service});
      }
    }
  }

  // Every tenant exists again at the end, so Resolve can be compared for every subscriber.
  for (const std::string& t : kTenants) ASSERT_TRUE(api.Register(t, {}, ParentOf(t)).ok());
  int64_t final_revision = 0;
  ASSERT_TRUE(api.Put("integration", "s2", "final", "done", &final_revision).ok());

  int resumes = 0;
  for (Sub& sub : subs) {
    SCOPED_TRACE(sub.tenant + " services=" + std::to_string(sub.services.size()));
    ASSERT_TRUE(sub.stream->WaitForRevision(final_revision))
        << "stream ended: " << sub.stream->WaitForEnd().error_message();
    int64_t resolved_at = 0;
    EXPECT_EQ(sub.stream->view(), api.Resolve(sub.tenant, sub.services, &resolved_at));
    EXPECT_EQ(resolved_at, final_revision);
    EXPECT_TRUE(sub.stream->out_of_order().empty());
    resumes += sub.resumes;
  }
  EXPECT_EQ(subs.size(), 50u);
  EXPECT_GT(resumes, 10);
}

}  // namespace
}  // namespace confcenter
