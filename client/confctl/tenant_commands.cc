// tenants, tenant, register, deregister, tenant-name.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "server/names.h"

namespace confcenter::confctl {
namespace {

std::string ServiceNames(const v1::Tenant& tenant) {
  std::vector<std::string> names;
  for (const v1::ServiceDefinition& service : tenant.services()) names.push_back(service.name());
  return absl::StrJoin(names, ",");
}

// "a (commit=3f2c1e, owner=x), b"
std::string ServicesWithLabels(const v1::Tenant& tenant) {
  std::vector<std::string> parts;
  for (const v1::ServiceDefinition& service : tenant.services()) {
    std::map<std::string, std::string> sorted(service.metadata().begin(),
                                              service.metadata().end());
    std::string part = service.name();
    if (!sorted.empty()) {
      absl::StrAppend(&part, " (", absl::StrJoin(sorted, ", ", absl::PairFormatter("=")), ")");
    }
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, ", ");
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

absl::Status RunTenants(const Context& ctx) {
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
  if (ctx.format != OutputFormat::kTable) {
    PrintMessage(all, ctx.format, *ctx.out);
    return absl::OkStatus();
  }
  Table table({"NAME", "PARENT", "SERVICES", "CHILDREN", "KEYS", "REVISION"});
  for (const v1::Tenant& tenant : all.tenants()) {
    table.AddRow({tenant.name(), ParentText(tenant), CutValue(ServiceNames(tenant)),
                  CutValue(absl::StrJoin(tenant.children(), ",")),
                  absl::StrCat(tenant.key_count()), absl::StrCat(tenant.revision())});
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
  table.AddRow({"services", ServicesWithLabels(tenant)});
  table.AddRow({"children", absl::StrJoin(tenant.children(), ", ")});
  table.AddRow({"keys", absl::StrCat(tenant.key_count())});
  table.AddRow({"created", absl::StrCat("revision ", tenant.create_revision())});
  table.AddRow({"revision", absl::StrCat(tenant.revision())});
  table.Print(*ctx.out);
  return absl::OkStatus();
}

absl::Status RunRegister(const Context& ctx, const RegisterArgs& args) {
  if (!args.labels.empty() && args.services.empty()) {
    return UsageError("--label applies to the services given with --service; give one");
  }
  absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels(args.labels);
  if (!labels.ok()) return labels.status();
  v1::RegisterRequest request;
  request.set_tenant(args.tenant);
  request.set_parent(args.parent);
  request.set_root(args.root);
  for (const std::string& name : args.services) {
    v1::ServiceDefinition* service = request.add_services();
    service->set_name(name);
    service->mutable_metadata()->insert(labels->begin(), labels->end());
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
  return absl::OkStatus();
}

absl::Status RunTenantName(const Context& ctx, const std::string& branch) {
  const std::string tenant = NormalizeTenantName(branch);
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
