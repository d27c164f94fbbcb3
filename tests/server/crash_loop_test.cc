// The crash loop: writers drive Puts and multi-key Txns against the real confcenterd while
// subscribers follow merged views; the server is killed with SIGKILL at random moments (after
// a random number of acknowledged writes, with writes in flight) and restarted on the same
// data dir. After every restart: every acknowledged write is in the history at its revision
// and nothing else shares that revision, the revision never went back, revisions have no
// gaps, a write that was in flight is absent or whole, and the current entries match the
// history. At the end every subscriber, resumed from its last revision after each restart,
// has seen every change of its merged view exactly once, in revision order.
//
// CRASH_LOOP_CYCLES sets the number of kills (default 25), CRASH_LOOP_SEED the
// seed (default: random; printed either way, so a failure can be replayed).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
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

constexpr int kWriters = 3;
constexpr auto kRpcDeadline = std::chrono::seconds(10);
constexpr auto kPhaseTimeout = std::chrono::seconds(60);
const std::vector<std::string> kTenants = {"integration", "f1", "f2"};  // f2 -> f1 -> integration
const std::vector<std::string> kServices = {"svc-a", "svc-b"};

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : fallback;
}

std::vector<std::string> Chain(const std::string& tenant) {
  if (tenant == "f2") return {"f2", "f1", "integration"};
  if (tenant == "f1") return {"f1", "integration"};
  return {"integration"};
}

// One put of a write. Values are unique across the run, so a value found in the history
// names the write it came from.
struct Op {
  std::string tenant, service, key, value;
  friend bool operator<(const Op& a, const Op& b) {
    return std::tie(a.tenant, a.service, a.key, a.value) <
           std::tie(b.tenant, b.service, b.key, b.value);
  }
  friend bool operator==(const Op& a, const Op& b) { return !(a < b) && !(b < a); }
};

// One Put (one op) or Txn (several), as the writer sent it.
struct Write {
  int writer = 0;
  bool txn = false;
  std::vector<Op> ops;   // sorted
  int64_t revision = 0;  // acknowledged writes only
};

std::string Describe(const Write& w) {
  std::string out = (w.txn ? "Txn" : "Put") + std::string(" by writer ") +
                    std::to_string(w.writer) + " at revision " + std::to_string(w.revision) + ":";
  for (const Op& op : w.ops)
    out += " " + op.tenant + "/" + op.service + "/" + op.key + "=" + op.value;
  return out;
}

// What the writers and the test share.
struct Control {
  std::mutex mu;
  std::condition_variable cv;
  int generation = 0;  // bumped once the restarted server is verified
  std::shared_ptr<grpc::Channel> channel;
  bool kill_requested = false;
  bool stop = false;
  int64_t acked_this_generation = 0;
  int parked = 0;  // writers waiting for the next generation
  std::vector<Write> acked;
  std::vector<Write> in_doubt;      // failed: in flight at a kill
  std::vector<std::string> errors;  // failures while the server was up
};

Write MakeWrite(std::mt19937_64& rng, int writer, int64_t seq) {
  Write w;
  w.writer = writer;
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // Keys of the writer's own and a few every writer shares.
  auto key = [&] {
    return pick(3) == 0 ? "common.k" + std::to_string(pick(4))
                        : "w" + std::to_string(writer) + ".k" + std::to_string(pick(8));
  };
  const std::string value = "w" + std::to_string(writer) + "-" + std::to_string(seq);
  w.txn = pick(5) < 2;
  const size_t n = w.txn ? 2 + pick(3) : 1;
  std::set<std::tuple<std::string, std::string, std::string>> used;
  while (w.ops.size() < n) {
    Op op{kTenants[pick(kTenants.size())], kServices[pick(kServices.size())], key(), ""};
    if (!used.insert({op.tenant, op.service, op.key}).second) continue;
    op.value = value + "-" + std::to_string(w.ops.size());
    w.ops.push_back(std::move(op));
  }
  std::sort(w.ops.begin(), w.ops.end());
  return w;
}

