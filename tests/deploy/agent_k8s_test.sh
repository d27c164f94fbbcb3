#!/usr/bin/env bash
# deploy/k8s/agent, checked offline and then run for real:
# 1. the example renders with `kubectl kustomize` and, with values-snippet.yaml, passes
#    agent_k8s_check.py (python3-kubernetes' models; the init container and sidecar keep the
#    same view with the server's image, tenant from the namespace, service = service account,
#    the file on a shared emptyDir, the server's Service address from the integration overlay,
#    the CA and projected token, notification, probes, the restricted security context), and
#    its self-test: every rule broken in a copy is caught (26 mutations);
# 2. the Deployment's own containers, run here against a real confcenterd on loopback (their
#    paths moved under a temporary directory, the listen address to loopback, no TLS): the init
#    container's command writes the file and exits 0; the application's script starts with it;
#    the sidecar's command is ready (/readyz), the application gets SIGHUP through its pid file
#    after a put and prints the new value, and `confctl wait-applied` sees the sidecar apply it;
# 3. the values snippet's init container writes the JSON file (nested) and its sidecar POSTs
#    the change to the application's reload URL.
# usage: agent_k8s_test.sh CONFCENTERD CONFCTL AGENT SOURCE_DIR   (env KUBECTL: kubectl to use)
set -euo pipefail
confcenterd=$(realpath "$1") confctl=$(realpath "$2") agent=$(realpath "$3") src=$(realpath "$4")
kubectl=${KUBECTL:-kubectl}
python=/usr/bin/python3  # Debian's, with python3-kubernetes
source "$(dirname "$0")/agent_test_lib.sh"
version=$(sed -n -E 's/^project\(confcenter VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in $src/CMakeLists.txt"
"$python" -c 'import kubernetes, yaml' 2> /dev/null || fail "$python lacks python3-kubernetes (scripts/deps.sh installs it)"

# 1. Render and check.
"$kubectl" kustomize "$src/deploy/k8s/agent" > "$work/agent.yaml" 2> "$work/render.err" \
  || fail "kubectl kustomize deploy/k8s/agent: $(cat "$work/render.err")"
"$kubectl" kustomize "$src/deploy/k8s/overlays/integration" > "$work/server.yaml" 2> "$work/render.err" \
  || fail "kubectl kustomize deploy/k8s/overlays/integration: $(cat "$work/render.err")"
# The server's image and its client Service's address (name.namespace.svc.cluster.local:grpc).
read -r image address < <("$python" - "$work/server.yaml" <<'EOF'
import sys, yaml
objs = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
sts = next(o for o in objs if o["kind"] == "StatefulSet")
image = next(c["image"] for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "confcenterd")
svc = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "confcenter")
port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc")
print(image, f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local:{port}")
EOF
)
[ "$image" = "confcenter/confcenter:$version" ] || fail "the server's image is '$image', not version $version"
"$python" "$src/tests/deploy/agent_k8s_check.py" check "$work/agent.yaml" "$src/deploy/k8s/agent/values-snippet.yaml" \
  --image "$image" --address "$address" --self-test || fail "deploy/k8s/agent (rendered: $work/agent.yaml)"

# 2. The containers, for real.
start_confcenterd
# http_get PORT PATH: the status line's code (bash's /dev/tcp: no curl needed).
http_get() {
  local code
  exec 3<> "/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  code=$(head -n 1 <&3 | cut -d' ' -f2)
  exec 3>&-
  echo "$code"
}
ready() { [ "$(http_get "$1" /readyz 2> /dev/null)" = 200 ]; }
pod="$work/pod"
mkdir -p "$pod/config" "$pod/run"
# container_cmd DOC NAME PORT: the container's command and args into the array `cmd`, the
# tenant and service as a pod in namespace integration with service account orders would
# have them, its paths under $pod, its listen address on loopback.
container_cmd() {
  local item
  cmd=()
  while IFS= read -r -d '' item; do
    item=${item//\/etc\/app\/config/$pod/config}
    item=${item//\/run\/app/$pod/run}
    item=${item/#--listen=0.0.0.0:*/--listen=127.0.0.1:$3}
    item=${item/#--notify-url=http:\/\/127.0.0.1:8080/--notify-url=http://127.0.0.1:$3}
    cmd+=("$item")
  done < <("$python" "$src/tests/deploy/agent_k8s_check.py" args "$1" "$2" \
    CONFCENTER_TENANT=integration CONFCENTER_SERVICE=orders)
  [ "${#cmd[@]}" -gt 0 ] || fail "no command for container $2"
}
run_agent() { env -i PATH=/usr/bin:/bin CONFCENTER_ADDR="$server" POD_NAME="$1" "$agent" "${@:2}"; }

container_cmd "$work/agent.yaml" confcenter-init 0
[ "${cmd[0]}" = confcenter-agent ] || fail "the init container runs '${cmd[0]}'"
run_agent orders-init "${cmd[@]:1}" > "$work/init.log" 2>&1 || fail "init container: exit $?: $(cat "$work/init.log")"
file="$pod/config/orders.env"
grep -qx 'DB_HOST=db1' "$file" && grep -qx 'DB_POOL=8' "$file" || fail "init container wrote: $(cat "$file")"
[ "$(stat -c %a "$file")" = 600 ] || fail "$file has mode $(stat -c %a "$file"), not 600"
[ ! -e "$file.stale" ] || fail "$file.stale after a fresh --once"

container_cmd "$work/agent.yaml" app 0
[ "${cmd[0]}" = sh ] && [ "${cmd[1]}" = -c ] || fail "the application container runs '${cmd[*]}'"
# In a process group of its own (setsid), so that its sleep goes with it.
setsid sh -c "${cmd[2]}" > "$work/app.log" 2>&1 &
groups+=($!) pids+=($!)
poll 200 grep -q DB_POOL=8 "$work/app.log" || fail "the application did not read its file: $(cat "$work/app.log")"
poll 200 test -s "$pod/run/app.pid" || fail "the application wrote no pid file"

port=$(free_port)
container_cmd "$work/agent.yaml" confcenter-agent "$port"
run_agent orders-pod "${cmd[@]:1}" > "$work/sidecar.log" 2>&1 &
pids+=($!)
poll 600 ready "$port" || fail "the sidecar is not ready on /readyz: $(cat "$work/sidecar.log")"
revision=$("$confctl" --server="$server" put integration orders db.pool 9 | sed -n -E 's/.* at revision ([0-9]+)$/\1/p')
[ -n "$revision" ] || fail "confctl put printed no revision"
poll 600 grep -q DB_POOL=9 "$work/app.log" \
  || fail "the application was not told (SIGHUP): app: $(cat "$work/app.log"); sidecar: $(cat "$work/sidecar.log")"
"$confctl" --server="$server" wait-applied integration orders --revision "$revision" --timeout 30s > "$work/wait.out" 2>&1 \
  || fail "wait-applied: $(cat "$work/wait.out")"
grep -q orders-pod <("$confctl" --server="$server" instances integration) || fail "the sidecar is not listed by confctl instances"
echo "deploy/k8s/agent: init container wrote the file, the application read it, the sidecar told it of revision $revision: ok"

# 3. The values snippet's containers: JSON, nested, notified by a POST.
rm -rf "$pod" && mkdir -p "$pod/config"
hook=$(free_port)
"$python" - "$hook" "$work/posts" <<'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as f:
            f.write(self.path.encode() + b" " + body + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
pids+=($!)
values="$src/deploy/k8s/agent/values-snippet.yaml"
container_cmd "$values" confcenter-init 0
run_agent values-init "${cmd[@]:1}" > "$work/init2.log" 2>&1 || fail "values init container: $(cat "$work/init2.log")"
"$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["db"] == {"host": "db1", "pool": "9"}, d' \
  "$pod/config/config.json" || fail "values init container wrote: $(cat "$pod/config/config.json")"
port=$(free_port)
container_cmd "$values" confcenter-agent "$port"
# Its notify URL's port, moved to the hook (container_cmd moved the listen port; do the URL).
for i in "${!cmd[@]}"; do cmd[i]=${cmd[i]/#--notify-url=http:\/\/127.0.0.1:$port/--notify-url=http://127.0.0.1:$hook}; done
run_agent values-pod "${cmd[@]:1}" > "$work/sidecar2.log" 2>&1 &
pids+=($!)
poll 600 ready "$port" || fail "the values sidecar is not ready: $(cat "$work/sidecar2.log")"
"$confctl" --server="$server" put integration orders db.pool 10 > /dev/null
poll 600 grep -q '"pool": "10"' "$pod/config/config.json" || fail "values sidecar did not rewrite: $(cat "$work/sidecar2.log")"
poll 600 test -s "$work/posts" || fail "the values sidecar POSTed nothing: $(cat "$work/sidecar2.log")"
grep -q "^/-/reload .*config.json" "$work/posts" || fail "unexpected POST: $(cat "$work/posts")"
echo "deploy/k8s/agent/values-snippet.yaml: init container wrote config.json, the sidecar POSTed the change: ok"
echo "k8s agent: 3 passed, 0 failed"
