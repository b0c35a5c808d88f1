#!/usr/bin/env bash
# Prepare this checkout to run or test the platform: Debian packages (when
# run as root), the Python virtualenv, the front-end libraries and the
# local control plane binaries. Safe to run again; it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(bubblewrap socat redis-server chromium fonts-liberation docker-compose shellcheck)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e ".[test,bench]"
  touch .venv/.installed
fi

bash scripts/vendor.sh
bash tools/controlplane/build.sh >/dev/null
# helm renders the platform's Helm chart in the tests; Debian has no package.
bash tools/helm/build.sh >/dev/null
# WeTTY is the npm peer the terminal benchmark compares with.
bash bench/install_wetty.sh >/dev/null
