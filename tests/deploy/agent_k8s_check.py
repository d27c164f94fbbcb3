#!/usr/bin/python3
"""Checks deploy/k8s/agent: the rendered Deployment and the Helm values snippet (no cluster).

usage: agent_k8s_check.py check RENDERED VALUES --image IMAGE --address HOST:PORT [--self-test]
       agent_k8s_check.py args RENDERED|VALUES CONTAINER [VAR=VALUE ...]
           prints the container's command and args, NUL-separated, $(VAR) expanded from the
           VAR=VALUE pairs (for running them against a real server)

`check` walks every object against Debian's python3-kubernetes models (unknown fields, wrong
types, missing required fields: tests/confctl/k8s_schema_check.py's walk) and the values'
containers and volumes against V1Container and V1Volume, then checks that the pattern holds
in both (findings name the object and the rule):
- one init container runs confcenter-agent with --once, one container without it, from IMAGE,
  keeping the same view (--tenant, --service, --path, --format, --nested, --template);
- the tenant is $(VAR) with VAR from the downward API's metadata.namespace; the service the
  service account's name (spec.serviceAccountName, or that name literally);
- the file lies in an emptyDir mounted writable into both agent containers and into an
  application container (read-only there);
- CONFCENTER_ADDR is ADDRESS (the server overlay's Service); CONFCENTER_CA is a file of the
  ConfigMap confcenter-ca mounted there; CONFCENTER_TOKEN_FILE a projected service-account
  token of audience confcenter mounted there; POD_NAME from metadata.name;
- the sidecar notifies: by a signal with a pid file (shareProcessNamespace, the pid file on a
  volume the application writes, the same user) or by a URL on 127.0.0.1/localhost;
- it listens on 0.0.0.0:P, P is a container port, liveness /healthz and readiness /readyz on it;
- the restricted security context (non-root, RuntimeDefault seccomp, no privilege escalation,
  read-only root, no capabilities), no service-account API token, no service links.
--self-test also breaks each rule in a copy and expects its finding.
Exit 0 if everything passes, 1 otherwise (each finding on stderr).
"""
import copy
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "confctl"))
import kubernetes.client  # noqa: E402
from k8s_schema_check import Response, walk  # noqa: E402

AGENT = "confcenter-agent"
VIEW_FLAGS = ("--tenant", "--service", "--path", "--format", "--nested", "--template")


def flags(container):
    """--name=value (or --flag) args of a container -> {name: value or True}."""
    out = {}
    for arg in container.get("args") or []:
        name, eq, value = str(arg).partition("=")
        out[name] = value if eq else True
    return out


def env_of(container):
    return {e["name"]: e for e in container.get("env") or [] if isinstance(e, dict)}


def field_ref(env, name):
    item = env.get(name) or {}
    return (((item.get("valueFrom") or {}).get("fieldRef")) or {}).get("fieldPath")


def is_agent(container):
    return (container.get("command") or [None])[0] == AGENT


