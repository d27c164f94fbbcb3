#include "server/core/registry.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/names.h"
#include "server/core/semver.h"

namespace confcenter {
namespace {

constexpr int kMaxLabels = 64;
constexpr size_t kMaxLabelValue = 1024;
constexpr int kMaxEndpoints = 16;
constexpr int kMaxDependencies = 64;
constexpr int kMaxDefaults = 1000;
constexpr int kMaxGeneratedKeys = 64;
constexpr int kDefaultGeneratedLength = 32;
constexpr int kMinGeneratedLength = 16;
constexpr int kMaxGeneratedLength = 256;
constexpr size_t kMaxAddressBytes = 253;
constexpr size_t kMaxProbePathBytes = 1024;
constexpr absl::string_view kDefaultAddressTemplate = "{service}.{tenant}.svc.cluster.local:{port}";

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// Renders `address_template`; an error names what is wrong with the template.
absl::StatusOr<std::string> Render(absl::string_view address_template, absl::string_view service,
                                   absl::string_view tenant, int32_t port) {
  if (address_template.empty()) address_template = kDefaultAddressTemplate;
  std::string out;
  for (size_t i = 0; i < address_template.size(); ++i) {
    char c = address_template[i];
    if (c == '{' || c == '}') {
      if (i + 1 < address_template.size() && address_template[i + 1] == c) {
        out.push_back(c);
        ++i;
        continue;
      }
      if (c == '}') return absl::InvalidArgumentError("has an unmatched \"}\" (write \"}}\")");
      size_t close = address_template.find('}', i);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError("has an unclosed \"{\" (write \"{{\" for a brace)");
      }
      absl::string_view name = address_template.substr(i + 1, close - i - 1);
      if (name == "service") {
        absl::StrAppend(&out, service);
      } else if (name == "tenant") {
        absl::StrAppend(&out, tenant);
      } else if (name == "port") {
        absl::StrAppend(&out, port);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("has an unknown placeholder ",
                                                       QuoteForError(absl::StrCat("{", name, "}")),
                                                       "; use {service}, {tenant} and {port}"));
      }
      i = close;
      continue;
    }
    if (absl::ascii_iscntrl(c) || c == ' ') {
      return absl::InvalidArgumentError("contains a space or control character");
    }
    out.push_back(c);
  }
  return out;
}

