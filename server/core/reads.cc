#include "server/core/reads.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "server/core/registry.h"
#include "server/core/write.h"

namespace confcenter {
namespace {

using storage::EntryRecord;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

absl::Status ValidatePageSize(int page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", page_size, " is out of range; use 0 (default 100) to 1000"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DecodePageToken(const std::string& token) {
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(token, &decoded) || decoded.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: ", QuoteForError(token), " is not a next_page_token this server returned"));
  }
  return decoded;
}

}  // namespace

TenantInfo DescribeTenant(const ConfigState& state, const TenantState& tenant) {
  TenantInfo info;
  info.record = tenant.record;
  info.chain = state.Chain("tenant", tenant.record.name()).value_or(std::vector<std::string>{});
  info.children = state.Children(tenant.record.name());
  if (const TenantState* gray = state.FindTenant(GrayTenantOf(tenant.record.name()))) {
    info.gray_release_id = gray->record.create_revision();
  }
  info.key_count = tenant.key_count;
  info.keep = tenant.record.keep() || tenant.record.parent().empty();
  info.definitions = tenant.definitions;
  for (const v1::ServiceDefinition& definition : tenant.definitions) {
    info.endpoints.push_back(RenderEndpoints(definition, tenant.record.name()));
  }
  return info;
}

absl::StatusOr<EntryView> ReadEntry(const ConfigState& state, const std::string& tenant,
                                    const std::string& service, const std::string& key) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  if (absl::Status s = ValidateKey("key", key); !s.ok()) return s;
  if (state.FindTenant(tenant) == nullptr) return TenantNotFoundError("tenant", tenant);
  const EntryRecord* entry = state.FindEntry(tenant, service, key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("key: ", DescribeKey(tenant, service, key), " has no own entry"));
  }
  return EntryView{state.revision(), *entry};
}

absl::StatusOr<ListResult> ListEntries(const ConfigState& state, const std::string& tenant,
                                       const std::string& service, const std::string& prefix,
                                       int page_size, const std::string& page_token) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (!service.empty()) {
    if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  }
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  if (absl::Status s = ValidatePageSize(page_size); !s.ok()) return s;
  std::string after_service, after_key;
  if (!page_token.empty()) {
    absl::StatusOr<std::string> decoded = DecodePageToken(page_token);
    if (!decoded.ok()) return decoded.status();
    size_t sep = decoded->find('\0');
    if (sep == std::string::npos) return DecodePageToken("").status();
    after_service = decoded->substr(0, sep);
    after_key = decoded->substr(sep + 1);
  }
  const size_t limit = page_size == 0 ? kDefaultPageSize : page_size;

  const TenantState* t = state.FindTenant(tenant);
  if (t == nullptr) return TenantNotFoundError("tenant", tenant);
  ListResult result;
  result.revision = state.revision();
  auto services_begin =
      service.empty() ? t->services.lower_bound(after_service) : t->services.find(service);
  for (auto s = services_begin; s != t->services.end(); ++s) {
    if (!service.empty() && s->first != service) break;
    // A page token names the last entry returned; it matched the prefix, so resume after it.
    auto k = s->first == after_service && after_key >= prefix ? s->second.upper_bound(after_key)
                                                              : s->second.lower_bound(prefix);
    for (; k != s->second.end() && k->first.compare(0, prefix.size(), prefix) == 0; ++k) {
      if (result.entries.size() == limit) {
        const ListedEntry& last = result.entries.back();
        result.next_page_token = absl::WebSafeBase64Escape(
            absl::StrCat(last.service, absl::string_view("\0", 1), last.key));
        return result;
      }
      result.entries.push_back({s->first, k->first, k->second});
    }
  }
  return result;
}

absl::StatusOr<ResolveResult> ResolveView(const ConfigState& state, const std::string& tenant,
                                          const std::vector<std::string>& services) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  for (size_t i = 0; i < services.size(); ++i) {
    if (absl::Status s = ValidateServiceName(absl::StrCat("services[", i, "]"), services[i]);
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::vector<std::string>> chain = state.Chain("tenant", tenant);
  if (!chain.ok()) return chain.status();
  ResolveResult result;
  result.revision = state.revision();
  if (services.empty()) {
    result.entries = state.Resolve(*chain, state.ServicesOf(*chain));
  } else {
    std::vector<std::string> sorted = services;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    result.entries = state.Resolve(*chain, sorted);
  }
  result.chain = *std::move(chain);
  return result;
}

absl::StatusOr<TenantInfo> ReadTenant(const ConfigState& state, const std::string& tenant) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  const TenantState* t = state.FindTenant(tenant);
  if (t == nullptr) return TenantNotFoundError("tenant", tenant);
  return DescribeTenant(state, *t);
}

