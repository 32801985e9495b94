#!/usr/bin/env bash
# make bench: Confab and the Node baseline (../shared/peer) under the same loads, one after
# the other on this machine, measured by loadgen; prints a table at the end.
#
#   scripts/bench.sh            every load below (about 10 minutes)
#   BENCH_ONLY=load10,idle scripts/bench.sh   a subset
#
# Loads (BENCH_ONLY names):
#   load10    200 users, rooms of 10, 1000 msg/s, BENCH_DURATION s (20)
#   load100   200 users, rooms of 100, 200 msg/s, BENCH_DURATION s
#   sweep     Confab only: 1000 users, rooms of 10, BENCH_SWEEP_RATES msg/s
#             (1000,2000,5000,10000,15000), BENCH_SWEEP_DURATION s each (10); stops at the first
#             rate with p99 >= 100 ms or a loss
#   idle      BENCH_IDLE_SOCKETS idle sockets on Confab (10000), BENCH_IDLE_PEER_SOCKETS on
#             the baseline (2000), 100 users sharing them
#   signups   BENCH_SIGNUPS sign-ups then sign-ins (1000), 16 at a time
#   services  (also with BENCH_SERVICES=1) two Confab nodes on Redis, Kafka, MongoDB and S3
#             (scripts/services.sh), loadgen on both, rooms of 10 at BENCH_SERVICES_RATE
#             msg/s (1000; the MongoDB stand-in stores ~140/s, so 100 shows the rest); the
#             baseline as two nodes on the same Redis. It runs scripts/services.sh start and
#             stop, on that script's fixed ports: not while `make test` runs.
# Members send `focus` for their room, as a client showing it does, so the servers send no
# `notification` per message; BENCH_FOCUS=0 leaves it out (every delivery then also brings
# a notification event, counted as "other events").
# Other knobs: BENCH_QUIET_SECS (60): the longest wait for an idle machine before each run;
# BENCH_QUIET_PCT (80): what counts as idle; BENCH_KEEP=1 keeps the logs' folder.
#
# Every server listens on 127.0.0.1 only, every loop is bounded, and each server is stopped
# after its run. Results: one JSON line per run in $WORK/results.jsonl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFAB_CACHE="${CONFAB_CACHE:-$HOME/.cache/confab}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CONFAB_CACHE/target}"
PEER_SRC="$ROOT/../shared/peer"
PEER="$CONFAB_CACHE/peer"

DURATION="${BENCH_DURATION:-20}"
SWEEP_DURATION="${BENCH_SWEEP_DURATION:-10}"
SWEEP_RATES="${BENCH_SWEEP_RATES:-1000,2000,5000,10000,15000}"
SWEEP_USERS="${BENCH_SWEEP_USERS:-1000}"
IDLE_SOCKETS="${BENCH_IDLE_SOCKETS:-10000}"
IDLE_PEER_SOCKETS="${BENCH_IDLE_PEER_SOCKETS:-2000}"
SIGNUPS="${BENCH_SIGNUPS:-1000}"
QUIET_SECS="${BENCH_QUIET_SECS:-60}"
# The MongoDB stand-in of scripts/services.sh (one Python process) stores ~140 messages/s.
SERVICES_RATE="${BENCH_SERVICES_RATE:-1000}"
QUIET_PCT="${BENCH_QUIET_PCT:-80}"
ONLY="${BENCH_ONLY:-load10,load100,sweep,idle,signups}"
FOCUS=()
[ "${BENCH_FOCUS:-1}" = 0 ] && FOCUS=(--no-focus)
[ "${BENCH_SERVICES:-0}" = 1 ] && ONLY="$ONLY,services"

say() { echo "bench: $*" >&2; }
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/confab-bench.XXXXXX")"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
PIDS=()
SERVICES_UP=0
# Until the services run, Confab is on its embedded defaults whatever the caller's shell holds.
NO_SERVICES=(REDIS_URL= KAFKA_BROKERS= MONGODB_URL= S3_ENDPOINT=)

