#!/usr/bin/env bash
# CD step "route what the branch does not deploy" (after register, and after a per-service
# deregister): renders the tenant's routing objects with `confctl routes render` (ExternalName
# Services for the dependencies the branch reaches in integration; with MESH=istio also the
# header-routing VirtualServices and DestinationRules) and applies them to the tenant's
# namespace, pruning the objects confcenter rendered earlier that are no longer rendered.
# With DELETE=1 (a whole-branch cleanup; confcenter-deregister.sh with ROUTES=1) it deletes
# every object it ever rendered in the namespace instead. See docs/routing.md.
#
# env: BRANCH (git branch) or TENANT (a tenant name used as is), CONFCENTER_ADDR,
#      INTEGRATION_BRANCH, CONFCTL and the credentials as in confcenter-register.sh;
#      MESH (optional: istio), HEADER (optional: the tenant header, default
#      x-confcenter-tenant), KUBECTL (default kubectl), APPLY (default 1; 0 = render only,
#      print the objects), DRY=1 (print the objects and the kubectl command instead of
#      running it), DELETE=1 (delete the tenant's labelled objects instead of rendering them),
#      ANCESTORS (with MESH: auto = also re-render and apply every ancestor of the tenant,
#      whose VirtualServices route to it by header; none; or a space-separated list, e.g. for
#      a tenant already removed), OUT (the rendered file; default a temporary file)
# prints: the rendered objects (APPLY=0, DRY=1), the kubectl command (DRY=1) or kubectl's output
set -euo pipefail
confctl=${CONFCTL:-confctl}
kubectl=${KUBECTL:-kubectl}
tenant=${TENANT:-$("$confctl" tenant-name "${BRANCH:?set BRANCH or TENANT}" \
  --integration-branch "${INTEGRATION_BRANCH:-devops-integrate}")}
kinds=(core/v1/Service)
case "${MESH:-}" in
  "") ;;
  istio) kinds+=(networking.istio.io/v1beta1/VirtualService networking.istio.io/v1beta1/DestinationRule) ;;
  *) echo "confcenter-routes: MESH=$MESH: use istio or leave it empty" >&2; exit 2 ;;
esac
# Runs (or with DRY=1 prints, arguments joined by spaces) a kubectl command.
run() {
  if [ "${DRY:-0}" = 1 ]; then
    echo "$kubectl $*"
  else
    "$kubectl" "$@"
  fi
}
# kubectl's resource names for the kinds (service, virtualservices.networking.istio.io...).
resources() {
  local names=(services)
  [ "${MESH:-}" = istio ] && names+=(virtualservices.networking.istio.io destinationrules.networking.istio.io)
  local IFS=,
  echo "${names[*]}"
}
# Deletes every object confcenter rendered in tenant $1's namespace.
delete_all() {
  run delete -n "$1" "$(resources)" -l "app.kubernetes.io/managed-by=confcenter,confcenter.io/tenant=$1" \
    --ignore-not-found
}
# Renders tenant $1's objects and applies them to its namespace, pruning the stale ones.
apply_one() {
  local t=$1 file=${OUT:-}
  if [ -z "$file" ]; then
    file=$(mktemp)
    files+=("$file")
  fi
  local args=(routes render "$t")
  [ -n "${MESH:-}" ] && args+=(--mesh "$MESH")
  [ -n "${HEADER:-}" ] && args+=(--header "$HEADER")
  "$confctl" "${args[@]}" > "$file"
  if [ "${APPLY:-1}" != 1 ] || [ "${DRY:-0}" = 1 ]; then
    cat "$file"
    [ "${APPLY:-1}" != 1 ] && return 0
  fi
  if [ ! -s "$file" ]; then
    # Nothing to route: `kubectl apply` refuses an empty file, so prune by deleting.
    delete_all "$t"
    return 0
  fi
  local prune=() kind
  for kind in "${kinds[@]}"; do prune+=("$allow=$kind"); done
  run apply -n "$t" --prune -l "app.kubernetes.io/managed-by=confcenter,confcenter.io/tenant=$t" \
    "${prune[@]}" -f "$file"
}
files=()
trap 'rm -f "${files[@]}"' EXIT
# kubectl 1.26 renamed --prune-whitelist to --prune-allowlist.
allow=--prune-allowlist
if [ "${DRY:-0}" != 1 ] && [ "${APPLY:-1}" = 1 ] &&
  ! "$kubectl" apply --help 2>/dev/null | grep -q -- --prune-allowlist; then
  allow=--prune-whitelist
fi
# With a mesh, the header routes to this tenant's services live in its ancestors' namespaces:
# they are re-rendered too (ANCESTORS: auto = the tenant's chain, none, or a list).
ancestors=()
if [ "${MESH:-}" = istio ]; then
  case "${ANCESTORS:-auto}" in
    none) ;;
    auto)
      chain=$("$confctl" tenant "$tenant" | sed -n -E 's/^chain +//p')
      read -r -a ancestors <<< "${chain//->/ }"
      ancestors=("${ancestors[@]:1}")
      ;;
    *) read -r -a ancestors <<< "$ANCESTORS" ;;
  esac
fi
if [ "${DELETE:-0}" = 1 ]; then
  delete_all "$tenant"
else
  apply_one "$tenant"
fi
for a in "${ancestors[@]}"; do apply_one "$a"; done
