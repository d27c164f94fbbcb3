#include "server/core/writes/release.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/names.h"
#include "server/core/gray.h"
#include "server/core/rollback_plan.h"

namespace confcenter {
namespace {

using storage::DraftChangeRecord;
using storage::DraftRecord;
using storage::TenantRecord;

absl::Status DraftNotFound(const std::string& tenant, int64_t id) {
  return absl::NotFoundError(absl::StrCat("draft_id: tenant ", QuoteForError(tenant),
                                          " has no draft ", id,
                                          " (published, discarded, or never made)"));
}

// The index of draft `id` in `record`, or -1.
int FindDraft(const TenantRecord& record, int64_t id) {
  for (int i = 0; i < record.drafts_size(); ++i) {
    if (record.drafts(i).id() == id) return i;
  }
  return -1;
}

// FAILED_PRECONDITION naming draft_id if `releaser` wrote the draft and the tenant's review
// wants another identity to release it.
absl::Status CheckFourEyes(const TenantRecord& tenant, const DraftRecord& draft,
                           const std::string& releaser) {
  if (!tenant.review().publisher_not_author()) return absl::OkStatus();
  const bool wrote =
      releaser == draft.author() ||
      std::find(draft.editors().begin(), draft.editors().end(), releaser) != draft.editors().end();
  if (!wrote) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("draft_id: draft ", draft.id(), " was written or changed by ",
                   QuoteForError(releaser), "; tenant ", QuoteForError(tenant.name()),
                   " needs another identity to release it (review: publisher_not_author)"));
}

// FAILED_PRECONDITION naming draft_id and the first key of `tenant` whose own entry moved
// since `draft` was made.
absl::Status CheckNoConflict(const ConfigState& state, const std::string& tenant,
                             const DraftRecord& draft) {
  std::vector<std::string> conflicts = ConflictsOf(state, tenant, draft.changes());
  if (conflicts.empty()) return absl::OkStatus();
  for (const DraftChangeRecord& c : draft.changes()) {
    if (absl::StrCat(c.service(), "/", c.key()) != conflicts.front()) continue;
    const storage::EntryRecord* own = state.FindEntry(tenant, c.service(), c.key());
    return absl::FailedPreconditionError(absl::StrCat(
        "draft_id: ", DescribeKey(tenant, c.service(), c.key()), " changed since draft ",
        draft.id(), " was made (own entry at revision ", own != nullptr ? own->mod_revision() : 0,
        ", the draft was made against ", c.base_revision(), "); ", conflicts.size(),
        " key(s) conflict; update the draft, or publish it with rebase"));
  }
  return absl::OkStatus();
}

// Shape checks of changes a caller gives: each valid, one per key, at most --max_txn_ops.
absl::Status ValidateChanges(const CoreOptions& options, const DraftChanges& changes,
                             absl::string_view field) {
  if (changes.size() > options.max_txn_ops) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", changes.size(),
                                                   " changes exceed the limit of ",
                                                   options.max_txn_ops, " (--max_txn_ops)"));
  }
  std::map<std::pair<std::string, std::string>, int> seen;
  for (int i = 0; i < changes.size(); ++i) {
    const std::string at = absl::StrCat(field, "[", i, "]");
    if (absl::Status s = ValidateDraftChange(options, at, changes[i]); !s.ok()) return s;
    auto [it, inserted] = seen.emplace(std::make_pair(changes[i].service(), changes[i].key()), i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".key: service ", QuoteForError(changes[i].service()), " key ",
          QuoteForError(changes[i].key()), " already appears in ", field, "[", it->second, "]"));
    }
  }
  return absl::OkStatus();
}

// Sets the base revisions of `changes` from the tenant's own entries now, and refuses what a
// draft cannot hold (secret values, a DELETE of an absent own entry).
absl::Status PrepareChanges(const ConfigState& state, const std::string& tenant,
                            DraftChanges& changes, absl::string_view field) {
  if (absl::Status s = CheckNoSecretValues(state, tenant, changes, field); !s.ok()) return s;
  for (int i = 0; i < changes.size(); ++i) {
    DraftChangeRecord& c = changes[i];
    const storage::EntryRecord* own = state.FindEntry(tenant, c.service(), c.key());
    if (c.op() == kDraftDelete && own == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "].op: ", DescribeKey(tenant, c.service(), c.key()),
                       " has no own entry to delete; MASK hides an inherited key"));
    }
    c.set_base_revision(own != nullptr ? own->mod_revision() : 0);
    if (c.op() == kDraftPut && c.content_type() == 0) c.set_content_type(kContentTypeText);
  }
  return absl::OkStatus();
}

