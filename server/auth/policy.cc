#include "server/auth/policy.h"

#include <fnmatch.h>

#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/names.h"
#include "yaml-cpp/yaml.h"

namespace confcenter::auth {
namespace {

struct RoleInfo {
  Role role;
  const char* name;
};
constexpr RoleInfo kRoles[] = {
    {Role::kAdmin, "admin"},     {Role::kCd, "cd"},
    {Role::kEditor, "editor"},   {Role::kPublisher, "publisher"},
    {Role::kReader, "reader"},   {Role::kSecretReader, "secret-reader"},
    {Role::kAuditor, "auditor"}, {Role::kInstance, "instance"},
};
constexpr const char* kPlaceholders[] = {"{branch}", "{namespace}", "{serviceaccount}", "{name}"};

// Parse errors carry the origin and the 1-based line of the node at fault.
class Parser {
 public:
  explicit Parser(absl::string_view origin) : origin_(origin) {}

  absl::Status Error(const YAML::Node& node, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(origin_, ":", node.Mark().line + 1, ": ", what));
  }

  // Fails for keys of `map` not in `allowed`.
  absl::Status OnlyKeys(const YAML::Node& map, std::initializer_list<const char*> allowed,
                        absl::string_view where) const {
    if (!map.IsMap()) return Error(map, absl::StrCat(where, " must be a mapping"));
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      bool known = false;
      for (const char* a : allowed) known = known || key == a;
      if (!known) {
        return Error(kv.first, absl::StrCat("unknown field \"", key, "\" in ", where,
                                            "; expected one of: ", absl::StrJoin(allowed, ", ")));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Scalar(const YAML::Node& node, absl::string_view what) const {
    if (!node.IsScalar()) return Error(node, absl::StrCat(what, " must be a string"));
    return node.as<std::string>();
  }

  absl::StatusOr<std::vector<std::string>> Strings(const YAML::Node& node,
                                                   absl::string_view what) const {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.as<std::string>());
      return out;
    }
    if (!node.IsSequence()) return Error(node, absl::StrCat(what, " must be a list of strings"));
    for (const YAML::Node& item : node) {
      absl::StatusOr<std::string> s = Scalar(item, what);
      if (!s.ok()) return s.status();
      out.push_back(*std::move(s));
    }
    return out;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node, absl::string_view what) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      return Error(node, absl::StrCat(what, " must be true or false"));
    }
    return value;
  }

  absl::StatusOr<Role> RoleOf(const YAML::Node& node) const {
    absl::StatusOr<std::string> name = Scalar(node, "a role");
    if (!name.ok()) return name.status();
    for (const RoleInfo& r : kRoles) {
      if (*name == r.name) return r.role;
    }
    std::vector<std::string> names;
    for (const RoleInfo& r : kRoles) names.push_back(r.name);
    return Error(node, absl::StrCat("unknown role \"", *name,
                                    "\"; roles are: ", absl::StrJoin(names, ", ")));
  }

  absl::StatusOr<std::vector<Role>> Roles(const YAML::Node& node) const {
    std::vector<Role> out;
    if (!node.IsSequence() || node.size() == 0) {
      return Error(node, "roles must be a non-empty list");
    }
    for (const YAML::Node& item : node) {
      absl::StatusOr<Role> role = RoleOf(item);
      if (!role.ok()) return role.status();
      out.push_back(*role);
    }
    return out;
  }

  // Checks that every "{...}" in `pattern` is a known placeholder.
  absl::Status Placeholders(const YAML::Node& node, absl::string_view pattern) const {
    std::string rest(pattern);
    for (const char* p : kPlaceholders) rest = absl::StrReplaceAll(rest, {{p, ""}});
    if (absl::StrContains(rest, "{") || absl::StrContains(rest, "}")) {
      return Error(node, absl::StrCat("\"", pattern,
                                      "\" has an unknown placeholder; known: {branch}, "
                                      "{namespace}, {serviceaccount}, {name}"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SubjectMatcher> Subject(const YAML::Node& node) const {
    if (absl::Status s = OnlyKeys(node, {"kind", "name", "issuer", "claims"}, "a subject");
        !s.ok()) {
      return s;
    }
    SubjectMatcher m;
    if (node["kind"]) {
      absl::StatusOr<std::string> kind = Scalar(node["kind"], "kind");
      if (!kind.ok()) return kind.status();
      if (*kind == "token") {
        m.kind = IdentityKind::kToken;
      } else if (*kind == "jwt") {
        m.kind = IdentityKind::kJwt;
      } else if (*kind == "certificate") {
        m.kind = IdentityKind::kCertificate;
      } else if (*kind == "anonymous") {
        m.kind = IdentityKind::kAnonymous;
      } else {
        return Error(node["kind"], absl::StrCat("unknown kind \"", *kind,
                                                "\"; use token, jwt, certificate or anonymous"));
      }
    }
    if (node["name"]) {
      absl::StatusOr<std::string> s = Scalar(node["name"], "name");
      if (!s.ok()) return s.status();
      m.name = *std::move(s);
    }
    if (node["issuer"]) {
      absl::StatusOr<std::string> s = Scalar(node["issuer"], "issuer");
      if (!s.ok()) return s.status();
      m.issuer = *std::move(s);
    }
    if (node["claims"]) {
      if (!node["claims"].IsMap()) return Error(node["claims"], "claims must be a mapping");
      for (const auto& kv : node["claims"]) {
        absl::StatusOr<std::string> v = Scalar(kv.second, "a claim pattern");
        if (!v.ok()) return v.status();
        m.claims[kv.first.as<std::string>()] = *std::move(v);
      }
    }
    return m;
  }

  absl::StatusOr<Binding> BindingOf(const YAML::Node& node) const {
    if (absl::Status s = OnlyKeys(
            node, {"subjects", "roles", "tenants", "service", "act_for_others"}, "a binding");
        !s.ok()) {
      return s;
    }
    Binding b;
    const YAML::Node subjects = node["subjects"];
    if (!subjects || !subjects.IsSequence() || subjects.size() == 0) {
      return Error(node, "a binding needs a non-empty list of subjects");
    }
    for (const YAML::Node& s : subjects) {
      absl::StatusOr<SubjectMatcher> m = Subject(s);
      if (!m.ok()) return m.status();
      b.subjects.push_back(*std::move(m));
    }
    if (!node["roles"]) return Error(node, "a binding needs roles");
    absl::StatusOr<std::vector<Role>> roles = Roles(node["roles"]);
    if (!roles.ok()) return roles.status();
    b.roles = *std::move(roles);
    if (!node["tenants"]) return Error(node, "a binding needs tenants (patterns, e.g. \"feat-*\")");
    absl::StatusOr<std::vector<std::string>> tenants = Strings(node["tenants"], "tenants");
    if (!tenants.ok()) return tenants.status();
    for (const std::string& t : *tenants) {
      if (absl::Status s = Placeholders(node["tenants"], t); !s.ok()) return s;
    }
    b.tenants = *std::move(tenants);
    const bool instance =
        std::find(b.roles.begin(), b.roles.end(), Role::kInstance) != b.roles.end();
    if (node["service"]) {
      absl::StatusOr<std::string> service = Scalar(node["service"], "service");
      if (!service.ok()) return service.status();
      if (absl::Status s = Placeholders(node["service"], *service); !s.ok()) return s;
      b.service = *std::move(service);
    }
    if (instance && (b.roles.size() != 1 || b.service.empty())) {
      return Error(node,
                   "the instance role needs `service` (e.g. \"{serviceaccount}\") and a binding "
                   "of its own");
    }
    if (!instance && !b.service.empty()) {
      return Error(node["service"], "`service` applies to the instance role only");
    }
    if (node["act_for_others"]) {
      absl::StatusOr<bool> v = Bool(node["act_for_others"], "act_for_others");
      if (!v.ok()) return v.status();
      b.act_for_others = *v;
    }
    return b;
  }

  absl::StatusOr<JwtIssuer> Issuer(const YAML::Node& node) const {
    if (absl::Status s =
            OnlyKeys(node, {"issuer", "audiences", "jwks_file", "allow_hs256", "leeway_seconds"},
                     "a JWT issuer");
        !s.ok()) {
      return s;
    }
    JwtIssuer issuer;
    if (!node["issuer"]) return Error(node, "a JWT issuer needs `issuer` (its iss claim)");
    absl::StatusOr<std::string> iss = Scalar(node["issuer"], "issuer");
    if (!iss.ok()) return iss.status();
    issuer.issuer = *std::move(iss);
    if (!node["audiences"]) {
      return Error(node, "a JWT issuer needs `audiences`: tokens for other services are refused");
    }
    absl::StatusOr<std::vector<std::string>> aud = Strings(node["audiences"], "audiences");
    if (!aud.ok()) return aud.status();
    if (aud->empty()) return Error(node["audiences"], "audiences must not be empty");
    issuer.audiences = *std::move(aud);
    if (!node["jwks_file"]) return Error(node, "a JWT issuer needs `jwks_file`");
    absl::StatusOr<std::string> jwks = Scalar(node["jwks_file"], "jwks_file");
    if (!jwks.ok()) return jwks.status();
    issuer.jwks_file = *std::move(jwks);
    if (node["allow_hs256"]) {
      absl::StatusOr<bool> v = Bool(node["allow_hs256"], "allow_hs256");
      if (!v.ok()) return v.status();
      issuer.allow_hs256 = *v;
    }
    if (node["leeway_seconds"]) {
      int seconds = 0;
      if (!node["leeway_seconds"].IsScalar() ||
          !YAML::convert<int>::decode(node["leeway_seconds"], seconds) || seconds < 0 ||
          seconds > 600) {
        return Error(node["leeway_seconds"], "leeway_seconds must be 0-600");
      }
      issuer.leeway = absl::Seconds(seconds);
    }
    return issuer;
  }

 private:
  std::string origin_;
};

bool Matches(const SubjectMatcher& m, const Identity& id) {
  if (m.kind && *m.kind != id.kind) return false;
  if (!GlobMatches(m.name, id.name)) return false;
  if (m.issuer != "*" && !GlobMatches(m.issuer, id.issuer)) return false;
  for (const auto& [claim, pattern] : m.claims) {
    auto it = id.claims.find(claim);
    if (it == id.claims.end() || !GlobMatches(pattern, it->second)) return false;
  }
  return true;
}

// `pattern` with the identity's placeholders filled in; nullopt if one is missing. Filled-in
// values are escaped so that an identity cannot smuggle glob characters into a pattern.
std::optional<std::string> Fill(const std::string& pattern, const Identity& id) {
  if (!absl::StrContains(pattern, "{")) return pattern;
  auto claim = [&](const char* name) -> std::string {
    auto it = id.claims.find(name);
    return it == id.claims.end() ? "" : it->second;
  };
  const std::pair<const char*, std::string> values[] = {
      {"{branch}", NormalizeTenantName(claim("branch"))},
      {"{namespace}", claim("kubernetes.namespace")},
      {"{serviceaccount}", claim("kubernetes.serviceaccount")},
      {"{name}", id.name},
  };
  std::string out = pattern;
  for (const auto& [placeholder, value] : values) {
    if (!absl::StrContains(out, placeholder)) continue;
    if (value.empty()) return std::nullopt;
    std::string escaped;
    for (char c : value) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') escaped += '\\';
      escaped += c;
    }
    out = absl::StrReplaceAll(out, {{placeholder, escaped}});
  }
  return out;
}

}  // namespace

const char* RightName(Right right) {
  switch (right) {
    case Right::kRead:
      return "read";
    case Right::kReadSecrets:
      return "read-secrets";
    case Right::kWrite:
      return "write";
    case Right::kRegister:
      return "register";
    case Right::kPublish:
      return "publish";
    case Right::kManageProtected:
      return "manage-protected";
    case Right::kAudit:
      return "audit";
    case Right::kAdmin:
      return "admin";
  }
  return "?";
}

const char* RoleName(Role role) {
  for (const RoleInfo& r : kRoles) {
    if (r.role == role) return r.name;
  }
  return "?";
}

bool GlobMatches(absl::string_view pattern, absl::string_view text) {
  // "*" (every tenant, the loopback default's grant) is checked on every call's hot path.
  if (pattern == "*") return true;
  return fnmatch(std::string(pattern).c_str(), std::string(text).c_str(), 0) == 0;
}

absl::StatusOr<Policy> Policy::Parse(absl::string_view yaml, absl::string_view origin) {
  Parser p(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ":", e.mark.line + 1, ": not YAML: ", e.msg));
  }
  Policy policy;
  if (root.IsNull()) return policy;  // empty file: nobody may do anything
  try {
    if (absl::Status s =
            p.OnlyKeys(root, {"authentication", "protected", "bindings"}, "the policy");
        !s.ok()) {
      return s;
    }
    if (const YAML::Node auth = root["authentication"]) {
      if (absl::Status s =
              p.OnlyKeys(auth, {"static_tokens_file", "jwt_issuers"}, "authentication");
          !s.ok()) {
        return s;
      }
      if (auth["static_tokens_file"]) {
        absl::StatusOr<std::string> f = p.Scalar(auth["static_tokens_file"], "static_tokens_file");
        if (!f.ok()) return f.status();
        policy.authentication_.static_tokens_file = *std::move(f);
      }
      if (const YAML::Node issuers = auth["jwt_issuers"]) {
        if (!issuers.IsSequence()) return p.Error(issuers, "jwt_issuers must be a list");
        std::set<std::string> seen;
        for (const YAML::Node& n : issuers) {
          absl::StatusOr<JwtIssuer> issuer = p.Issuer(n);
          if (!issuer.ok()) return issuer.status();
          if (!seen.insert(issuer->issuer).second) {
            return p.Error(n, absl::StrCat("issuer \"", issuer->issuer, "\" appears twice"));
          }
          policy.authentication_.jwt_issuers.push_back(*std::move(issuer));
        }
      }
    }
    if (const YAML::Node prot = root["protected"]) {
      if (absl::Status s = p.OnlyKeys(prot, {"tenants", "roles"}, "protected"); !s.ok()) return s;
      if (prot["tenants"]) {
        absl::StatusOr<std::vector<std::string>> t = p.Strings(prot["tenants"], "tenants");
        if (!t.ok()) return t.status();
        policy.protected_tenants_ = *std::move(t);
      }
      if (prot["roles"]) {
        absl::StatusOr<std::vector<Role>> roles = p.Roles(prot["roles"]);
        if (!roles.ok()) return roles.status();
        policy.protected_roles_ = *std::move(roles);
      }
    }
    if (const YAML::Node bindings = root["bindings"]) {
      if (!bindings.IsSequence()) return p.Error(bindings, "bindings must be a list");
      for (const YAML::Node& n : bindings) {
        absl::StatusOr<Binding> b = p.BindingOf(n);
        if (!b.ok()) return b.status();
        policy.bindings_.push_back(*std::move(b));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ":", e.mark.line + 1, ": ", e.msg));
  }
  return policy;
}

