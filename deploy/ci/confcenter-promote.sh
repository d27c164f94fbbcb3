#!/usr/bin/env bash
# CD step "promote what integration tested into a pre-release environment" (the seed's
# pipeline after integration): copies FROM's resolved view into TO (generated keys, secrets
# and endpoints stay each environment's own), after printing the dry run. On a tenant whose
# review requires drafts (`confctl review TO --drafts-required`) the promotion is a draft that
# a publisher publishes (`confctl draft publish TO ID`, another identity where the review says
# so); otherwise it is one release, and the step waits until every running instance of TO has
# applied it.
#
# env: TO (the tenant promoted into, e.g. pre-acme), FROM (default integration), SERVICES
#      (optional: space-separated; default every service of FROM's view), REMOVE_MISSING=1
#      (also hide TO's keys FROM does not have), MESSAGE (default "promote from FROM", with
#      " at COMMIT" if COMMIT is set), WAIT_APPLIED (default 2m; 0 = do not wait; releases
#      only), CONFCENTER_ADDR, CONFCTL and the credentials as in confcenter-register.sh
# prints: "draft N", "release N" or "unchanged"
set -euo pipefail
confctl=${CONFCTL:-confctl}
from=${FROM:-integration}
to=${TO:?set TO}
args=(promote "$from" "$to")
read -r -a services <<< "${SERVICES:-}"
for s in "${services[@]}"; do args+=(--service "$s"); done
[ "${REMOVE_MISSING:-0}" = 1 ] && args+=(--remove-missing)
"$confctl" "${args[@]}" --dry-run >&2
message=${MESSAGE:-"promote from $from${COMMIT:+ at $COMMIT}"}
out=$("$confctl" -o json "${args[@]}" -m "$message")
draft=$(sed -n -E 's/^ *"draft_id": "([0-9]+)".*/\1/p' <<< "$out")
release=$(sed -n -E 's/^ *"release_id": "([0-9]+)".*/\1/p' <<< "$out")
if [ "${draft:-0}" != 0 ]; then
  echo "confcenter-promote: draft $draft of $to waits for a publisher: confctl draft publish $to $draft" >&2
  echo "draft $draft"
elif [ "${release:-0}" != 0 ]; then
  if [ "${WAIT_APPLIED:-2m}" != 0 ]; then
    "$confctl" wait-applied "$to" --revision "$release" --timeout "${WAIT_APPLIED:-2m}" >&2
  fi
  echo "release $release"
else
  echo "unchanged"
fi