absl::StatusOr<DependenciesResult> ReadDependencies(const ConfigState& state,
                                                    const std::string& tenant,
                                                    const std::string& service) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> chain = state.Chain("tenant", tenant);
  if (!chain.ok()) return chain.status();
  RegistryView view(state, *chain);
  const RegistryView::Registration* registration = view.Find(service);
  if (registration == nullptr) {
    return absl::NotFoundError(absl::StrCat("service: ", QuoteForError(service),
                                            " is not registered in any tenant of [",
                                            absl::StrJoin(*chain, ", "), "]"));
  }
  DependenciesResult result;
  result.revision = state.revision();
  result.source_tenant = registration->tenant;
  result.map = BuildDependencyMap(view, *registration->definition);
  return result;
}

absl::StatusOr<ListTenantsResult> ListTenantPage(const ConfigState& state, int page_size,
                                                 const std::string& page_token) {
  if (absl::Status s = ValidatePageSize(page_size); !s.ok()) return s;
  std::string after;
  if (!page_token.empty()) {
    absl::StatusOr<std::string> decoded = DecodePageToken(page_token);
    if (!decoded.ok()) return decoded.status();
    after = *std::move(decoded);
  }
  const size_t limit = page_size == 0 ? kDefaultPageSize : page_size;
  ListTenantsResult result;
  result.revision = state.revision();
  const auto& tenants = state.tenants();
  for (auto it = after.empty() ? tenants.begin() : tenants.upper_bound(after); it != tenants.end();
       ++it) {
    if (result.tenants.size() == limit) {
      result.next_page_token = absl::WebSafeBase64Escape(result.tenants.back().record.name());
      break;
    }
    if (IsGrayTenant(it->first)) continue;  // part of its tenant (GetTenant's gray)
    result.tenants.push_back(DescribeTenant(state, it->second));
  }
  return result;
}

namespace {

// What the steps resolve to with tenant `replaced`'s own entry swapped for `entry`: the
// deciding step's index (or -1), and whether a value decides.
std::pair<int, bool> Decide(const std::vector<ExplainedStep>& steps, int replaced,
                            const std::optional<EntryRecord>& entry) {
  for (int i = 0; i < static_cast<int>(steps.size()); ++i) {
    const std::optional<EntryRecord>& own = i == replaced ? entry : steps[i].entry;
    if (own.has_value()) return {i, !own->mask()};
  }
  return {-1, false};
}

bool SameOutcome(const std::vector<ExplainedStep>& steps, int replaced,
                 const std::optional<EntryRecord>& entry) {
  const auto [before, present_before] = Decide(steps, -1, std::nullopt);
  const auto [after, present_after] = Decide(steps, replaced, entry);
  if (present_before != present_after) return false;
  if (!present_before) return true;  // hidden or absent either way
  const EntryRecord& a = *steps[before].entry;
  const EntryRecord& b = after == replaced ? *entry : *steps[after].entry;
  return before == after && a.value() == b.value() && a.content_type() == b.content_type() &&
         a.sealed_value() == b.sealed_value();
}

EntryRecord DraftEntry(const storage::DraftChangeRecord& change) {
  EntryRecord entry;
  if (change.op() == 3) {
    entry.set_mask(true);
  } else {
    entry.set_value(change.value());
    entry.set_content_type(change.content_type());
  }
  return entry;
}

}  // namespace

absl::StatusOr<ExplainResult> ExplainKey(const ConfigState& state, const std::string& tenant,
                                         const std::string& service, const std::string& key) {
  if (absl::Status s = ValidateTenantName("tenant", tenant); !s.ok()) return s;
  if (absl::Status s = ValidateServiceName("service", service); !s.ok()) return s;
  if (absl::Status s = ValidateKey("key", key); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> chain = state.Chain("tenant", tenant);
  if (!chain.ok()) return chain.status();
  ExplainResult result;
  result.revision = state.revision();
  for (const std::string& t : *chain) {
    ExplainedStep step;
    step.tenant = t;
    if (const EntryRecord* entry = state.FindEntry(t, service, key)) step.entry = *entry;
    result.steps.push_back(std::move(step));
  }
  const auto [decider, present] = Decide(result.steps, -1, std::nullopt);
  if (decider >= 0) result.steps[decider].decides = true;
  result.present = present;
  for (int i = 0; i < static_cast<int>(result.steps.size()); ++i) {
    const std::string& t = result.steps[i].tenant;
    // The tenant's gray release: its own entries are the gray values.
    if (const TenantState* gray = state.FindTenant(GrayTenantOf(t))) {
      if (const EntryRecord* entry = state.FindEntry(GrayTenantOf(t), service, key);
          entry != nullptr && !SameOutcome(result.steps, i, *entry)) {
        result.pending.push_back(
            {t, gray->record.create_revision(), 0, *entry, gray->record.gray().author()});
      }
    }
    const TenantState* own = state.FindTenant(t);
    if (own == nullptr) continue;
    for (const storage::DraftRecord& draft : own->record.drafts()) {
      for (const storage::DraftChangeRecord& change : draft.changes()) {
        if (change.service() != service || change.key() != key) continue;
        std::optional<EntryRecord> entry;
        if (change.op() != 2) entry = DraftEntry(change);
        if (!SameOutcome(result.steps, i, entry)) {
          result.pending.push_back({t, 0, draft.id(), entry, draft.author()});
        }
      }
    }
  }
  return result;
}

}  // namespace confcenter