// RESOURCE_EXHAUSTED if the tenant's drafts outgrow what its record may hold.
absl::Status CheckDraftLimits(const TenantRecord& record, absl::string_view field) {
  if (record.drafts_size() > kMaxDraftsPerTenant) {
    return absl::ResourceExhaustedError(
        absl::StrCat(field, ": tenant ", QuoteForError(record.name()), " already holds ",
                     kMaxDraftsPerTenant, " drafts; publish or discard some first"));
  }
  int64_t bytes = 0;
  for (const DraftRecord& d : record.drafts()) bytes += static_cast<int64_t>(d.ByteSizeLong());
  if (bytes > kMaxDraftBytesPerTenant) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, ": the drafts of tenant ", QuoteForError(record.name()), " would hold ", bytes,
        " bytes; the limit is ", kMaxDraftBytesPerTenant, " (publish or discard some first)"));
  }
  return absl::OkStatus();
}

// Adds a new draft of `changes` to `record`, as made at `context`.
DraftRecord& AddDraft(TenantRecord& record, const PlanContext& context, DraftChanges changes,
                      std::string message, std::string author, std::string origin) {
  DraftRecord* d = record.add_drafts();
  d->set_id(context.revision);
  d->set_author(author.empty() ? "anonymous" : std::move(author));
  d->set_create_time_micros(absl::ToUnixMicros(context.now));
  d->set_update_time_micros(d->create_time_micros());
  d->set_message(std::move(message));
  SortByKey(changes);
  *d->mutable_changes() = std::move(changes);
  d->set_origin(std::move(origin));
  return *d;
}

class SetReviewWrite final : public Write {
 public:
  SetReviewWrite(std::string tenant, storage::ReviewRecord review, SetReviewDone done)
      : tenant_(std::move(tenant)), review_(std::move(review)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "ReleaseService.SetReview"; }
  absl::Status Validate(const CoreOptions&, const WriteContext&) const override {
    return ValidateTenantName("tenant", tenant_);
  }
  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(tenant_);
    targets.SetDetail(absl::StrCat("drafts_required=", review_.drafts_required(),
                                   " publisher_not_author=", review_.publisher_not_author()));
    return targets.Build();
  }
  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const TenantState* t = context.state.FindTenant(tenant_);
    if (t == nullptr) return TenantNotFoundError("tenant", tenant_);
    int64_t revision = context.state.revision();
    if (!SameRecord(t->record.review(), review_)) {
      TenantRecord record = t->record;
      *record.mutable_review() = review_;
      AddTenantPut(change_set, std::move(record), &t->record);
      revision = context.revision;
    }
    return CompleteWith(done_, std::make_shared<int64_t>(revision));
  }
  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const std::string tenant_;
  const storage::ReviewRecord review_;
  SetReviewDone done_;
};