def mount_for(container, path):
    """The volumeMount of `container` holding `path` (the deepest), or None."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m.get("mountPath", "").rstrip("/")
        if (path == mp or path.startswith(mp + "/")) and (best is None or len(mp) > len(best["mountPath"])):
            best = m
    return best


def check_pod(where, pod, image, address, findings):
    """The agent pattern in one pod spec (pod: {spec, metadata, deployment: bool})."""
    spec = pod["spec"]
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    inits = [c for c in spec.get("initContainers") or [] if is_agent(c)]
    sidecars = [c for c in spec.get("containers") or [] if is_agent(c)]
    apps = [c for c in spec.get("containers") or [] if not is_agent(c)]

    def find(msg):
        findings.append(f"{where}: {msg}")

    if len(inits) != 1 or "--once" not in flags(inits[0]):
        find("no init container running confcenter-agent --once (the application would start "
             "before its file exists)")
        return
    if len(sidecars) != 1 or "--once" in flags(sidecars[0]):
        find("no sidecar container running confcenter-agent without --once (the file would never change)")
        return
    if not apps:
        find("no application container")
        return
    init, sidecar = inits[0], sidecars[0]
    fi, fs = flags(init), flags(sidecar)
    for name in VIEW_FLAGS:
        if fi.get(name) != fs.get(name):
            find(f"the init container's {name} {fi.get(name)!r} is not the sidecar's {fs.get(name)!r}")
    sa = spec.get("serviceAccountName")
    for c in (init, sidecar):
        name = c.get("name")
        f, env = flags(c), env_of(c)
        if c.get("image") != image:
            find(f"container {name}: image {c.get('image')!r} is not the server's {image!r}")
        m = re.fullmatch(r"\$\((\w+)\)", str(f.get("--tenant", "")))
        if not m or field_ref(env, m.group(1)) != "metadata.namespace":
            find(f"container {name}: --tenant {f.get('--tenant')!r} is not the pod's namespace "
                 "(an env variable from fieldRef metadata.namespace)")
        service = str(f.get("--service", ""))
        m = re.fullmatch(r"\$\((\w+)\)", service)
        if not ((m and field_ref(env, m.group(1)) == "spec.serviceAccountName") or (sa and service == sa)):
            find(f"container {name}: --service {service!r} is not the service account's name "
                 f"({sa!r}; the access policy grants a pod the service named after its account)")
        if (env.get("CONFCENTER_ADDR") or {}).get("value") != address:
            find(f"container {name}: CONFCENTER_ADDR {(env.get('CONFCENTER_ADDR') or {}).get('value')!r} "
                 f"is not the server's Service {address!r}")
        if field_ref(env, "POD_NAME") != "metadata.name":
            find(f"container {name}: no POD_NAME from metadata.name (the instance id)")
        path = str(f.get("--path", ""))
        mount = mount_for(c, path)
        volume = volumes.get((mount or {}).get("name"), {})
        if not mount or "emptyDir" not in volume or mount.get("readOnly"):
            find(f"container {name}: --path {path} is on no writable emptyDir mount")
        ca = (env.get("CONFCENTER_CA") or {}).get("value", "")
        m = mount_for(c, ca) if ca else None
        cm = (volumes.get((m or {}).get("name"), {}).get("configMap") or {})
        if not m or cm.get("name") != "confcenter-ca" or os.path.relpath(ca, m["mountPath"]) != "ca.crt":
            find(f"container {name}: CONFCENTER_CA {ca!r} is not ca.crt of the ConfigMap confcenter-ca")
        token = (env.get("CONFCENTER_TOKEN_FILE") or {}).get("value", "")
        m = mount_for(c, token) if token else None
        sources = ((volumes.get((m or {}).get("name"), {}).get("projected") or {}).get("sources")) or []
        sat = [s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s]
        if not m or not any(t.get("audience") == "confcenter" and t.get("path") == os.path.relpath(token, m["mountPath"])
                            for t in sat):
            find(f"container {name}: CONFCENTER_TOKEN_FILE {token!r} is no projected service-account "
                 "token with audience confcenter")
        sc = c.get("securityContext") or {}
        if (sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True
                or "ALL" not in ((sc.get("capabilities") or {}).get("drop") or [])):
            find(f"container {name}: not restricted (allowPrivilegeEscalation false, "
                 "readOnlyRootFilesystem true, capabilities drop ALL)")
    for c in apps:
        sc = c.get("securityContext") or {}
        if pod["deployment"] and (sc.get("allowPrivilegeEscalation") is not False
                                  or sc.get("readOnlyRootFilesystem") is not True):
            find(f"container {c.get('name')}: not restricted")
    # The application reads the file.
    path = str(fs.get("--path", ""))
    app_mounts = [mount_for(a, path) for a in apps]
    side_mount = mount_for(sidecar, path) or {}
    if not any(m and m.get("name") == side_mount.get("name") for m in app_mounts):
        find(f"no application container mounts the volume holding {path}")
    elif any(m and m.get("name") == side_mount.get("name") and not m.get("readOnly") for m in app_mounts):
        find(f"an application container mounts {path}'s volume writable (only the agent writes it)")
    # Notification.
    psc = spec.get("securityContext") or {}
    if fs.get("--notify-signal"):
        pid_file = str(fs.get("--notify-pid-file", ""))
        if not spec.get("shareProcessNamespace"):
            find("the sidecar signals the application but shareProcessNamespace is not true")
        side = mount_for(sidecar, pid_file) if pid_file else None
        writers = [a for a in apps if (mount_for(a, pid_file) or {}).get("name") == (side or {}).get("name")
                   and not (mount_for(a, pid_file) or {}).get("readOnly")]
        if not side or not writers:
            find(f"--notify-pid-file {pid_file!r} is on no volume an application container writes")
        users = {(c.get("securityContext") or {}).get("runAsUser", psc.get("runAsUser")) for c in [sidecar] + apps}
        if len(users) != 1 or None in users:
            find(f"the sidecar signals the application but they do not run as one user ({sorted(map(str, users))})")
    elif fs.get("--notify-url"):
        if not re.match(r"^http://(127\.0\.0\.1|localhost)(:\d+)?/", str(fs["--notify-url"])):
            find(f"--notify-url {fs['--notify-url']!r} is not on the pod's loopback")
    else:
        find("the sidecar notifies nobody (--notify-signal with --notify-pid-file, or --notify-url)")
    # Probes on the listen port.
    listen = str(fs.get("--listen", "127.0.0.1:7091"))
    host, _, port = listen.rpartition(":")
    ports = {str(p.get("containerPort")): p.get("name") for p in sidecar.get("ports") or []}
    if host not in ("0.0.0.0", "[::]"):
        find(f"the sidecar listens on {listen}: the kubelet's probes cannot reach it (0.0.0.0)")
    if port not in ports:
        find(f"the sidecar's listen port {port} is no container port")
    for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (sidecar.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != want or str(get.get("port")) not in (port, str(ports.get(port))):
            find(f"the sidecar's {probe} is not GET {want} on port {port}")
    # The pod.
    if psc.get("runAsNonRoot") is not True or (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        find("the pod is not runAsNonRoot with seccomp RuntimeDefault")
    if pod["deployment"]:
        if spec.get("automountServiceAccountToken") is not False:
            find("automountServiceAccountToken is not false (a Kubernetes API token the pod does not need)")
        if spec.get("enableServiceLinks") is not False:
            find("enableServiceLinks is not false")


def schema(value, type_name, where, findings):
    before = len(findings)
    errors = []
    walk(value, type_name, where, errors)
    findings.extend(errors)
    if len(findings) == before and not type_name.startswith("list["):
        try:
            kubernetes.client.ApiClient().deserialize(Response(value), type_name)
        except (ValueError, TypeError) as e:
            findings.append(f"{where}: {type_name}: {e}")


MODELS = {("apps/v1", "Deployment"): "V1Deployment", ("v1", "ServiceAccount"): "V1ServiceAccount"}


def check_rendered(objects, image, address, findings, name="rendered"):
    deployments = 0
    for i, obj in enumerate(objects):
        key = (obj.get("apiVersion"), obj.get("kind"))
        where = f"{name}[{i}] {key[1]}/{(obj.get('metadata') or {}).get('name')}"
        if key not in MODELS:
            findings.append(f"{where}: no model for {key}")
            continue
        schema(obj, MODELS[key], where, findings)
        if key[1] == "Deployment":
            deployments += 1
            tmpl = obj["spec"]["template"]
            sa = tmpl["spec"].get("serviceAccountName")
            if sa and not any(o.get("kind") == "ServiceAccount" and o["metadata"]["name"] == sa for o in objects):
                findings.append(f"{where}: service account {sa} is not rendered")
            check_pod(where, {"spec": tmpl["spec"], "metadata": tmpl.get("metadata"), "deployment": True},
                      image, address, findings)
    if deployments != 1:
        findings.append(f"{name}: {deployments} Deployments, expected 1")


def values_pod(values):
    """The pod spec a chart would make of the values snippet (its application container: a
    placeholder with the snippet's volumeMounts)."""
    return {
        "serviceAccountName": (values.get("serviceAccount") or {}).get("name"),
        "securityContext": values.get("podSecurityContext"),
        "initContainers": values.get("initContainers"),
        "containers": [{"name": "app", "image": "app", "volumeMounts": values.get("volumeMounts")}]
        + list(values.get("extraContainers") or []),
        "volumes": values.get("volumes"),
    }


def check_values(values, image, address, findings, name="values"):
    for key, type_name in (("initContainers", "list[V1Container]"), ("extraContainers", "list[V1Container]"),
                           ("volumes", "list[V1Volume]"), ("volumeMounts", "list[V1VolumeMount]"),
                           ("podSecurityContext", "V1PodSecurityContext")):
        if key not in values:
            findings.append(f"{name}: no {key}")
            continue
        schema(values[key], type_name, f"{name}.{key}", findings)
    for i, c in enumerate(list(values.get("initContainers") or []) + list(values.get("extraContainers") or [])):
        schema(c, "V1Container", f"{name} container {c.get('name')}", findings)
    check_pod(name, {"spec": values_pod(values), "metadata": {}, "deployment": False}, image, address, findings)


def containers(doc):
    """name -> container of a rendered stream (list) or a values snippet (dict)."""
    out = {}
    if isinstance(doc, dict):
        specs = [values_pod(doc)]
    else:
        specs = [o["spec"]["template"]["spec"] for o in doc if o.get("kind") == "Deployment"]
    for spec in specs:
        for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
            out[c["name"]] = c
    return out


def find_container(spec, name):
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        if c.get("name") == name:
            return c
    raise KeyError(name)


def deployment_spec(objects):
    return next(o for o in objects if o.get("kind") == "Deployment")["spec"]["template"]["spec"]


def mutations():
    """(what, target 'rendered' or 'values', mutate(doc), expected finding regex)."""
    def dep(f):
        return lambda objs: f(deployment_spec(objs))

    def set_arg(container, flag, value):
        def f(spec):
            c = find_container(spec, container)
            c["args"] = [a for a in c["args"] if not str(a).startswith(flag + "=") and a != flag]
            if value is not None:
                c["args"].append(f"{flag}={value}" if value is not True else flag)
        return f

    def set_env(container, name, value):
        def f(spec):
            c = find_container(spec, container)
            for e in c["env"]:
                if e["name"] == name:
                    e.clear()
                    e.update({"name": name, **value})
        return f

    return [
        ("init without --once", "rendered", dep(set_arg("confcenter-init", "--once", None)),
         "no init container running confcenter-agent --once"),
        ("sidecar with --once", "rendered", dep(set_arg("confcenter-agent", "--once", True)),
         "no sidecar container running confcenter-agent without --once"),
        ("another path in the sidecar", "rendered", dep(set_arg("confcenter-agent", "--path", "/etc/app/config/x.env")),
         "the init container's --path '/etc/app/config/orders.env' is not the sidecar's"),
        ("a literal tenant", "rendered", dep(set_arg("confcenter-init", "--tenant", "integration")),
         "--tenant 'integration' is not the pod's namespace"),
        ("tenant from the pod name", "rendered", dep(set_env("confcenter-agent", "CONFCENTER_TENANT",
                                                              {"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
         "--tenant .* is not the pod's namespace"),
        ("another service", "rendered", dep(set_arg("confcenter-agent", "--service", "payments")),
         "--service 'payments' is not the service account's name"),
        ("another address", "rendered", dep(set_env("confcenter-init", "CONFCENTER_ADDR",
                                                     {"value": "confcenter.default.svc:7070"})),
         "CONFCENTER_ADDR 'confcenter.default.svc:7070' is not the server's Service"),
        ("another image", "rendered", dep(lambda s: find_container(s, "confcenter-agent").update(image="confcenter:latest")),
         "image 'confcenter:latest' is not the server's"),
        ("file outside the volume", "rendered", dep(lambda s: [set_arg(n, "--path", "/tmp/orders.env")(s)
                                                               for n in ("confcenter-init", "confcenter-agent")]),
         "--path /tmp/orders.env is on no writable emptyDir mount"),
        ("app mounts the config writable", "rendered",
         dep(lambda s: find_container(s, "app")["volumeMounts"][0].pop("readOnly")),
         "mounts /etc/app/config/orders.env's volume writable"),
        ("no shared process namespace", "rendered", dep(lambda s: s.pop("shareProcessNamespace")),
         "shareProcessNamespace is not true"),
        ("pid file not shared", "rendered",
         dep(set_arg("confcenter-agent", "--notify-pid-file", "/etc/app/config/app.pid")),
         "--notify-pid-file '/etc/app/config/app.pid' is on no volume an application container writes"),
        ("app as another user", "rendered",
         dep(lambda s: find_container(s, "app")["securityContext"].update(runAsUser=10002)),
         "do not run as one user"),
        ("nobody notified", "rendered", dep(lambda s: [set_arg("confcenter-agent", f, None)(s)
                                                       for f in ("--notify-signal", "--notify-pid-file")]),
         "the sidecar notifies nobody"),
        ("listen on loopback", "rendered", dep(set_arg("confcenter-agent", "--listen", "127.0.0.1:7091")),
         "the kubelet's probes cannot reach it"),
        ("readiness on /healthz", "rendered",
         dep(lambda s: find_container(s, "confcenter-agent")["readinessProbe"]["httpGet"].update(path="/healthz")),
         "readinessProbe is not GET /readyz"),
        ("token of another audience", "rendered",
         dep(lambda s: [v for v in s["volumes"] if v["name"] == "confcenter-token"][0]["projected"]["sources"][0]
             ["serviceAccountToken"].update(audience="kubernetes")),
         "is no projected service-account token with audience confcenter"),
        ("CA from another ConfigMap", "rendered",
         dep(lambda s: [v for v in s["volumes"] if v["name"] == "confcenter-ca"][0]["configMap"].update(name="ca")),
         "is not ca.crt of the ConfigMap confcenter-ca"),
        ("writable root", "rendered",
         dep(lambda s: find_container(s, "confcenter-agent")["securityContext"].update(readOnlyRootFilesystem=False)),
         "container confcenter-agent: not restricted"),
        ("API token mounted", "rendered", dep(lambda s: s.update(automountServiceAccountToken=True)),
         "automountServiceAccountToken is not false"),
        ("misspelled field", "rendered", dep(lambda s: s.update(shareProcessNamspace=True)),
         "unknown field 'shareProcessNamspace'"),
        ("port as a string", "rendered",
         dep(lambda s: find_container(s, "confcenter-agent")["ports"][0].update(containerPort="7091")),
         "want int"),
        ("values: URL off the pod", "values",
         lambda v: set_arg("confcenter-agent", "--notify-url", "http://orders:8080/-/reload")(values_pod_live(v)),
         "is not on the pod's loopback"),
        ("values: no init", "values", lambda v: v.update(initContainers=[]),
         "no init container running confcenter-agent --once"),
        ("values: unknown container field", "values",
         lambda v: v["extraContainers"][0].update(volumeMount=[]), "unknown field 'volumeMount'"),
        ("values: app without the config", "values", lambda v: v.update(volumeMounts=[]),
         "no application container mounts the volume"),
    ]


def values_pod_live(values):
    """values_pod, but sharing the containers (so mutations reach the values)."""
    return {"initContainers": values["initContainers"], "containers": values["extraContainers"]}


def main(argv):
    if len(argv) >= 3 and argv[0] == "args":
        with open(argv[1], encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        doc = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) and "kind" not in docs[0] else docs
        c = containers(doc)[argv[2]]
        env = dict(kv.split("=", 1) for kv in argv[3:])
        out = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(a))
               for a in list(c.get("command") or []) + list(c.get("args") or [])]
        sys.stdout.write("".join(a + "\0" for a in out))
        return 0
    if len(argv) < 3 or argv[0] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    rendered_file, values_file = argv[1], argv[2]
    self_test = "--self-test" in argv
    rest = [a for a in argv[3:] if a != "--self-test"]
    opts = dict(zip(rest[0::2], rest[1::2]))
    image, address = opts["--image"], opts["--address"]
    with open(rendered_file, encoding="utf-8") as f:
        rendered = [o for o in yaml.safe_load_all(f) if o is not None]
    with open(values_file, encoding="utf-8") as f:
        values = yaml.safe_load(f)
    findings = []
    check_rendered(rendered, image, address, findings)
    check_values(values, image, address, findings)
    for finding in findings:
        print(f"FAIL {finding}", file=sys.stderr)
    caught = 0
    if self_test:
        for what, target, mutate, expected in mutations():
            broken = copy.deepcopy(rendered if target == "rendered" else values)
            mutate(broken)
            got = []
            if target == "rendered":
                check_rendered(broken, image, address, got)
            else:
                check_values(broken, image, address, got)
            if not any(re.search(expected, g) for g in got):
                print(f"FAIL self-test '{what}': expected /{expected}/, got: {got}", file=sys.stderr)
                findings.append(what)
            else:
                caught += 1
    print(f"agent_k8s_check: {len(rendered)} rendered object(s) and the values snippet checked, "
          f"{len(findings)} problem(s)" + (f"; {caught} broken copies caught" if self_test else ""))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
