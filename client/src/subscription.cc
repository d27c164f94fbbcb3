#include "confcenter/subscription.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/src/call_metadata.h"
#include "client/src/reconnect.h"
#include "confcenter/client.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"

namespace confcenter {
namespace {

using View = std::map<std::pair<std::string, std::string>, ConfigValue>;

bool SameValue(const ConfigValue& a, const ConfigValue& b) {
  return a.value == b.value && a.content_type == b.content_type &&
         a.source_tenant == b.source_tenant && a.revision == b.revision &&
         a.gray_release_id == b.gray_release_id;
}

// The changes that turn `before` into `after`.
std::vector<ConfigChange> Diff(const View& before, const View& after, int64_t revision) {
  std::vector<ConfigChange> changes;
  for (const auto& [key, value] : before) {
    auto it = after.find(key);
    if (it == after.end()) {
      changes.push_back({key.first, key.second, value, std::nullopt, revision});
    } else if (!SameValue(value, it->second)) {
      changes.push_back({key.first, key.second, value, it->second, revision});
    }
  }
  for (const auto& [key, value] : after) {
    if (!before.count(key))
      changes.push_back({key.first, key.second, std::nullopt, value, revision});
  }
  return changes;
}

// The instance this process reports as (SubscriptionOptions::instance).
v1::InstanceInfo MakeInstanceInfo(const SubscriptionOptions& options) {
  v1::InstanceInfo info;
  const char* pod = std::getenv("POD_NAME");
  const char* pod_namespace = std::getenv("POD_NAMESPACE");
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  info.set_host(host);
  if (pod != nullptr) info.set_pod(pod);
  if (pod_namespace != nullptr) info.set_namespace_(pod_namespace);
  std::string id = options.instance.id;
  if (id.empty()) {
    std::mt19937_64 rng(std::random_device{}());
    id = absl::StrCat(pod != nullptr && *pod != '\0' ? pod : host, ":", getpid(), ":",
                      absl::Hex(rng() & 0xffffffffu, absl::kZeroPad8));
    // Only the id's alphabet ([A-Za-z0-9_.:-]); a host name may hold others.
    for (char& c : id) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
          c != '-') {
        c = '-';
      }
    }
  }
  info.set_instance_id(id);
  info.set_service(!options.instance.service.empty() ? options.instance.service
                   : options.services.empty()        ? std::string()
                                                     : options.services.front());
  for (const auto& [key, value] : options.instance.labels) (*info.mutable_labels())[key] = value;
  info.set_library("confcenter-cpp/" CONFCENTER_CLIENT_VERSION);
  static const absl::Time process_start = absl::Now();
  *info.mutable_start_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(process_start));
  return info;
}

}  // namespace

std::unique_ptr<Subscription> Subscription::Start(std::shared_ptr<grpc::Channel> channel,
                                                  SubscriptionOptions options) {
  std::unique_ptr<Subscription> sub(new Subscription(std::move(channel), std::move(options)));
  sub->LoadCache();
  sub->thread_ = std::thread([s = sub.get()] { s->Run(); });
  if (sub->options_.instance.enabled) {
    sub->report_thread_ = std::thread([s = sub.get()] { s->ReportLoop(); });
  }
  return sub;
}

Subscription::Subscription(std::shared_ptr<grpc::Channel> channel, SubscriptionOptions options)
    : options_(std::move(options)),
      channel_(channel),
      stub_(v1::WatchService::NewStub(channel)),
      instances_(v1::InstanceService::NewStub(channel)),
      instance_info_(MakeInstanceInfo(options_)),
      token_(options_.credentials) {}

Subscription::~Subscription() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->TryCancel();
    if (active_report_ != nullptr) active_report_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (report_thread_.joinable()) report_thread_.join();
}

void Subscription::CheckNow() {
  absl::MutexLock lock(&mu_);
  check_due_ = true;
}

int64_t Subscription::reported_revision() const {
  absl::MutexLock lock(&mu_);
  return reported_revision_;
}