grpc::Status Send(v1::ConfigService::Stub* stub, const Write& w, int64_t* revision) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
  if (!w.txn) {
    v1::PutRequest req;
    req.set_tenant(w.ops[0].tenant);
    req.set_service(w.ops[0].service);
    req.set_key(w.ops[0].key);
    req.set_value(w.ops[0].value);
    v1::PutResponse resp;
    grpc::Status st = stub->Put(&ctx, req, &resp);
    *revision = resp.revision();
    return st;
  }
  v1::TxnRequest req;
  for (const Op& o : w.ops) {
    v1::TxnOp* op = req.add_ops();
    op->set_type(v1::TXN_OP_TYPE_PUT);
    op->set_tenant(o.tenant);
    op->set_service(o.service);
    op->set_key(o.key);
    op->set_value(o.value);
  }
  v1::TxnResponse resp;
  grpc::Status st = stub->Txn(&ctx, req, &resp);
  *revision = resp.revision();
  return st;
}

// Writes until a write fails (the server was killed) or the test stops, generation after
// generation.
void WriterLoop(Control* c, int writer, uint64_t seed) {
  std::mt19937_64 rng(seed);
  int64_t seq = 0;
  int done_generation = 0;
  while (true) {
    std::shared_ptr<grpc::Channel> channel;
    {
      std::unique_lock<std::mutex> lock(c->mu);
      if (!c->cv.wait_for(lock, kPhaseTimeout,
                          [&] { return c->stop || c->generation > done_generation; })) {
        c->errors.push_back("writer " + std::to_string(writer) + " waited too long for a restart");
        return;
      }
      if (c->stop) return;
      done_generation = c->generation;
      channel = c->channel;
    }
    auto stub = v1::ConfigService::NewStub(channel);
    while (true) {
      Write w = MakeWrite(rng, writer, seq++);
      int64_t revision = 0;
      grpc::Status st = Send(stub.get(), w, &revision);
      std::lock_guard<std::mutex> lock(c->mu);
      if (st.ok()) {
        w.revision = revision;
        c->acked.push_back(std::move(w));
        ++c->acked_this_generation;
        c->cv.notify_all();
        if (c->stop) return;
        continue;
      }
      if (!c->kill_requested && !c->stop) {
        c->errors.push_back("writer " + std::to_string(writer) + " got " +
                            std::to_string(st.error_code()) + " \"" + st.error_message() +
                            "\" while the server was up: " + Describe(w));
      }
      c->in_doubt.push_back(std::move(w));
      ++c->parked;
      c->cv.notify_all();
      break;
    }
  }
}

// One subscriber, across its streams (one per server generation).
struct Follower {
  Follower(std::string t, std::vector<std::string> s)
      : tenant(std::move(t)), services(std::move(s)) {}

  std::string tenant;
  std::vector<std::string> services;
  std::unique_ptr<TestSubscriber> stream;
  std::vector<v1::SubscribeResponse> messages;  // every stream's, in order
  int64_t last_revision = 0;
  TestSubscriber::View view;
  int streams = 0;

  bool Follows(const std::string& service) const {
    return services.empty() ||
           std::find(services.begin(), services.end(), service) != services.end();
  }
  void Start(std::shared_ptr<grpc::Channel> channel) {
    std::optional<int64_t> start;
    if (streams > 0) start = last_revision;
    stream = std::make_unique<TestSubscriber>(std::move(channel), tenant, services, start, view);
    ++streams;
  }
  // Keeps what the ended (or cancelled) stream saw.
  void Collect() {
    std::vector<v1::SubscribeResponse> got = stream->messages();
    if (streams > 1) {
      for (const auto& m : got) {
        EXPECT_FALSE(m.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT)
            << tenant << ": a resumed stream started over with a snapshot (resync=" << m.resync()
            << ") at revision " << m.revision();
      }
    }
    messages.insert(messages.end(), got.begin(), got.end());
    last_revision = std::max(last_revision, stream->last_revision());
    view = stream->view();
    stream.reset();
  }
};

// The history as the server has it: every version of every tenant after the set-up.
struct Truth {
  std::map<int64_t, std::vector<Op>> by_revision;  // ops sorted
  std::map<std::string, std::pair<int64_t, Op>> by_value;
  std::vector<std::string> problems;
};

