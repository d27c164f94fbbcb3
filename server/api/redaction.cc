#include "server/api/redaction.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace confcenter {
namespace {

// Removes the elements `drop` says to, keeping order.
template <typename T, typename Drop>
void RemoveIf(google::protobuf::RepeatedPtrField<T>* items, Drop drop) {
  int kept = 0;
  for (int i = 0; i < items->size(); ++i) {
    if (drop(items->Get(i))) continue;
    if (kept != i) items->SwapElements(kept, i);
    ++kept;
  }
  while (items->size() > kept) items->RemoveLast();
}

template <typename T>
void Withhold(T* message) {
  message->clear_value();
  message->set_redacted(true);
}

// A view's entries or events (each names its service and key): drops the keys the caller
// may not see, withholds the secrets it may not read. `Rights` answers SeesKey(service, key)
// and SeesSecrets(service).
template <typename Rights, typename T>
void FilterView(const Rights& rights, google::protobuf::RepeatedPtrField<T>* items) {
  RemoveIf(items, [&](const T& e) { return !rights.SeesKey(e.service(), e.key()); });
  for (T& e : *items) {
    if (e.secret() && !rights.SeesSecrets(e.service())) Withhold(&e);
  }
}

// The rights of a unary read, asked of Access as the response is filtered.
struct CallRights {
  const auth::Access& access;
  absl::string_view tenant;
  bool SeesKey(absl::string_view service, absl::string_view key) const {
    return access.MaySeeKey(tenant, service, key);
  }
  bool SeesSecrets(absl::string_view service) const {
    return access.MaySeeSecrets(tenant, service);
  }
};

// "tenant/service/key" of each item showing a secret value; `tenant_of` names its tenant.
template <typename T, typename TenantOf>
std::vector<std::string> Shown(const google::protobuf::RepeatedPtrField<T>& items,
                               TenantOf tenant_of) {
  std::vector<std::string> out;
  for (const T& e : items) {
    if (e.secret() && !e.redacted()) {
      out.push_back(absl::StrCat(tenant_of(e), "/", e.service(), "/", e.key()));
    }
  }
  return out;
}

}  // namespace

void RedactEntry(const auth::Access& access, v1::Entry* entry) {
  if (entry->secret() && !access.MaySeeSecrets(entry->tenant(), entry->service())) {
    Withhold(entry);
  }
}

void FilterEntries(const auth::Access& access,
                   google::protobuf::RepeatedPtrField<v1::Entry>* entries) {
  RemoveIf(entries,
           [&](const v1::Entry& e) { return !access.MaySeeKey(e.tenant(), e.service(), e.key()); });
  for (v1::Entry& e : *entries) RedactEntry(access, &e);
}

void FilterResolved(const auth::Access& access, absl::string_view tenant,
                    google::protobuf::RepeatedPtrField<v1::ResolvedEntry>* entries) {
  if (access.SeesEverything(tenant)) return;
  FilterView(CallRights{access, tenant}, entries);
}

ViewRights::ViewRights(const auth::Access& access, absl::string_view tenant,
                       const std::vector<std::string>& services) {
  everything_ = access.SeesEverything(tenant);
  tenant_wide_.secrets = access.Require(auth::Right::kReadSecrets, tenant).ok();
  for (const std::string& s : services) {
    Rule rule;
    // Any key that is not an endpoint tells whether more than the endpoints is visible.
    rule.endpoints_only = !access.MaySeeKey(tenant, s, "not-an-endpoint");
    rule.secrets = access.MaySeeSecrets(tenant, s);
    by_service_[s] = rule;
  }
}

const ViewRights::Rule& ViewRights::RuleOf(absl::string_view service) const {
  auto it = by_service_.find(service);
  return it == by_service_.end() ? tenant_wide_ : it->second;
}

bool ViewRights::SeesKey(absl::string_view service, absl::string_view key) const {
  return !RuleOf(service).endpoints_only ||
         absl::StartsWith(key, auth::kEndpointKeyPrefixForAccess);
}

bool ViewRights::SeesSecrets(absl::string_view service) const { return RuleOf(service).secrets; }

void FilterSubscribeResponse(const ViewRights& rights, v1::SubscribeResponse* response) {
  if (rights.everything()) return;
  FilterView(rights, response->mutable_entries());
  FilterView(rights, response->mutable_events());
}

void RedactVersion(const auth::Access& access, v1::Version* version) {
  if (version->secret() && !access.MaySeeSecrets(version->tenant(), version->service())) {
    Withhold(version);
  }
}

void RedactRelease(const auth::Access& access, v1::Release* release) {
  for (v1::ReleaseChange& c : *release->mutable_changes()) {
    if (c.has_before()) RedactEntry(access, c.mutable_before());
    if (c.has_after()) RedactEntry(access, c.mutable_after());
  }
}

void RedactDiff(const auth::Access& access, v1::DiffResponse* diff) {
  for (v1::DiffEntry& e : *diff->mutable_entries()) {
    if (e.has_left() && e.left().secret() &&
        !access.MaySeeSecrets(diff->left_tenant(), e.service())) {
      Withhold(e.mutable_left());
    }
    if (e.has_right() && e.right().secret() &&
        !access.MaySeeSecrets(diff->right_tenant(), e.service())) {
      Withhold(e.mutable_right());
    }
  }
}

std::vector<std::string> SecretsShown(
    const google::protobuf::RepeatedPtrField<v1::Entry>& entries) {
  return Shown(entries, [](const v1::Entry& e) { return e.tenant(); });
}

std::vector<std::string> SecretsShown(
    absl::string_view tenant,
    const google::protobuf::RepeatedPtrField<v1::ResolvedEntry>& entries) {
  return Shown(entries, [tenant](const v1::ResolvedEntry&) { return tenant; });
}

std::vector<std::string> SecretsShown(
    const google::protobuf::RepeatedPtrField<v1::Version>& versions) {
  return Shown(versions, [](const v1::Version& v) { return v.tenant(); });
}

}  // namespace confcenter
