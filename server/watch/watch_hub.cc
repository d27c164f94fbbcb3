#include "server/watch/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "confcenter/v1/watch.pb.h"
#include "server/core/api_convert.h"
#include "server/core/retry_advice.h"
#include "server/watch/view_at.h"
#include "spdlog/spdlog.h"
#include "storage/key_codec.h"

namespace confcenter {

using storage::Change;
using storage::ChangeSet;
using storage::EntryRecord;
using storage::TenantRecord;

namespace {

// Epochs are 32 hex digits (RocksDB) or that plus etcd's cluster id.
constexpr size_t kMaxEpochBytes = 128;

std::shared_ptr<const std::string> Serialize(const v1::SubscribeResponse& response) {
  return std::make_shared<const std::string>(response.SerializeAsString());
}

}  // namespace

// One subscriber stream.
struct WatchHub::Stream {
  uint64_t id = 0;
  WatchSink* sink = nullptr;
  std::string tenant;
  std::vector<std::string> services;  // sorted, unique; empty = all
  std::optional<int64_t> start_revision;
  int64_t min_revision = 0;  // for a snapshot without start_revision
  bool live = false;
  bool ended = false;
  int64_t last_revision = 0;         // the last revision the stream was sent
  int64_t last_change_revision = 0;  // the last revision of a SNAPSHOT or EVENTS it was sent
  // The store epoch start_revision is of: the state's when the stream was admitted. A resume
  // still pending when the store is replaced (a shared store reloaded in another epoch) is
  // resynced, never replayed.
  std::string epoch;
  TenantWatch* watch = nullptr;
  std::string caller;  // counted in streams_of_caller_ (if not empty)
  std::optional<InstanceIdentity> instance;
  // The tenant whose view it follows: `tenant`, or its gray tenant while the stream's
  // instance is in the gray audience. Its watch is this tenant's.
  std::string view_tenant;
};

// The streams of one tenant with the same service filter: they get the same bytes.
struct WatchHub::Topic {
  std::vector<Stream*> streams;
};

// Everything subscribed to one tenant.
struct WatchHub::TenantWatch {
  std::string tenant;
  std::vector<std::string> chain;                    // as of the last published revision
  std::map<std::vector<std::string>, Topic> topics;  // by service filter (empty = all)
  Interest interest;                                 // the union of the topics' filters