cleanup() {
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  [ "$SERVICES_UP" = 1 ] && "$ROOT/scripts/services.sh" stop || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# 10,000 sockets need as many descriptors in loadgen and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_SOCKETS + 1000)) ]; then
  say "open-file limit $(ulimit -n) is below $((IDLE_SOCKETS + 1000)): lowering the idle sockets"
  IDLE_SOCKETS=$(($(ulimit -n) - 1000))
fi

# ---------------------------------------------------------------- build

say "building server and loadgen (release)"
cargo build --locked --release -p server -p loadgen >&2
# Copies: another checkout sharing CARGO_TARGET_DIR may relink these at any moment.
mkdir -p "$WORK/bin" "$WORK/site"
cp "$CARGO_TARGET_DIR/release/server" "$CARGO_TARGET_DIR/release/loadgen" "$WORK/bin/"
SERVER_BIN="$WORK/bin/server"
LOADGEN="$WORK/bin/loadgen"

if [ ! -d "$PEER/node_modules" ] || ! cmp -s "$PEER_SRC/server.mjs" "$PEER/server.mjs" \
  || ! cmp -s "$PEER_SRC/package.json" "$PEER/package.json"; then
  say "installing the baseline in $PEER"
  mkdir -p "$PEER"
  cp "$PEER_SRC/server.mjs" "$PEER_SRC/package.json" "$PEER/"
  [ -f "$PEER_SRC/package-lock.json" ] && cp "$PEER_SRC/package-lock.json" "$PEER/"
  (cd "$PEER" && npm install --silent --no-audit --no-fund >&2)
fi

# ---------------------------------------------------------------- helpers

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most QUIET_SECS) for a second in which the machine is QUIET_PCT% idle; prints
# "IDLE NICE": the idle and the niced (low-priority, yielding) percentages of the last second.
wait_quiet() {
  local deadline=$((SECONDS + QUIET_SECS)) pcts
  while :; do
    pcts=$(python3 - <<'PY'
import time
def read():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], v[1], sum(v)
i0, n0, t0 = read(); time.sleep(1); i1, n1, t1 = read()
t = max(1, t1 - t0)
print(round(100.0 * (i1 - i0) / t, 1), round(100.0 * (n1 - n0) / t, 1))
PY
)
    if python3 -c "import sys; sys.exit(0 if ${pcts%% *} >= $QUIET_PCT else 1)" \
      || [ "$SECONDS" -ge "$deadline" ]; then
      break
    fi
    sleep 1
  done
  echo "$pcts"
}

wait_healthy() { # url pid log
  for _ in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || { say "the server died; its log:"; tail -20 "$3" >&2; return 1; }
    curl -fsS -o /dev/null "$1/healthz" 2>/dev/null && return 0
    sleep 0.1
  done
  say "no /healthz from $1 in 30 s; its log:"; tail -20 "$3" >&2; return 1
}

# start_confab LOG [VAR=value...]: sets URL and PID. The binary runs as the background job
# itself (no wrapper shell), so $! is the server's pid.
start_confab() {
  local log="$1"; shift
  local port; port=$(free_port)
  local data; data=$(mktemp -d "$WORK/data.XXXXXX")
  env "${NO_SERVICES[@]}" "$@" CONFAB_ADDR="127.0.0.1:$port" CONFAB_DATA_DIR="$data" \
    CONFAB_PUBLIC_URL="http://127.0.0.1:$port" CONFAB_SITE_ROOT="$WORK/site" \
    CONFAB_AUTH_PER_IP_PER_MIN=100000000 CONFAB_SENDS_PER_USER_PER_10S=100000000 \
    CONFAB_LOGINS_PER_ACCOUNT_PER_MIN=100000000 RUST_LOG=warn \
    "$SERVER_BIN" >"$log" 2>&1 &
  PID=$!; PIDS+=("$PID"); URL="http://127.0.0.1:$port"
  wait_healthy "$URL" "$PID" "$log"
}

# start_peer LOG [VAR=value...]: sets URL and PID (node itself).
start_peer() {
  local log="$1"; shift
  local port; port=$(free_port)
  env "$@" CONFAB_ADDR="127.0.0.1:$port" node "$PEER/server.mjs" >"$log" 2>&1 &
  PID=$!; PIDS+=("$PID"); URL="http://127.0.0.1:$port"
  wait_healthy "$URL" "$PID" "$log"
}

stop_all() {
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
}

