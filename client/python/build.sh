#!/bin/sh
# Builds the Python client: generates the confcenter.v1 stubs from proto/ into BUILD_DIR/python
# (never committed), byte-compiles the package and runs the unit tests.
#   client/python/build.sh BUILD_DIR
# Then: PYTHONPATH=BUILD_DIR/python:client/python /usr/bin/python3 ...
# Uses Debian's python3 (python3-grpcio, python3-protobuf), protoc and grpc_python_plugin.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$1"
BUILD=$(cd "$1" && pwd)
OUT="$BUILD/python"
PYTHON=${PYTHON:-/usr/bin/python3}
PROTOC=${PROTOC:-protoc}
PLUGIN=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || echo /usr/bin/grpc_python_plugin)}

rm -rf "$OUT/confcenter"
mkdir -p "$OUT"
"$PROTOC" -I "$ROOT/proto" --python_out="$OUT" \
  --plugin=protoc-gen-grpc_python="$PLUGIN" --grpc_python_out="$OUT" \
  "$ROOT"/proto/confcenter/v1/*.proto
"$PYTHON" -m compileall -q "$OUT/confcenter" "$HERE/confcenter_client" >/dev/null
cd "$HERE"
PYTHONPATH="$OUT:$HERE" "$PYTHON" -m unittest discover -s tests -t . -q
