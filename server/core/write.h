// A write kind is one unit: its request, its validation, its plan against the state, and what
// the audit log records of it. The committer (committer.h) runs every kind the same way, so a
// new write RPC is one new file in writes/ (a Write subclass and its factory) plus its
// registration in CMake; ConfigCore::Submit takes it.
#ifndef CONFCENTER_SERVER_CORE_WRITE_H_
#define CONFCENTER_SERVER_CORE_WRITE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "server/core/config_state.h"
#include "server/core/core_options.h"
#include "storage/records.pb.h"
#include "storage/store.h"

namespace confcenter {

// Who asks for a write, for history and the audit log. Every field may be empty (in-process
// callers): rpc then defaults to the write's kind, user to "anonymous".
struct WriteContext {
  // The RPC, e.g. "ConfigService.Put".
  std::string rpc;
  // The caller's name (the x-confcenter-user header until authentication exists).
  std::string user;
  // The client's address.
  std::string peer;
  // Whom per-caller limits count this write against: the authenticated identity, or the
  // peer's host where there is none (the x-confcenter-user header is the client's say-so).
  // Empty: not limited (internal writes such as TTL reclaim).
  std::string caller;
  // The write is only the audit record of a call refused elsewhere (unauthenticated, denied):
  // it does not spend the caller's write rate, and is recorded only within
  // CoreOptions::refusal_audits_per_caller.
  bool refusal_record = false;
  // The release message (Txn, Rollback).
  std::string message;
  // The client's deadline: a write still waiting for the committer when it passes is dropped
  // (DEADLINE_EXCEEDED, audited, nothing written), so a client that gave up leaves no work.
  absl::Time deadline = absl::InfiniteFuture();
};

// What a write names, as the audit log records it.
struct AuditTargets {
  std::vector<std::string> tenants;
  std::vector<std::string> services;
  std::vector<std::string> keys;  // "tenant/service/key"
  std::string detail;
};

// Longest tenant, service, key path or detail an audit record keeps, in bytes; longer ones
// are cut at a UTF-8 boundary (audit records are proto3 strings).
inline constexpr size_t kMaxAuditNameBytes = 300;
// Most keys one audit record lists.
inline constexpr size_t kMaxAuditKeys = 128;

// `name` cut for an audit record (kMaxAuditNameBytes, valid UTF-8).
std::string AuditName(absl::string_view name);

// Collects what an audit record names: tenants and services sorted and unique, at most
// kMaxAuditKeys keys, every name cut by AuditName.
class AuditTargetsBuilder {
 public:
  void AddTenant(absl::string_view tenant) { tenants_.insert(AuditName(tenant)); }
  void AddService(absl::string_view service) { services_.insert(AuditName(service)); }
  // Adds the tenant, the service and the key path "tenant/service/key".
  void AddKey(absl::string_view tenant, absl::string_view service, absl::string_view key);
  void SetDetail(absl::string_view detail) { detail_ = AuditName(detail); }
  AuditTargets Build() const;

 private:
  std::set<std::string> tenants_, services_;
  std::vector<std::string> keys_;
  std::string detail_;
};

// The entries as they will be once the batch planned so far commits: the state plus the
// earlier writes of the batch.
class Overlay {
 public:
  explicit Overlay(const ConfigState& base) : base_(base) {}

  // The own entry, or nullptr.
  const storage::EntryRecord* Find(const std::string& tenant, const std::string& service,
                                   const std::string& key) const;
  // Own entries of the tenant.
  int64_t KeyCount(const std::string& tenant) const;
  // The tenant's bytes against --max_tenant_bytes (TenantState::stored_bytes).
  int64_t StoredBytes(const std::string& tenant) const;
  // Records that `key` becomes `entry` (nullopt: removed), one history version more.
  void Set(const storage::EntryKey& key, std::optional<storage::EntryRecord> entry);