Truth ReadTruth(const std::shared_ptr<grpc::Channel>& channel, int64_t after) {
  Truth t;
  auto stub = v1::HistoryService::NewStub(channel);
  for (const std::string& tenant : kTenants) {
    std::string token;
    for (int page = 0; page < 10'000; ++page) {
      v1::HistoryRequest req;
      req.set_tenant(tenant);
      req.set_page_size(1000);
      req.set_page_token(token);
      v1::HistoryResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
      grpc::Status st = stub->History(&ctx, req, &resp);
      if (!st.ok()) {
        t.problems.push_back("History(" + tenant + "): " + st.error_message());
        break;
      }
      for (const v1::Version& v : resp.versions()) {
        if (v.revision() <= after) continue;
        Op op{v.tenant(), v.service(), v.key(), v.value()};
        if (v.kind() != v1::VERSION_KIND_VALUE) {
          t.problems.push_back("unexpected version kind for " + op.key);
          continue;
        }
        if (!t.by_value.emplace(op.value, std::make_pair(v.revision(), op)).second) {
          t.problems.push_back("value " + op.value + " is in the history twice");
        }
        t.by_revision[v.revision()].push_back(op);
      }
      token = resp.next_page_token();
      if (token.empty()) break;
    }
  }
  for (auto& [rev, ops] : t.by_revision) std::sort(ops.begin(), ops.end());
  return t;
}

// Own entries of every tenant as "tenant/service/key" -> value, from List.
std::map<std::string, std::string> ListAll(const std::shared_ptr<grpc::Channel>& channel) {
  std::map<std::string, std::string> out;
  auto stub = v1::ConfigService::NewStub(channel);
  for (const std::string& tenant : kTenants) {
    std::string token;
    for (int page = 0; page < 1000; ++page) {
      v1::ListRequest req;
      req.set_tenant(tenant);
      req.set_page_size(1000);
      req.set_page_token(token);
      v1::ListResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
      grpc::Status st = stub->List(&ctx, req, &resp);
      EXPECT_TRUE(st.ok()) << st.error_message();
      if (!st.ok()) break;
      for (const v1::Entry& e : resp.entries()) {
        out[tenant + "/" + e.service() + "/" + e.key()] = e.value();
      }
      token = resp.next_page_token();
      if (token.empty()) break;
    }
  }
  return out;
}

// The events a follower of `tenant` (and `services`) must see after `after`, per revision:
// (service, key) -> "value@source", computed from the history.
std::map<int64_t, TestSubscriber::View> ExpectedEvents(const Truth& truth, const Follower& f,
                                                       int64_t after) {
  std::map<std::string, std::map<std::pair<std::string, std::string>, std::string>> own;
  const std::vector<std::string> chain = Chain(f.tenant);
  auto resolve = [&](const std::pair<std::string, std::string>& sk) -> std::string {
    for (const std::string& t : chain) {
      auto it = own[t].find(sk);
      if (it != own[t].end()) return it->second + "@" + t;
    }
    return "";
  };
  std::map<int64_t, TestSubscriber::View> expected;
  for (const auto& [rev, ops] : truth.by_revision) {
    std::map<std::pair<std::string, std::string>, std::string> before;
    for (const Op& op : ops) {
      if (f.Follows(op.service)) before[{op.service, op.key}] = resolve({op.service, op.key});
    }
    for (const Op& op : ops) own[op.tenant][{op.service, op.key}] = op.value;
    if (rev <= after) continue;
    for (const auto& [sk, old] : before) {
      std::string now = resolve(sk);
      if (now != old) expected[rev][sk] = now;
    }
  }
  return expected;
}

// The crash loop's set-up and steps, so that a test states only its subscribers, its kills
// and its end: confcenterd on a fresh data dir with the chain f2 -> f1 -> integration, the
// subscribers, the writer threads, a kill -9 and restart with the checks after it, and the
// final check of every subscriber.
class CrashLoopTest : public ::testing::Test {
 protected:
  void TearDown() override { StopWriters(); }

