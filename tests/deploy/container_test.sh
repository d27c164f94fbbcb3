#!/usr/bin/env bash
# The container image, built and started for real (opt-in: CONFCENTER_TEST_CONTAINER; needs
# root, podman, debootstrap, curl). Builds the image with deploy/container/build.sh (the base is
# made once with debootstrap and cached; the host's ccache serves the compile), checks its
# configuration (non-root numeric user, volume, ports, command), then, since `podman run` does
# not work on this kind of machine, exports its filesystem and chroots into it: confcenterd
# starts from the image's ENTRYPOINT and CMD as the image's user, on a read-only root (as
# Kubernetes' readOnlyRootFilesystem) with a fresh volume that holds lost+found (as a new
# ext4 PersistentVolume), answers /healthz, /readyz, /metrics, the web console (/console/ on the
# HTTP listener) and gRPC (the image's confctl and CD script); its confcenter-agent answers
# --version and, run with --once against that server as an init container would run it,
# writes a file into a volume; the server stops cleanly on SIGTERM and finds its data again on
# restart. Prints the image's size and the build time.
# usage: container_test.sh SOURCE_DIR   (env CONFCENTER_IMAGE: tag to build, default
#        localhost/confcenter/confcenter:test)
set -euo pipefail
src=$1
image=${CONFCENTER_IMAGE:-localhost/confcenter/confcenter:test}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (podman build with chroot isolation, chroot, mount)"
# In a plain chroot (a fresh machine made with debootstrap) podman cannot work: rerun where it
# can (see deploy/container/rooted.sh).
if ! mountpoint -q / || [ ! -d /sys/fs/cgroup ]; then
  exec "$src/deploy/container/rooted.sh" "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"
fi
for tool in podman debootstrap curl; do
  command -v "$tool" > /dev/null || fail "$tool is missing: bash scripts/deps.sh --container"