absl::Status ValidateProbe(absl::string_view field, const v1::Probe& probe,
                           const v1::ServiceDefinition& def) {
  if (probe.endpoint().empty()) {
    return Invalid(absl::StrCat(field, ".endpoint"), "is required: name one of the endpoints");
  }
  bool known = false;
  for (const v1::Endpoint& e : def.endpoints()) known = known || e.name() == probe.endpoint();
  if (!known) {
    return Invalid(absl::StrCat(field, ".endpoint"),
                   absl::StrCat(QuoteForError(probe.endpoint()), " is not one of the endpoints"));
  }
  const std::string& path = probe.path();
  const std::string path_field = absl::StrCat(field, ".path");
  if (path.size() > kMaxProbePathBytes) {
    return Invalid(path_field,
                   absl::StrCat(path.size(), " bytes exceed the limit of ", kMaxProbePathBytes));
  }
  for (char c : path) {
    if (absl::ascii_iscntrl(c) || c == ' ') {
      return Invalid(path_field,
                     absl::StrCat(QuoteForError(path), " contains a space or control character"));
    }
  }
  switch (def.protocol()) {
    case v1::PROTOCOL_HTTP:
      if (!absl::StartsWith(path, "/")) {
        return Invalid(path_field, absl::StrCat(QuoteForError(path),
                                                " must start with \"/\" for an HTTP service"));
      }
      break;
    case v1::PROTOCOL_TCP:
      if (!path.empty()) {
        return Invalid(path_field, absl::StrCat(QuoteForError(path),
                                                " must be empty for a TCP service (the check is "
                                                "a connect)"));
      }
      break;
    case v1::PROTOCOL_GRPC:
      for (char c : path) {
        if (!absl::ascii_isalnum(c) && c != '.' && c != '_') {
          return Invalid(path_field,
                         absl::StrCat(QuoteForError(path),
                                      " is not a gRPC service name (e.g. grpc.health.v1.Health)"));
        }
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateDefinitionVersion(absl::string_view field, const std::string& version) {
  if (version.empty()) return absl::OkStatus();
  absl::string_view major = version;
  absl::string_view minor;
  if (size_t dot = version.find('.'); dot != std::string::npos) {
    major = absl::string_view(version).substr(0, dot);
    minor = absl::string_view(version).substr(dot + 1);
    if (minor.empty()) major = "";  // "1." is malformed
  }
  auto digits = [](absl::string_view s) {  // a number without leading zeros
    if (s.empty() || s.size() > 9 || (s.size() > 1 && s.front() == '0')) return false;
    for (char c : s) {
      if (!absl::ascii_isdigit(c)) return false;
    }
    return true;
  };
  if (!digits(major) || (!minor.empty() && !digits(minor))) {
    return Invalid(field, absl::StrCat(QuoteForError(version),
                                       " is not a definition version (\"MAJOR\" or "
                                       "\"MAJOR.MINOR\", e.g. \"1\")"));
  }
  if (major != "1") {
    return Invalid(field, absl::StrCat(QuoteForError(version),
                                       " is not supported: this server reads definition "
                                       "version 1 (1.x)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEndpoints(absl::string_view field, const v1::ServiceDefinition& def) {
  if (def.endpoints_size() > kMaxEndpoints) {
    return Invalid(
        absl::StrCat(field, ".endpoints"),
        absl::StrCat(def.endpoints_size(), " endpoints exceed the limit of ", kMaxEndpoints));
  }
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < def.endpoints_size(); ++i) {
    const v1::Endpoint& e = def.endpoints(i);
    const std::string f = absl::StrCat(field, ".endpoints[", i, "]");
    if (absl::Status s = ValidateEndpointName(absl::StrCat(f, ".name"), e.name()); !s.ok()) {
      return s;
    }
    if (!names.insert(e.name()).second) {
      return Invalid(absl::StrCat(f, ".name"),
                     absl::StrCat(QuoteForError(e.name()), " appears twice in endpoints"));
    }
    if (e.port() < 1 || e.port() > 65535) {
      return Invalid(absl::StrCat(f, ".port"), absl::StrCat(e.port(), " is not a port (1-65535)"));
    }
    // Render with the longest names the grammar allows, so no tenant can overflow it later.
    const std::string longest(63, 'x');
    absl::StatusOr<std::string> rendered = Render(e.address_template(), longest, longest, e.port());
    const std::string template_field = absl::StrCat(f, ".address_template");
    if (!rendered.ok()) {
      return Invalid(template_field, absl::StrCat(QuoteForError(e.address_template()), " ",
                                                  rendered.status().message()));
    }
    if (rendered->size() > kMaxAddressBytes) {
      return Invalid(
          template_field,
          absl::StrCat(QuoteForError(e.address_template()), " can render to ", rendered->size(),
                       " bytes (63-character names); the limit is ", kMaxAddressBytes));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDependencies(absl::string_view field, const v1::ServiceDefinition& def) {
  if (def.dependencies_size() > kMaxDependencies) {
    return Invalid(absl::StrCat(field, ".dependencies"),
                   absl::StrCat(def.dependencies_size(), " dependencies exceed the limit of ",
                                kMaxDependencies));
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < def.dependencies_size(); ++i) {
    const v1::Dependency& d = def.dependencies(i);
    const std::string f = absl::StrCat(field, ".dependencies[", i, "]");
    if (absl::Status s = ValidateServiceName(absl::StrCat(f, ".service"), d.service()); !s.ok()) {
      return s;
    }
    if (d.service() == def.name()) {
      return Invalid(absl::StrCat(f, ".service"),
                     absl::StrCat(QuoteForError(d.service()), " is the service itself"));
    }
    if (!seen.insert(d.service()).second) {
      return Invalid(absl::StrCat(f, ".service"),
                     absl::StrCat(QuoteForError(d.service()), " appears twice in dependencies"));
    }
    if (!d.range().empty()) {
      absl::StatusOr<SemVerRange> range = SemVerRange::Parse(d.range());
      if (!range.ok()) return Invalid(absl::StrCat(f, ".range"), range.status().message());
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGeneratedKeys(absl::string_view field, const v1::ServiceDefinition& def) {
  if (def.generated_keys_size() > kMaxGeneratedKeys) {
    return Invalid(
        absl::StrCat(field, ".generated_keys"),
        absl::StrCat(def.generated_keys_size(), " keys exceed the limit of ", kMaxGeneratedKeys));
  }
  if (def.secret_keys_size() > kMaxGeneratedKeys) {
    return Invalid(
        absl::StrCat(field, ".secret_keys"),
        absl::StrCat(def.secret_keys_size(), " keys exceed the limit of ", kMaxGeneratedKeys));
  }
  for (int i = 0; i < def.secret_keys_size(); ++i) {
    const std::string f = absl::StrCat(field, ".secret_keys[", i, "]");
    if (absl::Status s = ValidateKey(f, def.secret_keys(i)); !s.ok()) return s;
    if (absl::StartsWith(def.secret_keys(i), "_")) {
      return Invalid(f, "reserved keys (starting with \"_\") cannot be secret");
    }
    if (def.defaults().count(def.secret_keys(i)) > 0) {
      return Invalid(f, absl::StrCat(QuoteForError(def.secret_keys(i)),
                                     " is also in defaults; a definition is readable by every "
                                     "reader, so a secret's value cannot be in it"));
    }
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < def.generated_keys_size(); ++i) {
    const v1::GeneratedKey& g = def.generated_keys(i);
    const std::string f = absl::StrCat(field, ".generated_keys[", i, "]");
    if (absl::Status s = ValidateKey(absl::StrCat(f, ".key"), g.key()); !s.ok()) return s;
    if (!seen.insert(g.key()).second) {
      return Invalid(absl::StrCat(f, ".key"),
                     absl::StrCat(QuoteForError(g.key()), " appears twice in generated_keys"));
    }
    if (def.defaults().count(g.key()) > 0) {
      return Invalid(absl::StrCat(f, ".key"),
                     absl::StrCat(QuoteForError(g.key()),
                                  " is also in defaults; a key is either given or generated"));
    }
    if (g.kind() == v1::GENERATED_KEY_KIND_UNSPECIFIED) {
      return Invalid(absl::StrCat(f, ".kind"), "is required (SECRET, UUID or TOKEN)");
    }
    if (!v1::GeneratedKeyKind_IsValid(g.kind())) {
      return Invalid(absl::StrCat(f, ".kind"),
                     absl::StrCat(static_cast<int>(g.kind()),
                                  " is not a generated key kind (SECRET, UUID or TOKEN)"));
    }
    if (g.kind() == v1::GENERATED_KEY_KIND_UUID) {
      if (g.length() != 0) {
        return Invalid(absl::StrCat(f, ".length"),
                       absl::StrCat(g.length(), " must be 0 for a UUID (always 36 characters)"));
      }
    } else if (g.length() != 0 &&
               (g.length() < kMinGeneratedLength || g.length() > kMaxGeneratedLength)) {
      return Invalid(absl::StrCat(f, ".length"),
                     absl::StrCat(g.length(), " is out of range; use 0 (32) or ",
                                  kMinGeneratedLength, "-", kMaxGeneratedLength));
    }
  }
  return absl::OkStatus();
}

bool RandomBytes(unsigned char* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = getrandom(out + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

absl::Status ValidateDefinition(absl::string_view field, const v1::ServiceDefinition& def,
                                int64_t max_value_bytes) {
  if (absl::Status s = ValidateServiceName(absl::StrCat(field, ".name"), def.name()); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateDefinitionVersion(absl::StrCat(field, ".definition_version"),
                                                 def.definition_version());
      !s.ok()) {
    return s;
  }
  if (def.metadata_size() > kMaxLabels) {
    return Invalid(absl::StrCat(field, ".metadata"),
                   absl::StrCat(def.metadata_size(), " labels exceed the limit of ", kMaxLabels));
  }
  for (const auto& [k, v] : def.metadata()) {
    const std::string f = absl::StrCat(field, ".metadata[", QuoteForError(k), "]");
    if (absl::Status s = ValidateLabelKey(f, k); !s.ok()) return s;
    if (v.size() > kMaxLabelValue) {
      return Invalid(f, absl::StrCat(v.size(), " bytes exceed the limit of ", kMaxLabelValue));
    }
  }
  if (!def.version().empty()) {
    absl::StatusOr<SemVer> version = ParseSemVer(def.version());
    if (!version.ok()) return Invalid(absl::StrCat(field, ".version"), version.status().message());
  }
  if (!v1::Protocol_IsValid(def.protocol())) {
    return Invalid(
        absl::StrCat(field, ".protocol"),
        absl::StrCat(static_cast<int>(def.protocol()), " is not a protocol (GRPC, HTTP or TCP)"));
  }
  if (absl::Status s = ValidateEndpoints(field, def); !s.ok()) return s;
  if (absl::Status s = ValidateDependencies(field, def); !s.ok()) return s;
  if (def.defaults_size() > kMaxDefaults) {
    return Invalid(
        absl::StrCat(field, ".defaults"),
        absl::StrCat(def.defaults_size(), " defaults exceed the limit of ", kMaxDefaults));
  }
  for (const auto& [key, value] : def.defaults()) {
    const std::string f = absl::StrCat(field, ".defaults[", QuoteForError(key), "]");
    if (absl::Status s = ValidateKey(f, key); !s.ok()) return s;
    if (static_cast<int64_t>(value.size()) > max_value_bytes) {
      return Invalid(f, absl::StrCat(value.size(), " bytes exceed the limit of ", max_value_bytes,
                                     " bytes (--max_value_bytes)"));
    }
  }
  if (absl::Status s = ValidateGeneratedKeys(field, def); !s.ok()) return s;
  if (def.has_health()) {
    if (absl::Status s = ValidateProbe(absl::StrCat(field, ".health"), def.health(), def);
        !s.ok()) {
      return s;
    }
  }
  if (def.has_self_check()) {
    if (absl::Status s = ValidateProbe(absl::StrCat(field, ".self_check"), def.self_check(), def);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> RenderEndpoints(const v1::ServiceDefinition& definition,
                                                   absl::string_view tenant) {
  std::map<std::string, std::string> out;
  for (const v1::Endpoint& e : definition.endpoints()) {
    absl::StatusOr<std::string> address =
        Render(e.address_template(), definition.name(), tenant, e.port());
    if (address.ok()) out[e.name()] = *std::move(address);
  }
  return out;
}

absl::StatusOr<std::string> GenerateValue(const v1::GeneratedKey& key) {
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t length = key.length() == 0 ? kDefaultGeneratedLength : key.length();
  std::string out;
  if (key.kind() == v1::GENERATED_KEY_KIND_UUID) {
    unsigned char b[16];
    if (!RandomBytes(b, sizeof b)) return absl::UnavailableError("getrandom failed");
    b[6] = (b[6] & 0x0f) | 0x40;  // version 4
    b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
      out.push_back(kHex[b[i] >> 4]);
      out.push_back(kHex[b[i] & 0xf]);
    }
    return out;
  }
  while (out.size() < length) {
    unsigned char b[64];
    if (!RandomBytes(b, sizeof b)) return absl::UnavailableError("getrandom failed");
    for (unsigned char c : b) {
      if (out.size() == length) break;
      if (key.kind() == v1::GENERATED_KEY_KIND_TOKEN) {
        out.push_back(kHex[c & 0xf]);
      } else if (c < 248) {  // 248 = 4 * 62: reject the rest so every character is uniform
        out.push_back(kAlnum[c % 62]);
      }
    }
  }
  return out;
}

std::string DescribeService(const v1::ServiceDefinition& definition) {
  if (definition.version().empty()) return definition.name();
  return absl::StrCat(definition.name(), "@", definition.version());
}

RegistryView::RegistryView(const ConfigState& state, const std::vector<std::string>& chain,
                           absl::string_view override_tenant,
                           const std::vector<v1::ServiceDefinition>* override_services)
    : chain_(chain) {
  for (const std::string& tenant : chain_) {
    if (override_services != nullptr && tenant == override_tenant) {
      for (const v1::ServiceDefinition& def : *override_services) {
        registrations_.try_emplace(def.name(), Registration{tenant, &def});
      }
      continue;
    }
    const TenantState* t = state.FindTenant(tenant);
    if (t == nullptr) continue;
    for (const v1::ServiceDefinition& def : t->definitions) {
      registrations_.try_emplace(def.name(), Registration{tenant, &def});
    }
  }
}

const RegistryView::Registration* RegistryView::Find(absl::string_view service) const {
  auto it = registrations_.find(std::string(service));
  return it == registrations_.end() ? nullptr : &it->second;
}

namespace {

// How `dependent` (seen in `view`) fares with its dependency `dep`.
struct PairCheck {
  bool registered = false;
  bool checked = false;                           // both a range and a version to compare
  bool compatible = false;                        // registered and (no range, or version in range)
  std::string problem;                            // in words, for a conflict or a warning
  const v1::ServiceDefinition* target = nullptr;  // into the view's records
  std::string target_tenant;
};

PairCheck CheckPair(const RegistryView& view, const v1::ServiceDefinition& dependent,
                    const v1::Dependency& dep) {
  PairCheck out;
  const RegistryView::Registration* reg = view.Find(dep.service());
  const std::string requires_text =
      absl::StrCat(DescribeService(dependent), " requires ", dep.service(),
                   dep.range().empty() ? "" : absl::StrCat(" ", dep.range()));
  if (reg == nullptr) {
    out.problem = absl::StrCat(requires_text, "; no tenant of ", view.tenant(), "'s chain [",
                               absl::StrJoin(view.chain(), ", "), "] registered ", dep.service());
    return out;
  }
  out.registered = true;
  out.target = reg->definition;
  out.target_tenant = reg->tenant;
  const std::string where = reg->tenant == view.tenant() ? "" : absl::StrCat(" of ", reg->tenant);
  if (dep.range().empty()) {
    out.compatible = true;
    return out;
  }
  if (out.target->version().empty()) {
    out.problem = absl::StrCat(requires_text, "; in ", view.tenant(), " it routes to ",
                               dep.service(), where, ", which is unversioned: not checked");
    return out;
  }
  absl::StatusOr<SemVerRange> range = SemVerRange::Parse(dep.range());
  absl::StatusOr<SemVer> version = ParseSemVer(out.target->version());
  out.checked = range.ok() && version.ok();
  out.compatible = out.checked && range->Matches(*version);
  if (!out.compatible) {
    out.problem = absl::StrCat(requires_text, "; in ", view.tenant(), " it would route to ",
                               DescribeService(*out.target), where);
  }
  return out;
}

}  // namespace

v1::DependencyMap BuildDependencyMap(const RegistryView& view,
                                     const v1::ServiceDefinition& definition) {
  v1::DependencyMap map;
  map.set_service(definition.name());
  map.set_tenant(view.tenant());
  for (const v1::Dependency& dep : definition.dependencies()) {
    PairCheck check = CheckPair(view, definition, dep);
    v1::DependencyRoute* route = map.add_dependencies();
    route->set_service(dep.service());
    route->set_range(dep.range());
    route->set_compatible(check.compatible);
    route->set_problem(check.problem);
    if (check.registered) {
      route->set_source_tenant(check.target_tenant);
      route->set_version(check.target->version());
      for (auto& [name, address] : RenderEndpoints(*check.target, check.target_tenant)) {
        (*route->mutable_endpoints())[name] = std::move(address);
      }
    }
  }
  return map;
}

std::vector<std::unique_ptr<RegistryView>> ViewsAfterChange(
    const ConfigState& state, const std::vector<std::string>& chain,
    const std::vector<v1::ServiceDefinition>& services, bool descendants) {
  std::vector<std::unique_ptr<RegistryView>> views;
  const std::string& tenant = chain.front();
  views.push_back(std::make_unique<RegistryView>(state, chain, tenant, &services));
  if (!descendants) return views;
  // One pass over the tenants instead of a Children() scan per descendant.
  absl::flat_hash_map<std::string, std::vector<std::string>> children_of;
  for (const auto& [name, t] : state.tenants()) {
    if (!t.record.parent().empty()) children_of[t.record.parent()].push_back(name);
  }
  std::vector<std::vector<std::string>> frontier = {chain};
  while (!frontier.empty()) {
    std::vector<std::string> parent_chain = std::move(frontier.back());
    frontier.pop_back();
    auto children = children_of.find(parent_chain.front());
    if (children == children_of.end()) continue;
    for (const std::string& child : children->second) {
      std::vector<std::string> child_chain = {child};
      child_chain.insert(child_chain.end(), parent_chain.begin(), parent_chain.end());
      views.push_back(std::make_unique<RegistryView>(state, child_chain, tenant, &services));
      frontier.push_back(std::move(child_chain));
    }
  }
  return views;
}

CompatibilityReport CheckDependentsOf(const std::vector<const RegistryView*>& views,
                                      const std::set<std::string>& services,
                                      const std::vector<std::string>& chain) {
  CompatibilityReport report;
  for (const RegistryView* view : views) {
    for (const auto& [name, reg] : view->registrations()) {
      const v1::ServiceDefinition& dependent = *reg.definition;
      for (const v1::Dependency& dep : dependent.dependencies()) {
        if (services.count(dep.service()) == 0) continue;
        PairCheck check = CheckPair(*view, dependent, dep);
        if (check.compatible) continue;
        if (check.registered &&
            std::find(chain.begin(), chain.end(), check.target_tenant) == chain.end()) {
          continue;  // routes below the tenant: not affected by the removal
        }
        (check.checked ? report.conflicts : report.warnings).insert(check.problem);
      }
    }
  }
  return report;
}

CompatibilityReport CheckCompatibility(const std::vector<const RegistryView*>& views,
                                       absl::string_view registering_tenant,
                                       const std::set<std::string>& changed, bool every_pair) {
  CompatibilityReport report;
  // A pair of the same two registrations is reported once, from the first view that has it
  // (the registering tenant's own view comes first).
  std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
  for (const RegistryView* view : views) {
    const bool own_view = view->tenant() == registering_tenant;
    for (const auto& [name, reg] : view->registrations()) {
      const v1::ServiceDefinition& dependent = *reg.definition;
      const bool dependent_changed = changed.count(name) > 0 && reg.tenant == registering_tenant;
      for (const v1::Dependency& dep : dependent.dependencies()) {
        bool target_changed = false;
        if (changed.count(dep.service()) > 0) {
          const RegistryView::Registration* target = view->Find(dep.service());
          target_changed = target != nullptr && target->tenant == registering_tenant;
        }
        if (!every_pair && !dependent_changed && !target_changed) continue;
        PairCheck check = CheckPair(*view, dependent, dep);
        if (check.compatible) continue;
        // What cannot be checked warns once, in the registering tenant's own view.
        if (!check.checked && !own_view) continue;
        if (!seen.emplace(reg.tenant, name, dep.service(), check.target_tenant).second) continue;
        (check.checked ? report.conflicts : report.warnings).insert(check.problem);
        if (changed.count(name) > 0) report.by_service[name].insert(check.problem);
        if (changed.count(dep.service()) > 0)
          report.by_service[dep.service()].insert(check.problem);
      }
    }
  }
  return report;
}

}  // namespace confcenter
