#!/usr/bin/env bash
# Builds the confcenter container image with podman (no Docker engine needed) on a Debian 12
# base made here with debootstrap when missing, so no registry is contacted.
#
# usage: deploy/container/build.sh [--refresh-base] [IMAGE]
#   IMAGE default: localhost/confcenter/confcenter:VERSION (VERSION: the CMake project version)
#   --refresh-base  rebuild the base (picks up Debian security updates; the base is cached)
# env: CONFCENTER_BASE_IMAGE  image to build on (default localhost/confcenter-base:bookworm,
#                             made here; any debian:bookworm-slim equivalent works)
#      JOBS                   compile jobs inside the build (default: nproc)
#      DEBIAN_MIRROR          debootstrap's mirror (default http://deb.debian.org/debian)
# Prints the image's size in bytes on the last line.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
# In a plain chroot podman cannot work: rerun where it can (see rooted.sh).
if ! mountpoint -q / || [ ! -d /sys/fs/cgroup ]; then
  exec "$src/deploy/container/rooted.sh" "$src/deploy/container/build.sh" "$@"
fi
refresh=0
if [ "${1:-}" = --refresh-base ]; then refresh=1; shift; fi
version=$(sed -n -E 's/^project\(confcenter VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
image=${1:-localhost/confcenter/confcenter:$version}
base=${CONFCENTER_BASE_IMAGE:-localhost/confcenter-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
apt_cache=/var/cache/apt/archives

# A minbase Debian trimmed like debian:bookworm-slim: no docs, man pages or locales (dpkg
# keeps them out of later installs too), no apt lists; security updates applied.
root=""
cleanup() { [ -z "$root" ] || rm -rf "$root"; }
trap cleanup EXIT
make_base() {
  root=$(mktemp -d /var/tmp/confcenter-base.XXXXXX)
  echo "build: making base image $base with debootstrap (once; cached by podman)" >&2
  # The host's apt cache doubles as debootstrap's, so a remake downloads little.
  debootstrap --variant=minbase --cache-dir="$apt_cache" bookworm "$root" "$mirror" >/dev/null
  cat > "$root/etc/apt/sources.list" <<EOS
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOS
  cat > "$root/etc/dpkg/dpkg.cfg.d/confcenter-slim" <<'EOS'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOS
  printf 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' > "$root/etc/apt/apt.conf.d/confcenter-no-pkgcache"
  chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq && apt-get clean' >/dev/null
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,info,locale,lintian}/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/*.bin "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
  tar -C "$root" -c . | podman import \
    --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD=["/bin/bash"]' - "$base" >/dev/null
}

if [ "$refresh" = 1 ] || ! podman image exists "$base"; then
  case $base in
    localhost/*) make_base ;;
    *) [ "$refresh" = 0 ] || { echo "build: --refresh-base only remakes a localhost/ base" >&2; exit 2; } ;;
  esac
fi

# The build stage compiles with the host's ccache (bind-mounted; the source sits at the same
# path as here and gets this environment's CCACHE_BASEDIR and locale, so compile commands match
# a host build run from the same environment, as scripts/test's): a build after the host's own
# mostly hits the cache. The host's apt cache serves the stages' package installs on our base
# (not on debian:bookworm-slim, whose apt hook deletes downloaded packages).
ccache_dir=$(ccache -k cache_dir 2>/dev/null || echo "${CCACHE_DIR:-$HOME/.cache/ccache}")
mkdir -p "$ccache_dir"
# ccache hashes the locale variables into every entry: give the build the host's.
locale=""
for v in LANG LC_ALL LC_CTYPE LC_MESSAGES; do [ -z "${!v+x}" ] || locale+="$v=${!v} "; done
pull=--pull=never apt_mount=(-v "$apt_cache:$apt_cache")
case $base in localhost/*) ;; *) pull=--pull=missing apt_mount=() ;; esac
podman build --isolation=chroot --network host "$pull" \
  -f "$src/deploy/container/Dockerfile" --ignorefile "$src/deploy/container/Dockerfile.dockerignore" \
  -v "$ccache_dir:/ccache" "${apt_mount[@]}" \
  --build-arg BASE="$base" --build-arg SRC_DIR="$src" --build-arg JOBS="${JOBS:-$(nproc)}" \
  --build-arg CCACHE_BASEDIR="${CCACHE_BASEDIR:-}" --build-arg HOST_LOCALE="$locale" \
  --build-arg VERSION="$version" \
  -t "$image" "$src" >&2
podman image inspect --format '{{.Size}}' "$image"
