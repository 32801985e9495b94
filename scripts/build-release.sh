#!/usr/bin/env bash
# The one release build: the site (hydrate WASM through wasm-bindgen and `wasm-opt -Oz`, the
# photo worker, stylesheet and public assets) and the server
# binary. `make run`, `make bench` and the Dockerfile all build through here, with plain
# cargo (cargo-leptos is optional, for `cargo leptos watch` while developing).
#   scripts/build-release.sh SITE_ROOT [release|debug]    prints the server binary's path
# The same steps on the dev profile (`debug`) are what `make test` packages and runs: the
# tests build one profile, and a cold machine would spend a quarter hour on a second one.
set -euo pipefail
site_root="$1"
profile="${2:-release}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

cd "$root"
# The server's pages name pkg/confab_bg.wasm, as wasm-bindgen writes it, only when built
# with LEPTOS_OUTPUT_NAME unset (cargo-leptos sets it).
unset LEPTOS_OUTPUT_NAME
scripts/build-site.sh "$site_root" "$profile" >&2
case "$profile" in
  release) cargo build --locked --release -p server >&2 ;;
  debug) cargo build --locked -p server >&2 ;;
  *) echo "build-release: the profile is release or debug, not $profile" >&2; exit 2 ;;
esac
echo "$target/$profile/server"