  void UpdateInterest() {
    interest = Interest();
    for (const auto& [services, topic] : topics) {
      if (services.empty()) interest.all = true;
      interest.services.insert(services.begin(), services.end());
    }
  }
};

namespace {

Interest InterestOf(const std::vector<std::string>& services) {
  Interest in;
  in.all = services.empty();
  in.services.insert(services.begin(), services.end());
  return in;
}

}  // namespace

WatchHub::WatchHub(storage::Store* store, WithState with_state, const WatchOptions& options,
                   Clock* clock)
    : store_(store),
      with_state_(std::move(with_state)),
      options_(options),
      clock_(clock),
      owned_metrics_(options.metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      metrics_(options.metrics != nullptr ? options.metrics : owned_metrics_.get()),
      stream_limiter_(options.stream_rate_per_caller, clock),
      log_burst_(SystemClock::Default(), options.log_burst_window) {
  // What the state holds at start counts as published: a stream's first snapshot carries it,
  // and an instance may report it applied before any commit of this process.
  with_state_([this](const ConfigState& state) {
    absl::MutexLock lock(&mu_);
    published_revision_ = state.revision();
  });
  catch_up_thread_ = std::thread([this] { CatchUpLoop(); });
  if (options_.progress_interval > absl::ZeroDuration()) {
    ticker_thread_ = std::thread([this] { TickerLoop(); });
  }
}

WatchHub::~WatchHub() {
  Shutdown();
  if (catch_up_thread_.joinable()) catch_up_thread_.join();
  if (ticker_thread_.joinable()) ticker_thread_.join();
}

void WatchHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  stopping_ = true;
  for (auto& [id, stream] : streams_) {
    if (!stream->ended) {
      EndStream(stream.get(),
                absl::UnavailableError(absl::StrCat(
                    "the server is shutting down; resubscribe with start_revision = the last "
                    "revision received (",
                    stream->last_revision, " was sent)")));
    }
  }
  DetachEnded();
}

absl::StatusOr<uint64_t> WatchHub::Subscribe(const SubscribeCommand& command, WatchSink* sink) {
  if (absl::Status s = ValidateTenantName("tenant", command.tenant); !s.ok()) return s;
  for (size_t i = 0; i < command.services.size(); ++i) {
    if (absl::Status s =
            ValidateServiceName(absl::StrCat("services[", i, "]"), command.services[i]);
        !s.ok()) {
      return s;
    }
  }
  if (command.start_revision && *command.start_revision < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_revision: ", *command.start_revision, " is negative"));
  }
  if (command.epoch.size() > kMaxEpochBytes) {
    return absl::InvalidArgumentError(absl::StrCat("epoch: ", command.epoch.size(),
                                                   " bytes; an epoch has at most ", kMaxEpochBytes,
                                                   " (send back the one received)"));
  }
  if (command.min_revision < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_revision: ", command.min_revision, " is negative"));
  }
  auto stream = std::make_unique<Stream>();
  stream->sink = sink;
  stream->tenant = command.tenant;
  stream->services = command.services;
  std::sort(stream->services.begin(), stream->services.end());
  stream->services.erase(std::unique(stream->services.begin(), stream->services.end()),
                         stream->services.end());
  stream->start_revision = command.start_revision;
  if (!command.start_revision) stream->min_revision = command.min_revision;
  stream->instance = command.instance;
  stream->view_tenant = command.tenant;

  absl::StatusOr<uint64_t> result;
  with_state_([&](const ConfigState& state) {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      result = absl::UnavailableError("the server is shutting down");
      return;
    }
    if (streams_.size() >= options_.max_streams) {
      result = absl::ResourceExhaustedError(absl::StrCat(
          "the server has ", streams_.size(),
          " open subscriptions (Subscribe streams and SubscribeViews views), the most it "
          "takes (--max_subscriptions); retry with backoff"));
      return;
    }
    if (state.FindTenant(command.tenant) == nullptr) {
      // A resume of a tenant deregistered since (also before a restart: the state keeps where
      // it fell back to) follows the parent it had; anything else is not found.
      auto former = state.former_parents().find(command.tenant);
      if (!command.start_revision || former == state.former_parents().end()) {
        result = TenantNotFoundError("tenant", command.tenant);
        return;
      }
      deleted_parents_.try_emplace(command.tenant, former->second);
    }
    if (absl::Status capped = AdmitCounted(command); !capped.ok()) {
      result = capped;
      return;
    }
    epoch_ = state.epoch();
    // A resume point of another epoch (the store was restored since) names another history:
    // replaying from it would look gap-free and be wrong.
    const bool other_epoch =
        command.start_revision && !command.epoch.empty() && command.epoch != state.epoch();
    Stream* s = stream.get();
    s->epoch = state.epoch();
    s->view_tenant =
        ViewAt(state, {}, deleted_parents_)
            .ViewTenant(s->tenant, s->instance ? &*s->instance : nullptr, state.revision());
    s->id = next_id_++;
    s->caller = command.caller;
    if (!s->caller.empty()) ++streams_of_caller_[s->caller];
    ++streams_of_tenant_[s->tenant];
    streams_[s->id] = std::move(stream);
    result = s->id;
    if (!other_epoch &&
        ((s->start_revision && *s->start_revision > state.revision() && store_->shared()) ||
         s->min_revision > state.revision())) {
      // Another replica committed it and this one has not applied it yet: wait for it rather
      // than resync (bounded by max_resume_wait).
      deferred_resumes_.emplace_back(s->id, absl::Now() + options_.max_resume_wait);
      deferred_added_ = true;
    } else if (other_epoch || !s->start_revision || *s->start_revision > state.revision()) {
      // A resume point of another epoch, or ahead of the server (a restored or replaced
      // store), cannot be replayed: the client gets the current view, marked resync.
      const bool resync = s->start_revision.has_value();
      if (SendSnapshot(s, state, resync)) RegisterLive(s, state);
    } else if (*s->start_revision == state.revision()) {
      if (SendCaughtUp(s, state.revision(), state.epoch())) RegisterLive(s, state);
    } else {
      pending_resumes_.push_back(s->id);  // the catch-up worker waits for this through mu_
    }
    DetachEnded();
  });
  return result;
}