  // Starts confcenterd and registers f1 and f2; setup_revision_ is the set-up's last revision.
  void StartServer() {
    // Frequent PROGRESS messages: subscribers resume from progress revisions too, and the
    // final wait for every subscriber to reach the last revision is short.
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--progress_interval=100ms"});
    ASSERT_NE(server_->port(), 0);
    ApiClient api(server_->Channel());
    ASSERT_TRUE(api.Register("f1", {}, "integration").ok());
    ASSERT_TRUE(api.Register("f2", {}, "f1", &setup_revision_).ok());
    last_seen_revision_ = setup_revision_;
  }

  // Subscribes to each (tenant, services) merged view (every service if services is empty)
  // and waits until every subscription has caught up with the set-up.
  void Follow(const std::vector<std::pair<std::string, std::vector<std::string>>>& subscriptions) {
    for (const auto& [tenant, services] : subscriptions) followers_.emplace_back(tenant, services);
    auto channel = server_->Channel();
    for (Follower& f : followers_) {
      f.Start(channel);
      ASSERT_TRUE(f.stream->WaitForRevision(setup_revision_)) << f.tenant;
    }
  }

  // Starts kWriters writer threads; writer w draws its writes from seed + 1 + w.
  void StartWriters(uint64_t seed) {
    {
      std::lock_guard<std::mutex> lock(control_.mu);
      control_.channel = server_->Channel();
      control_.generation = 1;
    }
    for (int w = 0; w < kWriters; ++w) {
      writers_.emplace_back(WriterLoop, &control_, w, seed + 1 + w);
    }
  }

