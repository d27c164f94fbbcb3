#include "server/core/writes/register.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "server/core/record_convert.h"
#include "server/core/registry.h"
#include "server/core/resolution.h"

namespace confcenter {
namespace {

using storage::Change;
using storage::ChangeSet;
using storage::EntryRecord;
using storage::ServiceRecord;
using storage::TenantRecord;

// Adds to `change_set` the entries registering `definition` in `tenant` generates
// (endpoints, defaults, secrets), against `state`. `chain` is the tenant's chain after the
// registration; `previous` its former definition of the service, if any.
absl::Status PlanGeneratedEntries(const ConfigState& state, const std::string& tenant,
                                  const std::vector<std::string>& chain,
                                  const v1::ServiceDefinition& def,
                                  const v1::ServiceDefinition* previous, int64_t revision,
                                  ChangeSet& change_set, int64_t* added_keys) {
  const std::string& service = def.name();
  const TenantState* t = state.FindTenant(tenant);
  const KeyMap* own = nullptr;
  if (t != nullptr) {
    if (auto it = t->services.find(service); it != t->services.end()) own = &it->second;
  }
  auto own_entry = [&](const std::string& key) -> const EntryRecord* {
    if (own == nullptr) return nullptr;
    auto it = own->find(key);
    return it == own->end() ? nullptr : &it->second;
  };
  // What the tenant would see for the key without an own entry: the parent chain's winner.
  auto inherited = [&](const std::string& key) -> const EntryRecord* {
    return ResolveAlongChain(
               chain.size() - 1,
               [&](size_t level) { return state.FindEntry(chain[level + 1], service, key); })
        .entry();
  };

  // key -> the own entry wanted: a value, a mask (nullopt value), or removal (absent).
  struct Wanted {
    bool remove = false;
    bool mask = false;
    std::string value;
    bool secret = false;
  };
  std::map<std::string, Wanted> wanted;

  // Endpoints: this registration's, and masks over the parent chain's other endpoints of the
  // service, so the view routes to exactly this registration's endpoints.
  for (auto& [name, address] : RenderEndpoints(def, tenant)) {
    wanted[absl::StrCat(kEndpointKeyPrefix, name)] = {false, false, std::move(address)};
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    const TenantState* ancestor = state.FindTenant(chain[i]);
    if (ancestor == nullptr) continue;
    auto keys = ancestor->services.find(service);
    if (keys == ancestor->services.end()) continue;
    for (auto k = keys->second.lower_bound(std::string(kEndpointKeyPrefix));
         k != keys->second.end() && absl::StartsWith(k->first, kEndpointKeyPrefix); ++k) {
      if (wanted.count(k->first) == 0 && inherited(k->first) != nullptr) {
        wanted[k->first] = {false, true, ""};
      }
    }
  }
  if (own != nullptr) {
    for (auto k = own->lower_bound(std::string(kEndpointKeyPrefix));
         k != own->end() && absl::StartsWith(k->first, kEndpointKeyPrefix); ++k) {
      if (wanted.count(k->first) == 0) wanted[k->first] = {true, false, ""};
    }
  }

  // Defaults: a root carries them all; a branch only where it would inherit another value. A
  // value that differs from what the previous registration wrote was set by hand: kept.
  const bool root = chain.size() == 1;
  auto previous_default = [&](const std::string& key) -> const std::string* {
    if (previous == nullptr) return nullptr;
    auto it = previous->defaults().find(key);
    return it == previous->defaults().end() ? nullptr : &it->second;
  };
  auto previously_generated = [&](const std::string& key) {
    if (previous == nullptr) return false;
    for (const v1::GeneratedKey& g : previous->generated_keys()) {
      if (g.key() == key) return true;
    }
    return false;
  };
  // Whether the own entry is the registration's to rewrite: absent, the previous default
  // unchanged, or a key the previous registration generated (now a default).
  auto managed = [&](const std::string& key) {
    const EntryRecord* current = own_entry(key);
    if (current == nullptr || previously_generated(key)) return true;
    const std::string* before = previous_default(key);
    return before != nullptr && !current->mask() && current->value() == *before;
  };
  for (const auto& [key, value] : def.defaults()) {
    if (!managed(key)) continue;
    const EntryRecord* from_parent = inherited(key);
    if (root || from_parent == nullptr || from_parent->value() != value ||
        from_parent->content_type() != kContentTypeText) {
      wanted[key] = {false, false, value};
    } else {
      wanted[key] = {true, false, ""};
    }
  }
  if (previous != nullptr) {
    for (const auto& [key, value] : previous->defaults()) {
      if (def.defaults().count(key) == 0 && own_entry(key) != nullptr && managed(key)) {
        wanted[key] = {true, false, ""};
      }
    }
  }

  // Generated keys: once per (tenant, service, key), then kept. A key that was a default
  // before is generated now, whatever its value.
  for (const v1::GeneratedKey& g : def.generated_keys()) {
    if (own_entry(g.key()) != nullptr && previous_default(g.key()) == nullptr) continue;
    absl::StatusOr<std::string> value = GenerateValue(g);
    if (!value.ok()) return value.status();
    wanted[g.key()] = {false, false, *std::move(value), true};
  }
  // Secret keys: generated ones, and those the definition declares; an own value already
  // there is kept and marked.
  auto mark_secret = [&](const std::string& key) {
    if (auto it = wanted.find(key); it != wanted.end()) {
      it->second.secret = true;
      return;
    }
    const EntryRecord* current = own_entry(key);
    if (current != nullptr && !current->mask() && !current->secret()) {
      wanted[key] = {false, false, current->value(), true};
    }
  };
  for (const v1::GeneratedKey& g : def.generated_keys()) mark_secret(g.key());
  for (const std::string& key : def.secret_keys()) mark_secret(key);

  for (const auto& [key, want] : wanted) {
    const EntryRecord* current = own_entry(key);
    if (want.remove) {
      if (current == nullptr) continue;
      AddEntryChange(change_set, tenant, service, key, current, nullptr);
      --*added_keys;
      continue;
    }
    if (current != nullptr && current->mask() == want.mask &&
        (want.mask ||
         (current->value() == want.value && current->content_type() == kContentTypeText &&
          (current->secret() || !want.secret)))) {
      continue;
    }
    const int32_t content_type =
        current != nullptr && !current->mask() && current->value() == want.value
            ? current->content_type()
            : kContentTypeText;
    EntryRecord entry =
        NextEntry(current, want.mask, want.value, content_type, revision, want.secret);
    AddEntryChange(change_set, tenant, service, key, current, &entry);
    if (current == nullptr) ++*added_keys;
  }
  return absl::OkStatus();
}

class RegisterWrite final : public Write {
 public:
  RegisterWrite(RegisterCommand command, RegisterDone done)
      : command_(std::move(command)), done_(std::move(done)) {}

