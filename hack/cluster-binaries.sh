#!/usr/bin/env bash
# Prepares what the real-cluster suite (test/realcluster) needs besides the envtest control plane:
#   - kubelet, kube-controller-manager, kube-scheduler and kubectl at one Kubernetes version, built
#     from the Go module proxy (the way hack/envtest-binaries.sh builds kube-apiserver) and cached by
#     version outside the clone; built only when missing, each written to a temporary name first;
#   - the Debian packages containerd, runc, containernetworking-plugins and iproute2, installed with
#     apt-get when missing (needs root).
# Prints the directory that holds the binaries (the value for STATSIG_OPERATOR_CLUSTER_BINARIES).
#
# Usage: hack/cluster-binaries.sh <kubernetes-version> [--no-packages]
set -euo pipefail

k8s_version=${1:?kubernetes version, e.g. v1.37.2}
install_packages=true
[ "${2:-}" = "--no-packages" ] && install_packages=false
cache_root=${STATSIG_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statsig-operator}
out="$cache_root/cluster/k8s-${k8s_version}"
binaries=(kubelet kube-controller-manager kube-scheduler kubectl)
mkdir -p "$out"

log() { echo "cluster-binaries: $*" >&2; }

missing_binaries() {
  local b
  for b in "${binaries[@]}"; do [ -x "$out/$b" ] || echo "$b"; done
}

# All four binaries come from one module of their own, so their dependency graph never touches the
# operator's go.mod and the module is resolved once.
build_binaries() {
  local work="$cache_root/cluster/src/k8s-${k8s_version}"
  local staging_version="v0.${k8s_version#v1.}"
  mkdir -p "$work"
  log "building $* ${k8s_version} (staging ${staging_version}); a cold build takes several minutes"
  cd "$work"
  GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${k8s_version}" >/dev/null
  local upstream_mod
  upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${k8s_version}.mod"
  {
    echo "module realcluster/binaries"
    echo
    echo "go $(awk '/^go /{print $2; exit}' "$upstream_mod")"
    echo
    echo "require k8s.io/kubernetes ${k8s_version}"
    echo
    # kubernetes replaces every staging module with a local path; a consumer must pin them instead.
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$upstream_mod" |
      awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
  local b
  for b in "$@"; do
    log "go build $b"
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$out/$b.tmp" "$out/$b"
  done
}

ensure_packages() {
  local want=() p
  command -v containerd >/dev/null || want+=(containerd)
  command -v runc >/dev/null || want+=(runc)
  [ -x /usr/lib/cni/bridge ] || want+=(containernetworking-plugins)
  command -v ip >/dev/null || want+=(iproute2)
  [ ${#want[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing packages ${want[*]}; run as root or install them: apt-get install ${want[*]}"
    return 1
  fi
  log "installing ${want[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
}

if $install_packages; then ensure_packages; fi
mapfile -t todo < <(missing_binaries)
if [ ${#todo[@]} -gt 0 ]; then (build_binaries "${todo[@]}"); fi
echo "$out"
