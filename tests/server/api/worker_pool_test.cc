// The worker pool (server/api/worker_pool.h) that history handlers hand blocking work to:
// order, the bound on waiting tasks, and shutdown. Synchronised with notifications and
// counters only: nothing waits for time to pass.
#include "server/api/worker_pool.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace confcenter {
namespace {

// Notifies on scope exit unless already notified: declared after a pool whose task waits for
// the notification, it lets a failed assertion end the test instead of hanging its join.
class NotifyOnExit {
 public:
  explicit NotifyOnExit(absl::Notification& n) : n_(n) {}
  ~NotifyOnExit() {
    if (!n_.HasBeenNotified()) n_.Notify();
  }

 private:
  absl::Notification& n_;
};

TEST(WorkerPool, RunsTasksInSubmissionOrderOnItsOneThread) {
  constexpr int kTasks = 100;
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  absl::Notification release;
  absl::BlockingCounter done(kTasks);
  // The first task holds the thread until every task is queued (it may itself still be).
  WorkerPool pool(/*threads=*/1, /*max_queued=*/kTasks + 1);
  NotifyOnExit release_on_exit(release);
  ASSERT_TRUE(pool.TrySubmit([&] { release.WaitForNotification(); }));
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&, i] {
      {
        absl::MutexLock lock(&mu);
        order.push_back(i);
        threads.push_back(std::this_thread::get_id());
      }
      done.DecrementCount();
    }));
  }
  release.Notify();
  done.Wait();

  absl::MutexLock lock(&mu);
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(order[i], i);
  for (const std::thread::id& id : threads) {
    EXPECT_EQ(id, threads.front()) << "one worker thread runs them all";
  }
  EXPECT_NE(threads.front(), std::this_thread::get_id()) << "not on the submitting thread";
}

TEST(WorkerPool, RefusesTasksBeyondMaxQueuedAndDropsThem) {
  absl::Notification running, release;
  absl::BlockingCounter queued_ran(2);
  std::atomic<bool> refused_ran{false};
  {
    WorkerPool pool(/*threads=*/1, /*max_queued=*/2);
    NotifyOnExit release_on_exit(release);
    ASSERT_TRUE(pool.TrySubmit([&] {
      running.Notify();
      release.WaitForNotification();
    }));
    running.WaitForNotification();  // taken off the queue: two places are free
    EXPECT_TRUE(pool.TrySubmit([&] { queued_ran.DecrementCount(); }));
    EXPECT_TRUE(pool.TrySubmit([&] { queued_ran.DecrementCount(); }));
    EXPECT_FALSE(pool.TrySubmit([&] { refused_ran = true; })) << "a third would wait";
    release.Notify();
    queued_ran.Wait();
    // The queue drained: there is room again.
    absl::Notification later_ran;
    EXPECT_TRUE(pool.TrySubmit([&] { later_ran.Notify(); }));
    later_ran.WaitForNotification();
  }
  EXPECT_FALSE(refused_ran) << "a refused task is dropped, never run";
}

TEST(WorkerPool, RefusesTasksOnceStopping) {
  // A chain of tasks, each submitting the next, keeps the worker busy with at most one task
  // waiting, so a refusal can only be the pool stopping. The destructor stops the pool; the
  // chain ends at the first refusal (or, if none comes, after kMaxLinks links).
  constexpr int64_t kMaxLinks = 10'000'000;
  struct Chain {
    WorkerPool* pool = nullptr;
    int64_t links = 0;  // touched by the worker thread only until the pool is joined
    bool refused = false;
    void Link() {
      if (++links == kMaxLinks) return;
      if (!pool->TrySubmit([this] { Link(); })) refused = true;
    }
  } chain;
  absl::Notification started;
  auto pool = std::make_unique<WorkerPool>(/*threads=*/1, /*max_queued=*/1);
  chain.pool = pool.get();
  ASSERT_TRUE(pool->TrySubmit([&] {
    started.Notify();
    chain.Link();
  }));
  started.WaitForNotification();
  pool.reset();  // returns once the chain has ended
  EXPECT_TRUE(chain.refused) << "the chain ran " << chain.links << " links unrefused";
  EXPECT_LT(chain.links, kMaxLinks);
}

TEST(WorkerPool, TheDestructorRunsTheTasksAlreadyQueuedBeforeJoining) {
  constexpr int kQueuedFirst = 10;
  constexpr size_t kMaxQueued = size_t{1} << 20;
  std::atomic<int64_t> ran{0};
  int64_t probes = 0;  // queued by the first task; read after the pool is joined
  absl::Notification go;
  auto owned = std::make_unique<WorkerPool>(/*threads=*/1, kMaxQueued);
  NotifyOnExit go_on_exit(go);
  WorkerPool* const pool = owned.get();
  // The first task holds the only thread until the pool refuses a task, i.e. until the
  // destructor has begun: everything queued behind it is still waiting then.
  ASSERT_TRUE(pool->TrySubmit([&] {
    go.WaitForNotification();
    while (pool->TrySubmit([&] { ran.fetch_add(1); })) {
      ++probes;
      std::this_thread::yield();
    }
  }));
  for (int i = 0; i < kQueuedFirst; ++i) {
    ASSERT_TRUE(pool->TrySubmit([&] { ran.fetch_add(1); }));
  }
  std::thread destroyer([&] {
    go.Notify();
    owned.reset();
  });
  destroyer.join();
  ASSERT_LT(probes + kQueuedFirst, static_cast<int64_t>(kMaxQueued))
      << "the refusal was a full queue, not the stopping pool";
  EXPECT_EQ(ran.load(), kQueuedFirst + probes) << "every queued task ran";
}

}  // namespace
}  // namespace confcenter
