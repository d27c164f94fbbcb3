#include "bench/systems.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_process.h"
#include "benchpb/noop.grpc.pb.h"
#include "confcenter/v1/config.grpc.pb.h"
#include "confcenter/v1/tenant.grpc.pb.h"
#include "confcenter/v1/watch.grpc.pb.h"
#include "etcdserverpb/rpc_subset.grpc.pb.h"
#include "tests/auth_keys.h"
#include "tests/test_util.h"
#include "tests/tls_certs.h"

#ifndef NOOP_SERVER_PATH
#error "NOOP_SERVER_PATH must name the confcenter_noop_server binary"
#endif

namespace confcenter::bench {

int64_t System::RssBytes() const { return pid() ? ProcStatusBytes(pid(), "VmRSS") : 0; }
int64_t System::PeakRssBytes() const { return pid() ? ProcStatusBytes(pid(), "VmHWM") : 0; }

bool System::Connect(int count) {
  ClearStubs();
  channels_ = ConnectChannels(address(), count, credentials());
  for (const auto& c : channels_) AddStubs(c);
  return static_cast<int>(channels_.size()) == count;
}

namespace {

constexpr auto kSetupTimeout = std::chrono::seconds(60);

// `metadata` (name, value; empty name: none) is added to the call, e.g. its credentials.
std::unique_ptr<grpc::ClientContext> SetupContext(
    const std::pair<std::string, std::string>& metadata = {}) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + kSetupTimeout);
  if (!metadata.first.empty()) ctx->AddMetadata(metadata.first, metadata.second);
  return ctx;
}

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const Security& security) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = security.ca_pem;
  return grpc::SslCredentials(options);
}

// A channel for set-up calls that retries every 100 ms while the server starts (gRPC's
// default backoff would wait seconds after the first refused connection).
std::shared_ptr<grpc::Channel> SetupChannel(
    const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  return grpc::CreateCustomChannel(
      address, credentials ? credentials : grpc::InsecureChannelCredentials(), args);
}

// A Subscription whose stream reports its end to StreamStats; an error counts as a failure
// unless the harness cancelled the stream.
class StreamEnd {
 protected:
  void Ended(const grpc::Status& status, StreamStats* stats, const char* what) {
    if (!status.ok() && !cancelled_.load()) {
      stats->Fail(absl::StrCat(what, " ended: ", status.error_code(), " ", status.error_message()));
    }
    stats->ended.fetch_add(1);
    stats->Notify();
  }
  std::atomic<bool> cancelled_{false};
};

// ---------------------------------------------------------------------------- confcenterd

// Counts one Subscribe message that reached `subscribers` subscriptions at `now`: a last
// snapshot message makes them ready, an events message is timed.
class CcMessages : public Subscription {
 protected:
  void Count(const v1::SubscribeResponse& message, int subscribers, int64_t now,
             StreamStats* stats) {
    if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT && message.snapshot_last()) {
      stats->ready.fetch_add(subscribers);
      stats->Notify();
    } else if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_EVENTS) {
      for (const auto& e : message.events()) RecordEvent(e.value(), now, stats, subscribers);
    }
  }
};

