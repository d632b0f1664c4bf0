#!/usr/bin/env bash
# Copies what controller-gen generated (and the hand-written RBAC rules the chart shares) into the
# Helm chart, so that the chart's CRDs and RBAC are the same objects as config/. Run by
# `make manifests`; `make verify` fails when the copies are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/statsig-operator
rm -f "$chart"/crds/*.yaml
mkdir -p "$chart/crds" "$chart/files"
for f in config/crd/bases/*.yaml; do
  cp "$f" "$chart/crds/$(basename "$f")"
done
for f in role.yaml leader_election_role.yaml metrics_reader_role.yaml; do
  cp "config/rbac/$f" "$chart/files/$f"
done
