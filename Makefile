# Confab: the two commands of the README, and the pieces they are made of.
#   make run    build and serve on the embedded defaults (installs what it needs)
#   make test   every test: unit, integration, contract and browser (installs what it needs)
#   make lint   rustfmt and clippy
#   make fuzz   each libFuzzer target for FUZZ_SECONDS (scripts/fuzz.sh)
#   make dist   a versioned tarball of the release build, with a systemd unit
#   make bench-media   time shrinking a 12-megapixel photo in Chromium (prints figures)
#   make first-load   what a browser downloads for the release build's first page (prints figures)
#   make bench   Confab against the Node baseline under the same socket loads (prints a table)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c

# Tools and build output live outside the clone, so a fresh clone builds incrementally.
export CONFAB_CACHE ?= $(HOME)/.cache/confab
export CARGO_TARGET_DIR ?= $(CONFAB_CACHE)/target
export PATH := $(CONFAB_CACHE)/tools/bin:$(CONFAB_CACHE)/tools/node/node_modules/.bin:$(PATH)
# cargo-leptos sets this while building for `make run`; the test build must not see it.
unexport LEPTOS_OUTPUT_NAME

TOOLCHAIN := scripts/toolchain.sh
TEST_SITE := $(CARGO_TARGET_DIR)/test-site
BENCH_SITE := $(CARGO_TARGET_DIR)/bench-site

.PHONY: run test lint unit fuzz test-server e2e release-site-test client-test dist dist-test tools-run tools-test services bench-media bench first-load

## services: start Redis, Kafka, MongoDB and S3 on loopback and print their environment.
services:
	scripts/services.sh start

## run: the release build (scripts/build-release.sh), then serve on CONFAB_ADDR (default
## 127.0.0.1:3000) on the embedded defaults, data in ./data.
RELEASE_SITE := $(CARGO_TARGET_DIR)/release-site
run: tools-run
	server=$$(scripts/build-release.sh $(RELEASE_SITE)); \
	  LEPTOS_SITE_ROOT=$(RELEASE_SITE) CONFAB_SITE_ROOT=$(RELEASE_SITE) exec $$server

tools-run:
	$(TOOLCHAIN) system-deps kafka-build wasm-target wasm-bindgen wasm-opt terser brotli

## test: everything CI runs.
test: tools-test unit fuzz e2e release-site-test client-test dist-test

tools-test:
	$(TOOLCHAIN) system-deps kafka-build compose nginx kubernetes-validate wasm-target \
	  wasm-bindgen wasm-opt terser brotli cargo-fuzz chromium playwright client-ts

## client-test: the TypeScript client (clients/ts) and the example bot, with node:test,
## against nodes of the debug server: on the embedded defaults (in Node and in Chromium), and
## two on the real services.
client-test:
	$(TOOLCHAIN) client-ts chromium
	cargo build --locked -p server
	cd clients/ts && npm run --silent build
	trap 'scripts/services.sh stop' EXIT; \
	source <(scripts/services.sh start); \
	export CONFAB_SERVER_BIN=$(CARGO_TARGET_DIR)/debug/server CONFAB_REQUIRE_SERVICES=1; \
	(cd clients/ts && node --test --test-concurrency=1 test/) && \
	(cd examples/bot && node --test test/)

## dist: a versioned tarball of the release build (bin/confab, site/, .env.example, a
## systemd unit) in $(CARGO_TARGET_DIR)/dist.
dist: tools-run
	scripts/dist.sh $(CARGO_TARGET_DIR)/dist

# The tarball, unpacked into an empty folder and run as a user would. It is built by the
# same steps as `make dist` on the tests' dev profile: a cold release build would add a
# quarter hour to a first `make test`, and `make run`/`make bench` build release anyway.
dist-test:
	tarball=$$(scripts/dist.sh $(CARGO_TARGET_DIR)/dist-test debug); scripts/dist-test.sh $$tarball

