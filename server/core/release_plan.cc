#include "server/core/release_plan.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "server/core/registry.h"
#include "server/core/resolution.h"
#include "server/core/write.h"

namespace confcenter {
namespace {

using storage::DraftChangeRecord;
using storage::EntryRecord;

using KeyId = std::pair<std::string, std::string>;  // (service, key)

// The entry `change` makes of the tenant's own entry: nullopt for a deletion.
std::optional<EntryRecord> EntryAfter(const DraftChangeRecord& change) {
  if (change.op() == kDraftDelete) return std::nullopt;
  EntryRecord entry;
  if (change.op() == kDraftMask) {
    entry.set_mask(true);
  } else {
    entry.set_value(change.value());
    entry.set_content_type(change.content_type() == 0 ? kContentTypeText : change.content_type());
  }
  return entry;
}

// The visible side of a resolution, or nullopt if the key is hidden or absent.
std::optional<DiffSide> SideOf(const Resolution& r, const std::vector<std::string>& chain,
                               const std::string& pending_tenant) {
  const EntryRecord* entry = r.entry();
  if (entry == nullptr) return std::nullopt;
  DiffSide side;
  side.value = entry->value();
  side.content_type = entry->content_type();
  side.source_tenant = r.level == 0 && !pending_tenant.empty() ? pending_tenant : chain[r.level];
  side.revision = entry->mod_revision();
  side.secret = entry->secret();
  return side;
}

bool SameSide(const std::optional<DiffSide>& a, const std::optional<DiffSide>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->value == b->value && a->content_type == b->content_type);
}

// Whether the key is never promoted nor reset: endpoints, generated keys (of the definition
// `tenant` sees) and secrets.
bool EnvironmentOwn(const ConfigState& state, const std::string& tenant, const std::string& service,
                    const std::string& key, bool secret) {
  if (secret || absl::StartsWith(key, kEndpointKeyPrefix)) return true;
  if (DeclaredSecret(state, tenant, service, key)) return true;
  if (const v1::ServiceDefinition* def = state.DefinitionSeenBy(tenant, service)) {
    for (const v1::GeneratedKey& g : def->generated_keys()) {
      if (g.key() == key) return true;
    }
  }
  return false;
}

void AddChange(DraftChanges& out, const ConfigState& state, const std::string& tenant,
               const std::string& service, const std::string& key, int32_t op,
               const std::string& value = "", int32_t content_type = 0) {
  DraftChangeRecord* c = out.Add();
  c->set_service(service);
  c->set_key(key);
  c->set_op(op);
  c->set_value(value);
  c->set_content_type(op == kDraftPut && content_type == 0 ? kContentTypeText : content_type);
  const EntryRecord* own = state.FindEntry(tenant, service, key);
  c->set_base_revision(own != nullptr ? own->mod_revision() : 0);
}

}  // namespace

void SortByKey(DraftChanges& changes) {
  std::sort(changes.begin(), changes.end(),
            [](const DraftChangeRecord& a, const DraftChangeRecord& b) {
              return std::tie(a.service(), a.key()) < std::tie(b.service(), b.key());
            });
}

absl::Status ValidateDraftChange(const CoreOptions& options, absl::string_view field,
                                 const DraftChangeRecord& change) {
  if (absl::Status s = ValidateServiceName(absl::StrCat(field, ".service"), change.service());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateKey(absl::StrCat(field, ".key"), change.key()); !s.ok()) return s;
  if (change.op() < kDraftPut || change.op() > kDraftMask) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".op: ", change.op(), " is not PUT, DELETE or MASK"));
  }
  if (change.op() == kDraftPut) {
    if (static_cast<int64_t>(change.value().size()) > options.max_value_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".value: ", change.value().size(), " bytes exceed the limit of ",
                       options.max_value_bytes, " bytes (--max_value_bytes)"));
    }
    if (change.content_type() < 0 || change.content_type() > kMaxContentType) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".content_type: ", change.content_type(), " is not a known ContentType"));
    }
  } else if (!change.value().empty() || change.content_type() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, change.value().empty() ? ".content_type" : ".value",
                     ": must be empty for ", change.op() == kDraftDelete ? "DELETE" : "MASK"));
  }
  return absl::OkStatus();
}

absl::Status CheckNoSecretValues(const ConfigState& state, const std::string& tenant,
                                 const DraftChanges& changes, absl::string_view field,
                                 bool per_change) {
  for (int i = 0; i < changes.size(); ++i) {
    const DraftChangeRecord& c = changes[i];
    if (c.op() != kDraftPut) continue;
    const EntryRecord* own = state.FindEntry(tenant, c.service(), c.key());
    if (DeclaredSecret(state, tenant, c.service(), c.key()) || (own != nullptr && own->secret())) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, per_change ? absl::StrCat("[", i, "].value") : "", ": ",
          DescribeKey(tenant, c.service(), c.key()),
          " is a secret; drafts do not hold secret values (they are not sealed at rest): a "
          "publisher writes it with Put"));
    }
  }
  return absl::OkStatus();
}

