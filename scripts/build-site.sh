#!/usr/bin/env bash
# Builds the browser half of the site with plain cargo (no cargo-leptos), for the tests and
# for the release build (scripts/build-release.sh): the
# hydrate crate to WASM, its JS glue, the photo-shrinking worker's WASM, the stylesheet, the
# public assets and the vendored Socket.IO client, into $1.
#   scripts/build-site.sh SITE_ROOT [debug|release]
# The server must be compiled with LEPTOS_OUTPUT_NAME unset, so its pages ask for
# pkg/confab_bg.wasm, the name wasm-bindgen writes.
set -euo pipefail
site_root="$1"
profile="${2:-debug}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
export PATH="${CONFAB_CACHE:-$HOME/.cache/confab}/tools/bin:${CONFAB_CACHE:-$HOME/.cache/confab}/tools/node/node_modules/.bin:$PATH"

cd "$root"
unset LEPTOS_OUTPUT_NAME
if [ "$profile" = release ]; then
  cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
  wasm="$target/wasm32-unknown-unknown/wasm-release/frontend.wasm"
else
  cargo build --locked -p frontend --lib --target wasm32-unknown-unknown
  wasm="$target/wasm32-unknown-unknown/debug/frontend.wasm"
fi
mkdir -p "$site_root/pkg"
# wasm-bindgen and wasm-opt take half a minute on the release module: skip them when the
# site already holds this very module, made by this very wasm-bindgen.
stamp="$site_root/pkg/.confab.source"
source_id="$(sha256sum "$wasm" | cut -d' ' -f1) $profile $(wasm-bindgen --version)"
if [ ! -f "$site_root/pkg/confab_bg.wasm" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$source_id" ]; then
  wasm-bindgen --target web --no-typescript --out-name confab --out-dir "$site_root/pkg" "$wasm"
  if [ "$profile" = release ]; then
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      -o "$site_root/pkg/confab_bg.wasm" "$site_root/pkg/confab_bg.wasm"
  fi
  echo "$source_id" >"$stamp"
fi
scripts/build-media-worker.sh "$site_root" "$profile"
cp style/main.css "$site_root/pkg/confab.css"
scripts/vendor-js.sh
cp -R public/. "$site_root/"
