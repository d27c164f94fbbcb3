#!/usr/bin/env bash
# deploy/systemd/confcenter-agent.service and its example config confcenter-agent.yaml:
# 1. the unit, its ExecStartPre and ExecStart pointed at the built agent, passes
#    `systemd-analyze verify` without a warning and `systemd-analyze security` at 2.0 or lower,
#    with the hardening of confcenterd.service, a once-run before start (--once) with a timeout
#    below TimeoutStartSec, and the config at /etc/confcenter/agent.yaml (skipped, and said so,
#    where systemd-analyze cannot verify a trivial unit);
# 2. the example config, its paths moved under a temporary directory (and no TLS: the server
#    runs on loopback), is loaded by the real agent: ExecStartPre's command writes both views
#    (mode 0600, the cache dir 0700) and exits 0; ExecStart's command serves /readyz and
#    /metrics and, after a put, rewrites the files and sends SIGHUP to the pid of the pid file;
#    a broken copy of the config exits 2 with one line naming the field.
# usage: systemd_agent_test.sh AGENT CONFCENTERD CONFCTL SOURCE_DIR
set -euo pipefail
agent=$(realpath "$1") confcenterd=$(realpath "$2") confctl=$(realpath "$3") src=$(realpath "$4")
unit="$src/deploy/systemd/confcenter-agent.service"
config="$src/deploy/systemd/confcenter-agent.yaml"
source "$(dirname "$0")/agent_test_lib.sh"
passed=0

# 1. The unit.
for setting in 'ExecStartPre=/usr/local/bin/confcenter-agent --config=/etc/confcenter/agent.yaml --once --once-timeout=[0-9]+s$' \
  'ExecStart=/usr/local/bin/confcenter-agent --config=/etc/confcenter/agent.yaml$' \
  'User=[a-z]' StateDirectory=confcenter-agent UMask=0077 ProtectSystem=strict ProtectHome=yes \
  NoNewPrivileges=yes PrivateTmp=yes PrivateDevices=yes 'CapabilityBoundingSet=$' Restart=always \
  'SystemCallFilter=~@privileged'; do
  grep -Eq "^$setting" "$unit" || fail "$unit lacks $setting"
done
once=$(sed -n -E 's/^ExecStartPre=.* --once-timeout=([0-9]+)s$/\1/p' "$unit")
start=$(sed -n -E 's/^TimeoutStartSec=([0-9]+)s$/\1/p' "$unit")
[ -n "$start" ] && [ "$start" -gt "$once" ] || fail "TimeoutStartSec ($start s) must exceed --once-timeout ($once s)"
if ! command -v systemd-analyze > /dev/null; then
  echo "systemd unit: systemd-analyze is not installed: verify and security not run"
else
  printf '[Service]\nExecStart=/bin/true\n' > "$work/probe.service"
  if ! systemd-analyze verify "$work/probe.service" > "$work/probe.out" 2>&1; then
    echo "systemd unit: systemd-analyze cannot verify a trivial unit here: verify and security not run"
  else
    sed "s|^\(ExecStart\(Pre\)\?\)=/usr/local/bin/confcenter-agent |\1=$agent |" "$unit" > "$work/confcenter-agent.service"
    [ "$(grep -c "=$agent " "$work/confcenter-agent.service")" = 2 ] || fail "could not point ExecStart(Pre) at $agent"
    systemd-analyze verify "$work/confcenter-agent.service" > "$work/verify.out" 2>&1 \
      || fail "systemd-analyze verify: $(cat "$work/verify.out")"
    [ ! -s "$work/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$work/verify.out")"
    systemd-analyze security --offline=yes --threshold=20 "$work/confcenter-agent.service" > "$work/security.out" 2>&1 \
      || fail "exposure above 2.0: $(grep -E 'Overall|✗' "$work/security.out")"
    grep -o 'Overall exposure level.*' "$work/security.out"
    passed=$((passed + 1))
  fi
fi

# 2. The example config, loaded by the real agent.
start_confcenterd
listen_port=$(free_port)
state="$work/state"
mkdir -p "$work/run"
# The example as installed, but here: its directories under $work, the server on loopback,
# without the credentials block (no TLS on loopback; its files are checked to be in the config
# directory below).
grep -Eq '^  (ca_file|token_file): /etc/confcenter/' "$config" || fail "$config: credentials outside /etc/confcenter (ConfigurationDirectory)"
grep -q '^cache_dir: /var/lib/confcenter-agent/' "$config" || fail "$config: cache_dir outside the unit's StateDirectory"
sed -e "s|/var/lib/confcenter-agent|$state|g" -e "s|/run/app/|$work/run/|g" \
  -e "s|^address: .*|address: $server|" -e "s|^listen: .*|listen: 127.0.0.1:$listen_port|" \
  -e '/^credentials:/,/^[a-z]/{/^credentials:/d;/^  /d}' "$config" > "$work/agent.yaml"
