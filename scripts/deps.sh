#!/usr/bin/env bash
# Installs the Debian 12 packages confcenter builds and tests with; installs only what is
# missing, so reruns cost nothing. Run by scripts/serve and scripts/test, and by the
# container image's build stage (deploy/container/Dockerfile).
#
# usage: deps.sh              build + test packages (what scripts/test needs)
#        deps.sh --build      only what compiling and the unit tests need (the image's build stage)
#        deps.sh --container  only the opt-in container image test's tools (podman, debootstrap)
set -euo pipefail
# openssl (in build: the unit tests run it): the test certificates of tests/tls_certs.cc.
# libjansson-dev: cjose's pkg-config file requires jansson, which Debian's libcjose-dev does
# not pull in.
build=(
  g++ cmake ninja-build pkg-config ccache make openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev librocksdb-dev libspdlog-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libcjose-dev libjansson-dev libssl-dev
  prometheus-cpp-dev libcpp-httplib-dev libsystemd-dev libgoogle-perftools-dev
  libkainjow-mustache-dev  # the agent's templates
)
# kubernetes-client: kubectl 1.20 renders the Kustomize manifests (tests/deploy/k8s_test.sh);
# systemd: systemd-analyze verifies the unit (tests/deploy/systemd_test.sh);
# clang + libclang-rt-14-dev (libFuzzer): scripts/fuzz; clang-format: scripts/check-format;
# etcd-client: etcdctl snapshot save/restore (the etcd restore test, tests/ha/).
# chromium, fonts-liberation, nodejs, npm: the console's browser tests (tests/console/,
# playwright-core from npm; the fonts for its screenshots).
# golang-go ... protoc-gen-go-grpc, python3-grpcio, python3-protobuf: the Go and Python client
# libraries (client/go, client/python), built offline from Debian's packages.
test=(golang-go golang-google-grpc-dev golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc
  python3-grpcio python3-protobuf etcd-server etcd-client gnuplot-nox kubernetes-client systemd clang libclang-rt-14-dev clang-format
  chromium fonts-liberation nodejs npm python3-kubernetes python3-jsonschema)
container=(podman debootstrap curl)
case "${1:-}" in
  "") packages=("${build[@]}" "${test[@]}") ;;
  --build) packages=("${build[@]}") ;;
  --container) packages=("${container[@]}") ;;
  *) echo "usage: deps.sh [--build|--container]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  # A kubectl from elsewhere (e.g. Google's `kubectl` package, which owns the same path and
  # would conflict) serves as well: the manifests render with kubectl 1.20 and later.
  if [ "$p" = kubernetes-client ] && command -v kubectl >/dev/null; then continue; fi
  # Likewise a Node.js from elsewhere (NodeSource's nodejs carries its own npm, and conflicts
  # with Debian's npm package): the tests need node >= 18 and npm.
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
