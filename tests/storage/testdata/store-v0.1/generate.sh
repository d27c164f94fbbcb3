#!/bin/bash
# Writes the store-v0.1 data dir and its expected reading with a confcenterd and confctl built
# from the same tree. See README.md.
#
# Usage: generate.sh BUILD_DIR OUT_DIR
#   BUILD_DIR  a build of confcenter (holds confcenterd and confctl)
#   OUT_DIR    gets data/ (the RocksDB data dir) and expected.txt; data/ must not exist
set -euo pipefail
build=$(realpath "$1")
out=$(realpath "$2")
[[ ! -e $out/data ]] || { echo "$out/data exists" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A clock the server reads from a file: every step below happens one second after the last,
# starting at 2025-06-01T12:00:00Z, so every time in the data is fixed.
clock=$work/clock
now=1748779200000000
echo "$now" >"$clock"
tick() { now=$((now + 1000000)); echo "$now" >"$clock"; }

"$build/confcenterd" --listen=127.0.0.1:0 --port_file="$work/port" \
  --admin_listen=127.0.0.1:0 --data_dir="$out/data" --testing_clock_file="$clock" \
  --log_level=warn &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do [[ -s $work/port ]] && break; sleep 0.1; done
export CONFCENTER_ADDR=127.0.0.1:$(cat "$work/port")
ctl() { tick; "$build/confctl" --user=alice "$@"; }

# Integration: three services with full definitions (every field of ServiceDefinition and of
# its nested messages).
cat >"$work/integration.yaml" <<'YAML'
definition_version: "1.0"
name: payments
metadata: {git.commit: 3f2a9c1, owner: team-pay}
version: 1.3.2
protocol: PROTOCOL_GRPC
endpoints:
  - {name: grpc, port: 9090}
  - {name: metrics, port: 9102, address_template: "{service}-metrics.{tenant}.internal:{port}"}
dependencies:
  - {service: ledger, range: "^2.0"}
  - {service: cache}
defaults: {"db.pool.size": "10", "retry.max": "3", "retry.backoff": "250ms"}
generated_keys:
  - {key: db.password, kind: GENERATED_KEY_KIND_SECRET, length: 24}
  - {key: instance.id, kind: GENERATED_KEY_KIND_UUID}
  - {key: api.token, kind: GENERATED_KEY_KIND_TOKEN, length: 40}
health: {endpoint: grpc, path: grpc.health.v1.Health}
self_check: {endpoint: grpc, path: payments.v1.SelfCheck}
---
definition_version: "1"
name: ledger
metadata: {owner: team-ledger}
version: 2.1.0
protocol: PROTOCOL_HTTP
endpoints:
  - {name: http, port: 8080, address_template: "{{ledger}}.{tenant}.svc:{port}"}
defaults: {"page.size": "50"}
generated_keys:
  - {key: signing.key, kind: GENERATED_KEY_KIND_TOKEN}
health: {endpoint: http, path: /healthz}
self_check: {endpoint: http, path: /selfcheck}
---
name: cache
protocol: PROTOCOL_TCP
endpoints:
  - {name: redis, port: 6379}
health: {endpoint: redis}
YAML
ctl register integration -f "$work/integration.yaml"

# A branch below integration: a newer payments with another range, as a release candidate.
cat >"$work/branch.yaml" <<'YAML'
definition_version: "1.1"
name: payments
metadata: {git.commit: 9be07d4, owner: team-pay, branch: feature/x}
version: 1.4.0-rc.1+build.5
protocol: PROTOCOL_GRPC
endpoints:
  - {name: grpc, port: 9091}
dependencies:
  - {service: ledger, range: ">=2.0 <3 || ^3"}
  - {service: cache, range: "*"}
defaults: {"db.pool.size": "10", "retry.max": "5", "feature.x": "on"}
generated_keys:
  - {key: db.password, kind: GENERATED_KEY_KIND_SECRET}
health: {endpoint: grpc}
self_check: {endpoint: grpc, path: payments.v1.SelfCheck}
YAML
ctl register feature-x --parent integration -f "$work/branch.yaml"

# Plain puts (text and JSON), a put in the branch, a mask, a delete.
ctl put integration payments feature.flags '{"fast_path": true, "limit": 3}' --content-type json
ctl put integration ledger page.size 100
ctl put feature-x payments retry.backoff 1s
ctl put feature-x ledger page.size 20
ctl mask feature-x payments feature.flags
ctl delete feature-x ledger page.size

# A release: a Txn with a message.
cat >"$work/txn.yaml" <<'YAML'
- {type: put, tenant: feature-x, service: payments, key: retry.max, value: "7"}
- {type: put, tenant: feature-x, service: ledger, key: audit.enabled, value: "true"}
- {type: put, tenant: integration, service: cache, key: ttl.seconds, value: "60"}
- {type: mask, tenant: feature-x, service: cache, key: ttl.seconds}
YAML
ctl txn -f "$work/txn.yaml" -m "feature-x: retry and audit"
release=$("$build/confctl" -o json releases feature-x | sed -n 's/.*"release_id": "\{0,1\}\([0-9]*\)"\{0,1\},*$/\1/p' | head -1)

# A rollback of the branch's payments to before the release.
ctl rollback feature-x --service payments --to-revision $((release - 1)) -m "undo retry.max"

# A tenant with a TTL below the branch (a three-level chain), with a service registered the
# short way (name and labels only).
ctl register preview-1 --parent feature-x --ttl 72h --service cache-warmer --label owner=ops
ctl put preview-1 payments retry.max 9

# A tenant created and removed again.
ctl register scratch --service cache
ctl put scratch cache ttl.seconds 5
ctl deregister scratch --all

# The expected reading: what confctl -o json prints for each command, after a "# " line with
# the command (the test reads this file; the clock line says when the server was stopped).
tick
read_cmd() { echo "# confctl -o json $*"; "$build/confctl" -o json "$@"; }
{
  echo "# clock_micros $now"
  read_cmd tenants
  for t in integration feature-x preview-1; do
    read_cmd tenant $t
    read_cmd resolve $t
    read_cmd list $t
    read_cmd history $t
    read_cmd releases $t
  done
  read_cmd releases
  for r in $("$build/confctl" -o json releases | sed -n 's/.*"release_id": "\{0,1\}\([0-9]*\)"\{0,1\},*$/\1/p'); do
    read_cmd release "$r"
  done
  read_cmd deps integration payments
  read_cmd deps feature-x payments
  read_cmd deps preview-1 payments
  read_cmd deps preview-1 cache-warmer
  read_cmd audit
} >"$out/expected.txt"
kill -TERM "$server"
wait "$server"

rm -f "$out"/data/LOG "$out"/data/LOG.old.*