void Subscription::ReportLoop() {
  const bool checks = static_cast<bool>(options_.self_check);
  absl::Time next_check = absl::Now();  // the first self-check at start
  bool disabled = false;                // the server has no InstanceService
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // Something to send once the stream is open: a newly applied revision or a self-check.
    // With self-checks, wake for the next one too.
    mu_.AwaitWithDeadline(
        absl::Condition(
            +[](Subscription* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
              return s->stopping_ ||
                     (s->stream_open_ && (s->notified_revision_ != s->reported_revision_ ||
                                          s->check_due_ || s->report_due_));
            },
            this),
        checks && stream_open_ ? next_check : absl::InfiniteFuture());
    if (stopping_) return;
    if (!stream_open_ || disabled) continue;
    if (checks && absl::Now() >= next_check) check_due_ = true;
    if (notified_revision_ == reported_revision_ && !check_due_ && !report_due_) continue;
    report_due_ = false;
    const bool run_check = checks && check_due_;
    check_due_ = false;
    const int64_t applied = notified_revision_;
    mu_.Unlock();
    v1::SelfCheck check;
    if (run_check) {
      const absl::Status health = options_.self_check();
      check.set_state(health.ok() ? v1::SelfCheck::STATE_OK : v1::SelfCheck::STATE_FAILING);
      check.set_message(std::string(health.message().substr(0, 1024)));
      *check.mutable_time() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
      next_check = absl::Now() + options_.self_check_interval;
    }
    v1::ReportInstanceRequest request;
    request.set_instance_id(instance_info_.instance_id());
    request.set_tenant(options_.tenant);
    request.set_applied_revision(applied);
    if (run_check) *request.mutable_self_check() = check;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    absl::Status status = internal::AddCallMetadata(&ctx, options_.user, token_);
    bool stop = false;
    {
      absl::MutexLock report_lock(&mu_);
      stop = stopping_;
      // The destructor cancels it rather than wait for a hung server.
      if (!stop) active_report_ = &ctx;
    }
    if (stop) {
      mu_.Lock();  // held again, as the function's lock expects on return
      return;
    }
    v1::ReportInstanceResponse response;
    if (status.ok()) status = FromGrpcStatus(instances_->ReportInstance(&ctx, request, &response));
    mu_.Lock();
    active_report_ = nullptr;
    if (status.ok()) {
      reported_revision_ = applied;
      // Coalesce what arrives meanwhile into the next report (see report_interval).
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.report_interval);
    } else if (absl::IsUnimplemented(status)) {
      disabled = true;  // an older server: it lists the stream without reports
    } else {
      // E.g. the stream moved to another replica that has not listed it yet: try again soon
      // (a self-check that was run is sent again with the next report).
      if (run_check) check_due_ = true;
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
    }
  }
}