class DraftWrite final : public Write {
 public:
  DraftWrite(DraftCommand command, DraftDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override {
    switch (command_.kind) {
      case DraftCommand::Kind::kCreate:
        return "ReleaseService.CreateDraft";
      case DraftCommand::Kind::kUpdate:
        return "ReleaseService.UpdateDraft";
      case DraftCommand::Kind::kDiscard:
        break;
    }
    return "ReleaseService.DiscardDraft";
  }

  absl::Status Validate(const CoreOptions& options, const WriteContext&) const override {
    if (absl::Status s = ValidateTenantName("tenant", command_.tenant); !s.ok()) return s;
    if (command_.kind != DraftCommand::Kind::kCreate && command_.draft_id <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("draft_id: ", command_.draft_id, " is not a draft id (a revision)"));
    }
    if (absl::Status s = ValidateReleaseMessage("message", command_.message); !s.ok()) return s;
    const char* field = command_.kind == DraftCommand::Kind::kCreate ? "changes" : "set";
    if (command_.kind == DraftCommand::Kind::kCreate && command_.set.empty()) {
      return absl::InvalidArgumentError("changes: a draft needs at least one change");
    }
    if (absl::Status s = ValidateChanges(options, command_.set, field); !s.ok()) return s;
    for (size_t i = 0; i < command_.remove.size(); ++i) {
      const std::string at = absl::StrCat("remove[", i, "]");
      if (absl::Status s = ValidateServiceName(at + ".service", command_.remove[i].first);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = ValidateKey(at + ".key", command_.remove[i].second); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(command_.tenant);
    for (const DraftChangeRecord& c : command_.set) {
      targets.AddKey(command_.tenant, c.service(), c.key());
    }
    if (command_.draft_id != 0) targets.SetDetail(absl::StrCat("draft_id=", command_.draft_id));
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const TenantState* t = context.state.FindTenant(command_.tenant);
    if (t == nullptr) return TenantNotFoundError("tenant", command_.tenant);
    TenantRecord record = t->record;
    auto result = std::make_shared<DraftRecord>();
    const char* field = command_.kind == DraftCommand::Kind::kCreate ? "changes" : "set";
    DraftChanges set = command_.set;
    if (absl::Status s = PrepareChanges(context.state, command_.tenant, set, field); !s.ok()) {
      return s;
    }
    if (command_.kind == DraftCommand::Kind::kCreate) {
      *result = AddDraft(record, context, std::move(set), command_.message, command_.author, "");
    } else {
      const int index = FindDraft(record, command_.draft_id);
      if (index < 0) return DraftNotFound(command_.tenant, command_.draft_id);
      if (command_.kind == DraftCommand::Kind::kDiscard) {
        *result = record.drafts(index);
        record.mutable_drafts()->DeleteSubrange(index, 1);
      } else {
        DraftRecord& d = *record.mutable_drafts(index);
        std::map<std::pair<std::string, std::string>, DraftChangeRecord> changes;
        for (DraftChangeRecord& c : *d.mutable_changes()) {
          changes[{c.service(), c.key()}] = std::move(c);
        }
        for (size_t i = 0; i < command_.remove.size(); ++i) {
          if (changes.erase(command_.remove[i]) == 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                "remove[", i, "]: service ", QuoteForError(command_.remove[i].first), " key ",
                QuoteForError(command_.remove[i].second), " is not in draft ", command_.draft_id));
          }
        }
        for (DraftChangeRecord& c : set) changes[{c.service(), c.key()}] = std::move(c);
        if (changes.size() > static_cast<size_t>(context.options.max_txn_ops) &&
            d.origin().empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "set: draft ", command_.draft_id, " would hold ", changes.size(),
              " changes; the limit is ", context.options.max_txn_ops, " (--max_txn_ops)"));
        }
        d.clear_changes();
        for (auto& [key, c] : changes) *d.add_changes() = std::move(c);
        if (!command_.message.empty()) d.set_message(command_.message);
        const std::string editor = command_.author.empty() ? "anonymous" : command_.author;
        if (editor != d.author() &&
            std::find(d.editors().begin(), d.editors().end(), editor) == d.editors().end()) {
          d.add_editors(editor);
        }
        d.set_update_time_micros(absl::ToUnixMicros(context.now));
        *result = d;
      }
    }
    if (absl::Status s = CheckDraftLimits(record, field); !s.ok()) return s;
    AddTenantPut(change_set, std::move(record), &t->record);
    return CompleteWith(done_, result);
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const DraftCommand command_;
  DraftDone done_;
};

class PublishDraftWrite final : public Write {
 public:
  PublishDraftWrite(PublishCommand command, PublishDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "ReleaseService.PublishDraft"; }
  bool release() const override { return true; }

