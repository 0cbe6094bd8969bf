#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the Go module proxy
# (hack/controlplane/go.mod) into a versioned cache outside the clone, so every clone on the machine
# reuses them, then links them into bin/. Idempotent: a binary already in the cache is not rebuilt.
#
# Prints the directory that holds the binaries (use it as KUBEBUILDER_ASSETS).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=v1.36.3
cache=${KUBESIFT_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubesift/controlplane/$k8s_version}
mkdir -p "$cache" "$root/bin/controlplane"

cd "$root/hack/controlplane"
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v"$major".}; minor=${minor%%.*}
ver=k8s.io/component-base/version
k8s_ldflags="-s -w -X $ver.gitVersion=$k8s_version -X $ver.gitMajor=$major -X $ver.gitMinor=$minor -X $ver.gitTreeState=clean"

build() { # name package ldflags
  local name=$1 pkg=$2 flags=$3
  if [ -x "$cache/$name" ] && [ -f "$cache/$name.stamp" ] && [ "$(cat "$cache/$name.stamp")" = "$pkg $flags" ]; then
    return 0
  fi
  echo "controlplane: building $name from $pkg (the first build takes several minutes) ..." >&2
  local start=$SECONDS
  CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$cache/$name.tmp" "$pkg"
  mv "$cache/$name.tmp" "$cache/$name"
  echo "$pkg $flags" > "$cache/$name.stamp"
  echo "controlplane: built $name in $((SECONDS - start))s" >&2
}

build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"

for b in etcd kube-apiserver kube-controller-manager kubectl; do
  ln -sf "$cache/$b" "$root/bin/controlplane/$b"
done
echo "controlplane: etcd $etcd_version, kube-apiserver, kube-controller-manager and kubectl $k8s_version in $root/bin/controlplane" >&2
echo "$root/bin/controlplane"