void WatchHub::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Detach(it->second.get());  // the client went away: nothing more to send
  pending_resumes_.erase(std::remove(pending_resumes_.begin(), pending_resumes_.end(), id),
                         pending_resumes_.end());
  deferred_resumes_.erase(
      std::remove_if(deferred_resumes_.begin(), deferred_resumes_.end(),
                     [id](const std::pair<uint64_t, absl::Time>& d) { return d.first == id; }),
      deferred_resumes_.end());
  Uncount(*it->second);
  streams_.erase(it);
}

absl::Status WatchHub::AdmitCounted(const SubscribeCommand& command) {
  if (options_.max_streams_per_tenant > 0) {
    auto it = streams_of_tenant_.find(command.tenant);
    const size_t open = it == streams_of_tenant_.end() ? 0 : it->second;
    if (open >= options_.max_streams_per_tenant) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "tenant ", command.tenant, " has ", open,
          " open subscriptions, the most one tenant takes (--max_subscriptions_per_tenant)"));
    }
  }
  if (command.caller.empty()) return absl::OkStatus();
  if (options_.max_streams_per_caller > 0) {
    auto it = streams_of_caller_.find(command.caller);
    const size_t open = it == streams_of_caller_.end() ? 0 : it->second;
    if (open >= options_.max_streams_per_caller) {
      return absl::ResourceExhaustedError(absl::StrCat(
          command.caller, " has ", open,
          " open subscriptions, the most one caller takes (--max_subscriptions_per_caller): "
          "close some, or follow several views on one SubscribeViews stream"));
    }
  }
  if (std::optional<absl::Duration> wait = stream_limiter_.TryTake(command.caller)) {
    return WithRetryAdvice(
        absl::ResourceExhaustedError(absl::StrCat(
            command.caller, " opens subscriptions faster than --stream_rate_per_caller=",
            options_.stream_rate_per_caller.per_second,
            "/s (burst --stream_burst_per_caller=", options_.stream_rate_per_caller.burst, ")")),
        *wait);
  }
  return absl::OkStatus();
}

void WatchHub::Uncount(const Stream& stream) {
  auto drop = [](absl::flat_hash_map<std::string, size_t>& counts, const std::string& key) {
    auto it = counts.find(key);
    if (it != counts.end() && --it->second == 0) counts.erase(it);
  };
  if (!stream.caller.empty()) drop(streams_of_caller_, stream.caller);
  drop(streams_of_tenant_, stream.tenant);  // the subscribed tenant: a stream keeps it
}

void WatchHub::EndStream(Stream* stream, const absl::Status& status) {
  if (stream->ended) return;
  stream->ended = true;
  stream->live = false;
  stream->sink->End(status);
  // Detached later: callers may be iterating over the topic or watch it belongs to.
  ended_.push_back(stream->id);
}

void WatchHub::DetachEnded() {
  for (uint64_t id : ended_) {
    if (auto it = streams_.find(id); it != streams_.end()) Detach(it->second.get());
  }
  ended_.clear();
}

void WatchHub::Detach(Stream* stream) {
  stream->ended = true;
  stream->live = false;
  Unwatch(stream);
}

void WatchHub::Unwatch(Stream* stream) {
  TenantWatch* watch = stream->watch;
  if (watch == nullptr) return;
  stream->watch = nullptr;
  auto topic = watch->topics.find(stream->services);
  if (topic != watch->topics.end()) {
    auto& v = topic->second.streams;
    v.erase(std::remove(v.begin(), v.end(), stream), v.end());
    if (v.empty()) {
      watch->topics.erase(topic);
      watch->UpdateInterest();
    }
  }
  if (watch->topics.empty()) {
    for (const std::string& member : watch->chain) {
      auto m = by_chain_member_.find(member);
      if (m == by_chain_member_.end()) continue;
      m->second.erase(watch);
      if (m->second.empty()) by_chain_member_.erase(m);
    }
    watches_.erase(watch->tenant);
  }
}

