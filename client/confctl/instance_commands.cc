// instances and wait-applied: InstanceService from the command line.
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "client/confctl/output.h"
#include "google/protobuf/util/time_util.h"

namespace confcenter::confctl {
namespace {

using google::protobuf::util::TimeUtil;

std::string SelfCheckText(const v1::SelfCheck& check) {
  switch (check.state()) {
    case v1::SelfCheck::STATE_OK:
      return "ok";
    case v1::SelfCheck::STATE_FAILING:
      return absl::StrCat("FAILING: ", check.message());
    default:
      return "-";
  }
}

void AddInstanceRow(const v1::Instance& i, bool replicas, Table* table) {
  std::vector<std::string> row = {
      i.info().service().empty() ? "-" : i.info().service(),
      i.reports() ? i.info().instance_id() : absl::StrCat("(anonymous) ", i.peer()),
      i.info().host().empty() ? "-" : i.info().host(),
      i.reports() ? absl::StrCat(i.applied_revision()) : "-",
      i.reports()
          ? (i.current() ? "yes" : absl::StrCat("no (needs ", i.last_change_revision(), ")"))
          : "-",
      SelfCheckText(i.self_check()),
      i.connected() ? TimeUtil::ToString(i.connected_since())
                    : absl::StrCat("gone since ", TimeUtil::ToString(i.disconnected_at()))};
  if (replicas) row.push_back(i.replica());
  table->AddRow(std::move(row));
}

// The REPLICA column only where the server has several (an etcd cluster).
template <typename Instances>
bool HasReplicas(const Instances& instances) {
  for (const v1::Instance& i : instances) {
    if (!i.replica().empty()) return true;
  }
  return false;
}

Table InstanceTable(bool replicas) {
  std::vector<std::string> header = {"SERVICE", "INSTANCE",   "HOST",     "APPLIED",
                                     "CURRENT", "SELF-CHECK", "CONNECTED"};
  if (replicas) header.push_back("REPLICA");
  return Table(std::move(header));
}

// Warns on stderr about replicas that did not answer: the answer lacks their instances.
void WarnUnreachable(const google::protobuf::RepeatedPtrField<v1::UnreachableReplica>& replicas,
                     std::ostream& err) {
  for (const v1::UnreachableReplica& r : replicas) {
    err << "warning: replica " << r.replica() << " ("
        << (r.address().empty() ? "no address" : r.address()) << ") did not answer: " << r.error()
        << "; its instances are missing" << std::endl;
  }
}

}  // namespace

absl::Status RunInstances(const Context& ctx, const InstancesArgs& args) {
  v1::ListInstancesRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  absl::StatusOr<v1::ListInstancesResponse> response = ctx.client->ListInstances(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  const bool replicas = HasReplicas(response->instances());
  Table table = InstanceTable(replicas);
  for (const v1::Instance& i : response->instances()) AddInstanceRow(i, replicas, &table);
  table.Print(*ctx.out);
  WarnUnreachable(response->unreachable_replicas(), *ctx.err);
  return absl::OkStatus();
}

absl::Status RunWaitApplied(const Context& ctx, const WaitAppliedArgs& args) {
  absl::Duration timeout;
  if (!absl::ParseDuration(args.timeout, &timeout) || timeout < absl::ZeroDuration()) {
    return UsageError(
        absl::StrCat("--timeout: \"", args.timeout, "\" is not a duration (e.g. 2m)"));
  }
  v1::WaitAppliedRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  request.set_revision(args.revision);
  *request.mutable_timeout() = TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(timeout));
  absl::StatusOr<v1::WaitAppliedResponse> response = ctx.client->WaitApplied(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
  } else if (response->all_applied()) {
    *ctx.out << "revision " << args.revision << " applied by " << response->instances()
             << " instance(s) of " << args.tenant
             << (args.service.empty() ? "" : absl::StrCat("/", args.service)) << std::endl;
  } else {
    const bool replicas = HasReplicas(response->laggards());
    Table table = InstanceTable(replicas);
    for (const v1::Instance& i : response->laggards()) AddInstanceRow(i, replicas, &table);
    table.Print(*ctx.out);
    WarnUnreachable(response->unreachable_replicas(), *ctx.err);
  }
  if (!response->all_applied()) {
    std::string unreachable;
    if (response->unreachable_replicas_size() > 0) {
      std::vector<std::string> names;
      for (const v1::UnreachableReplica& r : response->unreachable_replicas()) {
        names.push_back(r.replica());
      }
      unreachable = absl::StrCat("; replica(s) ", absl::StrJoin(names, ", "),
                                 " could not be asked, so their instances are unknown");
    }
    return NotAppliedError(absl::StrCat(
        response->laggards_size(), " of ", response->instances(), " instance(s) of ", args.tenant,
        " have not applied revision ", args.revision, " within ", args.timeout, unreachable));
  }
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
