#include "server/core/writes/touch.h"

#include <utility>

#include "common/names.h"

namespace confcenter {
namespace {

class TouchWrite final : public Write {
 public:
  TouchWrite(std::string tenant, TouchDone done)
      : tenant_(std::move(tenant)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "TenantService.Touch"; }

  absl::Status Validate(const CoreOptions&, const WriteContext&) const override {
    return ValidateTenantName("tenant", tenant_);
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(tenant_);
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context,
                                  storage::ChangeSet& change_set) override {
    const TenantState* tenant = context.state.FindTenant(tenant_);
    if (tenant == nullptr) return TenantNotFoundError("tenant", tenant_);
    auto result = std::make_shared<TouchResult>();
    result->revision = context.state.revision();
    if (tenant->record.ttl_seconds() > 0) {
      const absl::Time expires = context.now + absl::Seconds(tenant->record.ttl_seconds());
      storage::TenantRecord record = tenant->record;
      record.set_expire_time_micros(absl::ToUnixMicros(expires));
      record.set_mod_revision(context.revision);
      AddTenantPut(change_set, std::move(record), &tenant->record);
      result->revision = context.revision;
      result->expire_time = expires;
    }
    return CompleteWith(done_, result);
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const std::string tenant_;
  TouchDone done_;
};

}  // namespace

std::unique_ptr<Write> MakeTouchWrite(std::string tenant, TouchDone done) {
  return std::make_unique<TouchWrite>(std::move(tenant), std::move(done));
}

}  // namespace confcenter
