// A small gRPC client for etcd v3.4 (the etcd storage engine's transport): unary KV, Lease and
// Maintenance calls with a deadline and failover across endpoints, a paged range at one
// revision, and a watch stream with callbacks. Errors are absl::Status carrying etcd's own
// text (FromEtcd). Only this library (confcenter_etcd) links gRPC; confcenter_storage does not.
#ifndef CONFCENTER_STORAGE_ETCD_CLIENT_H_
#define CONFCENTER_STORAGE_ETCD_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc_subset.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::storage {

struct EtcdOptions {
  // Client URLs' host:port, e.g. {"127.0.0.1:2379", "10.0.0.2:2379"}; at least one.
  std::vector<std::string> endpoints;
  // TLS: with `ca_file` set, every endpoint is dialled with TLS verified against it, and with
  // `cert_file` and `key_file` also set, with that client certificate. All empty: plaintext.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Overrides the name checked against the server certificate ("" = the endpoint's host).
  std::string server_name;
  // The longest a call waits for one endpoint to connect before it tries the next one.
  absl::Duration dial_timeout = absl::Seconds(2);
  // The deadline of a unary call, all failover attempts included.
  absl::Duration request_timeout = absl::Seconds(5);
  // Sends `hasleader: true` on every call, so a member without a leader refuses instead of
  // serving stale data or holding a watch that will never see a write.
  bool require_leader = true;
};

// The status for etcd's answer `status` to the call described by `what` ("Txn on
// 127.0.0.1:2379"), with etcd's text:
//   too many operations in txn request -> RESOURCE_EXHAUSTED naming etcd's --max-txn-ops;
//   request is too large -> RESOURCE_EXHAUSTED naming etcd's --max-request-bytes;
//   database space exceeded (RESOURCE_EXHAUSTED) -> RESOURCE_EXHAUSTED naming
//   --quota-backend-bytes; duplicate key given in txn request -> INTERNAL (the caller must coalesce
//   per key); required revision has been compacted / is a future revision -> OUT_OF_RANGE;
//   UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, no leader -> UNAVAILABLE;
//   anything else keeps its code.
absl::Status FromEtcd(const grpc::Status& status, absl::string_view what);

// True if `status` (from EtcdClient::Put, DeleteRange, Txn, Compact or LeaseGrant) means the
// request reached etcd but its answer did not come back: it may or may not have been applied.
// Other UNAVAILABLE errors of those calls mean nothing was sent.
bool EtcdOutcomeUnknown(const absl::Status& status);

// What a watch reports. Callbacks of one watch never run concurrently, run on gRPC's callback
// threads, and must not block for long (they hold up that stream's next read) nor destroy the
// EtcdWatch. After OnCompacted or OnBroken nothing more is called.
struct EtcdWatchCallbacks {
  // Events of one or more revisions, in revision order; fragments are joined, so a revision's
  // events always arrive in one call. `header_revision` is etcd's revision at the response.
  std::function<void(std::vector<mvccpb::Event> events, int64_t header_revision)> on_events;
  // A progress notification: every event up to `revision` has been delivered (but see etcd
  // issue #15220 before 3.4.25: use it for liveness only). Optional.
  std::function<void(int64_t revision)> on_progress;
  // The start revision was compacted: etcd keeps history from `compact_revision` on. Final.
  std::function<void(int64_t compact_revision)> on_compacted;
  // The stream ended for another reason (etcd went away, was cancelled by etcd, no leader).
  // Final; the caller watches again from the revision after the last one it got.
  std::function<void(absl::Status status)> on_broken;
};

struct EtcdWatchRequest {
  // The watched range [key, range_end); empty range_end = the key alone.
  std::string key;
  std::string range_end;
  // The first revision to deliver (inclusive); 0 = from now.
  int64_t start_revision = 0;
  // Ask etcd for progress notifications while nothing changes (every ~10 min on its own, or
  // when EtcdWatch::RequestProgress asks).
  bool progress_notify = false;
  // Fill Event.prev_kv.
  bool prev_kv = false;
  // Try this endpoint last (a reconnect after it went silent moves to another member).
  std::string avoid_endpoint;
};

