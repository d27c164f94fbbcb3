#include "server/watch/view_at.h"

#include <algorithm>

#include "common/names.h"
#include "server/core/resolution.h"
#include "storage/key_codec.h"

namespace confcenter {

ViewAt::ViewAt(const ConfigState& state, const std::vector<storage::ChangeSet>& later,
               const absl::flat_hash_map<std::string, std::string>& deleted_parents)
    : state_(state), deleted_parents_(deleted_parents) {
  for (const storage::ChangeSet& set : later) {
    for (const storage::Change& c : set.changes()) {
      if (IsEntryChange(c)) {
        entries_[storage::EncodeEntryKey({c.tenant(), c.service(), c.key()})].push_back(
            {set.revision(), &c});
        touched_keys_[c.tenant()].insert({c.service(), c.key()});
      } else {
        tenants_[c.tenant()].push_back({set.revision(), &c});
      }
    }
  }
}

const storage::EntryRecord* ViewAt::Entry(const std::string& tenant, const std::string& service,
                                          const std::string& key, int64_t t) const {
  auto it = entries_.find(storage::EncodeEntryKey({tenant, service, key}));
  if (it != entries_.end()) {
    for (const auto& [revision, change] : it->second) {
      if (revision > t) return change->had_previous() ? &change->previous_entry() : nullptr;
    }
  }
  return state_.FindEntry(tenant, service, key);
}

const storage::TenantRecord* ViewAt::Tenant(const std::string& name, int64_t t) const {
  auto it = tenants_.find(name);
  if (it != tenants_.end()) {
    for (const auto& [revision, change] : it->second) {
      if (revision > t) return change->had_previous() ? &change->previous_tenant() : nullptr;
    }
  }
  const TenantState* current = state_.FindTenant(name);
  return current ? &current->record : nullptr;
}

std::vector<std::string> ViewAt::Chain(const std::string& tenant, int64_t t) const {
  std::vector<std::string> chain;
  std::string next = tenant;
  for (size_t steps = 0;
       !next.empty() && steps <= 2 * (state_.tenants().size() + tenants_.size()) + 2; ++steps) {
    if (const storage::TenantRecord* record = Tenant(next, t)) {
      chain.push_back(next);
      next = record->parent();
    } else {
      std::string parent = DeletedParent(next, t);
      // A gray tenant that does not exist (yet, or any more) shows its base tenant's view.
      if (parent.empty() && IsGrayTenant(next)) parent = GrayBase(next);
      next = std::move(parent);
    }
  }
  return chain;
}

std::string ViewAt::DeletedParent(const std::string& tenant, int64_t t) const {
  std::string parent;
  bool found = false;
  if (auto it = tenants_.find(tenant); it != tenants_.end()) {
    for (const auto& [revision, change] : it->second) {
      if (revision <= t && change->type() == storage::Change::TENANT_DELETE) {
        parent = change->previous_tenant().parent();
        found = true;
      }
    }
  }
  if (found) return parent;
  auto it = deleted_parents_.find(tenant);
  return it == deleted_parents_.end() ? "" : it->second;
}

void ViewAt::CollectKeys(const std::vector<std::string>& chain, int64_t t, const Interest& interest,
                         KeySet* out) const {
  for (const std::string& tenant : chain) {
    if (const TenantState* state = state_.FindTenant(tenant)) {
      for (const auto& [service, keys] : state->services) {
        if (!interest.Has(service)) continue;
        for (const auto& [key, entry] : keys) {
          if (Entry(tenant, service, key, t) != nullptr) out->insert({service, key});
        }
      }
    }
    if (auto it = touched_keys_.find(tenant); it != touched_keys_.end()) {
      for (const auto& sk : it->second) {
        if (interest.Has(sk.first) && Entry(tenant, sk.first, sk.second, t) != nullptr) {
          out->insert(sk);
        }
      }
    }
  }
}

ViewAt::Effective ViewAt::Resolve(const std::vector<std::string>& chain, const std::string& service,
                                  const std::string& key, int64_t t) const {
  const Resolution resolved = ResolveAlongChain(
      chain.size(), [&](size_t level) { return Entry(chain[level], service, key, t); });
  if (resolved.entry() == nullptr) return {};
  return {resolved.entry(), &chain[resolved.level]};
}

std::string ViewAt::ViewTenant(const std::string& tenant, const InstanceIdentity* instance,
                               int64_t t) const {
  if (instance == nullptr || IsGrayTenant(tenant)) return tenant;
  std::string gray = GrayTenantOf(tenant);
  const storage::TenantRecord* record = Tenant(gray, t);
  if (record != nullptr && InGrayAudience(record->gray().audience(), tenant, *instance)) {
    return gray;
  }
  return tenant;
}

std::vector<v1::WatchEvent> ViewAt::Events(const storage::ChangeSet& set, const std::string& tenant,
                                           const Interest& interest,
                                           const InstanceIdentity* instance) const {
  const int64_t r = set.revision();
  const std::vector<std::string> before_chain = Chain(ViewTenant(tenant, instance, r - 1), r - 1);
  const std::vector<std::string> after_chain = Chain(ViewTenant(tenant, instance, r), r);
  KeySet keys;
  if (before_chain != after_chain) {  // the tenant moved, appeared or went away
    CollectKeys(before_chain, r - 1, interest, &keys);
    CollectKeys(after_chain, r, interest, &keys);
  } else {
    for (const storage::Change& c : set.changes()) {
      if (IsEntryChange(c) && interest.Has(c.service()) &&
          std::find(after_chain.begin(), after_chain.end(), c.tenant()) != after_chain.end()) {
        keys.insert({c.service(), c.key()});
      }
    }
  }
  std::vector<v1::WatchEvent> events;
  for (const auto& [service, key] : keys) {
    Effective before = Resolve(before_chain, service, key, r - 1);
    Effective after = Resolve(after_chain, service, key, r);
    if (before.entry == nullptr && after.entry == nullptr) continue;
    if (before.entry != nullptr && after.entry != nullptr && *before.source == *after.source &&
        before.entry->mod_revision() == after.entry->mod_revision()) {
      continue;  // the winning entry is the same one
    }
    if (before.entry != nullptr && after.entry != nullptr &&
        (IsGrayTenant(*before.source) || IsGrayTenant(*after.source)) &&
        before.entry->value() == after.entry->value() &&
        before.entry->content_type() == after.entry->content_type() &&
        before.entry->secret() == after.entry->secret()) {
      continue;  // a gray value that became (or stayed) the view's: nothing new to see
    }
    v1::WatchEvent& event = events.emplace_back();
    event.set_service(service);
    event.set_key(key);
    if (after.entry == nullptr) {
      event.set_type(v1::WatchEvent::TYPE_DELETE);
    } else {
      event.set_type(v1::WatchEvent::TYPE_PUT);
      event.set_value(after.entry->value());
      event.set_content_type(static_cast<v1::ContentType>(after.entry->content_type()));
      event.set_source_tenant(GrayBase(*after.source));
      event.set_entry_revision(after.entry->mod_revision());
      if (IsGrayTenant(*after.source)) {
        const storage::TenantRecord* gray = Tenant(*after.source, r);
        event.set_gray_release_id(gray != nullptr ? gray->create_revision() : 0);
      }
      event.set_secret(after.entry->secret());
    }
  }
  return events;
}

}  // namespace confcenter
