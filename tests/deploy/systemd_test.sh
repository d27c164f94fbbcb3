#!/usr/bin/env bash
# deploy/systemd/confcenterd.service, with its ExecStart pointed at the built confcenterd:
# `systemd-analyze verify` accepts it without a single warning, `systemd-analyze security`
# rates its exposure 2.0 or lower, the hardening and service settings it promises are there,
# and confcenterd --check_config accepts its flags with deploy/systemd/confcenterd.yaml.
# Exits 77 (ctest: skipped) only when systemd-analyze cannot verify even a trivial unit here.
# usage: systemd_test.sh CONFCENTERD SOURCE_DIR
set -euo pipefail
confcenterd=$(realpath "$1") src=$(realpath "$2")
unit="$src/deploy/systemd/confcenterd.service"
config="$src/deploy/systemd/confcenterd.yaml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v systemd-analyze > /dev/null; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd; scripts/deps.sh installs it)"
  exit 77
fi
printf '[Service]\nExecStart=/bin/true\n' > "$work/probe.service"
if ! systemd-analyze verify "$work/probe.service" > "$work/probe.out" 2>&1; then
  echo "SKIP: systemd-analyze cannot verify even a trivial unit here: $(cat "$work/probe.out")"
  exit 77
fi

# The unit as installed, but starting the confcenterd just built.
installed=$(sed -n -E 's|^ExecStart=([^ ]+).*|\1|p' "$unit")
[ "$installed" = /usr/local/bin/confcenterd ] || fail "ExecStart runs '$installed', expected /usr/local/bin/confcenterd"
sed "s|^ExecStart=$installed |ExecStart=$confcenterd |" "$unit" > "$work/confcenterd.service"
grep -q "^ExecStart=$confcenterd " "$work/confcenterd.service" || fail "could not point ExecStart at $confcenterd"

systemd-analyze verify "$work/confcenterd.service" > "$work/verify.out" 2>&1 \
  || fail "systemd-analyze verify: $(cat "$work/verify.out")"
[ ! -s "$work/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$work/verify.out")"
systemd-analyze security --offline=yes --threshold=20 "$work/confcenterd.service" > "$work/security.out" 2>&1 \
  || fail "exposure above 2.0: $(grep -E 'Overall|✗' "$work/security.out")"
grep -o 'Overall exposure level.*' "$work/security.out"

for setting in Type=notify DynamicUser=yes StateDirectory=confcenter ProtectSystem=strict ProtectHome=yes \
  NoNewPrivileges=yes PrivateTmp=yes PrivateDevices=yes Restart=on-failure 'CapabilityBoundingSet=$' \
  'LimitNOFILE=[0-9]{6,}' 'ExecStart=.* --config=/etc/confcenter/confcenterd.yaml( |$)' \
  'ExecStart=.* --data_dir=/var/lib/confcenter/'; do
  grep -Eq "^$setting" "$unit" || fail "$unit lacks $setting"
done
grace=$(sed -n -E 's/^shutdown_grace_seconds: *([0-9]+).*/\1/p' "$config")
stop=$(sed -n -E 's/^TimeoutStopSec=([0-9]+)s$/\1/p' "$unit")
[ -n "$grace" ] && [ -n "$stop" ] && [ "$stop" -gt "$grace" ] \
  || fail "TimeoutStopSec ($stop s) must exceed shutdown_grace_seconds ($grace s): queued writes would be killed"

# confcenterd accepts ExecStart's flags with the shipped config file (unknown or bad settings
# stop it with exit 2).
read -r -a args <<< "$(sed -n -E 's/^ExecStart=[^ ]+ //p' "$unit")"
args=("${args[@]/#--config=\/etc\/confcenter\/confcenterd.yaml/--config=$config}")
env -i "$confcenterd" --check_config "${args[@]}" > "$work/check.out" 2>&1 \
  || fail "confcenterd --check_config ${args[*]}: $(cat "$work/check.out")"
echo "systemd: 1 passed, 0 failed"
