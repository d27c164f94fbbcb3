// The release workflow's writes: a tenant's review settings, drafts (create, update,
// discard), publishing a draft as one release, and promotion or reset of a tenant (a release,
// or a draft where the tenant requires them). Drafts live in the tenant's record
// (storage::TenantRecord.drafts), so every engine stores and replicates them as it does
// registrations.
#ifndef CONFCENTER_SERVER_CORE_WRITES_RELEASE_H_
#define CONFCENTER_SERVER_CORE_WRITES_RELEASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/history_core.h"
#include "server/core/release_plan.h"
#include "server/core/write.h"
#include "server/core/writes/txn.h"
#include "storage/records.pb.h"

namespace confcenter {

// Sets `tenant`'s review. Done with the revision that recorded it (the current one if it
// was already so). NOT_FOUND for the tenant.
using SetReviewDone = std::function<void(absl::StatusOr<int64_t>)>;
std::unique_ptr<Write> MakeSetReviewWrite(std::string tenant, storage::ReviewRecord review,
                                          SetReviewDone done);

struct DraftCommand {
  enum class Kind { kCreate, kUpdate, kDiscard };
  Kind kind = Kind::kCreate;
  std::string tenant;
  // kUpdate, kDiscard: the draft.
  int64_t draft_id = 0;
  // kCreate: the changes (at least one); kUpdate: added, or replacing the same key's. Their
  // base revisions are set from the state when planned.
  DraftChanges set;
  // kUpdate: (service, key) of changes dropped.
  std::vector<std::pair<std::string, std::string>> remove;
  // kCreate: the release message; kUpdate: a new one, empty keeps it.
  std::string message;
  // Who writes it (the caller's user): kCreate its author, kUpdate an editor.
  std::string author;
};

// Done with the draft as it is after the write (kDiscard: as it was). Errors: NOT_FOUND
// (tenant; draft_id), INVALID_ARGUMENT naming the field (changes: malformed, duplicate keys,
// a DELETE of a key without an own entry, a secret value; more than --max_txn_ops changes),
// RESOURCE_EXHAUSTED (kMaxDraftsPerTenant, kMaxDraftBytesPerTenant).
using DraftDone = std::function<void(absl::StatusOr<storage::DraftRecord>)>;
std::unique_ptr<Write> MakeDraftWrite(DraftCommand command, DraftDone done);

struct PublishCommand {
  std::string tenant;
  int64_t draft_id = 0;
  // Apply over keys changed since the draft was made.
  bool rebase = false;
  // The release message; empty: the draft's.
  std::string message;
  // Who publishes (the caller's user).
  std::string publisher;
};

struct PublishResult {
  int64_t revision = 0;
  storage::DraftRecord draft;
  // Per change of the draft as applied: the entry as written, or as it was before a delete.
  std::vector<WriteOp> ops;
  TxnResult applied;
  // Own entries before the release, per op (absent: none).
  std::vector<std::optional<storage::EntryRecord>> before;
};

// Applies the draft's changes and removes the draft, in one release. Errors: NOT_FOUND
// (tenant; draft_id: missing or already published), FAILED_PRECONDITION (a key changed since
// the draft was made, without rebase: named; the publisher is the author under a review with
// publisher_not_author), RESOURCE_EXHAUSTED (quotas).
using PublishDone = std::function<void(absl::StatusOr<PublishResult>)>;
std::unique_ptr<Write> MakePublishDraftWrite(PublishCommand command, PublishDone done);

struct PromoteCommand {
  // Empty: a Reset of `to_tenant`.
  std::string from_tenant;
  std::string to_tenant;
  std::vector<std::string> services;
  bool remove_missing = false;
  // Who asks (a draft's author).
  std::string author;
  // The caller was admitted to make a draft only (the target's review required drafts when
  // it was checked): if the review changed since, FAILED_PRECONDITION instead of a release.
  bool draft_only = false;
};

struct PromoteResult {
  int64_t revision = 0;
  std::vector<DiffEntry> diff;
  int64_t release_id = 0;  // 0: a draft, or nothing changed
  int64_t draft_id = 0;    // the draft made on a tenant with drafts_required
  int32_t skipped = 0;
};

// Promotes from_tenant's view into to_tenant (PlanPromotion), or resets to_tenant
// (PlanReset): one release, or a draft on a tenant whose review requires them. Errors as
// PlanPromotion/PlanReset, and as MakeDraftWrite for the draft.
using PromoteDone = std::function<void(absl::StatusOr<PromoteResult>)>;
std::unique_ptr<Write> MakePromoteWrite(PromoteCommand command, PromoteDone done);

struct StartGrayCommand {
  std::string tenant;
  // Start from this draft of the tenant (it is consumed), or from `changes` (0).
  int64_t draft_id = 0;
  // PUT and MASK only; no secret values.
  DraftChanges changes;
  storage::GrayAudienceRecord audience;
  // The message; empty: the draft's.
  std::string message;
  // Who starts it (the caller's user).
  std::string author;
};

// Publishes changes to the instances of `tenant`'s view in the audience only: its gray
// tenant ("<tenant>~gray", common/names.h) is created with the changes as its own entries,
// and the watch hub moves the audience's streams onto it. Done with the gray release id (the
// revision). Errors: NOT_FOUND (tenant; draft_id), INVALID_ARGUMENT (audience, changes: a
// DELETE, a secret value, malformed), FAILED_PRECONDITION (a gray release is open already;
// a tenant whose review requires drafts without draft_id; the draft's author or an editor
// under publisher_not_author; a key of the draft changed since it was made).
using StartGrayDone = std::function<void(absl::StatusOr<int64_t>)>;
std::unique_ptr<Write> MakeStartGrayWrite(StartGrayCommand command, StartGrayDone done);

struct EndGrayCommand {
  std::string tenant;
  // The open gray release expected; 0: whichever is open.
  int64_t gray_release_id = 0;
  // True: its values become the tenant's own (one release; instances that see them get
  // nothing new). False: it is taken back (the audience gets the tenant's values again; a
  // draft it was started from is given back).
  bool promote = false;
  // Promote over keys of the tenant changed since the gray release started.
  bool rebase = false;
};

// Ends the tenant's gray release. Done with the revision. NOT_FOUND (tenant; no open gray
// release, or another id than gray_release_id); FAILED_PRECONDITION naming the first key of
// the tenant changed since the gray release started (promote without rebase).
using EndGrayDone = std::function<void(absl::StatusOr<int64_t>)>;
std::unique_ptr<Write> MakeEndGrayWrite(EndGrayCommand command, EndGrayDone done);

// Adds the removal of `tenant`'s gray tenant (its entries, then itself) to `change_set`, if
// it has one: with the tenant, or when its gray release ends.
void AddGrayRemoval(const ConfigState& state, const std::string& tenant,
                    storage::ChangeSet& change_set);

// FAILED_PRECONDITION naming "<field>" if a direct write of `op` to `state` must go through
// a draft: its tenant's review requires drafts, and the value is not a secret (secrets are
// written by publishers directly: drafts do not hold them).
absl::Status CheckDirectWrite(const ConfigState& state, const WriteOp& op, absl::string_view field);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_CORE_WRITES_RELEASE_H_
