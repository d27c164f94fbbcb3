#include "server/core/writes/rollback.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/rollback_plan.h"
#include "server/core/writes/txn.h"

namespace confcenter {
namespace {

class RollbackWrite final : public Write {
 public:
  RollbackWrite(RollbackCommand command, RollbackDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "HistoryService.Rollback"; }
  bool release() const override { return true; }

  absl::Status Validate(const CoreOptions&, const WriteContext& context) const override {
    return ValidateReleaseMessage("message", context.message);
  }

  AuditTargets Targets() const override {
    const storage::HistoryScope& scope = command_.scope;
    AuditTargetsBuilder targets;
    targets.AddTenant(scope.tenant);
    if (!scope.service.empty()) targets.AddService(scope.service);
    if (!scope.key.empty()) targets.AddKey(scope.tenant, scope.service, scope.key);
    targets.SetDetail(absl::StrCat("to_revision=", command_.to_revision));
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const TenantState* tenant = context.state.FindTenant(command_.scope.tenant);
    if (tenant == nullptr) return TenantNotFoundError("tenant", command_.scope.tenant);
    if (command_.tenant_create_revision != 0 &&
        tenant->record.create_revision() != command_.tenant_create_revision) {
      return absl::FailedPreconditionError(
          absl::StrCat("tenant: tenant ", QuoteForError(command_.scope.tenant),
                       " was removed and created again (at revision ",
                       tenant->record.create_revision(), ") while the rollback was prepared"));
    }
    // Rollbacks commit in batches of their own, so the state is the overlay.
    auto changes = std::make_shared<std::vector<RollbackChange>>(
        PlanRollbackChanges(context.state, command_.scope, command_.past));
    if (changes->empty()) {
      const ReadStateFn& read_state = context.read_state;
      return [this, &read_state](const absl::Status& committed) {
        if (!committed.ok()) {
          done_(committed);
          return;
        }
        int64_t revision = 0;
        read_state([&](const ConfigState& state) { revision = state.revision(); });
        done_(RollbackResult{revision, {}});
      };
    }
    TxnResult planned;
    if (absl::Status s =
            PlanOps(RollbackOps(*changes), /*single=*/true, context, change_set, planned);
        !s.ok()) {
      return s;
    }
    return [this, changes, revision = planned.revision](const absl::Status& committed) {
      if (!committed.ok()) {
        done_(committed);
        return;
      }
      done_(RollbackResult{revision, std::move(*changes)});
    };
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const RollbackCommand command_;
  RollbackDone done_;
};

}  // namespace

std::unique_ptr<Write> MakeRollbackWrite(RollbackCommand command, RollbackDone done) {
  return std::make_unique<RollbackWrite>(std::move(command), std::move(done));
}

}  // namespace confcenter
