#!/usr/bin/env bash
# Installs the browser tests' npm packages (playwright-core, pinned by package-lock.json) into
# tests/console/node_modules; does nothing when every installed version matches the lockfile.
set -euo pipefail
cd "$(dirname "$0")"
if node -e '
  const packages = require("./package-lock.json").packages;
  for (const [path, p] of Object.entries(packages)) {
    if (path && require(`./${path}/package.json`).version !== p.version) process.exit(1);
  }' 2>/dev/null; then
  exit 0
fi
# --offline: the one package is vendor/playwright-core-*.tgz (npm's own tarball, checked
# against the lockfile's integrity), so no registry is needed.
npm ci --offline --no-audit --no-fund --loglevel=error
