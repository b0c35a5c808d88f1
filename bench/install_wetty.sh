#!/usr/bin/env bash
# Install WeTTY from npm into the per-user cache for the terminal benchmark.
# Prints the path of its main.js last. node-pty, which WeTTY needs, builds
# a native module in an install script that npm does not run unless the
# package is approved, so it is approved by name and rebuilt.
set -euo pipefail

version=3.2.0
cache=${LABPLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labplatform}
folder="$cache/bench/wetty-$version"
main="$folder/node_modules/wetty/build/main.js"
if [ ! -f "$main" ] || [ ! -f "$folder/node_modules/node-pty/build/Release/pty.node" ]; then
  mkdir -p "$folder"
  cd "$folder"
  echo "Installing wetty $version into $folder..." >&2
  npm install --no-audit --no-fund --omit=dev "wetty@$version" >&2
  if npm help install-scripts >/dev/null 2>&1; then
    npm install-scripts approve node-pty >&2
  fi
  npm rebuild node-pty >&2
fi
echo "$main"
