#!/usr/bin/env bash
# The seed's CD flow, with the same shell steps as the CI examples in deploy/ci/, against a
# real confcenterd: the integration branch registers a service with its config; a feature
# branch registers its own version; the service's config appears in the branch's resolved
# view with the branch as source; a subscriber of the branch follows it; deregistering the
# branch removes it and the subscriber falls back to integration's values.
# Rollout status: a client-library instance of the branch follows it; a config change waits
# until it has taken effect (confctl wait-applied, in the register step too), and an instance
# that does not apply it in time fails the step (exit 8) and is named.
# usage: cd_flow_test.sh CONFCENTERD CONFCTL SOURCE_DIR PRINT_CONFIG
set -euo pipefail
confcenterd=$1 confctl=$2 src=$3 print_config=$4
work=$(mktemp -d)
pids=()
# Waits for each process after killing it: a server still flushing would race the rm.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Waits (bounded, 10 s) until FILE contains PATTERN.
wait_for() { for _ in $(seq 1 200); do grep -q -- "$2" "$1" && return 0; sleep 0.05; done; fail "no '$2' in $1: $(cat "$1")"; }

"$confcenterd" --listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 --data_dir="$work/data" --port_file="$work/port" --log_level=warn &
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

# Service definitions: login calls users; the branch's login@2 breaks users' range for it.
cat > "$work/users.yaml" <<'YAML'
definition_version: "1"
name: users
version: 1.3.0
protocol: grpc
endpoints: [{name: grpc, port: 9090}]
dependencies: [{service: login, range: "^1.2"}]
defaults:
  cache:
    ttl: 30s
generated_keys: [{key: db.password, kind: secret, length: 24}]
health: {endpoint: grpc, path: grpc.health.v1.Health}
YAML
cat > "$work/login-v1.yaml" <<'YAML'
name: login
version: 1.4.0
protocol: http
endpoints: [{name: http, port: 8080}]
health: {endpoint: http, path: /healthz}
YAML
sed 's/^version: 1.4.0/version: 2.0.0/' "$work/login-v1.yaml" > "$work/login-v2.yaml"

# Integration environment (the integration branch's pipelines).
tenant=$(BRANCH=devops-integrate DEFINITION_FILE="$work/users.yaml" "$src/deploy/ci/confcenter-register.sh")
[ "$tenant" = integration ] || fail "integration branch registered into '$tenant'"
tenant=$(BRANCH=devops-integrate DEFINITION_FILE="$work/login-v1.yaml" \
  CONFIG_FILE="$work/login-integration.yaml" "$src/deploy/ci/confcenter-register.sh")
[ "$tenant" = integration ] || fail "integration branch registered into '$tenant'"

# Promotion after integration's tests pass: into a reviewed pre-release root as a draft that
# another identity publishes, then into an unreviewed one as a release the step waits for.
"$confctl" register pre-acme --root -f "$work/login-v1.yaml" > /dev/null
"$confctl" review pre-acme --drafts-required --publisher-not-author > /dev/null
promoted=$(CONFCENTER_USER=ci TO=pre-acme SERVICES=login COMMIT=f00d "$src/deploy/ci/confcenter-promote.sh" 2> "$work/promote.txt") \
  || fail "promote: $(cat "$work/promote.txt")"
grep -Eq '^added +login +db\.url ' "$work/promote.txt" || fail "no dry run: $(cat "$work/promote.txt")"
[[ "$promoted" =~ ^draft\ [0-9]+$ ]] || fail "promote into a reviewed tenant printed '$promoted'"
"$confctl" resolve pre-acme login | grep -q 'db.integration' && fail "a draft went live"
set +e; "$confctl" --user ci draft publish pre-acme "${promoted#draft }" > /dev/null 2>&1; code=$?; set -e
[ "$code" = 4 ] || fail "the draft's author published it (exit $code)"
"$confctl" --user release-manager draft publish pre-acme "${promoted#draft }" > /dev/null \
  || fail "the release manager could not publish"
"$confctl" resolve pre-acme login | grep -Eq 'db\.url +pre-acme .*db\.integration' \
  || fail "promoted value: $("$confctl" resolve pre-acme login)"
"$confctl" releases pre-acme | grep -q 'promote from integration at f00d' || fail "release message"
"$confctl" register pre-beta --root -f "$work/login-v1.yaml" > /dev/null
promoted=$(TO=pre-beta "$src/deploy/ci/confcenter-promote.sh" 2> "$work/promote2.txt") \
  || fail "promote: $(cat "$work/promote2.txt")"
