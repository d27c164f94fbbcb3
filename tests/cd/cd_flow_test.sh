#!/usr/bin/env bash
# The seed's CD flow, with the same shell steps as the CI examples in deploy/ci/, against a
# real confcenterd: the integration branch registers a service with its config; a feature
# branch registers its own version; the service's config appears in the branch's resolved
# view with the branch as source; a subscriber of the branch follows it; deregistering the
# branch removes it and the subscriber falls back to integration's values.
# usage: cd_flow_test.sh CONFCENTERD CONFCTL SOURCE_DIR
set -euo pipefail
confcenterd=$1 confctl=$2 src=$3
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Waits (bounded, 10 s) until FILE contains PATTERN.
wait_for() { for _ in $(seq 1 200); do grep -q -- "$2" "$1" && return 0; sleep 0.05; done; fail "no '$2' in $1: $(cat "$1")"; }

"$confcenterd" --listen=127.0.0.1:0 --data_dir="$work/data" --port_file="$work/port" --log_level=warn &
pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/port" ] && break; sleep 0.05; done
export CONFCENTER_ADDR="127.0.0.1:$(cat "$work/port")" CONFCTL="$confctl"

cat > "$work/login-integration.yaml" <<'YAML'
db:
  url: jdbc:postgresql://db.integration/login
  pool: 8
oauth:
  client_id: login-integration
YAML
cat > "$work/login-feature.yaml" <<'YAML'
db:
  url: jdbc:postgresql://db.feat-login-v2/login
YAML

# Integration environment (the integration branch's pipeline).
tenant=$(BRANCH=devops-integrate SERVICE=login CONFIG_FILE="$work/login-integration.yaml" \
  "$src/deploy/ci/confcenter-register.sh")
[ "$tenant" = integration ] || fail "integration branch registered into '$tenant'"

# A feature branch deploys only login.
tenant=$(BRANCH=feat/Login_V2 SERVICE=login COMMIT=abc123 CONFIG_FILE="$work/login-feature.yaml" \
  "$src/deploy/ci/confcenter-register.sh")
[ "$tenant" = feat-login-v2 ] || fail "feature branch tenant is '$tenant'"
"$confctl" resolve "$tenant" login > "$work/resolve.txt"
grep -Eq 'db\.url +feat-login-v2 .*db\.feat-login-v2' "$work/resolve.txt" || fail "branch value: $(cat "$work/resolve.txt")"
grep -Eq 'db\.pool +integration ' "$work/resolve.txt" || fail "fallback value: $(cat "$work/resolve.txt")"
"$confctl" -o json tenant "$tenant" | grep -q '"commit": "abc123"' || fail "label not recorded"

# A service of the branch subscribes, then the branch is cleaned up.
"$confctl" watch "$tenant" login > "$work/watch.txt" &
pids+=($!)
wait_for "$work/watch.txt" "db.feat-login-v2"
BRANCH=feat/Login_V2 "$src/deploy/ci/confcenter-deregister.sh" > "$work/dereg.txt"
grep -q "tenant removed" "$work/dereg.txt" || fail "deregister: $(cat "$work/dereg.txt")"
set +e; "$confctl" tenant "$tenant" >/dev/null 2>&1; code=$?; set -e
[ "$code" = 3 ] || fail "branch tenant still there (confctl exit $code)"
wait_for "$work/watch.txt" "PUT .*db.url .*db.integration/login .*integration"
# Idempotent cleanup.
BRANCH=feat/Login_V2 "$src/deploy/ci/confcenter-deregister.sh" >/dev/null || fail "second deregister failed"
echo "cd flow: 1 passed, 0 failed"