  absl::Status Validate(const CoreOptions&, const WriteContext&) const override {
    if (absl::Status s = ValidateTenantName("tenant", command_.tenant); !s.ok()) return s;
    if (command_.draft_id <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("draft_id: ", command_.draft_id, " is not a draft id (a revision)"));
    }
    return ValidateReleaseMessage("message", command_.message);
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(command_.tenant);
    targets.SetDetail(
        absl::StrCat("draft_id=", command_.draft_id, command_.rebase ? " rebase" : ""));
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const TenantState* t = context.state.FindTenant(command_.tenant);
    if (t == nullptr) return TenantNotFoundError("tenant", command_.tenant);
    const int index = FindDraft(t->record, command_.draft_id);
    if (index < 0) return DraftNotFound(command_.tenant, command_.draft_id);
    const DraftRecord& draft = t->record.drafts(index);
    if (absl::Status s = CheckFourEyes(t->record, draft, command_.publisher); !s.ok()) return s;
    if (!command_.rebase) {
      if (absl::Status s = CheckNoConflict(context.state, command_.tenant, draft); !s.ok()) {
        return s;
      }
    }
    auto result = std::make_shared<PublishResult>();
    result->draft = draft;
    // Rebased over a deletion, a DELETE has nothing left to remove.
    DraftChanges changes;
    for (const DraftChangeRecord& c : draft.changes()) {
      if (c.op() == kDraftDelete &&
          context.state.FindEntry(command_.tenant, c.service(), c.key()) == nullptr) {
        continue;
      }
      *changes.Add() = c;
    }
    result->ops = OpsOf(command_.tenant, changes, /*check_base=*/false);
    for (const WriteOp& op : result->ops) {
      const storage::EntryRecord* own = context.state.FindEntry(op.tenant, op.service, op.key);
      result->before.push_back(own != nullptr ? std::optional(*own) : std::nullopt);
    }
    if (absl::Status s =
            PlanOps(result->ops, /*single=*/false, context, change_set, result->applied);
        !s.ok()) {
      return s;
    }
    TenantRecord record = t->record;
    record.mutable_drafts()->DeleteSubrange(index, 1);
    AddTenantPut(change_set, std::move(record), &t->record);
    if (command_.message.empty()) change_set.set_message(draft.message());
    result->revision = context.revision;
    return CompleteWith(done_, result);
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const PublishCommand command_;
  PublishDone done_;
};

