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
mkdir -p "$site_root/pkg"
# As in build-site.sh: nothing to redo when the site holds this module already.
stamp="$site_root/pkg/.media_worker.source"
source_id="$(sha256sum "$wasm" | cut -d' ' -f1) $profile $(wasm-bindgen --version)"
if [ ! -f "$site_root/pkg/media_worker_bg.wasm" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$source_id" ]; then
  wasm-bindgen --target web --no-typescript --out-name media_worker --out-dir "$site_root/pkg" "$wasm"
  if [ "$profile" = release ]; then
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      -o "$site_root/pkg/media_worker_bg.wasm" "$site_root/pkg/media_worker_bg.wasm"
  fi
  echo "$source_id" >"$stamp"
fi
