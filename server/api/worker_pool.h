// A few threads for work that may block (disk reads of history), so gRPC's callback threads
// never do: handlers hand the work over and return at once.
#ifndef CONFCENTER_SERVER_API_WORKER_POOL_H_
#define CONFCENTER_SERVER_API_WORKER_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace confcenter {

// Thread-safe. Runs submitted tasks in order of submission on `threads` threads.
class WorkerPool {
 public:
  // `max_queued`: tasks waiting beyond it are refused (TrySubmit returns false).
  WorkerPool(int threads, size_t max_queued);
  // Runs the tasks already queued, then joins the threads.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` dropped) if max_queued tasks are already waiting or the
  // pool is stopping.
  bool TrySubmit(std::function<void()> task);

 private:
  void Loop();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_WORKER_POOL_H_