class PromoteWrite final : public Write {
 public:
  PromoteWrite(PromoteCommand command, PromoteDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override {
    return command_.from_tenant.empty() ? "ReleaseService.Reset" : "ReleaseService.Promote";
  }
  bool release() const override { return true; }

  absl::Status Validate(const CoreOptions&, const WriteContext& context) const override {
    const bool reset = command_.from_tenant.empty();
    if (!reset) {
      if (absl::Status s = ValidateTenantName("from_tenant", command_.from_tenant); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = ValidateTenantName(reset ? "tenant" : "to_tenant", command_.to_tenant);
        !s.ok()) {
      return s;
    }
    for (size_t i = 0; i < command_.services.size(); ++i) {
      if (absl::Status s =
              ValidateServiceName(absl::StrCat("services[", i, "]"), command_.services[i]);
          !s.ok()) {
        return s;
      }
    }
    return ValidateReleaseMessage("message", context.message);
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    if (!command_.from_tenant.empty()) targets.AddTenant(command_.from_tenant);
    targets.AddTenant(command_.to_tenant);
    for (const std::string& s : command_.services) targets.AddService(s);
    if (!command_.from_tenant.empty()) {
      targets.SetDetail(absl::StrCat("from=", command_.from_tenant, " to=", command_.to_tenant,
                                     command_.remove_missing ? " remove_missing" : ""));
    }
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const ConfigState& state = context.state;
    const bool reset = command_.from_tenant.empty();
    absl::StatusOr<PromotionPlan> plan =
        reset ? PlanReset(state, command_.to_tenant, command_.services)
              : PlanPromotion(state, command_.from_tenant, command_.to_tenant, command_.services,
                              command_.remove_missing);
    if (!plan.ok()) return plan.status();
    auto result = std::make_shared<PromoteResult>();
    result->skipped = plan->skipped;
    result->diff = DiffOfChanges(state, command_.to_tenant, plan->changes);
    result->revision = state.revision();
    if (plan->changes.empty()) return CompleteWith(done_, result);
    const TenantState* to = state.FindTenant(command_.to_tenant);
    if (command_.draft_only && !to->record.review().drafts_required()) {
      return absl::FailedPreconditionError(absl::StrCat(
          reset ? "tenant: " : "to_tenant: ", "tenant ", QuoteForError(command_.to_tenant),
          " stopped requiring drafts while the call was checked; call again"));
    }
    if (to->record.review().drafts_required()) {
      TenantRecord record = to->record;
      const std::string message =
          change_set.message().empty()
              ? (reset ? std::string("reset") : absl::StrCat("promote from ", command_.from_tenant))
              : change_set.message();
      AddDraft(record, context, std::move(plan->changes), message, command_.author,
               reset ? "reset" : absl::StrCat("promote from ", command_.from_tenant));
      if (absl::Status s = CheckDraftLimits(record, reset ? "tenant" : "to_tenant"); !s.ok()) {
        return s;
      }
      AddTenantPut(change_set, std::move(record), &to->record);
      change_set.set_release(false);
      result->draft_id = context.revision;
    } else {
      TxnResult applied;
      if (absl::Status s = PlanOps(OpsOf(command_.to_tenant, plan->changes, false),
                                   /*single=*/false, context, change_set, applied);
          !s.ok()) {
        return s;
      }
      if (change_set.message().empty()) {
        change_set.set_message(reset ? std::string("reset")
                                     : absl::StrCat("promote from ", command_.from_tenant));
      }
      result->release_id = context.revision;
    }
    result->revision = context.revision;
    return CompleteWith(done_, result);
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const PromoteCommand command_;
  PromoteDone done_;
};

class StartGrayWrite final : public Write {
 public:
  StartGrayWrite(StartGrayCommand command, StartGrayDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "ReleaseService.StartGray"; }

  absl::Status Validate(const CoreOptions& options, const WriteContext&) const override {
    if (absl::Status s = ValidateTenantName("tenant", command_.tenant); !s.ok()) return s;
    if (command_.draft_id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("draft_id: ", command_.draft_id, " is not a draft id (a revision)"));
    }
    if (command_.draft_id > 0 && !command_.changes.empty()) {
      return absl::InvalidArgumentError("changes: give a draft_id or changes, not both");
    }
    if (command_.draft_id == 0 && command_.changes.empty()) {
      return absl::InvalidArgumentError("changes: a gray release needs a draft_id or changes");
    }
    if (absl::Status s = ValidateChanges(options, command_.changes, "changes"); !s.ok()) return s;
    if (absl::Status s = ValidateGrayAudience("audience", command_.audience); !s.ok()) return s;
    return ValidateReleaseMessage("message", command_.message);
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(command_.tenant);
    for (const DraftChangeRecord& c : command_.changes) {
      targets.AddKey(command_.tenant, c.service(), c.key());
    }
    targets.SetDetail(absl::StrCat("draft_id=", command_.draft_id,
                                   " selector=", command_.audience.selector(),
                                   " percentage=", command_.audience.percentage(),
                                   " instances=", command_.audience.instance_ids_size()));
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const ConfigState& state = context.state;
    const TenantState* t = state.FindTenant(command_.tenant);
    if (t == nullptr) return TenantNotFoundError("tenant", command_.tenant);
    const std::string gray_name = GrayTenantOf(command_.tenant);
    if (const TenantState* open = state.FindTenant(gray_name)) {
      return absl::FailedPreconditionError(
          absl::StrCat("tenant: ", QuoteForError(command_.tenant), " has gray release ",
                       open->record.create_revision(), " open; promote or abort it first"));
    }
    DraftChanges changes = command_.changes;
    std::string message = command_.message;
    TenantRecord base = t->record;
    DraftRecord source;  // the changes with their base revisions
    const char* field = "changes";
    if (command_.draft_id > 0) {
      const int index = FindDraft(base, command_.draft_id);
      if (index < 0) return DraftNotFound(command_.tenant, command_.draft_id);
      const DraftRecord& draft = base.drafts(index);
      if (absl::Status s = CheckFourEyes(base, draft, command_.author); !s.ok()) return s;
      if (absl::Status s = CheckNoConflict(state, command_.tenant, draft); !s.ok()) return s;
      changes = draft.changes();
      if (message.empty()) message = draft.message();
      source = draft;
      base.mutable_drafts()->DeleteSubrange(index, 1);
      field = "draft_id";
    } else if (t->record.review().drafts_required()) {
      return absl::FailedPreconditionError(
          absl::StrCat("draft_id: tenant ", QuoteForError(command_.tenant),
                       " takes changes through drafts: start the gray release from one"));
    }
    for (int i = 0; i < changes.size(); ++i) {
      if (changes[i].op() == kDraftDelete) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, command_.draft_id > 0 ? "" : absl::StrCat("[", i, "].op"), ": ",
            DescribeKey(command_.tenant, changes[i].service(), changes[i].key()),
            " is a DELETE; a gray release puts or masks values (publish a deletion as a "
            "release)"));
      }
    }
    if (command_.draft_id > 0) {
      if (absl::Status s = CheckNoSecretValues(state, command_.tenant, changes, field,
                                               /*per_change=*/false);
          !s.ok()) {
        return s;
      }
    } else {
      if (absl::Status s = PrepareChanges(state, command_.tenant, changes, field); !s.ok()) {
        return s;
      }
      SortByKey(changes);
      *source.mutable_changes() = changes;
    }
    TenantRecord gray;
    gray.set_name(gray_name);
    gray.set_parent(command_.tenant);
    gray.set_create_revision(context.revision);
    gray.set_mod_revision(context.revision);
    gray.set_keep(true);
    storage::GrayRecord* record = gray.mutable_gray();
    *record->mutable_audience() = command_.audience;
    record->set_author(command_.author.empty() ? "anonymous" : command_.author);
    record->set_message(message);
    record->set_create_time_micros(absl::ToUnixMicros(context.now));
    record->set_draft_id(command_.draft_id);
    *record->mutable_source() = std::move(source);
    const int first_change = change_set.changes_size();
    AddTenantPut(change_set, std::move(gray), nullptr);
    for (const DraftChangeRecord& c : changes) {
      storage::EntryRecord entry =
          NextEntry(nullptr, c.op() == kDraftMask, c.value(),
                    c.content_type() == 0 ? kContentTypeText : c.content_type(), context.revision);
      AddEntryChange(change_set, gray_name, c.service(), c.key(), nullptr, &entry);
    }
    if (absl::Status s = CheckQuotas(context, change_set, first_change,
                                     [](const std::string&) { return std::string("tenant"); });
        !s.ok()) {
      change_set.mutable_changes()->DeleteSubrange(first_change,
                                                   change_set.changes_size() - first_change);
      return s;
    }
    if (command_.draft_id > 0) AddTenantPut(change_set, std::move(base), &t->record);
    if (change_set.message().empty()) change_set.set_message(message);
    const int64_t id = context.revision;
    return CompleteWith(done_, std::make_shared<int64_t>(id));
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const StartGrayCommand command_;
  StartGrayDone done_;
};

