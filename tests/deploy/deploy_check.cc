// deploy_check: checks what `kubectl kustomize` renders from deploy/k8s/ and the Prometheus rules
// in deploy/prometheus/, so the deployment tests need no python (tests/deploy/k8s_test.sh).
//
//   deploy_check server RENDERED --version=V [--config-out=FILE] [--policy-out=FILE]
//       a server overlay: objects parse; Services, PodDisruptionBudget and StatefulSet agree on
//       names, labels and ports; no client Service exposes the admin port; a NetworkPolicy
//       lets the admin port be reached from a selected namespace only; probes hit /healthz
//       and /readyz on the admin port the config file (or a flag or env override) makes
//       confcenterd listen on; TLS and auth_policy are set and their files (and the files the
//       policy names) are mounted; scrape annotations, volumes, security context, resources;
//       image tag V. The server is the StatefulSet or Deployment with a container confcenterd:
//       with the RocksDB store (the default) one StatefulSet replica with its store in a
//       PersistentVolume; with --store=etcd (CheckOnEtcd) at least 3 stateless replicas spread
//       by hostname with a PodDisruptionBudget keeping 2, client TLS to etcd, and, when the
//       rendering runs the etcd members (a StatefulSet with a container etcd), etcd_endpoints
//       naming exactly the members, etcd_max_txn_ops/etcd_max_request_bytes equal to their
//       --max-txn-ops/--max-request-bytes, no --auto-compaction-*, their --initial-cluster,
//       client TLS, budget and NetworkPolicy. Writes the --config file's text to FILE (for
//       confcenterd --check_config) and the policy file's to the --policy-out FILE.
//   deploy_check cd-job RENDERED --server=SERVER_RENDERED
//       a CD Job overlay: the Jobs run the server's image, reach its Service, find their
//       ConfigMaps, authenticate with a projected service-account token (CONFCENTER_TOKEN_FILE)
//       over TLS (CONFCENTER_CA), run non-root, and are not selected by the server's Services.
//   deploy_check server-env RENDERED           prints the server container's CONFCENTER_*
//       environment (literal values, $(VAR) references expanded), NUL-separated KEY=VALUE, for
//       confcenterd --check_config
//   deploy_check job-command RENDERED JOB      prints the Job's command and args, NUL-separated
//   deploy_check job-env RENDERED JOB ROOT     writes the Job's ConfigMap volumes under ROOT and
//       prints its environment (envFrom ConfigMaps, then env) as NUL-separated KEY=VALUE, with
//       values under a ConfigMap volume's mount path moved under ROOT
//   deploy_check rules FILE --metrics=a,b,...  a Prometheus rules file: groups of alert and
//       recording rules; every confcenter_* metric an expression uses is in the list
//
// Exit status 0 when every check passes, 1 with one "FAIL: ..." line per problem, 2 on usage.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "yaml-cpp/yaml.h"

namespace {

int failures = 0;

void Fail(const std::string& message) {
  std::cout << "FAIL: " << message << "\n";
  ++failures;
}

// node[k1][k2]... or a null node if any step is missing (yaml-cpp throws when indexing a
// missing node); a key "0" indexes a sequence.
YAML::Node Get(YAML::Node node, std::initializer_list<std::string> path) {
  for (const std::string& key : path) {
    if (node.IsMap() && node[key]) {
      node.reset(node[key]);  // operator= would overwrite the parent's data
    } else if (node.IsSequence() && !key.empty() &&
               std::isdigit(static_cast<unsigned char>(key[0])) && std::stoul(key) < node.size()) {
      node.reset(node[std::stoul(key)]);
    } else {
      return YAML::Node(YAML::NodeType::Undefined);
    }
  }
  return node;
}

std::string Str(const YAML::Node& node) {
  return node && node.IsScalar() ? node.as<std::string>() : std::string();
}

// Loads every document of a multi-document YAML file; nullopt (after a FAIL) if it does not parse.
std::optional<std::vector<YAML::Node>> LoadAll(const std::string& path) {
  try {
    std::vector<YAML::Node> docs;
    for (const YAML::Node& doc : YAML::LoadAllFromFile(path)) {
      if (doc && !doc.IsNull()) docs.push_back(doc);
    }
    return docs;
  } catch (const YAML::Exception& e) {
    Fail(path + ": not YAML: " + e.what());
    return std::nullopt;
  }
}

struct Object {
  std::string kind, name, namespace_;
  YAML::Node node;
  std::string Id() const { return kind + " " + name; }
};

std::vector<Object> Objects(const std::vector<YAML::Node>& docs, const std::string& file) {
  std::vector<Object> objects;
  for (const YAML::Node& doc : docs) {
    Object o{Str(doc["kind"]), Str(Get(doc, {"metadata", "name"})),
             Str(Get(doc, {"metadata", "namespace"})), doc};
    if (Str(doc["apiVersion"]).empty() || o.kind.empty() || o.name.empty()) {
      Fail(file + ": an object without apiVersion, kind or metadata.name");
      continue;
    }
    objects.push_back(o);
  }
  return objects;
}

std::vector<const Object*> OfKind(const std::vector<Object>& objects, const std::string& kind) {
  std::vector<const Object*> out;
  for (const Object& o : objects) {
    if (o.kind == kind) out.push_back(&o);
  }
  return out;
}

const Object* Find(const std::vector<Object>& objects, const std::string& kind,
                   const std::string& name) {
  for (const Object& o : objects) {
    if (o.kind == kind && o.name == name) return &o;
  }
  return nullptr;
}

std::map<std::string, std::string> StringMap(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  if (node && node.IsMap()) {
    for (const auto& kv : node) out[kv.first.as<std::string>()] = Str(kv.second);
  }
  return out;
}

std::string Show(const std::map<std::string, std::string>& labels) {
  std::string s;
  for (const auto& [k, v] : labels) s += (s.empty() ? "" : ",") + k + "=" + v;
  return "{" + s + "}";
}

// True when every key=value of `selector` is in `labels` (and the selector is not empty).
bool Selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

// The port (host:port's last part) of a listen address, or -1.
int PortOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  try {
    return std::stoi(address.substr(colon + 1));
  } catch (...) {
    return -1;
  }
}

std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

struct ContainerPort {
  std::string name;
  int number;
};

// Resolves a Service targetPort or probe port (a name or a number) against the container ports.
const ContainerPort* ResolvePort(const std::vector<ContainerPort>& ports, const YAML::Node& ref) {
  const std::string value = Str(ref);
  for (const ContainerPort& p : ports) {
    if (p.name == value || std::to_string(p.number) == value) return &p;
  }
  return nullptr;
}

// `value` with the kubelet's $(VAR) references to the container's env expanded: literal values,
// and the pod's namespace (a fieldRef to metadata.namespace) when `ns` is given; other
// references (the pod's name) stay as they are.
std::string Expand(const std::string& value, const YAML::Node& container, const std::string& ns) {
  std::string out;
  for (size_t i = 0; i < value.size();) {
    const size_t end = value.compare(i, 2, "$(") == 0 ? value.find(')', i) : std::string::npos;
    if (end == std::string::npos) {
      out += value[i++];
      continue;
    }
    const std::string name = value.substr(i + 2, end - i - 2);
    std::string replacement = value.substr(i, end - i + 1);
    for (const YAML::Node& env : container["env"]) {
      if (Str(env["name"]) != name) continue;
      if (env["value"]) {
        replacement = Str(env["value"]);
      } else if (Str(Get(env, {"valueFrom", "fieldRef", "fieldPath"})) == "metadata.namespace" &&
                 !ns.empty()) {
        replacement = ns;
      }
    }
    out += replacement;
    i = end + 1;
  }
  return out;
}

// The value confcenterd would use for a flag: --flag=V in args, else CONFCENTER_<FLAG> in the
// container's env, else the --config file's key, else `fallback` (the flag's default). With
// `ns`, $(VAR) references in args and env are expanded (Expand).
std::string EffectiveFlag(const std::string& flag, const YAML::Node& container,
                          const YAML::Node& config_file, const std::string& fallback,
                          const std::string& ns = "") {
  std::string value;
  bool found = false;
  for (const YAML::Node& arg : container["args"]) {
    const std::string a = Str(arg);
    if (a.rfind("--" + flag + "=", 0) == 0) {
      value = a.substr(flag.size() + 3);  // the last one wins, as in absl flags
      found = true;
    }
  }
  if (found) return Expand(value, container, ns);
  std::string env_name = "CONFCENTER_";
  for (char c : flag) env_name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const YAML::Node& env : container["env"]) {
    if (Str(env["name"]) == env_name) return Expand(Str(env["value"]), container, ns);
  }
  if (config_file && config_file.IsMap() && config_file[flag]) return Str(config_file[flag]);
  return fallback;
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() + 1 && path.rfind(dir + "/", 0) == 0;
}

