#!/usr/bin/env bash
# make run: see hack/localrun. Defaults suit a local run; any operator flag can be added via ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./hack/localrun "${OPERATOR_BINARY:?}" \
  --metrics-bind-address="${METRICS_BIND_ADDRESS:-127.0.0.1:8080}" \
  --metrics-secure=false \
  --webhook-bind-address="${WEBHOOK_BIND_ADDRESS:-127.0.0.1:9292}" \
  --health-probe-bind-address="${HEALTH_PROBE_BIND_ADDRESS:-127.0.0.1:8081}" \
  --allow-file-destinations \
  ${STATSIG_API_URL:+--statsig-api-url="$STATSIG_API_URL"} \
  ${STATSIG_EVENTS_URL:+--statsig-events-url="$STATSIG_EVENTS_URL"} \
  ${STATSIG_CONSOLE_URL:+--statsig-console-url="$STATSIG_CONSOLE_URL"} \
  ${DEFAULT_SECRET:+--default-secret="$DEFAULT_SECRET"} \
  ${DEFAULT_SECRET_NAMESPACES:+--default-secret-namespaces="$DEFAULT_SECRET_NAMESPACES"} \
  "$@"
