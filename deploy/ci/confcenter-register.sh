#!/usr/bin/env bash
# CD step "register the service with the config center" (seed CD flow, steps 2-4): creates the
# branch's tenant (parent integration), records the service, and imports its config file.
# The integration branch registers into the `integration` tenant itself.
#
# env: BRANCH (git branch), SERVICE, CONFIG_FILE (optional: YAML, JSON or .properties),
#      CONFCENTER_ADDR (confcenterd host:port), INTEGRATION_BRANCH (default devops-integrate),
#      COMMIT (optional, recorded as a label), CONFCTL (default: confctl on PATH)
# prints: the tenant name (for the Helm release's namespace and the service's own config)
set -euo pipefail
confctl=${CONFCTL:-confctl}
: "${BRANCH:?set BRANCH}" "${SERVICE:?set SERVICE}"
if [ "$BRANCH" = "${INTEGRATION_BRANCH:-devops-integrate}" ]; then
  tenant=integration
else
  tenant=$("$confctl" tenant-name "$BRANCH")
fi
"$confctl" register "$tenant" --service "$SERVICE" --label "commit=${COMMIT:-unknown}" >&2
if [ -n "${CONFIG_FILE:-}" ]; then
  "$confctl" import "$tenant" "$SERVICE" "$CONFIG_FILE" >&2
fi
echo "$tenant"