class EndGrayWrite final : public Write {
 public:
  EndGrayWrite(EndGrayCommand command, EndGrayDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override {
    return command_.promote ? "ReleaseService.PromoteGray" : "ReleaseService.AbortGray";
  }
  bool release() const override { return command_.promote; }

  absl::Status Validate(const CoreOptions&, const WriteContext& context) const override {
    if (absl::Status s = ValidateTenantName("tenant", command_.tenant); !s.ok()) return s;
    if (command_.gray_release_id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("gray_release_id: ", command_.gray_release_id, " is not a gray release id"));
    }
    return ValidateReleaseMessage("message", context.message);
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(command_.tenant);
    targets.SetDetail(absl::StrCat("gray_release_id=", command_.gray_release_id));
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const ConfigState& state = context.state;
    if (state.FindTenant(command_.tenant) == nullptr) {
      return TenantNotFoundError("tenant", command_.tenant);
    }
    const TenantState* gray = state.FindTenant(GrayTenantOf(command_.tenant));
    if (gray == nullptr || (command_.gray_release_id != 0 &&
                            gray->record.create_revision() != command_.gray_release_id)) {
      return absl::NotFoundError(absl::StrCat(
          command_.gray_release_id != 0 ? "gray_release_id: " : "tenant: ", "tenant ",
          QuoteForError(command_.tenant), " has no open gray release",
          command_.gray_release_id != 0 ? absl::StrCat(" ", command_.gray_release_id) : "",
          gray != nullptr ? absl::StrCat(" (", gray->record.create_revision(), " is open)")
                          : " (promoted, aborted, or never started)"));
    }
    const storage::GrayRecord& record = gray->record.gray();
    if (command_.promote && !command_.rebase) {
      std::vector<std::string> moved =
          ConflictsOf(state, command_.tenant, record.source().changes());
      if (!moved.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "gray_release_id: ", moved.size(), " key(s) of tenant ", QuoteForError(command_.tenant),
            " changed since gray release ", gray->record.create_revision(), " started (the first: ",
            moved.front(), "); promote with rebase to write the gray values over them"));
      }
    }
    if (command_.promote) {
      std::vector<WriteOp> ops;
      for (const auto& [service, keys] : gray->services) {
        for (const auto& [key, entry] : keys) {
          WriteOp op;
          op.type = entry.mask() ? WriteOpType::kMask : WriteOpType::kPut;
          op.tenant = command_.tenant;
          op.service = service;
          op.key = key;
          if (!entry.mask()) {
            op.value = entry.value();
            op.content_type = entry.content_type();
          }
          ops.push_back(std::move(op));
        }
      }
      TxnResult applied;
      if (absl::Status s = PlanOps(ops, /*single=*/false, context, change_set, applied); !s.ok()) {
        return s;
      }
      if (change_set.message().empty()) change_set.set_message(gray->record.gray().message());
    }
    AddGrayRemoval(state, command_.tenant, change_set);
    if (!command_.promote && record.draft_id() != 0) {
      // Aborted, the reviewed change set it came from is a draft again.
      const TenantState* base = state.FindTenant(command_.tenant);
      TenantRecord restored = base->record;
      DraftRecord* draft = restored.add_drafts();
      *draft = record.source();
      std::sort(restored.mutable_drafts()->begin(), restored.mutable_drafts()->end(),
                [](const DraftRecord& a, const DraftRecord& b) { return a.id() < b.id(); });
      AddTenantPut(change_set, std::move(restored), &base->record);
    }
    const int64_t revision = context.revision;
    return CompleteWith(done_, std::make_shared<int64_t>(revision));
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const EndGrayCommand command_;
  EndGrayDone done_;
};

}  // namespace

