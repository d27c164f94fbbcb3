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
set -euo pipefail
confctl=${CONFCTL:-confctl}
tenant=${TENANT:-$("$confctl" tenant-name "${BRANCH:?set BRANCH or TENANT}" \
  --integration-branch "${INTEGRATION_BRANCH:-devops-integrate}")}
if [ "$tenant" = integration ] && { [ -z "${TENANT:-}" ] || [ -z "${SERVICE:-}" ]; }; then
  echo "refusing to deregister the integration tenant (TENANT=integration SERVICE=x removes one service)" >&2
  exit 1
fi
if [ -n "${SERVICE:-}" ]; then
  "$confctl" deregister "$tenant" "$SERVICE"
else
  "$confctl" deregister "$tenant" --all
fi
