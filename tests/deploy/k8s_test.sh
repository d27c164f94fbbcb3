#!/usr/bin/env bash
# The Kubernetes manifests and the Prometheus rules, checked offline:
# - every overlay of deploy/k8s/overlays/ renders with `kubectl kustomize` and passes
#   deploy_check (names, labels, ports, probes, config, security, image version line up), and
#   confcenterd --check_config accepts its config file;
# - the CD Jobs render through a pipeline's overlay (as deploy/README.md shows), line up with the
#   integration overlay, and their command and environment, run against a real confcenterd,
#   register a branch's service with its definition and config, then remove the branch;
# - deploy/prometheus/confcenter-rules.yaml parses and uses only metrics that server's /metrics
#   lists (plus promtool's check and rule unit tests when promtool is on PATH);
# - the server is secure: TLS and auth_policy set, their files (and the policy's) mounted from
#   Secrets and ConfigMaps, the admin port off the client Service, a NetworkPolicy opening the
#   admin port to the monitoring namespace only; the CD Jobs send a projected service-account
#   token (audience confcenter) over TLS;
# - the HTTP/JSON API and web console (http_listen) are exposed like gRPC: on 0.0.0.0 at the
#   confcenterd container's port `http`, on every Service that carries `grpc`, and admitted by
#   every NetworkPolicy rule that admits grpc (http_findings below);
# - the checks catch a broken probe path, admin port, listen address, Service selector,
#   serviceName, service links, Job image and config setting, the admin port on the client
#   Service, an open or missing NetworkPolicy, a missing auth_policy or mount, a Job token
#   of another audience, and an HTTP listener off its port or on loopback, or missing from the
#   container, a Service or the NetworkPolicy;
# - the high-availability overlays (ha: confcenterd replicas and an etcd StatefulSet;
#   ha-external-etcd: the replicas alone) render and pass deploy_check's etcd checks: at least 3
#   stateless replicas with --store=etcd spread by hostname, readiness on /readyz, a
#   PodDisruptionBudget keeping 2 of them (and one letting one etcd member go), etcd client TLS
#   on both sides, etcd_endpoints exactly the etcd StatefulSet's stable pod names,
#   etcd_max_txn_ops and etcd_max_request_bytes equal to the members' --max-txn-ops and
#   --max-request-bytes, no --auto-compaction-*, --initial-cluster from the same names, and
#   NetworkPolicies letting confcenterd reach the client port and the members each other's peer
#   port; changing either side of those breaks the check (mutations in 4.).
# usage: k8s_test.sh DEPLOY_CHECK CONFCENTERD CONFCTL SOURCE_DIR   (env KUBECTL: kubectl to use)
set -euo pipefail
check=$(realpath "$1") confcenterd=$(realpath "$2") confctl=$(realpath "$3") src=$(realpath "$4")
kubectl=${KUBECTL:-kubectl}
work=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
version=$(sed -n -E 's/^project\(confcenter VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in $src/CMakeLists.txt"
echo "kubectl: $("$kubectl" version --client 2>/dev/null | head -n 1)"
checks=0

# render DIR OUT: kubectl kustomize, its (deprecation) warnings shown only on failure.
render() {
  "$kubectl" kustomize "$1" > "$2" 2> "$2.err" || fail "kubectl kustomize $1: $(cat "$2.err")"
}

# http_findings RENDERED SETTINGS: prints, one line each, what keeps the HTTP/JSON API and web
# console from being exposed like gRPC: http_listen (from SETTINGS, confcenterd --check_config's
# effective settings) must be on 0.0.0.0 at the confcenterd container's port `http`, every
# Service carrying `grpc` must carry `http`, every NetworkPolicy rule admitting grpc must admit
# http. Fails when it printed anything.
http_findings() {
  local listen format objects server grpc http line rule ports found=0
  listen=$(sed -n -E 's/^http_listen: ([^ ]*) .*/\1/p' "$2")
  # One line per object: KIND/NAME, then a Service's ports (name:port>targetPort), the
  # confcenterd container's ports (name:containerPort), a NetworkPolicy's ingress rules
  # (ingress:port,port,). `label --local` works offline and only prints.
  format='{.kind}/{.metadata.name}{range .spec.ports[*]} {.name}:{.port}>{.targetPort}{end}'
  format+='{range .spec.template.spec.containers[?(@.name=="confcenterd")].ports[*]} {.name}:{.containerPort}{end}'
  format+='{range .spec.ingress[*]} ingress:{range .ports[*]}{.port},{end}{end}{"\n"}'
  objects=$("$kubectl" label --local -f "$1" confcenter.io/check=true -o jsonpath="$format") \
    || { echo "kubectl cannot read $1"; return 1; }
  server=$(grep -E '^(StatefulSet|Deployment)/[^ ]* (.* )?grpc:' <<< "$objects" | head -n 1 || true)
  grpc=$(sed -n -E 's/.* grpc:([0-9]+)( .*)?$/\1/p' <<< "$server")
  http=$(sed -n -E 's/.* http:([0-9]+)( .*)?$/\1/p' <<< "$server")
  if [ -z "$http" ]; then
    echo "${server%% *}: the confcenterd container has no port named http"
    found=1
  elif [ "${listen##*:}" != "$http" ]; then
    echo "confcenterd serves HTTP on '$listen' but the http port is $http"
    found=1
  fi
  case "${listen%:*}" in
    0.0.0.0 | "[::]") ;;
    *) echo "http_listen '$listen': unreachable from the Services (use 0.0.0.0)"; found=1 ;;
  esac
  while read -r line; do
    [[ " $line " == *" grpc:"* ]] || continue
    [[ " $line " == *" http:"*">http "* || " $line " == *" http:"*">$http "* ]] \
      || { echo "${line%% *}: carries grpc but not http (targetPort http)"; found=1; }
  done < <(grep '^Service/' <<< "$objects" || true)
  while read -r line; do
    for rule in $line; do
      [[ "$rule" == ingress:* ]] || continue
      ports=",${rule#ingress:}"
      if [[ "$ports" == *",grpc,"* || "$ports" == *",$grpc,"* ]] \
        && [[ "$ports" != *",http,"* && "$ports" != *",$http,"* ]]; then
        echo "${line%% *}: an ingress rule admits grpc but not http"
        found=1
      fi
    done
  done < <(grep '^NetworkPolicy/' <<< "$objects" || true)
  return "$found"
}

