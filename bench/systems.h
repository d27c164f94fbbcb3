// The servers confcenter_vs_etcd compares, behind one interface so that every workload is
// written once: confcenterd (tenants, Resolve, Subscribe), etcd 3.4 (keys under
// "/tenant/service/", Range, Watch) and the no-op gRPC server (the ceiling).
#ifndef CONFCENTER_BENCH_SYSTEMS_H_
#define CONFCENTER_BENCH_SYSTEMS_H_

#include <memory>
#include <string>
#include <vector>

#include "bench/load_gen.h"
#include "grpcpp/grpcpp.h"

namespace confcenter::bench {

// What the secure variants (--secure) share: TLS files for every server and a caller
// identity for each kind of authentication. Made once per benchmark by MakeSecurity.
struct Security {
  std::string dir;          // where everything below is
  std::string ca_pem;       // the CA the server certificate chains to (PEM text)
  std::string cert_file;    // the server certificate (SAN IP:127.0.0.1, DNS:localhost)
  std::string key_file;     // and its key
  std::string policy_file;  // confcenterd's --auth_policy: a JWT issuer and an admin binding
  std::string jwt;          // the benchmark's RS256 JWT, admin on every tenant there
};

// Makes the CA and server certificate (openssl CLI), an RSA key and its JWKS, the policy that
// trusts it for issuer "https://bench.confcenter.test" and binds that issuer's subject
// "bench" to admin on "*", and the JWT, in `dir`. Null (and why on stderr) on failure.
std::unique_ptr<Security> MakeSecurity(const std::string& dir);

// One configuration entry. etcd stores it as key "/tenant/service/key".
struct Entry {
  std::string tenant;
  std::string service;
  std::string key;
  std::string value;
};

// A server under test. Start, then Connect, then the calls; not thread-safe except the
// Start* and Subscribe calls, which may run concurrently once Connect returned.
class System {
 public:
  virtual ~System() = default;
  // "confcenterd", "etcd" or "grpc-noop".
  virtual std::string name() const = 0;
  // Starts a fresh server with its data under `work_dir` (an empty directory), on loopback
  // ports; waits until it serves. False (and why on stderr) if it does not within 30 s.
  virtual bool Start(const std::string& work_dir) = 0;
  // Stops the server (SIGTERM; SIGKILL after 10 s). Drops the connections first.
  virtual void Stop() = 0;
  virtual int pid() const = 0;
  // "127.0.0.1:PORT" of the gRPC API.
  virtual std::string address() const = 0;
  // True if a tenant's view inherits its parent's entries (confcenter); etcd has no
  // inheritance, so a workload stores there what the inheriting view would resolve to.
  virtual bool inherits() const { return false; }

  // Memory of the server process (VmRSS now, VmHWM peak), in bytes; 0 if not running.
  int64_t RssBytes() const;
  int64_t PeakRssBytes() const;

  // Opens `count` connections for the Start* and Subscribe calls. False if one fails.
  bool Connect(int count);
  // The credentials of every connection (null: plaintext).
  virtual std::shared_ptr<grpc::ChannelCredentials> credentials() const { return nullptr; }
  int connections() const { return static_cast<int>(channels_.size()); }

  // Blocking set-up calls, on their own connection. Creates a tenant (child of `parent`;
  // "" = integration's default) holding `services`; etcd and no-op: nothing to do.
  virtual grpc::Status CreateTenant(const std::string& tenant, const std::string& parent,
                                    const std::vector<std::string>& services) {
    return grpc::Status::OK;
  }
  // Writes the entries atomically (one Txn).
  virtual grpc::Status WriteBatch(const std::vector<Entry>& entries) = 0;
  // One blocking put.
  virtual grpc::Status Put(const Entry& entry) = 0;

  // Asynchronous calls for the load generator (see CallStarter): a durable put; a read of
  // the (tenant, service) view, which must return `expected` entries (else DATA_LOSS).
  virtual void StartPut(int channel, grpc::ClientContext* ctx, const Entry& entry,
                        std::function<void(grpc::Status)> done) = 0;
  virtual void StartRead(int channel, grpc::ClientContext* ctx, const std::string& tenant,
                         const std::string& service, int expected,
                         std::function<void(grpc::Status)> done) = 0;
  // A subscription to the (tenant, service) view; counts itself ready in `stats` once its
  // initial state arrived (snapshot / watch created / stream open), and its events after.
  virtual std::unique_ptr<Subscription> Subscribe(int channel, const std::string& tenant,
                                                  const std::string& service,
                                                  StreamStats* stats) = 0;
  // Many subscriptions sharing one stream, each a (tenant, service) view counted in `stats`
  // as Subscribe counts one: confcenter's SubscribeViews, etcd watchers created on one Watch
  // stream (what etcd's own client does with the watchers of a process). Null if the system
  // has no such thing (no-op).
  virtual std::unique_ptr<Subscription> SubscribeShared(
      int channel, const std::vector<std::pair<std::string, std::string>>& views,
      StreamStats* stats) {
    return nullptr;
  }

 protected:
  // Called by Connect for each new channel to make the stubs.
  virtual void AddStubs(const std::shared_ptr<grpc::Channel>& channel) = 0;
  virtual void ClearStubs() = 0;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

// confcenterd, built next to the benchmark. With `security` (which must outlive it):
// "confcenterd-secure", serving TLS only (--tls_cert/--tls_key) with --auth_policy, every
// call over TLS with `authorization: Bearer <jwt>`.
std::unique_ptr<System> MakeConfcenter(const Security* security = nullptr);
// etcd at `etcd_binary` (Debian 12: /usr/bin/etcd from etcd-server), single member. With
// `security`: "etcd-secure", clients served over TLS (--cert-file/--key-file) with
// authentication enabled (user root with role root; a simple token from Authenticate sent as
// `token` metadata on every call).
std::unique_ptr<System> MakeEtcd(const std::string& etcd_binary,
                                 const Security* security = nullptr);
// The no-op server (confcenter_noop_server): Put and Read are its empty unary call,
// Subscribe an idle server stream.
std::unique_ptr<System> MakeNoop();

// A confcenterd or an etcd member that runs already, started by the caller, at `address`
// ("127.0.0.1:PORT"), plaintext: Start(work_dir) only opens the set-up connection (work_dir is
// unused), Stop only drops the connections, pid() is 0. For a server that is one of many
// (confcenter_ha_bench: replicas on one etcd cluster, the cluster's members).
std::unique_ptr<System> AttachConfcenter(const std::string& address);
std::unique_ptr<System> AttachEtcd(const std::string& address);

}  // namespace confcenter::bench

#endif  // CONFCENTER_BENCH_SYSTEMS_H_
