#!/usr/bin/env bash
# CD cleanup step: removes a feature branch's tenant and everything in it when the branch's
# environment is torn down. Subscribers still connected fall back to integration's view.
# Idempotent: a branch already cleaned up succeeds. Never touches `integration`.
#
# env: BRANCH (git branch), SERVICE (optional: remove only this service; the tenant goes
#      with its last service), CONFCENTER_ADDR, INTEGRATION_BRANCH, CONFCTL
set -euo pipefail
confctl=${CONFCTL:-confctl}
: "${BRANCH:?set BRANCH}"
if [ "$BRANCH" = "${INTEGRATION_BRANCH:-devops-integrate}" ]; then
  echo "refusing to deregister the integration tenant" >&2
  exit 1
fi
tenant=$("$confctl" tenant-name "$BRANCH")
if [ -n "${SERVICE:-}" ]; then
  "$confctl" deregister "$tenant" "$SERVICE"
else
  "$confctl" deregister "$tenant" --all
fi
