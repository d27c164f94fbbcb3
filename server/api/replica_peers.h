// The other replicas of a shared store, asked over gRPC for what only their memory holds: the
// instance table (InstanceService calls with replica_local). Replicas find each other in the
// store (storage::Store::Announce / Replicas). A call carries the store's peer secret in
// `x-confcenter-peer`; the replica asked accepts that instead of a caller's credentials,
// because the replicas of a store trust each other as much as the store they share.
#ifndef CONFCENTER_SERVER_API_REPLICA_PEERS_H_
#define CONFCENTER_SERVER_API_REPLICA_PEERS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "confcenter/v1/instances.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "storage/store.h"

namespace confcenter {

// How this replica dials the others (their --listen, at the address each announced).
struct PeerChannelOptions {
  // TLS: with `ca_file` set, each replica's certificate is verified against it, under
  // `server_name` if set (replicas are dialled by address, which a certificate rarely names).
  // With `cert_file` and `key_file` also set, they are presented as a client certificate.
  // All empty: plaintext.
  std::string ca_file;
  std::string server_name;
  std::string cert_file;
  std::string key_file;
};

// One other replica's answer.
template <typename Response>
struct PeerAnswer {
  storage::ReplicaAddress replica;
  absl::Status status;  // not OK: it could not be asked (the response is empty)
  Response response;
};

class ReplicaPeers {
 public:
  static constexpr char kSecretHeader[] = "x-confcenter-peer";

  // `store` must outlive the peers. The TLS files are read now (the client library's
  // MakeChannelCredentials); its errors name the daemon's settings.
  static absl::StatusOr<std::unique_ptr<ReplicaPeers>> Create(storage::Store* store,
                                                              const PeerChannelOptions& options);

  // This replica's id ("" on a local store, which has no peers).
  std::string self() const { return store_->ReplicaId(); }
  // Whether other replicas may hold instances (the store is shared).
  bool shared() const { return store_->shared(); }

  // True if `ctx` carries this store's peer secret; false if it carries none. A wrong
  // secret is UNAUTHENTICATED.
  absl::StatusOr<bool> FromPeer(const grpc::CallbackServerContext& ctx) const;

  using ListDone = std::function<void(std::vector<PeerAnswer<v1::ListInstancesResponse>>)>;
  using WaitDone = std::function<void(std::vector<PeerAnswer<v1::WaitAppliedResponse>>)>;

  // Asks every other announced replica for its own instances (replica_local); calls `done`
  // once each answered or failed, by `deadline` at the latest. `done` runs on a gRPC thread
  // (or this one when there is nobody to ask) and must not block.
  void ListInstances(const v1::ListInstancesRequest& request, absl::Time deadline, ListDone done);
  // Has every other announced replica wait for its own instances (replica_local) until
  // `deadline`. A replica that cannot be reached is asked again every half second while it
  // stays announced (one that died leaves the list within the store's lease TTL, and its
  // instances reconnect elsewhere); `done` as for ListInstances.
  void WaitApplied(const v1::WaitAppliedRequest& request, absl::Time deadline, WaitDone done);

  // Ends the waits in flight now (their peers count as not answered), and answers later ones
  // at once: the server is stopping and must not hold its calls open until their deadlines.
  void Shutdown();

 private:
  class PeerWait;

  ReplicaPeers(storage::Store* store, std::shared_ptr<grpc::ChannelCredentials> credentials,
               std::string server_name)
      : store_(store), credentials_(std::move(credentials)), server_name_(std::move(server_name)) {}

  // The other replicas announced now.
  std::vector<storage::ReplicaAddress> Others() const;
  // A stub for `address`, its channel kept for later calls.
  v1::InstanceService::Stub* StubFor(const std::string& address);
  // A client context carrying the peer secret with `deadline`.
  std::unique_ptr<grpc::ClientContext> Context(absl::Time deadline) const;

  storage::Store* const store_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const std::string server_name_;

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<v1::InstanceService::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<PeerWait>> waits_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_REPLICA_PEERS_H_
