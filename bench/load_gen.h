// The load generator of confcenter_vs_etcd: N gRPC connections x M outstanding unary calls in
// a closed loop (callback API: no thread per call), and the bookkeeping of streaming
// subscribers. The same code drives confcenterd, etcd and the no-op ceiling server; only the
// call that is started differs.
#ifndef CONFCENTER_BENCH_LOAD_GEN_H_
#define CONFCENTER_BENCH_LOAD_GEN_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace confcenter::bench {

// `count` channels to `address`, each its own TCP connection (distinct channel arguments
// defeat gRPC's subchannel sharing), connected before they are returned. An empty vector if
// they are not all connected within 10 s plus 2 ms per channel (10,000 pods' connections take
// seconds to accept). `credentials`: plaintext if null.
std::vector<std::shared_ptr<grpc::Channel>> ConnectChannels(
    const std::string& address, int count,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials = nullptr);

// Latency summary of a set of samples (nanoseconds in, milliseconds out).
struct LatencySummary {
  int64_t count = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};
// Sorts `samples` in place and summarises them.
LatencySummary Summarize(std::vector<int64_t>* samples);
// The q-quantile (0..1) of sorted samples, in milliseconds; 0 if empty.
double QuantileMs(const std::vector<int64_t>& sorted, double q);

struct LoadOptions {
  // Connections, and outstanding calls on each: channels * per_channel clients in all.
  int channels = 1;
  int per_channel = 1;
  // Calls before `warmup` elapsed are not counted; then `measure` is the counted window.
  std::chrono::milliseconds warmup{500};
  std::chrono::milliseconds measure{3000};
  // Deadline of every call.
  std::chrono::seconds call_timeout{10};
  // Called (on a thread of the generator's own) when the counted window starts and when it
  // ends, e.g. to read the servers' CPU time over exactly the window. Must not block long.
  std::function<void()> on_window_start;
  std::function<void()> on_window_end;
};

struct LoadResult {
  int64_t completed = 0;  // successful calls completed inside the window
  int64_t failed = 0;     // failed calls, anywhere in the run
  std::string first_error;
  double seconds = 0;                 // the window
  double per_second = 0;              // completed / seconds
  LatencySummary latency;             // of the calls started and completed inside the window
  std::vector<int64_t> latencies_ns;  // those calls' latencies, sorted
};

// Adds the calls and the window of `slice` to `total` (both from one server and workload)
// and summarises the latencies of both together.
void MergeSlice(LoadResult slice, LoadResult* total);

// Starts one call for client `client` on connection `channel` with `ctx` (owned by the
// generator, alive until `done` has run). Must arrange for `done` to run exactly once with
// the call's outcome, on any thread, without blocking; a response that is wrong should be
// reported as a non-OK status.
using CallStarter = std::function<void(int channel, int client, grpc::ClientContext* ctx,
                                       std::function<void(grpc::Status)> done)>;

// Runs the closed loop: every client starts its next call from the completion of the
// previous one, until the window ends; returns once every call has finished (bounded by the
// call timeout).
LoadResult RunClosedLoop(const LoadOptions& options, const CallStarter& start);

// Counters shared by the subscribers of one fan-out run. Thread-safe.
struct StreamStats {
  std::atomic<int64_t> ready{0};          // subscriptions whose initial state arrived
  std::atomic<int64_t> events{0};         // timed events received
  std::atomic<int64_t> messages{0};       // timed events as delivered: one per copy sent,
                                          // however many subscribers that copy reached
  std::atomic<int64_t> warmup_events{0};  // events of warm-up writes (stamp 0), not timed
  std::atomic<int64_t> ended{0};          // streams finished
  std::atomic<int64_t> failed{0};         // streams that ended with an error before Cancel
  std::atomic<int64_t> last_event_ns{0};
  std::atomic<int64_t> notify_at_events{INT64_MAX};
  std::mutex mu;
  std::string first_error;  // guarded by mu
  std::condition_variable cv;

  void Notify();
  void Fail(const std::string& error);
  // Waits until pred() holds or `timeout` passes; returns pred().
  bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
};

// One subscription stream (confcenter Subscribe, etcd Watch, or a bare idle gRPC stream).
class Subscription {
 public:
  virtual ~Subscription() = default;
  // Cancels the stream; StreamStats::ended counts it once it has finished.
  virtual void Cancel() = 0;
  // End-to-end latencies (ns) of the events received; read only after the stream ended.
  const std::vector<int64_t>& latencies() const { return latencies_; }

 protected:
  // Records a received event whose value starts with the send timestamp (ns, 19 digits),
  // once for each of the `subscribers` it reached (a shared stream's message may name many).
  void RecordEvent(const std::string& value, int64_t now_ns, StreamStats* stats,
                   int subscribers = 1);
  std::vector<int64_t> latencies_;
};

// The value of a fan-out write: the send timestamp, zero-padded to 19 digits, then '.' and
// filler up to `bytes`. A warm-up write has the stamp 0: counted, not timed.
std::string TimestampValue(int64_t now_ns, size_t bytes);

}  // namespace confcenter::bench

#endif  // CONFCENTER_BENCH_LOAD_GEN_H_
