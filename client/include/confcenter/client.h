// confcenter C++ client: one method per RPC of confcenter.v1, with a per-call deadline and
// retries with exponential backoff and jitter for calls that are safe to repeat.
//
//   confcenter::Client client({.address = "127.0.0.1:7070"});
// or, for the replicas of one deployment (tried in order; see ClientOptions::address):
//   confcenter::Client client({.address = "10.0.0.11:7070,10.0.0.12:7070"});
// or, with TLS and/or a bearer token (see credentials.h):
//   options.credentials = confcenter::Credentials::FromEnvironment();
//   absl::StatusOr<std::unique_ptr<confcenter::Client>> client =
//   confcenter::Client::Create(options); v1::ResolveRequest req; req.set_tenant("f1");
//   absl::StatusOr<v1::ResolveResponse> view = client.Resolve(req);
//
// Thread-safe: one Client may be shared by any number of threads.
#ifndef CONFCENTER_CLIENT_CLIENT_H_
#define CONFCENTER_CLIENT_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "confcenter/credentials.h"
#include "confcenter/v1/access.grpc.pb.h"
#include "confcenter/v1/admin.grpc.pb.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/history.grpc.pb.h"
#include "confcenter/v1/instances.grpc.pb.h"
#include "confcenter/v1/release.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace confcenter {

struct ClientOptions {
  // Where confcenterd is: one address, or the replicas of one confcenterd deployment as a
  // comma-separated list (spaces around entries ignored), tried in order. One address is any
  // gRPC target, unchanged: "host:port", "dns:///name:port" (every record a replica),
  // "ipv4:...", "unix:/path". A list holds IP literals with ports, "10.0.0.1:7070" or
  // "[fd00::1]:7070" (gRPC resolves no list of names: give one dns:/// name instead). The
  // channel uses pick_first: it stays on the first replica that answers and moves to the
  // next one when that connection goes. Ignored when `addresses` is set. Default
  // "127.0.0.1:7070".
  std::string address = "127.0.0.1:7070";
  // The replicas, one address each (the entries of `address`'s list; an entry may itself be
  // a comma-separated list). Non-empty = used instead of `address`. Default empty.
  std::vector<std::string> addresses;
  // Deadline of a unary call, all its attempts and the waits between them included. Default
  // 5 s.
  absl::Duration deadline = absl::Seconds(5);
  // Attempts of a unary call that failed UNAVAILABLE, within its deadline: the channel then
  // reconnects, to the next replica if the last one is gone. Reads (and Register, Deregister)
  // are retried; writes (Put, Delete, Mask, Txn, Rollback) only when gRPC could not connect
  // to any replica (nothing was sent), or with retry_writes. 1 = no retry. Default 3.
  int max_attempts = 3;
  // Backoff before the second attempt; doubles each time up to max_backoff, with up to 50%
  // random jitter. Defaults 100 ms and 2 s. The channel reconnects on the same schedule
  // (gRPC's own default waits up to 2 minutes between connection attempts).
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  // Also retry Put, Delete, Mask, Txn and Rollback on any UNAVAILABLE, also one that broke
  // the connection after the write was sent: a retried write whose first attempt did reach
  // the server is applied twice (two revisions, same result). Default false.
  bool retry_writes = false;
  // Sent as the x-confcenter-user metadata header (who made a change). Empty = none.
  std::string user;
  // Queue calls while the server is unreachable (until their deadline) instead of failing
  // them at once; a call whose deadline passes before a connection was made fails with
  // UNAVAILABLE "cannot reach ...". Default false.
  bool wait_for_ready = false;
  // How much of one stream's data the channel accepts before the application reads it (the
  // HTTP/2 stream window), fixed: gRPC's adaptive window (BDP probing) is off. A Subscription
  // whose callback hangs then holds up the server's writes to it after this much, so the
  // server cuts it off as a slow consumer within seconds (it resumes gap-free once the
  // callback returns). With the adaptive window such a stream takes up to 8 MiB, which the
  // server keeps sending while serving everyone else. 0 = gRPC's adaptive window (faster
  // large snapshots over links with a long round trip). Default 16 KiB.
  int receive_window_bytes = 16 * 1024;
  // The channel pings the server after this much quiet, also between calls, and drops the
  // connection if a ping goes unanswered for keepalive_timeout: a replica that vanished
  // without a TCP reset (node gone, network cut) is noticed in seconds, and subscriptions
  // resume elsewhere, instead of after the kernel's retransmission timeout (~15 min).
  // confcenterd refuses pings more frequent than every 5 s. Zero = no pings.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // TLS (ca_file, cert_file, key_file, server_name) and the bearer token (token, token_file)
  // of every call; see credentials.h. Default: plaintext, no token.
  Credentials credentials;
};

