// What a caller may not see is taken out of responses here, on every read path: values of
// secret keys are withheld (emptied, `redacted` set) unless the caller may read that
// service's secrets, and keys outside an instance caller's reach are dropped.
#ifndef CONFCENTER_SERVER_API_REDACTION_H_
#define CONFCENTER_SERVER_API_REDACTION_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "confcenter/v1/config.pb.h"
#include "confcenter/v1/history.pb.h"
#include "confcenter/v1/watch.pb.h"
#include "server/auth/access.h"

namespace confcenter {

// A tenant's own entries (Get, List, Put/Delete/Mask answers, release changes).
void RedactEntry(const auth::Access& access, v1::Entry* entry);
void FilterEntries(const auth::Access& access,
                   google::protobuf::RepeatedPtrField<v1::Entry>* entries);

// `tenant`'s resolved view (Resolve, Subscribe snapshots) and its change events.
void FilterResolved(const auth::Access& access, absl::string_view tenant,
                    google::protobuf::RepeatedPtrField<v1::ResolvedEntry>* entries);
// What one caller may see of one tenant's view for the services of a stream, worked out once
// when the stream starts: the stream's filter then runs on the hub's thread, under the hub's
// and the state's locks, so it must not ask the core anything (an instance's dependencies).
// A stream keeps the rights it started with.
class ViewRights {
 public:
  // `services` as the stream asked (empty = every service, which needs tenant-wide read).
  ViewRights(const auth::Access& access, absl::string_view tenant,
             const std::vector<std::string>& services);
  // Whether the caller sees all of the view: nothing to filter.
  bool everything() const { return everything_; }
  bool SeesKey(absl::string_view service, absl::string_view key) const;
  bool SeesSecrets(absl::string_view service) const;

 private:
  struct Rule {
    bool endpoints_only = false;
    bool secrets = false;
  };
  const Rule& RuleOf(absl::string_view service) const;
  bool everything_ = false;
  Rule tenant_wide_;
  std::map<std::string, Rule, std::less<>> by_service_;
};

// Both parts of a Subscribe message (snapshot entries, events).
void FilterSubscribeResponse(const ViewRights& rights, v1::SubscribeResponse* response);

// History, releases and diffs.
void RedactVersion(const auth::Access& access, v1::Version* version);
void RedactRelease(const auth::Access& access, v1::Release* release);
void RedactDiff(const auth::Access& access, v1::DiffResponse* diff);

// "tenant/service/key" of every secret value the entries show (not redacted): what a read of
// secrets audits.
std::vector<std::string> SecretsShown(const google::protobuf::RepeatedPtrField<v1::Entry>& entries);
std::vector<std::string> SecretsShown(
    absl::string_view tenant, const google::protobuf::RepeatedPtrField<v1::ResolvedEntry>& entries);
std::vector<std::string> SecretsShown(
    const google::protobuf::RepeatedPtrField<v1::Version>& versions);

}  // namespace confcenter

#endif  // CONFCENTER_SERVER_API_REDACTION_H_
