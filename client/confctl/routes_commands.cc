// routes render: fetches what the registry knows about a tenant and its descendants, and
// prints the routes routes.h computes from it.
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/confctl/commands.h"
#include "client/confctl/errors.h"
#include "client/confctl/routes.h"
#include "common/names.h"

namespace confcenter::confctl {
namespace {

absl::StatusOr<v1::Tenant> FetchTenant(const Context& ctx, const std::string& name) {
  v1::GetTenantRequest request;
  request.set_tenant(name);
  absl::StatusOr<v1::GetTenantResponse> response = ctx.client->GetTenant(request);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_tenant());
}

// The tenant, the dependency maps of its own services and every descendant.
absl::StatusOr<RouteInputs> FetchInputs(const Context& ctx, const RoutesArgs& args) {
  RouteInputs in;
  in.header = args.header;
  absl::StatusOr<v1::Tenant> tenant = FetchTenant(ctx, args.tenant);
  if (!tenant.ok()) return tenant.status();
  in.tenant = *std::move(tenant);
  for (const v1::RegisteredService& service : in.tenant.services()) {
    v1::ResolveDependenciesRequest request;
    request.set_tenant(args.tenant);
    request.set_service(service.definition().name());
    absl::StatusOr<v1::ResolveDependenciesResponse> response =
        ctx.client->ResolveDependencies(request);
    if (!response.ok()) return response.status();
    in.dependency_maps.push_back(std::move(*response->mutable_map()));
  }
  std::deque<std::string> pending(in.tenant.children().begin(), in.tenant.children().end());
  while (!pending.empty()) {
    const std::string name = std::move(pending.front());
    pending.pop_front();
    if (IsGrayTenant(name)) continue;  // a gray audience is not a deployment
    absl::StatusOr<v1::Tenant> child = FetchTenant(ctx, name);
    // A descendant removed while we walk (e.g. its TTL passed) is not routed.
    if (absl::IsNotFound(child.status())) continue;
    if (!child.ok()) return child.status();
    pending.insert(pending.end(), child->children().begin(), child->children().end());
    in.descendants.push_back(*std::move(child));
  }
  return in;
}

}  // namespace

absl::Status RunRoutesRender(const Context& ctx, const RoutesArgs& args) {
  std::string output = args.output;
  if (output.empty()) output = ctx.format == OutputFormat::kJson ? "json" : "k8s";
  if (output != "k8s" && output != "json" && output != "envoy") {
    return UsageError(absl::StrCat("-o \"", output, "\": use k8s, json or envoy"));
  }
  if (!args.mesh.empty() && args.mesh != "istio") {
    return UsageError(absl::StrCat("--mesh \"", args.mesh, "\": use istio"));
  }
  if (absl::Status header = ValidateHeaderName("--header", args.header); !header.ok()) {
    return UsageError(std::string(header.message()));
  }
  absl::StatusOr<RouteInputs> in = FetchInputs(ctx, args);
  if (!in.ok()) return in.status();
  const RouteTable table = BuildRouteTable(*in);
  for (const std::string& warning : table.warnings) {
    *ctx.err << "warning: " << warning << std::endl;
  }
  if (output == "k8s") {
    *ctx.out << ObjectsToYaml(KubernetesObjects(table, args.mesh == "istio"));
  } else if (output == "json") {
    PrintDocument(RouteTableJson(table), OutputFormat::kJson, *ctx.out);
  } else {
    PrintDocument(EnvoyRouteConfiguration(table), OutputFormat::kJson, *ctx.out);
  }
  ctx.out->flush();
  return absl::OkStatus();
}

}  // namespace confcenter::confctl