# run LOAD SERVER(confab|baseline) NODES LOADGEN-ARGS...: one run on fresh server process(es)
# (NODES of them; more than one needs the services' REDIS_URL), its RESULT lines tagged and
# appended to $RESULTS.
run() {
  local load="$1" server="$2" nodes="$3"; shift 3
  local pcts idle nice
  pcts=$(wait_quiet); idle=${pcts%% *}; nice=${pcts##* }
  say "$load on $server (before the run the machine was ${idle}% idle, ${nice}% busy with niced work)"
  local urls=() pids=() n
  for n in $(seq 1 "$nodes"); do
    local log="$WORK/$load-$server-$n.log"
    if [ "$server" = confab ]; then
      start_confab "$log" || return 0
    elif [ "$nodes" -gt 1 ]; then
      start_peer "$log" CONFAB_REDIS_KEY="bench$$" || return 0
    else
      start_peer "$log" "${NO_SERVICES[@]}" || return 0
    fi
    urls+=(--url "$URL"); pids+=(--pid "$PID")
    say "  node $n: $(cat "/proc/$PID/comm") pid $PID at $URL"
  done
  local out="$WORK/$load-$server.out"
  if "$LOADGEN" --label "$load/$server" "${urls[@]}" "${pids[@]}" "${FOCUS[@]}" "$@" | tee "$out" >&2; then :; else
    say "loadgen failed on $load/$server"
    echo "{\"load\":\"$load\",\"server\":\"$server\",\"failed\":true}" >>"$RESULTS"
  fi
  # The servers' own complaints during the run (RUST_LOG=warn; the baseline's stderr), before
  # they are stopped; what they log while stopping is shown apart.
  local complaints=0 log
  for log in "$WORK/$load-$server-"*.log; do
    cp "$log" "$log.run"
    complaints=$((complaints + $(grep -ciE 'warn|error|panic' "$log.run" || true)))
  done
  if [ "$complaints" -gt 0 ]; then
    say "$load/$server: $complaints warning, error or panic lines in the server log during the run, e.g.:"
    grep -hiE -m 3 'warn|error|panic' "$WORK/$load-$server-"*.log.run >&2 || true
  fi
  grep '^RESULT ' "$out" | sed 's/^RESULT //' | jq -c --arg load "$load" --arg server "$server" \
    --argjson idle "$idle" --argjson nice "$nice" --argjson complaints "$complaints" \
    '. + {load: $load, server: $server, machine_idle_pct: $idle, machine_nice_pct: $nice,
          server_log_complaints: $complaints}' >>"$RESULTS" || true
  stop_all
  for log in "$WORK/$load-$server-"*.log; do
    local extra; extra=$(( $(wc -l <"$log") - $(wc -l <"$log.run") ))
    if [ "$extra" -gt 0 ] && grep -qiE 'panic' <(tail -n "$extra" "$log"); then
      say "$load/$server: the server panicked while stopping ($(basename "$log")):"
      tail -n "$extra" "$log" | grep -iE -m 2 'panic' >&2 || true
    fi
  done
}

# ---------------------------------------------------------------- the loads

if wanted load10; then
  for s in confab baseline; do
    run load10 "$s" 1 --users 200 --room-size 10 --rate 1000 --duration "$DURATION"
  done
fi
if wanted load100; then
  for s in confab baseline; do
    run load100 "$s" 1 --users 200 --room-size 100 --rate 200 --duration "$DURATION"
  done
fi
if wanted sweep; then
  run sweep confab 1 --users "$SWEEP_USERS" --room-size 10 --rate "$SWEEP_RATES" \
    --duration "$SWEEP_DURATION" --setup-concurrency 4
fi
if wanted idle; then
  run idle confab 1 --mode idle --users 100 --sockets "$IDLE_SOCKETS"
  run idle baseline 1 --mode idle --users 100 --sockets "$IDLE_PEER_SOCKETS"
fi
if wanted signups; then
  for s in confab baseline; do
    run signups "$s" 1 --mode signups --signups "$SIGNUPS" --signup-concurrency 16
  done
fi
if wanted services; then
  say "starting the services (scripts/services.sh start)"
  SERVICES_UP=1
  # shellcheck disable=SC1090
  source <("$ROOT/scripts/services.sh" start)
  NO_SERVICES=()
  for s in confab baseline; do
    run services "$s" 2 --users 200 --room-size 10 --rate "$SERVICES_RATE" --duration "$DURATION"
  done
fi

# ---------------------------------------------------------------- the table

python3 - "$RESULTS" "$(nproc)" <<'PY'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cores = int(sys.argv[2])
by = {}
for r in rows:
    by.setdefault((r["load"], r["server"]), []).append(r)

def one(load, server):
    rs = [r for r in by.get((load, server), []) if not r.get("failed")]
    return rs[0] if rs else None

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)

def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and b:
        return f"{a / b:.2f}x"
    return ""

table = []
def line(load, metric, c, b=None):
    table.append((load, metric, fmt(c), fmt(b), ratio(c, b)))

def mib(kib):
    return None if kib is None else kib / 1024

