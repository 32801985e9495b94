#!/usr/bin/env bash
# Runs the browser tests: starts the built server on a free loopback port with a fresh data
# folder, waits until it serves, runs end2end/ against it, and stops it whatever happens.
#   scripts/e2e.sh SERVER_BINARY SITE_ROOT [TEST_FILE ...]
# The server takes the services of the environment (REDIS_URL, S3_ENDPOINT, …) when set.
# With test files (relative to end2end/), only those run. With E2E_NODES=2 a second node
# starts beside the first (on the same services, which it then needs), and the tests that
# use two people put the second one on it (CONFAB_URL_B). E2E_RUN runs that command in
# end2end/ instead of the tests (a benchmark that needs a served site).
set -euo pipefail
server="$1"
site_root="$2"
shift 2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$(mktemp -d)"
nodes="${E2E_NODES:-1}"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$data"
}
trap cleanup EXIT

urls=()
for node in $(seq 1 "$nodes"); do
  port="$(free_port)"
  log="$data/server-$node.log"
  CONFAB_ADDR="127.0.0.1:$port" CONFAB_DATA_DIR="$data/db-$node" CONFAB_SITE_ROOT="$site_root" \
    "$server" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "e2e: the server exited" >&2; exit 1; }
    sleep 0.1
  done
  urls+=("http://127.0.0.1:$port")
done

cd "$root/end2end"
if [ -n "${E2E_RUN:-}" ]; then
  read -r -a run_tests <<<"$E2E_RUN"
elif [ $# -gt 0 ]; then
  run_tests=(node --test --test-concurrency=1 "$@")
else
  run_tests=(npm test)
fi
if ! CONFAB_URL="${urls[0]}" CONFAB_URL_B="${urls[-1]}" "${run_tests[@]}"; then
  echo "e2e: server logs follow" >&2
  for node in $(seq 1 "$nodes"); do
    tail -50 "$data/server-$node.log" >&2
  done
  exit 1
fi