// A server stream of WatchService.Subscribe, read with blocking calls.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // Blocks for the next message; false when the stream has ended (then call Finish).
  virtual bool Read(v1::SubscribeResponse* message) = 0;
  // The stream's final status. Call after Read returned false.
  virtual absl::Status Finish() = 0;
  // Ends the stream from any thread; a blocked Read returns false.
  virtual void Cancel() = 0;
};

class Client {
 public:
  // Connects lazily: no call is made until the first RPC. Errors: those of MakeChannel (a
  // certificate file that cannot be read...).
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);
  // As Create, but if the channel cannot be made every call fails with MakeChannel's error
  // (and channel() is a channel that fails every call with it).
  explicit Client(const ClientOptions& options);
  // A channel to Target(options) with the options' reconnect backoff, receive window and
  // options.credentials' TLS (plaintext without ca_file). It carries no token: the client's
  // calls add it (TokenSource). Reads the certificate files now. Errors: those of Target, and
  // of MakeChannelCredentials (credentials.h); INVALID_ARGUMENT naming
  // credentials.server_name if TLS is on, the list names different hosts and server_name is
  // empty (one channel checks one name against every replica's certificate).
  static absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);
  // The arguments MakeChannel creates its channel with, for callers that add their own. For a
  // list of replicas: pick_first, and the first replica as the default authority (the name
  // TLS checks unless credentials.server_name overrides it, for every replica).
  static grpc::ChannelArguments ChannelArguments(const ClientOptions& options);
  // The gRPC target of options.addresses, else options.address (see ClientOptions): one
  // address unchanged, a list as "ipv4:a:1,b:2" (or "ipv6:[..]:1,[::ffff:a]:2" when it holds
  // an IPv6 address). Errors: INVALID_ARGUMENT naming the field ("address" or
  // "addresses[i]") for an empty address or entry, and in a list for an entry that is not an
  // IP literal with a port (a name, a dns:/// or other scheme, a bare IPv6 address without
  // brackets, a missing or bad port).
  static absl::StatusOr<std::string> Target(const ClientOptions& options);
  // Uses an existing channel (e.g. one shared with other clients); options.credentials' TLS
  // fields are then ignored (the channel has its own), its token is sent.
  Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options);

  // Each returns the server's response, or its error as an absl::Status with the same code
  // and message (e.g. NOT_FOUND "tenant: tenant \"f9\" not found"). UNAUTHENTICATED naming
  // the file, without calling, if the credentials' token_file cannot be read.
  absl::StatusOr<v1::PutResponse> Put(const v1::PutRequest& request);
  absl::StatusOr<v1::GetResponse> Get(const v1::GetRequest& request);
  absl::StatusOr<v1::DeleteResponse> Delete(const v1::DeleteRequest& request);
  absl::StatusOr<v1::MaskResponse> Mask(const v1::MaskRequest& request);
  absl::StatusOr<v1::ListResponse> List(const v1::ListRequest& request);
  absl::StatusOr<v1::ResolveResponse> Resolve(const v1::ResolveRequest& request);
  absl::StatusOr<v1::TxnResponse> Txn(const v1::TxnRequest& request);
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request);
  absl::StatusOr<v1::DeregisterResponse> Deregister(const v1::DeregisterRequest& request);
  absl::StatusOr<v1::GetTenantResponse> GetTenant(const v1::GetTenantRequest& request);
  absl::StatusOr<v1::ListTenantsResponse> ListTenants(const v1::ListTenantsRequest& request);
  absl::StatusOr<v1::ResolveDependenciesResponse> ResolveDependencies(
      const v1::ResolveDependenciesRequest& request);
  absl::StatusOr<v1::TouchResponse> Touch(const v1::TouchRequest& request);
  // HistoryService. Rollback is a write (retried only with retry_writes); the rest are reads.
  absl::StatusOr<v1::HistoryResponse> History(const v1::HistoryRequest& request);
  absl::StatusOr<v1::ListReleasesResponse> ListReleases(const v1::ListReleasesRequest& request);
  absl::StatusOr<v1::GetReleaseResponse> GetRelease(const v1::GetReleaseRequest& request);
  absl::StatusOr<v1::RollbackResponse> Rollback(const v1::RollbackRequest& request);
  absl::StatusOr<v1::DiffResponse> Diff(const v1::DiffRequest& request);
  absl::StatusOr<v1::QueryAuditResponse> QueryAudit(const v1::QueryAuditRequest& request);
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request);

  // InstanceService: who follows a view and what each has applied. WaitApplied's deadline is
  // the request's timeout (default 60 s) plus options.deadline, so the server answers with
  // the laggards before the client gives up.
  absl::StatusOr<v1::ListInstancesResponse> ListInstances(const v1::ListInstancesRequest& request);
  absl::StatusOr<v1::WaitAppliedResponse> WaitApplied(const v1::WaitAppliedRequest& request);

  // ReleaseService: review settings, drafts, promotion and reset. Writes (all but GetDraft
  // and ListDrafts) are retried only with retry_writes.
  absl::StatusOr<v1::SetReviewResponse> SetReview(const v1::SetReviewRequest& request);
  absl::StatusOr<v1::DraftResponse> CreateDraft(const v1::CreateDraftRequest& request);
  absl::StatusOr<v1::DraftResponse> UpdateDraft(const v1::UpdateDraftRequest& request);
  absl::StatusOr<v1::DraftResponse> GetDraft(const v1::GetDraftRequest& request);
  absl::StatusOr<v1::ListDraftsResponse> ListDrafts(const v1::ListDraftsRequest& request);
  absl::StatusOr<v1::DiscardDraftResponse> DiscardDraft(const v1::DiscardDraftRequest& request);
  absl::StatusOr<v1::PublishDraftResponse> PublishDraft(const v1::PublishDraftRequest& request);
  absl::StatusOr<v1::PromoteResponse> Promote(const v1::PromoteRequest& request);
  absl::StatusOr<v1::ResetResponse> Reset(const v1::ResetRequest& request);
  absl::StatusOr<v1::GrayResponse> StartGray(const v1::StartGrayRequest& request);
  absl::StatusOr<v1::GrayResponse> GetGray(const v1::GetGrayRequest& request);
  absl::StatusOr<v1::EndGrayResponse> PromoteGray(const v1::EndGrayRequest& request);
  absl::StatusOr<v1::EndGrayResponse> AbortGray(const v1::EndGrayRequest& request);

  // AccessService.WhoAmI: who the server takes the caller for, its rights, and the server's
  // release, API and clock.
  absl::StatusOr<v1::WhoAmIResponse> WhoAmI(const v1::WhoAmIRequest& request);

  // AdminService.RotateSecretKey (not retried: it may run long; safe to call again).
  absl::StatusOr<v1::RotateSecretKeyResponse> RotateSecretKey(
      const v1::RotateSecretKeyRequest& request);

  // AdminService.Backup into directory `dir` (created; it must not exist or be empty:
  // FAILED_PRECONDITION otherwise): every file, checked against the manifest's sizes and
  // CRC-32s (DATA_LOSS if one differs) and synced, then confcenter-backup.json (see backup.h).
  // options.deadline bounds connecting, not the transfer. On error the files written so far
  // are removed. Returns the manifest.
  absl::StatusOr<v1::BackupManifest> Backup(const std::string& dir);

  // Opens a Subscribe stream (no deadline, no retry: see Subscription for a stream that
  // reconnects and resumes by itself). If the token cannot be read, the stream ends at once
  // and Finish says why.
  std::unique_ptr<WatchStream> Subscribe(const v1::SubscribeRequest& request);

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

 private:
  Client(std::pair<std::shared_ptr<grpc::Channel>, absl::Status> channel,
         const ClientOptions& options);
  // `extra`: time the call may take beyond options.deadline (a wait the server bounds).
  template <typename Request, typename Response, typename Call>
  absl::StatusOr<Response> Unary(const Request& request, bool idempotent, Call call,
                                 absl::Duration extra = absl::ZeroDuration());
  // Sets up a call's context: x-confcenter-user and the bearer token. Errors: the channel's
  // creation error, or the token's.
  absl::Status Prepare(grpc::ClientContext* context) const;

  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  // Why the channel could not be made (OK if it was): every call fails with it.
  const absl::Status channel_status_;
  const std::unique_ptr<TokenSource> token_;
  const std::unique_ptr<v1::ConfigService::Stub> config_;
  const std::unique_ptr<v1::TenantService::Stub> tenants_;
  const std::unique_ptr<v1::WatchService::Stub> watch_;
  const std::unique_ptr<v1::HistoryService::Stub> history_;
  const std::unique_ptr<v1::AdminService::Stub> admin_;
  const std::unique_ptr<v1::InstanceService::Stub> instances_;
  const std::unique_ptr<v1::ReleaseService::Stub> release_;
  const std::unique_ptr<v1::AccessService::Stub> access_;
};

// grpc::Status -> absl::Status, code and message unchanged.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace confcenter

#endif  // CONFCENTER_CLIENT_CLIENT_H_
