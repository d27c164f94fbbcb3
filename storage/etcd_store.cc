// The etcd engine (layout in etcd_store.h). The store keeps, under mu_, what it knows of the
// shared head: the newest revision it knows committed (revision_), the head key's etcd
// mod_revision at that revision (head_mod_, the guard of the next commit), the audit sequence,
// and a ring of the change sets up to revision_ (opened). Own commits, conflicts and the follow
// thread's watch all feed it in revision order; the follower is fed from the ring.
#include "storage/etcd_store.h"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "openssl/rand.h"
#include "spdlog/spdlog.h"
#include "storage/history_record.h"
#include "storage/key_codec.h"
#include "storage/store_epoch.h"

namespace confcenter::storage {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;

constexpr char kMarker[] = "confcenter-etcd-1";
constexpr char kSealCheckValue[] = "confcenter-seal-check";
constexpr int64_t kPage = 256;
// Log bundles a failed commit reads back (what the others committed since its base).
constexpr int64_t kConflictBundles = 64;
constexpr int64_t kMaxRevision = std::numeric_limits<int64_t>::max() - 1;
constexpr absl::Duration kLeaseTtl = absl::Seconds(15);
constexpr absl::Duration kKeepAliveEvery = absl::Seconds(5);
constexpr absl::Duration kStatusEvery = absl::Seconds(10);
// A replica's announcement (P replicas/<id>) outlives it by at most this TTL; it is refreshed
// and the list read every maintenance tick.
constexpr absl::Duration kPresenceTtl = absl::Seconds(6);
constexpr absl::Duration kPresenceEvery = absl::Seconds(1);
// Progress requests at most this far apart, and at least 4 per follow_timeout: etcd answers
// one only once the watcher has caught up (a watch from a past revision has not, at first),
// so a single request per timeout could go unanswered on a healthy member.
constexpr absl::Duration kProgressEvery = absl::Seconds(1);
// What etcd adds to a Txn's own size before checking --max-request-bytes (the raft request
// header), with room to spare.
constexpr int64_t kRequestOverhead = 512;
// Limits() keeps this much of --max-request-bytes for what a call adds besides its change
// sets and audit records (head, keys of the log and audit bundles, compare, failure ops).
constexpr int64_t kBytesReserve = 64 * 1024;
// Per op: the RequestOp and PutRequest framing, a generous bound.
constexpr int64_t kOpOverhead = 32;
// What sealing adds to a secret value (format byte, nonce, tag, field tag), generous.
constexpr int64_t kSealOverhead = 64;

// The smallest key after every key starting with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char c = static_cast<unsigned char>(prefix.back());
    if (c < 0xff) {
      prefix.back() = static_cast<char>(c + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

// Returned by a RangeAll visitor to stop early; never leaves this file.
absl::Status StopVisit() { return absl::CancelledError("confcenter.etcd_store/stop"); }
bool IsStop(const absl::Status& s) {
  return s.code() == absl::StatusCode::kCancelled && s.message() == "confcenter.etcd_store/stop";
}
// The status of a RangeAll that may have been stopped by its visitor.
absl::Status Visited(const absl::StatusOr<int64_t>& ranged) {
  if (ranged.ok() || IsStop(ranged.status())) return absl::OkStatus();
  return ranged.status();
}

void AddPut(google::protobuf::RepeatedPtrField<RequestOp>* ops, std::string key, std::string value,
            int64_t lease = 0) {
  etcdserverpb::PutRequest* put = ops->Add()->mutable_request_put();
  put->set_key(std::move(key));
  put->set_value(std::move(value));
  put->set_lease(lease);
}
void AddDelete(google::protobuf::RepeatedPtrField<RequestOp>* ops, std::string key,
               std::string range_end = "") {
  etcdserverpb::DeleteRangeRequest* del = ops->Add()->mutable_request_delete_range();
  del->set_key(std::move(key));
  del->set_range_end(std::move(range_end));
}
void AddRange(google::protobuf::RepeatedPtrField<RequestOp>* ops, std::string key,
              std::string range_end = "", int64_t limit = 0) {
  RangeRequest* range = ops->Add()->mutable_request_range();
  range->set_key(std::move(key));
  range->set_range_end(std::move(range_end));
  range->set_limit(limit);
}
void AddCompare(TxnRequest* txn, std::string key, Compare::CompareTarget target, int64_t value) {
  Compare* c = txn->add_compare();
  c->set_key(std::move(key));
  c->set_target(target);
  c->set_result(Compare::EQUAL);
  if (target == Compare::MOD) c->set_mod_revision(value);
  if (target == Compare::CREATE) c->set_create_revision(value);
}

bool HoldsSecrets(const ChangeSet& set) {
  for (const Change& change : set.changes()) {
    if ((change.has_entry() && change.entry().secret()) ||
        (change.has_previous_entry() && change.previous_entry().secret())) {
      return true;
    }
  }
  return false;
}

int64_t SecretCount(const ChangeSet& set) {
  int64_t n = 0;
  for (const Change& change : set.changes()) {
    n += (change.has_entry() && change.entry().secret()) ? 1 : 0;
    n += (change.has_previous_entry() && change.previous_entry().secret()) ? 1 : 0;
  }
  return n;
}

std::string DefaultReplicaId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host, ":", getpid());
}

bool InScope(const HistoryScope& scope, const EntryKey& key) {
  if (key.tenant != scope.tenant) return false;
  if (!scope.service.empty() && key.service != scope.service) return false;
  if (!scope.key.empty()) return key.key == scope.key;
  return absl::StartsWith(key.key, scope.key_prefix);
}

// The byte prefix (below h/) of all history keys of `scope`.
std::string ScopePrefix(const HistoryScope& scope) {
  if (!scope.key.empty()) return HistoryKeyPrefix({scope.tenant, scope.service, scope.key});
  if (!scope.service.empty()) return EntryPrefix(scope.tenant, scope.service) + scope.key_prefix;
  return EntryPrefix(scope.tenant);
}

class EtcdStore final : public Store {
 public:
  EtcdStore(EtcdStoreOptions options, std::unique_ptr<EtcdClient> client)
      : options_(std::move(options)),
        client_(std::move(client)),
        p_(options_.prefix),
        replica_id_(options_.replica_id.empty() ? DefaultReplicaId() : options_.replica_id),
        rng_(std::random_device{}()) {}

  ~EtcdStore() override {
    {
      absl::MutexLock lock(&stop_mu_);
      stopping_ = true;
    }
    if (follow_thread_.joinable()) follow_thread_.join();
    if (maintenance_thread_.joinable()) maintenance_thread_.join();
    if (head_thread_.joinable()) head_thread_.join();
    // Hand the maintenance lock over at once instead of after the lease's TTL.
    if (leader_.load()) client_->LeaseRevoke(lease_id_).IgnoreError();
    // Leave the replica list at once.
    absl::MutexLock lock(&presence_mu_);
    if (presence_lease_ != 0) client_->LeaseRevoke(presence_lease_).IgnoreError();
  }

  // Creates or checks the format marker and reads the head; tries once to lead maintenance
  // and starts the maintenance and head-reading threads.
  absl::Status Init() {
    if (absl::Status s = InitFormat(); !s.ok()) return s;
    ReadPeerSecret(/*log_failure=*/true);
    TryLead();
    RefreshStatus();
    maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
    head_thread_ = std::thread([this] { HeadLoop(); });
    return absl::OkStatus();
  }

  // --- Commit.

