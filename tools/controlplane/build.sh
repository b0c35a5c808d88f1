#!/usr/bin/env bash
# Build the local control plane (etcd, kube-apiserver,
# kube-controller-manager, kubectl) from Go modules into a per-user cache.
#
# The binaries land in $LABPLATFORM_CACHE/controlplane/<versions>/bin
# (default ~/.cache/labplatform), so fresh clones and CI reuse them. The
# build runs only when a binary is missing. Prints the bin folder last.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The versions come from the recipes' go.mod files, so bumping a version
# there is all it takes to build and cache a new set.
module_version() {
  sed -n "s#^[[:space:]]*\(require[[:space:]]\+\)\?$2 \(v[0-9][0-9.]*\)\([[:space:]].*\)\?\$#\2#p" "$1" | head -n 1
}
kube_version=$(module_version "$here/kube/go.mod" k8s.io/kubernetes)
etcd_version=$(module_version "$here/etcd/go.mod" go.etcd.io/etcd/server/v3)
if [ -z "$kube_version" ] || [ -z "$etcd_version" ]; then
  echo "build.sh: cannot read the Kubernetes or etcd version from $here/*/go.mod" >&2
  exit 1
fi

cache=${LABPLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labplatform}
bin="$cache/controlplane/kubernetes-$kube_version-etcd-$etcd_version/bin"
mkdir -p "$bin"

# Print one line per compiled package group so a long first build shows
# that it is moving; "go build -v" names each package as it compiles.
progress() {
  local name=$1 count=0
  while IFS= read -r line; do
    count=$((count + 1))
    if [ $((count % 100)) -eq 0 ]; then
      echo "  $name: $count packages compiled (last: $line)" >&2
    fi
    # Compiler errors name a file and line ("x.go:12:3: ..."), a package
    # header ("# pkg") or come from the go command ("go: ..."). Package
    # names such as ".../errors" are not errors.
    case "$line" in
      "go: downloading "*) ;;
      "# "*|*.go:[0-9]*|"go: "*) echo "$line" >&2 ;;
    esac
  done
  echo "  $name: done, $count packages" >&2
}

build() {
  local module_dir=$1 name=$2 package=$3
  if [ -x "$bin/$name" ]; then
    return 0
  fi
  echo "Building $name from $package (first build takes several minutes)..." >&2
  local start=$SECONDS
  # A failed build leaves no half-written binary under the final name.
  if ! (cd "$module_dir" && go build -v -trimpath -ldflags="-s -w $4" \
      -o "$bin/$name.partial" "$package") 2>&1 | progress "$name" \
      || [ ! -s "$bin/$name.partial" ]; then
    echo "Building $name failed; see the errors above." >&2
    rm -f "$bin/$name.partial"
    exit 1
  fi
  mv "$bin/$name.partial" "$bin/$name"
  echo "Built $name in $((SECONDS - start)) s." >&2
}

# Stamp the release into the binaries as Kubernetes' own build does, so
# /version and "kubectl version" report it instead of v0.0.0-master.
minor=$(echo "$kube_version" | cut -d. -f2)
stamp=""
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp="$stamp -X $package.gitVersion=$kube_version -X $package.gitMajor=1"
  stamp="$stamp -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
done

build "$here/etcd" etcd go.etcd.io/etcd/server/v3 ""
build "$here/kube" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$stamp"
build "$here/kube" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$stamp"
build "$here/kube" kubectl k8s.io/kubernetes/cmd/kubectl "$stamp"

echo "$bin"
