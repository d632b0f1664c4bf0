#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver and etcd) from the Go module proxy and caches it by
# version outside the clone, so that CI and later sessions reuse it. Prints the directory that holds
# the binaries (the value for KUBEBUILDER_ASSETS). Builds only what is missing.
#
# Usage: hack/envtest-binaries.sh <kubernetes-version> <etcd-version>
set -euo pipefail

k8s_version=${1:?kubernetes version, e.g. v1.37.2}
etcd_version=${2:?etcd version, e.g. v3.7.3}
cache_root=${STATSIG_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statsig-operator}
out="$cache_root/envtest/k8s-${k8s_version}-etcd-${etcd_version}"
mkdir -p "$out"

log() { echo "envtest-binaries: $*" >&2; }

# Each binary is built in a module of its own so that its dependency graph never touches the
# operator's go.mod.
build_kube_apiserver() {
  local work="$cache_root/envtest/src/kube-apiserver-${k8s_version}"
  local staging_version="v0.${k8s_version#v1.}"
  mkdir -p "$work"
  log "building kube-apiserver ${k8s_version} (staging ${staging_version}); this takes several minutes"
  (
    cd "$work"
    GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${k8s_version}" >/dev/null
    local upstream_mod
    upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${k8s_version}.mod"
    {
      echo "module envtest/kubeapiserver"
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

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
}

build_etcd() {
  local work="$cache_root/envtest/src/etcd-${etcd_version}"
  mkdir -p "$work"
  log "building etcd ${etcd_version}"
  (
    cd "$work"
    printf 'module envtest/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$etcd_version" >go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$out/etcd.tmp" "$out/etcd"
}

[ -x "$out/etcd" ] || build_etcd
[ -x "$out/kube-apiserver" ] || build_kube_apiserver
# kubectl is optional for envtest; the system one is used where a script needs it.
echo "$out"
