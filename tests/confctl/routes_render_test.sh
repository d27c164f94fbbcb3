#!/usr/bin/env bash
# confctl routes render against a real confcenterd, with the seed's topology (integration
# registers a -> b -> c; the branch f1 deploys only b):
# 1. every rendered object passes the strict schema check (k8s_schema_check.py: core/v1
#    against python3-kubernetes' models, Istio against a JSON Schema of its CRDs), and the
#    checker rejects broken copies of the same objects (--self-test);
# 2. the CD step deploy/ci/confcenter-routes.sh (DRY=1, no cluster) prints what it rendered and
#    the kubectl apply --prune command it would run; confcenter-deregister.sh with ROUTES=1
#    re-renders after a per-service removal and deletes the objects with the tenant.
# usage: routes_render_test.sh CONFCENTERD CONFCTL SOURCE_DIR
set -euo pipefail
confcenterd=$1 confctl=$2 src=$3
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$confcenterd" --listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 --data_dir="$work/data" --port_file="$work/port" --log_level=warn &
pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "confcenterd did not start"
export CONFCENTER_ADDR="127.0.0.1:$(cat "$work/port")" CONFCTL="$confctl"

definition() {  # NAME [DEPENDENCY]
  echo "name: $1"
  echo "version: 1.0.0"
  echo "endpoints: [{name: grpc, port: 9090}, {name: http, port: 8080}]"
  [ -z "${2:-}" ] || echo "dependencies: [{service: $2}]"
}
definition a b > "$work/a.yaml"
definition b c > "$work/b.yaml"
definition c > "$work/c.yaml"
"$confctl" register integration -f "$work/a.yaml" -f "$work/b.yaml" -f "$work/c.yaml" > /dev/null
"$confctl" register f1 -f "$work/b.yaml" > /dev/null

# 1. The schema check, on every kind confctl renders.
"$confctl" routes render f1 > "$work/f1.yaml"
"$confctl" routes render f1 --mesh istio > "$work/f1-istio.yaml"
"$confctl" routes render integration --mesh istio > "$work/integration-istio.yaml"
grep -q '^kind: Service$' "$work/f1.yaml" || fail "no Service rendered: $(cat "$work/f1.yaml")"
grep -q '^kind: VirtualService$' "$work/integration-istio.yaml" || fail "no VirtualService"
grep -q '^kind: DestinationRule$' "$work/integration-istio.yaml" || fail "no DestinationRule"
python=/usr/bin/python3  # Debian's, with python3-kubernetes and python3-jsonschema
"$python" "$src/tests/confctl/k8s_schema_check.py" --self-test "$work/f1.yaml" "$work/f1-istio.yaml" \
  "$work/integration-istio.yaml" > "$work/schema.txt" 2>&1 || fail "schema: $(cat "$work/schema.txt")"
grep -q "checked, 0 problem(s) (with self-test)" "$work/schema.txt" || fail "schema: $(cat "$work/schema.txt")"
# The checker fails on a misspelled field (not only in its self-test).
sed 's/externalName:/externalname:/' "$work/f1.yaml" > "$work/bad.yaml"
if "$python" "$src/tests/confctl/k8s_schema_check.py" "$work/bad.yaml" > "$work/bad.txt" 2>&1; then
  fail "a misspelled externalName passed the schema check"
fi
grep -q "unknown field 'externalname' in V1ServiceSpec" "$work/bad.txt" || fail "bad: $(cat "$work/bad.txt")"

# 2. The CD step, without a cluster: DRY=1 prints the objects and the kubectl command.
selector="app.kubernetes.io/managed-by=confcenter,confcenter.io/tenant=f1"
TENANT=f1 DRY=1 OUT="$work/out.yaml" "$src/deploy/ci/confcenter-routes.sh" > "$work/dry.txt" \
  || fail "confcenter-routes.sh: $(cat "$work/dry.txt")"
[ "$(head -n -1 "$work/dry.txt")" = "$(cat "$work/f1.yaml")" ] || fail "DRY output: $(cat "$work/dry.txt")"
[ "$(tail -n 1 "$work/dry.txt")" = "kubectl apply -n f1 --prune -l $selector --prune-allowlist=core/v1/Service -f $work/out.yaml" ] \
  || fail "kubectl command: $(tail -n 1 "$work/dry.txt")"
