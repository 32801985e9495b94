#!/usr/bin/env bash
# Fuzzes what faces untrusted input with cargo fuzz (libFuzzer): socket event payloads,
# uploaded media (sniffing, inspection, metadata stripping) and REST request bodies, queries
# and headers. The targets are in fuzz/, their entry points in server/src/fuzzing.rs.
#
#   scripts/fuzz.sh [SECONDS]    run each target for SECONDS (default 20), from its seed
#                                corpus in fuzz/corpus/<target>
#
# Inputs that reach new code are kept outside the clone ($CONFAB_CACHE/fuzz-corpus), so
# later runs start from everything found so far. A crash stops the run, leaves its input in
# fuzz/artifacts/<target>/ and fails; replay it with `cargo +nightly fuzz run <target> FILE`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFAB_CACHE="${CONFAB_CACHE:-$HOME/.cache/confab}"
export PATH="$CONFAB_CACHE/tools/bin:$PATH"
SECONDS_EACH="${1:-20}"
TARGET_DIR="$CONFAB_CACHE/fuzz-target"
TARGETS=(socket_event media api_request)

cd "$ROOT/fuzz"
cargo +nightly fuzz build --target-dir "$TARGET_DIR" >&2
for target in "${TARGETS[@]}"; do
  found="$CONFAB_CACHE/fuzz-corpus/$target"
  mkdir -p "$found"
  log="$(mktemp)"
  if ! cargo +nightly fuzz run --target-dir "$TARGET_DIR" "$target" "$found" "corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  added=$(sed -n 's/^stat::new_units_added: *//p' "$log")
  echo "fuzz: $target: $runs executions in ${SECONDS_EACH}s, $added new inputs, 0 crashes" \
    "(corpus $(ls "$found" | wc -l) found + $(ls "corpus/$target" | wc -l) seeds)"
  rm -f "$log"
done