class CcSubscriber final : public CcMessages,
                           public grpc::ClientReadReactor<v1::SubscribeResponse>,
                           private StreamEnd {
 public:
  CcSubscriber(v1::WatchService::Stub* stub, const std::string& tenant, const std::string& service,
               StreamStats* stats, const std::pair<std::string, std::string>& auth)
      : stats_(stats) {
    if (!auth.first.empty()) ctx_.AddMetadata(auth.first, auth.second);
    request_.set_tenant(tenant);
    request_.add_services(service);
    stub->async()->Subscribe(&ctx_, &request_, this);
    StartRead(&message_);
    StartCall();
  }
  void Cancel() override {
    cancelled_ = true;
    ctx_.TryCancel();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    Count(message_, 1, NowNanos(), stats_);
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override { Ended(status, stats_, "Subscribe"); }

 private:
  StreamStats* const stats_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest request_;
  v1::SubscribeResponse message_;
};

// A SubscribeViews stream: one view per subscriber; a message naming k views counts for k.
class CcViewsSubscriber final : public CcMessages,
                                public grpc::ClientReadReactor<v1::SubscribeViewsResponse>,
                                private StreamEnd {
 public:
  CcViewsSubscriber(v1::WatchService::Stub* stub,
                    const std::vector<std::pair<std::string, std::string>>& views,
                    StreamStats* stats, const std::pair<std::string, std::string>& auth)
      : stats_(stats) {
    if (!auth.first.empty()) ctx_.AddMetadata(auth.first, auth.second);
    for (const auto& [tenant, service] : views) {
      v1::SubscribeRequest* view = request_.add_views();
      view->set_tenant(tenant);
      view->add_services(service);
    }
    stub->async()->SubscribeViews(&ctx_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void Cancel() override {
    cancelled_ = true;
    ctx_.TryCancel();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const int64_t now = NowNanos();
    for (const v1::ViewMessage& m : response_.messages()) {
      if (m.end_code() != 0) {
        stats_->Fail(absl::StrCat("a view ended: ", m.end_code(), " ", m.end_message()));
        continue;
      }
      Count(m.message(), m.views_size(), now, stats_);
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { Ended(status, stats_, "SubscribeViews"); }

 private:
  StreamStats* const stats_;
  grpc::ClientContext ctx_;
  v1::SubscribeViewsRequest request_;
  v1::SubscribeViewsResponse response_;
};

class Confcenter final : public System {
 public:
  explicit Confcenter(const Security* security, std::string attached = "")
      : security_(security), attached_(std::move(attached)) {
    if (security_) auth_ = {"authorization", "Bearer " + security_->jwt};
  }
  std::string name() const override { return security_ ? "confcenterd-secure" : "confcenterd"; }
  bool inherits() const override { return true; }
  std::shared_ptr<grpc::ChannelCredentials> credentials() const override {
    return security_ ? TlsCredentials(*security_) : nullptr;
  }
  bool Start(const std::string& work_dir) override {
    std::vector<std::string> flags;
    if (security_) {
      flags = {"--tls_cert=" + security_->cert_file, "--tls_key=" + security_->key_file,
               "--auth_policy=" + security_->policy_file};
    }
    if (attached_.empty()) {
      server_ = std::make_unique<testing::ServerProcess>(work_dir + "/data", flags);
      if (server_->port() == 0) return false;
    }
    setup_channel_ = SetupChannel(address(), credentials());
    if (!setup_channel_->WaitForConnected(std::chrono::system_clock::now() +
                                          std::chrono::seconds(30))) {
      std::fprintf(stderr, "%s: cannot connect to %s\n", name().c_str(), address().c_str());
      return false;
    }
    config_setup_ = v1::ConfigService::NewStub(setup_channel_);
    tenants_setup_ = v1::TenantService::NewStub(setup_channel_);
    return true;
  }
  void Stop() override {
    ClearStubs();
    channels_.clear();
    config_setup_.reset();
    tenants_setup_.reset();
    setup_channel_.reset();
    if (server_) server_->Stop();
    server_.reset();
  }
  int pid() const override { return server_ ? server_->pid() : 0; }
  std::string address() const override {
    if (!attached_.empty()) return attached_;
    return server_ ? server_->address() : "";
  }

  grpc::Status CreateTenant(const std::string& tenant, const std::string& parent,
                            const std::vector<std::string>& services) override {
    v1::RegisterRequest req;
    req.set_tenant(tenant);
    req.set_parent(parent);
    for (const auto& s : services) req.add_services()->set_name(s);
    v1::RegisterResponse resp;
    return tenants_setup_->Register(SetupContext(auth_).get(), req, &resp);
  }
  grpc::Status WriteBatch(const std::vector<Entry>& entries) override {
    v1::TxnRequest req;
    for (const Entry& e : entries) {
      v1::TxnOp* op = req.add_ops();
      op->set_type(v1::TXN_OP_TYPE_PUT);
      op->set_tenant(e.tenant);
      op->set_service(e.service);
      op->set_key(e.key);
      op->set_value(e.value);
    }
    v1::TxnResponse resp;
    return config_setup_->Txn(SetupContext(auth_).get(), req, &resp);
  }
  grpc::Status Put(const Entry& e) override {
    v1::PutRequest req;
    Fill(e, &req);
    v1::PutResponse resp;
    return config_setup_->Put(SetupContext(auth_).get(), req, &resp);
  }
  void StartPut(int channel, grpc::ClientContext* ctx, const Entry& e,
                std::function<void(grpc::Status)> done) override {
    auto call = std::make_shared<std::pair<v1::PutRequest, v1::PutResponse>>();
    Fill(e, &call->first);
    Authorize(ctx);
    config_[channel]->async()->Put(ctx, &call->first, &call->second,
                                   [call, done](grpc::Status s) { done(std::move(s)); });
  }
  void StartRead(int channel, grpc::ClientContext* ctx, const std::string& tenant,
                 const std::string& service, int expected,
                 std::function<void(grpc::Status)> done) override {
    auto call = std::make_shared<std::pair<v1::ResolveRequest, v1::ResolveResponse>>();
    Authorize(ctx);
    call->first.set_tenant(tenant);
    call->first.add_services(service);
    config_[channel]->async()->Resolve(
        ctx, &call->first, &call->second, [call, expected, done](grpc::Status s) {
          if (s.ok() && call->second.entries_size() != expected) {
            s = grpc::Status(grpc::StatusCode::DATA_LOSS,
                             absl::StrCat("Resolve returned ", call->second.entries_size(),
                                          " entries, expected ", expected));
          }
          done(std::move(s));
        });
  }
  std::unique_ptr<Subscription> Subscribe(int channel, const std::string& tenant,
                                          const std::string& service, StreamStats* stats) override {
    return std::make_unique<CcSubscriber>(watch_[channel].get(), tenant, service, stats, auth_);
  }
  std::unique_ptr<Subscription> SubscribeShared(
      int channel, const std::vector<std::pair<std::string, std::string>>& views,
      StreamStats* stats) override {
    return std::make_unique<CcViewsSubscriber>(watch_[channel].get(), views, stats, auth_);
  }

 protected:
  void AddStubs(const std::shared_ptr<grpc::Channel>& channel) override {
    config_.push_back(v1::ConfigService::NewStub(channel));
    watch_.push_back(v1::WatchService::NewStub(channel));
  }
  void ClearStubs() override {
    config_.clear();
    watch_.clear();
  }

 private:
  // Adds the caller's credentials to a call (secure variant), as the client library does.
  void Authorize(grpc::ClientContext* ctx) const {
    if (security_) ctx->AddMetadata(auth_.first, auth_.second);
  }
  static void Fill(const Entry& e, v1::PutRequest* req) {
    req->set_tenant(e.tenant);
    req->set_service(e.service);
    req->set_key(e.key);
    req->set_value(e.value);
  }
  const Security* const security_;
  const std::string attached_;  // the address of a server the caller runs; "" = our own
  std::pair<std::string, std::string> auth_;  // the credentials metadata; empty if plain
  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> setup_channel_;
  std::unique_ptr<v1::ConfigService::Stub> config_setup_;
  std::unique_ptr<v1::TenantService::Stub> tenants_setup_;
  std::vector<std::unique_ptr<v1::ConfigService::Stub>> config_;
  std::vector<std::unique_ptr<v1::WatchService::Stub>> watch_;
};

// ------------------------------------------------------------------------------------ etcd

std::string EtcdKey(const Entry& e) {
  return absl::StrCat("/", e.tenant, "/", e.service, "/", e.key);
}
std::string EtcdPrefix(const std::string& tenant, const std::string& service) {
  return absl::StrCat("/", tenant, "/", service, "/");
}
// The end of the range of keys starting with `prefix` (which ends with '/': '/' + 1 = '0').
std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

class EtcdWatcher final
    : public Subscription,
      public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>,
      private StreamEnd {
 public:
  // One watcher per prefix, all on this stream, created one after the other.
  EtcdWatcher(etcdserverpb::Watch::Stub* stub, std::vector<std::string> prefixes,
              StreamStats* stats, const std::string& token)
      : stats_(stats), prefixes_(std::move(prefixes)) {
    if (!token.empty()) ctx_.AddMetadata("token", token);
    stub->async()->Watch(&ctx_, this);
    WriteCreate();  // the stream stays open for writing: etcd cancels on half-close
    StartRead(&response_);
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok && next_ < prefixes_.size()) WriteCreate();
  }
  void Cancel() override {
    cancelled_ = true;
    ctx_.TryCancel();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const int64_t now = NowNanos();
    if (response_.created()) {
      stats_->ready.fetch_add(1);
      stats_->Notify();
    }
    if (response_.canceled())
      stats_->Fail("etcd cancelled a watcher: " + response_.cancel_reason());
    for (const auto& e : response_.events()) RecordEvent(e.kv().value(), now, stats_);
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { Ended(status, stats_, "Watch"); }

 private:
  // Only on the reactor's write path: at most one write in flight.
  void WriteCreate() {
    etcdserverpb::WatchCreateRequest* create = request_.mutable_create_request();
    create->set_key(prefixes_[next_]);
    create->set_range_end(PrefixEnd(prefixes_[next_]));
    ++next_;
    StartWrite(&request_);
  }

  StreamStats* const stats_;
  const std::vector<std::string> prefixes_;
  size_t next_ = 0;
  grpc::ClientContext ctx_;
  etcdserverpb::WatchRequest request_;
  etcdserverpb::WatchResponse response_;
};

class Etcd final : public System {
 public:
  Etcd(std::string binary, const Security* security, std::string attached = "")
      : binary_(std::move(binary)), security_(security), attached_(std::move(attached)) {}
  std::string name() const override { return security_ ? "etcd-secure" : "etcd"; }
  std::shared_ptr<grpc::ChannelCredentials> credentials() const override {
    return security_ ? TlsCredentials(*security_) : nullptr;
  }
  bool Start(const std::string& work_dir) override {
    token_.clear();
    if (!attached_.empty()) {
      setup_channel_ = SetupChannel(address(), credentials());
      kv_setup_ = etcdserverpb::KV::NewStub(setup_channel_);
      return setup_channel_->WaitForConnected(std::chrono::system_clock::now() +
                                              std::chrono::seconds(30));
    }
    // A port picked free may be taken by another process before etcd binds it (the test
    // suite runs etcd clusters beside this smoke): then etcd exits at once, and a second try
    // on other ports, in a data dir of its own, is the remedy.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (StartOnce(
              absl::StrCat(work_dir, "/etcd", attempt == 0 ? "" : absl::StrCat("-", attempt))))
        return true;
      const bool lost_port_race =
          process_ && !process_->Running() &&
          FileTail(process_->log_path(), 1 << 16).find("address already in use") !=
              std::string::npos;
      if (!lost_port_race) return false;
      std::fprintf(stderr, "etcd lost a race for its ports; trying other ports\n");
      Stop();
    }
    return false;
  }

 private:
  // One start on newly picked ports, with its data in `data_dir`.
  bool StartOnce(const std::string& data_dir) {
    port_ = FreeLoopbackPort();
    int peer_port = FreeLoopbackPort();
    for (int i = 0; i < 100 && peer_port == port_; ++i) peer_port = FreeLoopbackPort();
    const std::string client_url =
        absl::StrCat(security_ ? "https" : "http", "://127.0.0.1:", port_);
    const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port);
    // One member, fsync on (etcd's default), loopback only.
    std::vector<std::string> args = {"--name=bench",
                                     "--data-dir=" + data_dir,
                                     "--listen-client-urls=" + client_url,
                                     "--advertise-client-urls=" + client_url,
                                     "--listen-peer-urls=" + peer_url,
                                     "--initial-advertise-peer-urls=" + peer_url,
                                     "--initial-cluster=bench=" + peer_url,
                                     "--initial-cluster-state=new",
                                     "--logger=zap",
                                     "--log-outputs=stderr",
                                     "--log-level=info"};
    // 8 GiB, etcd's largest advised quota: the start-up workload's 10M versions outgrow the
    // 2 GiB default.
    args.push_back("--quota-backend-bytes=8589934592");
    if (security_) {
      args.push_back("--cert-file=" + security_->cert_file);
      args.push_back("--key-file=" + security_->key_file);
    }
    // A log of this start's own: the wait below looks for a line a former start on the same
    // data (the start-up workload's restart) would have left there too.
    process_ = std::make_unique<ChildProcess>(binary_, args,
                                              absl::StrCat(data_dir, ".", ++starts_, ".log"));
    setup_channel_ = SetupChannel(address(), credentials());
    kv_setup_ = etcdserverpb::KV::NewStub(setup_channel_);
    // A connection that reaches etcd 3.4 before it serves clients stalls for ~10 s, so first
    // wait (up to 5 s) for its log (info level) to say it serves, then probe.
    for (int i = 0; i < 500 && process_->Running(); ++i) {
      if (FileTail(process_->log_path(), 1 << 16).find("serving client traffic") !=
          std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (int i = 0; i < 300; ++i) {  // bounded: 30 s
      if (!process_->Running()) break;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      etcdserverpb::RangeRequest req;
      req.set_key("/");
      etcdserverpb::RangeResponse resp;
      if (kv_setup_->Range(&ctx, req, &resp).ok()) return !security_ || EnableAuth();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "etcd (%s) did not serve on %s within 30 s; its log ends:\n%s\n",
                 binary_.c_str(), address().c_str(), FileTail(process_->log_path()).c_str());
    return false;
  }

 public:
  void Stop() override {
    ClearStubs();
    channels_.clear();
    kv_setup_.reset();
    token_.clear();
    setup_channel_.reset();
    if (process_) process_->Stop();
    process_.reset();
  }
  int pid() const override { return process_ ? process_->pid() : 0; }
  std::string address() const override {
    return attached_.empty() ? absl::StrCat("127.0.0.1:", port_) : attached_;
  }

  grpc::Status WriteBatch(const std::vector<Entry>& entries) override {
    etcdserverpb::TxnRequest req;
    for (const Entry& e : entries) {
      etcdserverpb::PutRequest* put = req.add_success()->mutable_request_put();
      put->set_key(EtcdKey(e));
      put->set_value(e.value);
    }
    etcdserverpb::TxnResponse resp;
    return kv_setup_->Txn(SetupContext(Auth()).get(), req, &resp);
  }
  grpc::Status Put(const Entry& e) override {
    etcdserverpb::PutRequest req;
    req.set_key(EtcdKey(e));
    req.set_value(e.value);
    etcdserverpb::PutResponse resp;
    return kv_setup_->Put(SetupContext(Auth()).get(), req, &resp);
  }
  void StartPut(int channel, grpc::ClientContext* ctx, const Entry& e,
                std::function<void(grpc::Status)> done) override {
    auto call = std::make_shared<std::pair<etcdserverpb::PutRequest, etcdserverpb::PutResponse>>();
    call->first.set_key(EtcdKey(e));
    call->first.set_value(e.value);
    if (!token_.empty()) ctx->AddMetadata("token", token_);
    kv_[channel]->async()->Put(ctx, &call->first, &call->second,
                               [call, done](grpc::Status s) { done(std::move(s)); });
  }
  void StartRead(int channel, grpc::ClientContext* ctx, const std::string& tenant,
                 const std::string& service, int expected,
                 std::function<void(grpc::Status)> done) override {
    auto call =
        std::make_shared<std::pair<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>>();
    const std::string prefix = EtcdPrefix(tenant, service);
    call->first.set_key(prefix);
    call->first.set_range_end(PrefixEnd(prefix));
    call->first.set_serializable(true);
    if (!token_.empty()) ctx->AddMetadata("token", token_);
    kv_[channel]->async()->Range(
        ctx, &call->first, &call->second, [call, expected, done](grpc::Status s) {
          if (s.ok() && call->second.kvs_size() != expected) {
            s = grpc::Status(grpc::StatusCode::DATA_LOSS,
                             absl::StrCat("Range returned ", call->second.kvs_size(),
                                          " keys, expected ", expected));
          }
          done(std::move(s));
        });
  }
  std::unique_ptr<Subscription> Subscribe(int channel, const std::string& tenant,
                                          const std::string& service, StreamStats* stats) override {
    return std::make_unique<EtcdWatcher>(watch_[channel].get(),
                                         std::vector<std::string>{EtcdPrefix(tenant, service)},
                                         stats, token_);
  }
  std::unique_ptr<Subscription> SubscribeShared(
      int channel, const std::vector<std::pair<std::string, std::string>>& views,
      StreamStats* stats) override {
    std::vector<std::string> prefixes;
    for (const auto& [tenant, service] : views) prefixes.push_back(EtcdPrefix(tenant, service));
    return std::make_unique<EtcdWatcher>(watch_[channel].get(), std::move(prefixes), stats, token_);
  }

 protected:
  void AddStubs(const std::shared_ptr<grpc::Channel>& channel) override {
    kv_.push_back(etcdserverpb::KV::NewStub(channel));
    watch_.push_back(etcdserverpb::Watch::NewStub(channel));
  }
  void ClearStubs() override {
    kv_.clear();
    watch_.clear();
  }

 private:
  // Adds user root with role root, enables authentication and gets root's token, as
  // `etcdctl user add root && etcdctl auth enable` then a client's login would.
  bool EnableAuth() {
    auto auth = etcdserverpb::Auth::NewStub(setup_channel_);
    const std::string password = "bench-root-password";
    etcdserverpb::AuthRoleAddRequest role;
    role.set_name("root");
    etcdserverpb::AuthRoleAddResponse role_resp;
    etcdserverpb::AuthUserAddRequest user;
    user.set_name("root");
    user.set_password(password);
    etcdserverpb::AuthUserAddResponse user_resp;
    etcdserverpb::AuthUserGrantRoleRequest grant;
    grant.set_user("root");
    grant.set_role("root");
    etcdserverpb::AuthUserGrantRoleResponse grant_resp;
    etcdserverpb::AuthEnableResponse enable_resp;
    etcdserverpb::AuthenticateRequest login;
    login.set_name("root");
    login.set_password(password);
    etcdserverpb::AuthenticateResponse login_resp;
    grpc::Status st = auth->RoleAdd(SetupContext().get(), role, &role_resp);
    if (st.ok()) st = auth->UserAdd(SetupContext().get(), user, &user_resp);
    if (st.ok()) st = auth->UserGrantRole(SetupContext().get(), grant, &grant_resp);
    if (st.ok()) st = auth->AuthEnable(SetupContext().get(), {}, &enable_resp);
    if (st.ok()) st = auth->Authenticate(SetupContext().get(), login, &login_resp);
    if (st.ok() && login_resp.token().empty()) {
      st = grpc::Status(grpc::StatusCode::INTERNAL, "Authenticate returned no token");
    }
    if (!st.ok()) {
      std::fprintf(stderr, "etcd: enabling authentication failed: %d %s\n", st.error_code(),
                   st.error_message().c_str());
      return false;
    }
    token_ = login_resp.token();
    return true;
  }
  std::pair<std::string, std::string> Auth() const {
    if (token_.empty()) return {};
    return {"token", token_};
  }

  const std::string binary_;
  const Security* const security_;
  const std::string attached_;  // the address of a member the caller runs; "" = our own
  int starts_ = 0;              // starts so far, each with a log file of its own
  std::string token_;           // root's token once authentication is enabled
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::shared_ptr<grpc::Channel> setup_channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_setup_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv_;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> watch_;
};

// ------------------------------------------------------------------------- no-op ceiling

class NoopHolder final : public Subscription,
                         public grpc::ClientReadReactor<NoopResponse>,
                         private StreamEnd {
 public:
  NoopHolder(NoopService::Stub* stub, StreamStats* stats) : stats_(stats) {
    stub->async()->Hold(&ctx_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void Cancel() override {
    cancelled_ = true;
    ctx_.TryCancel();
  }
  void OnReadInitialMetadataDone(bool ok) override {
    if (!ok) return;
    stats_->ready.fetch_add(1);
    stats_->Notify();
  }
  void OnReadDone(bool) override {}
  void OnDone(const grpc::Status& status) override { Ended(status, stats_, "Hold"); }

 private:
  StreamStats* const stats_;
  grpc::ClientContext ctx_;
  NoopRequest request_;
  NoopResponse response_;
};

class Noop final : public System {
 public:
  std::string name() const override { return "grpc-noop"; }
  bool Start(const std::string& work_dir) override {
    const std::string port_file = work_dir + "/noop.port";
    process_ = std::make_unique<ChildProcess>(
        NOOP_SERVER_PATH,
        std::vector<std::string>{"--listen=127.0.0.1:0", "--port_file=" + port_file},
        work_dir + "/noop.log");
    for (int i = 0; i < 3000 && port_ == 0; ++i) {  // bounded: 30 s
      std::ifstream in(port_file);
      if (in >> port_) break;
      if (!process_->Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (port_ == 0) {
      std::fprintf(stderr, "the no-op server did not start; its log ends:\n%s\n",
                   FileTail(process_->log_path()).c_str());
    }
    return port_ != 0;
  }
  void Stop() override {
    ClearStubs();
    channels_.clear();
    if (process_) process_->Stop();
    process_.reset();
    port_ = 0;
  }
  int pid() const override { return process_ ? process_->pid() : 0; }
  std::string address() const override { return absl::StrCat("127.0.0.1:", port_); }
  grpc::Status WriteBatch(const std::vector<Entry>&) override { return grpc::Status::OK; }
  grpc::Status Put(const Entry&) override { return grpc::Status::OK; }
  void StartPut(int channel, grpc::ClientContext* ctx, const Entry&,
                std::function<void(grpc::Status)> done) override {
    Call(channel, ctx, std::move(done));
  }
  void StartRead(int channel, grpc::ClientContext* ctx, const std::string&, const std::string&, int,
                 std::function<void(grpc::Status)> done) override {
    Call(channel, ctx, std::move(done));
  }
  std::unique_ptr<Subscription> Subscribe(int channel, const std::string&, const std::string&,
                                          StreamStats* stats) override {
    return std::make_unique<NoopHolder>(stubs_[channel].get(), stats);
  }

 protected:
  void AddStubs(const std::shared_ptr<grpc::Channel>& channel) override {
    stubs_.push_back(NoopService::NewStub(channel));
  }
  void ClearStubs() override { stubs_.clear(); }

 private:
  void Call(int channel, grpc::ClientContext* ctx, std::function<void(grpc::Status)> done) {
    auto call = std::make_shared<std::pair<NoopRequest, NoopResponse>>();
    stubs_[channel]->async()->Call(ctx, &call->first, &call->second,
                                   [call, done](grpc::Status s) { done(std::move(s)); });
  }
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::vector<std::unique_ptr<NoopService::Stub>> stubs_;
};

}  // namespace

std::unique_ptr<System> MakeConfcenter(const Security* security) {
  return std::make_unique<Confcenter>(security);
}
std::unique_ptr<System> MakeEtcd(const std::string& etcd_binary, const Security* security) {
  return std::make_unique<Etcd>(etcd_binary, security);
}

std::unique_ptr<Security> MakeSecurity(const std::string& dir) {
  constexpr char kIssuer[] = "https://bench.confcenter.test";
  absl::StatusOr<testing::TlsCerts> certs = testing::MakeTlsCerts(dir);
  absl::StatusOr<std::string> ca = certs.ok() ? testing::ReadPem(certs->ca.cert) : certs.status();
  if (!ca.ok()) {
    std::fprintf(stderr, "certificates: %s\n", ca.status().ToString().c_str());
    return nullptr;
  }
  auto security = std::make_unique<Security>();
  security->dir = dir;
  security->ca_pem = *ca;
  security->cert_file = certs->server.cert;
  security->key_file = certs->server.key;
  // RS256, as Kubernetes, GitLab and GitHub sign their tokens.
  const testing::TestKey key = testing::TestKey::Rsa("bench-key");
  const std::string jwks = dir + "/jwks.json";
  testing::WriteJwks(jwks, {key});
  security->policy_file = dir + "/policy.yaml";
  testing::WriteFile(security->policy_file, absl::StrCat("authentication:\n"
                                                         "  jwt_issuers:\n"
                                                         "    - issuer: ",
                                                         kIssuer,
                                                         "\n"
                                                         "      audiences: [",
                                                         testing::kAudience,
                                                         "]\n"
                                                         "      jwks_file: ",
                                                         jwks,
                                                         "\n"
                                                         "bindings:\n"
                                                         "  - subjects: [{kind: jwt, issuer: \"",
                                                         kIssuer,
                                                         "\", name: bench}]\n"
                                                         "    roles: [admin]\n"
                                                         "    tenants: [\"*\"]\n"));
  security->jwt = testing::SignJwt(
      key, {}, testing::StandardClaims(kIssuer, "bench", absl::Now(), absl::Hours(12)));
  return security;
}
std::unique_ptr<System> MakeNoop() { return std::make_unique<Noop>(); }
std::unique_ptr<System> AttachConfcenter(const std::string& address) {
  return std::make_unique<Confcenter>(nullptr, address);
}
std::unique_ptr<System> AttachEtcd(const std::string& address) {
  return std::make_unique<Etcd>("", nullptr, address);
}

}  // namespace confcenter::bench
