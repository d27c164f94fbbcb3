#!/usr/bin/env bash
# CD cleanup step: removes a feature branch's tenant and everything in it when the branch's
# environment is torn down. Subscribers still connected fall back to integration's view.
# Idempotent: a branch already cleaned up succeeds. Never removes `integration`; it removes one
# service from it only when asked explicitly (TENANT=integration SERVICE=x: the Helm hook of an
# integration release being uninstalled).
#
# env: BRANCH (git branch) or TENANT (a tenant name used as is), SERVICE (optional: remove
#      only this service; the tenant goes with its last service), CONFCENTER_ADDR,
#      INTEGRATION_BRANCH, CONFCTL
#      Credentials, inherited by every confctl call (see docs/confctl.md#credentials):
#      CONFCENTER_CA (PEM CA file: TLS), CONFCENTER_CERT + CONFCENTER_KEY (client certificate,
#      mTLS), CONFCENTER_TOKEN (bearer token text; in GitLab the job's id_token, see
#      gitlab-ci.yml), CONFCENTER_TOKEN_FILE (bearer token file, re-read when it changes; in
#      GitHub Actions the OIDC token fetched into a file, see github-actions.yml; in
#      Kubernetes a projected service account token)
#      ROUTES=1 (default 0): also keep the namespace's routing objects in step
#      (confcenter-routes.sh, with its MESH, KUBECTL, DRY): after removing one service,
#      re-render and prune; after removing the whole tenant, delete every object confcenter
#      rendered in its namespace; with MESH=istio the ancestors' header routes are re-rendered
#      either way. ROUTES_SCRIPT: that script (default: next to this one, else
#      confcenter-routes on PATH)
set -euo pipefail
confctl=${CONFCTL:-confctl}
tenant=${TENANT:-$("$confctl" tenant-name "${BRANCH:?set BRANCH or TENANT}" \
  --integration-branch "${INTEGRATION_BRANCH:-devops-integrate}")}
if [ "$tenant" = integration ] && { [ -z "${TENANT:-}" ] || [ -z "${SERVICE:-}" ]; }; then
  echo "refusing to deregister the integration tenant (TENANT=integration SERVICE=x removes one service)" >&2
  exit 1
fi
# With a mesh, the ancestors' header routes to this tenant are re-rendered afterwards: read its
# chain while it still exists.
if [ "${ROUTES:-0}" = 1 ] && [ "${MESH:-}" = istio ] && [ -z "${ANCESTORS:-}" ]; then
  chain=$("$confctl" tenant "$tenant" 2> /dev/null | sed -n -E 's/^chain +//p' || true)
  read -r -a links <<< "${chain//->/ }"
  ANCESTORS="${links[*]:1}"
  export ANCESTORS=${ANCESTORS:-none}
fi
if [ -n "${SERVICE:-}" ]; then
  "$confctl" deregister "$tenant" "$SERVICE"
else
  "$confctl" deregister "$tenant" --all
fi
if [ "${ROUTES:-0}" = 1 ]; then
  routes=${ROUTES_SCRIPT:-$(dirname "$0")/confcenter-routes.sh}
  [ -x "$routes" ] || routes=confcenter-routes
  # The tenant goes with its last service (confctl exit 3: NOT_FOUND): its objects go too.
  gone=0
  if [ -n "${SERVICE:-}" ]; then "$confctl" tenant "$tenant" > /dev/null 2>&1 || gone=$?; fi
  if [ "$gone" != 0 ] && [ "$gone" != 3 ]; then
    echo "confcenter-deregister: cannot tell whether $tenant is left (confctl tenant exit $gone)" >&2
    exit "$gone"
  fi
  if [ -z "${SERVICE:-}" ] || [ "$gone" = 3 ]; then
    TENANT=$tenant DELETE=1 "$routes"
  else
    TENANT=$tenant "$routes"
  fi
fi
