#!/usr/bin/env bash
# N app processes on this machine behind HAProxy, at one address: more inspections at once than
# one process serves (each process runs Python one thread at a time; README, "Scaling out").
# Usage: deploy/replicas.sh [N]      (default 2; stop with Ctrl-C or SIGTERM: it stops them all)
# Environment: SLOPE_LISTEN (default 127.0.0.1:7860, this machine only, as app.py; 0.0.0.0:7860
# for the network, once an admin account exists) the address people open; the replicas listen on
# loopback from the next port on; PYTHON (default python); every SLOPE_* setting of app.py,
# shared by the replicas (one SLOPE_DATA_DIR or DATABASE_URL: they serve one store).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2}
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "usage: deploy/replicas.sh [N], N a number of app processes" >&2; exit 2; }
listen=${SLOPE_LISTEN:-127.0.0.1:7860}
python=${PYTHON:-python}
port=${listen##*:}
# The cores shared out: N processes each on every core slow each other's models down.
threads=${SLOPE_MODEL_THREADS:-$(($(nproc) / count > 0 ? $(nproc) / count : 1))}
work=$(mktemp -d)
replicas=()
pids=()
stop() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait || true
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 143' INT TERM
answers() { curl -fso /dev/null --max-time 5 "http://127.0.0.1:$1/"; }
# Replica K on PORT, started again whenever it stops (a crash, the kernel's OOM killer), at most
# MAX_STARTS times in WINDOW_S seconds: one that keeps failing (a broken setting) is given up, not
# restarted forever. Run in the background; TERM stops its app and then it.
MAX_STARTS=5
WINDOW_S=600
keep() {
  local k=$1 replica_port=$2 child="" started=() now recent
  trap '[ -z "$child" ] || kill "$child" 2>/dev/null || true; wait || true; exit 0' TERM INT
  while true; do
    now=$(date +%s)
    recent=()
    for t in ${started[@]+"${started[@]}"}; do
      if ((now - t < WINDOW_S)); then recent+=("$t"); fi
    done
    started=(${recent[@]+"${recent[@]}"} "$now")
    if ((${#started[@]} > MAX_STARTS)); then
      echo "replica app-$k stopped $MAX_STARTS times in $((WINDOW_S / 60)) minutes: not started again" >&2
      exit 1
    fi
    # Each its own Gradio folder: a replica that stops cleans its own files, not the others'.
    GRADIO_SERVER_NAME=127.0.0.1 GRADIO_SERVER_PORT=$replica_port GRADIO_TEMP_DIR="$work/gradio-$k" \
      SLOPE_MODEL_THREADS=$threads "$python" app.py &
    child=$!
    echo "replica app-$k: process $child, http://127.0.0.1:$replica_port/" >&2
    local status=0
    wait "$child" || status=$?
    echo "replica app-$k (process $child) stopped with status $status; starting it again" >&2
    sleep 1
  done
}

{
  echo "backend replicas"
  echo "    balance roundrobin"
  echo "    cookie SLOPE_REPLICA insert indirect nocache httponly"
} >"$work/backend.cfg"
for k in $(seq 1 "$count"); do
  replica_port=$((port + k))
  answers "$replica_port" && { echo "port $replica_port is taken: choose another SLOPE_LISTEN port" >&2; exit 1; }
  # One after the other: the first prepares the store (migrations, the shipped models) alone.
  keep "$k" "$replica_port" &
  pids+=($!)
  replicas+=($!)
  for _ in $(seq 360); do
    answers "$replica_port" && break
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "replica $k stopped while starting" >&2; exit 1; }
    sleep 0.5
  done
  answers "$replica_port" || { echo "replica $k did not start" >&2; exit 1; }
  echo "    server app-$k 127.0.0.1:$replica_port cookie app-$k check" >>"$work/backend.cfg"
done
SLOPE_LISTEN=$listen haproxy -W -db -f deploy/haproxy.cfg -f "$work/backend.cfg" &
balancer=$!
pids+=($balancer)
echo "$count replicas, $threads model thread(s) each, at http://$listen/" >&2
# A replica that dies has its browsers sent to the others by HAProxy while it starts again (they
# log in again); the script ends, failing, once HAProxy has stopped or every replica was given up,
# so a supervisor (systemd's Restart=on-failure) sees it.
while true; do
  wait -n || true
  kill -0 "$balancer" 2>/dev/null || { echo "HAProxy stopped" >&2; exit 1; }
  alive=0
  for pid in "${replicas[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
  [ "$alive" -gt 0 ] || { echo "every replica was given up" >&2; exit 1; }
  echo "$alive of $count replicas serving" >&2
done
