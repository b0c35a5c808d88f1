#!/usr/bin/env bash
# Build helm from its Go module into a per-user cache; print its path.
#
# Debian's bookworm has no helm package, so the tests that render the
# platform's chart build it here. The version comes from go.mod's require
# line for helm.sh/helm/v4. The binary lands in
# $LABPLATFORM_CACHE/helm/<version>/helm (default ~/.cache/labplatform) and
# is built only when missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's#^[[:space:]]*helm.sh/helm/v4 \(v[0-9][0-9.]*\)\([[:space:]].*\)\?$#\1#p' "$here/go.mod" | head -n 1)
if [ -z "$version" ]; then
  echo "build.sh: cannot read the helm version from $here/go.mod" >&2
  exit 1
fi

cache=${LABPLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labplatform}
target="$cache/helm/$version/helm"
if [ ! -x "$target" ]; then
  mkdir -p "$(dirname "$target")"
  echo "Building helm $version (a first build takes a few minutes)..." >&2
  start=$SECONDS
  # A failed build leaves no half-written binary under the final name.
  if ! (cd "$here" && go build -trimpath \
      -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
      -o "$target.partial" helm.sh/helm/v4/cmd/helm) || [ ! -s "$target.partial" ]; then
    echo "Building helm failed; see the errors above." >&2
    rm -f "$target.partial"
    exit 1
  fi
  mv "$target.partial" "$target"
  echo "Built helm $version in $((SECONDS - start)) s." >&2
fi

echo "$target"
