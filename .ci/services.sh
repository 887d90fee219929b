#!/usr/bin/env bash
# What the tests need from Debian: PostgreSQL (a throwaway server on loopback), Redis (the task
# queue's broker, on loopback, nothing saved to disk), Chromium (for the browser test) and HAProxy
# (in front of two app replicas, tests/distributed/test_balancer.py),
# installed when missing. Prints TEST_POSTGRES_URL (the admin URL) and TEST_REDIS_URL.
# Usage: eval "$(.ci/services.sh)"
set -euo pipefail
PORT=${PGPORT_TEST:-54329}
DIR=${PGDATA_TEST:-/tmp/slope-inspect-pg}
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
RUN=(runuser -u postgres --)
[ "$(id -u)" = 0 ] || RUN=()
if ! "${RUN[@]}" "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  rm -rf "$DIR"; mkdir -p "$DIR"; [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  "${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust >/dev/null
  "${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-h 127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=100" start >&2
fi
REDIS_PORT=${REDIS_PORT_TEST:-63790}
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --daemonize yes \
    --logfile /tmp/slope-inspect-redis.log >&2
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "export TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
echo "export TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