// Checks the pod- and container-level security settings the restricted Pod Security Standard
// asks for, plus a read-only root filesystem.
void CheckSecurity(const std::string& who, const YAML::Node& pod_spec,
                   const YAML::Node& container) {
  const YAML::Node pod_sc = Get(pod_spec, {"securityContext"});
  const YAML::Node sc = Get(container, {"securityContext"});
  const bool non_root = Str(sc["runAsNonRoot"]) == "true" || Str(pod_sc["runAsNonRoot"]) == "true";
  if (!non_root) Fail(who + ": runAsNonRoot is not true");
  const std::string uid =
      Str(sc["runAsUser"]).empty() ? Str(pod_sc["runAsUser"]) : Str(sc["runAsUser"]);
  if (uid.empty() || uid == "0")
    Fail(who + ": runAsUser is not a non-zero UID (got '" + uid + "')");
  if (Str(sc["readOnlyRootFilesystem"]) != "true")
    Fail(who + ": readOnlyRootFilesystem is not true");
  if (Str(sc["allowPrivilegeEscalation"]) != "false")
    Fail(who + ": allowPrivilegeEscalation is not false");
  bool drops_all = false;
  for (const YAML::Node& cap : Get(sc, {"capabilities", "drop"})) drops_all |= Str(cap) == "ALL";
  if (!drops_all) Fail(who + ": capabilities.drop does not hold ALL");
  const std::string seccomp = Str(Get(sc, {"seccompProfile", "type"})).empty()
                                  ? Str(Get(pod_sc, {"seccompProfile", "type"}))
                                  : Str(Get(sc, {"seccompProfile", "type"}));
  if (seccomp != "RuntimeDefault" && seccomp != "Localhost") {
    Fail(who + ": seccompProfile.type is '" + seccomp + "', not RuntimeDefault");
  }
  if (Str(pod_spec["automountServiceAccountToken"]) != "false") {
    Fail(who + ": automountServiceAccountToken is not false (it needs no API access)");
  }
}

void CheckResources(const std::string& who, const YAML::Node& container) {
  for (const char* section : {"requests", "limits"}) {
    for (const char* resource : {"cpu", "memory"}) {
      if (Str(Get(container, {"resources", section, resource})).empty()) {
        Fail(who + ": resources." + section + "." + resource + " is not set");
      }
    }
  }
}

// A ConfigMap volume's contents by mount path, for the container's volume mounts.
struct ConfigMount {
  std::string mount_path;
  const Object* config_map;  // null if absent from the rendering
  std::string config_map_name;
  bool optional;
};

std::vector<ConfigMount> ConfigMounts(const std::vector<Object>& objects,
                                      const YAML::Node& pod_spec, const YAML::Node& container) {
  std::vector<ConfigMount> out;
  for (const YAML::Node& mount : container["volumeMounts"]) {
    for (const YAML::Node& volume : pod_spec["volumes"]) {
      if (Str(volume["name"]) != Str(mount["name"]) || !volume["configMap"]) continue;
      const std::string cm = Str(Get(volume, {"configMap", "name"}));
      out.push_back({Str(mount["mountPath"]), Find(objects, "ConfigMap", cm), cm,
                     Str(Get(volume, {"configMap", "optional"})) == "true"});
    }
  }
  return out;
}

std::string FileArg(const std::string& file, const std::string& what) { return file + ": " + what; }