def load_rows(load, title):
    c, b = one(load, "confab"), one(load, "baseline")
    if not (c or b):
        return
    g = lambda r, f: None if r is None else f(r)
    def both(metric, f):
        line(title, metric, g(c, f), g(b, f))
    both("deliveries per server CPU-s", lambda r: r["deliveries_per_cpu_s"])
    both("deliver p50 ms", lambda r: r["deliver_ms"]["p50"])
    both("deliver p99 ms", lambda r: r["deliver_ms"]["p99"])
    both("deliver max ms", lambda r: r["deliver_ms"]["max"])
    both("ack p50 / p99 ms", lambda r: f'{r["ack_ms"]["p50"]:.2f} / {r["ack_ms"]["p99"]:.2f}')
    both("achieved msg/s", lambda r: r["achieved_rate"])
    both("server CPU cores", lambda r: r["usage"]["server_cores"])
    both("loadgen CPU cores", lambda r: r["usage"]["loadgen_cores"])
    both("other work on the machine, cores", lambda r: r["usage"]["other_cores"])
    both("deliveries expected", lambda r: r["expected"])
    both("lost", lambda r: r["lost"])
    both("duplicates", lambda r: r["duplicates"])
    both("out of order", lambda r: r["out_of_order"])
    both("ack errors / timeouts", lambda r: f'{sum(r["ack_errors"].values())} / {r["ack_timeouts"]}')
    both("server RSS before / after MiB", lambda r: f'{mib(r["usage"]["server_rss_before_kib"]):.1f} / {mib(r["usage"]["server_rss_after_kib"]):.1f}')
    both("machine idle / niced before run %", lambda r: f'{r["machine_idle_pct"]} / {r.get("machine_nice_pct", "-")}')
    both("server log warnings/errors", lambda r: r["server_log_complaints"])

load_rows("load10", "rooms of 10, 1000 msg/s")
load_rows("load100", "rooms of 100, 200 msg/s")
load_rows("services", "2 nodes on services, rooms of 10")

sweep = [r for r in by.get(("sweep", "confab"), []) if not r.get("failed")]
best = None
for r in sweep:
    u = r["usage"]
    limit = []
    if u["server_cores"] + u["loadgen_cores"] + u["other_cores"] > 0.9 * cores:
        limit.append("machine")
    if u["loadgen_cores"] > 0.9:
        limit.append("loadgen")
    line("sweep, rooms of 10", f'{r["rate"]:.0f} msg/s',
         f'p99 {r["deliver_ms"]["p99"]:.2f} ms, lost {r["lost"]}, ooo {r["out_of_order"]}, '
         f'{r["achieved_rate"]:.0f}/s sent, server {u["server_cores"]:.2f} cores, '
         f'loadgen {u["loadgen_cores"]:.2f}, other {u["other_cores"]:.2f} cores, {r["deliveries_per_cpu_s"]:.0f} dlv/CPU-s'
         + (f' [{"+".join(limit)} saturated]' if limit else "")
         + ("" if r["passed"] else " FAIL"))
    if r["passed"]:
        best = r["rate"]
if sweep:
    line("sweep, rooms of 10", "highest rate with p99 < 100 ms, no loss",
         "none" if best is None else f"{best:.0f} msg/s")

c, b = one("idle", "confab"), one("idle", "baseline")
if c or b:
    g = lambda r, f: None if r is None else f(r)
    for metric, f in [
        ("sockets", lambda r: r["sockets"]),
        ("KiB RSS per socket", lambda r: r["kib_per_socket"]),
        ("KiB per socket kept after close", lambda r: r["kib_per_socket_after_close"]),
        ("RSS before / held / closed MiB", lambda r: f'{mib(r["rss_before_kib"]):.1f} / {mib(r["rss_held_kib"]):.1f} / {mib(r["rss_after_close_kib"]):.1f}'),
        ("connect time s", lambda r: r["connect_s"]),
        ("sockets closed by server", lambda r: r["closed_sockets"]),
    ]:
        line("idle sockets", metric, g(c, f), g(b, f))

c, b = one("signups", "confab"), one("signups", "baseline")
if c or b:
    g = lambda r, f: None if r is None else f(r)
    for metric, f in [
        ("sign-ups per s", lambda r: r["signup"]["per_second"]),
        ("sign-ins per s", lambda r: r["signin"]["per_second"]),
        ("errors", lambda r: sum(r["signup"]["errors"].values()) + sum(r["signin"]["errors"].values())),
        ("RSS before MiB", lambda r: mib(r["rss_before_kib"])),
        ("RSS peak MiB", lambda r: mib(r["rss_peak_kib"])),
        ("RSS after MiB", lambda r: mib(r["rss_after_kib"])),
        ("RSS after - before MiB", lambda r: mib(r["rss_delta_kib"])),
        ("server CPU cores", lambda r: r["usage"]["server_cores"]),
    ]:
        line(f'{(c or b)["signups"]} sign-ups + sign-ins', metric, g(c, f), g(b, f))

failed = [f'{r["load"]}/{r["server"]}' for r in rows if r.get("failed")]
head = ("load", "metric", "Confab", "baseline", "ratio")
widths = [max(len(str(x[i])) for x in table + [head]) for i in range(5)]
out = lambda x: print("| " + " | ".join(str(v).ljust(w) for v, w in zip(x, widths)) + " |")
print()
out(head)
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for t in table:
    out(t)
if failed:
    print(f"\nfailed runs: {', '.join(failed)}")
PY