## fuzz: each libFuzzer target for FUZZ_SECONDS (20 in `make test`) from its seed corpus.
FUZZ_SECONDS ?= 20
fuzz:
	$(TOOLCHAIN) system-deps kafka-build cargo-fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The integration tests run against the embedded adapters and, with scripts/services.sh's
# real services on ports of their own, against Redis, Kafka, MongoDB and S3 too.
unit:
	cargo fmt --all -- --check
	cargo test --locked -p protocol --features ts --test typescript
	trap 'scripts/services.sh stop' EXIT; \
	source <(scripts/services.sh start); \
	CONFAB_REQUIRE_SERVICES=1 cargo test --locked -p protocol -p app -p server -p media-worker -p loadgen

# The browser tests' server. The binary is copied at once: another build sharing
# CARGO_TARGET_DIR (a second checkout, say) may relink target/debug/server from its own
# sources at any moment.
test-server:
	$(TOOLCHAIN) system-deps kafka-build
	cargo build --locked -p server
	mkdir -p $(dir $(TEST_SITE))
	cp $(CARGO_TARGET_DIR)/debug/server $(TEST_SITE).server

# The browser tests run on the embedded defaults, then the media tests again on a node on
# the real services (the browser uploads to and loads from the S3 store by presigned URL),
# and the edits-reactions-search journey on two nodes of them, one person on each.
e2e: test-server
	$(TOOLCHAIN) wasm-target wasm-bindgen brotli chromium playwright
	scripts/build-site.sh $(TEST_SITE) debug
	scripts/e2e.sh $(TEST_SITE).server $(TEST_SITE)
	trap 'scripts/services.sh stop' EXIT; \
	source <(scripts/services.sh start); \
	scripts/e2e.sh $(TEST_SITE).server $(TEST_SITE) tests/media.test.mjs; \
	E2E_NODES=2 scripts/e2e.sh $(TEST_SITE).server $(TEST_SITE) tests/messages.test.mjs

# The release site as `make run`, `make dist` and the image build it: the steps the tests'
# debug build skips (the WASM built for size with the standard library rebuilt, wasm-opt,
# the JavaScript minified), through the asset and messaging tests on the tests' server,
# whose pages are the same in both profiles.
release-site-test: test-server
	$(TOOLCHAIN) wasm-target wasm-bindgen wasm-opt terser brotli chromium playwright
	scripts/build-site.sh $(RELEASE_SITE) release
	scripts/e2e.sh $(TEST_SITE).server $(RELEASE_SITE) tests/assets.test.mjs tests/messages.test.mjs

lint:
	$(TOOLCHAIN) system-deps kafka-build wasm-target
	cargo fmt --all -- --check
	cargo clippy --locked -p protocol -p app -p server -p media-worker -p loadgen --all-targets -- -D warnings
	cargo clippy --locked -p frontend -p media-worker --target wasm32-unknown-unknown -- -D warnings

## bench-media: the media worker against browser-image-compression, on a release build.
bench-media:
	$(TOOLCHAIN) wasm-target wasm-bindgen wasm-opt terser chromium playwright
	[ -d end2end/node_modules/browser-image-compression ] || \
	  (cd end2end && npm ci --silent --no-audit --no-fund)
	scripts/build-site.sh $(BENCH_SITE) release
	cd end2end && node bench/shrink.mjs $(BENCH_SITE)

## first-load: the release build (as `make run` builds it) served, and every file its first
## page loads in Chromium, with its size on the wire (end2end/bench/first-load.mjs).
first-load: tools-run
	$(TOOLCHAIN) chromium playwright
	server=$$(scripts/build-release.sh $(RELEASE_SITE)); \
	  E2E_RUN="node bench/first-load.mjs" scripts/e2e.sh $$server $(RELEASE_SITE)

## bench: Confab and the Node baseline (../shared/peer) under loadgen's loads, one after the
## other; BENCH_ONLY=load10,idle picks loads, BENCH_DURATION=5 shortens them (see the script).
bench:
	$(TOOLCHAIN) system-deps kafka-build
	scripts/bench.sh
