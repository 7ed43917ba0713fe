#!/usr/bin/env bash
# Installs what the interop tests need, only when it is missing (idempotent,
# quiet): Python `websockets`, the Node packages of package-lock.json (ws,
# playwright-core) and Debian's chromium. Called by .ci/run; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")"
log() { printf 'interop setup: %s\n' "$*"; }

# Python websockets (asyncio client), pinned in requirements.txt.
if ! python3 -c 'import websockets.asyncio.client' >/dev/null 2>&1; then
  log "installing Python websockets"
  python3 -m pip install -q --disable-pip-version-check -r requirements.txt \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages -r requirements.txt
fi

# Node packages, exactly as locked. Scripts are skipped: playwright-core must
# not download a browser of its own (Debian's chromium is used).
if [ ! -f node_modules/ws/package.json ] || [ ! -f node_modules/playwright-core/package.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing Node packages (npm ci)"
  npm ci --silent --no-audit --no-fund --ignore-scripts
fi

# Headless Chromium from Debian.
if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