// One open watch stream. Destroying it cancels the stream and waits until no callback runs.
class EtcdWatch {
 public:
  virtual ~EtcdWatch() = default;
  // Asks etcd for a progress notification (on_progress). Thread-safe; a no-op once ended.
  virtual void RequestProgress() = 0;
  // The endpoint the stream is on.
  virtual const std::string& endpoint() const = 0;
};

// A client of one etcd cluster. Thread-safe. Unary calls try the endpoint that answered last
// first and move on to the next when an endpoint cannot be reached (reads also when it fails
// with UNAVAILABLE after the request was sent), all within `request_timeout`.
class EtcdClient {
 public:
  // Validates `options` and creates one channel per endpoint (keepalive 10 s, 256 MiB
  // messages). Does not wait for a connection: an unreachable cluster shows up as UNAVAILABLE
  // on the first call. INVALID_ARGUMENT without endpoints or with unreadable TLS files.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Open(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // KV.Range as given (linearizable unless request.serializable). Retried on other endpoints.
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request);

  // Every key of [key, range_end) as of `revision` (<= 0: the newest, fixed at the first
  // page), visited in key order, `page_size` keys per Range. Stops at the first non-OK status
  // `visit` returns and returns it. Returns the revision read at. OUT_OF_RANGE if `revision`
  // is compacted (also if it is compacted while paging).
  absl::StatusOr<int64_t> RangeAll(
      absl::string_view key, absl::string_view range_end, int64_t revision, int64_t page_size,
      const std::function<absl::Status(const mvccpb::KeyValue& kv)>& visit);

  // KV.Put of `value` at `key`, attached to `lease` (0 = none).
  absl::StatusOr<etcdserverpb::PutResponse> Put(absl::string_view key, absl::string_view value,
                                                int64_t lease = 0);

  // KV.DeleteRange of [key, range_end) (empty range_end = the key alone).
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(absl::string_view key,
                                                                absl::string_view range_end = "");

  // KV.Txn as given. A failed comparison is OK with succeeded() == false. Over etcd's
  // --max-txn-ops or --max-request-bytes: RESOURCE_EXHAUSTED naming the flag (see FromEtcd).
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);

  // KV.Compact: history before `revision` can no longer be read or watched. `physical` waits
  // until the backend dropped it. OUT_OF_RANGE if `revision` is already compacted or is in
  // the future.
  absl::Status Compact(int64_t revision, bool physical = false);

  // Lease.LeaseGrant of a lease of `ttl` (whole seconds, at least 1); returns its ID.
  absl::StatusOr<int64_t> LeaseGrant(absl::Duration ttl);
  // Lease.LeaseRevoke: the lease ends and the keys attached to it are deleted.
  absl::Status LeaseRevoke(int64_t lease_id);
  // One Lease.LeaseKeepAlive round (a stream opened, one request, one answer): refreshes the
  // lease and returns its remaining TTL; 0 if the lease has expired or does not exist.
  absl::StatusOr<absl::Duration> LeaseKeepAlive(int64_t lease_id);

  // Maintenance.Status of the member at `endpoint` (one of options.endpoints), no failover:
  // its version, leader, database size and alarms. NOT_FOUND for an unknown endpoint.
  absl::StatusOr<etcdserverpb::StatusResponse> Status(absl::string_view endpoint);

  // Opens a watch stream on the first endpoint that connects (starting with the one that
  // answered last) and creates the watch. The stream does not fail over by itself: on
  // on_broken, watch again. UNAVAILABLE if no endpoint connects within request_timeout.
  absl::StatusOr<std::unique_ptr<EtcdWatch>> Watch(const EtcdWatchRequest& request,
                                                   EtcdWatchCallbacks callbacks);

  const EtcdOptions& options() const { return options_; }

 private:
  struct Endpoint;
  explicit EtcdClient(EtcdOptions options);
  // Runs `call` on endpoints in failover order within request_timeout. `retry_after_send`:
  // the call may be repeated on another endpoint after an UNAVAILABLE that followed sending.
  absl::Status Call(absl::string_view method, bool retry_after_send,
                    const std::function<grpc::Status(Endpoint&, grpc::ClientContext*)>& call);
  void Prepare(grpc::ClientContext* context, absl::Time deadline) const;

  EtcdOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<size_t> preferred_{0};
};

}  // namespace confcenter::storage

#endif  // CONFCENTER_STORAGE_ETCD_CLIENT_H_
