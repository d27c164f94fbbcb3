#!/usr/bin/env bash
# deploy/systemd/confcenterd.service, with its ExecStart pointed at the built confcenterd:
# `systemd-analyze verify` accepts it without a single warning, `systemd-analyze security`
# rates its exposure 2.0 or lower, the hardening and service settings it promises are there,
# and confcenterd --check_config accepts its flags with deploy/systemd/confcenterd.yaml. The etcd
# drop-in (confcenterd-etcd.conf) verifies with the unit, reads the documented EnvironmentFile,
# whose example (confcenterd-etcd.env) sets --store=etcd, the endpoints and the client TLS files
# as CONFCENTER_<FLAG> variables with the etcd limits of deploy/k8s/etcd's members; confcenterd
# --check_config accepts them once it has the etcd store (--store).
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

# The etcd drop-in, as installed (confcenterd.service.d/etcd.conf next to the unit).
dropin="$src/deploy/systemd/confcenterd-etcd.conf"
envfile="$src/deploy/systemd/confcenterd-etcd.env"
mkdir -p "$work/units/confcenterd.service.d"
cp "$work/confcenterd.service" "$work/units/confcenterd.service"
cp "$dropin" "$work/units/confcenterd.service.d/etcd.conf"
SYSTEMD_UNIT_PATH="$work/units:" systemd-analyze verify "$work/units/confcenterd.service" > "$work/verify-etcd.out" 2>&1 \
  || fail "systemd-analyze verify with the etcd drop-in: $(cat "$work/verify-etcd.out")"
[ ! -s "$work/verify-etcd.out" ] || fail "systemd-analyze verify warns with the etcd drop-in: $(cat "$work/verify-etcd.out")"
grep -q '^EnvironmentFile=/etc/confcenter/etcd.env$' "$dropin" || fail "$dropin does not read /etc/confcenter/etcd.env"
grep -q 'confcenterd-etcd.env /etc/confcenter/etcd.env' "$dropin" || fail "$dropin does not say how to install the env file"
mapfile -t etcd_env < <(grep -Ev '^(#|$)' "$envfile")
for line in "${etcd_env[@]}"; do
  [[ "$line" =~ ^CONFCENTER_[A-Z0-9_]+=[^\ ]+$ ]] || fail "$envfile: '$line' is not CONFCENTER_<FLAG>=value"
done
for setting in STORE=etcd 'ETCD_ENDPOINTS=[^ ]+:[0-9]+' 'ETCD_CA_FILE=/' 'ETCD_CERT_FILE=/' 'ETCD_KEY_FILE=/'; do
  grep -Eq "^CONFCENTER_$setting" "$envfile" || fail "$envfile lacks CONFCENTER_$setting"
done
# The limits the README tells etcd to run with: deploy/k8s/etcd's members' flags.
for pair in ETCD_MAX_TXN_OPS:max-txn-ops ETCD_MAX_REQUEST_BYTES:max-request-bytes; do
  mine=$(sed -n -E "s/^CONFCENTER_${pair%%:*}=([0-9]+)$/\1/p" "$envfile")
  theirs=$(sed -n -E "s/^ *- --${pair#*:}=([0-9]+)$/\1/p" "$src/deploy/k8s/etcd/statefulset.yaml")
  [ -n "$mine" ] && [ "$mine" = "$theirs" ] \
    || fail "$envfile: CONFCENTER_${pair%%:*}=$mine is not the etcd members' --${pair#*:}=$theirs (deploy/k8s/etcd)"
done
# --helpfull exits 1: read its output first (under pipefail the pipe's status would be 1).
if grep -q -- '--store ' <<< "$("$confcenterd" --helpfull 2>&1)"; then
  env -i "${etcd_env[@]}" "$confcenterd" --check_config "${args[@]}" > "$work/check-etcd.out" 2>&1 \
    || fail "confcenterd --check_config with $envfile: $(cat "$work/check-etcd.out")"
  echo "systemd etcd drop-in: verified, its variables accepted by confcenterd --check_config"
else
  echo "systemd etcd drop-in: verified (confcenterd has no --store yet: --check_config of its variables not run)"
fi
echo "systemd: 2 passed, 0 failed"
