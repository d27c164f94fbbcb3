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
//       image tag V. Writes the --config file's text to FILE (for confcenterd --check_config)
//       and the policy file's to the --policy-out FILE.
//   deploy_check cd-job RENDERED --server=SERVER_RENDERED
//       a CD Job overlay: the Jobs run the server's image, reach its Service, find their
//       ConfigMaps, authenticate with a projected service-account token (CONFCENTER_TOKEN_FILE)
//       over TLS (CONFCENTER_CA), run non-root, and are not selected by the server's Services.
//   deploy_check job-command RENDERED JOB      prints the Job's command and args, NUL-separated
//   deploy_check job-env RENDERED JOB ROOT     writes the Job's ConfigMap volumes under ROOT and
//       prints its environment (envFrom ConfigMaps, then env) as NUL-separated KEY=VALUE, with
//       values under a ConfigMap volume's mount path moved under ROOT
//   deploy_check rules FILE --metrics=a,b,...  a Prometheus rules file: groups of alert and
//       recording rules; every confcenter_* metric an expression uses is in the list
//
// Exit status 0 when every check passes, 1 with one "FAIL: ..." line per problem, 2 on usage.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
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

// The value confcenterd would use for a flag: --flag=V in args, else CONFCENTER_<FLAG> in the
// container's env, else the --config file's key, else `fallback` (the flag's default).
std::string EffectiveFlag(const std::string& flag, const YAML::Node& container,
                          const YAML::Node& config_file, const std::string& fallback) {
  std::string value;
  bool found = false;
  for (const YAML::Node& arg : container["args"]) {
    const std::string a = Str(arg);
    if (a.rfind("--" + flag + "=", 0) == 0) {
      value = a.substr(flag.size() + 3);  // the last one wins, as in absl flags
      found = true;
    }
  }
  if (found) return value;
  std::string env_name = "CONFCENTER_";
  for (char c : flag) env_name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const YAML::Node& env : container["env"]) {
    if (Str(env["name"]) == env_name) return Str(env["value"]);
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

  const auto sets = OfKind(objects, "StatefulSet");
  if (sets.size() != 1) {
    Fail(at("expected exactly one StatefulSet, got " + std::to_string(sets.size())));
    return 1;
  }
  const Object& sts = *sets[0];
  const YAML::Node spec = sts.node["spec"];
  const std::string sts_id = at(sts.Id());
  if (Str(spec["replicas"]) != "1") {
    Fail(sts_id + ": replicas must be 1 (one process owns the RocksDB store), got " +
         Str(spec["replicas"]));
  }
  const auto pod_labels = StringMap(Get(spec, {"template", "metadata", "labels"}));
  if (!Selects(StringMap(Get(spec, {"selector", "matchLabels"})), pod_labels)) {
    Fail(sts_id + ": selector " + Show(StringMap(Get(spec, {"selector", "matchLabels"}))) +
         " does not select its pod labels " + Show(pod_labels));
  }
  const YAML::Node pod_spec = Get(spec, {"template", "spec"});
  YAML::Node container;
  for (const YAML::Node& c : pod_spec["containers"]) {
    if (Str(c["name"]) == "confcenterd") container.reset(c);
  }
  if (!container) {
    Fail(sts_id + ": no container named confcenterd");
    return 1;
  }
  const std::string who = sts_id + " container confcenterd";

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
  if (data_mount.empty()) Fail(sts_id + ": no PersistentVolumeClaim template holds the store");

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
  if (!data_mount.empty() && !IsUnder(data_dir, data_mount)) {
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
    if (!Selects(selector, pod_labels)) {
      Fail(id + ": selector " + Show(selector) + " does not select the StatefulSet's pods " +
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
  if (!headless_found)
    Fail(sts_id + ": serviceName " + Str(spec["serviceName"]) + " is no Service in the rendering");
  if (!client_found) Fail(at("no client (ClusterIP) Service"));

  // PodDisruptionBudget: selects the pods and says how many may go.
  const auto pdbs = OfKind(objects, "PodDisruptionBudget");
  if (pdbs.empty()) Fail(at("no PodDisruptionBudget"));
  for (const Object* pdb : pdbs) {
    const auto selector = StringMap(Get(pdb->node, {"spec", "selector", "matchLabels"}));
    if (!Selects(selector, pod_labels)) {
      Fail(at(pdb->Id()) + ": selector " + Show(selector) +
           " does not select the StatefulSet's pods " + Show(pod_labels));
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
  if (!policy_found) Fail(at("no NetworkPolicy selects the StatefulSet's pods"));

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

  // Every ConfigMap volume resolves (kustomize renames generated ones).
  for (const ConfigMount& cm : ConfigMounts(objects, pod_spec, container)) {
    if (cm.config_map == nullptr && !cm.optional) {
      Fail(who + ": mounts ConfigMap " + cm.config_map_name + ", which is not in the rendering");
    }
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

  const auto sets = OfKind(server, "StatefulSet");
  if (sets.size() != 1) {
    Fail(FileArg(server_file, "expected one StatefulSet"));
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
    if (mode == "job-command" && argc == 4) return PrintJobCommand(argv[2], argv[3]);
    if (mode == "job-env" && argc == 5) return PrintJobEnv(argv[2], argv[3], argv[4]);
    if (mode == "rules" && !Option(argc, argv, "metrics").empty()) {
      return CheckRules(argv[2], Option(argc, argv, "metrics"));
    }
  } catch (const std::exception& e) {  // a field of an unexpected type (yaml-cpp throws)
    Fail(std::string(argv[2]) + ": " + e.what());
    return 1;
  }
  std::cerr
      << "usage: deploy_check server|cd-job|job-command|job-env|rules FILE ... (see the source)\n";
  return 2;
}