YAML::Node NamedContainer(const YAML::Node& pod_spec, const std::string& name) {
  for (const YAML::Node& c : pod_spec["containers"]) {
    if (Str(c["name"]) == name) return c;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// The StatefulSets and Deployments that run confcenterd (a container of that name).
std::vector<const Object*> ServerWorkloads(const std::vector<Object>& objects) {
  std::vector<const Object*> out;
  for (const Object& o : objects) {
    if ((o.kind == "StatefulSet" || o.kind == "Deployment") &&
        NamedContainer(Get(o.node, {"spec", "template", "spec"}), "confcenterd")) {
      out.push_back(&o);
    }
  }
  return out;
}

std::optional<long long> ToInt(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  try {
    return std::stoll(s);
  } catch (...) {
    return std::nullopt;
  }
}

std::string Replicas(const YAML::Node& spec) {  // the API's default is 1
  return spec["replicas"] ? Str(spec["replicas"]) : std::string("1");
}

// An etcd flag from the container's command and args: --flag=V (the last one wins) or a bare
// --flag ("true"), with $(VAR) expanded; nullopt when absent.
std::optional<std::string> EtcdFlag(const YAML::Node& container, const std::string& flag,
                                    const std::string& ns) {
  std::optional<std::string> value;
  for (const char* part : {"command", "args"}) {
    for (const YAML::Node& word : container[part]) {
      const std::string w = Str(word);
      if (w == "--" + flag) {
        value = "true";
      } else if (w.rfind("--" + flag + "=", 0) == 0) {
        value = Expand(w.substr(flag.size() + 3), container, ns);
      }
    }
  }
  return value;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

// A pod's DNS name with the cluster domain dropped: a.b.ns.svc.cluster.local -> a.b.ns.svc.
std::string ShortHost(std::string s) {
  const std::string suffix = ".svc.cluster.local";
  for (size_t at = s.find(suffix); at != std::string::npos; at = s.find(suffix)) {
    s.replace(at, suffix.size(), ".svc");
  }
  return s;
}

std::string Join(const std::set<std::string>& items) {
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ",") + item;
  return s;
}

// How many of `replicas` pods a PodDisruptionBudget lets a drain evict at once; nullopt (after a
// FAIL) for a percentage or neither field.
std::optional<long long> AllowedDisruptions(const std::string& id, const YAML::Node& pdb,
                                            long long replicas) {
  const YAML::Node spec = pdb["spec"];
  const std::string field = spec["minAvailable"] ? "minAvailable" : "maxUnavailable";
  const std::optional<long long> value = ToInt(Str(spec[field]));
  if (!value) {
    Fail(id + ": " + field + " '" + Str(spec[field]) + "' is not a number of pods");
    return std::nullopt;
  }
  return field == "minAvailable" ? std::max(0LL, replicas - *value) : *value;
}

// The volume a container mounts `path` from (undefined if none).
YAML::Node VolumeOf(const YAML::Node& pod_spec, const YAML::Node& container,
                    const std::string& path) {
  for (const YAML::Node& mount : container["volumeMounts"]) {
    if (!IsUnder(path, Str(mount["mountPath"]))) continue;
    for (const YAML::Node& volume : pod_spec["volumes"]) {
      if (Str(volume["name"]) == Str(mount["name"])) return volume;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// A NetworkPolicy peer that is a podSelector (in the policy's namespace) selecting `labels`.
bool PeerSelectsPods(const YAML::Node& peer, const std::map<std::string, std::string>& labels) {
  return peer["podSelector"] && !peer["namespaceSelector"] && !peer["ipBlock"] &&
         Selects(StringMap(Get(peer, {"podSelector", "matchLabels"})), labels);
}

// confcenterd on etcd (--store=etcd): stateless replicas spread over nodes, a disruption budget
// that keeps two serving, client TLS to etcd; and, when the rendering runs the etcd members (a
// StatefulSet with a container etcd), that confcenterd's endpoints are exactly the members'
// stable names, that both sides agree on the transaction and request limits, that nothing else
// compacts, and the members' cluster, TLS, budget and NetworkPolicy.
void CheckOnEtcd(
    const std::string& file, const std::vector<Object>& objects, const Object& server,
    const YAML::Node& container, const YAML::Node& config_file,
    const std::function<const Object*(const std::string&, const std::string&)>& check_mounted) {
  auto at = [&](const std::string& what) { return FileArg(file, what); };
  const std::string ns = server.namespace_;
  const YAML::Node spec = server.node["spec"];
  const YAML::Node pod_spec = Get(spec, {"template", "spec"});
  const auto pod_labels = StringMap(Get(spec, {"template", "metadata", "labels"}));
  const std::string id = at(server.Id());
  const std::string who = id + " container confcenterd";
  auto flag = [&](const std::string& name, const std::string& fallback) {
    return EffectiveFlag(name, container, config_file, fallback, ns);
  };

  // Replicas: several, stateless, one per node where possible.
  const long long replicas = ToInt(Replicas(spec)).value_or(0);
  if (replicas < 3) {
    Fail(id + ": replicas " + Replicas(spec) +
         ": on etcd run at least 3 (one lost pod or node leaves two serving)");
  }
  if (server.kind != "Deployment") {
    Fail(id + ": replicas on etcd keep no state: a Deployment, not a " + server.kind);
  }
  if (spec["volumeClaimTemplates"] && spec["volumeClaimTemplates"].size() > 0) {
    Fail(id + ": volumeClaimTemplates, but replicas on etcd keep no data (data_dir is unused)");
  }
  for (const YAML::Node& volume : pod_spec["volumes"]) {
    if (volume["persistentVolumeClaim"]) {
      Fail(id + ": volume " + Str(volume["name"]) +
           " is a PersistentVolumeClaim, but replicas on etcd keep no data");
    }
  }
  bool spread = false;
  for (const YAML::Node& term :
       Get(pod_spec,
           {"affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"})) {
    const YAML::Node t = term["podAffinityTerm"];
    spread |= Str(t["topologyKey"]) == "kubernetes.io/hostname" &&
              Selects(StringMap(Get(t, {"labelSelector", "matchLabels"})), pod_labels);
  }
  if (!spread) {
    Fail(id + ": no preferred pod anti-affinity by kubernetes.io/hostname among its own pods: " +
         "the replicas may share a node and go down with it");
  }
  bool budget = false;
  for (const Object* pdb : OfKind(objects, "PodDisruptionBudget")) {
    if (!Selects(StringMap(Get(pdb->node, {"spec", "selector", "matchLabels"})), pod_labels))
      continue;
    budget = true;
    const auto allowed = AllowedDisruptions(at(pdb->Id()), pdb->node, replicas);
    if (!allowed) continue;
    if (*allowed < 1) {
      Fail(at(pdb->Id()) + ": lets no replica of " + std::to_string(replicas) +
           " be evicted: every node drain blocks");
    } else if (replicas - *allowed < 2) {
      Fail(at(pdb->Id()) + ": lets " + std::to_string(*allowed) + " of " +
           std::to_string(replicas) + " replicas be evicted at once: fewer than 2 would serve");
    }
  }
  if (!budget) Fail(at("no PodDisruptionBudget selects confcenterd's replicas"));

  // confcenterd's side of etcd: TLS files mounted from Secrets, endpoints, limits.
  for (const char* setting : {"etcd_ca_file", "etcd_cert_file", "etcd_key_file"}) {
    const std::string path = flag(setting, "");
    if (path.empty()) {
      Fail(who + ": no " + setting + ": etcd runs with client certificates (--client-cert-auth)");
    } else {
      check_mounted(setting, path);
    }
  }
  const std::string endpoints = flag("etcd_endpoints", "");
  const std::regex endpoint_re(R"(^(dns:///)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]+$)");
  std::vector<std::string> listed;
  if (endpoints.empty()) Fail(who + ": no etcd_endpoints");
  for (const std::string& e : Split(endpoints, ',')) {
    if (!std::regex_match(e, endpoint_re)) {
      Fail(who + ": etcd_endpoints entry '" + e + "' is not host:port or dns:///name:port");
    }
    listed.push_back(e);
  }
  const std::string txn_ops = flag("etcd_max_txn_ops", "128");
  const std::string request_bytes = flag("etcd_max_request_bytes", "1572864");

  // The etcd members, if the rendering runs them.
  std::vector<const Object*> members;
  for (const Object* o : OfKind(objects, "StatefulSet")) {
    if (NamedContainer(Get(o->node, {"spec", "template", "spec"}), "etcd")) members.push_back(o);
  }
  if (members.empty()) return;  // an external etcd (overlays/ha-external-etcd)
  if (members.size() > 1) {
    Fail(at("more than one etcd StatefulSet"));
    return;
  }
  const Object& sts = *members[0];
  const std::string eid = at(sts.Id());
  const YAML::Node es = sts.node["spec"];
  const YAML::Node epod = Get(es, {"template", "spec"});
  const YAML::Node ec = NamedContainer(epod, "etcd");
  const std::string ewho = eid + " container etcd";
  const auto elabels = StringMap(Get(es, {"template", "metadata", "labels"}));
  auto eflag = [&](const std::string& name) { return EtcdFlag(ec, name, ns); };
  if (!Selects(StringMap(Get(es, {"selector", "matchLabels"})), elabels)) {
    Fail(eid + ": selector does not select its pod labels " + Show(elabels));
  }
  if (Selects(pod_labels, elabels) || Selects(elabels, pod_labels)) {
    Fail(eid + ": its pod labels " + Show(elabels) + " and confcenterd's " + Show(pod_labels) +
         " select each other's pods");
  }
  const long long size = ToInt(Replicas(es)).value_or(0);
  if (size < 3 || size % 2 == 0) {
    Fail(eid + ": replicas " + Replicas(es) +
         ": an odd number, at least 3 (a quorum survives the loss of a member)");
  }
  if (Str(es["podManagementPolicy"]) != "Parallel") {
    Fail(eid + ": podManagementPolicy is not Parallel: a member is ready only once a quorum " +
         "runs, so OrderedReady would never start the second");
  }
  std::vector<ContainerPort> eports;
  for (const YAML::Node& p : ec["ports"]) {
    eports.push_back({Str(p["name"]), p["containerPort"] ? p["containerPort"].as<int>() : -1});
  }
  const ContainerPort* client = ResolvePort(eports, YAML::Node("client"));
  const ContainerPort* peer = ResolvePort(eports, YAML::Node("peer"));
  if (!client || !peer) {
    Fail(ewho + ": container ports named client and peer are required");
    return;
  }
  const std::string governing = Str(es["serviceName"]);
  if (const Object* svc = Find(objects, "Service", governing); svc == nullptr) {
    Fail(eid + ": serviceName " + governing + " is no Service in the rendering");
  } else {
    if (Str(Get(svc->node, {"spec", "clusterIP"})) != "None")
      Fail(at(svc->Id()) + ": the etcd StatefulSet's serviceName, but not headless");
    if (Str(Get(svc->node, {"spec", "publishNotReadyAddresses"})) != "true") {
      Fail(at(svc->Id()) + ": publishNotReadyAddresses is not true: members cannot resolve " +
           "each other before they are ready, and they become ready only together");
    }
  }
  for (const Object* svc : OfKind(objects, "Service")) {
    if (!Selects(StringMap(Get(svc->node, {"spec", "selector"})), elabels)) continue;
    for (const YAML::Node& port : Get(svc->node, {"spec", "ports"})) {
      const YAML::Node target = port["targetPort"] ? port["targetPort"] : port["port"];
      if (ResolvePort(eports, target) == nullptr) {
        Fail(at(svc->Id()) + ": port " + Str(port["name"]) + " targets '" + Str(target) +
             "', no etcd container port");
      }
    }
  }

  // confcenterd's endpoints are the members' stable names and client port.
  std::set<std::string> expected, got;
  for (long long i = 0; i < size; ++i) {
    expected.insert(sts.name + "-" + std::to_string(i) + "." + governing + "." + ns +
                    ".svc:" + std::to_string(client->number));
  }
  for (const std::string& e : listed) {
    got.insert(ShortHost(e));
    if (!expected.count(ShortHost(e))) {
      Fail(who + ": etcd_endpoints lists " + e + ", which is no member of " + sts.Id() + " (" +
           Join(expected) + ")");
    }
  }
  for (const std::string& e : expected) {
    if (!got.count(e)) Fail(who + ": etcd_endpoints lacks the member " + e);
  }

  // The limits agree (etcd's defaults when a flag is absent); nothing else compacts.
  for (const auto& [mine, theirs, fallback] :
       {std::tuple<std::string, std::string, std::string>{"etcd_max_txn_ops", "max-txn-ops", "128"},
        {"etcd_max_request_bytes", "max-request-bytes", "1572864"}}) {
    const std::string value = mine == "etcd_max_txn_ops" ? txn_ops : request_bytes;
    const std::string etcd_value = eflag(theirs).value_or(fallback);
    if (value != etcd_value) {
      Fail(who + ": " + mine + " " + value + " is not the etcd members' --" + theirs + " " +
           etcd_value + " (" + sts.Id() + ")");
    }
  }
  for (const char* part : {"command", "args"}) {
    for (const YAML::Node& word : ec[part]) {
      if (Str(word).rfind("--auto-compaction-", 0) == 0) {
        Fail(ewho + ": " + Str(word) + ": confcenterd compacts etcd (etcd_compaction_interval); " +
             "a second compactor drops history it still serves");
      }
    }
  }
  const auto quota = ToInt(eflag("quota-backend-bytes").value_or(""));
  if (!quota) {
    Fail(ewho + ": no --quota-backend-bytes (etcd's default is 2 GiB)");
  } else if (*quota > 8LL * 1024 * 1024 * 1024) {
    Fail(ewho + ": --quota-backend-bytes above 8 GiB, etcd's suggested maximum");
  }

  // The members' cluster: named after their pods, bootstrapped from the stable names.
  bool pod_name = false;
  for (const YAML::Node& env : ec["env"]) {
    pod_name |= Str(env["name"]) == "POD_NAME" &&
                Str(Get(env, {"valueFrom", "fieldRef", "fieldPath"})) == "metadata.name";
  }
  if (!pod_name || eflag("name").value_or("") != "$(POD_NAME)") {
    Fail(ewho + ": --name is not the pod's name ($(POD_NAME) from metadata.name)");
  }
  const std::string peer_urls = eflag("listen-peer-urls").value_or("http://localhost:2380");
  const std::string scheme = peer_urls.substr(0, peer_urls.find("://"));
  std::set<std::string> cluster, want_cluster;
  for (long long i = 0; i < size; ++i) {
    const std::string member = sts.name + "-" + std::to_string(i);
    want_cluster.insert(member + "=" + scheme + "://" + member + "." + governing + "." + ns +
                        ".svc:" + std::to_string(peer->number));
  }
  for (const std::string& entry : Split(eflag("initial-cluster").value_or(""), ',')) {
    cluster.insert(ShortHost(entry));
  }
  if (cluster != want_cluster) {
    Fail(ewho + ": --initial-cluster " + Join(cluster) + " is not the members' stable names " +
         Join(want_cluster));
  }
  const std::string advertise = ShortHost(eflag("initial-advertise-peer-urls").value_or(""));
  const std::string want_advertise =
      scheme + "://$(POD_NAME)." + governing + "." + ns + ".svc:" + std::to_string(peer->number);
  if (advertise != want_advertise) {
    Fail(ewho + ": --initial-advertise-peer-urls " + advertise + " is not " + want_advertise);
  }
  std::string data_mount;
  for (const YAML::Node& vct : es["volumeClaimTemplates"]) {
    for (const YAML::Node& mount : ec["volumeMounts"]) {
      if (Str(mount["name"]) == Str(Get(vct, {"metadata", "name"})))
        data_mount = Str(mount["mountPath"]);
    }
  }
  const std::string data_dir = eflag("data-dir").value_or("");
  if (data_mount.empty() || !IsUnder(data_dir, data_mount)) {
    Fail(ewho + ": --data-dir '" + data_dir + "' is not a directory inside a mounted " +
         "volumeClaimTemplate");
  }

  // Client TLS with client certificates, its files from a Secret.
  if (eflag("client-cert-auth").value_or("false") != "true") {
    Fail(ewho + ": no --client-cert-auth: any pod the NetworkPolicy admits could read and " +
         "write the store");
  }
  for (const std::string& url :
       Split(eflag("listen-client-urls").value_or("http://localhost:2379"), ',')) {
    if (url.rfind("https://", 0) != 0) Fail(ewho + ": listens for clients on " + url + ", not TLS");
  }
  for (const char* setting : {"trusted-ca-file", "cert-file", "key-file"}) {
    const std::string path = eflag(setting).value_or("");
    const YAML::Node volume = path.empty() ? YAML::Node() : VolumeOf(epod, ec, path);
    if (path.empty()) {
      Fail(ewho + ": no --" + setting);
    } else if (!volume || !volume["secret"]) {
      Fail(ewho + ": --" + setting + " " + path + " is not in a mounted Secret");
    }
  }
  if (!Get(ec, {"readinessProbe"})) Fail(ewho + ": no readinessProbe");
  CheckSecurity(ewho, epod, ec);
  CheckResources(ewho, ec);
  if (Str(epod["enableServiceLinks"]) != "false") {
    Fail(eid + ": enableServiceLinks is not false: a Service named etcd would set ETCD_* " +
         "variables, which etcd reads as flags");
  }

  // Budget: one member at a time, so a quorum stays.
  const long long quorum = size / 2 + 1;
  bool ebudget = false;
  for (const Object* pdb : OfKind(objects, "PodDisruptionBudget")) {
    if (!Selects(StringMap(Get(pdb->node, {"spec", "selector", "matchLabels"})), elabels)) continue;
    ebudget = true;
    const auto allowed = AllowedDisruptions(at(pdb->Id()), pdb->node, size);
    if (!allowed) continue;
    if (*allowed < 1) {
      Fail(at(pdb->Id()) + ": lets no etcd member be evicted: every node drain blocks");
    } else if (size - *allowed < quorum) {
      Fail(at(pdb->Id()) + ": lets " + std::to_string(*allowed) + " of " + std::to_string(size) +
           " etcd members be evicted at once: the rest lose quorum");
    }
  }
  if (!ebudget) Fail(at("no PodDisruptionBudget selects the etcd members"));

  // NetworkPolicy: confcenterd reaches the client port, the members each other's peer port,
  // nobody else either of them.
  bool epolicy = false, clients_reach = false, peers_reach = false;
  for (const Object* np : OfKind(objects, "NetworkPolicy")) {
    if (!Selects(StringMap(Get(np->node, {"spec", "podSelector", "matchLabels"})), elabels))
      continue;
    epolicy = true;
    const std::string npid = at(np->Id());
    for (const YAML::Node& rule : Get(np->node, {"spec", "ingress"})) {
      std::set<int> rule_ports;
      for (const YAML::Node& port : rule["ports"]) {
        const ContainerPort* p = ResolvePort(eports, port["port"]);
        if (p == nullptr) {
          Fail(npid + ": ingress port '" + Str(port["port"]) + "' is no etcd container port");
        } else {
          rule_ports.insert(p->number);
        }
      }
      const bool all_ports = !rule["ports"] || rule["ports"].size() == 0;
      const bool any_peer = !rule["from"] || rule["from"].size() == 0;
      if (all_ports || rule_ports.count(client->number)) {
        if (any_peer) Fail(npid + ": lets anyone reach the etcd client port");
        for (const YAML::Node& from : rule["from"]) {
          clients_reach |= PeerSelectsPods(from, pod_labels);
          if (from["ipBlock"]) Fail(npid + ": the etcd client port is open to an ipBlock");
        }
      }
      if (all_ports || rule_ports.count(peer->number)) {
        if (any_peer) Fail(npid + ": lets anyone reach the etcd peer port");
        for (const YAML::Node& from : rule["from"]) {
          if (PeerSelectsPods(from, elabels)) {
            peers_reach = true;
          } else {
            Fail(npid + ": the etcd peer port " + std::to_string(peer->number) +
                 " is open beyond the members");
          }
        }
      }
    }
  }
  if (!epolicy) {
    Fail(at("no NetworkPolicy selects the etcd members"));
  } else {
    if (!clients_reach) {
      Fail(at("no NetworkPolicy lets confcenterd's pods " + Show(pod_labels) +
              " reach the etcd client port " + std::to_string(client->number)));
    }
    if (!peers_reach) {
      Fail(at("no NetworkPolicy lets the etcd members reach each other's peer port " +
              std::to_string(peer->number)));
    }
  }
  // If a policy restricts confcenterd's egress, it must let the client port out.
  bool egress_limited = false, egress_to_etcd = false;
  for (const Object* np : OfKind(objects, "NetworkPolicy")) {
    if (!Selects(StringMap(Get(np->node, {"spec", "podSelector", "matchLabels"})), pod_labels))
      continue;
    bool has_egress = false;
    for (const YAML::Node& type : Get(np->node, {"spec", "policyTypes"}))
      has_egress |= Str(type) == "Egress";
    if (!has_egress) continue;
    egress_limited = true;
    for (const YAML::Node& rule : Get(np->node, {"spec", "egress"})) {
      bool port_ok = !rule["ports"] || rule["ports"].size() == 0;
      for (const YAML::Node& port : rule["ports"]) {
        port_ok |=
            Str(port["port"]) == "client" || Str(port["port"]) == std::to_string(client->number);
      }
      bool peer_ok = !rule["to"] || rule["to"].size() == 0;
      for (const YAML::Node& to : rule["to"]) peer_ok |= PeerSelectsPods(to, elabels);
      egress_to_etcd |= port_ok && peer_ok;
    }
  }
  if (egress_limited && !egress_to_etcd) {
    Fail(at(
        "a NetworkPolicy limits confcenterd's egress and lets it not reach the etcd client port " +
        std::to_string(client->number)));
  }
}

int CheckServer(const std::string& file, const std::string& version, const std::string& config_out,
                const std::string& policy_out) {
  auto docs = LoadAll(file);
  if (!docs) return 1;
  const std::vector<Object> objects = Objects(*docs, file);
  auto at = [&](const std::string& what) { return FileArg(file, what); };

  // One namespace for everything namespaced, and the Namespace object (if rendered) is it.
  std::set<std::string> namespaces;
  for (const Object& o : objects) {
    if (o.kind != "Namespace") namespaces.insert(o.namespace_);
  }
  if (namespaces.size() != 1 || namespaces.count("")) {
    Fail(at("objects are not all in one explicit namespace"));
  }
  for (const Object* ns : OfKind(objects, "Namespace")) {
    if (!namespaces.count(ns->name))
      Fail(at("Namespace " + ns->name + " is not the objects' namespace"));
  }

  const auto servers = ServerWorkloads(objects);
  if (servers.size() != 1) {
    Fail(at("expected exactly one StatefulSet or Deployment with a container confcenterd, got " +
            std::to_string(servers.size())));
    return 1;
  }
  const Object& sts = *servers[0];
  const std::string pods = "the " + sts.kind + "'s pods";
  const YAML::Node spec = sts.node["spec"];
  const std::string sts_id = at(sts.Id());
  const std::string ns = sts.namespace_;
  const auto pod_labels = StringMap(Get(spec, {"template", "metadata", "labels"}));
  if (!Selects(StringMap(Get(spec, {"selector", "matchLabels"})), pod_labels)) {
    Fail(sts_id + ": selector " + Show(StringMap(Get(spec, {"selector", "matchLabels"}))) +
         " does not select its pod labels " + Show(pod_labels));
  }
  const YAML::Node pod_spec = Get(spec, {"template", "spec"});
  YAML::Node container;
  container.reset(NamedContainer(pod_spec, "confcenterd"));
  const std::string who = sts_id + " container confcenterd";
  // The etcd members, when the rendering runs them (overlays/ha): a StatefulSet whose container
  // is named etcd. Their Services, PodDisruptionBudget and NetworkPolicy are checked apart.
  const Object* etcd = nullptr;
  for (const Object* o : OfKind(objects, "StatefulSet")) {
    if (NamedContainer(Get(o->node, {"spec", "template", "spec"}), "etcd")) etcd = o;
  }
  const auto etcd_labels =
      etcd ? StringMap(Get(etcd->node, {"spec", "template", "metadata", "labels"}))
           : std::map<std::string, std::string>();

  // Image: confcenter/confcenter (any registry) at the project's version.
  const std::string image = Str(container["image"]);
  const std::regex image_re("^(.+/)?confcenter/confcenter:(.+)$");
  std::smatch m;
  if (!std::regex_match(image, m, image_re)) {
    Fail(who + ": image '" + image + "' is not confcenter/confcenter:TAG");
  } else if (m[2] != version) {
    Fail(who + ": image tag '" + std::string(m[2]) + "' is not the project's version " + version);
  }

  std::vector<ContainerPort> ports;
  for (const YAML::Node& p : container["ports"]) {
    ports.push_back({Str(p["name"]), p["containerPort"] ? p["containerPort"].as<int>() : -1});
  }
  const ContainerPort* grpc = ResolvePort(ports, YAML::Node("grpc"));
  const ContainerPort* admin = ResolvePort(ports, YAML::Node("admin"));
  if (!grpc || !admin) {
    Fail(who + ": container ports named grpc and admin are required");
    return 1;
  }

  // Probes: liveness /healthz, readiness /readyz, both on the admin port.
  for (const auto& [probe, path] :
       {std::pair<std::string, std::string>{"livenessProbe", "/healthz"},
        {"readinessProbe", "/readyz"}}) {
    const YAML::Node get = Get(container, {probe, "httpGet"});
    if (!get) {
      Fail(who + ": " + probe + " is not an httpGet probe");
      continue;
    }
    if (Str(get["path"]) != path)
      Fail(who + ": " + probe + " path is '" + Str(get["path"]) + "', not " + path);
    const ContainerPort* p = ResolvePort(ports, get["port"]);
    if (p == nullptr) {
      Fail(who + ": " + probe + " port '" + Str(get["port"]) + "' is no container port");
    } else if (p->number != admin->number) {
      Fail(who + ": " + probe + " port " + std::to_string(p->number) + " is not the admin port " +
           std::to_string(admin->number));
    }
  }

  // Scraping: annotations on the pod point at the admin port's /metrics.
  const auto annotations = StringMap(Get(spec, {"template", "metadata", "annotations"}));
  auto annotation = [&](const std::string& key) {
    auto it = annotations.find(key);
    return it == annotations.end() ? std::string("(absent)") : it->second;
  };
  if (annotation("prometheus.io/scrape") != "true")
    Fail(who + ": pod annotation prometheus.io/scrape is not \"true\"");
  if (annotation("prometheus.io/port") != std::to_string(admin->number)) {
    Fail(who + ": pod annotation prometheus.io/port is " + annotation("prometheus.io/port") +
         ", not the admin port " + std::to_string(admin->number));
  }
  if (annotation("prometheus.io/path") != "/metrics") {
    Fail(who + ": pod annotation prometheus.io/path is " + annotation("prometheus.io/path") +
         ", not /metrics");
  }

  // Volumes: every mount names a volume or a claim template; every claim template is mounted.
  std::map<std::string, std::string> mount_paths;  // volume name -> mount path
  for (const YAML::Node& mount : container["volumeMounts"]) {
    mount_paths[Str(mount["name"])] = Str(mount["mountPath"]);
  }
  std::set<std::string> volume_names;
  for (const YAML::Node& v : pod_spec["volumes"]) volume_names.insert(Str(v["name"]));
  std::string data_mount;
  for (const YAML::Node& vct : spec["volumeClaimTemplates"]) {
    const std::string name = Str(Get(vct, {"metadata", "name"}));
    volume_names.insert(name);
    if (!mount_paths.count(name)) {
      Fail(who + ": volumeClaimTemplate " + name + " is not mounted");
    } else {
      data_mount = mount_paths[name];
    }
    if (Str(Get(vct, {"spec", "resources", "requests", "storage"})).empty()) {
      Fail(sts_id + ": volumeClaimTemplate " + name + " requests no storage");
    }
  }
  for (const auto& [name, path] : mount_paths) {
    if (!volume_names.count(name)) Fail(who + ": volumeMount " + name + " names no volume");
  }

  // The --config file: from a mounted ConfigMap that the rendering holds.
  YAML::Node config_file;
  std::string config_path;
  for (const YAML::Node& arg : container["args"]) {
    if (Str(arg).rfind("--config=", 0) == 0) config_path = Str(arg).substr(9);
  }
  if (config_path.empty()) {
    Fail(who + ": args pass no --config=FILE");
  } else {
    bool found = false;
    for (const ConfigMount& cm : ConfigMounts(objects, pod_spec, container)) {
      if (!IsUnder(config_path, cm.mount_path)) continue;
      found = true;
      const std::string key = config_path.substr(cm.mount_path.size() + 1);
      if (cm.config_map == nullptr) {
        Fail(who + ": --config's ConfigMap " + cm.config_map_name + " is not in the rendering");
      } else if (!Get(cm.config_map->node, {"data", key})) {
        Fail(who + ": ConfigMap " + cm.config_map_name + " has no key " + key +
             " for --config=" + config_path);
      } else {
        const std::string text = Str(Get(cm.config_map->node, {"data", key}));
        if (!config_out.empty()) std::ofstream(config_out) << text;
        try {
          config_file.reset(YAML::Load(text));
        } catch (const YAML::Exception& e) {
          Fail(who + ": the --config file " + key + " is not YAML: " + e.what());
        }
        if (config_file && !config_file.IsMap())
          Fail(who + ": the --config file " + key + " is not a YAML map");
      }
    }
    if (!found) Fail(who + ": --config=" + config_path + " is under no mounted ConfigMap");
  }

  // What confcenterd will listen on, by flag > env > config file > default.
  const std::string listen = EffectiveFlag("listen", container, config_file, "127.0.0.1:7070");
  const std::string admin_listen =
      EffectiveFlag("admin_listen", container, config_file, "127.0.0.1:7071");
  const std::string data_dir = EffectiveFlag("data_dir", container, config_file, "./data");
  const std::string store = EffectiveFlag("store", container, config_file, "rocksdb", ns);
  const bool on_etcd = store == "etcd";
  if (store != "rocksdb" && store != "etcd")
    Fail(who + ": store '" + store + "' is neither rocksdb nor etcd");
  if (!on_etcd) {
    if (Str(spec["replicas"]) != "1") {
      Fail(sts_id + ": replicas must be 1 (one process owns the RocksDB store), got " +
           Str(spec["replicas"]));
    }
    if (sts.kind != "StatefulSet") {
      Fail(sts_id + ": the RocksDB store needs a StatefulSet (its volume follows the pod)");
    }
    if (data_mount.empty()) Fail(sts_id + ": no PersistentVolumeClaim template holds the store");
  }
  if (PortOf(listen) != grpc->number) {
    Fail(who + ": confcenterd serves gRPC on " + listen + " but the grpc port is " +
         std::to_string(grpc->number));
  }
  if (PortOf(admin_listen) != admin->number) {
    Fail(who + ": confcenterd serves admin on " + admin_listen +
         " but the probes and the admin port use " + std::to_string(admin->number));
  }
  for (const std::string& address : {listen, admin_listen}) {
    const std::string host = HostOf(address);
    if (host != "0.0.0.0" && host != "[::]" && host != "") {
      Fail(who + ": listens on " + address +
           ": unreachable from the kubelet and the Service (use 0.0.0.0)");
    }
  }
  if (!on_etcd && !data_mount.empty() && !IsUnder(data_dir, data_mount)) {
    Fail(who + ": data_dir " + data_dir + " is not a directory inside the volume mounted at " +
         data_mount + " (a subdirectory: a fresh volume may hold lost+found)");
  }
  const std::string grace = EffectiveFlag("shutdown_grace_seconds", container, config_file, "10");
  const std::string termination = Str(pod_spec["terminationGracePeriodSeconds"]);
  if (!termination.empty() && std::stoi(termination) <= std::stoi(grace)) {
    Fail(sts_id + ": terminationGracePeriodSeconds " + termination +
         " does not exceed shutdown_grace_seconds " + grace + ": queued writes would be killed");
  }

  CheckSecurity(who, pod_spec, container);
  CheckResources(who, container);
  if (Str(pod_spec["enableServiceLinks"]) != "false") {
    Fail(sts_id +
         ": enableServiceLinks is not false: Kubernetes would set CONFCENTER_PORT and "
         "the like, which confcenterd refuses as unknown settings");
  }

  // Services: all select the pod; ports named, targets resolve; the governing one is headless.
  bool headless_found = false, client_found = false;
  for (const Object* svc : OfKind(objects, "Service")) {
    const std::string id = at(svc->Id());
    const auto selector = StringMap(Get(svc->node, {"spec", "selector"}));
    if (etcd != nullptr && Selects(selector, etcd_labels)) continue;  // CheckEtcdMembers
    if (!Selects(selector, pod_labels)) {
      Fail(id + ": selector " + Show(selector) + " does not select " + pods + " " +
           Show(pod_labels));
    }
    std::set<int> target_numbers;
    for (const YAML::Node& port : Get(svc->node, {"spec", "ports"})) {
      if (Str(port["name"]).empty()) Fail(id + ": a port without a name");
      const YAML::Node target = port["targetPort"] ? port["targetPort"] : port["port"];
      const ContainerPort* p = ResolvePort(ports, target);
      if (p == nullptr) {
        Fail(id + ": port " + Str(port["name"]) + " targets '" + Str(target) +
             "', no container port");
      } else {
        target_numbers.insert(p->number);
      }
    }
    const bool headless = Str(Get(svc->node, {"spec", "clusterIP"})) == "None";
    const bool serves_grpc = target_numbers.count(grpc->number) > 0;
    const bool serves_admin = target_numbers.count(admin->number) > 0;
    if (!serves_grpc && !serves_admin) Fail(id + ": exposes neither the grpc nor the admin port");
    // Clients reach the gRPC port through a Service; /metrics and the probes' endpoints stay
    // off it (a separate metrics Service, reachable from monitoring only).
    if (!headless && serves_grpc && serves_admin) {
      Fail(id + ": a client Service that also exposes the admin port " +
           std::to_string(admin->number) + " (/metrics belongs on a separate Service)");
    }
    if (svc->name == Str(spec["serviceName"])) {
      headless_found = true;
      if (!headless)
        Fail(id + ": the StatefulSet's serviceName, but not headless (clusterIP: None)");
    }
    client_found |= !headless && serves_grpc;
  }
  if (!headless_found && sts.kind == "StatefulSet")
    Fail(sts_id + ": serviceName " + Str(spec["serviceName"]) + " is no Service in the rendering");
  if (!client_found) Fail(at("no client (ClusterIP) Service"));

  // PodDisruptionBudget: selects the pods and says how many may go.
  const auto pdbs = OfKind(objects, "PodDisruptionBudget");
  if (pdbs.empty()) Fail(at("no PodDisruptionBudget"));
  for (const Object* pdb : pdbs) {
    const auto selector = StringMap(Get(pdb->node, {"spec", "selector", "matchLabels"}));
    if (etcd != nullptr && Selects(selector, etcd_labels)) continue;  // CheckEtcdMembers
    if (!Selects(selector, pod_labels)) {
      Fail(at(pdb->Id()) + ": selector " + Show(selector) + " does not select " + pods + " " +
           Show(pod_labels));
    }
    if (!Get(pdb->node, {"spec", "minAvailable"}) && !Get(pdb->node, {"spec", "maxUnavailable"})) {
      Fail(at(pdb->Id()) + ": neither minAvailable nor maxUnavailable");
    }
  }

  // NetworkPolicy: selects the pods; lets some peers reach the grpc port, and only peers
  // picked by a namespace selector (the monitoring namespace) reach the admin port.
  bool policy_found = false;
  for (const Object* np : OfKind(objects, "NetworkPolicy")) {
    const std::string id = at(np->Id());
    if (!Selects(StringMap(Get(np->node, {"spec", "podSelector", "matchLabels"})), pod_labels))
      continue;
    policy_found = true;
    bool grpc_allowed = false;
    for (const YAML::Node& rule : Get(np->node, {"spec", "ingress"})) {
      std::set<int> rule_ports;
      for (const YAML::Node& port : rule["ports"]) {
        const ContainerPort* p = ResolvePort(ports, port["port"]);
        if (p == nullptr) {
          Fail(id + ": ingress port '" + Str(port["port"]) + "' is no container port");
        } else {
          rule_ports.insert(p->number);
        }
      }
      const bool all_ports = !rule["ports"] || rule["ports"].size() == 0;
      const bool any_peer = !rule["from"] || rule["from"].size() == 0;
      if (all_ports || rule_ports.count(grpc->number)) grpc_allowed = true;
      if (all_ports || rule_ports.count(admin->number)) {
        if (any_peer)
          Fail(id + ": lets anyone reach the admin port " + std::to_string(admin->number));
        for (const YAML::Node& peer : rule["from"]) {
          if (!peer["namespaceSelector"] || peer["namespaceSelector"].size() == 0 ||
              peer["ipBlock"]) {
            Fail(id + ": the admin port " + std::to_string(admin->number) +
                 " is open to peers beyond a selected (monitoring) namespace");
          }
        }
      }
    }
    if (!grpc_allowed) Fail(id + ": no ingress rule lets clients reach the grpc port");
  }
  if (!policy_found) Fail(at("no NetworkPolicy selects " + pods));

  // The access files the config names (TLS, the policy) are in mounted volumes, and a
  // ConfigMap's key is there; so are the files the policy itself names.
  auto check_mounted = [&](const std::string& setting, const std::string& path) -> const Object* {
    for (const YAML::Node& mount : container["volumeMounts"]) {
      const std::string dir = Str(mount["mountPath"]);
      if (!IsUnder(path, dir)) continue;
      for (const YAML::Node& volume : pod_spec["volumes"]) {
        if (Str(volume["name"]) != Str(mount["name"])) continue;
        if (volume["configMap"]) {
          const std::string name = Str(Get(volume, {"configMap", "name"}));
          const Object* cm = Find(objects, "ConfigMap", name);
          const std::string key = path.substr(dir.size() + 1);
          if (cm != nullptr && !Get(cm->node, {"data", key})) {
            Fail(who + ": " + setting + " " + path + ": ConfigMap " + name + " has no key " + key);
          }
          return cm;
        }
        if (!volume["secret"]) {
          Fail(who + ": " + setting + " " + path + " is in volume " + Str(volume["name"]) +
               ", neither a Secret nor a ConfigMap");
        }
        return nullptr;
      }
    }
    Fail(who + ": " + setting + " " + path + " is under no mounted volume");
    return nullptr;
  };
  const std::string auth_policy = EffectiveFlag("auth_policy", container, config_file, "");
  if (auth_policy.empty()) {
    Fail(who + ": no auth_policy: confcenterd refuses a 0.0.0.0 listen without one");
  } else if (const Object* cm = check_mounted("auth_policy", auth_policy); cm != nullptr) {
    const std::string key = auth_policy.substr(auth_policy.rfind('/') + 1);
    const std::string text = Str(Get(cm->node, {"data", key}));
    if (!policy_out.empty()) std::ofstream(policy_out) << text;
    try {
      const YAML::Node policy = YAML::Load(text);
      const std::string tokens = Str(Get(policy, {"authentication", "static_tokens_file"}));
      if (!tokens.empty()) check_mounted("the policy's static_tokens_file", tokens);
      for (const YAML::Node& issuer : Get(policy, {"authentication", "jwt_issuers"})) {
        check_mounted("the policy's jwks_file", Str(issuer["jwks_file"]));
      }
    } catch (const YAML::Exception& e) {
      Fail(who + ": the auth_policy file is not YAML: " + e.what());
    }
  }
  for (const char* setting : {"tls_cert", "tls_key", "tls_client_ca"}) {
    const std::string path = EffectiveFlag(setting, container, config_file, "");
    if (path.empty()) {
      Fail(who + ": no " + setting + ": clients' tokens would cross the network in the clear");
    } else {
      check_mounted(setting, path);
    }
  }
  const std::string secret_key = EffectiveFlag("secret_key_file", container, config_file, "");
  if (secret_key.empty()) {
    Fail(who + ": no secret_key_file: secret values would lie unencrypted in the volume");
  } else if (secret_key.rfind("/var/lib/confcenter", 0) == 0) {
    Fail(who + ": secret_key_file lies in the data volume, beside what it seals");
  } else {
    check_mounted("secret_key_file", secret_key);
  }

  // Every ConfigMap volume resolves (kustomize renames generated ones), but the server CA's,
  // created once out of band (deploy/README.md) and read by replicas to verify each other.
  const std::string peer_ca = EffectiveFlag("peer_tls_ca", container, config_file, "");
  for (const ConfigMount& cm : ConfigMounts(objects, pod_spec, container)) {
    if (cm.config_map == nullptr && !cm.optional &&
        !(!peer_ca.empty() && IsUnder(peer_ca, cm.mount_path))) {
      Fail(who + ": mounts ConfigMap " + cm.config_map_name + ", which is not in the rendering");
    }
  }

  if (on_etcd) {
    CheckOnEtcd(file, objects, sts, container, config_file, check_mounted);
  } else if (etcd != nullptr) {
    Fail(at(etcd->Id()) + ": etcd members, but confcenterd's store is " + store);
  }
  return failures == 0 ? 0 : 1;
}

YAML::Node JobContainer(const Object& job) {
  return Get(job.node, {"spec", "template", "spec", "containers", "0"});
}

int CheckCdJob(const std::string& file, const std::string& server_file) {
  auto docs = LoadAll(file);
  auto server_docs = LoadAll(server_file);
  if (!docs || !server_docs) return 1;
  const std::vector<Object> objects = Objects(*docs, file);
  const std::vector<Object> server = Objects(*server_docs, server_file);
  auto at = [&](const std::string& what) { return FileArg(file, what); };

  const auto sets = ServerWorkloads(server);
  if (sets.size() != 1) {
    Fail(FileArg(server_file, "expected one StatefulSet or Deployment running confcenterd"));
    return 1;
  }
  std::string server_image;
  for (const YAML::Node& c : Get(sets[0]->node, {"spec", "template", "spec", "containers"})) {
    if (Str(c["name"]) == "confcenterd") server_image = Str(c["image"]);
  }
  // The address Jobs must use: the client Service's grpc port, by cluster DNS name.
  std::string address;
  std::vector<std::map<std::string, std::string>> server_selectors;
  for (const Object* svc : OfKind(server, "Service")) {
    server_selectors.push_back(StringMap(Get(svc->node, {"spec", "selector"})));
    if (Str(Get(svc->node, {"spec", "clusterIP"})) == "None") continue;
    for (const YAML::Node& port : Get(svc->node, {"spec", "ports"})) {
      if (Str(port["name"]) == "grpc") {
        address = svc->name + "." + svc->namespace_ + ".svc.cluster.local:" + Str(port["port"]);
      }
    }
  }

  const auto jobs = OfKind(objects, "Job");
  if (jobs.empty()) Fail(at("no Job"));
  for (const Object* job : jobs) {
    const std::string id = at(job->Id());
    const YAML::Node pod_spec = Get(job->node, {"spec", "template", "spec"});
    const YAML::Node container = JobContainer(*job);
    const std::string who = id + " container " + Str(container["name"]);
    if (Str(container["image"]) != server_image) {
      Fail(who + ": image '" + Str(container["image"]) + "' is not the server's '" + server_image +
           "'");
    }
    const std::string command = Str(Get(container, {"command", "0"}));
    if (command != "confcenter-register" && command != "confcenter-deregister") {
      Fail(who + ": command '" + command + "' is not one of the image's CD scripts");
    }
    if (Str(pod_spec["restartPolicy"]) != "Never" &&
        Str(pod_spec["restartPolicy"]) != "OnFailure") {
      Fail(id + ": restartPolicy must be Never or OnFailure");
    }
    const auto labels = StringMap(Get(job->node, {"spec", "template", "metadata", "labels"}));
    for (const auto& selector : server_selectors) {
      if (Selects(selector, labels)) {
        Fail(id + ": its pods " + Show(labels) + " would receive the server's traffic (selector " +
             Show(selector) + ")");
      }
    }
    CheckSecurity(who, pod_spec, container);
    CheckResources(who, container);
    std::string job_address;
    for (const YAML::Node& from : container["envFrom"]) {
      const std::string name = Str(Get(from, {"configMapRef", "name"}));
      const Object* cm = Find(objects, "ConfigMap", name);
      if (cm == nullptr) {
        Fail(who + ": envFrom ConfigMap " + name + " is not in the rendering");
      } else if (cm->namespace_ != job->namespace_) {
        Fail(who + ": envFrom ConfigMap " + name + " is in another namespace");
      } else if (Get(cm->node, {"data", "CONFCENTER_ADDR"})) {
        job_address = Str(Get(cm->node, {"data", "CONFCENTER_ADDR"}));
      }
    }
    for (const YAML::Node& env : container["env"]) {
      if (Str(env["name"]) == "CONFCENTER_ADDR") job_address = Str(env["value"]);
    }
    if (job_address != address) {
      Fail(who + ": CONFCENTER_ADDR is '" + job_address + "', not the server's Service " + address);
    }
    // Credentials: a projected service-account token for confcenter in CONFCENTER_TOKEN_FILE,
    // the server's CA in CONFCENTER_CA (a ConfigMap made once, out of band, so it may be
    // absent from the rendering).
    std::string token_file, ca_file;
    for (const YAML::Node& env : container["env"]) {
      if (Str(env["name"]) == "CONFCENTER_TOKEN_FILE") token_file = Str(env["value"]);
      if (Str(env["name"]) == "CONFCENTER_CA") ca_file = Str(env["value"]);
    }
    bool token_projected = false;
    for (const YAML::Node& mount : container["volumeMounts"]) {
      const std::string dir = Str(mount["mountPath"]);
      if (token_file.empty() || !IsUnder(token_file, dir)) continue;
      for (const YAML::Node& volume : pod_spec["volumes"]) {
        if (Str(volume["name"]) != Str(mount["name"])) continue;
        for (const YAML::Node& source : Get(volume, {"projected", "sources"})) {
          const YAML::Node sat = source["serviceAccountToken"];
          if (sat && Str(sat["audience"]) == "confcenter" &&
              dir + "/" + Str(sat["path"]) == token_file) {
            token_projected = true;
          }
        }
      }
    }
    if (!token_projected) {
      Fail(who + ": CONFCENTER_TOKEN_FILE ('" + token_file +
           "') is no projected service-account token with audience confcenter");
    }
    if (ca_file.empty()) Fail(who + ": no CONFCENTER_CA: the server speaks TLS");
    for (const ConfigMount& cm : ConfigMounts(objects, pod_spec, container)) {
      if (cm.config_map == nullptr && !cm.optional && !IsUnder(ca_file, cm.mount_path)) {
        Fail(who + ": mounts ConfigMap " + cm.config_map_name + ", which is not in the rendering");
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

const Object* FindJob(const std::vector<Object>& objects, const std::string& name) {
  const Object* job = Find(objects, "Job", name);
  if (job == nullptr) Fail("no Job " + name + " in the rendering");
  return job;
}

int PrintJobCommand(const std::string& file, const std::string& name) {
  auto docs = LoadAll(file);
  if (!docs) return 1;
  const std::vector<Object> objects = Objects(*docs, file);
  const Object* job = FindJob(objects, name);
  if (job == nullptr) return 1;
  const YAML::Node container = JobContainer(*job);
  for (const char* part : {"command", "args"}) {
    for (const YAML::Node& word : container[part]) std::cout << Str(word) << '\0';
  }
  return 0;
}

int PrintServerEnv(const std::string& file) {
  auto docs = LoadAll(file);
  if (!docs) return 1;
  const std::vector<Object> objects = Objects(*docs, file);
  const auto servers = ServerWorkloads(objects);
  if (servers.size() != 1) {
    Fail(file + ": expected one StatefulSet or Deployment running confcenterd");
    return 1;
  }
  const YAML::Node container =
      NamedContainer(Get(servers[0]->node, {"spec", "template", "spec"}), "confcenterd");
  for (const YAML::Node& env : container["env"]) {
    const std::string name = Str(env["name"]);
    if (name.rfind("CONFCENTER_", 0) != 0 || !env["value"]) continue;
    std::cout << name << '=' << Expand(Str(env["value"]), container, servers[0]->namespace_)
              << '\0';
  }
  return 0;
}

int PrintJobEnv(const std::string& file, const std::string& name, const std::string& root) {
  auto docs = LoadAll(file);
  if (!docs) return 1;
  const std::vector<Object> objects = Objects(*docs, file);
  const Object* job = FindJob(objects, name);
  if (job == nullptr) return 1;
  const YAML::Node pod_spec = Get(job->node, {"spec", "template", "spec"});
  const YAML::Node container = JobContainer(*job);
  const std::vector<ConfigMount> mounts = ConfigMounts(objects, pod_spec, container);
  for (const ConfigMount& cm : mounts) {
    if (cm.config_map == nullptr) continue;
    const std::filesystem::path dir = std::filesystem::path(root) / cm.mount_path.substr(1);
    std::filesystem::create_directories(dir);
    for (const auto& [key, value] : StringMap(cm.config_map->node["data"])) {
      std::ofstream(dir / key) << value;
    }
  }
  auto print = [&](const std::string& key, std::string value) {
    for (const ConfigMount& cm : mounts) {
      if (IsUnder(value, cm.mount_path)) value = root + value;
    }
    std::cout << key << '=' << value << '\0';
  };
  for (const YAML::Node& from : container["envFrom"]) {
    const Object* cm = Find(objects, "ConfigMap", Str(Get(from, {"configMapRef", "name"})));
    if (cm == nullptr) continue;
    for (const auto& [key, value] : StringMap(cm->node["data"])) print(key, value);
  }
  for (const YAML::Node& env : container["env"]) print(Str(env["name"]), Str(env["value"]));
  return 0;
}

int CheckRules(const std::string& file, const std::string& metrics_list) {
  std::set<std::string> metrics;
  std::stringstream list(metrics_list);
  for (std::string m; std::getline(list, m, ',');) metrics.insert(m);
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    Fail(file + ": not YAML: " + e.what());
    return 1;
  }
  if (!root["groups"] || !root["groups"].IsSequence() || root["groups"].size() == 0) {
    Fail(file + ": no groups");
    return 1;
  }
  const std::regex duration("^[0-9]+(ms|s|m|h|d|w|y)$");
  const std::regex metric("confcenter_[a-z_]+");
  std::set<std::string> group_names, used;
  int rules = 0;
  for (const YAML::Node& group : root["groups"]) {
    const std::string g = Str(group["name"]);
    if (g.empty() || !group_names.insert(g).second)
      Fail(file + ": a group without a unique name ('" + g + "')");
    if (!group["rules"] || !group["rules"].IsSequence() || group["rules"].size() == 0) {
      Fail(file + ": group " + g + " has no rules");
      continue;
    }
    for (const YAML::Node& rule : group["rules"]) {
      ++rules;
      const std::string alert = Str(rule["alert"]), record = Str(rule["record"]);
      const std::string id = file + ": group " + g + " rule " + (alert.empty() ? record : alert);
      if (alert.empty() == record.empty()) Fail(id + ": needs exactly one of alert and record");
      const std::string expr = Str(rule["expr"]);
      if (expr.empty()) Fail(id + ": no expr");
      if (rule["for"] && !std::regex_match(Str(rule["for"]), duration)) {
        Fail(id + ": for '" + Str(rule["for"]) + "' is not a duration");
      }
      if (!alert.empty()) {
        const std::string severity = Str(Get(rule, {"labels", "severity"}));
        if (severity != "critical" && severity != "warning" && severity != "info") {
          Fail(id + ": labels.severity '" + severity + "' is not critical, warning or info");
        }
        if (Str(Get(rule, {"annotations", "summary"})).empty())
          Fail(id + ": no annotations.summary");
      }
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
           it != std::sregex_iterator(); ++it) {
        std::string name = it->str();
        for (const char* suffix : {"_bucket", "_count", "_sum"}) {
          const std::string s = suffix;
          if (!metrics.count(name) && name.size() > s.size() &&
              name.compare(name.size() - s.size(), s.size(), s) == 0) {
            name.resize(name.size() - s.size());
          }
        }
        used.insert(name);
        if (!metrics.count(name))
          Fail(id + ": uses " + it->str() + ", which confcenterd does not export");
      }
    }
  }
  std::cout << file << ": " << group_names.size() << " groups, " << rules << " rules, "
            << used.size() << " metrics used\n";
  return failures == 0 ? 0 : 1;
}

std::string Option(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--" + name + "=", 0) == 0) return a.substr(name.size() + 3);
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 2 ? argv[1] : "";
  try {
    if (mode == "server" && !Option(argc, argv, "version").empty()) {
      return CheckServer(argv[2], Option(argc, argv, "version"), Option(argc, argv, "config-out"),
                         Option(argc, argv, "policy-out"));
    }
    if (mode == "cd-job" && !Option(argc, argv, "server").empty()) {
      return CheckCdJob(argv[2], Option(argc, argv, "server"));
    }
    if (mode == "server-env" && argc == 3) return PrintServerEnv(argv[2]);
    if (mode == "job-command" && argc == 4) return PrintJobCommand(argv[2], argv[3]);
    if (mode == "job-env" && argc == 5) return PrintJobEnv(argv[2], argv[3], argv[4]);
    if (mode == "rules" && !Option(argc, argv, "metrics").empty()) {
      return CheckRules(argv[2], Option(argc, argv, "metrics"));
    }
  } catch (const std::exception& e) {  // a field of an unexpected type (yaml-cpp throws)
    Fail(std::string(argv[2]) + ": " + e.what());
    return 1;
  }
  std::cerr << "usage: deploy_check server|cd-job|server-env|job-command|job-env|rules FILE ... "
               "(see the source)\n";
  return 2;
}
