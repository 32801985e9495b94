#!/usr/bin/env bash
# JS glue for a compiled module: wasm-bindgen into SITE_ROOT/pkg as NAME.js and NAME_bg.wasm,
# then (release) the glue minified and `wasm-opt -Oz`. Together they take half a minute on
# a release module, so nothing is redone when the site already holds this very module, made by this very wasm-bindgen.
#   scripts/wasm-glue.sh MODULE.wasm NAME SITE_ROOT [debug|release]
set -euo pipefail
wasm="$1"
name="$2"
site_root="$3"
profile="${4:-debug}"

mkdir -p "$site_root/pkg"
stamp="$site_root/pkg/.$name.source"
source_id="$(sha256sum "$wasm" | cut -d' ' -f1) $profile $(wasm-bindgen --version)"
# The release glue is also terser's and the module wasm-opt's: a new version of either redoes it.
if [ "$profile" = release ]; then
  source_id="$source_id, $(terser --version), $(wasm-opt --version)"
fi
if [ -f "$site_root/pkg/${name}_bg.wasm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$source_id" ]; then
  exit 0
fi
wasm-bindgen --target web --no-typescript --out-name "$name" --out-dir "$site_root/pkg" "$wasm"
if [ "$profile" = release ]; then
  terser "$site_root/pkg/$name.js" --module --compress --mangle --output "$site_root/pkg/$name.js"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    -o "$site_root/pkg/${name}_bg.wasm" "$site_root/pkg/${name}_bg.wasm"
fi
echo "$source_id" >"$stamp"
