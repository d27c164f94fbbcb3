// tenants, tenant, register, deregister, tenant-name.
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/confctl/commands.h"
#include "client/confctl/definition_file.h"
#include "client/confctl/errors.h"
#include "common/names.h"
#include "google/protobuf/util/time_util.h"

namespace confcenter::confctl {
namespace {

using google::protobuf::util::TimeUtil;

// "a@1.2.0" or "a".
std::string ServiceLabel(const v1::ServiceDefinition& def) {
  return def.version().empty() ? def.name() : absl::StrCat(def.name(), "@", def.version());
}

std::string ServiceNames(const v1::Tenant& tenant) {
  std::vector<std::string> names;
  for (const v1::RegisteredService& service : tenant.services()) {
    names.push_back(ServiceLabel(service.definition()));
  }
  return absl::StrJoin(names, ",");
}

// "a@1.2.0 (commit=3f2c1e, owner=x) grpc=a.f1.svc.cluster.local:9090"
std::string ServiceLine(const v1::RegisteredService& service) {
  const v1::ServiceDefinition& def = service.definition();
  std::string line = ServiceLabel(def);
  std::map<std::string, std::string> labels(def.metadata().begin(), def.metadata().end());
  if (!labels.empty()) {
    absl::StrAppend(&line, " (", absl::StrJoin(labels, ", ", absl::PairFormatter("=")), ")");
  }
  std::map<std::string, std::string> endpoints(service.endpoints().begin(),
                                               service.endpoints().end());
  if (!endpoints.empty()) {
    absl::StrAppend(&line, " ", absl::StrJoin(endpoints, " ", absl::PairFormatter("=")));
  }
  absl::StrAppend(&line, " registered at revision ", service.revision());
  if (service.has_register_time()) {
    absl::StrAppend(&line, " ", TimeUtil::ToString(service.register_time()));
  }
  return line;
}

void PrintDependencyMap(const v1::DependencyMap& map, std::ostream& out) {
  out << map.service() << " in " << map.tenant() << ":" << std::endl;
  if (map.dependencies().empty()) out << "  (no dependencies)" << std::endl;
  for (const v1::DependencyRoute& route : map.dependencies()) {
    std::map<std::string, std::string> endpoints(route.endpoints().begin(),
                                                 route.endpoints().end());
    out << "  " << route.service() << (route.range().empty() ? "" : " " + route.range()) << " -> "
        << (route.source_tenant().empty()
                ? std::string("(not registered)")
                : absl::StrCat(route.version().empty() ? "unversioned" : route.version(), " in ",
                               route.source_tenant()))
        << (endpoints.empty()
                ? ""
                : absl::StrCat(" ", absl::StrJoin(endpoints, " ", absl::PairFormatter("="))))
        << (route.problem().empty() ? "" : absl::StrCat("  [", route.problem(), "]")) << std::endl;
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (path == "-") {
    std::stringstream buffer;
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("-f ", path, ": cannot read the file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string ParentText(const v1::Tenant& tenant) {
  return tenant.parent().empty() ? "(root)" : tenant.parent();
}

// Splits "K=V" labels into a map. Usage error for a label without "=".
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels) {
  std::map<std::string, std::string> parsed;
  for (const std::string& label : labels) {
    const size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError(absl::StrCat("--label \"", label, "\": use KEY=VALUE"));
    }
    parsed[label.substr(0, eq)] = label.substr(eq + 1);
  }
  return parsed;
}

}  // namespace

absl::StatusOr<v1::ListTenantsResponse> ListAllTenants(const Context& ctx) {
  v1::ListTenantsRequest request;
  request.set_page_size(1000);
  v1::ListTenantsResponse all;
  do {
    absl::StatusOr<v1::ListTenantsResponse> page = ctx.client->ListTenants(request);
    if (!page.ok()) return page.status();
    all.set_revision(page->revision());
    for (v1::Tenant& tenant : *page->mutable_tenants()) *all.add_tenants() = std::move(tenant);
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return all;
}

absl::Status RunTenants(const Context& ctx) {
  absl::StatusOr<v1::ListTenantsResponse> listed = ListAllTenants(ctx);
  if (!listed.ok()) return listed.status();
  const v1::ListTenantsResponse& all = *listed;
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(all, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"NAME", "PARENT", "SERVICES", "CHILDREN", "KEYS", "REVISION"});
  for (const v1::Tenant& tenant : all.tenants()) {
    table.AddRow({tenant.name(), ParentText(tenant), CutValue(ServiceNames(tenant)),
                  CutValue(absl::StrJoin(tenant.children(), ",")), absl::StrCat(tenant.key_count()),
                  absl::StrCat(tenant.revision())});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunTenant(const Context& ctx, const std::string& name) {
  v1::GetTenantRequest request;
  request.set_tenant(name);
  absl::StatusOr<v1::GetTenantResponse> response = ctx.client->GetTenant(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  const v1::Tenant& tenant = response->tenant();
  Table table({"FIELD", "VALUE"});
  table.AddRow({"name", tenant.name()});
  table.AddRow({"parent", ParentText(tenant)});
  table.AddRow({"chain", absl::StrJoin(tenant.chain(), " -> ")});
  if (tenant.services().empty()) table.AddRow({"services", ""});
  for (const v1::RegisteredService& service : tenant.services()) {
    table.AddRow({"service", ServiceLine(service)});
    for (const std::string& warning : service.warnings()) {
      table.AddRow({"  warning", warning});
    }
  }
  table.AddRow({"children", absl::StrJoin(tenant.children(), ", ")});
  table.AddRow({"keys", absl::StrCat(tenant.key_count())});
  table.AddRow({"created", absl::StrCat("revision ", tenant.create_revision())});
  table.AddRow({"revision", absl::StrCat(tenant.revision())});
  if (tenant.has_ttl()) {
    table.AddRow({"ttl", absl::FormatDuration(absl::Seconds(tenant.ttl().seconds()))});
    table.AddRow({"expires", TimeUtil::ToString(tenant.expire_time())});
  }
  table.AddRow({"keep", tenant.keep() ? "yes" : "no"});
  if (tenant.review().drafts_required()) {
    table.AddRow({"review", tenant.review().publisher_not_author()
                                ? "drafts required, published by another identity"
                                : "drafts required"});
  } else if (tenant.review().publisher_not_author()) {
    table.AddRow({"review", "drafts published by another identity"});
  }
  if (tenant.gray_release_id() != 0) {
    table.AddRow({"gray", absl::StrCat("release ", tenant.gray_release_id(),
                                       " open (confctl gray show ", tenant.name(), ")")});
  }
  if (tenant.open_drafts() > 0) {
    table.AddRow({"drafts", absl::StrCat(tenant.open_drafts(), " open (confctl drafts ",
                                         tenant.name(), ")")});
  }
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunRegister(const Context& ctx, const RegisterArgs& args) {
  if (!args.labels.empty() && args.services.empty() && args.files.empty()) {
    return UsageError("--label applies to the services given with --service or -f; give one");
  }
  absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels(args.labels);
  if (!labels.ok()) return labels.status();
  v1::RegisterRequest request;
  request.set_tenant(args.tenant);
  request.set_parent(args.parent);
  request.set_root(args.root);
  request.set_force(args.force);
  request.set_keep(args.keep);
  if (!args.ttl.empty()) {
    absl::Duration ttl;
    if (!absl::ParseDuration(args.ttl, &ttl) || ttl < absl::Seconds(1)) {
      return UsageError(
          absl::StrCat("--ttl \"", args.ttl, "\": use a duration of at least 1s, such as 72h"));
    }
    request.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
  }
  for (const std::string& file : args.files) {
    absl::StatusOr<std::string> text = ReadFile(file);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::vector<v1::ServiceDefinition>> defs = ParseDefinitionFile(*text);
    if (!defs.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", defs.status().message()));
    }
    for (v1::ServiceDefinition& def : *defs) *request.add_services() = std::move(def);
  }
  for (const std::string& name : args.services) request.add_services()->set_name(name);
  for (v1::ServiceDefinition& service : *request.mutable_services()) {
    service.mutable_metadata()->insert(labels->begin(), labels->end());
  }
  absl::StatusOr<v1::RegisterResponse> response = ctx.client->Register(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  *ctx.out << "registered " << args.tenant << " (" << (response->created() ? "created" : "existing")
           << ", parent " << ParentText(response->tenant()) << ") at revision "
           << response->revision() << std::endl;
  for (const std::string& warning : response->warnings()) {
    *ctx.err << "warning: " << warning << std::endl;
  }
  for (const v1::DependencyMap& map : response->dependency_maps()) {
    PrintDependencyMap(map, *ctx.out);
  }
  return absl::OkStatus();
}

absl::Status RunDependencies(const Context& ctx, const DependenciesArgs& args) {
  v1::ResolveDependenciesRequest request;
  request.set_tenant(args.tenant);
  request.set_service(args.service);
  absl::StatusOr<v1::ResolveDependenciesResponse> response =
      ctx.client->ResolveDependencies(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  PrintDependencyMap(response->map(), *ctx.out);
  return absl::OkStatus();
}

absl::Status RunTouch(const Context& ctx, const std::string& tenant) {
  v1::TouchRequest request;
  request.set_tenant(tenant);
  absl::StatusOr<v1::TouchResponse> response = ctx.client->Touch(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  *ctx.out << tenant
           << (response->has_expire_time()
                   ? absl::StrCat(" expires ", TimeUtil::ToString(response->expire_time()))
                   : std::string(" has no TTL"))
           << std::endl;
  return absl::OkStatus();
}

absl::Status RunDeregister(const Context& ctx, const DeregisterArgs& args) {
  if (!args.all && args.services.empty()) {
    return UsageError("deregister needs SERVICE... or --all");
  }
  v1::DeregisterRequest request;
  request.set_tenant(args.tenant);
  for (const std::string& service : args.services) request.add_services(service);
  request.set_all(args.all);
  request.set_force(args.force);
  absl::StatusOr<v1::DeregisterResponse> response = ctx.client->Deregister(request);
  if (!response.ok()) return response.status();
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(*response, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  std::string what = "nothing to remove";
  if (response->tenant_removed()) {
    what = absl::StrCat("tenant removed (", response->removed_keys(), " keys)");
  } else if (!response->removed_services().empty()) {
    what = absl::StrCat("removed ", absl::StrJoin(response->removed_services(), ", "), " (",
                        response->removed_keys(), " keys)");
  }
  *ctx.out << "deregistered " << args.tenant << ": " << what << " at revision "
           << response->revision() << std::endl;
  for (const std::string& warning : response->warnings()) {
    *ctx.err << "warning: " << warning << std::endl;
  }
  return absl::OkStatus();
}

absl::Status RunTenantName(const Context& ctx, const std::string& branch,
                           const std::string& integration_branch) {
  const std::string tenant = !integration_branch.empty() && branch == integration_branch
                                 ? std::string(kIntegrationTenant)
                                 : NormalizeTenantName(branch);
  if (tenant.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "branch: ", QuoteForError(branch), " has no letters or digits to make a tenant name"));
  }
  if (ctx.format == OutputFormat::kTable) {
    *ctx.out << tenant << std::endl;
  } else {
    PrintDocument({{"branch", branch}, {"tenant", tenant}}, ctx.format, *ctx.out);
  }
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
