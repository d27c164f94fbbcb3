#include "server/core/writes/deregister.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "server/core/registry.h"
#include "server/core/writes/release.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;
using storage::ServiceRecord;
using storage::TenantRecord;

class DeregisterWrite final : public Write {
 public:
  DeregisterWrite(DeregisterCommand command, DeregisterDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "TenantService.Deregister"; }

  absl::Status Validate(const CoreOptions&, const WriteContext&) const override {
    absl::Status s = ValidateTenantName("tenant", command_.tenant);
    if (s.ok() && command_.all && !command_.services.empty()) {
      s = absl::InvalidArgumentError("services: must be empty when all is set");
    }
    if (s.ok() && !command_.all && command_.services.empty()) {
      s = absl::InvalidArgumentError("services: name at least one service, or set all");
    }
    absl::flat_hash_set<std::string> seen;
    for (size_t i = 0; s.ok() && i < command_.services.size(); ++i) {
      s = ValidateServiceName(absl::StrCat("services[", i, "]"), command_.services[i]);
      if (s.ok() && !seen.insert(command_.services[i]).second) {
        s = absl::InvalidArgumentError(absl::StrCat("services[", i,
                                                    "]: ", QuoteForError(command_.services[i]),
                                                    " appears twice in services"));
      }
    }
    return s;
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(command_.tenant);
    for (const std::string& service : command_.services) targets.AddService(service);
    if (command_.all) targets.SetDetail("all");
    if (command_.only_if_expired_at) targets.SetDetail("all (TTL expired)");
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context, ChangeSet& change_set) override {
    const DeregisterCommand& cmd = command_;
    const ConfigState& state = context.state;
    const int64_t revision = context.revision;
    auto result = std::make_shared<DeregisterResult>();
    const TenantState* tenant = state.FindTenant(cmd.tenant);
    if (tenant != nullptr && cmd.only_if_expired_at) {
      const int64_t expires = tenant->record.expire_time_micros();
      if (expires == 0 || expires > absl::ToUnixMicros(*cmd.only_if_expired_at)) {
        tenant = nullptr;  // renewed since it was found expired: nothing to reclaim
      }
    }
    if (tenant != nullptr) {
      std::vector<std::string> children = state.Children(cmd.tenant);
      std::vector<std::string> services = cmd.services;
      if (cmd.all) {
        if (cmd.tenant == kIntegrationTenant && !cmd.force) {
          return absl::FailedPreconditionError(
              "force: removing tenant \"integration\" wholesale needs force = true");
        }
        services = state.ServicesOf({cmd.tenant});
      }
      TenantRecord record = tenant->record;
      for (const std::string& service : services) {
        bool removed = false;
        auto registered = std::find_if(record.services().begin(), record.services().end(),
                                       [&](const ServiceRecord& s) { return s.name() == service; });
        if (registered != record.services().end()) {
          record.mutable_services()->erase(registered);
          removed = true;
        }
        if (auto keys = tenant->services.find(service); keys != tenant->services.end()) {
          for (const auto& [key, entry] : keys->second) {
            Change* change = change_set.add_changes();
            change->set_type(Change::ENTRY_DELETE);
            change->set_tenant(cmd.tenant);
            change->set_service(service);
            change->set_key(key);
            *change->mutable_previous_entry() = entry;
            change->set_had_previous(true);
            ++result->removed_keys;
          }
          removed = true;
        }
        if (removed) result->removed_services.push_back(service);
      }
      // A branch tenant left with nothing is cleaned up with its last service.
      const bool empty_branch = !record.parent().empty() && cmd.tenant != kIntegrationTenant &&
                                !record.keep() && record.services().empty() &&
                                result->removed_keys == tenant->key_count;
      const bool remove_tenant = cmd.all || (empty_branch && !result->removed_services.empty());
      if (remove_tenant && !children.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("tenant: ", QuoteForError(cmd.tenant), " has child tenants [",
                         absl::StrJoin(children, ", "), "]; deregister them first"));
      }
      if (remove_tenant) {
        AddGrayRemoval(state, cmd.tenant, change_set);  // goes with the tenant
        Change* change = change_set.add_changes();
        change->set_type(Change::TENANT_DELETE);
        change->set_tenant(cmd.tenant);
        *change->mutable_previous_tenant() = tenant->record;
        change->set_had_previous(true);
        result->tenant_removed = true;
      } else if (record.services_size() != tenant->record.services_size()) {
        // Who routed to the removed registrations now routes to an ancestor's: say if that
        // breaks a range (the removal goes ahead: cleanup is never blocked).
        std::set<std::string> removed(result->removed_services.begin(),
                                      result->removed_services.end());
        absl::StatusOr<std::vector<std::string>> chain = state.Chain("tenant", cmd.tenant);
        if (chain.ok()) {
          std::vector<v1::ServiceDefinition> remaining;
          for (int i = 0; i < tenant->record.services_size(); ++i) {
            if (removed.count(tenant->record.services(i).name()) == 0) {
              remaining.push_back(tenant->definitions[i]);
            }
          }
          std::vector<std::unique_ptr<RegistryView>> after_views =
              ViewsAfterChange(state, *chain, remaining, true);
          std::vector<const RegistryView*> views;
          for (const auto& v : after_views) views.push_back(v.get());
          CompatibilityReport report = CheckDependentsOf(views, removed, *chain);
          result->warnings.assign(report.conflicts.begin(), report.conflicts.end());
          result->warnings.insert(result->warnings.end(), report.warnings.begin(),
                                  report.warnings.end());
        }
        record.set_mod_revision(revision);
        AddTenantPut(change_set, std::move(record), &tenant->record);
      }
    }
    result->revision = change_set.changes_size() > 0 ? revision : state.revision();
    return CompleteWith(done_, result);
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const DeregisterCommand command_;
  DeregisterDone done_;
};

}  // namespace

std::unique_ptr<Write> MakeDeregisterWrite(DeregisterCommand command, DeregisterDone done) {
  return std::make_unique<DeregisterWrite>(std::move(command), std::move(done));
}

}  // namespace confcenter