  absl::string_view default_rpc() const override { return "TenantService.Register"; }

  absl::Status Validate(const CoreOptions& options, const WriteContext&) const override {
    absl::Status s = ValidateTenantName("tenant", command_.tenant);
    if (s.ok() && !command_.parent.empty()) s = ValidateTenantName("parent", command_.parent);
    if (s.ok() && command_.root && !command_.parent.empty()) {
      s = absl::InvalidArgumentError(absl::StrCat("parent: ", QuoteForError(command_.parent),
                                                  " must be empty when root is set"));
    }
    if (s.ok() &&
        command_.services.size() > static_cast<size_t>(options.max_services_per_request)) {
      s = absl::InvalidArgumentError(absl::StrCat("services: ", command_.services.size(),
                                                  " services exceed the limit of ",
                                                  options.max_services_per_request));
    }
    if (s.ok() && command_.ttl != absl::ZeroDuration() && command_.ttl < absl::Seconds(1)) {
      s = absl::InvalidArgumentError(absl::StrCat("ttl: ", absl::FormatDuration(command_.ttl),
                                                  " is shorter than the minimum of 1s"));
    }
    if (s.ok() && command_.ttl > absl::Hours(24 * 366 * 100)) {
      s = absl::InvalidArgumentError(absl::StrCat("ttl: ", absl::FormatDuration(command_.ttl),
                                                  " is longer than the maximum of 100 years"));
    }
    if (s.ok() && command_.ttl != absl::ZeroDuration() && command_.root) {
      s = absl::InvalidArgumentError("ttl: a root tenant cannot expire");
    }
    absl::flat_hash_set<std::string> names;
    for (size_t i = 0; s.ok() && i < command_.services.size(); ++i) {
      const v1::ServiceDefinition& def = command_.services[i];
      std::string field = absl::StrCat("services[", i, "]");
      s = ValidateDefinition(field, def, options.max_value_bytes);
      if (s.ok() && !names.insert(def.name()).second) {
        s = absl::InvalidArgumentError(absl::StrCat(field, ".name: ", QuoteForError(def.name()),
                                                    " appears twice in services"));
      }
    }
    return s;
  }