  // Kills the server with SIGKILL once `acked` more writes were acknowledged, with the
  // others in flight; restarts it on the same data dir, verifies it and resumes the
  // subscribers and the writers. `cycle` counts from 0.
  void KillAndRestartAfter(int64_t acked, int64_t cycle) {
    {
      std::unique_lock<std::mutex> lock(control_.mu);
      ASSERT_TRUE(control_.cv.wait_for(lock, kPhaseTimeout,
                                       [&] { return control_.acked_this_generation >= acked; }))
          << "cycle " << cycle << ": writers stalled at " << control_.acked_this_generation
          << " of " << acked << " writes";
      control_.kill_requested = true;
    }
    server_->Kill();
    {
      std::unique_lock<std::mutex> lock(control_.mu);
      ASSERT_TRUE(
          control_.cv.wait_for(lock, kPhaseTimeout, [&] { return control_.parked == kWriters; }))
          << "cycle " << cycle << ": writers did not notice the kill";
    }
    for (Follower& f : followers_) {
      grpc::Status end = f.stream->WaitForEnd();
      EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE)
          << f.tenant << ": " << end.error_message();
      f.Collect();
    }
    ASSERT_TRUE(server_->Restart()) << "cycle " << cycle;
    ASSERT_NO_FATAL_FAILURE(Verify("after kill " + std::to_string(cycle + 1)));
    auto channel = server_->Channel();
    for (Follower& f : followers_) f.Start(channel);
    std::lock_guard<std::mutex> lock(control_.mu);
    ASSERT_TRUE(control_.errors.empty()) << control_.errors.front();
    control_.kill_requested = false;
    control_.parked = 0;
    control_.acked_this_generation = 0;
    control_.channel = server_->Channel();
    ++control_.generation;
    control_.cv.notify_all();
  }

  // Lets `acked` more writes be acknowledged without a kill, then stops the writers.
  void StopWritersAfter(int64_t acked) {
    {
      std::unique_lock<std::mutex> lock(control_.mu);
      ASSERT_TRUE(control_.cv.wait_for(lock, kPhaseTimeout,
                                       [&] { return control_.acked_this_generation >= acked; }));
    }
    StopWriters();
    ASSERT_TRUE(control_.errors.empty()) << control_.errors.front();
  }

  // Checks the (restarted) server against everything acknowledged so far.
  void Verify(const std::string& when) {
    SCOPED_TRACE(when);
    auto channel = server_->Channel();
    ApiClient api(channel);
    int64_t revision = 0;
    grpc::Status st;
    api.Resolve("integration", {}, &revision, &st);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::vector<Write> acked, in_doubt;
    {
      std::lock_guard<std::mutex> lock(control_.mu);
      acked = control_.acked;
      in_doubt = control_.in_doubt;
    }
    // The revision never goes back: not behind any acknowledgement, any event a subscriber
    // saw, or what the server said before the kill.
    int64_t floor = last_seen_revision_;
    for (const Write& w : acked) floor = std::max(floor, w.revision);
    for (const Follower& f : followers_) floor = std::max(floor, f.last_revision);
    ASSERT_GE(revision, floor) << "the revision went back";
    last_seen_revision_ = revision;

    Truth truth = ReadTruth(channel, setup_revision_);
    ASSERT_TRUE(truth.problems.empty()) << truth.problems.front();
    // No revision lost: after the set-up every revision is one write's.
    int64_t expected_revision = setup_revision_ + 1;
    for (const auto& [rev, ops] : truth.by_revision) {
      ASSERT_EQ(rev, expected_revision) << "revision gap (or a revision without entries)";
      ++expected_revision;
    }
    ASSERT_EQ(expected_revision - 1, std::max(revision, setup_revision_))
        << "the history ends before the current revision";

    // Every acknowledged write is there, whole, alone at its revision.
    std::set<int64_t> explained;
    int64_t ops = 0;
    for (const Write& w : acked) {
      auto it = truth.by_revision.find(w.revision);
      ASSERT_TRUE(it != truth.by_revision.end()) << "acknowledged write lost: " << Describe(w);
      ASSERT_EQ(it->second, w.ops) << "acknowledged write not as written: " << Describe(w);
      explained.insert(w.revision);
      ops += static_cast<int64_t>(w.ops.size());
    }
    acked_ops_verified_ = ops;
    // A write in flight at a kill is absent or whole.
    in_doubt_present_ = in_doubt_absent_ = 0;
    for (const Write& w : in_doubt) {
      std::set<int64_t> revisions;
      size_t found = 0;
      for (const Op& op : w.ops) {
        auto it = truth.by_value.find(op.value);
        if (it == truth.by_value.end()) continue;
        ++found;
        revisions.insert(it->second.first);
      }
      if (found == 0) {
        ++in_doubt_absent_;
        continue;
      }
      ASSERT_EQ(found, w.ops.size()) << "torn write: " << Describe(w);
      ASSERT_EQ(revisions.size(), 1u) << "write split over revisions: " << Describe(w);
      ASSERT_EQ(truth.by_revision[*revisions.begin()], w.ops) << Describe(w);
      explained.insert(*revisions.begin());
      ++in_doubt_present_;
    }
    ASSERT_EQ(explained.size(), truth.by_revision.size())
        << "the history holds revisions no writer sent";

    // The current entries are the history's latest versions.
    std::map<std::string, std::string> latest;
    for (const auto& [rev, rev_ops] : truth.by_revision) {
      for (const Op& op : rev_ops) latest[op.tenant + "/" + op.service + "/" + op.key] = op.value;
    }
    ASSERT_EQ(ListAll(channel), latest);
  }

  // Once the writers stopped: every subscriber, resumed after each restart, saw every change
  // of its merged view exactly once, in revision order, and ends with the view Resolve gives.
  void CheckSubscribers() {
    const Truth truth = ReadTruth(server_->Channel(), setup_revision_);
    ApiClient api(server_->Channel());
    for (Follower& f : followers_) {
      SCOPED_TRACE("subscriber of " + f.tenant + " (" + std::to_string(f.services.size()) +
                   " services)");
      ASSERT_TRUE(f.stream->WaitForRevision(last_seen_revision_));
      f.stream->Cancel();
      f.Collect();
      std::map<int64_t, TestSubscriber::View> expected = ExpectedEvents(truth, f, setup_revision_);
      std::vector<int64_t> got_revisions, want_revisions;
      for (const auto& [rev, events] : expected) want_revisions.push_back(rev);
      for (const v1::SubscribeResponse& m : f.messages) {
        if (m.kind() != v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) continue;
        got_revisions.push_back(m.revision());
        TestSubscriber::View events;
        for (const v1::WatchEvent& e : m.events()) {
          EXPECT_EQ(e.type(), v1::WatchEvent::TYPE_PUT);
          events[{e.service(), e.key()}] = e.value() + "@" + e.source_tenant();
        }
        auto it = expected.find(m.revision());
        if (it == expected.end()) continue;  // reported below as a revision mismatch
        EXPECT_EQ(events, it->second) << "events of revision " << m.revision();
        events_verified_ += m.events_size();
      }
      // Exactly once, in order: no gap, no duplicate.
      auto diverge = std::mismatch(got_revisions.begin(), got_revisions.end(),
                                   want_revisions.begin(), want_revisions.end());
      ASSERT_EQ(got_revisions, want_revisions)
          << "first difference at event message " << (diverge.first - got_revisions.begin())
          << ": got revision "
          << (diverge.first == got_revisions.end() ? std::string("none")
                                                   : std::to_string(*diverge.first))
          << ", expected "
          << (diverge.second == want_revisions.end() ? std::string("none")
                                                     : std::to_string(*diverge.second));
      std::vector<std::string> services = f.services;
      EXPECT_EQ(f.view, api.Resolve(f.tenant, services));
    }
  }

  // Prints what the loop verified and records it as test properties.
  void Report(uint64_t seed, int64_t cycles) {
    int64_t acked_writes = 0, in_doubt = 0;
    {
      std::lock_guard<std::mutex> lock(control_.mu);
      acked_writes = static_cast<int64_t>(control_.acked.size());
      in_doubt = static_cast<int64_t>(control_.in_doubt.size());
    }
    std::printf(
        "crash loop: seed %llu: %lld kill -9 cycles; %lld acknowledged writes (%lld puts) "
        "verified at their revisions; %lld writes in flight at a kill (%lld committed whole, "
        "%lld absent); %lld subscriber events verified exactly once over %zu subscribers; final "
        "revision %lld\n",
        static_cast<unsigned long long>(seed), static_cast<long long>(cycles),
        static_cast<long long>(acked_writes), static_cast<long long>(acked_ops_verified_),
        static_cast<long long>(in_doubt), static_cast<long long>(in_doubt_present_),
        static_cast<long long>(in_doubt_absent_), static_cast<long long>(events_verified_),
        followers_.size(), static_cast<long long>(last_seen_revision_));
    RecordProperty("cycles", static_cast<int>(cycles));
    RecordProperty("acked_writes", static_cast<int>(acked_writes));
    RecordProperty("events_verified", static_cast<int>(events_verified_));
  }

 private:
  // Tells the writers to stop and joins them (once).
  void StopWriters() {
    {
      std::lock_guard<std::mutex> lock(control_.mu);
      control_.stop = true;
      control_.cv.notify_all();
    }
    for (auto& t : writers_) t.join();
    writers_.clear();
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  int64_t setup_revision_ = 0;
  std::vector<Follower> followers_;
  Control control_;
  std::vector<std::thread> writers_;
  // What the checks saw, for the report.
  int64_t last_seen_revision_ = 0;
  int64_t acked_ops_verified_ = 0;
  int64_t in_doubt_present_ = 0;
  int64_t in_doubt_absent_ = 0;
  int64_t events_verified_ = 0;
};

