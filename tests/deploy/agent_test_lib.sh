# Shared by the agent's deploy tests (agent_k8s_test.sh, systemd_agent_test.sh); sourced after
# they set `confcenterd` and `confctl`. Gives: $work (removed at exit with every process in
# pids and process group in groups), fail, poll, free_port, and start_confcenterd.
work=$(mktemp -d)
pids=() groups=()
cleanup() {
  local p
  for p in "${groups[@]}"; do kill -- "-$p" 2> /dev/null || true; done  # a process and its children
  for p in "${pids[@]}"; do
    kill "$p" 2> /dev/null || true
    wait "$p" 2> /dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# poll N CMD...: runs CMD every 50 ms until it succeeds, at most N times.
poll() { local n=$1 i; shift; for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.05; done; return 1; }
# A loopback port that was free a moment ago.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# confcenterd on a free loopback port with its data in $work; sets $server (host:port) and
# writes the views the tests render: integration/orders db.host=db1, db.pool=8.
start_confcenterd() {
  "$confcenterd" --listen=127.0.0.1:0 --data_dir="$work/data" --port_file="$work/port" \
    --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 --log_level=warn > "$work/server.log" 2>&1 &
  pids+=($!)
  poll 600 test -s "$work/port" || fail "confcenterd did not start: $(cat "$work/server.log")"
  server="127.0.0.1:$(cat "$work/port")"
  "$confctl" --server="$server" put integration orders db.host db1 > /dev/null
  "$confctl" --server="$server" put integration orders db.pool 8 > /dev/null
}