bool WatchHub::SendTo(Stream* stream, const std::shared_ptr<const std::string>& message) {
  if (stream->ended) return false;
  if (stream->sink->Send(message)) return true;
  metrics_->SubscriberCutOff();
  const std::string tenant = stream->tenant;
  const size_t queued = options_.max_queued_messages;
  log_burst_.Add(
      absl::StrCat("cut-off of ", tenant), spdlog::level::warn,
      absl::StrCat("a subscriber of tenant ", tenant, " fell behind (", queued,
                   " messages queued) and was cut off; ",
                   stream->last_revision == 0
                       ? std::string("it had no complete snapshot yet and starts from one")
                       : absl::StrCat("it can resume from revision ", stream->last_revision)),
      stream->last_revision, [tenant, queued](const Burst& burst) {
        return absl::StrCat(burst.count, " subscribers of tenant ", tenant, " fell behind (",
                            queued, " messages queued) and were cut off within ",
                            absl::FormatDuration(burst.last - burst.first), "; ",
                            burst.max_number == 0
                                ? std::string("none had a complete snapshot yet; they start "
                                              "from one")
                            : burst.min_number == burst.max_number
                                ? absl::StrCat("they can resume from revision ", burst.min_number)
                                : absl::StrCat("they can resume from revisions ", burst.min_number,
                                               "-", burst.max_number, " (0: from a snapshot)"));
      });
  EndStream(stream, absl::ResourceExhaustedError(absl::StrCat(
                        "the subscriber fell behind: ", options_.max_queued_messages,
                        " messages are queued (--watch_queue_messages); resubscribe with "
                        "start_revision = the last revision received")));
  return false;
}

bool WatchHub::SendSnapshot(Stream* stream, const ConfigState& state, bool resync) {
  if (resync) metrics_->Resync();
  ViewAt view(state, {}, deleted_parents_);
  stream->view_tenant = view.ViewTenant(
      stream->tenant, stream->instance ? &*stream->instance : nullptr, state.revision());
  std::vector<std::string> chain = view.Chain(stream->view_tenant, state.revision());
  std::vector<ResolvedEntry> entries =
      state.Resolve(chain, stream->services.empty() ? state.ServicesOf(chain) : stream->services);
  size_t next = 0;
  do {
    v1::SubscribeResponse message;
    message.set_kind(v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT);
    message.set_revision(state.revision());
    message.set_epoch(state.epoch());
    message.set_resync(resync);
    const size_t end = std::min(entries.size(), next + options_.snapshot_chunk_entries);
    for (; next < end; ++next) {
      v1::ResolvedEntry* entry = message.add_entries();
      MoveToProto(std::move(entries[next]), entry);
      if (IsGrayTenant(entry->source_tenant())) {  // the instance sees the gray release
        const TenantState* gray = state.FindTenant(entry->source_tenant());
        entry->set_gray_release_id(gray != nullptr ? gray->record.create_revision() : 0);
        entry->set_source_tenant(GrayBase(entry->source_tenant()));
      }
    }
    message.set_snapshot_last(next == entries.size());
    if (!SendTo(stream, Serialize(message))) return false;
  } while (next < entries.size());
  stream->last_revision = state.revision();
  stream->last_change_revision = state.revision();
  stream->epoch = state.epoch();
  return true;
}

bool WatchHub::SendCaughtUp(Stream* stream, int64_t revision, const std::string& epoch) {
  v1::SubscribeResponse message;
  message.set_kind(v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS);
  message.set_revision(revision);
  message.set_epoch(epoch);
  if (!SendTo(stream, Serialize(message))) return false;
  stream->last_revision = revision;
  return true;
}

void WatchHub::RegisterLive(Stream* stream, const ConfigState& state) {
  Watch(stream, state);
  stream->live = true;
  stream->last_revision = std::max(stream->last_revision, state.revision());
}

void WatchHub::Watch(Stream* stream, const ConfigState& state) {
  auto [it, created] = watches_.try_emplace(stream->view_tenant);
  if (created) {
    it->second = std::make_unique<TenantWatch>();
    it->second->tenant = stream->view_tenant;
    it->second->chain =
        ViewAt(state, {}, deleted_parents_).Chain(stream->view_tenant, state.revision());
    for (const std::string& member : it->second->chain) {
      by_chain_member_[member].insert(it->second.get());
    }
  }
  stream->watch = it->second.get();
  auto [topic, new_topic] = stream->watch->topics.try_emplace(stream->services);
  topic->second.streams.push_back(stream);
  if (new_topic) stream->watch->UpdateInterest();
}

