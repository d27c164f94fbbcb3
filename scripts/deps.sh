#!/usr/bin/env bash
# Installs the Debian 12 packages confcenter builds and tests with; installs only what is
# missing, so reruns cost nothing. Sourced or run by scripts/serve and scripts/test.
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config ccache make
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev librocksdb-dev libspdlog-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
  prometheus-cpp-dev libcpp-httplib-dev libsystemd-dev
  etcd-server gnuplot-nox
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