done
work=$(mktemp -d /var/tmp/confcenter-container-test.XXXXXX)
root="$work/rootfs"
container="" pid="" mounts=()
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2> /dev/null || true
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2> /dev/null || umount -l "${mounts[i]}" || true; done
  [ -z "$container" ] || podman rm --force "$container" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build (the base image and the build stage's package layer are cached by podman).
start=$SECONDS
"$src/deploy/container/build.sh" "$image" > "$work/size" 2> "$work/build.log" \
  || { tail -n 40 "$work/build.log" >&2; fail "image build failed (log above)"; }
build_seconds=$((SECONDS - start))
summary=$(grep -E '^[0-9]+% tests passed' "$work/build.log" || echo "not run: the build layer was cached")
echo "image built in ${build_seconds} s; unit tests in the build stage: $summary"

# 2. The image's configuration.
inspect() { podman image inspect --format "$1" "$image"; }
user=$(inspect '{{.Config.User}}')
[[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || fail "image user '$user' is not a numeric non-root UID (Kubernetes' runAsNonRoot needs one)"
uid=${user%%:*}
gid=${user#*:}
[ "$gid" != "$user" ] || gid=$uid
ports=$(inspect '{{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}')
for p in 7070/tcp 7071/tcp 7080/tcp; do [[ " $ports" == *" $p "* ]] || fail "port $p not exposed (got: $ports)"; done
volumes=$(inspect '{{range $v, $x := .Config.Volumes}}{{$v}} {{end}}')
[ "$volumes" = "/var/lib/confcenter " ] || fail "volumes are '$volumes', expected /var/lib/confcenter"
mapfile -t entrypoint < <(inspect '{{range .Config.Entrypoint}}{{println .}}{{end}}' | sed '/^$/d')
mapfile -t cmd < <(inspect '{{range .Config.Cmd}}{{println .}}{{end}}' | sed '/^$/d')
[ "${entrypoint[*]}" = /usr/bin/confcenterd ] || fail "entrypoint is '${entrypoint[*]}'"
for want in --listen=0.0.0.0:7070 --admin_listen=0.0.0.0:7071 --http_listen=0.0.0.0:7080 \
  --data_dir=/var/lib/confcenter/data; do
  [[ " ${cmd[*]} " == *" $want "* ]] || fail "CMD '${cmd[*]}' lacks $want"
done

# 3. Its filesystem: only the runtime, every library present.
container=$(podman create "$image")
mkdir -p "$root"
podman export "$container" | tar -x -C "$root"
for f in usr/bin/confcenterd usr/bin/confctl usr/bin/confcenter-agent usr/bin/confcenter-register usr/bin/confcenter-deregister usr/bin/confcenter-promote usr/bin/confcenter-routes; do
  [ -x "$root/$f" ] || fail "/$f missing from the image"
done
for f in usr/bin/g++ usr/bin/cmake usr/include/grpcpp; do
  [ ! -e "$root/$f" ] || fail "/$f is in the runtime image: build tools leaked from the build stage"
done
chroot "$root" ldd /usr/bin/confcenterd /usr/bin/confctl /usr/bin/confcenter-agent > "$work/ldd" || fail "ldd failed: $(cat "$work/ldd")"
! grep 'not found' "$work/ldd" || fail "shared libraries missing from the image"
[ "$(stat -c %u "$root/var/lib/confcenter")" = "$uid" ] || fail "/var/lib/confcenter is not owned by UID $uid"

# 4. Run it as a container runtime would: read-only root, a fresh volume (holding lost+found),
# /tmp, /dev and /proc.
mkdir -p "$work/volume/lost+found" "$work/tmp" "$work/agent-config"
chown "$uid:$gid" "$work/volume" "$work/agent-config" && chmod 0750 "$work/volume"
chmod 1777 "$work/tmp"
mkdir -p "$root/etc/app/config"
bind() { mount --bind "$1" "$2" && mounts+=("$2"); }
bind "$root" "$root"
mount -o remount,bind,ro "$root" || fail "cannot remount the image's root read-only"
bind "$work/volume" "$root/var/lib/confcenter"
bind "$work/tmp" "$root/tmp"
# The agent's output, as deploy/k8s/agent's emptyDir at /etc/app/config (its mount point made
# before the remount above).
bind "$work/agent-config" "$root/etc/app/config"
bind /dev "$root/dev"
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
as_user() { chroot --userspec="$uid:$gid" --groups="$gid" "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin "$@"; }

# The image's command with only the addresses moved to loopback and free ports (the last
# flag wins).
args=("${cmd[@]}" --listen=127.0.0.1:0 --port_file=/tmp/port --admin_listen=127.0.0.1:0
  --admin_port_file=/tmp/admin_port --http_listen=127.0.0.1:0 --http_port_file=/tmp/http_port)

start_server() {
  rm -f "$work/tmp/port" "$work/tmp/admin_port" "$work/tmp/http_port"
  # Not through as_user: $! must be confcenterd itself (chroot and env exec it), not a subshell.
  chroot --userspec="$uid:$gid" --groups="$gid" "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin \
    "${entrypoint[@]}" "${args[@]}" > "$work/server.log" 2>&1 &
  pid=$!
  local _
  for _ in $(seq 1 600); do
    [ -s "$work/tmp/port" ] && [ -s "$work/tmp/admin_port" ] && break
    kill -0 "$pid" 2> /dev/null || fail "confcenterd exited: $(cat "$work/server.log")"
    sleep 0.05
  done
  [ -s "$work/tmp/port" ] && [ -s "$work/tmp/admin_port" ] \
    || fail "confcenterd wrote no port files in 30 s: $(cat "$work/server.log")"
  address="127.0.0.1:$(cat "$work/tmp/port")"
}
stop_server() {
  kill -TERM "$pid"
  local code=0
  wait "$pid" || code=$?
  pid=""
  [ "$code" = 0 ] || fail "confcenterd exited with $code on SIGTERM: $(cat "$work/server.log")"
}
# http PATH: the status code of GET on the admin port.
http() { curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(cat "$work/tmp/admin_port")$1"; }

start_server
[ "$(stat -c %u "$work/volume/data")" = "$uid" ] || fail "the store was not created in the volume as UID $uid"
[ "$(http /healthz)" = 200 ] || fail "/healthz did not answer 200: $(cat "$work/body")"
# Ready once the store is open: poll (bounded), it may trail the port file.
for _ in $(seq 1 200); do [ "$(http /readyz)" = 200 ] && break; sleep 0.05; done
[ "$(http /readyz)" = 200 ] || fail "/readyz did not answer 200: $(cat "$work/body")"
# The HTTP listener (its port file is written before the gRPC one): the web console.
console=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(cat "$work/tmp/http_port")/console/")
[ "$console" = 200 ] || fail "GET /console/ on the HTTP listener answered $console"
as_user /usr/bin/confctl --server="$address" tenants > "$work/tenants" || fail "confctl tenants: $(cat "$work/tenants")"
grep -q integration "$work/tenants" || fail "no integration tenant: $(cat "$work/tenants")"
as_user /usr/bin/confctl --server="$address" put integration login db.pool 8 > /dev/null || fail "confctl put"
tenant=$(as_user BRANCH=feat/Container_Test SERVICE=login CONFCENTER_ADDR="$address" /usr/bin/confcenter-register 2> "$work/register.err") \
  || fail "confcenter-register in the image: $(cat "$work/register.err")"
[ "$tenant" = feat-container-test ] || fail "confcenter-register registered into '$tenant'"
# confcenter-agent as the init container runs it (deploy/k8s/agent): --once, the file in a
# volume, as the image's user on the read-only root.
agent_version=$(as_user /usr/bin/confcenter-agent --version 2>&1) || fail "confcenter-agent --version: $agent_version"
project_version=$(sed -n -E 's/^project\(confcenter VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
[ "$agent_version" = "$project_version" ] || fail "confcenter-agent --version says '$agent_version', not $project_version"
as_user CONFCENTER_ADDR="$address" /usr/bin/confcenter-agent --tenant=integration --service=login \
  --path=/etc/app/config/login.env --format=env --once --once-timeout=10s > "$work/agent.log" 2>&1 \
  || fail "confcenter-agent --once in the image: $(cat "$work/agent.log")"
grep -qx 'DB_POOL=8' "$work/agent-config/login.env" || fail "the agent wrote: $(cat "$work/agent-config/login.env")"
[ "$(stat -c '%u %a' "$work/agent-config/login.env")" = "$uid 600" ] \
  || fail "login.env: owner and mode $(stat -c '%u %a' "$work/agent-config/login.env"), expected $uid 600"
[ "$(http /metrics)" = 200 ] || fail "/metrics did not answer 200"
grep -q '^confcenter_ready 1' "$work/body" || fail "/metrics lacks 'confcenter_ready 1'"
grep -q '^confcenter_rpc_requests_total{' "$work/body" || fail "/metrics counts no RPC after several"
stop_server

# The volume keeps the store: a restarted server has the data.
start_server
as_user /usr/bin/confctl --server="$address" get integration login db.pool > "$work/get" || fail "get after restart: $(cat "$work/get")"
grep -q 8 "$work/get" || fail "value lost across a restart: $(cat "$work/get")"
stop_server

size=$(tail -n 1 "$work/size")
echo "runtime image $image: $((size / 1000000)) MB ($size bytes), base $(($(podman image inspect --format '{{.Size}}' \
  "${CONFCENTER_BASE_IMAGE:-localhost/confcenter-base:bookworm}") / 1000000)) MB; build ${build_seconds} s"
echo "container: 1 passed, 0 failed"