  absl::Status CommitWithAudit(const std::vector<ChangeSet>& plain,
                               const std::vector<AuditRecord>& audit) override {
    if (plain.empty() && audit.empty()) return absl::OkStatus();
    absl::MutexLock commit_lock(&commit_mu_);
    Known base;
    {
      absl::MutexLock lock(&mu_);
      base = KnownLocked();
    }
    if (!plain.empty()) {
      if (plain.front().revision() != base.revision + 1) {
        {
          absl::MutexLock lock(&mu_);
          ++conflicts_;  // lost to a commit this replica already learnt of
        }
        return absl::AbortedError(
            absl::StrCat("the change sets start at revision ", plain.front().revision(),
                         " but this replica knows revision ", base.revision,
                         " is the newest committed; nothing of this call was written"));
      }
      for (size_t i = 0; i < plain.size(); ++i) {
        if (plain[i].revision() != base.revision + 1 + static_cast<int64_t>(i)) {
          return absl::InvalidArgumentError(
              absl::StrCat("change set has revision ", plain[i].revision(), "; expected ",
                           base.revision + 1 + static_cast<int64_t>(i)));
        }
      }
    }
    for (const ChangeSet& set : plain) {
      for (const Change& change : set.changes()) {
        if (change.type() < Change::ENTRY_PUT || change.type() > Change::TENANT_DELETE) {
          return absl::InvalidArgumentError(absl::StrCat("change of unknown type ", change.type()));
        }
      }
    }
    // Secret values are written sealed, everywhere (state, log, history, releases); the
    // change sets are copied only to be sealed.
    std::vector<ChangeSet> sealed_copy;
    const std::vector<ChangeSet>* to_write = &plain;
    if (options_.sealer != nullptr && std::any_of(plain.begin(), plain.end(), HoldsSecrets)) {
      sealed_copy = plain;
      for (ChangeSet& set : sealed_copy) {
        if (!HoldsSecrets(set)) continue;
        if (absl::Status s = SealChangeSet(options_.sealer.get(), &set); !s.ok()) return s;
      }
      to_write = &sealed_copy;
    }
    const std::vector<ChangeSet>& sealed = *to_write;
    std::string commit_id(16, '\0');
    for (char& c : commit_id) c = static_cast<char>(rng_() & 0xff);

    // Every op of the call, coalesced per key: etcd refuses a Txn that writes a key twice,
    // and the last write of a key is what the state must hold.
    std::map<std::string, std::optional<std::string>> ops;
    const int64_t last = sealed.empty() ? base.revision : sealed.back().revision();
    for (const ChangeSet& set : sealed) {
      std::set<std::string> tenants;
      for (const Change& change : set.changes()) {
        const EntryKey key{change.tenant(), change.service(), change.key()};
        switch (change.type()) {
          case Change::ENTRY_PUT:
            ops[EntryKeyOf(key)] = change.entry().SerializeAsString();
            break;
          case Change::ENTRY_DELETE:
            ops[EntryKeyOf(key)] = std::nullopt;
            break;
          case Change::TENANT_PUT:
            ops[TenantKey(change.tenant())] = change.tenant_record().SerializeAsString();
            ops[FormerParentKey(change.tenant())] = std::nullopt;
            break;
          case Change::TENANT_DELETE:
            ops[TenantKey(change.tenant())] = std::nullopt;
            ops[FormerParentKey(change.tenant())] = change.previous_tenant().parent();
            break;
          default:
            break;
        }
        if (!MakesHistory(change)) continue;
        ops[HistoryKeyOf(key, set.revision())] = HistoryRecordOf(set, change).SerializeAsString();
        tenants.insert(change.tenant());
      }
      if (set.release()) {
        ops[ReleaseKey(set.revision())] = set.SerializeAsString();
        for (const std::string& tenant : tenants) {
          ops[ReleaseIndexKey(tenant, set.revision())] = std::string();
        }
      }
    }
    if (!sealed.empty()) {
      LogBundle bundle;
      bundle.set_commit_id(commit_id);
      for (const ChangeSet& set : sealed) *bundle.add_change_sets() = set;
      ops[LogKey(last)] = bundle.SerializeAsString();
    }
    int64_t audit_sequence = base.audit_sequence;
    if (!audit.empty()) {
      AuditBundle bundle;
      bundle.set_commit_id(commit_id);
      for (const AuditRecord& in : audit) {
        AuditRecord* record = bundle.add_records();
        *record = in;
        record->set_sequence(++audit_sequence);
      }
      ops[AuditKey(audit_sequence)] = bundle.SerializeAsString();
    }
    EtcdHead head;
    head.set_revision(last);
    head.set_audit_sequence(audit_sequence);
    head.set_commit_id(commit_id);
    head.set_last_commit_time(sealed.empty() ? base.last_commit_time
                                             : sealed.back().commit_time_micros());
    const std::string head_value = head.SerializeAsString();
    ops[HeadKey()] = head_value;

    TxnRequest txn;
    AddCompare(&txn, HeadKey(), Compare::MOD, base.head_mod);
    for (auto& [key, value] : ops) {
      if (value.has_value()) {
        AddPut(txn.mutable_success(), key, std::move(*value));
      } else {
        AddDelete(txn.mutable_success(), key);
      }
    }
    AddResolveRanges(&txn, base.revision, 0);
    if (txn.success_size() > options_.max_txn_ops) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this commit needs ", txn.success_size(),
          " operations in one etcd Txn; etcd accepts --max-txn-ops=", options_.max_txn_ops,
          " (raise etcd's --max-txn-ops and the store's max_txn_ops together, or commit "
          "fewer changes at once); nothing was written"));
    }
    const int64_t bytes = static_cast<int64_t>(txn.ByteSizeLong()) + kRequestOverhead;
    if (bytes > options_.max_request_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this commit needs ", bytes,
          " bytes in one etcd request; etcd accepts "
          "--max-request-bytes=",
          options_.max_request_bytes,
          " (raise etcd's --max-request-bytes and the store's max_request_bytes together, or "
          "commit fewer changes at once); nothing was written"));
    }

    absl::StatusOr<TxnResponse> response = client_->Txn(txn);
    if (!response.ok()) {
      if (EtcdOutcomeUnknown(response.status())) {
        return Resolve(base, plain, commit_id, audit.empty() ? 0 : audit_sequence,
                       response.status());
      }
      if (absl::IsUnavailable(response.status())) TxnFailed(response.status());
      return absl::Status(
          response.status().code(),
          absl::StrCat("commit: ", response.status().message(),
                       absl::IsUnavailable(response.status()) ? "; nothing was written" : ""));
    }
    TxnSucceeded();
    if (!response->succeeded()) return Conflict(base.revision, *response);
    absl::MutexLock lock(&mu_);
    if (!LearnLocked(plain)) {  // a copy: the ring keeps them for readers and the follower
      // Cannot happen: the guard held, so revision_ was base when the Txn applied.
      spdlog::error("etcd store {}: own commit of revisions {}..{} does not follow {}", p_,
                    base.revision + 1, last, revision_);
    }
    mvccpb::KeyValue kv;
    kv.set_key(HeadKey());
    kv.set_value(head_value);
    kv.set_mod_revision(response->header().revision());
    ObserveHeadLocked(kv);
    return absl::OkStatus();
  }

  bool shared() const override { return true; }

  CommitLimits Limits() const override {
    return {options_.max_txn_ops - 3, options_.max_request_bytes - kBytesReserve};
  }

  CommitCost CostOf(const ChangeSet& set) const override {
    CommitCost cost;
    const int64_t key_overhead = kOpOverhead + static_cast<int64_t>(p_.size()) + 8;
    const int64_t set_bytes =
        static_cast<int64_t>(set.ByteSizeLong()) + kSealOverhead * SecretCount(set);
    cost.bytes += set_bytes + key_overhead;  // its share of the log bundle
    std::set<std::string> tenants;
    const int64_t meta =
        static_cast<int64_t>(set.author().size() + set.message().size() + set.origin().size()) + 48;
    for (const Change& change : set.changes()) {
      const int64_t name = static_cast<int64_t>(change.tenant().size() + change.service().size() +
                                                change.key().size()) +
                           2;
      const int64_t entry = static_cast<int64_t>(change.entry().ByteSizeLong()) +
                            (change.entry().secret() ? kSealOverhead : 0);
      cost.ops += 1;  // state
      cost.bytes += key_overhead + name;
      if (change.type() == Change::TENANT_PUT || change.type() == Change::TENANT_DELETE) {
        cost.bytes += static_cast<int64_t>(change.tenant_record().ByteSizeLong());
        cost.ops += 1;  // the former-parent marker, put or deleted
        cost.bytes +=
            key_overhead + name + static_cast<int64_t>(change.previous_tenant().parent().size());
        continue;
      }
      cost.bytes += entry;
      cost.ops += 1;  // history
      cost.bytes += key_overhead + name + 9 + entry + meta;
      tenants.insert(change.tenant());
    }
    if (set.release()) {
      cost.ops += 1 + static_cast<int64_t>(tenants.size());
      cost.bytes += key_overhead + set_bytes;
      for (const std::string& tenant : tenants) {
        cost.bytes += key_overhead + static_cast<int64_t>(tenant.size()) + 9;
      }
    }
    return cost;
  }

  CommitCost CostOf(const AuditRecord& record) const override {
    return {0, static_cast<int64_t>(record.ByteSizeLong()) + 16};
  }

  // --- Following.

  absl::Status Follow(StoreFollower* follower) override {
    {
      absl::MutexLock lock(&mu_);
      if (!loaded_) {
        return absl::FailedPreconditionError("Follow needs LoadAll first (it follows from there)");
      }
      if (following_) return absl::FailedPreconditionError("the store is already followed");
      following_ = true;
      watch_live_ = false;
      last_heard_ = absl::Now();
      watch_reason_ = "the watch on etcd is starting";
      last_etcd_rev_ = load_etcd_rev_;
    }
    {
      absl::MutexLock lock(&deliver_mu_);
      follower_ = follower;
    }
    follow_thread_ = std::thread([this] { FollowLoop(); });
    return absl::OkStatus();
  }

  StoreHealth Health() const override {
    absl::MutexLock lock(&mu_);
    StoreHealth health;
    health.known_head = std::max(known_head_, revision_);
    if (!loaded_) {
      health.serving = false;
      health.reason = absl::StrCat("etcd store ", p_, " has not loaded its state yet");
    } else if (!txn_error_.empty()) {
      health.serving = false;
      health.reason = absl::StrCat("lost etcd: ", txn_error_);
    } else if (following_ && !watch_live_) {
      health.serving = false;
      health.reason = absl::StrCat("lost etcd: ", watch_reason_);
    } else if (following_ && absl::Now() - last_heard_ > options_.follow_timeout) {
      health.serving = false;
      health.reason = absl::StrCat("lost etcd: the watch has been silent for ",
                                   absl::FormatDuration(absl::Now() - last_heard_));
    }
    return health;
  }

  void ReadHead(std::function<void(absl::StatusOr<int64_t>)> done) override {
    absl::MutexLock lock(&head_mu_);
    head_waiters_.push_back(std::move(done));
  }

  bool MaintenanceLeader() const override { return leader_.load(); }

  std::string ReplicaId() const override { return replica_id_; }

  absl::Status Announce(const std::string& address) override {
    absl::MutexLock lock(&presence_mu_);
    announced_address_ = address;
    announcing_ = true;
    if (presence_lease_ != 0) {
      client_->LeaseRevoke(presence_lease_).IgnoreError();
      presence_lease_ = 0;
    }
    absl::Status s = KeepPresentLocked();
    ReadReplicas();
    return s;
  }

  std::vector<ReplicaAddress> Replicas() const override {
    absl::MutexLock lock(&replicas_mu_);
    return replicas_;
  }

  std::string PeerSecret() const override {
    absl::MutexLock lock(&replicas_mu_);
    return peer_secret_;
  }

  int64_t CurrentRevision() const override {
    absl::MutexLock lock(&mu_);
    return revision_;
  }

  StoreStats Stats() const override {
    absl::MutexLock lock(&mu_);
    StoreStats stats = stats_;
    stats.commit_conflicts = conflicts_;
    stats.reloads = reloads_;
    if (following_) stats.follow_silence_seconds = absl::ToDoubleSeconds(absl::Now() - last_heard_);
    return stats;
  }

  absl::StatusOr<LoadedState> LoadAll() override {
    absl::MutexLock deliver(&deliver_mu_);
    absl::StatusOr<LoadedState> state = LoadAllLocked();
    if (state.ok()) delivered_ = state->revision;
    return state;
  }

  absl::Status ReadChanges(int64_t after,
                           const std::function<bool(const ChangeSet&)>& visit) override {
    std::vector<std::shared_ptr<const ChangeSet>> cached;
    bool from_ring = false;
    {
      absl::MutexLock lock(&mu_);
      if (after >= ring_base_) {
        from_ring = true;
        cached.assign(RingAfterLocked(after), ring_.cend());
      }
    }
    if (from_ring) {
      for (const auto& set : cached) {
        if (!visit(*set)) break;
      }
      return absl::OkStatus();
    }
    return ReadLog(after, visit);
  }

  absl::StatusOr<int64_t> OldestChange() override {
    RangeRequest request;
    request.set_key(p_ + "log/");
    request.set_range_end(PrefixEnd(p_ + "log/"));
    request.set_limit(1);
    absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
    if (!r.ok()) return Annotate(r.status(), "read the change log");
    if (r->kvs().empty()) return 0;
    LogBundle bundle;
    if (!bundle.ParseFromString(r->kvs(0).value()) || bundle.change_sets().empty()) {
      return absl::DataLossError(absl::StrCat("malformed change-log bundle under ", p_, "log/"));
    }
    return bundle.change_sets(0).revision();
  }

  absl::Status CompactChangesBefore(int64_t revision) override {
    if (!leader_.load()) return absl::OkStatus();
    // Bundles are keyed by their last revision: this drops exactly those whose last revision
    // is < `revision`; a bundle holding revision - 1 and revision stays.
    absl::StatusOr<etcdserverpb::DeleteRangeResponse> r =
        client_->DeleteRange(LogKey(0), LogKey(std::max<int64_t>(revision, 0)));
    if (!r.ok()) return Annotate(r.status(), "compact the change log");
    absl::MutexLock lock(&mu_);
    // The ring answers ReadChanges as the log would; it keeps what the follower still needs.
    const int64_t floor = std::min(revision - 1, following_ ? delivered_.load() : revision_);
    while (!ring_.empty() && ring_.front()->revision() <= floor) {
      ring_.pop_front();
      ring_base_ = std::max(ring_base_, floor);
    }
    if (ring_.empty()) ring_base_ = std::max(ring_base_, std::min(floor, revision_));
    return absl::OkStatus();
  }

  // --- History, releases, audit (etcd_store.cc, below).

  absl::Status ReadHistory(
      const HistoryScope& scope, const EntryKey& after_key, int64_t after_revision,
      const std::function<bool(const EntryKey&, const HistoryRecord&)>& visit) override;
  absl::StatusOr<StateAt> ReadStateAt(const HistoryScope& scope, int64_t revision) override;
  absl::StatusOr<int64_t> HistoryFloor(const std::string& tenant) override;
  absl::Status ReadReleases(const std::string& tenant, int64_t before,
                            const std::function<bool(const ChangeSet&)>& visit) override;
  absl::StatusOr<ChangeSet> GetRelease(int64_t revision) override;
  absl::Status ReadAudit(int64_t before,
                         const std::function<bool(const AuditRecord&)>& visit) override;
  absl::StatusOr<HistoryCompaction> CompactHistory(int64_t cutoff_micros,
                                                   int keep_versions) override;
  absl::StatusOr<int64_t> CompactAudit(int64_t cutoff_micros) override;

  // Each record is rewritten by a Txn guarded on its mod revision: a commit or a compaction
  // that changed or removed it meanwhile wins. Rewritten log bundles reach the other
  // replicas' watches as puts of revisions they know already, which they skip.
  absl::StatusOr<ResealReport> ResealSecrets() override {
    if (options_.sealer == nullptr) {
      return absl::FailedPreconditionError(
          "this server has no --secret_key_file: it seals nothing, so there is nothing to "
          "re-seal");
    }
    ResealReport report;
    for (bool rewrite : {true, false}) {
      for (const char* prefix : {"meta/format", "e/", "log/", "h/", "rel/"}) {
        const std::string begin = p_ + prefix;
        const std::string end =
            absl::EndsWith(prefix, "/") ? PrefixEnd(begin) : begin + std::string(1, '\0');
        // A long pass may outlive the revision it pages at (compacted): start the prefix
        // again; what is re-sealed already is skipped.
        absl::StatusOr<int64_t> ranged = absl::OutOfRangeError("");
        for (int attempt = 0; attempt < 3 && absl::IsOutOfRange(ranged.status()); ++attempt) {
          ranged = client_->RangeAll(
              begin, end, 0, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
                std::string value = kv.value();
                absl::StatusOr<bool> changed = ResealRecord(prefix, rewrite, &value);
                if (!changed.ok()) return changed.status();
                if (!*changed) return absl::OkStatus();
                if (!rewrite) {
                  ++report.remaining;
                  return absl::OkStatus();
                }
                TxnRequest txn;
                AddCompare(&txn, kv.key(), Compare::MOD, kv.mod_revision());
                AddPut(txn.mutable_success(), kv.key(), std::move(value));
                absl::StatusOr<TxnResponse> r = client_->Txn(txn);
                if (!r.ok()) return Annotate(r.status(), "re-seal secrets");
                if (r->succeeded()) ++report.resealed;
                return absl::OkStatus();
              });
        }
        if (!ranged.ok()) return Annotate(ranged.status(), "re-seal secrets");
      }
    }
    return report;
  }

  absl::StatusOr<CheckpointInfo> Checkpoint(const std::string& dir) override {
    return absl::UnimplementedError(
        "the etcd engine has no online checkpoint: back up the etcd cluster with `etcdctl "
        "snapshot save`");
  }

 private:
  // Whether the record `value` under `prefix` holds a value sealed with another key than the
  // primary; with `rewrite`, re-seals it in place.
  absl::StatusOr<bool> ResealRecord(absl::string_view prefix, bool rewrite,
                                    std::string* value) const {
    const SecretSealer& sealer = *options_.sealer;
    auto entry = [&](EntryRecord* e) -> absl::StatusOr<bool> {
      return rewrite ? sealer.Reseal(e) : sealer.NeedsReseal(*e);
    };
    auto sets = [&](google::protobuf::RepeatedPtrField<ChangeSet>* all) -> absl::StatusOr<bool> {
      bool any = false;
      for (ChangeSet& set : *all) {
        absl::StatusOr<bool> changed =
            rewrite ? ResealChangeSet(sealer, &set) : ChangeSetNeedsReseal(sealer, set);
        if (!changed.ok()) return changed;
        any = any || *changed;
      }
      return any;
    };
    const absl::Status malformed = absl::DataLossError(absl::StrCat(
        "etcd store ", p_, ": a malformed record under ", prefix, " while re-sealing secrets"));
    absl::StatusOr<bool> changed = false;
    if (prefix == "meta/format") {
      EtcdFormat format;
      EntryRecord check;
      if (!format.ParseFromString(*value)) return malformed;
      if (format.sealer_check().empty()) return false;
      if (!check.ParseFromString(format.sealer_check())) return malformed;
      changed = entry(&check);
      if (changed.ok() && *changed) format.set_sealer_check(check.SerializeAsString());
      if (changed.ok() && *changed && rewrite) *value = format.SerializeAsString();
    } else if (prefix == "e/") {
      EntryRecord record;
      if (!record.ParseFromString(*value)) return malformed;
      changed = entry(&record);
      if (changed.ok() && *changed && rewrite) *value = record.SerializeAsString();
    } else if (prefix == "h/") {
      HistoryRecord record;
      if (!record.ParseFromString(*value)) return malformed;
      changed = entry(record.mutable_entry());
      if (changed.ok() && *changed && rewrite) *value = record.SerializeAsString();
    } else if (prefix == "log/") {
      LogBundle bundle;
      if (!bundle.ParseFromString(*value)) return malformed;
      changed = sets(bundle.mutable_change_sets());
      if (changed.ok() && *changed && rewrite) *value = bundle.SerializeAsString();
    } else {
      google::protobuf::RepeatedPtrField<ChangeSet> one;
      if (!one.Add()->ParseFromString(*value)) return malformed;
      changed = sets(&one);
      if (changed.ok() && *changed && rewrite) *value = one[0].SerializeAsString();
    }
    return changed;
  }

  // What the store knows of the shared head, copied out under mu_.
  struct Known {
    int64_t revision = 0;
    int64_t head_mod = 0;
    std::string head_value;
    int64_t audit_sequence = 0;
    int64_t last_commit_time = 0;
  };

  // One thing the watch reported, queued for the follow thread.
  struct WatchItem {
    enum Kind { kEvents, kProgress, kCompacted, kBroken } kind;
    uint64_t generation = 0;
    std::vector<mvccpb::Event> events;
    absl::Status status;
  };

  // --- Keys.
  std::string HeadKey() const { return p_ + "meta/head"; }
  std::string FormatKey() const { return p_ + "meta/format"; }
  std::string PeerSecretKey() const { return p_ + "meta/peer_secret"; }
  std::string ReplicasPrefix() const { return p_ + "replicas/"; }
  std::string TenantKey(absl::string_view tenant) const { return absl::StrCat(p_, "t/", tenant); }
  // The parent a deregistered tenant had (LoadedState::former_parents).
  std::string FormerParentKey(absl::string_view tenant) const {
    return absl::StrCat(p_, "fp/", tenant);
  }
  std::string EntryKeyOf(const EntryKey& key) const {
    return absl::StrCat(p_, "e/", EncodeEntryKey(key));
  }
  std::string LogKey(int64_t revision) const {
    return absl::StrCat(p_, "log/", EncodeRevision(revision));
  }
  std::string HistoryKeyOf(const EntryKey& key, int64_t revision) const {
    return absl::StrCat(p_, "h/", EncodeHistoryKey(key, revision));
  }
  std::string ReleaseKey(int64_t revision) const {
    return absl::StrCat(p_, "rel/", EncodeRevision(revision));
  }
  std::string ReleaseIndexKey(absl::string_view tenant, int64_t revision) const {
    return absl::StrCat(p_, "ri/", EncodeReleaseIndexKey(tenant, revision));
  }
  std::string AuditKey(int64_t sequence) const {
    return absl::StrCat(p_, "aud/", EncodeRevision(sequence));
  }
  std::string FloorKey(absl::string_view tenant) const {
    return absl::StrCat(p_, "floor/", tenant);
  }
  std::string LockKey() const { return p_ + "lock/maintenance"; }
  // The end of the watched range [log/, meta/head]: the log bundles, the format and the head
  // (nothing else sorts between them).
  std::string WatchEnd() const { return HeadKey() + std::string(1, '\0'); }

  // `s` with the prefix and the operation. A read of an etcd revision compacted meanwhile
  // (a read longer than the compaction interval) is UNAVAILABLE: OUT_OF_RANGE means "the
  // change log no longer reaches" to the Store's callers.
  absl::Status Annotate(const absl::Status& s, absl::string_view what) const {
    if (absl::IsOutOfRange(s)) {
      return absl::UnavailableError(absl::StrCat("etcd store ", p_, ": ", what,
                                                 ": etcd compacted the revision this read ",
                                                 "was at (", s.message(), "); retry"));
    }
    return absl::Status(s.code(), absl::StrCat("etcd store ", p_, ": ", what, ": ", s.message()));
  }

  Known KnownLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return {revision_, head_mod_, head_value_, audit_sequence_, last_commit_time_};
  }

  // The failure ops of a commit or fence: the head, the log from base + 1, and (for an
  // audit-only call being resolved) the audit bundle ending at `audit_last`.
  void AddResolveRanges(TxnRequest* txn, int64_t base, int64_t audit_last) const {
    AddRange(txn->mutable_failure(), HeadKey());
    // Bounded, so a replica far behind gets a response of reasonable size: it learns the
    // rest from its watch (or from the next conflict).
    AddRange(txn->mutable_failure(), LogKey(base + 1), PrefixEnd(p_ + "log/"), kConflictBundles);
    if (audit_last > 0) AddRange(txn->mutable_failure(), AuditKey(audit_last));
  }

  int64_t KnownRevision() const {
    absl::MutexLock lock(&mu_);
    return revision_;
  }

  // Parses and opens the change sets of one log bundle, appending them to `sets`.
  absl::Status OpenBundle(const std::string& value, std::vector<ChangeSet>* sets,
                          std::string* commit_id = nullptr) const {
    LogBundle bundle;
    if (!bundle.ParseFromString(value)) {
      return absl::DataLossError(absl::StrCat("etcd store ", p_, ": malformed log bundle"));
    }
    if (commit_id != nullptr) *commit_id = bundle.commit_id();
    for (ChangeSet& set : *bundle.mutable_change_sets()) {
      if (absl::Status s = OpenChangeSet(options_.sealer.get(), &set); !s.ok()) return s;
      sets->push_back(std::move(set));
    }
    return absl::OkStatus();
  }

  // Parses and opens the change sets of log bundles.
  absl::StatusOr<std::vector<ChangeSet>> OpenBundles(
      const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs,
      std::vector<std::string>* commit_ids = nullptr) const {
    std::vector<ChangeSet> sets;
    for (const mvccpb::KeyValue& kv : kvs) {
      std::string id;
      if (absl::Status s = OpenBundle(kv.value(), &sets, &id); !s.ok()) return s;
      if (commit_ids != nullptr) commit_ids->push_back(std::move(id));
    }
    return sets;
  }

  // Adds `sets` to what the store knows (those ≤ revision_ are known already). False if they
  // do not follow on: a gap, nothing learnt past it.
  bool LearnLocked(std::vector<ChangeSet> sets) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (ChangeSet& set : sets) {
      if (set.revision() <= revision_) continue;
      if (set.revision() != revision_ + 1) return false;
      revision_ = set.revision();
      last_commit_time_ = set.commit_time_micros();
      ring_.push_back(std::make_shared<const ChangeSet>(std::move(set)));
    }
    // Keep the ring bounded, but never drop what the follower has not got yet.
    const int64_t keep = std::max(1, options_.recent_changes);
    const int64_t delivered = following_ ? delivered_.load() : revision_;
    while (static_cast<int64_t>(ring_.size()) > keep && ring_.front()->revision() <= delivered) {
      ring_base_ = ring_.front()->revision();
      ring_.pop_front();
    }
    known_head_ = std::max(known_head_, revision_);
    return true;
  }

  // The first change set of the ring past `after` (the ring is in revision order).
  std::deque<std::shared_ptr<const ChangeSet>>::const_iterator RingAfterLocked(int64_t after) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::partition_point(ring_.begin(), ring_.end(),
                                [after](const auto& set) { return set->revision() <= after; });
  }

  // The head key as read or watched: it becomes the guard of the next commit if it describes
  // the revision the store knows is newest (and is newer than the guard it has).
  void ObserveHeadLocked(const mvccpb::KeyValue& kv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    EtcdHead head;
    if (!head.ParseFromString(kv.value())) {
      spdlog::error("etcd store {}: malformed head at etcd revision {}", p_, kv.mod_revision());
      return;
    }
    known_head_ = std::max(known_head_, head.revision());
    if (head.revision() != revision_ || kv.mod_revision() <= head_mod_) return;
    head_mod_ = kv.mod_revision();
    head_value_ = kv.value();
    audit_sequence_ = head.audit_sequence();
    if (head.last_commit_time() != 0) last_commit_time_ = head.last_commit_time();
  }

  // Delivers what the ring holds past what the follower got, in order. Own commits go out
  // from the follow thread (after the watch saw them), conflicts from the committer's thread.
  void Pump() {
    absl::MutexLock deliver(&deliver_mu_);
    if (follower_ == nullptr) return;
    std::vector<ChangeSet> sets;
    // What the follower applied itself (its own commits) is not copied to it again. Asked
    // before taking mu_: the follower's state lock is taken by threads that then read the
    // ring (the hub's catch-up), so mu_ must never wait on it.
    const int64_t applied = follower_->AppliedRevision();
    {
      absl::MutexLock lock(&mu_);
      const int64_t delivered = delivered_.load();
      if (ring_base_ > delivered) {
        // Cannot happen (the ring keeps what the follower lacks); the follow thread reloads.
        spdlog::error("etcd store {}: the follower is at {} but the ring starts after {}", p_,
                      delivered, ring_base_);
        return;
      }
      const int64_t have = std::max(delivered, applied);
      for (auto it = RingAfterLocked(have); it != ring_.cend(); ++it) sets.push_back(**it);
    }
    if (sets.empty()) return;
    const int64_t last = sets.back().revision();
    follower_->Committed(std::move(sets), absl::Now());
    delivered_.store(last);
  }

  void TxnFailed(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    txn_error_ = std::string(status.message());
  }
  void TxnSucceeded() {
    absl::MutexLock lock(&mu_);
    txn_error_.clear();
  }

  // The compare of a commit failed: learn what the others committed, hand it to the follower,
  // and say so.
  absl::Status Conflict(int64_t base, const TxnResponse& response) {
    {
      absl::MutexLock lock(&mu_);
      ++conflicts_;
    }
    int64_t head_revision = base;
    if (response.responses_size() >= 2) {
      absl::StatusOr<std::vector<ChangeSet>> sets =
          OpenBundles(response.responses(1).response_range().kvs());
      if (!sets.ok()) return sets.status();
      absl::MutexLock lock(&mu_);
      LearnLocked(*std::move(sets));
      const auto& head_kvs = response.responses(0).response_range().kvs();
      if (!head_kvs.empty()) ObserveHeadLocked(head_kvs[0]);
      EtcdHead head;
      if (!head_kvs.empty() && head.ParseFromString(head_kvs[0].value())) {
        head_revision = std::max(head_revision, head.revision());
      }
      head_revision = std::max(head_revision, revision_);
    }
    Pump();
    if (head_revision == base) {
      return absl::AbortedError(absl::StrCat(
          "another replica wrote to the etcd store first (the head moved without a new "
          "revision: audit records, or a fence; still at revision ",
          base, "); nothing of this call was written"));
    }
    return absl::AbortedError(absl::StrCat("another replica committed revisions ", base + 1, "..",
                                           head_revision,
                                           " first; nothing of this call was written"));
  }

  // The commit Txn got no answer: a fence (a write of the head as it was, guarded like the
  // commit) makes sure it can no longer apply, or finds that it did.
  absl::Status Resolve(const Known& base, const std::vector<ChangeSet>& plain,
                       const std::string& commit_id, int64_t audit_last,
                       const absl::Status& failure) {
    const absl::Time deadline = absl::Now() + options_.commit_timeout;
    const int64_t first = base.revision + 1;
    const int64_t last = plain.empty() ? base.revision : plain.back().revision();
    TxnRequest fence;
    AddCompare(&fence, HeadKey(), Compare::MOD, base.head_mod);
    AddPut(fence.mutable_success(), HeadKey(), base.head_value);
    AddResolveRanges(&fence, base.revision, audit_last);
    while (absl::Now() < deadline) {
      absl::StatusOr<TxnResponse> r = client_->Txn(fence);
      if (!r.ok()) {
        absl::SleepFor(absl::Milliseconds(200));
        continue;
      }
      TxnSucceeded();
      if (r->succeeded()) {
        absl::MutexLock lock(&mu_);
        mvccpb::KeyValue kv;
        kv.set_value(base.head_value);
        kv.set_mod_revision(r->header().revision());
        ObserveHeadLocked(kv);
        // ABORTED, as after a conflict: nothing was written and etcd answers again, so the
        // committer plans the writes again and commits them (on the member that answered).
        return absl::AbortedError(
            absl::StrCat("etcd store ", p_, ": etcd did not answer the commit (", failure.message(),
                         "); a fence made sure nothing of it was written"));
      }
      std::vector<std::string> ids;
      absl::StatusOr<std::vector<ChangeSet>> sets =
          OpenBundles(r->responses(1).response_range().kvs(), &ids);
      if (!sets.ok()) return sets.status();
      bool ours;
      if (!plain.empty()) {
        ours = !ids.empty() && ids.front() == commit_id;
      } else {
        ours = false;
        if (r->responses_size() >= 3 && !r->responses(2).response_range().kvs().empty()) {
          AuditBundle bundle;
          ours = bundle.ParseFromString(r->responses(2).response_range().kvs(0).value()) &&
                 bundle.commit_id() == commit_id;
        }
      }
      {
        absl::MutexLock lock(&mu_);
        LearnLocked(*std::move(sets));
        const auto& head_kvs = r->responses(0).response_range().kvs();
        if (!head_kvs.empty()) ObserveHeadLocked(head_kvs[0]);
      }
      if (ours) return absl::OkStatus();
      return Conflict(base.revision, *r);
    }
    TxnFailed(failure);
    return absl::UnavailableError(
        absl::StrCat("etcd store ", p_, ": etcd did not confirm the commit within ",
                     absl::FormatDuration(options_.commit_timeout), " (", failure.message(),
                     "); the write may have been applied and then appears as revisions ", first,
                     "..", last, " on every replica"));
  }

  // --- Open.

  absl::Status InitFormat() {
    EtcdFormat format;
    format.set_marker(kMarker);
    absl::StatusOr<std::string> epoch = NewStoreEpoch();
    if (!epoch.ok()) return epoch.status();
    format.set_epoch(*std::move(epoch));
    if (options_.sealer != nullptr) {
      EntryRecord check;
      check.set_value(kSealCheckValue);
      check.set_secret(true);
      if (absl::Status s = options_.sealer->Seal(&check); !s.ok()) return s;
      format.set_sealer_check(check.SerializeAsString());
    }
    // Read first: etcd refuses any Txn that holds a put while its space quota is exhausted
    // (whatever the compare says), and a replica must still start then to serve reads.
    TxnRequest read;
    AddRange(read.mutable_success(), FormatKey());
    AddRange(read.mutable_success(), HeadKey());
    absl::StatusOr<TxnResponse> r = client_->Txn(read);
    if (!r.ok()) return Annotate(r.status(), "read the format marker");
    if (!r->responses(0).response_range().kvs().empty()) {
      r->set_succeeded(false);  // as the creating Txn answers when the marker exists
    } else {
      TxnRequest txn;
      AddCompare(&txn, FormatKey(), Compare::CREATE, 0);
      AddPut(txn.mutable_success(), FormatKey(), format.SerializeAsString());
      AddPut(txn.mutable_success(), HeadKey(), EtcdHead().SerializeAsString());
      AddRange(txn.mutable_failure(), FormatKey());
      AddRange(txn.mutable_failure(), HeadKey());
      r = client_->Txn(txn);
      if (!r.ok()) return Annotate(r.status(), "create or read the format marker");
    }
    if (r->succeeded()) {
      format_epoch_ = format.epoch();
      absl::MutexLock lock(&mu_);
      head_mod_ = r->header().revision();
      head_value_ = EtcdHead().SerializeAsString();
      return absl::OkStatus();
    }
    const auto& format_kvs = r->responses(0).response_range().kvs();
    const auto& head_kvs = r->responses(1).response_range().kvs();
    EtcdFormat found;
    if (format_kvs.empty() || !found.ParseFromString(format_kvs[0].value())) {
      return absl::FailedPreconditionError(
          absl::StrCat("etcd prefix ", p_, " holds no confcenter format marker it can read"));
    }
    if (found.marker() != kMarker) {
      return absl::FailedPreconditionError(absl::StrCat(
          "etcd prefix ", p_, " holds format \"", found.marker(), "\"; this confcenterd reads \"",
          kMarker, "\" (run the version that wrote it, or use another prefix)"));
    }
    format_epoch_ = found.epoch().empty() ? "0" : found.epoch();
    if (new_epoch_pending_) {
      // Once per open, even if a conflict makes InitFormat run again.
      EtcdFormat renewed = found;
      renewed.set_epoch(format.epoch());
      TxnRequest renew;
      AddCompare(&renew, FormatKey(), Compare::MOD, format_kvs[0].mod_revision());
      AddPut(renew.mutable_success(), FormatKey(), renewed.SerializeAsString());
      absl::StatusOr<TxnResponse> renewed_r = client_->Txn(renew);
      if (!renewed_r.ok()) return Annotate(renewed_r.status(), "start a new epoch");
      if (!renewed_r->succeeded()) return InitFormat();
      spdlog::warn(
          "etcd store {}: --new_epoch: epoch {} replaces {}; subscribers resuming with a "
          "revision of an earlier epoch get a resync snapshot",
          p_, format.epoch(), format_epoch_);
      new_epoch_pending_ = false;
      format_epoch_ = format.epoch();
      found = std::move(renewed);
    }
    if (!found.sealer_check().empty()) {
      if (options_.sealer == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("etcd prefix ", p_,
                         " holds sealed secret values: start with the --secret_key_file that "
                         "sealed them"));
      }
      EntryRecord check;
      if (!check.ParseFromString(found.sealer_check()) || !options_.sealer->Open(&check).ok() ||
          check.value() != kSealCheckValue) {
        return absl::FailedPreconditionError(absl::StrCat(
            "etcd prefix ", p_,
            ": its secret values were sealed with another key than this --secret_key_file"));
      }
    } else if (options_.sealer != nullptr) {
      // Secrets from now on are sealed with this key: record it, unless another replica
      // recorded its own meanwhile (then check against that one).
      // The marker as found (its epoch above all: every replica must keep seeing the same),
      // with the check added.
      EtcdFormat with_check = found;
      with_check.set_sealer_check(format.sealer_check());
      TxnRequest add;
      AddCompare(&add, FormatKey(), Compare::MOD, format_kvs[0].mod_revision());
      AddPut(add.mutable_success(), FormatKey(), with_check.SerializeAsString());
      absl::StatusOr<TxnResponse> added = client_->Txn(add);
      if (!added.ok()) return Annotate(added.status(), "record the secret key's check");
      if (!added->succeeded()) return InitFormat();
    }
    if (head_kvs.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("etcd prefix ", p_, " has a format marker but no head (", HeadKey(), ")"));
    }
    EtcdHead head;
    if (!head.ParseFromString(head_kvs[0].value())) {
      return absl::DataLossError(absl::StrCat("etcd store ", p_, ": malformed head"));
    }
    absl::MutexLock lock(&mu_);
    revision_ = head.revision();
    ring_base_ = revision_;
    head_mod_ = head_kvs[0].mod_revision();
    head_value_ = head_kvs[0].value();
    audit_sequence_ = head.audit_sequence();
    last_commit_time_ = head.last_commit_time();
    known_head_ = revision_;
    return absl::OkStatus();
  }

  // LoadAll; the caller holds deliver_mu_ (a reload must reach the follower before anything
  // learnt after it).
  absl::StatusOr<LoadedState> LoadAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(deliver_mu_) {
    absl::Status last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      RangeRequest request;
      request.set_key(HeadKey());
      absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
      if (!r.ok()) return Annotate(r.status(), "read the head");
      if (r->kvs().empty()) {
        return absl::FailedPreconditionError(absl::StrCat("etcd prefix ", p_, " has no head"));
      }
      const mvccpb::KeyValue head_kv = r->kvs(0);
      EtcdHead head;
      if (!head.ParseFromString(head_kv.value())) {
        return absl::DataLossError(absl::StrCat("etcd store ", p_, ": malformed head"));
      }
      const int64_t at = r->header().revision();
      LoadedState state;
      state.revision = head.revision();
      // An etcd snapshot restore makes a new cluster id: a new epoch, as a restore should.
      state.epoch = absl::StrCat(format_epoch_, "-", absl::Hex(r->header().cluster_id()));
      absl::StatusOr<int64_t> tenants =
          client_->RangeAll(p_ + "t/", PrefixEnd(p_ + "t/"), at, kPage,
                            [&](const mvccpb::KeyValue& kv) -> absl::Status {
                              TenantRecord record;
                              if (!record.ParseFromString(kv.value())) {
                                return absl::DataLossError(
                                    absl::StrCat("malformed tenant record \"", kv.key(), "\""));
                              }
                              state.tenants.push_back(std::move(record));
                              return absl::OkStatus();
                            });
      absl::StatusOr<int64_t> entries = tenants;
      if (tenants.ok()) {
        const std::string begin = p_ + "e/";
        entries = client_->RangeAll(
            begin, PrefixEnd(begin), at, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
              std::optional<EntryKey> key =
                  DecodeEntryKey(absl::string_view(kv.key()).substr(begin.size()));
              EntryRecord record;
              if (!key || !record.ParseFromString(kv.value())) {
                return absl::DataLossError("malformed entry record in the store");
              }
              if (absl::Status s = OpenEntry(options_.sealer.get(), &record); !s.ok()) return s;
              state.entries.emplace_back(std::move(*key), std::move(record));
              return absl::OkStatus();
            });
      }
      if (entries.ok()) {
        const std::string begin = p_ + "fp/";
        entries = client_->RangeAll(
            begin, PrefixEnd(begin), at, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
              state.former_parents.emplace_back(kv.key().substr(begin.size()), kv.value());
              return absl::OkStatus();
            });
      }
      if (absl::IsOutOfRange(entries.status())) {
        // etcd compacted the revision while we paged: read again at a newer one.
        last = entries.status();
        continue;
      }
      if (!entries.ok()) return Annotate(entries.status(), "load the state");
      absl::MutexLock lock(&mu_);
      if (state.revision > revision_) {
        ring_.clear();
        ring_base_ = state.revision;
        revision_ = state.revision;
      }
      ObserveHeadLocked(head_kv);
      load_etcd_rev_ = at;
      loaded_ = true;
      return state;
    }
    return Annotate(last, "load the state (etcd compacted it 5 times while it was read)");
  }

  // ReadChanges from etcd's explicit log.
  absl::Status ReadLog(int64_t after, const std::function<bool(const ChangeSet&)>& visit) {
    bool first = true;
    bool stopped = false;
    absl::Status failed;
    absl::StatusOr<int64_t> ranged = client_->RangeAll(
        LogKey(after + 1), PrefixEnd(p_ + "log/"), 0, 64,
        [&](const mvccpb::KeyValue& kv) -> absl::Status {
          LogBundle bundle;
          if (!bundle.ParseFromString(kv.value()) || bundle.change_sets().empty()) {
            return absl::DataLossError(absl::StrCat("etcd store ", p_, ": malformed log bundle"));
          }
          if (first && bundle.change_sets(0).revision() > after + 1) {
            return absl::OutOfRangeError("gap");
          }
          first = false;
          for (ChangeSet& set : *bundle.mutable_change_sets()) {
            if (set.revision() <= after) continue;
            if (absl::Status s = OpenChangeSet(options_.sealer.get(), &set); !s.ok()) return s;
            if (!visit(set)) {
              stopped = true;
              return StopVisit();
            }
          }
          return absl::OkStatus();
        });
    if (stopped) return absl::OkStatus();
    const bool gap = absl::IsOutOfRange(ranged.status()) && ranged.status().message() == "gap";
    if (!gap && !ranged.ok()) return Annotate(ranged.status(), "read the change log");
    const int64_t current = CurrentRevision();
    if (gap || (first && after < current)) {
      absl::StatusOr<int64_t> oldest = OldestChange();
      if (!oldest.ok()) return oldest.status();
      return absl::OutOfRangeError(absl::StrCat("the change log no longer reaches revision ",
                                                after + 1, "; the oldest revision kept is ",
                                                *oldest == 0 ? current + 1 : *oldest));
    }
    return absl::OkStatus();
  }

  // Descending paged range of [key, range_end) at `*revision` (0: the newest, fixed at the
  // first page and stored back). Stops at the first non-OK status of `visit`.
  absl::Status RangeDesc(const std::string& key, const std::string& range_end, int64_t* revision,
                         const std::function<absl::Status(const mvccpb::KeyValue&)>& visit) {
    RangeRequest request;
    request.set_key(key);
    request.set_range_end(range_end);
    request.set_limit(kPage);
    request.set_sort_order(RangeRequest::DESCEND);
    request.set_sort_target(RangeRequest::KEY);
    request.set_revision(*revision);
    while (true) {
      absl::StatusOr<etcdserverpb::RangeResponse> page = client_->Range(request);
      if (!page.ok()) return page.status();
      if (request.revision() == 0) {
        request.set_revision(page->header().revision());
        *revision = page->header().revision();
      }
      for (const mvccpb::KeyValue& kv : page->kvs()) {
        if (absl::Status s = visit(kv); !s.ok()) return s;
      }
      if (!page->more() || page->kvs().empty()) return absl::OkStatus();
      request.set_range_end(page->kvs(page->kvs_size() - 1).key());
    }
  }

  // The floor of `tenant` at etcd revision `at` (0: newest); the revision read at in `*read_at`.
  absl::StatusOr<int64_t> FloorAt(const std::string& tenant, int64_t at, int64_t* read_at) {
    RangeRequest request;
    request.set_key(FloorKey(tenant));
    request.set_revision(at);
    absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
    if (!r.ok()) return Annotate(r.status(), "read the history floor");
    if (read_at != nullptr) *read_at = r->header().revision();
    if (r->kvs().empty()) return 0;
    return DecodeRevision(r->kvs(0).value()).value_or(0);
  }

  // Sends `ops` (no compare) in Txns of at most max_txn_ops ops.
  absl::Status SendOps(google::protobuf::RepeatedPtrField<RequestOp>* ops, absl::string_view what) {
    if (ops->empty()) return absl::OkStatus();
    TxnRequest txn;
    txn.mutable_success()->Swap(ops);
    absl::StatusOr<TxnResponse> r = client_->Txn(txn);
    if (!r.ok()) return Annotate(r.status(), what);
    return absl::OkStatus();
  }

  // --- The follow thread.

  void Enqueue(WatchItem item) {
    absl::MutexLock lock(&queue_mu_);
    queue_.push_back(std::move(item));
  }

  bool Stopping() {
    absl::MutexLock lock(&stop_mu_);
    return stopping_;
  }

  void WatchHeard() {
    absl::MutexLock lock(&mu_);
    watch_live_ = true;
    last_heard_ = absl::Now();
    watch_reason_.clear();
    // A member that answers the watch (with hasleader) has a leader: etcd is back.
    txn_error_.clear();
  }

  void WatchDown(std::string reason) {
    absl::MutexLock lock(&mu_);
    if (watch_live_ || watch_reason_.empty() || watch_reason_ != reason) {
      spdlog::warn("etcd store {}: {}", p_, reason);
    }
    watch_live_ = false;
    watch_reason_ = std::move(reason);
  }

  // Applies the events of the watch in etcd revision order. False if they do not follow on
  // from what the store knows (the caller re-ranges the log).
  bool HandleEvents(const std::vector<mvccpb::Event>& events) {
    const std::string log_prefix = p_ + "log/";
    size_t i = 0;
    while (i < events.size()) {
      const int64_t rev = events[i].kv().mod_revision();
      std::vector<ChangeSet> sets;
      std::optional<mvccpb::KeyValue> head;
      for (; i < events.size() && events[i].kv().mod_revision() == rev; ++i) {
        const mvccpb::Event& event = events[i];
        if (event.type() != mvccpb::Event::PUT) continue;  // log compaction
        if (event.kv().key() == HeadKey()) {
          head = event.kv();
        } else if (event.kv().key() == FormatKey()) {
          // Another replica rotated the secret key (the marker's check was re-sealed): read
          // the key files again, so this one seals with the new key too.
          if (options_.sealer != nullptr) {
            if (absl::Status s = options_.sealer->Reload(); !s.ok()) {
              spdlog::warn(
                  "etcd store {}: the secret key changed on another replica; reading "
                  "the key files again failed: {}",
                  p_, s.ToString());
            }
          }
        } else if (absl::StartsWith(event.kv().key(), log_prefix)) {
          // The key names the bundle's last revision: a bundle this replica knows already
          // (its own commit, learnt when the Txn succeeded) is not parsed again.
          const std::optional<int64_t> last =
              DecodeRevision(absl::string_view(event.kv().key()).substr(log_prefix.size()));
          if (last.has_value() && *last <= KnownRevision()) continue;
          if (absl::Status s = OpenBundle(event.kv().value(), &sets); !s.ok()) {
            spdlog::error("etcd store {}: cannot read the commit at etcd revision {}: {}", p_, rev,
                          s.ToString());
            return false;
          }
        }
      }
      absl::MutexLock lock(&mu_);
      if (!LearnLocked(std::move(sets))) return false;
      if (head) ObserveHeadLocked(*head);
      last_etcd_rev_ = std::max(last_etcd_rev_, rev);
    }
    return true;
  }

  // The watch cannot continue from where it was (compacted, or a gap): reads the explicit
  // log from the store's revision on; if it no longer reaches that far, reloads everything.
  // True when done (the watch can start again from last_etcd_rev_ + 1).
  bool CatchUp() {
    int64_t from;
    {
      absl::MutexLock lock(&mu_);
      from = revision_;
    }
    const std::string log_prefix = p_ + "log/";
    google::protobuf::RepeatedPtrField<mvccpb::KeyValue> bundles;
    std::optional<mvccpb::KeyValue> head;
    absl::StatusOr<int64_t> at = client_->RangeAll(
        LogKey(from + 1), WatchEnd(), 0, 64, [&](const mvccpb::KeyValue& kv) -> absl::Status {
          if (kv.key() == HeadKey()) {
            head = kv;
          } else if (absl::StartsWith(kv.key(), log_prefix)) {
            *bundles.Add() = kv;
          }
          return absl::OkStatus();
        });
    if (!at.ok()) {
      WatchDown(absl::StrCat("cannot re-read the change log after the watch fell behind: ",
                             at.status().message()));
      return false;
    }
    absl::StatusOr<std::vector<ChangeSet>> sets = OpenBundles(bundles);
    if (!sets.ok()) {
      WatchDown(absl::StrCat("cannot read the change log: ", sets.status().message()));
      return false;
    }
    EtcdHead parsed;
    const bool reaches =
        sets->empty() ? (head && parsed.ParseFromString(head->value()) && parsed.revision() <= from)
                      : sets->front().revision() <= from + 1;
    if (reaches) {
      {
        absl::MutexLock lock(&mu_);
        LearnLocked(*std::move(sets));
        if (head) ObserveHeadLocked(*head);
        last_etcd_rev_ = *at;
      }
      Pump();
      return true;
    }
    spdlog::warn("etcd store {}: the change log no longer reaches revision {}; reloading", p_,
                 from + 1);
    absl::MutexLock deliver(&deliver_mu_);
    absl::StatusOr<LoadedState> state = LoadAllLocked();
    if (!state.ok()) {
      WatchDown(absl::StrCat("cannot reload after the change log was compacted past revision ",
                             from + 1, ": ", state.status().message()));
      return false;
    }
    const int64_t revision = state->revision;
    {
      absl::MutexLock lock(&mu_);
      last_etcd_rev_ = load_etcd_rev_;
    }
    {
      absl::MutexLock lock(&mu_);
      ++reloads_;
    }
    if (follower_ != nullptr) follower_->Reloaded(*std::move(state));
    delivered_.store(revision);
    return true;
  }

  void FollowLoop() {
    std::unique_ptr<EtcdWatch> watch;
    uint64_t generation = 0;
    std::string avoid;
    bool catch_up = false;
    absl::Time last_request = absl::InfinitePast();
    absl::Time last_heard = absl::Now();
    Pump();  // own commits made between LoadAll and Follow
    while (!Stopping()) {
      if (catch_up) {
        watch.reset();
        catch_up = !CatchUp();
        if (catch_up) {
          absl::SleepFor(absl::Milliseconds(500));
          continue;
        }
      }
      if (watch == nullptr) {
        EtcdWatchRequest request;
        request.key = p_ + "log/";
        request.range_end = WatchEnd();
        {
          absl::MutexLock lock(&mu_);
          request.start_revision = last_etcd_rev_ + 1;
        }
        request.progress_notify = true;
        request.avoid_endpoint = avoid;
        const uint64_t gen = ++generation;
        EtcdWatchCallbacks callbacks;
        callbacks.on_events = [this, gen](std::vector<mvccpb::Event> events, int64_t) {
          Enqueue({WatchItem::kEvents, gen, std::move(events), {}});
        };
        callbacks.on_progress = [this, gen](int64_t) {
          Enqueue({WatchItem::kProgress, gen, {}, {}});
        };
        callbacks.on_compacted = [this, gen](int64_t) {
          Enqueue({WatchItem::kCompacted, gen, {}, {}});
        };
        callbacks.on_broken = [this, gen](absl::Status status) {
          Enqueue({WatchItem::kBroken, gen, {}, std::move(status)});
        };
        absl::StatusOr<std::unique_ptr<EtcdWatch>> created =
            client_->Watch(request, std::move(callbacks));
        if (!created.ok()) {
          WatchDown(std::string(created.status().message()));
          absl::SleepFor(absl::Milliseconds(500));
          continue;
        }
        watch = *std::move(created);
        // The progress answer confirms the watch is live (etcd answers once it is synced).
        watch->RequestProgress();
        last_request = absl::Now();
        last_heard = absl::Now();
      }
      std::deque<WatchItem> items;
      {
        absl::MutexLock lock(&queue_mu_);
        queue_mu_.AwaitWithTimeout(
            absl::Condition(
                +[](std::deque<WatchItem>* q) { return !q->empty(); }, &queue_),
            absl::Milliseconds(200));
        items.swap(queue_);
      }
      for (WatchItem& item : items) {
        if (item.generation != generation || watch == nullptr) continue;
        switch (item.kind) {
          case WatchItem::kEvents:
            last_heard = absl::Now();
            WatchHeard();
            if (HandleEvents(item.events)) {
              Pump();
            } else {
              catch_up = true;
            }
            break;
          case WatchItem::kProgress:
            last_heard = absl::Now();
            WatchHeard();
            break;
          case WatchItem::kCompacted:
            WatchDown("the watch fell behind etcd's compaction; re-reading the change log");
            catch_up = true;
            break;
          case WatchItem::kBroken:
            avoid = watch->endpoint();
            WatchDown(std::string(item.status.message()));
            watch.reset();
            break;
        }
        if (catch_up) break;
      }
      if (catch_up || watch == nullptr) continue;
      const absl::Time now = absl::Now();
      if (now - last_heard > options_.follow_timeout) {
        avoid = watch->endpoint();
        WatchDown(absl::StrCat("the watch on ", avoid, " has been silent for ",
                               absl::FormatDuration(now - last_heard), "; reconnecting"));
        watch.reset();
        continue;
      }
      if (now - last_request >= std::min(kProgressEvery, options_.follow_timeout / 4)) {
        watch->RequestProgress();
        last_request = now;
      }
    }
  }

  // --- Maintenance: the lease-held lock, etcd compaction, the size figures.

  void TryLead() {
    absl::StatusOr<int64_t> lease = client_->LeaseGrant(kLeaseTtl);
    if (!lease.ok()) return;
    TxnRequest txn;
    AddCompare(&txn, LockKey(), Compare::CREATE, 0);
    AddPut(txn.mutable_success(), LockKey(), replica_id_, *lease);
    absl::StatusOr<TxnResponse> r = client_->Txn(txn);
    if (r.ok() && r->succeeded()) {
      lease_id_ = *lease;
      lease_ok_at_ = absl::Now();
      leader_.store(true);
      spdlog::info("etcd store {}: {} leads maintenance", p_, replica_id_);
      return;
    }
    client_->LeaseRevoke(*lease).IgnoreError();
  }

  void KeepLeading() {
    absl::StatusOr<absl::Duration> ttl = client_->LeaseKeepAlive(lease_id_);
    if (ttl.ok() && *ttl > absl::ZeroDuration()) {
      lease_ok_at_ = absl::Now();
    } else if (ttl.ok()) {
      leader_.store(false);
      spdlog::warn("etcd store {}: the maintenance lease expired; no longer leading", p_);
    } else if (absl::Now() - lease_ok_at_ > kLeaseTtl - absl::Seconds(3)) {
      // The lease may have expired meanwhile: another replica may lead now.
      leader_.store(false);
      spdlog::warn("etcd store {}: cannot refresh the maintenance lease ({}); no longer leading",
                   p_, ttl.status().ToString());
    }
  }

  // --- Replicas: the shared peer secret and each replica's announcement.

  // Reads P meta/peer_secret, creating it first if no replica has. On failure (etcd's quota
  // exhausted refuses the creating Txn) the maintenance loop tries again, quietly.
  void ReadPeerSecret(bool log_failure) {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) return;
    TxnRequest txn;
    AddCompare(&txn, PeerSecretKey(), Compare::CREATE, 0);
    AddPut(txn.mutable_success(), PeerSecretKey(),
           absl::BytesToHexString(
               absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes))));
    AddRange(txn.mutable_success(), PeerSecretKey());
    AddRange(txn.mutable_failure(), PeerSecretKey());
    absl::StatusOr<TxnResponse> r = client_->Txn(txn);
    if (!r.ok()) {
      if (log_failure) {
        spdlog::warn("etcd store {}: cannot read the replicas' peer secret yet: {}", p_,
                     r.status().ToString());
      }
      return;
    }
    const auto& kvs = r->responses(r->succeeded() ? 1 : 0).response_range().kvs();
    if (kvs.empty()) return;
    absl::MutexLock lock(&replicas_mu_);
    peer_secret_ = kvs[0].value();
  }

  // Puts P replicas/<id> under a lease of its own (granted again if it expired), or refreshes
  // that lease.
  absl::Status KeepPresentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(presence_mu_) {
    if (!announcing_) return absl::OkStatus();
    if (presence_lease_ != 0) {
      absl::StatusOr<absl::Duration> ttl = client_->LeaseKeepAlive(presence_lease_);
      if (!ttl.ok()) return ttl.status();
      if (*ttl > absl::ZeroDuration()) return absl::OkStatus();
      presence_lease_ = 0;  // expired (this replica was cut off): announce again
    }
    absl::StatusOr<int64_t> lease = client_->LeaseGrant(kPresenceTtl);
    if (!lease.ok()) return lease.status();
    absl::StatusOr<etcdserverpb::PutResponse> put =
        client_->Put(ReplicasPrefix() + replica_id_, announced_address_, *lease);
    if (!put.ok()) {
      client_->LeaseRevoke(*lease).IgnoreError();
      return put.status();
    }
    presence_lease_ = *lease;
    return absl::OkStatus();
  }

  // Refreshes Replicas() from P replicas/; keeps the last list if etcd does not answer.
  void ReadReplicas() {
    RangeRequest request;
    request.set_key(ReplicasPrefix());
    request.set_range_end(PrefixEnd(ReplicasPrefix()));
    request.set_serializable(true);
    absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
    if (!r.ok()) return;
    std::vector<ReplicaAddress> replicas;
    for (const mvccpb::KeyValue& kv : r->kvs()) {
      replicas.push_back({kv.key().substr(ReplicasPrefix().size()), kv.value()});
    }
    absl::MutexLock lock(&replicas_mu_);
    replicas_ = std::move(replicas);
  }

  void KeepPresent() {
    if (PeerSecret().empty()) ReadPeerSecret(/*log_failure=*/false);
    {
      absl::MutexLock lock(&presence_mu_);
      if (!announcing_) return;
      absl::Status s = KeepPresentLocked();
      if (!s.ok() && s.ToString() != presence_error_) {  // once per distinct error
        spdlog::warn("etcd store {}: cannot announce replica {}: {}", p_, replica_id_,
                     s.ToString());
      }
      presence_error_ = s.ok() ? std::string() : s.ToString();
    }
    ReadReplicas();
  }

  // Reads the size figures of the first member that answers (for Stats); returns etcd's
  // revision then, or 0.
  int64_t RefreshStatus() {
    for (const std::string& endpoint : options_.client.endpoints) {
      absl::StatusOr<etcdserverpb::StatusResponse> status = client_->Status(endpoint);
      if (!status.ok()) continue;
      absl::MutexLock lock(&mu_);
      stats_.sst_files_bytes = status->dbsize();
      stats_.live_data_bytes = status->dbsizeinuse();
      return status->header().revision();
    }
    return 0;
  }

  void MaintenanceLoop() {
    absl::Time last_lead = absl::Now();
    absl::Time last_presence = absl::Now();
    absl::Time last_status = absl::Now();
    absl::Time last_compaction = absl::Now();
    int64_t sampled = 0;  // etcd's revision one compaction interval ago
    while (true) {
      {
        absl::MutexLock lock(&stop_mu_);
        if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(500))) {
          return;
        }
      }
      const absl::Time now = absl::Now();
      if (now - last_presence >= kPresenceEvery) {
        last_presence = now;
        KeepPresent();
      }
      if (now - last_lead >= kKeepAliveEvery) {
        last_lead = now;
        if (leader_.load()) {
          KeepLeading();
        } else {
          TryLead();
        }
      }
      if (now - last_status >= kStatusEvery) {
        last_status = now;
        RefreshStatus();
      }
      if (options_.compaction_interval > absl::ZeroDuration() &&
          now - last_compaction >= options_.compaction_interval) {
        last_compaction = now;
        if (leader_.load() && sampled > 0) {
          absl::Status s = client_->Compact(sampled);
          if (!s.ok() && !absl::IsOutOfRange(s)) {
            spdlog::warn("etcd store {}: etcd compaction at {} failed: {}", p_, sampled,
                         s.ToString());
          }
        }
        sampled = RefreshStatus();
      }
    }
  }

  // Answers ReadHead calls, one linearizable read of the head for all waiting at once.
  void HeadLoop() {
    while (true) {
      std::vector<std::function<void(absl::StatusOr<int64_t>)>> waiters;
      {
        absl::MutexLock lock(&head_mu_);
        head_mu_.AwaitWithTimeout(
            absl::Condition(
                +[](std::vector<std::function<void(absl::StatusOr<int64_t>)>>* w) {
                  return !w->empty();
                },
                &head_waiters_),
            absl::Milliseconds(200));
        waiters.swap(head_waiters_);
      }
      if (waiters.empty()) {
        if (Stopping()) return;
        continue;
      }
      absl::StatusOr<int64_t> result;
      RangeRequest request;
      request.set_key(HeadKey());
      absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
      EtcdHead head;
      if (!r.ok()) {
        result = Annotate(r.status(), "read the head");
      } else if (r->kvs().empty() || !head.ParseFromString(r->kvs(0).value())) {
        result = absl::DataLossError(absl::StrCat("etcd store ", p_, ": no readable head"));
      } else {
        result = head.revision();
        absl::MutexLock lock(&mu_);
        known_head_ = std::max(known_head_, head.revision());
      }
      for (auto& done : waiters) done(result);
    }
  }

  const EtcdStoreOptions options_;
  const std::unique_ptr<EtcdClient> client_;
  const std::string p_;
  const std::string replica_id_;
  // EtcdFormat::epoch ("0" if the prefix predates epochs); set once by InitFormat.
  std::string format_epoch_;
  // --new_epoch, until InitFormat has written one.
  bool new_epoch_pending_ = options_.new_epoch;

  absl::Mutex commit_mu_;  // one commit at a time
  std::mt19937_64 rng_ ABSL_GUARDED_BY(commit_mu_);

  mutable absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;  // == the ring's last revision
  int64_t head_mod_ ABSL_GUARDED_BY(mu_) = 0;
  std::string head_value_ ABSL_GUARDED_BY(mu_);
  int64_t audit_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_commit_time_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t known_head_ ABSL_GUARDED_BY(mu_) = 0;
  // The ring holds the change sets (ring_base_, revision_].
  std::deque<std::shared_ptr<const ChangeSet>> ring_ ABSL_GUARDED_BY(mu_);
  int64_t ring_base_ ABSL_GUARDED_BY(mu_) = 0;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  int64_t load_etcd_rev_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_etcd_rev_ ABSL_GUARDED_BY(mu_) = 0;  // the newest watch event applied
  bool following_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_live_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_);
  std::string watch_reason_ ABSL_GUARDED_BY(mu_);
  std::string txn_error_ ABSL_GUARDED_BY(mu_);  // the last Txn failed UNAVAILABLE
  StoreStats stats_ ABSL_GUARDED_BY(mu_);
  int64_t conflicts_ ABSL_GUARDED_BY(mu_) = 0;  // commits another replica beat
  int64_t reloads_ ABSL_GUARDED_BY(mu_) = 0;    // full reloads for the follower

  // Serializes deliveries to the follower, so they stay in revision order.
  absl::Mutex deliver_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  StoreFollower* follower_ ABSL_GUARDED_BY(deliver_mu_) = nullptr;
  std::atomic<int64_t> delivered_{0};  // written under deliver_mu_

  absl::Mutex queue_mu_;
  std::deque<WatchItem> queue_ ABSL_GUARDED_BY(queue_mu_);

  absl::Mutex head_mu_;
  std::vector<std::function<void(absl::StatusOr<int64_t>)>> head_waiters_ ABSL_GUARDED_BY(head_mu_);

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;

  // This replica's announcement (Announce, then the maintenance thread).
  absl::Mutex presence_mu_ ABSL_ACQUIRED_BEFORE(replicas_mu_);
  bool announcing_ ABSL_GUARDED_BY(presence_mu_) = false;
  std::string announced_address_ ABSL_GUARDED_BY(presence_mu_);
  int64_t presence_lease_ ABSL_GUARDED_BY(presence_mu_) = 0;
  std::string presence_error_ ABSL_GUARDED_BY(presence_mu_);
  mutable absl::Mutex replicas_mu_;
  std::vector<ReplicaAddress> replicas_ ABSL_GUARDED_BY(replicas_mu_);
  std::string peer_secret_ ABSL_GUARDED_BY(replicas_mu_);

  std::atomic<bool> leader_{false};
  int64_t lease_id_ = 0;  // maintenance thread (and Init before it starts)
  absl::Time lease_ok_at_;

  std::thread follow_thread_;
  std::thread maintenance_thread_;
  std::thread head_thread_;
};

