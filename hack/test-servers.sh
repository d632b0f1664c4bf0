#!/usr/bin/env bash
# Installs the storage servers that the object-store tests run against (MinIO for S3, fake-gcs-server
# for GCS, Azurite for Azure Blob) at pinned versions, and caches each by version outside the clone
# so that CI and later sessions reuse it. Installs only what is missing.
#
# Prints one directory that holds a `minio`, a `fake-gcs-server` and an `azurite-blob` entry for the
# pinned versions: the value for STATSIG_OPERATOR_TEST_SERVERS, which internal/testservers reads.
#
# Usage: hack/test-servers.sh            install what is missing, print the directory
#        hack/test-servers.sh --no-build print the directory only if everything is installed, else exit 1
set -euo pipefail

# MinIO publishes no semver tags, so the module proxy serves its releases as pseudo-versions.
minio_version=v0.0.0-20260212201848-7aac2a2c5b7c
fake_gcs_version=v1.56.1
# 3.35.0 is the newest Azurite that runs on Node 20, the Node that the machine image ships.
azurite_version=3.35.0

cache_root=${STATSIG_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statsig-operator}
root="$cache_root/test-servers"
minio_dir="$root/minio-$minio_version"
gcs_dir="$root/fake-gcs-server-$fake_gcs_version"
azurite_dir="$root/azurite-$azurite_version"
set_dir="$root/set-minio-$minio_version-fake-gcs-server-$fake_gcs_version-azurite-$azurite_version"

log() { echo "test-servers: $*" >&2; }

installed() {
  [ -x "$minio_dir/minio" ] && [ -x "$gcs_dir/fake-gcs-server" ] &&
    [ -x "$azurite_dir/node_modules/.bin/azurite-blob" ] &&
    [ -e "$set_dir/minio" ] && [ -e "$set_dir/fake-gcs-server" ] && [ -e "$set_dir/azurite-blob" ]
}

if [ "${1:-}" = "--no-build" ]; then
  installed || exit 1
  echo "$set_dir"
  exit 0
fi

# go install builds in a module of its own, so the operator's go.mod is never touched. The binary is
# built into a temporary directory and moved into place so that an interrupted build is redone.
go_install() {
  local module=$1 version=$2 dir=$3 name=$4
  [ -x "$dir/$name" ] && return 0
  log "building $name $version; this takes a few minutes"
  mkdir -p "$dir"
  local tmp
  tmp=$(mktemp -d "$dir/.build.XXXXXX")
  (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath "$module@$version")
  mv "$tmp/$name" "$dir/$name"
  rm -rf "$tmp"
}

npm_install() {
  [ -x "$azurite_dir/node_modules/.bin/azurite-blob" ] && return 0
  log "installing azurite $azurite_version"
  mkdir -p "$azurite_dir"
  npm install --prefix "$azurite_dir" --no-audit --no-fund --loglevel=error "azurite@$azurite_version" >&2
}

go_install github.com/minio/minio "$minio_version" "$minio_dir" minio
go_install github.com/fsouza/fake-gcs-server "$fake_gcs_version" "$gcs_dir" fake-gcs-server
npm_install

mkdir -p "$set_dir"
ln -sfn "$minio_dir/minio" "$set_dir/minio"
ln -sfn "$gcs_dir/fake-gcs-server" "$set_dir/fake-gcs-server"
ln -sfn "$azurite_dir/node_modules/.bin/azurite-blob" "$set_dir/azurite-blob"
echo "$set_dir"