  AuditTargets Targets() const override {
    AuditTargetsBuilder targets;
    targets.AddTenant(command_.tenant);
    for (const v1::ServiceDefinition& def : command_.services) targets.AddService(def.name());
    if (!command_.parent.empty()) targets.SetDetail("parent=" + command_.parent);
    if (command_.root) targets.SetDetail("root");
    return targets.Build();
  }

  absl::StatusOr<Completion> Plan(const PlanContext& context, ChangeSet& change_set) override {
    const RegisterCommand& cmd = command_;
    const ConfigState& state = context.state;
    const int64_t revision = context.revision;
    const TenantState* existing = state.FindTenant(cmd.tenant);
    const int64_t now_micros = absl::ToUnixMicros(context.now);

    std::string parent;
    if (cmd.root) {
      parent = "";
    } else if (!cmd.parent.empty()) {
      parent = cmd.parent;
    } else if (existing != nullptr) {
      parent = existing->record.parent();
    } else if (cmd.tenant != kIntegrationTenant) {
      parent = std::string(kIntegrationTenant);
    }
    std::vector<std::string> chain = {cmd.tenant};  // after the registration
    if (!parent.empty()) {
      if (parent == cmd.tenant) {
        return absl::FailedPreconditionError(absl::StrCat(
            "parent: ", QuoteForError(parent), " is the tenant itself; that would be a cycle"));
      }
      absl::StatusOr<std::vector<std::string>> parent_chain = state.Chain("parent", parent);
      if (!parent_chain.ok()) return parent_chain.status();
      if (std::find(parent_chain->begin(), parent_chain->end(), cmd.tenant) !=
          parent_chain->end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("parent: ", QuoteForError(parent), " would make a cycle: ", cmd.tenant,
                         " -> ", absl::StrJoin(*parent_chain, " -> ")));
      }
      chain.insert(chain.end(), parent_chain->begin(), parent_chain->end());
    }

    TenantRecord record;
    if (existing != nullptr) {
      record = existing->record;
    } else {
      record.set_name(cmd.tenant);
      record.set_create_revision(revision);
    }
    record.set_parent(parent);
    if (cmd.ttl != absl::ZeroDuration()) {
      if (parent.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("ttl: tenant ", QuoteForError(cmd.tenant),
                                                       " is a root; a root cannot expire"));
      }
      record.set_ttl_seconds(absl::ToInt64Seconds(cmd.ttl));
    }
    if (parent.empty()) {  // a tenant that became a root keeps no TTL
      record.set_ttl_seconds(0);
      record.set_expire_time_micros(0);
    }
    if (record.ttl_seconds() > 0) {
      record.set_expire_time_micros(now_micros + record.ttl_seconds() * 1'000'000);
    }
    if (cmd.keep) record.set_keep(true);

    // The services after the registration (records, and their definitions in the same order),
    // and which of them it (re)defines.
    std::map<std::string, std::pair<ServiceRecord, const v1::ServiceDefinition*>> services;
    std::set<std::string> changed;
    for (const v1::ServiceDefinition& def : cmd.services) changed.insert(def.name());
    struct Previous {
      const ServiceRecord* record;
      const v1::ServiceDefinition* definition;
    };
    std::map<std::string, Previous> previous;  // changed service -> its old registration
    if (existing != nullptr) {
      for (int i = 0; i < existing->record.services_size(); ++i) {
        const ServiceRecord& s = existing->record.services(i);
        const v1::ServiceDefinition& def = existing->definitions[i];
        services[s.name()] = {s, &def};
        if (changed.count(s.name()) > 0) previous[s.name()] = {&s, &def};
      }
    }
    for (const v1::ServiceDefinition& def : cmd.services) {
      auto& [s, definition] = services[def.name()];
      s.set_name(def.name());
      s.clear_metadata();
      *s.mutable_definition() = ToRecord(def);
      definition = &def;
    }
    std::vector<ServiceRecord> after;
    std::vector<v1::ServiceDefinition> after_definitions;
    after.reserve(services.size());
    after_definitions.reserve(services.size());
    for (auto& [name, service] : services) {
      after.push_back(std::move(service.first));
      after_definitions.push_back(*service.second);
    }