// --- History, releases, audit.

absl::Status EtcdStore::ReadHistory(
    const HistoryScope& scope, const EntryKey& after_key, int64_t after_revision,
    const std::function<bool(const EntryKey&, const HistoryRecord&)>& visit) {
  const std::string base = p_ + "h/";
  const std::string prefix = base + ScopePrefix(scope);
  const std::string start =
      after_revision > 0 ? std::max(prefix, base + HistoryKeyPrefix(after_key)) : prefix;
  std::optional<EntryKey> current;
  bool in_scope = false;
  std::vector<HistoryRecord> versions;  // of `current`, oldest first
  bool stopped = false;
  // Emits the current key's versions newest first.
  auto flush = [&]() -> bool {
    if (!current || !in_scope) return true;
    const bool resume = after_revision > 0 && *current == after_key;
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (resume && it->revision() >= after_revision) continue;
      if (!visit(*current, *it)) return false;
    }
    return true;
  };
  absl::StatusOr<int64_t> ranged = client_->RangeAll(
      start, PrefixEnd(prefix), 0, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
        std::optional<std::pair<EntryKey, int64_t>> decoded =
            DecodeHistoryKey(absl::string_view(kv.key()).substr(base.size()));
        if (!decoded) return absl::DataLossError("malformed history key");
        if (!current || !(decoded->first == *current)) {
          if (!flush()) {
            stopped = true;
            return StopVisit();
          }
          current = decoded->first;
          in_scope = InScope(scope, *current);
          versions.clear();
        }
        if (!in_scope) return absl::OkStatus();
        HistoryRecord record;
        if (!record.ParseFromString(kv.value())) {
          return absl::DataLossError("malformed history record");
        }
        if (absl::Status s = OpenEntry(options_.sealer.get(), record.mutable_entry()); !s.ok()) {
          return s;
        }
        versions.push_back(std::move(record));
        return absl::OkStatus();
      });
  if (stopped) return absl::OkStatus();
  if (absl::Status s = Visited(ranged); !s.ok()) return Annotate(s, "read history");
  flush();
  return absl::OkStatus();
}

