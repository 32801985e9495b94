#!/usr/bin/env bash
# Installs, idempotently, the tools Confab's build and tests need, into a cache outside the
# clone so a fresh clone on a known machine reuses them. Sourced by the Makefile's recipes:
#   scripts/toolchain.sh <tool>...   tools: system-deps kafka-build wasm-target wasm-bindgen wasm-opt
#                                    terser cargo-leptos cargo-fuzz kubernetes-validate chromium
#                                    playwright brotli compose nginx
# Prints nothing but progress on stderr; fails loudly.
set -euo pipefail

CONFAB_CACHE="${CONFAB_CACHE:-$HOME/.cache/confab}"
TOOLS="$CONFAB_CACHE/tools"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$TOOLS/bin" "$CONFAB_CACHE"
export PATH="$TOOLS/bin:$TOOLS/node/node_modules/.bin:$PATH"

say() { echo "toolchain: $*" >&2; }

# The wasm-bindgen CLI must match the library version in Cargo.lock exactly, or the generated
# glue and the WASM disagree at run time.
locked_wasm_bindgen() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

apt_install() {
  if [ ! -f "$CONFAB_CACHE/.apt-updated" ]; then
    apt-get update -qq >&2 && touch "$CONFAB_CACHE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# C toolchain pieces some crates build with (OpenSSL for the test client, curl for Kafka).
ensure_system_deps() {
  local missing=()
  for pkg in pkg-config libssl-dev curl python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] || { say "installing ${missing[*]}"; apt_install "${missing[@]}"; }
}

# librdkafka is built from source by rdkafka's cmake-build (Debian's 2.0.2 cannot talk to
# the broker); it needs cmake and, for its headers, libcurl's development files.
ensure_kafka_build() {
  local missing=()
  for pkg in cmake libcurl4-openssl-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] || { say "installing ${missing[*]}"; apt_install "${missing[@]}"; }
}

# The WASM target, and the standard library's source, which the release WASM is built from
# (scripts/build-site.sh). rust-toolchain.toml names both; this adds them where rustup does
# not install a toolchain's components by itself.
ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || { say "adding wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown >&2; }
  rustup component list --installed | grep -qx rust-src \
    || { say "adding rust-src"; rustup component add rust-src >&2; }
}

ensure_wasm_bindgen() {
  local want have=""
  want="$(locked_wasm_bindgen)"
  [ -n "$want" ] || { say "no wasm-bindgen in Cargo.lock"; exit 1; }
  [ -x "$TOOLS/bin/wasm-bindgen" ] && have="$("$TOOLS/bin/wasm-bindgen" --version | awk '{print $2}')"
  if [ "$have" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (about 10 minutes on a cold machine)"
    # --locked fails for this release: a locked dependency version is gone from the registry.
    cargo install --quiet --force --root "$TOOLS" wasm-bindgen-cli --version "=$want" >&2
  fi
}

ensure_wasm_opt() {
  # Debian's binaryen 108 silently breaks the module (hydration never runs); npm's 132 works.
  if [ ! -x "$TOOLS/node/node_modules/.bin/wasm-opt" ]; then
    say "installing binaryen 132 (wasm-opt) from npm"
    mkdir -p "$TOOLS/node"
    (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund binaryen@132.0.0 >&2)
  fi
}

# The release site's JavaScript is minified (the WASM's glue is 78 KB as wasm-bindgen
# writes it, 35 KB minified): terser, from npm, beside wasm-opt.
ensure_terser() {
  if ! "$TOOLS/node/node_modules/.bin/terser" --version 2>/dev/null | grep -q '5.51.4'; then
    say "installing terser 5.51.4 from npm"
    mkdir -p "$TOOLS/node"
    (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund terser@5.51.4 >&2)
  fi
}

ensure_cargo_leptos() {
  if ! "$TOOLS/bin/cargo-leptos" --version 2>/dev/null | grep -q '0.3.10'; then
    say "installing cargo-leptos 0.3.10 (about 45 minutes on a cold machine)"
    # 0.3.11 --locked needs a newer rustc; no_downloads keeps it off GitHub.
    cargo install --quiet --locked --force --root "$TOOLS" cargo-leptos --version 0.3.10 \
      --features no_downloads >&2
  fi
}

# cargo fuzz drives libFuzzer, which needs a nightly compiler: the machine's own nightly
# toolchain (it cannot be fetched here), checked rather than installed.
ensure_cargo_fuzz() {
  rustup toolchain list | grep -q '^nightly' || {
    say "cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)"; exit 1; }
  if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q '0.13.2'; then
    say "installing cargo-fuzz 0.13.2 (about 2 minutes)"
    cargo install --quiet --locked --force --root "$TOOLS" cargo-fuzz --version 0.13.2 >&2
  fi
}

# Kubernetes manifests are checked against the API's schemas (bundled: no cluster, no
# download at check time) by kubernetes-validate, from PyPI.
ensure_kubernetes_validate() {
  local venv="$TOOLS/k8s-venv"
  if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q '^1.31.0'; then
    say "installing kubernetes-validate 1.31.0"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.31.0 >&2
  fi
  ln -sf "$venv/bin/kubernetes-validate" "$TOOLS/bin/kubernetes-validate"
}

# `docker compose config` checks docker-compose.yml; there is no engine here, and Debian's
# docker-compose (v1) is what the registries offer when the v2 plugin is missing.
ensure_compose() {
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null \
    || { say "installing docker-compose"; apt_install docker-compose; }
}

# The compose file's reverse proxy, run for real by the deployment tests (its stickiness).
# Debian's smallest nginx; the package's own service is not started.
ensure_nginx() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] && return
  say "installing nginx-light"
  # Its package would start a system nginx on port 80: policy-rc.d says no while it installs.
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' RETURN
  fi
  apt_install nginx-light
}

# The site ships its assets precompressed (scripts/build-site.sh): brotli's command line.
ensure_brotli() {
  command -v brotli >/dev/null || { say "installing brotli"; apt_install brotli; }
}

ensure_chromium() {
  command -v chromium >/dev/null || { say "installing Debian's chromium"; apt_install chromium; }
}

ensure_playwright() {
  command -v npm >/dev/null || { say "installing node and npm"; apt_install nodejs npm; }
  if [ ! -d "$ROOT/end2end/node_modules/playwright-core" ]; then
    say "installing end2end node modules"
    (cd "$ROOT/end2end" && npm ci --silent --no-audit --no-fund >&2)
  fi
}

# The TypeScript client (clients/ts: TypeScript and socket.io-client) and the example bot
# that uses it, from their lock files.
ensure_client_ts() {
  command -v npm >/dev/null || { say "installing node and npm"; apt_install nodejs npm; }
  if [ ! -d "$ROOT/clients/ts/node_modules/typescript" ] || [ ! -d "$ROOT/clients/ts/node_modules/playwright-core" ]; then
    say "installing the TypeScript client's node modules"
    (cd "$ROOT/clients/ts" && npm ci --silent --no-audit --no-fund >&2)
  fi
  if [ ! -e "$ROOT/examples/bot/node_modules/@confab/client" ]; then
    say "installing the example bot's node modules"
    (cd "$ROOT/examples/bot" && npm ci --silent --no-audit --no-fund >&2)
  fi
}

for tool in "$@"; do
  "ensure_${tool//-/_}"
done
