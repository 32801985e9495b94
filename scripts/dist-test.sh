#!/usr/bin/env bash
# Unpacks a `make dist` tarball into an empty folder and runs it as a user would, on the
# embedded defaults: it serves the page and every asset the page leads to, registers a
# user, stores a message, restarts, and still has the message.
#   scripts/dist-test.sh TARBALL
set -euo pipefail
tarball="$1"
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "dist-test: $*" >&2; tail -20 "$dir/log" >&2 || true; exit 1; }

tar -C "$dir" -xzf "$tarball"
app="$(ls -d "$dir"/confab-*)"
start() {
  # exec: $pid is the server itself, which the restart below must stop.
  (cd "$app" && exec env -i PATH=/usr/bin:/bin HOME="$dir" CONFAB_ADDR="127.0.0.1:$port" \
     CONFAB_SITE_ROOT=site bin/confab >>"$dir/log" 2>&1) &
  pid=$!
  for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  fail "did not serve"
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

start
# Every asset the shipped pages lead to, followed as a browser would (end2end's test).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -d "$root/end2end/node_modules" ] || (cd "$root/end2end" && npm ci --silent --no-audit --no-fund)
(cd "$root/end2end" && CONFAB_URL="$base" node --test tests/assets.test.mjs >"$dir/assets.log" 2>&1) \
  || { cat "$dir/assets.log" >&2; fail "the site misses assets its pages load"; }
token="$(curl -fsS -H 'content-type: application/json' "$base/api/v1/auth/register" \
  -d '{"username":"dist_user","password":"correct horse battery"}' | json '["token"]')"
room="$(curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  "$base/api/v1/rooms" -d '{"name":"Unpacked"}' | json '["id"]')"
curl -fsS -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
  "$base/api/v1/rooms/$room/messages" -d '{"client_id":"0b9f3c52-4d1e-4a8e-9f0a-6c2d1e7b5a10","kind":"text","body":"still here"}' \
  || fail "send"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
! curl -fsS "$base/healthz" >/dev/null 2>&1 || fail "still serving after SIGTERM"
[ -f "$app/data/confab.db" ] || fail "no data folder beside the binary"
start
body="$(curl -fsS -H "authorization: Bearer $token" "$base/api/v1/rooms/$room/messages" \
  | json '["messages"][0]["body"]')"
[ "$body" = "still here" ] || fail "after a restart the message reads: $body"
echo "dist-test: $(basename "$tarball") unpacks, serves, stores and keeps a message across a restart"