absl::StatusOr<StateAt> EtcdStore::ReadStateAt(const HistoryScope& scope, int64_t revision) {
  StateAt state;
  int64_t at = 0;
  absl::StatusOr<int64_t> floor = FloorAt(scope.tenant, 0, &at);
  if (!floor.ok()) return floor.status();
  state.floor = *floor;
  const std::string base = p_ + "h/";
  const std::string prefix = base + ScopePrefix(scope);
  std::optional<EntryKey> current;
  std::optional<HistoryRecord> latest;  // the current key's latest version <= revision
  auto flush = [&] {
    if (current && latest && !latest->deleted() && InScope(scope, *current)) {
      state.entries.emplace_back(*current, std::move(*latest->mutable_entry()));
    }
    latest.reset();
  };
  absl::StatusOr<int64_t> ranged = client_->RangeAll(
      prefix, PrefixEnd(prefix), at, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
        std::optional<std::pair<EntryKey, int64_t>> decoded =
            DecodeHistoryKey(absl::string_view(kv.key()).substr(base.size()));
        if (!decoded) return absl::DataLossError("malformed history key");
        if (!current || !(decoded->first == *current)) {
          flush();
          current = decoded->first;
        }
        if (decoded->second > revision) return absl::OkStatus();
        HistoryRecord record;
        if (!record.ParseFromString(kv.value())) {
          return absl::DataLossError("malformed history record");
        }
        latest = std::move(record);
        return absl::OkStatus();
      });
  if (!ranged.ok()) return Annotate(ranged.status(), "read history");
  flush();
  for (auto& [key, entry] : state.entries) {
    if (absl::Status s = OpenEntry(options_.sealer.get(), &entry); !s.ok()) return s;
  }
  return state;
}

