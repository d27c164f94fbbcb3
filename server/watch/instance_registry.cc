#include "server/watch/instance_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace confcenter {
namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr int kMaxLabels = 32;
constexpr size_t kMaxInfoBytes = 4096;
constexpr size_t kMaxSelfCheckBytes = 1024;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

}  // namespace

InstanceRegistry::InstanceRegistry(WatchHub* hub, Clock* clock, InstanceRegistryOptions options)
    : hub_(hub), clock_(clock), options_(options) {
  deadline_thread_ = std::thread([this] { DeadlineLoop(); });
}

InstanceRegistry::~InstanceRegistry() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  deadline_thread_.join();
}

absl::Status InstanceRegistry::Validate(const v1::InstanceInfo& info) {
  const std::string& id = info.instance_id();
  if (id.empty() || id.size() > kMaxIdBytes || !std::all_of(id.begin(), id.end(), IdChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance.instance_id: \"", id.substr(0, kMaxIdBytes),
                     "\" is not 1-128 characters of [A-Za-z0-9_.:-]"));
  }
  if (info.labels_size() > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance.labels: ", info.labels_size(), " labels, at most ", kMaxLabels));
  }
  size_t bytes = id.size() + info.host().size() + info.service().size() + info.pod().size() +
                 info.namespace_().size() + info.library().size();
  for (const auto& [key, value] : info.labels()) {
    if (key.empty()) return absl::InvalidArgumentError("instance.labels: an empty label name");
    bytes += key.size() + value.size();
  }
  if (bytes > kMaxInfoBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance: ", bytes, " bytes of names and labels, at most ", kMaxInfoBytes));
  }
  return absl::OkStatus();
}

uint64_t InstanceRegistry::Attach(const InstanceStream& stream, const v1::InstanceInfo* info) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireGrace(now);
  uint64_t handle = 0;
  if (info != nullptr) {
    auto named = by_name_.find({stream.tenant, info->instance_id()});
    if (named != by_name_.end()) {  // a reconnect: the entry moves to the new stream
      // The old stream may not have ended yet (the client noticed first): from now on its
      // Detach finds its attachment replaced and changes nothing.
      handle = named->second;
      Entry& entry = entries_[handle];
      entry.stream = stream;
      entry.named->info = *info;
      entry.connected = true;
      entry.connected_since = now;
      entry.attachment = next_id_++;
      attachments_[entry.attachment] = handle;
      disconnected_.erase(std::remove(disconnected_.begin(), disconnected_.end(), handle),
                          disconnected_.end());
      return entry.attachment;
    }
  }
  handle = next_id_++;
  Entry& entry = entries_[handle];
  entry.attachment = next_id_++;
  attachments_[entry.attachment] = handle;
  entry.tenant = stream.tenant;
  entry.stream = stream;
  entry.connected_since = now;
  if (info != nullptr) {
    entry.instance_id = info->instance_id();
    entry.named = std::make_unique<Named>();
    entry.named->info = *info;
    by_name_[{stream.tenant, entry.instance_id}] = handle;
  }
  by_tenant_[stream.tenant].push_back(handle);
  return entry.attachment;
}

void InstanceRegistry::SetStreamId(uint64_t attachment, uint64_t stream_id) {
  absl::MutexLock lock(&mu_);
  auto token = attachments_.find(attachment);
  if (token == attachments_.end()) return;
  auto it = entries_.find(token->second);
  if (it != entries_.end() && it->second.attachment == attachment) {
    it->second.stream.stream_id = stream_id;
  }
}

void InstanceRegistry::Detach(uint64_t attachment) {
  std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>> answers;
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    auto token = attachments_.find(attachment);
    if (token == attachments_.end()) return;
    const uint64_t handle = token->second;
    attachments_.erase(token);
    auto it = entries_.find(handle);
    if (it == entries_.end() || it->second.attachment != attachment) return;  // taken over
    Entry& entry = it->second;
    // No longer live: waits stop counting it.
    for (auto& [id, wait] : waits_) wait.pending.erase(handle);
    if (entry.instance_id.empty()) {
      auto& list = by_tenant_[entry.tenant];
      list.erase(std::remove(list.begin(), list.end(), handle), list.end());
      if (list.empty()) by_tenant_.erase(entry.tenant);
      entries_.erase(it);
    } else {
      entry.connected = false;
      entry.disconnected_at = now;
      disconnected_.push_back(handle);
      ExpireGrace(now);
    }
    TakeSatisfied(&answers);
  }
  for (auto& [done, answer] : answers) done(std::move(answer));
}

