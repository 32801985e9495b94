#!/usr/bin/env bash
# Puts the official Socket.IO browser client (pinned in web/package.json, installed from npm)
# at public/vendor/socket.io.min.js, where both site builds (scripts/build-site.sh and
# cargo-leptos, whose assets-dir is public/) pick it up. The copy is not committed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$root/web/node_modules/socket.io-client/dist/socket.io.min.js" ]; then
  echo "vendor-js: installing web/ node modules" >&2
  (cd "$root/web" && npm ci --silent --no-audit --no-fund >&2)
fi
mkdir -p "$root/public/vendor"
cp "$root/web/node_modules/socket.io-client/dist/socket.io.min.js" "$root/public/vendor/"