absl::StatusOr<int64_t> EtcdStore::HistoryFloor(const std::string& tenant) {
  return FloorAt(tenant, 0, nullptr);
}

absl::Status EtcdStore::ReadReleases(const std::string& tenant, int64_t before,
                                     const std::function<bool(const ChangeSet&)>& visit) {
  const int64_t last = before > 0 ? before - 1 : kMaxRevision;
  int64_t at = 0;
  auto emit = [&](const std::string& value) -> absl::Status {
    ChangeSet set;
    if (!set.ParseFromString(value)) return absl::DataLossError("malformed release record");
    if (absl::Status o = OpenChangeSet(options_.sealer.get(), &set); !o.ok()) return o;
    return visit(set) ? absl::OkStatus() : StopVisit();
  };
  absl::Status s;
  if (tenant.empty()) {
    s = RangeDesc(p_ + "rel/", ReleaseKey(last + 1), &at,
                  [&](const mvccpb::KeyValue& kv) { return emit(kv.value()); });
  } else {
    const std::string prefix = p_ + "ri/" + EntryPrefix(tenant);
    s = RangeDesc(prefix, ReleaseIndexKey(tenant, last + 1), &at,
                  [&](const mvccpb::KeyValue& kv) -> absl::Status {
                    std::optional<int64_t> revision =
                        DecodeRevision(absl::string_view(kv.key()).substr(prefix.size()));
                    if (!revision) return absl::DataLossError("malformed release index key");
                    RangeRequest request;
                    request.set_key(ReleaseKey(*revision));
                    request.set_revision(at);
                    absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
                    if (!r.ok()) return r.status();
                    if (r->kvs().empty()) return absl::OkStatus();  // compacted meanwhile
                    return emit(r->kvs(0).value());
                  });
  }
  if (s.ok() || IsStop(s)) return absl::OkStatus();
  return Annotate(s, "read releases");
}