void InstanceRegistry::ExpireGrace(absl::Time now) {
  size_t keep_from = 0;
  while (keep_from < disconnected_.size()) {
    const Entry& entry = entries_[disconnected_[keep_from]];
    const bool over_limit = disconnected_.size() - keep_from > options_.max_disconnected;
    if (!over_limit && entry.disconnected_at + options_.grace > now) break;
    ++keep_from;
  }
  for (size_t i = 0; i < keep_from; ++i) {
    const uint64_t handle = disconnected_[i];
    auto it = entries_.find(handle);
    by_name_.erase({it->second.tenant, it->second.instance_id});
    auto& list = by_tenant_[it->second.tenant];
    list.erase(std::remove(list.begin(), list.end(), handle), list.end());
    if (list.empty()) by_tenant_.erase(it->second.tenant);
    entries_.erase(it);
  }
  disconnected_.erase(disconnected_.begin(), disconnected_.begin() + static_cast<long>(keep_from));
}

absl::Status InstanceRegistry::Report(const v1::ReportInstanceRequest& request,
                                      const std::string& user) {
  if (request.applied_revision() < 0) {
    return absl::InvalidArgumentError("applied_revision: negative");
  }
  if (request.self_check().message().size() > kMaxSelfCheckBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("self_check.message: ", request.self_check().message().size(),
                     " bytes, at most ", kMaxSelfCheckBytes));
  }
  const int64_t published = hub_->published_revision();
  if (request.applied_revision() > published) {
    return absl::InvalidArgumentError(absl::StrCat("applied_revision: ", request.applied_revision(),
                                                   " is ahead of this server's revision ",
                                                   published));
  }
  std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>> answers;
  {
    absl::MutexLock lock(&mu_);
    auto named = by_name_.find({request.tenant(), request.instance_id()});
    if (named == by_name_.end() || !entries_[named->second].connected) {
      return absl::NotFoundError(absl::StrCat(
          "instance_id: no open Subscribe stream of tenant \"", request.tenant(),
          "\" names instance \"", request.instance_id(), "\" on this server; subscribe first"));
    }
    Entry& entry = entries_[named->second];
    if (entry.stream.user != user) {
      return absl::PermissionDeniedError(
          absl::StrCat("instance_id: instance \"", request.instance_id(), "\" was opened by ",
                       entry.stream.user, "; only that identity reports for it"));
    }
    entry.applied_revision = request.applied_revision();
    if (request.has_self_check()) entry.named->self_check = request.self_check();
    for (auto& [id, wait] : waits_) {
      if (wait.pending.contains(named->second) && Applied(entry, wait.revision)) {
        wait.pending.erase(named->second);
      }
    }
    TakeSatisfied(&answers);
  }
  for (auto& [done, answer] : answers) done(std::move(answer));
  return absl::OkStatus();
}

bool InstanceRegistry::InScope(const Entry& entry, const std::string& service) const {
  return service.empty() || entry.stream.services.empty() ||
         std::find(entry.stream.services.begin(), entry.stream.services.end(), service) !=
             entry.stream.services.end();
}

bool InstanceRegistry::Applied(const Entry& entry, int64_t revision) const {
  if (!entry.connected || entry.instance_id.empty()) return false;
  const std::optional<WatchHub::StreamPosition> at = hub_->Position(entry.stream.stream_id);
  if (!at.has_value() || !at->live) return false;
  return entry.applied_revision >= revision ||
         (at->last_change_revision <= entry.applied_revision && at->published_revision >= revision);
}

v1::Instance InstanceRegistry::Describe(const Entry& entry,
                                        const std::optional<WatchHub::StreamPosition>& at) const {
  v1::Instance out;
  if (entry.named != nullptr) {
    *out.mutable_info() = entry.named->info;
    *out.mutable_self_check() = entry.named->self_check;
  } else {  // present and empty, as for a named one that sent none
    out.mutable_info();
    out.mutable_self_check();
  }
  out.set_tenant(entry.tenant);
  for (const std::string& s : entry.stream.services) out.add_services(s);
  out.set_peer(entry.stream.peer);
  out.set_user(entry.stream.user);
  *out.mutable_connected_since() = ToProto(entry.connected_since);
  out.set_connected(entry.connected);
  if (!entry.connected) *out.mutable_disconnected_at() = ToProto(entry.disconnected_at);
  out.set_applied_revision(entry.applied_revision);
  out.set_reports(!entry.instance_id.empty());
  if (at.has_value()) {
    out.set_last_change_revision(at->last_change_revision);
    out.set_current(entry.connected && !entry.instance_id.empty() && at->live &&
                    at->last_change_revision <= entry.applied_revision);
  }
  return out;
}

std::vector<v1::Instance> InstanceRegistry::List(const std::string& tenant,
                                                 const std::string& service) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireGrace(now);
  std::vector<v1::Instance> out;
  auto it = by_tenant_.find(tenant);
  if (it == by_tenant_.end()) return out;
  for (uint64_t handle : it->second) {
    const Entry& entry = entries_[handle];
    if (!InScope(entry, service)) continue;
    std::optional<WatchHub::StreamPosition> at;
    if (entry.connected) at = hub_->Position(entry.stream.stream_id);
    out.push_back(Describe(entry, at));
  }
  std::sort(out.begin(), out.end(), [](const v1::Instance& a, const v1::Instance& b) {
    return std::make_pair(a.info().service(), a.info().instance_id()) <
           std::make_pair(b.info().service(), b.info().instance_id());
  });
  return out;
}