# The branch's tenant from BRANCH, with the mesh: the kinds to prune, and integration's
# header routes (its VirtualServices route to the branch) applied in its namespace as well.
BRANCH=f1 MESH=istio DRY=1 KUBECTL=/opt/kubectl "$src/deploy/ci/confcenter-routes.sh" > "$work/mesh.txt" \
  || fail "confcenter-routes.sh MESH=istio: $(cat "$work/mesh.txt")"
istio="--prune-allowlist=core/v1/Service --prune-allowlist=networking.istio.io/v1beta1/VirtualService --prune-allowlist=networking.istio.io/v1beta1/DestinationRule"
grep -Eq "^/opt/kubectl apply -n f1 --prune -l $selector $istio -f /" "$work/mesh.txt" \
  || fail "meshed kubectl command: $(cat "$work/mesh.txt")"
grep -Eq "^/opt/kubectl apply -n integration --prune -l app.kubernetes.io/managed-by=confcenter,confcenter.io/tenant=integration $istio -f /" "$work/mesh.txt" \
  || fail "integration not re-rendered: $(cat "$work/mesh.txt")"
grep -q 'host: b.f1.svc.cluster.local' "$work/mesh.txt" || fail "no header route to f1: $(cat "$work/mesh.txt")"
# APPLY=0 renders only.
[ "$(TENANT=f1 APPLY=0 "$src/deploy/ci/confcenter-routes.sh")" = "$(cat "$work/f1.yaml")" ] || fail "APPLY=0"
set +e; TENANT=f1 MESH=linkerd DRY=1 "$src/deploy/ci/confcenter-routes.sh" > /dev/null 2>&1; code=$?; set -e
[ "$code" = 2 ] || fail "MESH=linkerd accepted (exit $code)"

# Deregistering one service re-renders and prunes: f1 also deploys c, then removes it.
"$confctl" register f1 -f "$work/c.yaml" > /dev/null
[ -z "$("$confctl" routes render f1)" ] || fail "f1 deploys c but still gets an ExternalName for it"
TENANT=f1 DRY=1 KUBECTL=kubectl "$src/deploy/ci/confcenter-routes.sh" > "$work/empty.txt"
[ "$(cat "$work/empty.txt")" = "kubectl delete -n f1 services -l $selector --ignore-not-found" ] \
  || fail "nothing rendered must prune by delete: $(cat "$work/empty.txt")"
TENANT=f1 SERVICE=c ROUTES=1 DRY=1 "$src/deploy/ci/confcenter-deregister.sh" > "$work/dereg1.txt" \
  || fail "deregister c: $(cat "$work/dereg1.txt")"
grep -q 'externalName: c.integration.svc.cluster.local' "$work/dereg1.txt" || fail "c not routed again: $(cat "$work/dereg1.txt")"
grep -q "^kubectl apply -n f1 --prune -l $selector --prune-allowlist=core/v1/Service -f /" "$work/dereg1.txt" \
  || fail "no re-render after deregister: $(cat "$work/dereg1.txt")"
# Without ROUTES (the default) nothing touches the cluster.
"$confctl" register f1 -f "$work/c.yaml" > /dev/null
TENANT=f1 SERVICE=c DRY=1 "$src/deploy/ci/confcenter-deregister.sh" > "$work/dereg0.txt"
! grep -q kubectl "$work/dereg0.txt" || fail "ROUTES=0 ran kubectl: $(cat "$work/dereg0.txt")"
# The whole branch: its objects are deleted, integration's header routes re-rendered without it.
TENANT=f1 ROUTES=1 MESH=istio DRY=1 "$src/deploy/ci/confcenter-deregister.sh" > "$work/dereg.txt" \
  || fail "deregister f1: $(cat "$work/dereg.txt")"
grep -q "tenant removed" "$work/dereg.txt" || fail "f1 not removed: $(cat "$work/dereg.txt")"
grep -qx "kubectl delete -n f1 services,virtualservices.networking.istio.io,destinationrules.networking.istio.io -l $selector --ignore-not-found" "$work/dereg.txt" \
  || fail "no delete: $(cat "$work/dereg.txt")"
grep -q "^kubectl apply -n integration " "$work/dereg.txt" || fail "integration not re-rendered: $(cat "$work/dereg.txt")"
! grep -q 'f1' <(grep -v '^kubectl\|^deregistered' "$work/dereg.txt") || fail "integration still routes to f1: $(cat "$work/dereg.txt")"
echo "routes render: 1 passed, 0 failed"