absl::StatusOr<ChangeSet> EtcdStore::GetRelease(int64_t revision) {
  RangeRequest request;
  request.set_key(ReleaseKey(revision));
  absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
  if (!r.ok()) return Annotate(r.status(), "read release");
  if (r->kvs().empty()) {
    return absl::NotFoundError(absl::StrCat("release_id: no release ", revision));
  }
  ChangeSet set;
  if (!set.ParseFromString(r->kvs(0).value())) {
    return absl::DataLossError("malformed release record");
  }
  if (absl::Status o = OpenChangeSet(options_.sealer.get(), &set); !o.ok()) return o;
  return set;
}

absl::Status EtcdStore::ReadAudit(int64_t before,
                                  const std::function<bool(const AuditRecord&)>& visit) {
  int64_t at = 0;
  // Visits a bundle's records newest first, those with sequence < before.
  auto emit = [&](const mvccpb::KeyValue& kv) -> absl::Status {
    AuditBundle bundle;
    if (!bundle.ParseFromString(kv.value())) return absl::DataLossError("malformed audit bundle");
    for (int i = bundle.records_size() - 1; i >= 0; --i) {
      if (before > 0 && bundle.records(i).sequence() >= before) continue;
      if (!visit(bundle.records(i))) return StopVisit();
    }
    return absl::OkStatus();
  };
  const std::string end = PrefixEnd(p_ + "aud/");
  if (before > 0) {
    // The bundle that holds `before` (keyed by its last sequence, >= before) may hold
    // older records too.
    RangeRequest request;
    request.set_key(AuditKey(before));
    request.set_range_end(end);
    request.set_limit(1);
    absl::StatusOr<etcdserverpb::RangeResponse> r = client_->Range(request);
    if (!r.ok()) return Annotate(r.status(), "read the audit log");
    at = r->header().revision();
    if (!r->kvs().empty()) {
      absl::Status s = emit(r->kvs(0));
      if (IsStop(s)) return absl::OkStatus();
      if (!s.ok()) return s;
    }
  }
  absl::Status s = RangeDesc(p_ + "aud/", before > 0 ? AuditKey(before) : end, &at, emit);
  if (s.ok() || IsStop(s)) return absl::OkStatus();
  return Annotate(s, "read the audit log");
}