[[ "$promoted" =~ ^release\ [0-9]+$ ]] || fail "promote into pre-beta printed '$promoted'"
[ "$(TO=pre-beta "$src/deploy/ci/confcenter-promote.sh" 2>/dev/null)" = unchanged ] \
  || fail "a second promotion changed something"

# A feature branch deploys only login, at an incompatible version: the gate refuses it (exit
# 4 = FAILED_PRECONDITION) and names the conflict; with FORCE it goes in with a warning.
set +e
BRANCH=feat/Login_V2 DEFINITION_FILE="$work/login-v2.yaml" "$src/deploy/ci/confcenter-register.sh" \
  > /dev/null 2> "$work/gate.txt"
code=$?
set -e
[ "$code" = 4 ] || fail "incompatible login@2.0.0 registered (exit $code): $(cat "$work/gate.txt")"
grep -q 'users@1.3.0 requires login ^1.2; in feat-login-v2 it would route to login@2.0.0' "$work/gate.txt" \
  || fail "gate message: $(cat "$work/gate.txt")"
tenant=$(BRANCH=feat/Login_V2 FORCE=1 COMMIT=abc123 DEFINITION_FILE="$work/login-v2.yaml" \
  CONFIG_FILE="$work/login-feature.yaml" "$src/deploy/ci/confcenter-register.sh" 2> "$work/forced.txt")
[ "$tenant" = feat-login-v2 ] || fail "feature branch tenant is '$tenant'"
grep -q 'warning: users@1.3.0 requires login ^1.2' "$work/forced.txt" || fail "no warning: $(cat "$work/forced.txt")"
"$confctl" tenant "$tenant" | grep -q 'warning .*users@1.3.0 requires login' || fail "warning not on the tenant"
"$confctl" tenant "$tenant" | grep -Eq '^ttl +168h' || fail "branch TTL not set"

# Routing: users (integration's) calls the branch's login from the branch.
"$confctl" deps "$tenant" users > "$work/deps.txt"
grep -q 'login \^1.2 -> 2.0.0 in feat-login-v2 http=login.feat-login-v2.svc.cluster.local:8080' "$work/deps.txt" \
  || fail "routing: $(cat "$work/deps.txt")"
"$confctl" resolve "$tenant" users | grep -Eq 'cache\.ttl +integration .*30s' || fail "users default"
"$confctl" resolve "$tenant" login | grep -Eq '_endpoint\.http +feat-login-v2 ' || fail "branch endpoint"
"$confctl" resolve "$tenant" login > "$work/resolve.txt"
grep -Eq 'db\.url +feat-login-v2 .*db\.feat-login-v2' "$work/resolve.txt" || fail "branch value: $(cat "$work/resolve.txt")"
grep -Eq 'db\.pool +integration ' "$work/resolve.txt" || fail "fallback value: $(cat "$work/resolve.txt")"
"$confctl" -o json tenant "$tenant" | grep -q '"commit": "abc123"' || fail "label not recorded"

# Rollout status: an instance of the branch's login (the client library's example service).
"$print_config" --server="$CONFCENTER_ADDR" --tenant="$tenant" --services=login > "$work/instance.txt" &
instance=$!
pids+=($instance)
wait_for "$work/instance.txt" "db.feat-login-v2"
for _ in $(seq 1 200); do
  "$confctl" instances "$tenant" login > "$work/instances.txt"
  grep -Eq ' yes +' "$work/instances.txt" && break
  sleep 0.05
done
grep -Eq '^login +[^ ]+ +[^ ]+ +[0-9]+ +yes ' "$work/instances.txt" || fail "instance not listed as current: $(cat "$work/instances.txt")"
# The register step's config import waits until the running instance has applied it.
sed 's#db.feat-login-v2/login#db2.feat-login-v2/login#' "$work/login-feature.yaml" > "$work/login-feature2.yaml"
BRANCH=feat/Login_V2 FORCE=1 DEFINITION_FILE="$work/login-v2.yaml" CONFIG_FILE="$work/login-feature2.yaml" \
  WAIT_APPLIED=30s "$src/deploy/ci/confcenter-register.sh" > /dev/null 2> "$work/applied.txt" \
  || fail "register with WAIT_APPLIED: $(cat "$work/applied.txt")"
