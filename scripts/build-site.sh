#!/usr/bin/env bash
# Builds the browser half of the site with plain cargo (no cargo-leptos), for the tests and
# for the release build (scripts/build-release.sh): the
# hydrate crate to WASM, its JS glue, the photo-shrinking worker's WASM, the stylesheet, the
# public assets (the realtime client `realtime.js` among them), into $1.
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
  # The browser's WASM is the first load, so the release build trims what no user sees, with
  # three of the pinned compiler's unstable options (RUSTC_BOOTSTRAP lets this stable
  # toolchain take them; rust-src, from rust-toolchain.toml, is what -Zbuild-std compiles):
  # the standard library rebuilt for size with `panic = "immediate-abort"` (a panic traps
  # at once, without formatting a message no one reads in a release build), no file and line
  # in panic locations, and no `Debug` output (`{:?}` prints nothing: never use it for what
  # the page shows or compares). Measured 2026-12-07: 418 KB to 377 KB brotli. The tests'
  # debug build keeps all three, so a panic there still reads in the console.
  RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS="--cfg erase_components -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
    cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release \
    -Zbuild-std=std,panic_abort
  wasm="$target/wasm32-unknown-unknown/wasm-release/frontend.wasm"
else
  cargo build --locked -p frontend --lib --target wasm32-unknown-unknown
  wasm="$target/wasm32-unknown-unknown/debug/frontend.wasm"
fi
scripts/wasm-glue.sh "$wasm" confab "$site_root" "$profile"
scripts/build-media-worker.sh "$site_root" "$profile"
cp style/main.css "$site_root/pkg/confab.css"
cp -R public/. "$site_root/"

# The realtime client minified, as every WASM glue is (scripts/wasm-glue.sh): the page loads
# it with the WASM. The workers' own scripts (`sw.js`, `media-worker.js`) load later, off the
# first load, and stay as written.
if [ "$profile" = release ]; then
  terser public/realtime.js --compress --mangle --output "$site_root/realtime.js"
fi

# Every static asset also as .br and .gz beside it, which the server sends to a browser that
# accepts them (leptos_axum's file handler serves precompressed files), so the first load
# is the smallest brotli makes it and no request compresses on the fly. The release build
# takes brotli's best (-q 11, a few seconds for the WASM); the tests' debug build a quick
# level. A file compressed already and unchanged since is skipped.
level=5
[ "$profile" = release ] && level=11
find "$site_root" -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.mjs' -o -name '*.css' \
  -o -name '*.svg' -o -name '*.webmanifest' -o -name '*.json' -o -name '*.html' \) -print0 \
  | while IFS= read -r -d '' file; do
      if [ ! "$file.br" -nt "$file" ] || [ ! "$file.gz" -nt "$file" ]; then
        brotli -f -q "$level" -o "$file.br" "$file"
        gzip -9 -n -f -k "$file"
      fi
    done
