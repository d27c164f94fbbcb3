#include "server/core/rollback_plan.h"

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace confcenter {
namespace {

using storage::EntryRecord;

bool SameContent(const std::optional<EntryRecord>& a, const std::optional<EntryRecord>& b) {
  if (!a || !b) return !a && !b;
  if (a->mask() != b->mask()) return false;
  return a->mask() || (a->value() == b->value() && a->content_type() == b->content_type());
}

bool InScope(const storage::HistoryScope& scope, const std::string& service,
             const std::string& key) {
  if (!scope.service.empty() && service != scope.service) return false;
  if (!scope.key.empty()) return key == scope.key;
  return absl::StartsWith(key, scope.key_prefix);
}

}  // namespace

absl::Status ValidateReleaseMessage(absl::string_view field, absl::string_view message) {
  if (message.size() > kMaxReleaseMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", message.size(),
                                                   " bytes exceed the limit of ",
                                                   kMaxReleaseMessageBytes, " bytes"));
  }
  return absl::OkStatus();
}

std::vector<RollbackChange> PlanRollbackChanges(const ConfigState& state,
                                                const storage::HistoryScope& scope,
                                                const storage::StateAt& past) {
  // (service, key) -> (current, past)
  std::map<std::pair<std::string, std::string>,
           std::pair<std::optional<EntryRecord>, std::optional<EntryRecord>>>
      keys;
  if (const TenantState* tenant = state.FindTenant(scope.tenant)) {
    // Only the scope's part of the tenant: one service's keys, or one key.
    auto visit = [&](const std::string& service, const KeyMap& entries) {
      if (!scope.key.empty()) {
        if (auto it = entries.find(scope.key); it != entries.end()) {
          keys[{service, it->first}].first = it->second;
        }
        return;
      }
      for (const auto& [key, entry] : entries) {
        if (InScope(scope, service, key)) keys[{service, key}].first = entry;
      }
    };
    if (!scope.service.empty()) {
      if (auto it = tenant->services.find(scope.service); it != tenant->services.end()) {
        visit(it->first, it->second);
      }
    } else {
      for (const auto& [service, entries] : tenant->services) visit(service, entries);
    }
  }
  for (const auto& [key, entry] : past.entries) {
    if (key.tenant == scope.tenant && InScope(scope, key.service, key.key)) {
      keys[{key.service, key.key}].second = entry;
    }
  }
  std::vector<RollbackChange> changes;
  for (auto& [name, entries] : keys) {
    auto& [current, past_entry] = entries;
    if (SameContent(current, past_entry)) continue;
    changes.push_back(
        {{scope.tenant, name.first, name.second}, std::move(current), std::move(past_entry)});
  }
  return changes;
}

std::vector<WriteOp> RollbackOps(const std::vector<RollbackChange>& changes) {
  std::vector<WriteOp> ops;
  ops.reserve(changes.size());
  for (const RollbackChange& change : changes) {
    WriteOp op;
    op.tenant = change.key.tenant;
    op.service = change.key.service;
    op.key = change.key.key;
    if (!change.after) {
      op.type = WriteOpType::kDelete;
    } else if (change.after->mask()) {
      op.type = WriteOpType::kMask;
    } else {
      op.type = WriteOpType::kPut;
      op.value = change.after->value();
      op.content_type = change.after->content_type();
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

int64_t KeyCountDelta(const std::vector<RollbackChange>& changes) {
  int64_t delta = 0;
  for (const RollbackChange& change : changes) {
    delta += (change.after ? 1 : 0) - (change.before ? 1 : 0);
  }
  return delta;
}

}  // namespace confcenter