grep -q "applied by 1 instance(s) of $tenant/login" "$work/applied.txt" || fail "no wait: $(cat "$work/applied.txt")"
grep -q "db2.feat-login-v2" "$work/instance.txt" || fail "the instance did not get the change first"
# A stopped instance does not apply the next change: the wait fails (exit 8), naming it.
kill -STOP "$instance"
revision=$("$confctl" put "$tenant" login db.pool 12 | grep -Eo '[0-9]+$')
set +e
"$confctl" wait-applied "$tenant" login --revision "$revision" --timeout 1s > "$work/lag.txt" 2>&1
code=$?
set -e
kill -CONT "$instance"
[ "$code" = 8 ] || fail "wait-applied with a stopped instance exited $code: $(cat "$work/lag.txt")"
grep -q "1 of 1 instance(s) of $tenant have not applied revision $revision" "$work/lag.txt" \
  || fail "laggard not named: $(cat "$work/lag.txt")"
grep -Eq "^login .* no \(needs $revision\)" "$work/lag.txt" || fail "laggard row: $(cat "$work/lag.txt")"
"$confctl" wait-applied "$tenant" login --revision "$revision" --timeout 30s > /dev/null \
  || fail "the resumed instance did not apply revision $revision"
kill "$instance"

# A service of the branch subscribes, then the branch is cleaned up.
"$confctl" watch "$tenant" login > "$work/watch.txt" &
pids+=($!)
wait_for "$work/watch.txt" "db2.feat-login-v2"
BRANCH=feat/Login_V2 "$src/deploy/ci/confcenter-deregister.sh" > "$work/dereg.txt"
grep -q "tenant removed" "$work/dereg.txt" || fail "deregister: $(cat "$work/dereg.txt")"
set +e; "$confctl" tenant "$tenant" >/dev/null 2>&1; code=$?; set -e
[ "$code" = 3 ] || fail "branch tenant still there (confctl exit $code)"
wait_for "$work/watch.txt" "PUT .*db.url .*db.integration/login .*integration"
"$confctl" deps integration users | grep -q 'login \^1.2 -> 1.4.0 in integration' || fail "routing after cleanup"
# Idempotent cleanup.
BRANCH=feat/Login_V2 "$src/deploy/ci/confcenter-deregister.sh" >/dev/null || fail "second deregister failed"

# The Helm hooks' form (deploy/ci/helm/): TENANT as is, extra LABELS. Integration loses one
# named service on uninstall, never itself.
TENANT=integration SERVICE=billing LABELS="chart=billing-1.0.0 team=payments" \
  "$src/deploy/ci/confcenter-register.sh" > /dev/null 2>&1 || fail "TENANT=integration register failed"
"$confctl" -o json tenant integration > "$work/integration.json"
grep -q '"chart": "billing-1.0.0"' "$work/integration.json" && grep -q '"team": "payments"' "$work/integration.json" \
  || fail "LABELS not recorded: $(cat "$work/integration.json")"
set +e; TENANT=integration "$src/deploy/ci/confcenter-deregister.sh" > /dev/null 2>&1; code=$?; set -e
[ "$code" = 1 ] || fail "removing the integration tenant wholesale was not refused (exit $code)"
TENANT=integration SERVICE=billing "$src/deploy/ci/confcenter-deregister.sh" > /dev/null || fail "TENANT=integration SERVICE=billing"
"$confctl" tenant integration > "$work/integration.txt"
! grep -q billing "$work/integration.txt" || fail "billing still in integration: $(cat "$work/integration.txt")"
grep -q users "$work/integration.txt" || fail "integration lost users: $(cat "$work/integration.txt")"
# The credentials variables reach the scripts' confctl: a token file the job did not manage to
# write fails the step, naming the file.
set +e
CONFCENTER_TOKEN_FILE="$work/no-token" TENANT=integration SERVICE=billing \
  "$src/deploy/ci/confcenter-register.sh" > /dev/null 2> "$work/token.txt"
code=$?
set -e
[ "$code" != 0 ] && grep -q "UNAUTHENTICATED.*$work/no-token" "$work/token.txt" \
  || fail "a missing CONFCENTER_TOKEN_FILE did not fail the step (exit $code): $(cat "$work/token.txt")"
echo "cd flow: 1 passed, 0 failed"
