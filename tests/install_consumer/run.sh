#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/install_consumer against it
# with find_package(confcenter), and runs it against a confcenterd started here.
# usage: run.sh BUILD_DIR SOURCE_DIR [SANITIZERS]   (the -fsanitize= list the build used)
set -euo pipefail
build=$1 src=$2 sanitize=${3:-}
flags=()
[ -n "$sanitize" ] && flags=(-DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$sanitize")
work=$(mktemp -d) server=""
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# confctl's completion scripts land where bash-completion and zsh look, and bash loads them.
bash -c "source '$work/prefix/share/bash-completion/completions/confctl' && complete -p confctl" \
  | grep -qx 'complete -F _confctl confctl'
grep -q 'bashcompinit' "$work/prefix/share/zsh/site-functions/_confctl"
cmake -S "$src/tests/install_consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${flags[@]}" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/prefix/bin/confcenterd" --listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 --data_dir="$work/data" \
  --port_file="$work/port" --log_level=warn &
server=$!
for _ in $(seq 1 300); do [ -s "$work/port" ] && break; sleep 0.05; done
"$work/consumer/consumer" "127.0.0.1:$(cat "$work/port")"