    // Compatibility in the tenant's view and in each descendant's view, after the change.
    const bool moved = existing != nullptr && existing->record.parent() != parent;
    std::vector<std::unique_ptr<RegistryView>> after_views = ViewsAfterChange(
        state, chain, after_definitions, existing != nullptr && (!changed.empty() || moved));
    const RegistryView& own_view = *after_views.front();
    std::vector<const RegistryView*> views;
    for (const auto& v : after_views) views.push_back(v.get());
    CompatibilityReport report = CheckCompatibility(views, cmd.tenant, changed, moved);
    if (!report.conflicts.empty() && !cmd.force) {
      constexpr size_t kListed = 20;  // keeps the status message far below gRPC's trailer limit
      std::vector<std::string> listed(report.conflicts.begin(), report.conflicts.end());
      const size_t more = listed.size() > kListed ? listed.size() - kListed : 0;
      listed.resize(std::min(listed.size(), kListed));
      return absl::FailedPreconditionError(absl::StrCat(
          moved && changed.empty() ? "parent" : "services", ": ", report.conflicts.size(),
          " version conflict", report.conflicts.size() == 1 ? "" : "s",
          " (set force to register anyway and record ",
          report.conflicts.size() == 1 ? "it" : "them", " as warnings): ",
          absl::StrJoin(listed, "; "), more > 0 ? absl::StrCat("; and ", more, " more") : ""));
    }
    for (ServiceRecord& s : after) {
      if (changed.count(s.name()) == 0) continue;
      s.clear_warnings();
      for (const std::string& w : report.by_service[s.name()]) s.add_warnings(w);
      auto old = previous.find(s.name());
      if (old != previous.end()) {  // the same registration again changes nothing
        const ServiceRecord& before = *old->second.record;
        ServiceRecord same = s;
        same.set_mod_revision(before.mod_revision());
        same.set_register_time_micros(before.register_time_micros());
        if (SameRecord(before, same)) {
          s = before;
          continue;
        }
      }
      s.set_mod_revision(revision);
      s.set_register_time_micros(now_micros);
    }

    // The entries the definitions generate.
    int64_t added_keys = 0;
    for (const v1::ServiceDefinition& def : cmd.services) {
      auto old = previous.find(def.name());
      if (absl::Status s =
              PlanGeneratedEntries(state, cmd.tenant, chain, def,
                                   old != previous.end() ? old->second.definition : nullptr,
                                   revision, change_set, &added_keys);
          !s.ok()) {
        return s;
      }
    }
    if (added_keys > 0) {
      int64_t total = (existing ? existing->key_count : 0) + added_keys;
      if (total > context.options.max_keys_per_tenant) {
        return absl::ResourceExhaustedError(
            absl::StrCat("services: tenant ", QuoteForError(cmd.tenant), " would hold ", total,
                         " keys; the limit is ", context.options.max_keys_per_tenant,
                         " (--max_keys_per_tenant)"));
      }
    }

    // Each registered service's dependency map, in the tenant's view after the change.
    auto result = std::make_shared<RegisterResult>();
    for (const v1::ServiceDefinition& def : cmd.services) {
      result->dependency_maps.push_back(BuildDependencyMap(own_view, def));
    }
    record.clear_services();
    for (ServiceRecord& s : after) *record.add_services() = std::move(s);
    const bool created = existing == nullptr;
    result->created = created;
    const bool tenant_changed = created || !SameRecord(record, existing->record);
    if (tenant_changed) {
      record.set_mod_revision(revision);
      AddTenantPut(change_set, std::move(record),
                   existing != nullptr ? &existing->record : nullptr);
    }

    if (absl::Status s = CheckQuotas(context, change_set, 0,
                                     [](const std::string&) { return std::string("tenant"); });
        !s.ok()) {
      return s;
    }

    if (cmd.force) {
      result->warnings.insert(result->warnings.end(), report.conflicts.begin(),
                              report.conflicts.end());
    }
    result->warnings.insert(result->warnings.end(), report.warnings.begin(), report.warnings.end());
    const ReadStateFn& read_state = context.read_state;
    return [this, &read_state, result](const absl::Status& committed) {
      if (!committed.ok()) {
        done_(committed);
        return;
      }
      read_state([&](const ConfigState& state) {
        result->revision = state.revision();
        if (const TenantState* t = state.FindTenant(command_.tenant)) {
          result->tenant = DescribeTenant(state, *t);
        }
      });
      done_(std::move(*result));
    };
  }

  void Fail(const absl::Status& status) override { done_(status); }

 private:
  const RegisterCommand command_;
  RegisterDone done_;
};

}  // namespace

std::unique_ptr<Write> MakeRegisterWrite(RegisterCommand command, RegisterDone done) {
  return std::make_unique<RegisterWrite>(std::move(command), std::move(done));
}

}  // namespace confcenter