v1::WaitAppliedResponse InstanceRegistry::Answer(const Wait& wait) const {
  v1::WaitAppliedResponse out;
  out.set_revision(hub_->published_revision());
  out.set_all_applied(wait.pending.empty());
  out.set_instances(wait.instances);
  out.set_anonymous(wait.anonymous);
  for (uint64_t handle : wait.pending) {
    auto it = entries_.find(handle);
    if (it == entries_.end()) continue;
    *out.add_laggards() = Describe(it->second, hub_->Position(it->second.stream.stream_id));
  }
  return out;
}

void InstanceRegistry::TakeSatisfied(
    std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>>* answers) {
  for (auto it = waits_.begin(); it != waits_.end();) {
    if (it->second.pending.empty()) {
      answers->emplace_back(std::move(it->second.done), Answer(it->second));
      it = waits_.erase(it);
    } else {
      ++it;
    }
  }
}

void InstanceRegistry::WaitApplied(const std::string& tenant, const std::string& service,
                                   int64_t revision, absl::Time deadline, WaitDone done) {
  const absl::Time now = clock_->Now();
  v1::WaitAppliedResponse answer;
  {
    absl::MutexLock lock(&mu_);
    ExpireGrace(now);
    Wait wait;
    wait.tenant = tenant;
    wait.service = service;
    wait.revision = revision;
    wait.deadline = deadline;
    if (auto it = by_tenant_.find(tenant); it != by_tenant_.end()) {
      for (uint64_t handle : it->second) {
        const Entry& entry = entries_[handle];
        if (!entry.connected || !InScope(entry, service)) continue;
        if (entry.instance_id.empty()) {
          ++wait.anonymous;
          continue;
        }
        ++wait.instances;
        if (!Applied(entry, revision)) wait.pending.insert(handle);
      }
    }
    if (!wait.pending.empty() && !stopping_) {
      wait.done = std::move(done);
      waits_.emplace(next_id_++, std::move(wait));
      waits_changed_ = true;
      return;
    }
    answer = Answer(wait);
  }
  done(std::move(answer));
}

void InstanceRegistry::DeadlineLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [id, wait] : waits_) next = std::min(next, wait.deadline);
    waits_changed_ = false;
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](InstanceRegistry* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
                                return r->stopping_ || r->waits_changed_;
                              },
                              this),
                          next);
    const absl::Time real_now = absl::Now();
    std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>> answers;
    for (auto it = waits_.begin(); it != waits_.end();) {
      if (stopping_ || it->second.deadline <= real_now) {
        answers.emplace_back(std::move(it->second.done), Answer(it->second));
        it = waits_.erase(it);
      } else {
        ++it;
      }
    }
    if (answers.empty()) continue;
    mu_.Unlock();
    for (auto& [done, answer] : answers) done(std::move(answer));
    mu_.Lock();
  }
}

void InstanceRegistry::Published(int64_t revision) {
  std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>> answers;
  {
    absl::MutexLock lock(&mu_);
    if (waits_.empty()) return;
    for (auto& [id, wait] : waits_) {
      if (wait.revision > revision) continue;  // not published yet: nothing new for it
      for (auto it = wait.pending.begin(); it != wait.pending.end();) {
        auto entry = entries_.find(*it);
        if (entry == entries_.end() || Applied(entry->second, wait.revision)) {
          wait.pending.erase(it++);
        } else {
          ++it;
        }
      }
    }
    TakeSatisfied(&answers);
  }
  for (auto& [done, answer] : answers) done(std::move(answer));
}

void InstanceRegistry::Shutdown() {
  std::vector<std::pair<WaitDone, v1::WaitAppliedResponse>> answers;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, wait] : waits_) answers.emplace_back(std::move(wait.done), Answer(wait));
    waits_.clear();
  }
  for (auto& [done, answer] : answers) done(std::move(answer));
}

InstanceStats InstanceRegistry::Stats() const {
  InstanceStats stats;
  absl::MutexLock lock(&mu_);
  for (const auto& [handle, entry] : entries_) {
    if (!entry.connected) continue;
    ++stats.connected;
    ++stats.per_service[{entry.tenant, entry.named ? entry.named->info.service() : ""}];
    if (entry.instance_id.empty()) continue;
    ++stats.reporting;
    const std::optional<WatchHub::StreamPosition> at = hub_->Position(entry.stream.stream_id);
    if (!at.has_value() || !at->live || at->last_change_revision > entry.applied_revision) {
      ++stats.behind;
    }
    if (entry.named->self_check.state() == v1::SelfCheck::STATE_FAILING) {
      ++stats.self_check_failing;
    }
  }
  return stats;
}

}  // namespace confcenter