absl::StatusOr<HistoryCompaction> EtcdStore::CompactHistory(int64_t cutoff_micros,
                                                            int keep_versions) {
  HistoryCompaction result;
  if (!leader_.load()) return result;
  keep_versions = std::max(1, keep_versions);
  std::map<std::string, int64_t> floors;   // tenant -> new floor (only raised)
  std::map<std::string, int64_t> written;  // tenant -> floor already written
  google::protobuf::RepeatedPtrField<RequestOp> ops;
  int64_t at = 0;
  const int64_t max_deletes = std::max<int64_t>(1, options_.max_txn_ops / 2);
  int64_t deletes = 0;
  // Sends the deletes so far with the floors they raise (floors only go up, so a floor is
  // never written before the deletes that justify it are).
  auto flush = [&]() -> absl::Status {
    for (const auto& [tenant, floor] : floors) {
      auto it = written.find(tenant);
      if (it != written.end() && it->second >= floor) continue;
      absl::StatusOr<int64_t> old = FloorAt(tenant, 0, nullptr);
      if (!old.ok()) return old.status();
      if (floor > *old) AddPut(&ops, FloorKey(tenant), EncodeRevision(floor));
      written[tenant] = floor;
    }
    deletes = 0;
    return SendOps(&ops, "compact history");
  };
  std::vector<VersionAge> versions;
  std::optional<EntryKey> current;
  absl::Status failed;
  auto finish_key = [&](const EntryKey& key) -> absl::Status {
    const size_t drop = VersionsToDrop(versions, cutoff_micros, keep_versions);
    const VersionAge& last = versions.back();
    if (drop == 0) return absl::OkStatus();
    for (size_t i = 0; i < drop; ++i) {
      AddDelete(&ops, HistoryKeyOf(key, versions[i].revision));
      if (++deletes >= max_deletes) {
        const int64_t floor = i + 1 < versions.size() ? versions[i + 1].revision : last.revision;
        int64_t& f = floors[key.tenant];
        f = std::max(f, floor);
        if (absl::Status s = flush(); !s.ok()) return s;
      }
    }
    const int64_t floor = drop < versions.size() ? versions[drop].revision : last.revision;
    int64_t& f = floors[key.tenant];
    f = std::max(f, floor);
    result.versions_dropped += static_cast<int64_t>(drop);
    return absl::OkStatus();
  };
  const std::string base = p_ + "h/";
  absl::StatusOr<int64_t> ranged = client_->RangeAll(
      base, PrefixEnd(base), 0, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
        std::optional<std::pair<EntryKey, int64_t>> decoded =
            DecodeHistoryKey(absl::string_view(kv.key()).substr(base.size()));
        if (!decoded) return absl::DataLossError("malformed history key");
        if (!current || !(decoded->first == *current)) {
          if (current) {
            if (absl::Status s = finish_key(*current); !s.ok()) return s;
          }
          current = decoded->first;
          versions.clear();
        }
        HistoryRecord record;
        if (!record.ParseFromString(kv.value())) {
          return absl::DataLossError("malformed history record");
        }
        versions.push_back({decoded->second, record.commit_time_micros(), record.deleted()});
        return absl::OkStatus();
      });
  if (!ranged.ok()) return Annotate(ranged.status(), "compact history");
  at = *ranged;
  if (current) {
    if (absl::Status s = finish_key(*current); !s.ok()) return s;
  }
  if (absl::Status s = flush(); !s.ok()) return s;

  // Releases go by age alone, with their index rows.
  const std::string rel = p_ + "rel/";
  ranged = client_->RangeAll(
      rel, PrefixEnd(rel), at, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
        ChangeSet set;
        if (!set.ParseFromString(kv.value())) return absl::DataLossError("malformed release");
        if (set.commit_time_micros() >= cutoff_micros) return StopVisit();
        std::set<std::string> tenants;
        for (const Change& change : set.changes()) tenants.insert(change.tenant());
        if (ops.size() + 1 + static_cast<int64_t>(tenants.size()) > options_.max_txn_ops) {
          if (absl::Status s = SendOps(&ops, "compact releases"); !s.ok()) return s;
        }
        AddDelete(&ops, kv.key());
        for (const std::string& tenant : tenants) {
          AddDelete(&ops, ReleaseIndexKey(tenant, set.revision()));
        }
        ++result.releases_dropped;
        return absl::OkStatus();
      });
  if (absl::Status s = Visited(ranged); !s.ok()) return Annotate(s, "compact releases");
  if (absl::Status s = SendOps(&ops, "compact releases"); !s.ok()) return s;
  result.floors.assign(floors.begin(), floors.end());
  return result;
}