void AddGrayRemoval(const ConfigState& state, const std::string& tenant,
                    storage::ChangeSet& change_set) {
  const std::string name = GrayTenantOf(tenant);
  const TenantState* gray = state.FindTenant(name);
  if (gray == nullptr) return;
  for (const auto& [service, keys] : gray->services) {
    for (const auto& [key, entry] : keys) {
      AddEntryChange(change_set, name, service, key, &entry, nullptr);
    }
  }
  storage::Change* change = change_set.add_changes();
  change->set_type(storage::Change::TENANT_DELETE);
  change->set_tenant(name);
  *change->mutable_previous_tenant() = gray->record;
  change->set_had_previous(true);
}

std::unique_ptr<Write> MakeStartGrayWrite(StartGrayCommand command, StartGrayDone done) {
  return std::make_unique<StartGrayWrite>(std::move(command), std::move(done));
}

std::unique_ptr<Write> MakeEndGrayWrite(EndGrayCommand command, EndGrayDone done) {
  return std::make_unique<EndGrayWrite>(std::move(command), std::move(done));
}

std::unique_ptr<Write> MakeSetReviewWrite(std::string tenant, storage::ReviewRecord review,
                                          SetReviewDone done) {
  return std::make_unique<SetReviewWrite>(std::move(tenant), std::move(review), std::move(done));
}

std::unique_ptr<Write> MakeDraftWrite(DraftCommand command, DraftDone done) {
  return std::make_unique<DraftWrite>(std::move(command), std::move(done));
}

std::unique_ptr<Write> MakePublishDraftWrite(PublishCommand command, PublishDone done) {
  return std::make_unique<PublishDraftWrite>(std::move(command), std::move(done));
}

std::unique_ptr<Write> MakePromoteWrite(PromoteCommand command, PromoteDone done) {
  return std::make_unique<PromoteWrite>(std::move(command), std::move(done));
}

absl::Status CheckDirectWrite(const ConfigState& state, const WriteOp& op,
                              absl::string_view field) {
  const TenantState* t = state.FindTenant(op.tenant);
  if (t == nullptr || !t->record.review().drafts_required()) return absl::OkStatus();
  if (op.type == WriteOpType::kPut &&
      (op.secret || DeclaredSecret(state, op.tenant, op.service, op.key))) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat(field, ": tenant ", QuoteForError(op.tenant),
                   " takes changes through drafts (its review requires them): CreateDraft, then a "
                   "publisher's PublishDraft (confctl draft create / draft publish)"));
}

}  // namespace confcenter