# 1. Every server overlay.
for overlay in "$src"/deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  render "$overlay" "$work/$name.yaml"
  "$check" server "$work/$name.yaml" --version="$version" --config-out="$work/$name.conf" \
    || fail "overlay $name (rendered: $work/$name.yaml)"
  if grep -q '^store: *etcd' "$work/$name.conf" && ! grep -q -- "--store " <<< "$("$confcenterd" --helpfull 2>&1)"; then
    # The etcd store's flags arrive with it (branch etcd-store); until then this confcenterd
    # would refuse them as unknown settings.
    echo "overlay $name: ok ($(grep -c '^kind:' "$work/$name.yaml") objects; confcenterd has no --store yet: --check_config not run)"
    checks=$((checks + 1))
    continue
  fi
  # With the container's CONFCENTER_* variables (the etcd endpoints in the ha overlays).
  server_env=()
  while IFS= read -r -d '' item; do server_env+=("$item"); done < <("$check" server-env "$work/$name.yaml")
  env -i "${server_env[@]}" "$confcenterd" --check_config --config="$work/$name.conf" > "$work/$name.check" 2>&1 \
    || fail "overlay $name: confcenterd --check_config refuses its config file: $(cat "$work/$name.check")"
  http_findings "$work/$name.yaml" "$work/$name.check" > "$work/$name.http" \
    || fail "overlay $name: the HTTP/JSON API is not exposed like gRPC: $(cat "$work/$name.http")"
  echo "overlay $name: ok ($(grep -c '^kind:' "$work/$name.yaml") objects)"
  checks=$((checks + 1))
done
[ -s "$work/integration.yaml" ] || fail "no integration overlay"

# 2. The CD Jobs, through a pipeline's own overlay (per branch: a name suffix, its values, its
# files), then run as the Job would run them, against a real server on loopback.
pipeline() {  # pipeline DIR JOB [K8S_DIR]: writes a pipeline overlay of cd-jobs/JOB into DIR
  local dir=$1 job=$2 k8s=${3:-$src/deploy/k8s}
  mkdir -p "$dir"
  cat > "$dir/kustomization.yaml" <<EOF
namespace: confcenter
nameSuffix: -feat-login-v2
bases:
  - $(realpath --relative-to="$dir" "$k8s/cd-jobs/$job")
configMapGenerator:
  - name: confcenter-cd
    behavior: merge
    literals:
      - BRANCH=feat/Login_V2
      - COMMIT=abc123
EOF
}
pipeline "$work/register" register
cat >> "$work/register/kustomization.yaml" <<'EOF'
      - DEFINITION_FILE=/cd/service.yaml
      - CONFIG_FILE=/cd/config.yaml
  - name: confcenter-cd-files
    behavior: merge
    files:
      - service.yaml
      - config.yaml