absl::StatusOr<int64_t> EtcdStore::CompactAudit(int64_t cutoff_micros) {
  if (!leader_.load()) return 0;
  int64_t dropped = 0;
  google::protobuf::RepeatedPtrField<RequestOp> ops;
  const std::string base = p_ + "aud/";
  absl::StatusOr<int64_t> ranged = client_->RangeAll(
      base, PrefixEnd(base), 0, kPage, [&](const mvccpb::KeyValue& kv) -> absl::Status {
        AuditBundle bundle;
        if (!bundle.ParseFromString(kv.value())) {
          return absl::DataLossError("malformed audit bundle");
        }
        int old = 0;
        while (old < bundle.records_size() && bundle.records(old).time_micros() < cutoff_micros) {
          ++old;
        }
        if (old == 0) return StopVisit();
        dropped += old;
        const bool whole = old == bundle.records_size();
        if (whole) {
          AddDelete(&ops, kv.key());
        } else {
          // The bundle straddles the cutoff: keep its newer records.
          bundle.mutable_records()->DeleteSubrange(0, old);
          AddPut(&ops, kv.key(), bundle.SerializeAsString());
        }
        if (ops.size() >= options_.max_txn_ops) {
          if (absl::Status s = SendOps(&ops, "compact the audit log"); !s.ok()) return s;
        }
        return whole ? absl::OkStatus() : StopVisit();
      });
  if (absl::Status s = Visited(ranged); !s.ok()) return Annotate(s, "compact the audit log");
  if (absl::Status s = SendOps(&ops, "compact the audit log"); !s.ok()) return s;
  return dropped;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options) {
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError("etcd store: the prefix must not be empty");
  }
  if (options.max_txn_ops < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd store: max_txn_ops is ", options.max_txn_ops, "; a commit needs at least 8"));
  }
  if (options.max_request_bytes < 2 * kBytesReserve) {
    return absl::InvalidArgumentError(absl::StrCat("etcd store: max_request_bytes is ",
                                                   options.max_request_bytes,
                                                   "; it must be at least ", 2 * kBytesReserve));
  }
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Open(options.client);
  if (!client.ok()) return client.status();
  auto store = std::make_unique<EtcdStore>(options, *std::move(client));
  if (absl::Status s = store->Init(); !s.ok()) return s;
  return store;
}

}  // namespace confcenter::storage