std::vector<DiffEntry> DiffOfChanges(const ConfigState& state, const std::string& tenant,
                                     const DraftChanges& changes) {
  std::vector<DiffEntry> out;
  absl::StatusOr<std::vector<std::string>> chain = state.Chain("tenant", tenant);
  if (!chain.ok()) return out;
  for (const DraftChangeRecord& c : changes) {
    auto level_entry = [&](size_t level) {
      return state.FindEntry((*chain)[level], c.service(), c.key());
    };
    std::optional<DiffSide> before =
        SideOf(ResolveAlongChain(chain->size(), level_entry), *chain, "");
    const std::optional<EntryRecord> own_after = EntryAfter(c);
    std::optional<DiffSide> after =
        SideOf(ResolveAlongChain(chain->size(),
                                 [&](size_t level) -> const EntryRecord* {
                                   if (level == 0) return own_after ? &*own_after : nullptr;
                                   return level_entry(level);
                                 }),
               *chain, tenant);
    if (after && own_after && after->source_tenant == tenant) after->revision = 0;
    if (SameSide(before, after)) continue;
    DiffEntry e;
    e.service = c.service();
    e.key = c.key();
    e.type = !before ? DiffType::kAdded : !after ? DiffType::kRemoved : DiffType::kChanged;
    e.left = std::move(before);
    e.right = std::move(after);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const DiffEntry& a, const DiffEntry& b) {
    return std::tie(a.service, a.key) < std::tie(b.service, b.key);
  });
  return out;
}

Reach ReachOf(const ConfigState& state, const std::string& tenant, const DraftChanges& changes) {
  Reach reach;
  std::set<KeyId> keys;
  for (const DraftChangeRecord& c : changes) {
    keys.insert({c.service(), c.key()});
    reach.services.insert(c.service());
  }
  std::set<std::string> tenants = {tenant};
  // Depth first: a descendant sees the keys no tenant between it and `tenant` overrides.
  std::vector<std::pair<std::string, std::set<KeyId>>> pending = {{tenant, keys}};
  while (!pending.empty()) {
    auto [at, exposed] = std::move(pending.back());
    pending.pop_back();
    for (const std::string& child : state.Children(at)) {
      std::set<KeyId> still;
      for (const KeyId& k : exposed) {
        if (state.FindEntry(child, k.first, k.second) == nullptr) still.insert(k);
      }
      if (still.empty()) continue;
      tenants.insert(child);
      pending.emplace_back(child, std::move(still));
    }
  }
  reach.tenants.assign(tenants.begin(), tenants.end());
  return reach;
}

std::vector<std::string> ConflictsOf(const ConfigState& state, const std::string& tenant,
                                     const DraftChanges& changes) {
  std::vector<std::string> out;
  for (const DraftChangeRecord& c : changes) {
    const EntryRecord* own = state.FindEntry(tenant, c.service(), c.key());
    if ((own != nullptr ? own->mod_revision() : 0) != c.base_revision()) {
      out.push_back(absl::StrCat(c.service(), "/", c.key()));
    }
  }
  return out;
}

std::vector<WriteOp> OpsOf(const std::string& tenant, const DraftChanges& changes,
                           bool check_base) {
  std::vector<WriteOp> ops;
  ops.reserve(changes.size());
  for (const DraftChangeRecord& c : changes) {
    WriteOp op;
    op.type = c.op() == kDraftDelete ? WriteOpType::kDelete
              : c.op() == kDraftMask ? WriteOpType::kMask
                                     : WriteOpType::kPut;
    op.tenant = tenant;
    op.service = c.service();
    op.key = c.key();
    if (op.type == WriteOpType::kPut) {
      op.value = c.value();
      op.content_type = c.content_type();
    }
    if (check_base) op.expected_revision = c.base_revision();
    ops.push_back(std::move(op));
  }
  return ops;
}