void WatchHub::RetargetGray(const std::string& tenant, const TenantRecord& gray,
                            const ConfigState& state) {
  const std::string gray_name = GrayTenantOf(tenant);
  std::vector<Stream*> streams;
  for (const std::string& name : {tenant, gray_name}) {
    auto w = watches_.find(name);
    if (w == watches_.end()) continue;
    for (auto& [services, topic] : w->second->topics) {
      streams.insert(streams.end(), topic.streams.begin(), topic.streams.end());
    }
  }
  for (Stream* stream : streams) {
    if (stream->ended || stream->tenant != tenant) continue;
    const bool in =
        stream->instance && InGrayAudience(gray.gray().audience(), tenant, *stream->instance);
    const std::string& target = in ? gray_name : tenant;
    if (stream->view_tenant == target) continue;
    Unwatch(stream);
    stream->view_tenant = target;
    Watch(stream, state);
  }
}

void WatchHub::ReindexChains(const ConfigState& state) {
  by_chain_member_.clear();
  ViewAt view(state, {}, deleted_parents_);
  for (auto& [tenant, watch] : watches_) {
    watch->chain = view.Chain(tenant, state.revision());
    for (const std::string& member : watch->chain) by_chain_member_[member].insert(watch.get());
  }
}

void WatchHub::SetSendBurstListener(SendBurstListener* listener) {
  burst_listener_.store(listener);
}

namespace {
// Tells the listener, if any, of a burst of Sends for as long as it lives.
class SendBurst {
 public:
  explicit SendBurst(SendBurstListener* listener) : listener_(listener) {
    if (listener_ != nullptr) listener_->BurstBegins();
  }
  ~SendBurst() {
    if (listener_ != nullptr) listener_->BurstEnds();
  }
  SendBurst(const SendBurst&) = delete;
  SendBurst& operator=(const SendBurst&) = delete;

 private:
  SendBurstListener* const listener_;
};
}  // namespace

void WatchHub::Reloaded(const ConfigState& state) {
  SendBurst burst(burst_listener_.load());
  absl::MutexLock lock(&mu_);
  published_revision_ = state.revision();
  epoch_ = state.epoch();  // changed if the shared store was restored
  PromoteDeferred(absl::InfinitePast());
  ReindexChains(state);
  for (auto& [id, stream] : streams_) {
    if (!stream->live || stream->ended) continue;
    const std::string view_tenant = stream->view_tenant;
    if (!SendSnapshot(stream.get(), state, /*resync=*/true)) continue;  // overflowed: ended
    if (stream->view_tenant != view_tenant) {  // a gray release began or ended meanwhile
      Unwatch(stream.get());
      Watch(stream.get(), state);
    }
  }
  DetachEnded();
}

void WatchHub::Publish(const std::vector<ChangeSet>& change_sets, const ConfigState& state,
                       absl::Time durable_at) {
  if (change_sets.empty()) return;
  PublishToStreams(change_sets, state, durable_at);
  if (publish_listener_) publish_listener_(change_sets.back().revision());
}

std::optional<WatchHub::StreamPosition> WatchHub::Position(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second->ended) return std::nullopt;
  StreamPosition position;
  position.live = it->second->live;
  position.last_change_revision = it->second->last_change_revision;
  position.published_revision = published_revision_;
  return position;
}

int64_t WatchHub::published_revision() const {
  absl::MutexLock lock(&mu_);
  return published_revision_;
}

void WatchHub::SetPublishListener(std::function<void(int64_t)> listener) {
  publish_listener_ = std::move(listener);
}

