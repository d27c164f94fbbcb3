#include "server/core/config_state.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/record_convert.h"
#include "server/core/resolution.h"

namespace confcenter {

namespace {

// Makes `record` the tenant's registration, and its definitions those the record stores.
void SetRecord(TenantState& tenant, storage::TenantRecord record) {
  tenant.record = std::move(record);
  tenant.definitions.clear();
  tenant.definitions.reserve(tenant.record.services_size());
  for (storage::ServiceRecord& service : *tenant.record.mutable_services()) {
    // Services registered before definitions existed carry only name and metadata: give them
    // the definition those make, so every registration in memory has one.
    if (!service.has_definition()) {
      service.mutable_definition()->set_name(service.name());
      service.mutable_definition()->mutable_metadata()->swap(*service.mutable_metadata());
    }
    tenant.definitions.push_back(FromRecord(service.definition()));
  }
}

}  // namespace

absl::Status TenantNotFoundError(absl::string_view field, absl::string_view tenant) {
  return absl::NotFoundError(absl::StrCat(field, ": tenant ", QuoteForError(tenant), " not found"));
}

void ConfigState::Load(storage::LoadedState loaded) {
  tenants_.clear();
  revision_ = loaded.revision;
  for (storage::TenantRecord& record : loaded.tenants) {
    std::string name = record.name();
    SetRecord(tenants_[name], std::move(record));
  }
  for (auto& [key, record] : loaded.entries) {
    auto it = tenants_.find(key.tenant);
    if (it == tenants_.end()) continue;  // cannot happen: tenants and entries commit together
    it->second.services[key.service][key.key] = std::move(record);
    ++it->second.key_count;
  }
}

void ConfigState::Apply(const storage::ChangeSet& change_set) {
  for (const storage::Change& change : change_set.changes()) {
    switch (change.type()) {
      case storage::Change::ENTRY_PUT: {
        TenantState& tenant = tenants_[change.tenant()];
        auto [it, inserted] =
            tenant.services[change.service()].insert_or_assign(change.key(), change.entry());
        if (inserted) ++tenant.key_count;
        break;
      }
      case storage::Change::ENTRY_DELETE: {
        auto t = tenants_.find(change.tenant());
        if (t == tenants_.end()) break;
        auto s = t->second.services.find(change.service());
        if (s == t->second.services.end()) break;
        if (s->second.erase(change.key()) > 0) --t->second.key_count;
        if (s->second.empty()) t->second.services.erase(s);
        break;
      }
      case storage::Change::TENANT_PUT:
        SetRecord(tenants_[change.tenant()], change.tenant_record());
        break;
      case storage::Change::TENANT_DELETE:
        tenants_.erase(change.tenant());
        break;
      default:
        break;
    }
  }
  revision_ = change_set.revision();
}

const TenantState* ConfigState::FindTenant(absl::string_view tenant) const {
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? nullptr : &it->second;
}

const storage::EntryRecord* ConfigState::FindEntry(absl::string_view tenant,
                                                   absl::string_view service,
                                                   absl::string_view key) const {
  const TenantState* t = FindTenant(tenant);
  if (t == nullptr) return nullptr;
  auto s = t->services.find(service);
  if (s == t->services.end()) return nullptr;
  auto e = s->second.find(key);
  return e == s->second.end() ? nullptr : &e->second;
}

absl::StatusOr<std::vector<std::string>> ConfigState::Chain(absl::string_view field,
                                                            absl::string_view tenant) const {
  std::vector<std::string> chain;
  absl::string_view next = tenant;
  while (!next.empty()) {
    const TenantState* t = FindTenant(next);
    if (t == nullptr) {
      if (chain.empty()) {
        return TenantNotFoundError(field, tenant);
      }
      break;  // cannot happen: a parent cannot be removed while it has children
    }
    if (chain.size() > tenants_.size()) break;  // defensive: cycles are rejected on write
    chain.emplace_back(next);
    next = t->record.parent();
  }
  return chain;
}

const v1::ServiceDefinition* ConfigState::DefinitionSeenBy(absl::string_view tenant,
                                                           absl::string_view service) const {
  absl::StatusOr<std::vector<std::string>> chain = Chain("tenant", tenant);
  if (!chain.ok()) return nullptr;
  for (const std::string& name : *chain) {
    const TenantState* t = FindTenant(name);
    if (t == nullptr) continue;
    for (const v1::ServiceDefinition& def : t->definitions) {
      if (def.name() == service) return &def;
    }
  }
  return nullptr;
}

std::vector<std::string> ConfigState::Children(absl::string_view tenant) const {
  std::vector<std::string> children;
  for (const auto& [name, state] : tenants_) {
    if (state.record.parent() == tenant) children.push_back(name);
  }
  return children;
}

std::vector<std::string> ConfigState::ServicesOf(const std::vector<std::string>& chain) const {
  absl::btree_set<std::string> services;
  for (const std::string& name : chain) {
    const TenantState* t = FindTenant(name);
    if (t == nullptr) continue;
    for (const auto& service : t->record.services()) services.insert(service.name());
    for (const auto& [service, keys] : t->services) services.insert(service);
  }
  return {services.begin(), services.end()};
}

std::vector<ResolvedEntry> ConfigState::Resolve(const std::vector<std::string>& chain,
                                                const std::vector<std::string>& services) const {
  std::vector<ResolvedEntry> out;
  // Per service, a k-way merge of the chain's sorted key maps; the nearest level wins a tie.
  struct Cursor {
    KeyMap::const_iterator it, end;
    const std::string* tenant;
  };
  std::vector<Cursor> cursors;
  for (const std::string& service : services) {
    cursors.clear();
    for (const std::string& name : chain) {
      const TenantState* t = FindTenant(name);
      if (t == nullptr) continue;
      auto s = t->services.find(service);
      if (s == t->services.end()) continue;
      cursors.push_back({s->second.begin(), s->second.end(), &name});
    }
    while (true) {
      // The smallest key any level has left; `first` is the nearest level holding it.
      const std::string* smallest = nullptr;
      size_t first = 0;
      for (size_t i = 0; i < cursors.size(); ++i) {
        if (cursors[i].it == cursors[i].end) continue;
        if (smallest == nullptr || cursors[i].it->first < *smallest) {
          smallest = &cursors[i].it->first;
          first = i;
        }
      }
      if (smallest == nullptr) break;
      const Resolution resolved =
          ResolveAlongChain(cursors.size(), [&](size_t i) -> const storage::EntryRecord* {
            const Cursor& c = cursors[i];
            return c.it != c.end && c.it->first == *smallest ? &c.it->second : nullptr;
          });
      if (const storage::EntryRecord* entry = resolved.entry()) {
        out.push_back({service, *smallest, entry->value(), entry->content_type(),
                       *cursors[resolved.level].tenant, entry->mod_revision(), entry->secret()});
      }
      for (size_t i = 0; i < cursors.size(); ++i) {  // `first` last: it owns *smallest
        if (i != first && cursors[i].it != cursors[i].end && cursors[i].it->first == *smallest) {
          ++cursors[i].it;
        }
      }
      ++cursors[first].it;
    }
  }
  return out;
}

}  // namespace confcenter