absl::StatusOr<Policy> Policy::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

Policy Policy::AllowAll() {
  Policy policy;
  policy.allow_all_ = true;
  Binding everyone;
  everyone.subjects.push_back(SubjectMatcher{});
  everyone.roles = {Role::kAdmin};
  everyone.tenants = {"*"};
  everyone.act_for_others = true;
  policy.bindings_.push_back(std::move(everyone));
  return policy;
}

std::vector<Grant> Policy::GrantsFor(const Identity& identity) const {
  std::vector<Grant> grants;
  for (const Binding& b : bindings_) {
    bool matched = false;
    for (const SubjectMatcher& m : b.subjects) matched = matched || Matches(m, identity);
    if (!matched) continue;
    std::string service;
    if (!b.service.empty()) {
      std::optional<std::string> filled = Fill(b.service, identity);
      if (!filled) continue;
      service = *std::move(filled);
    }
    for (const std::string& pattern : b.tenants) {
      std::optional<std::string> tenant = Fill(pattern, identity);
      if (!tenant) continue;
      for (Role role : b.roles) grants.push_back({role, *tenant, service, b.act_for_others});
    }
  }
  return grants;
}

bool Policy::IsProtected(absl::string_view tenant) const {
  for (const std::string& p : protected_tenants_) {
    if (GlobMatches(p, tenant)) return true;
  }
  return false;
}

bool Policy::ManagesProtected(Role role) const {
  return std::find(protected_roles_.begin(), protected_roles_.end(), role) !=
         protected_roles_.end();
}

}  // namespace confcenter::auth