EOF
cat > "$work/register/service.yaml" <<'EOF'
name: login
version: 2.0.0
protocol: http
endpoints: [{name: http, port: 8080}]
EOF
printf 'db:\n  url: jdbc:postgresql://db.feat-login-v2/login\n' > "$work/register/config.yaml"
pipeline "$work/deregister" deregister
for job in register deregister; do
  render "$work/$job" "$work/$job.yaml"
  "$check" cd-job "$work/$job.yaml" --server="$work/integration.yaml" \
    || fail "CD Job $job does not line up with the integration overlay (rendered: $work/$job.yaml)"
  checks=$((checks + 1))
done
# The same Jobs against the replicas on etcd: same Service, same image.
for job in register deregister; do
  "$check" cd-job "$work/$job.yaml" --server="$work/ha.yaml" \
    || fail "CD Job $job does not line up with the ha overlay (rendered: $work/$job.yaml)"
done

env -i "$confcenterd" --listen=127.0.0.1:0 --data_dir="$work/data" --port_file="$work/port" \
  --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 --admin_port_file="$work/admin_port" --log_level=warn &
pid=$!
for _ in $(seq 1 600); do [ -s "$work/port" ] && [ -s "$work/admin_port" ] && break; sleep 0.05; done  # bounded: 30 s
[ -s "$work/port" ] && [ -s "$work/admin_port" ] || fail "confcenterd did not start"
address="127.0.0.1:$(cat "$work/port")"
# The image's commands, here: confctl and the CD scripts.
mkdir -p "$work/bin"
ln -s "$confctl" "$work/bin/confctl"
ln -s "$src/deploy/ci/confcenter-register.sh" "$work/bin/confcenter-register"
ln -s "$src/deploy/ci/confcenter-deregister.sh" "$work/bin/confcenter-deregister"
# run_job JOB NAME: the Job's command with exactly its environment (ConfigMap files under
# $work/root), except CONFCENTER_ADDR: the Service's DNS name becomes the loopback server, and
# its credentials (CONFCENTER_TOKEN_FILE, the kubelet's projected token, and CONFCENTER_CA),
# which deploy_check cd-job checked: the loopback server runs without TLS and auth.
run_job() {
  local cmd=() env=() item
  while IFS= read -r -d '' item; do cmd+=("$item"); done < <("$check" job-command "$work/$1.yaml" "$2")
  while IFS= read -r -d '' item; do
    case "$item" in CONFCENTER_TOKEN_FILE=*|CONFCENTER_CA=*) continue ;; esac
    env+=("$item")
  done < <("$check" job-env "$work/$1.yaml" "$2" "$work/root")
  [ ${#cmd[@]} -gt 0 ] || fail "Job $2: no command"
  env -i PATH="$work/bin:/usr/bin:/bin" "${env[@]}" CONFCENTER_ADDR="$address" "${cmd[@]}"
}
tenant=$(run_job register confcenter-register-feat-login-v2 2> "$work/register.err") \
  || fail "register Job failed: $(cat "$work/register.err")"
[ "$tenant" = feat-login-v2 ] || fail "register Job registered into '$tenant'"
"$confctl" --server="$address" tenant feat-login-v2 > "$work/tenant.txt"
grep -q 'login' "$work/tenant.txt" || fail "login not registered: $(cat "$work/tenant.txt")"
grep -Eq '^ttl +168h' "$work/tenant.txt" || fail "branch TTL (BRANCH_TTL) not applied: $(cat "$work/tenant.txt")"
"$confctl" --server="$address" -o json tenant feat-login-v2 | grep -q '"commit": "abc123"' || fail "COMMIT label missing"
"$confctl" --server="$address" resolve feat-login-v2 login > "$work/resolve.txt"
grep -Eq 'db\.url +feat-login-v2 .*db\.feat-login-v2' "$work/resolve.txt" || fail "config file not imported: $(cat "$work/resolve.txt")"
grep -Eq '_endpoint\.http +feat-login-v2 ' "$work/resolve.txt" || fail "definition's endpoint missing: $(cat "$work/resolve.txt")"
run_job deregister confcenter-deregister-feat-login-v2 > "$work/deregister.out" 2>&1 \
  || fail "deregister Job failed: $(cat "$work/deregister.out")"
set +e
"$confctl" --server="$address" tenant feat-login-v2 > /dev/null 2>&1
code=$?
set -e
[ "$code" = 3 ] || fail "branch tenant still there after the deregister Job (confctl exit $code)"
echo "CD Jobs: rendered, lined up, registered and deregistered a branch: ok"
checks=$((checks + 1))

# 3. Prometheus rules: against the metric families the server's /metrics lists (after the
# Jobs' RPCs, so the per-method ones have series too). bash's /dev/tcp: no curl needed.
exec 3<> "/dev/tcp/127.0.0.1/$(cat "$work/admin_port")"
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
cat <&3 > "$work/metrics.txt"
exec 3>&-
metrics=$(sed -n -E 's/^# TYPE (confcenter_[a-z_]+) .*/\1/p' "$work/metrics.txt" | paste -sd, -)
[[ ",$metrics," == *,confcenter_ready,* ]] || fail "no confcenter_ready on /metrics: $(head -c 2000 "$work/metrics.txt")"
"$check" rules "$src/deploy/prometheus/confcenter-rules.yaml" --metrics="$metrics" || fail "Prometheus rules"
if command -v promtool > /dev/null; then
  promtool check rules "$src/deploy/prometheus/confcenter-rules.yaml" > /dev/null || fail "promtool check rules"
  (cd "$src/deploy/prometheus" && promtool test rules confcenter-rules.test.yaml > /dev/null) \
    || fail "promtool test rules confcenter-rules.test.yaml"
  echo "Prometheus rules: promtool check and rule unit tests: ok"
else
  echo "Prometheus rules: promtool not on PATH (Debian's prometheus package has it): its checks not run"
fi
checks=$((checks + 1))

# 4. The checks fail on broken manifests: break one thing in a copy, expect the finding.
# broken FILE SED_EXPR KIND TARGET EXPECTED: FILE under deploy/k8s/, KIND server or config
# (TARGET an overlay; config: confcenterd --check_config on its config file) or cd-job (TARGET a
# Job, through the pipeline overlay) or http (TARGET an overlay: http_findings), EXPECTED a
# finding's regex.
broken() {
  local file=$1 expr=$2 what=$3 target=$4 expected=$5 copy="$work/broken" item
  rm -rf "$copy" && mkdir -p "$copy" && cp -r "$src/deploy/k8s" "$copy/"
  sed -i -e "$expr" "$copy/k8s/$file"
  cmp -s "$src/deploy/k8s/$file" "$copy/k8s/$file" && fail "mutation '$expr' changed nothing in $file"
  if [ "$what" = server ]; then
    render "$copy/k8s/overlays/$target" "$copy/out.yaml"
    "$check" server "$copy/out.yaml" --version="$version" > "$copy/findings" && fail "'$expr' on $file not caught"
  elif [ "$what" = config ]; then
    render "$copy/k8s/overlays/$target" "$copy/out.yaml"
    "$check" server "$copy/out.yaml" --version="$version" --config-out="$copy/conf" > /dev/null || true
    env -i "$confcenterd" --check_config --config="$copy/conf" > "$copy/findings" 2>&1 \
      && fail "'$expr' on $file not caught by --check_config"
  elif [ "$what" = http ]; then
    render "$copy/k8s/overlays/$target" "$copy/out.yaml"
    "$check" server "$copy/out.yaml" --version="$version" --config-out="$copy/conf" > /dev/null || true
    server_env=()
    while IFS= read -r -d '' item; do server_env+=("$item"); done < <("$check" server-env "$copy/out.yaml")
    env -i "${server_env[@]}" "$confcenterd" --check_config --config="$copy/conf" > "$copy/settings" 2>&1 || true
    http_findings "$copy/out.yaml" "$copy/settings" > "$copy/findings" && fail "'$expr' on $file not caught"
  else
    pipeline "$copy/pipeline" "$target" "$copy/k8s"
    render "$copy/pipeline" "$copy/out.yaml"
    "$check" cd-job "$copy/out.yaml" --server="$work/integration.yaml" > "$copy/findings" \
      && fail "'$expr' on $file not caught"
  fi
  grep -q -- "$expected" "$copy/findings" || fail "'$expr' on $file: expected '$expected', got: $(cat "$copy/findings")"
  checks=$((checks + 1))
}
broken base/statefulset.yaml 's|path: /readyz|path: /ready|' server dev "readinessProbe path is '/ready', not /readyz"
broken base/confcenterd.yaml 's|^admin_listen: 0.0.0.0:7071|admin_listen: 0.0.0.0:7072|' server integration \
  "serves admin on 0.0.0.0:7072 but the probes and the admin port use 7071"
broken overlays/dev/confcenterd.yaml 's|^admin_listen: 0.0.0.0:7071|admin_listen: 127.0.0.1:7071|' server dev \
  "unreachable from the kubelet"
broken common/service.yaml '/^  selector:/,/^  ports:/s/component: server/component: api/' server integration \
  "Service confcenter: selector .* does not select the StatefulSet's pods"
broken base/statefulset.yaml 's|serviceName: confcenter-headless|serviceName: confcenter-peers|' server integration \
  "serviceName confcenter-peers is no Service"
broken base/statefulset.yaml 's|enableServiceLinks: false|enableServiceLinks: true|' server dev \
  "enableServiceLinks is not false"
broken overlays/dev/confcenterd.yaml 's|^log_level: debug|log_levle: debug|' config dev 'unknown setting "log_levle"'
broken common/service.yaml '0,/appProtocol: grpc/s|appProtocol: grpc|&\n    - {name: admin, port: 7071, targetPort: admin}|' server integration \
  "Service confcenter: a client Service that also exposes the admin port"
broken common/networkpolicy.yaml '/port: admin/,$s|- namespaceSelector:|- ipBlock: {cidr: 0.0.0.0/0}\n        &|' server integration \
  "the admin port 7071 is open to peers beyond"
broken common/networkpolicy.yaml '/^  podSelector:/,/^  policyTypes:/s|component: server|component: api|' server integration \
  "no NetworkPolicy selects the StatefulSet's pods"
broken base/confcenterd.yaml 's|^auth_policy:|#auth_policy:|' server integration "no auth_policy"
broken base/confcenterd.yaml 's|^auth_policy:|#auth_policy:|' config integration "without authentication"
broken base/confcenterd.yaml 's|^secret_key_file:|#secret_key_file:|' server integration "no secret_key_file"
broken base/confcenterd.yaml 's|^secret_key_file: .*|secret_key_file: /var/lib/confcenter/secret.key|' server integration \
  "secret_key_file lies in the data volume"
broken base/statefulset.yaml 's|mountPath: /etc/confcenter-tls|mountPath: /etc/confcenter-certs|' server integration \
  "tls_cert /etc/confcenter-tls/tls.crt is under no mounted volume"
broken common/policy.yaml 's|jwks_file: /etc/confcenter-jwks/gitlab.json|jwks_file: /etc/confcenter-jwks/gitlab-keys.json|' server integration \
  "ConfigMap confcenter-jwks-[a-z0-9]* has no key gitlab-keys.json"
broken cd-jobs/register/job.yaml 's|audience: confcenter|audience: kubernetes|' cd-job register \
  "is no projected service-account token with audience confcenter"
broken cd-jobs/register/kustomization.yaml "s|newTag: $version|newTag: 0.0.1|" cd-job register \
  "is not the server's 'confcenter/confcenter:$version'"
broken base/confcenterd.yaml 's|^http_listen: 0.0.0.0:7080|http_listen: 0.0.0.0:7081|' http integration \
  "serves HTTP on '0.0.0.0:7081' but the http port is 7080"
broken base-etcd/confcenterd.yaml '/^http_listen:/d' http ha "http_listen '127.0.0.1:7080': unreachable"
broken base/statefulset.yaml 's|- name: http$|- name: api|' http dev "the confcenterd container has no port named http"
broken common/service.yaml '/- name: http$/,/appProtocol: https$/d' http integration \
  "Service/confcenter: carries grpc but not http"
broken common/networkpolicy.yaml '/- port: http$/,/protocol: TCP/d' http integration \
  "NetworkPolicy/confcenter: an ingress rule admits grpc but not http"
# The high-availability overlays: each side of what must agree, broken alone.
[ -s "$work/ha.yaml" ] && [ -s "$work/ha-external-etcd.yaml" ] || fail "no ha or ha-external-etcd overlay"
broken etcd/statefulset.yaml 's|--max-txn-ops=1024|--max-txn-ops=512|' server ha \
  "etcd_max_txn_ops 1024 is not the etcd members' --max-txn-ops 512"
broken base-etcd/confcenterd.yaml 's|^etcd_max_txn_ops: 1024|etcd_max_txn_ops: 128|' server ha \
  "etcd_max_txn_ops 128 is not the etcd members' --max-txn-ops 1024"
broken base-etcd/confcenterd.yaml 's|^etcd_max_request_bytes: 8388608|etcd_max_request_bytes: 1572864|' server ha \
  "etcd_max_request_bytes 1572864 is not the etcd members' --max-request-bytes 8388608"
broken etcd/statefulset.yaml '/- --max-request-bytes=/d' server ha \
  "etcd_max_request_bytes 8388608 is not the etcd members' --max-request-bytes 1572864"
broken etcd/statefulset.yaml 's|- --quota-backend-bytes=8589934592|&\n            - --auto-compaction-retention=1h|' server ha \
  "--auto-compaction-retention=1h: confcenterd compacts"
broken base-etcd/confcenterd.yaml 's|^store: etcd|store: rocksdb|' server ha "replicas must be 1"
broken base-etcd/deployment.yaml 's|^  replicas: 3|  replicas: 1|' server ha "replicas 1: on etcd run at least 3"
broken base-etcd/deployment.yaml 's|path: /readyz|path: /healthz|' server ha "readinessProbe path is '/healthz', not /readyz"
broken base-etcd/deployment.yaml 's|topologyKey: kubernetes.io/hostname|topologyKey: topology.kubernetes.io/zone|' server ha \
  "no preferred pod anti-affinity by kubernetes.io/hostname"
broken base-etcd/deployment.yaml 's|,confcenter-etcd-2\.[^,]*:2379$||' server ha \
  "etcd_endpoints lacks the member confcenter-etcd-2.confcenter-etcd-headless.confcenter.svc:2379"
broken base-etcd/deployment.yaml 's|$(POD_NAMESPACE)|confcenter-ha|g' server ha \
  "etcd_endpoints lists confcenter-etcd-0.confcenter-etcd-headless.confcenter-ha.svc:2379, which is no member"
broken etcd/statefulset.yaml 's|^  replicas: 3|  replicas: 5|' server ha "etcd_endpoints lacks the member confcenter-etcd-3"
broken etcd/statefulset.yaml '/--initial-cluster=/s|,confcenter-etcd-2=[^,]*$||' server ha \
  "--initial-cluster .* is not the members' stable names"
broken etcd/statefulset.yaml '/podManagementPolicy: Parallel/d' server ha "podManagementPolicy is not Parallel"
broken etcd/service.yaml '/publishNotReadyAddresses: true/d' server ha "publishNotReadyAddresses is not true"
broken etcd/statefulset.yaml '/- --client-cert-auth/d' server ha "no --client-cert-auth"
broken base-etcd/deployment.yaml 's|mountPath: /etc/confcenter-etcd-tls|mountPath: /etc/etcd-client|' server ha \
  "etcd_ca_file /etc/confcenter-etcd-tls/ca.crt is under no mounted volume"
broken base-etcd/pdb.yaml 's|minAvailable: 2|minAvailable: 3|' server ha "lets no replica of 3 be evicted"
broken etcd/pdb.yaml 's|maxUnavailable: 1|maxUnavailable: 2|' server ha "the rest lose quorum"
broken etcd/networkpolicy.yaml 's|component: server|component: api|' server ha \
  "no NetworkPolicy lets confcenterd's pods .* reach the etcd client port 2379"
broken etcd/networkpolicy.yaml '/- port: peer/,/^    - ports:/s|component: etcd|component: server|' server ha \
  "the etcd peer port 2380 is open beyond the members"
broken overlays/ha-external-etcd/etcd-endpoints.yaml 's|value: etcd-0|value: https://etcd-0|' server ha-external-etcd \
  "etcd_endpoints entry 'https://etcd-0.example.internal:2379' is not host:port"
echo "k8s: $checks checks passed, 0 failed"