void Subscription::Run() {
  absl::Duration backoff = options_.initial_backoff;
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  while (true) {
    grpc::ClientContext ctx;
    const absl::Status prepared = internal::AddCallMetadata(&ctx, options_.user, token_);
    v1::SubscribeRequest request;
    request.set_tenant(options_.tenant);
    for (const std::string& s : options_.services) request.add_services(s);
    if (options_.instance.enabled) *request.mutable_instance() = instance_info_;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (has_view_ && !restart_with_snapshot_) {
        // Resume: nothing missed, or a resync if the store was restored since.
        request.set_start_revision(revision_);
        request.set_epoch(epoch_);
      }
      restart_with_snapshot_ = false;
      incoming_.clear();
      caught_up_ = false;
      active_ = &ctx;
    }
    // Without the token, no call: the attempt fails as the server would have failed it.
    std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
        prepared.ok() ? stub_->Subscribe(&ctx, request) : nullptr;
    v1::SubscribeResponse message;
    while (reader != nullptr && reader->Read(&message)) {
      std::vector<ConfigChange> changes;
      const bool new_epoch = Apply(message, &changes);
      {
        absl::MutexLock lock(&mu_);
        if (restart_with_snapshot_) {
          ctx.TryCancel();
          break;
        }
      }
      backoff = options_.initial_backoff;  // the server answered
      if (!changes.empty() || new_epoch) {
        SaveCache();
        Notify(changes, message.revision());
      }
      absl::MutexLock lock(&mu_);
      notified_revision_ = revision_;  // callbacks for it have run: waiters may go on
      stream_open_ = true;             // the server lists this stream's instance
      if (!changes.empty()) check_due_ = static_cast<bool>(options_.self_check);
    }
    absl::Status status = reader != nullptr ? FromGrpcStatus(reader->Finish()) : prepared;
    absl::Duration wait;
    bool watch_connection = false;
    {
      absl::MutexLock lock(&mu_);
      active_ = nullptr;
      stream_open_ = false;
      // The next stream may be on a restarted server or another replica, which has not heard
      // what this instance applied: report it again.
      report_due_ = true;
      stale_ = true;
      last_error_ = status.ok() ? absl::UnavailableError("the stream ended") : status;
      if (stopping_) return;
      // A missing tenant, a bad request or missing rights will not heal by themselves soon:
      // retry slowly.
      const bool slow = absl::IsNotFound(status) || absl::IsInvalidArgument(status) ||
                        absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status);
      wait = slow ? options_.max_backoff : backoff;
      wait *= jitter(rng);
      // After a lost connection, a new one (maybe to the next replica) ends the wait early.
      watch_connection = !slow && absl::IsUnavailable(status);
      if (!watch_connection) {
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
        if (stopping_) return;
      }
    }
    if (watch_connection &&
        internal::WaitForReconnect(channel_.get(), absl::Now() + wait,
                                   /*lost=*/internal::IsConnectFailure(status), [this] {
                                     absl::MutexLock lock(&mu_);
                                     return stopping_;
                                   })) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool Subscription::Apply(const v1::SubscribeResponse& message, std::vector<ConfigChange>* changes) {
  absl::MutexLock lock(&mu_);
  bool new_epoch = false;
  if (!message.epoch().empty() && message.epoch() != epoch_) {
    if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS && !epoch_.empty()) {
      // Progress of another history than the view's: the view cannot be carried on from
      // here. Start again from a snapshot (the server resyncs a resume of another epoch
      // itself; this guards against one that did not).
      restart_with_snapshot_ = true;
      return false;
    }
    if (message.kind() == v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS || message.snapshot_last()) {
      epoch_ = message.epoch();  // with the revision it names, below
      new_epoch = true;
    }
  }
  switch (message.kind()) {
    case v1::SUBSCRIBE_RESPONSE_KIND_SNAPSHOT:
      for (const v1::ResolvedEntry& e : message.entries()) {
        incoming_[{e.service(), e.key()}] = ConfigValue{
            e.value(), e.content_type(), e.source_tenant(), e.revision(), e.gray_release_id()};
      }
      if (!message.snapshot_last()) return false;
      *changes = Diff(view_, incoming_, message.revision());
      view_ = std::move(incoming_);
      incoming_.clear();
      revision_ = message.revision();
      has_view_ = true;
      caught_up_ = true;
      break;
    case v1::SUBSCRIBE_RESPONSE_KIND_EVENTS:
      for (const v1::WatchEvent& e : message.events()) {
        std::pair<std::string, std::string> key{e.service(), e.key()};
        ConfigChange change{e.service(), e.key(), std::nullopt, std::nullopt, message.revision()};
        if (auto it = view_.find(key); it != view_.end()) change.old_value = it->second;
        if (e.type() == v1::WatchEvent::TYPE_PUT) {
          change.new_value = ConfigValue{e.value(), e.content_type(), e.source_tenant(),
                                         e.entry_revision(), e.gray_release_id()};
          view_[key] = *change.new_value;
        } else {
          view_.erase(key);
        }
        changes->push_back(std::move(change));
      }
      revision_ = message.revision();
      has_view_ = true;
      break;
    case v1::SUBSCRIBE_RESPONSE_KIND_PROGRESS:
      revision_ = std::max(revision_, message.revision());
      if (!has_view_) return new_epoch;  // progress before any view says nothing about it
      caught_up_ = true;                 // a resumed stream has replayed everything: it is live
      break;
    default:
      return false;
  }
  stale_ = !caught_up_;
  last_error_ = absl::OkStatus();
  return new_epoch;
}

void Subscription::Notify(const std::vector<ConfigChange>& changes, int64_t revision) {
  absl::MutexLock lock(&callbacks_mu_);
  for (const ConfigChange& change : changes) {
    for (const auto& [id, w] : watchers_) {
      if (!w.service.empty() && w.service != change.service) continue;
      const bool match =
          w.prefix ? change.key.compare(0, w.key.size(), w.key) == 0 : change.key == w.key;
      if (match) w.callback(change);
    }
  }
  if (changes.empty()) return;
  if (options_.on_changes) options_.on_changes(changes, revision);
  for (const auto& [id, callback] : batch_watchers_) callback(changes, revision);
}

void Subscription::LoadCache() {
  if (options_.cache_file.empty()) return;
  try {
    LoadCacheOrThrow();
  } catch (const nlohmann::json::exception&) {
    // A damaged or foreign file: start without it, as if there were none.
  }
}

void Subscription::LoadCacheOrThrow() {
  std::ifstream in(options_.cache_file);
  if (!in) return;
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return;
  if (doc.value("tenant", "") != options_.tenant ||
      doc.value("services", std::vector<std::string>{}) != options_.services) {
    return;  // written for another subscription
  }
  View view;
  for (const auto& e : doc.value("entries", nlohmann::json::array())) {
    view[{e.value("service", ""), e.value("key", "")}] =
        ConfigValue{e.value("value", ""), static_cast<v1::ContentType>(e.value("content_type", 1)),
                    e.value("source_tenant", ""), e.value("revision", int64_t{0}),
                    e.value("gray_release_id", int64_t{0})};
  }
  absl::MutexLock lock(&mu_);
  view_ = std::move(view);
  revision_ = doc.value("revision", int64_t{0});
  epoch_ = doc.value("epoch", "");
  has_view_ = true;
  stale_ = true;
}