 private:
  struct Delta {
    int64_t keys = 0;
    int64_t bytes = 0;
  };
  const ConfigState& base_;
  absl::flat_hash_map<std::string, std::optional<storage::EntryRecord>> entries_;
  absl::flat_hash_map<std::string, Delta> delta_;
};

// Runs `fn` with the current state under the reader lock (for completions that describe the
// state after their commit).
using ReadStateFn = std::function<void(const std::function<void(const ConfigState&)>& fn)>;

// What a write is planned against. Valid for the duration of Plan only.
struct PlanContext {
  // The committed state, read-locked.
  const ConfigState& state;
  // The state plus the batch's earlier writes. Exclusive writes (see Write::exclusive) are
  // alone in their batch, so for them it equals `state`.
  Overlay& overlay;
  // The revision the write commits at if it changes anything.
  int64_t revision;
  // The committer's clock reading for this batch.
  absl::Time now;
  const CoreOptions& options;
  const ReadStateFn& read_state;
  // The store's size when the batch began (StoreStats::stored_bytes), for --max_store_bytes;
  // 0 when that quota is off.
  int64_t store_bytes = 0;
  // The store's disk is full (Store::DiskFull): only writes that free bytes are taken.
  bool disk_full = false;
};

// RESOURCE_EXHAUSTED naming the quota if the changes of `change_set` from index
// `first_change` on, planned against `context`, would take a tenant over --max_tenant_bytes,
// grow a store that is over --max_store_bytes or whose disk is full, or create a tenant past
// --max_tenants; the message
// starts with field_of(tenant) (the request field the offending tenant came from). Changes
// that free bytes always pass, so a tenant or store over its quota can still delete. Call
// before the changes reach the overlay.
absl::Status CheckQuotas(const PlanContext& context, const storage::ChangeSet& change_set,
                         int first_change,
                         const std::function<std::string(const std::string& tenant)>& field_of);

// Runs once the batch holding a planned write is committed (OK) or has failed.
using Completion = std::function<void(const absl::Status& committed)>;

// One write request on its way through the committer. Not thread-safe: owned by one thread at
// a time (the caller, then the committer).
class Write {
 public:
  virtual ~Write() = default;

  // The RPC recorded when the context names none, e.g. "ConfigService.Txn".
  virtual absl::string_view default_rpc() const = 0;
  // Whether it commits in a batch of its own: writes that change tenants do, so the entry
  // overlay of a batch never has to follow tenant changes.
  virtual bool exclusive() const { return true; }
  // Whether its change set is a release (an atomic multi-key change with a message).
  virtual bool release() const { return false; }
  // Checks the request's shape before it is queued. INVALID_ARGUMENT naming the field.
  virtual absl::Status Validate(const CoreOptions& options, const WriteContext& context) const = 0;
  // What the audit record names.
  virtual AuditTargets Targets() const = 0;
  // Adds the write's changes to `change_set` (none if it changes nothing) and returns what to
  // run once the batch is committed. On error the overlay and `change_set` are left as they
  // were and the write fails with the error.
  virtual absl::StatusOr<Completion> Plan(const PlanContext& context,
                                          storage::ChangeSet& change_set) = 0;
  // Tells the caller the write failed with `status` (not OK). Called at most once, and never
  // after a completion ran.
  virtual void Fail(const absl::Status& status) = 0;
};

// ---------------------------------------------------------------------------------------------
// Helpers the write kinds share.

// The entry a write of (value or mask) makes of `current`: a new entry, or the next version of
// the current one when it is of the same kind.
// `secret` marks the value secret; a secret stays secret while the entry lives.
storage::EntryRecord NextEntry(const storage::EntryRecord* current, bool mask,
                               const std::string& value, int32_t content_type, int64_t revision,
                               bool secret = false);

// Whether the definition of `service` that `tenant` sees (ConfigState::DefinitionSeenBy)
// declares `key` secret: generated, or listed in secret_keys.
bool DeclaredSecret(const ConfigState& state, const std::string& tenant, const std::string& service,
                    const std::string& key);

// Adds the change of one own entry from `before` to `after` (nullptr: absent).
void AddEntryChange(storage::ChangeSet& change_set, const std::string& tenant,
                    const std::string& service, const std::string& key,
                    const storage::EntryRecord* before, const storage::EntryRecord* after);

// Adds a TENANT_PUT of `record` (with `previous`, if any) to `change_set`.
void AddTenantPut(storage::ChangeSet& change_set, storage::TenantRecord record,
                  const storage::TenantRecord* previous);

// `tenant "t" service "s" key "k"` for error messages.
std::string DescribeKey(absl::string_view tenant, absl::string_view service, absl::string_view key);

// Whether two records hold the same fields, compared by their deterministic serialization
// (maps in key order). Not protobuf's MessageDifferencer: its reflection over map fields
// crashes in the TSan build, whose inline protobuf code does not match Debian's library.
bool SameRecord(const google::protobuf::MessageLite& a, const google::protobuf::MessageLite& b);

// The content type stored when a request leaves it unset (0).
inline constexpr int32_t kContentTypeText = 1;
// The highest ContentType value (confcenter.v1.ContentType).
inline constexpr int32_t kMaxContentType = 4;

// A completion that calls `done` with the result `result` points to once committed, or with
// the commit's error.
template <typename Result, typename Done>
Completion CompleteWith(Done& done, std::shared_ptr<Result> result) {
  return [&done, result](const absl::Status& committed) {
    if (committed.ok()) {
      done(std::move(*result));
    } else {
      done(committed);
    }
  };
}

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITE_H_