grep -q credentials "$work/agent.yaml" && fail "could not drop the credentials from the copy"
# The unit's commands, with the copy.
read -r -a pre <<< "$(sed -n -E 's/^ExecStartPre=[^ ]+ //p' "$unit")"
read -r -a main <<< "$(sed -n -E 's/^ExecStart=[^ ]+ //p' "$unit")"
pre=("${pre[@]/#--config=*/--config=$work/agent.yaml}")
main=("${main[@]/#--config=*/--config=$work/agent.yaml}")
env -i PATH=/usr/bin:/bin "$agent" "${pre[@]}" > "$work/pre.log" 2>&1 || fail "ExecStartPre: exit $?: $(cat "$work/pre.log")"
env_file=$(sed -n -E 's|^    path: (.*\.env)( .*)?$|\1|p' "$work/agent.yaml")
json_file=$(sed -n -E 's|^    path: (.*\.json)( .*)?$|\1|p' "$work/agent.yaml")
[ -n "$env_file" ] && [ -n "$json_file" ] || fail "the example has no env and json views"
grep -qx 'ORDERS_DB_HOST=db1' "$env_file" || fail "ExecStartPre wrote $env_file: $(cat "$env_file")"
/usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["db"]["pool"] == "8", d' "$json_file" \
  || fail "ExecStartPre wrote $json_file: $(cat "$json_file")"
for f in "$env_file" "$json_file"; do [ "$(stat -c %a "$f")" = 600 ] || fail "$f: mode $(stat -c %a "$f"), not 600"; done
[ "$(stat -c %a "$state/cache")" = 700 ] || fail "cache dir $state/cache: mode $(stat -c %a "$state/cache"), not 700"
passed=$((passed + 1))

# The application: writes its pid file, counts SIGHUPs.
bash -c 'echo $$ > "$1/run/app.pid"; n=0; trap '\''n=$((n + 1)); echo "hup $n" >> "$1/hups"'\'' HUP
  while :; do sleep 1 & wait $! || true; done' app "$work" &
pids+=($!)
poll 200 test -s "$work/run/app.pid" || fail "the application wrote no pid file"
env -i PATH=/usr/bin:/bin "$agent" "${main[@]}" > "$work/agent.log" 2>&1 &
pids+=($!)
http_get() {
  exec 3<> "/dev/tcp/127.0.0.1/$listen_port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  cat <&3 > "$work/body"
  exec 3>&-
  head -n 1 "$work/body" | grep -q " 200 "
}
poll 600 http_get /readyz 2> /dev/null || fail "ExecStart: /readyz is not 200: $(cat "$work/agent.log")"
"$confctl" --server="$server" put integration orders db.pool 9 > /dev/null
poll 600 grep -qx 'ORDERS_DB_POOL=9' "$env_file" || fail "ExecStart did not rewrite $env_file: $(cat "$work/agent.log")"
poll 600 test -s "$work/hups" || fail "the application got no SIGHUP: $(cat "$work/agent.log")"
# The counters follow every 200 ms.
sent() { http_get /metrics && grep -q '^confcenter_agent_notifications_total{result="sent"} [1-9]' "$work/body"; }
poll 200 sent || fail "no notification counted as sent on /metrics: $(grep notifications "$work/body")"
for metric in confcenter_agent_view_revision confcenter_agent_view_stale confcenter_agent_file_writes_total \
  confcenter_agent_notifications_total; do
  grep -q "^# TYPE $metric " "$work/body" || fail "/metrics lacks $metric"
done
passed=$((passed + 1))

# A broken copy: exit 2, one line naming the field.
sed 's|^    format: json|    format: xml|' "$work/agent.yaml" > "$work/bad.yaml"
set +e
env -i PATH=/usr/bin:/bin "$agent" --config="$work/bad.yaml" --once > "$work/bad.out" 2>&1
code=$?
set -e
[ "$code" = 2 ] || fail "a config with format xml: exit $code, expected 2: $(cat "$work/bad.out")"
[ "$(wc -l < "$work/bad.out")" = 1 ] && grep -q 'views\[1\]\.format' "$work/bad.out" \
  || fail "a config with format xml: expected one line naming views[1].format: $(cat "$work/bad.out")"
echo "systemd agent: example config loaded by confcenter-agent, files written, application signalled: ok"
echo "systemd agent: $((passed + 1)) passed, 0 failed"
