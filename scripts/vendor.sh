#!/usr/bin/env bash
# Install the front-end libraries from the npm registry and copy the files
# the pages load into static/vendor (which is not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@xterm/xterm ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi

vendor=static/vendor
mkdir -p "$vendor"
cp node_modules/@xterm/xterm/lib/xterm.js "$vendor/xterm.js"
cp node_modules/@xterm/xterm/css/xterm.css "$vendor/xterm.css"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$vendor/addon-fit.js"
cp node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx.min.js"
cp node_modules/htmx-ext-ws/dist/ws.js "$vendor/htmx-ws.js"
cp node_modules/codemirror/lib/codemirror.js "$vendor/codemirror.js"
cp node_modules/codemirror/lib/codemirror.css "$vendor/codemirror.css"
cp node_modules/codemirror/addon/mode/simple.js "$vendor/codemirror-simple.js"
cp node_modules/codemirror/mode/dockerfile/dockerfile.js "$vendor/codemirror-dockerfile.js"
cp node_modules/codemirror/mode/yaml/yaml.js "$vendor/codemirror-yaml.js"
cp node_modules/asciinema-player/dist/bundle/asciinema-player.min.js "$vendor/asciinema-player.min.js"
cp node_modules/asciinema-player/dist/bundle/asciinema-player.css "$vendor/asciinema-player.css"
