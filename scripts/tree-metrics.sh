#!/usr/bin/env bash
# Figures for the process tree (issue 3), reproducible on any Debian machine with ffmpeg:
#   1. idle CPU of the whole tree (master, backsource, workers, httpd) over IDLE_S seconds;
#   2. latency the rings add: end-to-end lag (publisher clock stamp -> player) of the tree
#      against --single-process, same load, merged writes off so that only the path differs;
#   3. 1 vs 2 stream workers: server CPU per player at the same load, and players below 90%.
# Usage: scripts/tree-metrics.sh   (env: IDLE_S=20 LAG_PLAYERS=50 LOAD_PLAYERS=1000 LOAD_S=30)
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE_S=${IDLE_S:-20}
LAG_PLAYERS=${LAG_PLAYERS:-50}
LOAD_PLAYERS=${LOAD_PLAYERS:-1000}
LOAD_S=${LOAD_S:-30}
cargo build --release --bins >/dev/null 2>&1 || cargo build --release --bins
B=$PWD/target/release/srs-bench
M=$PWD/target/release/srs-master
C=$PWD/target/release/srs-cli
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { # total utime+stime (clock ticks) of the given pids
    local t=0
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
tree_pids() { # master pid + children
    echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"
}
start_server() { # name workers extra-args...
    local name=$1 workers=$2; shift 2
    local port; port=$(free_port)
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name/srs.conf" <<EOF
listen 127.0.0.1:$port;
pid $WORK/$name/srs.pid;
run_dir $WORK/$name/run;
max_connections 20000;
worker_processes $workers;
srs_log_level warn;
vhost __defaultVhost__ { min_latency ${MIN_LATENCY:-off}; }
EOF
    "$M" -c "$WORK/$name/srs.conf" "$@" >"$WORK/$name/log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        grep -q "srs-rs ready" "$WORK/$name/log" 2>/dev/null && break
        sleep 0.1
    done
    PORT=$port
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

echo "== making a 500 kbps test stream"
"$B" make-flv --out "$WORK/in.flv" --seconds 30 --kbps 500 >/dev/null

echo "== 1. idle CPU of the tree (2 workers, no clients, ${IDLE_S}s)"
start_server idle 2
sleep 2
P=$(tree_pids "$SERVER_PID")
t0=$(ticks $P)
sleep "$IDLE_S"
t1=$(ticks $P)
HZ=$(getconf CLK_TCK)
echo "processes: $(echo $P | wc -w); CPU: $(python3 -c "print(f'{($t1-$t0)/$HZ:.3f} s over $IDLE_S s = {100*($t1-$t0)/$HZ/$IDLE_S:.3f} % of one core')")"
stop_server

lag_run() { # name workers extra
    local name=$1 workers=$2; shift 2
    MIN_LATENCY=on start_server "$name" "$workers" "$@"
    "$B" publish --url "rtmp://127.0.0.1:$PORT/live/lag" --file "$WORK/in.flv" --duration 40 >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 2
    "$B" play --url "rtmp://127.0.0.1:$PORT/live/lag" -n "$LAG_PLAYERS" --ramp 0 --duration 20 \
        --read-interval-ms 0 --json-out "$WORK/$name.json" >/dev/null 2>&1
    stop_server
    python3 - "$WORK/$name.json" "$name" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<16} lag p50 {d['lag_ms']['p50']} ms  p99 {d['lag_ms']['p99']} ms  (samples {d['lag_ms']['samples']}, source {d.get('lag_source')})  first frame p99 {d['first_frame_ms']['p99']} ms")
EOF
}
echo "== 2. latency added by the rings ($LAG_PLAYERS players, merged writes off)"
lag_run single 1 --single-process
lag_run tree 2

load_run() { # workers
    local w=$1 name="load$1"
    start_server "$name" "$w"
    "$B" publish --url "rtmp://127.0.0.1:$PORT/live/load" --file "$WORK/in.flv" --duration $((LOAD_S + 30)) >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 2
    "$B" play --url "rtmp://127.0.0.1:$PORT/live/load" -n "$LOAD_PLAYERS" --ramp 500 --duration "$LOAD_S" \
        --stream-kbps 500 --json-out "$WORK/$name.json" >/dev/null 2>&1 &
    local bp=$!
    sleep $((LOAD_PLAYERS / 500 + 4))
    local P; P=$(tree_pids "$SERVER_PID")
    local t0; t0=$(ticks $P)
    local window=$((LOAD_S - LOAD_PLAYERS / 500 - 6))
    sleep "$window"
    local t1; t1=$(ticks $P)
    wait "$bp" || true
    stop_server
    python3 - "$WORK/$name.json" "$w" "$((t1 - t0))" "$HZ" "$window" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w, ticks, hz, window = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu = ticks / hz
gbit = d["kbps_total_avg"] * 1000 * window / 1e9
print(f"{w} worker(s): {d['connected']} players, server CPU {cpu/window:.2f} cores, "
      f"{cpu/gbit:.3f} CPU-s per delivered Gbit, below 90%: {d['below_90pct']}, "
      f"first frame p99 {d['first_frame_ms']['p99']} ms, lag p99 {d['lag_ms']['p99']} ms")
EOF
}
echo "== 3. 1 vs 2 stream workers ($LOAD_PLAYERS players at 500 kbps; srs-bench shares the machine)"
load_run 1
load_run 2