TEST_F(CrashLoopTest, AcknowledgedWritesAndSubscriptionsSurviveRepeatedKill9) {
  const int64_t cycles = EnvInt("CRASH_LOOP_CYCLES", 25);
  const uint64_t seed = static_cast<uint64_t>(EnvInt("CRASH_LOOP_SEED", std::random_device()()));
  std::printf("crash loop: seed %llu, %lld cycles (replay with CRASH_LOOP_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<long long>(cycles),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);

  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(
      Follow({{"f2", {"svc-a"}}, {"f2", {}}, {"f1", {"svc-b"}}, {"integration", {}}}));
  StartWriters(seed);
  for (int64_t cycle = 0; cycle < cycles; ++cycle) {
    // A random moment: after 0..80 more acknowledged writes, with the others in flight.
    ASSERT_NO_FATAL_FAILURE(KillAndRestartAfter(static_cast<int64_t>(rng() % 81), cycle));
  }
  // A last stretch of writes without a kill, then stop and check the subscribers.
  ASSERT_NO_FATAL_FAILURE(StopWritersAfter(20));
  ASSERT_NO_FATAL_FAILURE(Verify("at the end"));
  ASSERT_NO_FATAL_FAILURE(CheckSubscribers());
  Report(seed, cycles);
}

}  // namespace
}  // namespace confcenter
