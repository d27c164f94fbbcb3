#!/usr/bin/env bash
# CD step "register the service with the config center" (seed CD flow, steps 2-4): creates the
# branch's tenant (parent integration), records the service from its definition file (which
# generates its endpoints, defaults and secrets and checks version compatibility), and imports
# its config file. The integration branch registers into the `integration` tenant itself.
#
# env: BRANCH (git branch) or TENANT (a tenant name used as is, e.g. a Helm value),
#      SERVICE (or DEFINITION_FILE: a service.yaml, see tenant.proto's ServiceDefinition),
#      CONFIG_FILE (optional: YAML, JSON or .properties), CONFCENTER_ADDR (confcenterd
#      host:port), INTEGRATION_BRANCH (default devops-integrate), COMMIT (optional, recorded
#      as a label), LABELS (optional: more space-separated key=value labels), BRANCH_TTL
#      (default 168h: a branch tenant not redeployed for that long is reclaimed), FORCE=1
#      (register despite version conflicts), CONFCTL (default: confctl on PATH),
#      WAIT_APPLIED (default 2m; 0 = do not wait): after the config import, wait until every
#      running instance of the service in the tenant has applied it (`confctl wait-applied`);
#      the step fails with exit 8, naming the laggards, if one has not in that time
#      Credentials, inherited by every confctl call (see docs/confctl.md#credentials):
#      CONFCENTER_CA (PEM CA file: TLS), CONFCENTER_CERT + CONFCENTER_KEY (client certificate,
#      mTLS), CONFCENTER_TOKEN (bearer token text; in GitLab the job's id_token, see
#      gitlab-ci.yml), CONFCENTER_TOKEN_FILE (bearer token file, re-read when it changes; in
#      GitHub Actions the OIDC token fetched into a file, see github-actions.yml; in
#      Kubernetes a projected service account token)
# The Kubernetes CD Jobs (deploy/k8s/cd-jobs/) and the Helm hooks (deploy/ci/helm/) run this
# script from the confcenter image as `confcenter-register`.
# prints: the tenant name (for the Helm release's namespace and the service's own config)
set -euo pipefail
confctl=${CONFCTL:-confctl}
tenant=${TENANT:-$("$confctl" tenant-name "${BRANCH:?set BRANCH or TENANT}" \
  --integration-branch "${INTEGRATION_BRANCH:-devops-integrate}")}
args=(register "$tenant" --label "commit=${COMMIT:-unknown}")
read -r -a labels <<< "${LABELS:-}"
for label in "${labels[@]}"; do args+=(--label "$label"); done
if [ -n "${DEFINITION_FILE:-}" ]; then
  args+=(-f "$DEFINITION_FILE")
  # The service name for the config import: SERVICE, else the file's top-level `name:` (plain
  # or quoted YAML scalar).
  SERVICE=${SERVICE:-$(sed -n -E 's/^name:[[:space:]]*["'"'"']?([a-z0-9-]+)["'"'"']?[[:space:]]*(#.*)?$/\1/p' "$DEFINITION_FILE" | head -n 1)}
  if [ -n "${CONFIG_FILE:-}" ] && [ -z "$SERVICE" ]; then
    echo "confcenter-register: set SERVICE (no top-level name: in $DEFINITION_FILE)" >&2
    exit 2
  fi
else
  : "${SERVICE:?set SERVICE or DEFINITION_FILE}"
  args+=(--service "$SERVICE")
fi
[ "$tenant" = integration ] || args+=(--ttl "${BRANCH_TTL:-168h}")
[ "${FORCE:-0}" = 1 ] && args+=(--force)
"$confctl" "${args[@]}" >&2
if [ -n "${CONFIG_FILE:-}" ]; then
  imported=$("$confctl" import "$tenant" "$SERVICE" "$CONFIG_FILE")
  echo "$imported" >&2
  # "... at revision N" or "... at revisions A-B": the last one.
  revision=$(grep -Eo '[0-9]+$' <<< "$imported" || true)
  if [ -n "$revision" ] && [ "${WAIT_APPLIED:-2m}" != 0 ]; then
    "$confctl" wait-applied "$tenant" "$SERVICE" --revision "$revision" \
      --timeout "${WAIT_APPLIED:-2m}" >&2
  fi
fi
echo "$tenant"