void WatchHub::PublishToStreams(const std::vector<ChangeSet>& change_sets, const ConfigState& state,
                                absl::Time durable_at) {
  SendBurst burst(burst_listener_.load());  // ends after the lock below is released
  absl::MutexLock lock(&mu_);
  int64_t events_delivered = 0;
  const int64_t last = change_sets.back().revision();
  for (const ChangeSet& set : change_sets) {
    for (const Change& c : set.changes()) {
      if (c.type() == Change::TENANT_DELETE) {
        deleted_parents_[c.tenant()] = c.previous_tenant().parent();
      }
    }
  }
  if (watches_.empty()) {
    published_revision_ = last;
    PromoteDeferred(absl::InfinitePast());
    PromoteDeferred(absl::InfinitePast());
    return;
  }
  ViewAt view(state, change_sets, deleted_parents_);
  bool tenants_changed = false;
  for (const ChangeSet& set : change_sets) {
    const int64_t r = set.revision();
    for (const Change& c : set.changes()) {
      if (c.type() == Change::TENANT_PUT && !c.had_previous() && IsGrayTenant(c.tenant())) {
        RetargetGray(GrayBase(c.tenant()), c.tenant_record(), state);
      }
    }
    absl::flat_hash_set<TenantWatch*> candidates;
    // Tenants that inherit the same change usually get byte-identical messages: one copy
    // each, so that a SubscribeViews stream holding views of several of them gets it once.
    absl::flat_hash_map<absl::string_view, std::shared_ptr<const std::string>> distinct;
    for (const Change& c : set.changes()) {
      if (auto m = by_chain_member_.find(c.tenant()); m != by_chain_member_.end()) {
        for (TenantWatch* watch : m->second) {
          if (!IsEntryChange(c) || watch->interest.Has(c.service())) candidates.insert(watch);
        }
      }
      if (!IsEntryChange(c)) {
        tenants_changed = true;
        if (auto w = watches_.find(c.tenant()); w != watches_.end()) {
          candidates.insert(w->second.get());
        }
      }
    }
    for (TenantWatch* watch : candidates) {
      std::vector<v1::WatchEvent> events = view.Events(set, watch->tenant, watch->interest);
      if (events.empty()) continue;
      // One message per service filter, shared by every stream with that filter.
      std::vector<Stream*> targets;
      for (auto& [services, topic] : watch->topics) {
        v1::SubscribeResponse message;
        message.set_kind(v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
        message.set_revision(r);
        for (const v1::WatchEvent& e : events) {
          if (services.empty() ||
              std::binary_search(services.begin(), services.end(), e.service())) {
            *message.add_events() = e;
          }
        }
        if (message.events_size() == 0) continue;
        std::shared_ptr<const std::string> bytes = Serialize(message);
        bytes = distinct.try_emplace(absl::string_view(*bytes), bytes).first->second;
        targets = topic.streams;  // SendTo may end a stream and edit topic.streams
        for (Stream* stream : targets) {
          if (stream->last_revision >= r) continue;  // its snapshot or replay covered r
          if (SendTo(stream, bytes)) {
            stream->last_revision = r;
            stream->last_change_revision = r;
            events_delivered += message.events_size();
          }
        }
      }
    }
  }
  published_revision_ = last;
  PromoteDeferred(absl::InfinitePast());
  DetachEnded();
  if (tenants_changed) ReindexChains(state);
  metrics_->FanoutDone(absl::Now() - durable_at, events_delivered);
}

std::vector<std::pair<std::string, int64_t>> WatchHub::SubscribersPerTenant() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int64_t> per_tenant;  // a gray tenant's streams count for its tenant
  for (const auto& [tenant, watch] : watches_) {
    int64_t& streams = per_tenant[GrayBase(tenant)];
    for (const auto& [services, topic] : watch->topics) streams += topic.streams.size();
  }
  return {per_tenant.begin(), per_tenant.end()};
}

void WatchHub::SendProgress() {
  SendBurst burst(burst_listener_.load());
  absl::MutexLock lock(&mu_);
  v1::SubscribeResponse message;
  message.set_kind(v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS);
  message.set_revision(published_revision_);
  message.set_epoch(epoch_);
  std::shared_ptr<const std::string> bytes = Serialize(message);
  std::vector<Stream*> live;
  for (auto& [id, stream] : streams_) {
    if (stream->live && !stream->ended && stream->last_revision <= published_revision_) {
      live.push_back(stream.get());
    }
  }
  for (Stream* stream : live) {
    if (SendTo(stream, bytes)) stream->last_revision = published_revision_;
  }
  DetachEnded();
}