absl::StatusOr<PromotionPlan> PlanPromotion(const ConfigState& state,
                                            const std::string& from_tenant,
                                            const std::string& to_tenant,
                                            const std::vector<std::string>& services,
                                            bool remove_missing) {
  absl::StatusOr<std::vector<std::string>> from_chain = state.Chain("from_tenant", from_tenant);
  if (!from_chain.ok()) return from_chain.status();
  absl::StatusOr<std::vector<std::string>> to_chain = state.Chain("to_tenant", to_tenant);
  if (!to_chain.ok()) return to_chain.status();
  if (std::find(from_chain->begin(), from_chain->end(), to_tenant) != from_chain->end()) {
    return absl::InvalidArgumentError(
        to_tenant == from_tenant
            ? absl::StrCat("to_tenant: ", QuoteForError(to_tenant), " is from_tenant itself")
            : absl::StrCat("to_tenant: ", QuoteForError(to_tenant), " is an ancestor of ",
                           QuoteForError(from_tenant),
                           ", whose view already inherits from it; promote into a tenant "
                           "outside its chain (e.g. a pre-release root)"));
  }
  std::vector<std::string> scope = services;
  if (scope.empty()) {
    std::set<std::string> all;
    for (std::string& s : state.ServicesOf(*from_chain)) all.insert(std::move(s));
    if (remove_missing) {
      for (std::string& s : state.ServicesOf(*to_chain)) all.insert(std::move(s));
    }
    scope.assign(all.begin(), all.end());
  }
  std::map<KeyId, const ResolvedEntry*> to_view;
  const std::vector<ResolvedEntry> to_entries = state.Resolve(*to_chain, scope);
  for (const ResolvedEntry& e : to_entries) to_view[{e.service, e.key}] = &e;
  const std::vector<ResolvedEntry> from_entries = state.Resolve(*from_chain, scope);

  PromotionPlan plan;
  std::set<KeyId> in_from;
  for (const ResolvedEntry& e : from_entries) {
    in_from.insert({e.service, e.key});
    auto there = to_view.find({e.service, e.key});
    if (EnvironmentOwn(state, from_tenant, e.service, e.key, e.secret) ||
        EnvironmentOwn(state, to_tenant, e.service, e.key,
                       there != to_view.end() && there->second->secret)) {
      ++plan.skipped;
      continue;
    }
    if (there != to_view.end() && there->second->value == e.value &&
        there->second->content_type == e.content_type) {
      continue;
    }
    AddChange(plan.changes, state, to_tenant, e.service, e.key, kDraftPut, e.value, e.content_type);
  }
  if (remove_missing) {
    for (const ResolvedEntry& e : to_entries) {
      if (in_from.count({e.service, e.key}) > 0) continue;
      if (EnvironmentOwn(state, to_tenant, e.service, e.key, e.secret)) {
        ++plan.skipped;
        continue;
      }
      // Without its own entry the key would still show what the parent chain gives: mask it.
      const bool inherited = ResolveAlongChain(to_chain->size() - 1, [&](size_t level) {
                               return state.FindEntry((*to_chain)[level + 1], e.service, e.key);
                             }).visible();
      AddChange(plan.changes, state, to_tenant, e.service, e.key,
                inherited ? kDraftMask : kDraftDelete);
    }
  }
  SortByKey(plan.changes);
  return plan;
}

absl::StatusOr<PromotionPlan> PlanReset(const ConfigState& state, const std::string& tenant,
                                        const std::vector<std::string>& services) {
  absl::StatusOr<std::vector<std::string>> chain = state.Chain("tenant", tenant);
  if (!chain.ok()) return chain.status();
  const TenantState* t = state.FindTenant(tenant);
  const std::set<std::string> only(services.begin(), services.end());
  auto in_scope = [&](const std::string& service) {
    return only.empty() || only.count(service) > 0;
  };
  // What the tenant's registrations write for a key: its default, unless the parent chain
  // already gives that value (then nothing, as Register plans it).
  const bool root = chain->size() == 1;
  auto wanted_default = [&](const std::string& service,
                            const std::string& key) -> std::optional<std::optional<std::string>> {
    for (const v1::ServiceDefinition& def : t->definitions) {
      if (def.name() != service) continue;
      auto it = def.defaults().find(key);
      if (it == def.defaults().end()) return std::nullopt;
      const EntryRecord* inherited = ResolveAlongChain(chain->size() - 1, [&](size_t level) {
                                       return state.FindEntry((*chain)[level + 1], service, key);
                                     }).entry();
      if (!root && inherited != nullptr && inherited->value() == it->second &&
          inherited->content_type() == kContentTypeText) {
        return std::optional<std::string>();  // no own entry
      }
      return std::optional<std::string>(it->second);
    }
    return std::nullopt;  // not a default of a service it registered
  };
  PromotionPlan plan;
  std::set<KeyId> seen;
  for (const auto& [service, keys] : t->services) {
    if (!in_scope(service)) continue;
    for (const auto& [key, entry] : keys) {
      seen.insert({service, key});
      if (EnvironmentOwn(state, tenant, service, key, entry.secret())) continue;
      std::optional<std::optional<std::string>> wanted = wanted_default(service, key);
      if (wanted && *wanted) {
        if (!entry.mask() && entry.value() == **wanted &&
            entry.content_type() == kContentTypeText) {
          continue;
        }
        AddChange(plan.changes, state, tenant, service, key, kDraftPut, **wanted);
      } else {
        AddChange(plan.changes, state, tenant, service, key, kDraftDelete);
      }
    }
  }
  // Defaults whose own entry was removed by hand.
  for (const v1::ServiceDefinition& def : t->definitions) {
    if (!in_scope(def.name())) continue;
    for (const auto& [key, value] : def.defaults()) {
      if (seen.count({def.name(), key}) > 0) continue;
      if (EnvironmentOwn(state, tenant, def.name(), key, false)) continue;
      std::optional<std::optional<std::string>> wanted = wanted_default(def.name(), key);
      if (wanted && *wanted)
        AddChange(plan.changes, state, tenant, def.name(), key, kDraftPut, **wanted);
    }
  }
  SortByKey(plan.changes);
  return plan;
}

}  // namespace confcenter
