#!/usr/bin/env bash
# The seed's callback limit, solved (docs/routing.md): integration runs a, b and c (a calls b,
# b calls c); branch f1 deploys only b. A request of f1's flow enters at integration's a: a
# must call f1's b, and f1's b integration's c. Every process is real, on loopback: the
# services (client/examples/routing/hop_service), registered through the CD script
# deploy/ci/confcenter-register.sh, against a real confcenterd. The reply names the
# instance (service@tenant) that served each hop.
# usage: routing_flow_test.sh CONFCENTERD CONFCTL SOURCE_DIR HOP_SERVICE
set -euo pipefail
confcenterd=$1 confctl=$2 src=$3 hop=$4
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Waits (bounded, 10 s) until FILE is not empty.
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; fail "no $1"; }

"$confcenterd" --listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --data_dir="$work/data" \
  --port_file="$work/port" --log_level=warn &
pids+=($!)
wait_file "$work/port"
export CONFCENTER_ADDR="127.0.0.1:$(cat "$work/port")" CONFCTL="$confctl"

# start NAME TENANT NEXT: a hop_service instance on a free port; prints the port.
start() {
  local file="$work/$1-$2.port"
  "$hop" --name="$1" --tenant="$2" --next="$3" --listen=127.0.0.1:0 --port_file="$file" \
    --server="$CONFCENTER_ADDR" 2> "$work/$1-$2.log" &
  pids+=($!)
  wait_file "$file"
}
# register BRANCH NAME NEXT: the CD step of NAME's pipeline on BRANCH, with the port its
# instance listens on.
register() {
  local tenant=integration
  [ "$1" = devops-integrate ] || tenant=$1
  local deps=""
  [ -z "$3" ] || deps="dependencies: [{service: $3}]"
  cat > "$work/$2-$tenant.yaml" <<YAML
name: $2
version: 1.0.0
protocol: grpc
endpoints: [{name: grpc, port: $(cat "$work/$2-$tenant.port"), address_template: "127.0.0.1:{port}"}]
$deps
YAML
  BRANCH=$1 DEFINITION_FILE="$work/$2-$tenant.yaml" "$src/deploy/ci/confcenter-register.sh" > /dev/null
}
# expect TENANT WANT: a request of TENANT's flow (no header if TENANT is -) entering at
# integration's a is served by WANT ("a@integration b@f1 c@integration"). Routing follows the
# registry through a's and b's streams, so a change may take a moment: bounded, 10 s.
expect() {
  local got=""
  for _ in $(seq 1 100); do
    got=$("$hop" --call="127.0.0.1:$(cat "$work/a-integration.port")" \
      --request_tenant="$([ "$1" = - ] || echo "$1")" 2>&1) || true
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  fail "request of '$1': served by '$got', want '$2'"
}

start c integration ""
start b integration c
start a integration b
start b f1 c
register devops-integrate c ""
register devops-integrate b c
register devops-integrate a b
register f1 b c

# The seed's story: without the header the call lands on integration's b; with it, on f1's.
expect - "a@integration b@integration c@integration"
# (f1's b started before its registration: it has found its own tenant once it serves.)
for _ in $(seq 1 100); do
  [ "$("$hop" --call="127.0.0.1:$(cat "$work/b-f1.port")" 2>&1)" = "b@f1 c@integration" ] && break
  sleep 0.1
done
# The first request of f1's flow that a sees: a waits for f1's map and routes it right at once.
got=$("$hop" --call="127.0.0.1:$(cat "$work/a-integration.port")" --request_tenant=f1)
[ "$got" = "a@integration b@f1 c@integration" ] || fail "f1's first request served by '$got'"
expect f1 "a@integration b@f1 c@integration"
# The tenant belongs to its request: the next request without a header is integration's.
expect - "a@integration b@integration c@integration"
expect integration "a@integration b@integration c@integration"
# A tenant that does not exist, or a header that is no tenant name, never breaks the call:
# it is routed by the instance's own tenant.
expect f9 "a@integration b@integration c@integration"
expect 'F1;drop' "a@integration b@integration c@integration"

# f1 deploys c later: its request's last hop moves to f1's c.
start c f1 ""
register f1 c ""
expect f1 "a@integration b@f1 c@f1"
# f1's c goes: back to integration's c.
TENANT=f1 SERVICE=c "$src/deploy/ci/confcenter-deregister.sh" > /dev/null
expect f1 "a@integration b@f1 c@integration"
# The branch is cleaned up: its requests are served by integration again.
BRANCH=f1 "$src/deploy/ci/confcenter-deregister.sh" > /dev/null
expect f1 "a@integration b@integration c@integration"
echo "routing flow: ok"