absl::Status WatchHub::CompactLog() {
  const int64_t head = store_->CurrentRevision();
  const int64_t keep_from = head - options_.log_retention_revisions;
  if (keep_from <= 1) return absl::OkStatus();
  absl::StatusOr<int64_t> oldest = store_->OldestChange();
  if (!oldest.ok()) return oldest.status();
  if (*oldest == 0 || *oldest >= keep_from) return absl::OkStatus();
  const int64_t age_cutoff = absl::ToUnixMicros(clock_->Now() - options_.log_retention_age);
  int64_t compact_before = *oldest;
  constexpr int kMaxScan = 100'000;  // per call; the next tick goes on
  int scanned = 0;
  absl::Status read = store_->ReadChanges(*oldest - 1, [&](const ChangeSet& set) {
    if (set.revision() >= keep_from || set.commit_time_micros() > age_cutoff) return false;
    compact_before = set.revision() + 1;
    return ++scanned < kMaxScan;
  });
  if (!read.ok()) return read;
  if (compact_before <= *oldest) return absl::OkStatus();
  spdlog::info("compacting the change log before revision {}", compact_before);
  return store_->CompactChangesBefore(compact_before);
}

void WatchHub::TickerLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.progress_interval);
    if (stopping_) break;
    mu_.Unlock();
    SendProgress();
    if (absl::Status s = CompactLog(); !s.ok()) {
      spdlog::warn("change-log compaction failed: {}", s.ToString());
    }
    mu_.Lock();
  }
}

void WatchHub::PromoteDeferred(absl::Time now) {
  auto keep = deferred_resumes_.begin();
  for (auto it = deferred_resumes_.begin(); it != deferred_resumes_.end(); ++it) {
    auto stream = streams_.find(it->first);
    if (stream == streams_.end() || stream->second->ended) continue;
    const int64_t awaited = stream->second->start_revision ? *stream->second->start_revision
                                                           : stream->second->min_revision;
    if (awaited <= published_revision_ || it->second <= now) {
      pending_resumes_.push_back(it->first);  // CatchUp resyncs it if still ahead
    } else {
      *keep++ = *it;
    }
  }
  deferred_resumes_.erase(keep, deferred_resumes_.end());
}

void WatchHub::CatchUpLoop() {
  while (true) {
    std::vector<uint64_t> ids;
    {
      absl::MutexLock lock(&mu_);
      absl::Time wake = absl::InfiniteFuture();
      for (const auto& [id, deadline] : deferred_resumes_) wake = std::min(wake, deadline);
      deferred_added_ = false;
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](WatchHub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->mu_) {
                                  return hub->stopping_ || !hub->pending_resumes_.empty() ||
                                         hub->deferred_added_;
                                },
                                this),
                            wake);
      if (stopping_) return;
      PromoteDeferred(absl::Now());
      if (pending_resumes_.empty()) continue;
      ids = pending_resumes_;  // they stay pending (and unsubscribable) until served
    }
    CatchUp(std::move(ids));
  }
}