void Subscription::SaveCache() {
  if (options_.cache_file.empty()) return;
  nlohmann::json doc;
  {
    absl::MutexLock lock(&mu_);
    if (!has_view_) return;  // a revision without its view is no resume point
    doc["tenant"] = options_.tenant;
    doc["services"] = options_.services;
    doc["revision"] = revision_;
    doc["epoch"] = epoch_;
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [key, v] : view_) {
      entries.push_back({{"service", key.first},
                         {"key", key.second},
                         {"value", v.value},
                         {"content_type", static_cast<int>(v.content_type)},
                         {"source_tenant", v.source_tenant},
                         {"gray_release_id", v.gray_release_id},
                         {"revision", v.revision}});
    }
    doc["entries"] = std::move(entries);
  }
  // Write beside the file, sync, and rename over it: after a crash or power loss the file is
  // the old one or the new one, whole.
  const std::string tmp = absl::StrCat(options_.cache_file, ".tmp.", getpid());
  const std::string data = doc.dump(2) + "\n";
  // Owner-only (the view may hold secrets); fchmod too, for a leftover temp file of another
  // mode.
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = fchmod(fd, 0600) == 0 &&
            write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, options_.cache_file, ec);
  if (!ok || ec) std::filesystem::remove(tmp, ec);
}

std::optional<ConfigValue> Subscription::Get(const std::string& service,
                                             const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = view_.find({service, key});
  if (it == view_.end()) return std::nullopt;
  return it->second;
}

std::string Subscription::GetString(const std::string& service, const std::string& key,
                                    const std::string& fallback) const {
  std::optional<ConfigValue> v = Get(service, key);
  return v ? v->value : fallback;
}

std::optional<std::string> Subscription::Endpoint(const std::string& service,
                                                  const std::string& endpoint) const {
  std::optional<ConfigValue> v = Get(service, "_endpoint." + endpoint);
  if (!v) return std::nullopt;
  return v->value;
}

int64_t Subscription::GetInt(const std::string& service, const std::string& key,
                             int64_t fallback) const {
  std::optional<ConfigValue> v = Get(service, key);
  int64_t out = 0;
  return v && absl::SimpleAtoi(v->value, &out) ? out : fallback;
}

double Subscription::GetDouble(const std::string& service, const std::string& key,
                               double fallback) const {
  std::optional<ConfigValue> v = Get(service, key);
  double out = 0;
  return v && absl::SimpleAtod(v->value, &out) ? out : fallback;
}

bool Subscription::GetBool(const std::string& service, const std::string& key,
                           bool fallback) const {
  std::optional<ConfigValue> v = Get(service, key);
  if (!v) return fallback;
  const std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v->value));
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return fallback;
}

absl::Duration Subscription::GetDuration(const std::string& service, const std::string& key,
                                         absl::Duration fallback) const {
  std::optional<ConfigValue> v = Get(service, key);
  absl::Duration out;
  return v && absl::ParseDuration(std::string(absl::StripAsciiWhitespace(v->value)), &out)
             ? out
             : fallback;
}

std::string Subscription::GetJson(const std::string& service, const std::string& key,
                                  const std::string& fallback) const {
  std::optional<ConfigValue> v = Get(service, key);
  if (!v) return fallback;
  nlohmann::json doc = nlohmann::json::parse(v->value, nullptr, /*allow_exceptions=*/false);
  return doc.is_discarded() ? fallback : doc.dump();
}

std::map<std::pair<std::string, std::string>, ConfigValue> Subscription::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

int Subscription::OnChange(const std::string& service, const std::string& key, bool prefix,
                           Callback callback) {
  absl::MutexLock lock(&callbacks_mu_);
  const int id = next_watcher_++;
  watchers_[id] = Watcher{service, key, prefix, std::move(callback)};
  return id;
}

int Subscription::OnChanges(BatchCallback callback) {
  absl::MutexLock lock(&callbacks_mu_);
  const int id = next_watcher_++;
  batch_watchers_[id] = std::move(callback);
  return id;
}

void Subscription::RemoveCallback(int id) {
  absl::MutexLock lock(&callbacks_mu_);
  watchers_.erase(id);
  batch_watchers_.erase(id);
}

std::string Subscription::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

int64_t Subscription::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

bool Subscription::stale() const {
  absl::MutexLock lock(&mu_);
  return stale_;
}

absl::Status Subscription::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

bool Subscription::WaitForRevision(int64_t revision, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return notified_revision_ >= revision && !stale_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

}  // namespace confcenter
