#include "server/api/redaction.h"

#include <algorithm>

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
// may not see, withholds the secrets it may not read.
template <typename T>
void FilterView(const auth::Access& access, absl::string_view tenant,
                google::protobuf::RepeatedPtrField<T>* items) {
  if (access.SeesEverything(tenant)) return;
  RemoveIf(items, [&](const T& e) { return !access.MaySeeKey(tenant, e.service(), e.key()); });
  for (T& e : *items) {
    if (e.secret() && !access.MaySeeSecrets(tenant, e.service())) Withhold(&e);
  }
}

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
  FilterView(access, tenant, entries);
}

void FilterEvents(const auth::Access& access, absl::string_view tenant,
                  google::protobuf::RepeatedPtrField<v1::WatchEvent>* events) {
  FilterView(access, tenant, events);
}

void FilterSubscribeResponse(const auth::Access& access, absl::string_view tenant,
                             v1::SubscribeResponse* response) {
  FilterResolved(access, tenant, response->mutable_entries());
  FilterEvents(access, tenant, response->mutable_events());
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