void WatchHub::CatchUp(std::vector<uint64_t> ids) {
  // 1. Without locks: read the change log once, from the oldest resume point.
  int64_t from = INT64_MAX;
  std::string read_in_epoch;  // a reload into another epoch meanwhile voids what is read
  {
    absl::MutexLock lock(&mu_);
    read_in_epoch = epoch_;
    for (uint64_t id : ids) {
      if (auto it = streams_.find(id); it != streams_.end() && it->second->start_revision) {
        from = std::min(from, *it->second->start_revision);
      }
    }
  }
  if (from == INT64_MAX) from = store_->CurrentRevision();
  // Replays reach back at most max_replay_revisions: older resume points get a resync, so a
  // client that was away for long cannot make the server load the whole log.
  from = std::max(from, store_->CurrentRevision() - options_.max_replay_revisions);
  std::vector<ChangeSet> log;
  auto append = [&log](const ChangeSet& set) {
    log.push_back(set);
    return true;
  };
  absl::Status read = store_->ReadChanges(from, append);
  if (absl::IsOutOfRange(read)) {  // compacted: replay what is kept, resync the older ones
    log.clear();
    absl::StatusOr<int64_t> oldest = store_->OldestChange();
    from = oldest.ok() && *oldest > 0 ? *oldest - 1 : store_->CurrentRevision();
    read = store_->ReadChanges(from, append);
  }
  if (!read.ok()) {
    spdlog::error("watch replay cannot read the change log: {}", read.ToString());
    log.clear();
    from = INT64_MAX;  // everyone gets a resync snapshot
  }

  // 2. Under the state lock and the hub lock: top the log up to the state's revision, then
  // replay and go live, so nothing falls between the replay and the live events.
  with_state_([&](const ConfigState& state) {
    const int64_t head = state.revision();
    if (state.epoch() != read_in_epoch) {
      log.clear();
      from = INT64_MAX;  // everyone gets a resync snapshot
    }
    if (from != INT64_MAX) {
      const int64_t have = log.empty() ? from : log.back().revision();
      if (have < head) {
        absl::Status more = store_->ReadChanges(have, [&](const ChangeSet& set) {
          if (set.revision() > head) return false;
          log.push_back(set);
          return true;
        });
        if (!more.ok()) {
          log.clear();
          from = INT64_MAX;
        }
      }
    }
    // The store may hold revisions the state has not applied yet: the view must end at head.
    while (!log.empty() && log.back().revision() > head) log.pop_back();
    absl::MutexLock lock(&mu_);
    for (const ChangeSet& set : log) {  // Publish may not have seen these deletions yet
      for (const Change& c : set.changes()) {
        if (c.type() == Change::TENANT_DELETE) {
          deleted_parents_[c.tenant()] = c.previous_tenant().parent();
        }
      }
    }
    ViewAt view(state, log, deleted_parents_);
    for (uint64_t id : ids) {
      auto it = streams_.find(id);
      pending_resumes_.erase(std::remove(pending_resumes_.begin(), pending_resumes_.end(), id),
                             pending_resumes_.end());
      if (it == streams_.end() || it->second->ended) continue;
      Stream* stream = it->second.get();
      if (!stream->start_revision) {  // a snapshot that waited for its min_revision
        if (state.revision() < stream->min_revision) {
          EndStream(stream, absl::UnavailableError(absl::StrCat(
                                "this replica is at revision ", state.revision(),
                                ", behind the requested min_revision ", stream->min_revision,
                                "; retry, or use another replica")));
        } else if (SendSnapshot(stream, state, /*resync=*/false)) {
          RegisterLive(stream, state);
        }
        continue;
      }
      const int64_t start = *stream->start_revision;
      std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> replay;
      // Behind the oldest revision replayed, ahead of this replica (a deferred resume whose
      // wait ran out), or of an epoch the store has left: the current view, marked resync.
      bool resync = start < from || start > head || stream->epoch != state.epoch();
      const Interest interest = InterestOf(stream->services);
      for (const ChangeSet& set : log) {
        if (resync) break;
        if (set.revision() <= start) continue;
        std::vector<v1::WatchEvent> events = view.Events(
            set, stream->tenant, interest, stream->instance ? &*stream->instance : nullptr);
        if (events.empty()) continue;
        if (replay.size() == options_.max_queued_messages) {
          resync = true;  // too long to replay within the queue bound
          break;
        }
        v1::SubscribeResponse message;
        message.set_kind(v1::SUBSCRIBE_RESPONSE_KIND_EVENTS);
        message.set_revision(set.revision());
        for (v1::WatchEvent& e : events) *message.add_events() = std::move(e);
        replay.emplace_back(set.revision(), Serialize(message));
      }
      if (resync) {
        if (!SendSnapshot(stream, state, /*resync=*/true)) continue;
      } else {
        bool sent = true;
        for (const auto& [revision, bytes] : replay) {
          if (!(sent = SendTo(stream, bytes))) break;
          stream->last_change_revision = revision;
        }
        if (!sent || !SendCaughtUp(stream, head, state.epoch())) continue;
        stream->view_tenant =
            view.ViewTenant(stream->tenant, stream->instance ? &*stream->instance : nullptr, head);
      }
      RegisterLive(stream, state);
    }
    DetachEnded();
  });
}

}  // namespace confcenter
