#!/usr/bin/env bash
# Builds the photo-shrinking WASM (crate media-worker) and its JS glue into $1/pkg, as
# media_worker.js and media_worker_bg.wasm, which public/media-worker.js imports. Called by
# scripts/build-site.sh, through which every site build goes.
#   scripts/build-media-worker.sh SITE_ROOT [debug|release]
set -euo pipefail
site_root="$1"
profile="${2:-debug}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
export PATH="${CONFAB_CACHE:-$HOME/.cache/confab}/tools/bin:${CONFAB_CACHE:-$HOME/.cache/confab}/tools/node/node_modules/.bin:$PATH"

cd "$root"
if [ "$profile" = release ]; then
  cargo build --locked -p media-worker --lib --target wasm32-unknown-unknown --profile wasm-release
  wasm="$target/wasm32-unknown-unknown/wasm-release/media_worker.wasm"
else
  cargo build --locked -p media-worker --lib --target wasm32-unknown-unknown
  wasm="$target/wasm32-unknown-unknown/debug/media_worker.wasm"
fi
scripts/wasm-glue.sh "$wasm" media_worker "$site_root" "$profile"
