#!/usr/bin/env bash
# Benchmark srs-rs against nginx-rtmp on this machine, in the same run.
#
#   scripts/bench.sh                         # 500, 1000, 2000, 4000 players (10-15 minutes)
#   STEPS="500 1000" DURATION=20 scripts/bench.sh
#   REV=HEAD scripts/bench.sh                # a clean build of a commit, not the working tree
#
# Builds the release binaries, installs nginx and libnginx-mod-rtmp (and ffmpeg, for the
# test file) with apt-get when missing, then for each step and each server: starts the
# server on a free loopback port with matching settings (chunk_size 60000, one worker
# process, live only: no HLS, no recording, no exec), publishes the same ~500 kbps stream
# with `srs-bench publish`, runs `srs-bench play` with the step's player count, and
# measures the server over a fixed window once every player has started:
#
# - CPU-seconds per delivered Gbit: utime + stime of every process of the server (master
#   and children, from /proc/PID/stat) over the window, divided by the payload (audio,
#   video and data message bodies, as srs-bench counts them) the players received in the
#   same window;
# - memory per player: PSS of every process of the server (/proc/PID/smaps_rollup) with the
#   players connected, minus PSS with the publisher alone, divided by the players;
# - from srs-bench: players below 90 % of the stream's bitrate, first-frame p99, lag p99
#   (lag from the clock SEI srs-bench puts in the H.264 frames: nginx-rtmp drops data
#   messages).
#
# The servers run on core 0 and srs-bench on the other cores (taskset) when there are two
# or more; the output says which. On loopback the kernel's receive work for the players
# lands on the server's core, so the table also shows that whole core per Gbit.
#
# Each server is started afresh for every step, so steps do not inherit memory. Tables go
# to stdout, progress to stderr; every number is also written as JSON (path printed).
# Every process the script starts is stopped when it ends, Ctrl-C included.
#
# Environment:
#   STEPS       player counts                          "500 1000 2000 4000"
#   DURATION    measured seconds per step               20
#   SETTLE      seconds from the last player's start to the window   3
#   RAMP        players started per second              250
#   KBPS        bitrate of the test stream              500
#   WORKERS2    1: also run srs-rs with worker_processes 2 (not pinned)   1
#   BUILD       1: cargo build --release --bins first   1
#   REV         measure this commit instead of the working tree: it is exported (git
#               archive) to the work directory and built there, into target/bench-rev
#   SERVER_CPUS cores for the servers                   0 (when nproc >= 2)
#   LOAD_CPUS   cores for srs-bench and this script     the others
#   OUT         JSON output                             target/bench/bench-<time>.json
#   KEEP        1: keep the work directory (configs, logs, per-run JSON)
#   QUIET_WAIT  seconds to wait, before each run, for the machine to be idle    30
#   QUIET_BUSY  idle means: all cores together less busy than this (%)          15
set -euo pipefail
# One compound command: bash reads all of it before running any, so editing this file while
# it runs cannot change what the run does.
{
cd "$(dirname "$0")/.."
ROOT=$PWD

STEPS=${STEPS:-"500 1000 2000 4000"}
DURATION=${DURATION:-20}
SETTLE=${SETTLE:-3}
RAMP=${RAMP:-250}
KBPS=${KBPS:-500}
WORKERS2=${WORKERS2:-1}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-30}
QUIET_BUSY=${QUIET_BUSY:-15}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$ROOT/target/bench/bench-$STAMP.json}
CHUNK_SIZE=60000

say() { printf '%s\n' "$*" >&2; }
die() {
    say "bench: $*"
    exit 1
}
# Floating-point arithmetic: calc EXPR [printf format].
calc() { awk -v f="${2:-%.3f}" "BEGIN { printf f, ($1) }"; }

for n in $STEPS $DURATION $SETTLE $RAMP $KBPS; do
    [[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || die "STEPS, DURATION, SETTLE, RAMP and KBPS take positive integers (got '$n')"
done

# ---------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------

rtmp_module() {
    local f
    for f in /usr/lib/nginx/modules/ngx_rtmp_module.so /usr/share/nginx/modules/ngx_rtmp_module.so; do
        [[ -f $f ]] && { echo "$f"; return 0; }
    done
    # Debian names the module in modules-available; a relative path is under the prefix.
    f=$(sed -n 's/^[[:space:]]*load_module[[:space:]]*\([^;]*rtmp[^;]*\);.*/\1/p' \
        /usr/share/nginx/modules-available/*rtmp* 2>/dev/null | head -1)
    [[ -n $f && $f != /* ]] && f=/usr/share/nginx/$f
    [[ -n $f && -f $f ]] && { echo "$f"; return 0; }
    return 1
}

install_packages() {
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    say "bench: installing $* (apt-get)"
    # Keep the package's own nginx service from starting on port 80: we run our own.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        made_policy=1
    fi
    local rc=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ||
        { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "$@"; } || rc=$?
    [[ $made_policy -eq 1 ]] && "${sudo[@]}" rm -f "$policy"
    return $rc
}

need=()
command -v nginx >/dev/null || need+=(nginx)
rtmp_module >/dev/null || need+=(libnginx-mod-rtmp)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v taskset >/dev/null || need+=(util-linux)
if [[ ${#need[@]} -gt 0 ]]; then
    install_packages "${need[@]}" || die "could not install ${need[*]}"
fi
NGINX=$(command -v nginx) || die "nginx not found after installing it"
RTMP_SO=$(rtmp_module) || die "ngx_rtmp_module.so not found after installing libnginx-mod-rtmp"
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
RTMP_VERSION=$(dpkg-query -W -f='${Version}' libnginx-mod-rtmp 2>/dev/null || echo unknown)

# Every process started is recorded in STARTED and stopped (stop_tree, below) on exit.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/srs-rs-bench.XXXXXX")
STARTED=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${STARTED[@]}"; do stop_tree "$pid"; done
    if [[ $KEEP == 1 ]]; then say "bench: work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'say "bench: interrupted"; exit 130' INT
trap 'exit 143' TERM

SRC=$ROOT
BIN=$ROOT/target/release
if [[ -n ${REV:-} ]]; then
    # A clean copy of one commit, so that edits in the working tree do not leak in.
    COMMIT=$(git log --oneline -1 "$REV") || die "unknown REV $REV"
    SRC=$WORK/src
    mkdir -p "$SRC"
    git archive "$REV" | tar -x -C "$SRC"
    export CARGO_TARGET_DIR=$ROOT/target/bench-rev
    BIN=$CARGO_TARGET_DIR/release
    BUILD=1
else
    COMMIT=$(git log --oneline -1 2>/dev/null || echo unknown)
    git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (plus uncommitted changes)"
fi
if [[ $BUILD == 1 ]]; then
    say "bench: cargo build --release --bins (in $SRC)"
    (cd "$SRC" && cargo build --release --bins >&2)
fi
BENCH=$BIN/srs-bench
MASTER=$BIN/srs-master
[[ -x $BENCH && -x $MASTER ]] || die "no release binaries in $BIN: run cargo build --release --bins (or BUILD=1)"

# Players need a descriptor each, in srs-bench and in the server.
max_step=0
for n in $STEPS; do if ((n > max_step)); then max_step=$n; fi; done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < max_step + 200)); then
    say "bench: WARNING: ulimit -n is $(ulimit -n), below $max_step players; raise the hard limit (limits.conf) or run as root"
fi

# ---------------------------------------------------------------------------------------
# Pinning: servers on one core, the load tool (and this script) on the others.
# ---------------------------------------------------------------------------------------

NCPU=$(nproc)
ALL_CPUS="0-$((NCPU - 1))"
if ((NCPU >= 2)); then
    SERVER_CPUS=${SERVER_CPUS:-0}
    if ((NCPU == 2)); then LOAD_CPUS=${LOAD_CPUS:-1}; else LOAD_CPUS=${LOAD_CPUS:-1-$((NCPU - 1))}; fi
    PINNING="servers pinned to core(s) $SERVER_CPUS, srs-bench (players and publisher) to core(s) $LOAD_CPUS, with taskset -c"
else
    SERVER_CPUS=$ALL_CPUS
    LOAD_CPUS=$ALL_CPUS
    PINNING="not pinned: 1 core, servers and srs-bench share it (CPU figures of the server are still its own)"
fi
# Cores in a taskset list ("1-3,5" -> 4).
count_cpus() {
    local n=0 part
    for part in ${1//,/ }; do
        if [[ $part == *-* ]]; then n=$((n + ${part#*-} - ${part%-*} + 1)); else n=$((n + 1)); fi
    done
    echo "$n"
}
LOAD_NCPU=$(count_cpus "$LOAD_CPUS")
SERVER_NCPU=$(count_cpus "$SERVER_CPUS")
PLAY_THREADS=$LOAD_NCPU
# The script's own sampling stays off the server's core.
taskset -pc "$LOAD_CPUS" $$ >/dev/null
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------
# Processes: measuring them, stopping them.
# ---------------------------------------------------------------------------------------


# PID and all its descendants, from the parent pids in /proc/*/stat.
tree_pids() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
        { pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " "); parent[pid] = f[2] }
        END {
            if (!(root in parent)) exit
            keep[root] = 1
            do {
                grown = 0
                for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grown = 1 }
            } while (grown)
            for (p in keep) print p
        }'
}

# utime + stime of PIDS (all their threads), in clock ticks.
cpu_ticks() {
    local p files=()
    for p in "$@"; do files+=("/proc/$p/stat"); done
    [[ ${#files[@]} -gt 0 ]] || { echo 0; return; }
    { cat "${files[@]}" 2>/dev/null || true; } | awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }'
}

# Sum of PSS of PIDS, in KB.
pss_kb() {
    local p total=0 kb
    for p in "$@"; do
        kb=$(awk '/^Pss:/ { s += $2 } END { print s + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null ||
            awk '/^Pss:/ { s += $2 } END { print s + 0 }' "/proc/$p/smaps" 2>/dev/null || echo 0)
        total=$((total + kb))
    done
    echo "$total"
}

# "cpuN total idle" for each core, from /proc/stat.
core_times() { awk '/^cpu[0-9]/ { t = 0; for (i = 2; i <= NF; i++) t += $i; print $1, t, $5 + $6 }' /proc/stat; }

# Busy share of each core between two core_times samples: "cpu0=97% cpu1=40%".
core_busy() {
    awk 'NR == FNR { t[$1] = $2; i[$1] = $3; next }
         { dt = $2 - t[$1]; di = $3 - i[$1]; printf "%s%s=%.0f%%", sep, $1, (dt > 0 ? 100 * (dt - di) / dt : 0); sep = " " }
         END { print "" }' <(echo "$1") <(echo "$2")
}

# CPU-seconds the cores of a taskset list were busy between two core_times samples, whoever
# used them (processes, softirq): cores_cpu_s CPUS A B.
cores_cpu_s() {
    awk -v cpus=",$(expand_cpus "$1")," -v hz="$CLK_TCK" '
        { c = substr($1, 4); if (index(cpus, "," c ",") == 0) next }
        NR == FNR { t[$1] = $2; i[$1] = $3; next }
        { s += ($2 - t[$1]) - ($3 - i[$1]) }
        END { printf "%.3f", s / hz }' <(echo "$2") <(echo "$3")
}

# Busy share of all cores together between two core_times samples, in %.
all_busy() {
    awk 'NR == FNR { t += $2; i += $3; next } { dt += $2; di += $3 }
         END { dt -= t; di -= i; printf "%.0f", (dt > 0 ? 100 * (dt - di) / dt : 0) }' <(echo "$1") <(echo "$2")
}

# Highest busy share among the cores of a taskset list: max_busy CPUS "cpu0=97% cpu1=40%".
max_busy() {
    local cpus=",$(expand_cpus "$1")," v c m=0
    for v in $2; do
        c=${v%%=*}
        [[ $cpus == *",${c#cpu},"* ]] || continue
        v=${v#*=}
        v=${v%\%}
        if ((v > m)); then m=$v; fi
    done
    echo "$m"
}

# Wait until the machine is idle apart from us (up to QUIET_WAIT seconds): a build or a test
# run of someone else would be measured as slowness of the server or of the load tool.
# Prints the busy share seen last.
wait_quiet() {
    local a b busy=0 waited=0
    while :; do
        a=$(core_times)
        sleep 1
        b=$(core_times)
        busy=$(all_busy "$a" "$b")
        ((busy < QUIET_BUSY || waited >= QUIET_WAIT)) && break
        ((waited == 0)) && say "bench: machine ${busy}% busy, waiting up to ${QUIET_WAIT}s for it to calm down"
        sleep 1
        waited=$((waited + 2))
    done
    ((busy < QUIET_BUSY)) || say "bench: WARNING: machine still ${busy}% busy after ${QUIET_WAIT}s: measuring anyway, expect noise"
    echo "$busy"
}

alive() { kill -0 "$1" 2>/dev/null; }

# Drop a reaped process from STARTED, so that cleanup never signals a recycled pid.
forget() {
    local keep=() p
    for p in "${STARTED[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# Stop a process we started, and whatever it left behind: SIGTERM, then SIGKILL after 8 s.
stop_tree() {
    local pid=$1 kids i
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || true
        forget "$pid"
        return 0
    fi
    kids=$(tree_pids "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 80; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Children that outlived their parent (nginx workers of a killed master).
    for i in $kids; do
        [[ $i != "$pid" ]] && alive "$i" && kill -KILL "$i" 2>/dev/null || true
    done
    forget "$pid"
}


# Ports: a random high port below the ephemeral range that nothing on this machine uses.
USED_PORTS=" "
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v h=":$hex" '$2 ~ h"$" { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# Sets PORT (not a subshell: USED_PORTS must remember it).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        [[ $USED_PORTS == *" $p "* ]] && continue
        port_in_use "$p" && continue
        USED_PORTS+="$p "
        PORT=$p
        return 0
    done
    die "no free port found"
}
wait_listen() {
    local hex i
    hex=$(printf '%04X' "$1")
    for ((i = 0; i < 100; i++)); do
        awk -v h=":$hex" '$2 ~ h"$" && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# The servers
# ---------------------------------------------------------------------------------------

# start_server KIND PORT DIR: nginx | ours1 | ours2. Sets SERVER_PID.
start_server() {
    local kind=$1 port=$2 dir=$3
    mkdir -p "$dir"
    case $kind in
        nginx)
            # nginx-rtmp defaults kept (see the report): wait_key on, wait_video off,
            # interleave off, sync 300ms, buflen 1000ms, out_queue 256, out_cork 32.
            cat >"$dir/nginx.conf" <<EOF
load_module $RTMP_SO;
worker_processes 1;
worker_rlimit_nofile $(ulimit -n);
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 20000;
}
rtmp {
    server {
        listen 127.0.0.1:$port;
        chunk_size $CHUNK_SIZE;
        application live {
            live on;
        }
    }
}
EOF
            taskset -c "$SERVER_CPUS" "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
                >"$dir/stdout.log" 2>&1 &
            ;;
        ours1 | ours2)
            local workers=${kind#ours} cpus=$SERVER_CPUS
            # Two workers on one core would only take turns: the 2-worker run gets every core.
            [[ $workers == 2 ]] && cpus=$ALL_CPUS
            cat >"$dir/srs.conf" <<EOF
listen 127.0.0.1:$port;
max_connections 20000;
chunk_size $CHUNK_SIZE;
pid $dir/srs.pid;
run_dir $dir/run;
daemon off;
srs_log_tank console;
srs_log_level warn;
worker_processes $workers;
vhost __defaultVhost__ {
}
EOF
            taskset -c "$cpus" "$MASTER" -c "$dir/srs.conf" >"$dir/stdout.log" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    if ! wait_listen "$port"; then
        cat "$dir/stdout.log" "$dir/error.log" 2>/dev/null | tail -20 >&2
        die "$kind did not listen on port $port"
    fi
}

# start_publisher PORT DIR: sets PUB_PID; waits until it publishes.
start_publisher() {
    local port=$1 dir=$2 i
    taskset -c "$LOAD_CPUS" "$BENCH" publish --url "rtmp://127.0.0.1:$port/live/livestream" \
        --file "$WORK/in.flv" --duration 86400 >"$dir/publish.log" 2>"$dir/publish.err" &
    PUB_PID=$!
    STARTED+=("$PUB_PID")
    for ((i = 0; i < 150; i++)); do
        grep -q 'publishing=1' "$dir/publish.log" 2>/dev/null && return 0
        alive "$PUB_PID" || break
        sleep 0.1
    done
    cat "$dir/publish.err" >&2
    die "the publisher did not start publishing to port $port"
}

# JSON field from srs-bench's summary: json_field LINE KEY [SUBKEY].
json_field() {
    local line=$1 key=$2 sub=${3:-}
    if [[ -n $sub ]]; then
        sed -n "s/.*\"$key\":{[^}]*\"$sub\":\([^,}]*\).*/\1/p" <<<"$line"
    else
        sed -n "s/.*\"$key\":\([^,}]*\).*/\1/p" <<<"$line" | tr -d '"'
    fi
}

declare -A R # results: R[kind,step,metric]

# run_one KIND STEP: one server, one player count.
run_one() {
    local kind=$1 n=$2
    local dir="$WORK/$kind-$n" port
    free_port
    port=$PORT
    local ramp_s=$(((n + RAMP - 1) / RAMP))
    local k0=$((ramp_s + SETTLE)) k1=$((ramp_s + SETTLE + DURATION))
    R[$kind,$n,busy_before]=$(wait_quiet)
    say "bench: $kind, $n players: port $port, ramp ${ramp_s}s, window t=${k0}s..${k1}s"
    start_server "$kind" "$port" "$dir"
    start_publisher "$port" "$dir"
    # One GOP (2 s) in, so the stream and the GOP cache are in their steady state.
    sleep 3
    local pids pss0
    pids=$(tree_pids "$SERVER_PID")
    pss0=$(pss_kb $pids)

    local line t kbps sum_kbps=0 got_k1=0 summary="" bench_pid fd
    local c0=0 c1=0 b0=0 b1=0 w0 w1 cores0="" cores1="" pss1=0 connected=0 pids1=""
    # srs-bench prints a line at each whole second of its run: the window starts and ends
    # on those lines, so CPU samples and the payload counts cover the same seconds.
    exec {fd}< <(exec taskset -c "$LOAD_CPUS" "$BENCH" play --url "rtmp://127.0.0.1:$port/live/livestream" \
        -n "$n" --ramp "$RAMP" --duration "$((k1 + 1))" --stream-kbps "$FILE_KBPS" \
        --threads "$PLAY_THREADS" --json-out "$dir/play.json" 2>"$dir/play.err")
    bench_pid=$!
    STARTED+=("$bench_pid")
    while IFS= read -r -u "$fd" line; do
        echo "$line" >>"$dir/play.log"
        if [[ $line =~ ^t=([0-9]+)s\ .*kbps_total=([0-9]+) ]]; then
            t=${BASH_REMATCH[1]}
            kbps=${BASH_REMATCH[2]}
            if ((t == k0)); then
                pids=$(tree_pids "$SERVER_PID")
                c0=$(cpu_ticks $pids)
                b0=$(cpu_ticks "$bench_pid" "$PUB_PID")
                cores0=$(core_times)
                w0=$(date +%s.%N)
                R[$kind,$n,loadavg]=$(cut -d' ' -f1 /proc/loadavg)
            elif ((t > k0 && t <= k1)); then
                sum_kbps=$((sum_kbps + kbps))
            fi
            if ((t == k1)); then
                pids1=$(tree_pids "$SERVER_PID")
                c1=$(cpu_ticks $pids1)
                b1=$(cpu_ticks "$bench_pid" "$PUB_PID")
                cores1=$(core_times)
                w1=$(date +%s.%N)
                pss1=$(pss_kb $pids1)
                connected=$(sed -n 's/.* connected=\([0-9]*\).*/\1/p' <<<"$line")
                got_k1=1
            fi
        elif [[ $line == '{'* ]]; then
            summary=$line
        fi
    done
    exec {fd}<&-
    wait "$bench_pid" 2>/dev/null || true
    forget "$bench_pid"
    stop_tree "$PUB_PID"
    stop_tree "$SERVER_PID"

    local key="$kind,$n"
    if [[ $got_k1 != 1 || -z $summary ]]; then
        say "bench: $kind, $n players: srs-bench ended early (see below); step not measured"
        tail -5 "$dir/play.err" >&2 || true
        R[$key,ok]=0
        return
    fi
    if [[ $(sort <<<"$pids") != "$(sort <<<"$pids1")" ]]; then
        say "bench: WARNING: $kind's processes changed during the window (a restart?): $pids -> $pids1"
    fi
    local window cpu_s gbit
    window=$(calc "$w1 - $w0")
    cpu_s=$(calc "($c1 - $c0) / $CLK_TCK")
    gbit=$(calc "$sum_kbps / 1e6" "%.4f")
    R[$key,ok]=1
    R[$key,window_s]=$window
    R[$key,cpu_s]=$cpu_s
    R[$key,payload_gbit]=$gbit
    R[$key,payload_mbps]=$(calc "$sum_kbps / 1000 / $DURATION" "%.1f")
    R[$key,cpu_per_gbit]=$(calc "$gbit > 0 ? $cpu_s / $gbit : -1")
    R[$key,server_cores]=$(calc "$cpu_s / $window" "%.2f")
    R[$key,load_cores]=$(calc "($b1 - $b0) / $CLK_TCK / $window" "%.2f")
    R[$key,core_busy]=$(core_busy "$cores0" "$cores1")
    # The whole server core, softirq included: on loopback the kernel's receive work for
    # the players' sockets runs on the sending core, and is nobody's utime or stime.
    if [[ $SERVER_NCPU -lt $NCPU && $kind != ours2 ]]; then
        R[$key,core_cpu_per_gbit]=$(calc "$gbit > 0 ? $(cores_cpu_s "$SERVER_CPUS" "$cores0" "$cores1") / $gbit : -1")
    fi
    R[$key,pss0_kb]=$pss0
    R[$key,pss_kb]=$pss1
    R[$key,connected_at_window_end]=$connected
    R[$key,pss_per_player_kb]=$(calc "$connected > 0 ? ($pss1 - $pss0) / $connected : -1" "%.1f")
    R[$key,processes]=$(wc -w <<<"$pids1")
    R[$key,summary]=$summary
    local f
    for f in connected failed disconnects below_90pct judged stream_kbps lag_source; do
        R[$key,$f]=$(json_field "$summary" "$f")
    done
    R[$key,first_frame_p99]=$(json_field "$summary" first_frame_ms p99)
    R[$key,first_frame_p50]=$(json_field "$summary" first_frame_ms p50)
    R[$key,lag_p99]=$(json_field "$summary" lag_ms p99)
    R[$key,lag_p50]=$(json_field "$summary" lag_ms p50)
    say "bench: $kind, $n players: ${R[$key,server_cores]} server cores, ${R[$key,payload_mbps]} Mbit/s, first frame p99 ${R[$key,first_frame_p99]} ms, below 90%: ${R[$key,below_90pct]}"
}

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

KINDS="nginx ours1"
[[ $WORKERS2 == 1 ]] && KINDS="$KINDS ours2"
declare -A NAME=([nginx]="nginx-rtmp" [ours1]="srs-rs" [ours2]="srs-rs w2*")

val() { echo "${R[$1,$2,$3]:-}"; }
# ours / nginx for a metric, or "-".
ratio() {
    local a b
    a=$(val ours1 "$1" "$2")
    b=$(val nginx "$1" "$2")
    if [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] && awk "BEGIN { exit !($b > 0) }"; then
        calc "$a / $b" "%.2f"
    else
        echo "-"
    fi
}
# Busy share of the servers' core(s) in a run ("cpu0=97%" -> 97), the highest of them.
server_core_busy() { max_busy "$SERVER_CPUS" "$(val "$1" "$2" core_busy)"; }
expand_cpus() {
    local out=() part i
    for part in ${1//,/ }; do
        if [[ $part == *-* ]]; then
            for ((i = ${part%-*}; i <= ${part#*-}; i++)); do out+=("$i"); done
        else
            out+=("$part")
        fi
    done
    local IFS=,
    echo "${out[*]}"
}

row() { printf '%-38s %14s %14s %11s  %s\n' "$@"; }

# Targets per step, filled by print_step: TARGET[step,name] = met | NOT met | ...
declare -A TARGET

print_step() {
    local n=$1 k extra
    echo
    echo "=== $n players: ramp $RAMP/s, window of ${DURATION}s starting ${SETTLE}s after the last player started ==="
    local cols=("" "${NAME[nginx]}" "${NAME[ours1]}" "ours/nginx")
    [[ $WORKERS2 == 1 ]] && cols+=("${NAME[ours2]}")
    printf '%-38s %14s %14s %11s' "${cols[@]:0:4}"
    [[ $WORKERS2 == 1 ]] && printf ' %14s' "${cols[4]}"
    echo "   target"
    line() { # label metric target-text
        local label=$1 m=$2 target=${3:-}
        printf '%-38s %14s %14s %11s' "$label" "$(val nginx "$n" "$m")" "$(val ours1 "$n" "$m")" \
            "$([[ ${4:-ratio} == ratio ]] && ratio "$n" "$m" || echo "")"
        [[ $WORKERS2 == 1 ]] && printf ' %14s' "$(val ours2 "$n" "$m")"
        echo "   $target"
    }
    for k in $KINDS; do
        [[ $(val "$k" "$n" ok) == 1 ]] || echo "  (${NAME[$k]}: not measured, see the messages above)"
    done
    line "server CPU-s per Gbit of payload" cpu_per_gbit "ours <= 0.25x"
    line "  server CPU, cores" server_cores
    line "  whole server core, CPU-s per Gbit" core_cpu_per_gbit
    line "  payload delivered, Mbit/s" payload_mbps
    line "memory PSS per player, KB" pss_per_player_kb "ours <= 0.5x"
    line "  PSS with publisher only, KB" pss0_kb
    line "  PSS with players, KB" pss_kb
    line "players connected" connected "" none
    line "  failed to connect" failed "" none
    line "  dropped after playing" disconnects "" none
    line "players below 90% of $FILE_KBPS kbps" below_90pct "0 until CPU-bound" none
    line "first frame p50, ms" first_frame_p50
    line "first frame p99, ms" first_frame_p99 "ours < 150 ms"
    line "lag p50, ms" lag_p50
    line "lag p99, ms" lag_p99
    line "load tool CPU (srs-bench), cores" load_cores "" none
    line "machine busy before the run, %" busy_before "" none
    line "load average at the window start" loadavg "" none
    local errs
    for k in $KINDS; do
        [[ $(val "$k" "$n" ok) == 1 ]] || continue
        printf '  %-12s core busy in the window: %s\n' "${NAME[$k]}" "$(val "$k" "$n" core_busy)"
        errs=$(sed -n 's/.*"errors":\({.*}\)}$/\1/p' <<<"$(val "$k" "$n" summary)")
        [[ -z $errs || $errs == "{}" ]] || printf '  %-12s player errors: %s\n' "${NAME[$k]}" "$errs"
    done

    # Targets (srs-rs with one worker against nginx-rtmp).
    local r busy below lt
    r=$(ratio "$n" cpu_per_gbit)
    TARGET[$n,cpu]=$(target_le "$r" 0.25 "x")
    r=$(ratio "$n" pss_per_player_kb)
    TARGET[$n,mem]=$(target_le "$r" 0.5 "x")
    r=$(val ours1 "$n" first_frame_p99)
    TARGET[$n,first_frame]=$(target_lt "$r" 150 " ms")
    below=$(val ours1 "$n" below_90pct)
    busy=$(server_core_busy ours1 "$n")
    if [[ -z $below ]]; then
        TARGET[$n,bitrate]="not measured"
    elif ((below == 0)); then
        TARGET[$n,bitrate]="met (0 below)"
    elif ((busy >= 95)); then
        TARGET[$n,bitrate]="$below below, server core ${busy}% busy: CPU-bound"
    else
        TARGET[$n,bitrate]="NOT met ($below below, server core only ${busy}% busy)"
    fi
    local lb
    local nf nb
    nf=$(val nginx "$n" failed)
    nb=$(val nginx "$n" below_90pct)
    if [[ ${nf:-0} != 0 || ${nb:-0} != 0 ]]; then
        echo "  NOTE: nginx-rtmp did not serve every player at this step (${nf:-?} failed, ${nb:-?} below 90 %): the ratios compare"
        echo "        against an overloaded nginx-rtmp."
        TARGET[$n,nginx]="nginx-rtmp overloaded: ${nf:-?} failed, ${nb:-?} below 90 %"
    fi
    for k in $KINDS; do
        lt=$(val "$k" "$n" load_cores)
        [[ -n $lt ]] || continue
        lb=$(max_busy "$LOAD_CPUS" "$(val "$k" "$n" core_busy)")
        if awk "BEGIN { exit !($lt >= 0.9 * $LOAD_NCPU) }"; then
            echo "  WARNING: srs-bench used $lt of its $LOAD_NCPU core(s) in the ${NAME[$k]} run: the load tool is at its limit, so"
            echo "           rates, first frames and lag of that run partly measure srs-bench, not the server."
            TARGET[$n,load]="srs-bench saturated in the ${NAME[$k]} run"
        elif [[ $SERVER_NCPU -lt $NCPU && $k != ours2 ]] && ((lb >= 95)); then
            echo "  WARNING: the load core(s) were ${lb}% busy in the ${NAME[$k]} run but srs-bench used only $lt core(s): other work"
            echo "           (loopback softirq, other processes) crowded it, so players may have read late."
            TARGET[$n,load]="load core(s) crowded in the ${NAME[$k]} run"
        fi
    done
}

target_le() { # value limit unit
    if [[ $1 =~ ^[0-9.]+$ ]]; then
        if awk "BEGIN { exit !($1 <= $2) }"; then echo "met ($1$3)"; else echo "NOT met ($1$3)"; fi
    else
        echo "not measured"
    fi
}
target_lt() {
    if [[ $1 =~ ^[0-9.]+$ ]]; then
        if awk "BEGIN { exit !($1 < $2) }"; then echo "met ($1$3)"; else echo "NOT met ($1$3)"; fi
    else
        echo "not measured"
    fi
}

json_str() { printf '"%s"' "$(sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$1")"; }
json_num() { if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then echo "$1"; else echo null; fi; }

write_json() {
    local first=1 k n m
    mkdir -p "$(dirname "$OUT")"
    {
        printf '{"commit":%s,"date":%s,' "$(json_str "$COMMIT")" "$(json_str "$(date -Iseconds)")"
        printf '"machine":{"nproc":%s,"cpu":%s,"kernel":%s},' "$NCPU" \
            "$(json_str "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)")" "$(json_str "$(uname -r)")"
        printf '"pinning":{"server_cpus":%s,"load_cpus":%s,"how":%s},' "$(json_str "$SERVER_CPUS")" \
            "$(json_str "$LOAD_CPUS")" "$(json_str "$PINNING")"
        printf '"settings":{"steps":[%s],"duration_s":%s,"settle_s":%s,"ramp_per_s":%s,"file_kbps":%s,"chunk_size":%s},' \
            "$(tr ' ' ',' <<<"$(echo $STEPS)")" "$DURATION" "$SETTLE" "$RAMP" "$FILE_KBPS" "$CHUNK_SIZE"
        printf '"nginx":{"version":%s,"rtmp_module":%s,"rtmp_module_version":%s},' "$(json_str "$NGINX_VERSION")" \
            "$(json_str "$RTMP_SO")" "$(json_str "$RTMP_VERSION")"
        printf '"notes":%s,' "$(json_str "payload = audio, video and data message bodies received by the players; cpu = utime+stime of every server process over the window; pss per player = (PSS with players - PSS with the publisher only) / players connected at the end of the window; srs-rs w2 = worker_processes 2, not pinned")"
        printf '"runs":['
        for n in $STEPS; do
            for k in $KINDS; do
                [[ $first == 1 ]] || printf ','
                first=0
                printf '{"server":%s,"players":%s,"measured":%s' "$(json_str "${NAME[$k]}")" "$n" \
                    "$([[ $(val "$k" "$n" ok) == 1 ]] && echo true || echo false)"
                if [[ $(val "$k" "$n" ok) == 1 ]]; then
                    printf ',"workers":%s' "$([[ $k == ours2 ]] && echo 2 || echo 1)"
                    for m in window_s cpu_s payload_gbit payload_mbps cpu_per_gbit core_cpu_per_gbit server_cores load_cores pss0_kb pss_kb \
                        connected_at_window_end pss_per_player_kb processes loadavg busy_before; do
                        printf ',"%s":%s' "$m" "$(json_num "$(val "$k" "$n" "$m")")"
                    done
                    printf ',"core_busy":%s,"srs_bench":%s' "$(json_str "$(val "$k" "$n" core_busy)")" "$(val "$k" "$n" summary)"
                fi
                printf '}'
            done
        done
        printf '],"targets":{'
        first=1
        for n in $STEPS; do
            [[ $first == 1 ]] || printf ','
            first=0
            printf '"%s":{"cpu_ratio_le_0.25":%s,"memory_ratio_le_0.5":%s,"first_frame_p99_lt_150ms":%s,"no_player_below_90pct":%s,"load_tool":%s,"nginx":%s}' \
                "$n" "$(json_str "${TARGET[$n,cpu]:-}")" "$(json_str "${TARGET[$n,mem]:-}")" \
                "$(json_str "${TARGET[$n,first_frame]:-}")" "$(json_str "${TARGET[$n,bitrate]:-}")" \
                "$(json_str "${TARGET[$n,load]:-ok}")" "$(json_str "${TARGET[$n,nginx]:-ok}")"
        done
        printf '}}\n'
    } >"$OUT"
}

# ---------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------

say "bench: making a ${KBPS} kbps test stream (30 s, looped)"
taskset -c "$LOAD_CPUS" "$BENCH" make-flv --out "$WORK/in.flv" --seconds 30 --kbps "$KBPS" >&2
# The rate of what the publisher loops, for the 90 % rule (srs-bench publish prints it).
FILE_KBPS=$("$BENCH" publish --url rtmp://127.0.0.1:1/live/x --file "$WORK/in.flv" --duration 0.1 --timeout 0.1 2>&1 >/dev/null |
    sed -n 's/.* \([0-9]*\) kbps$/\1/p' | head -1)
[[ $FILE_KBPS =~ ^[0-9]+$ ]] || die "could not read the test stream's bitrate"

load=$(cut -d' ' -f1 /proc/loadavg)
{
    echo "srs-rs vs nginx-rtmp, $(date -Iseconds)"
    echo "commit:   $COMMIT"
    echo "machine:  $NCPU cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average $load at start"
    echo "pinning:  $PINNING"
    echo "stream:   srs-bench make-flv, H.264 + AAC, $FILE_KBPS kbps of payload, GOP 2 s, one publisher (srs-bench publish)"
    echo "nginx:    $NGINX_VERSION, libnginx-mod-rtmp $RTMP_VERSION; worker_processes 1, chunk_size $CHUNK_SIZE, live on;"
    echo "          its defaults kept: wait_key on (a new player waits for the next keyframe: no GOP cache), wait_video off,"
    echo "          interleave off, sync 300ms, buflen 1000ms, out_queue 256, out_cork 32. It relays no data messages, so"
    echo "          lag comes from SEI stamps in the video frames (for both servers)."
    echo "srs-rs:   worker_processes 1, chunk_size $CHUNK_SIZE, its defaults otherwise (gop_cache on, mw_latency 350)"
    [[ $WORKERS2 == 1 ]] && echo "          srs-rs w2* = worker_processes 2, not pinned (server on all cores, srs-bench still on $LOAD_CPUS)"
    echo "players:  srs-bench play, RTMP, --read-interval-ms 200 (one lag probe per 50 players), --threads $PLAY_THREADS"
    echo "CPU per Gbit = CPU-seconds of all server processes / Gbit of payload received by the players, same window."
echo "  (\"whole server core\": every busy CPU-second of the server's core, softirq and any other process included;"
echo "  on loopback the kernel's receive work for the players' sockets lands there and is no process's CPU time)"
}
if awk "BEGIN { exit !($load > 0.5 * $NCPU) }"; then
    say "bench: WARNING: load average $load before starting: something else is busy, numbers will be noisy"
fi

for n in $STEPS; do
    for k in $KINDS; do
        run_one "$k" "$n"
    done
    print_step "$n"
done

echo
echo "=== Targets (srs-rs, worker_processes 1, against nginx-rtmp in this run; commit ${COMMIT%% *}) ==="
printf '%-8s %-22s %-22s %-22s %s\n' players "CPU/Gbit <= 0.25x" "PSS/player <= 0.5x" "first frame < 150 ms" "no player below 90%"
for n in $STEPS; do
    printf '%-8s %-22s %-22s %-22s %s\n' "$n" "${TARGET[$n,cpu]}" "${TARGET[$n,mem]}" "${TARGET[$n,first_frame]}" "${TARGET[$n,bitrate]}"
    [[ -n ${TARGET[$n,nginx]:-} ]] && echo "         (${TARGET[$n,nginx]}: the ratios flatter srs-rs)"
    [[ -n ${TARGET[$n,load]:-} ]] && echo "         (${TARGET[$n,load]}: its rates and latencies partly measure the load side)"
done
write_json
echo
echo "JSON: $OUT"
exit
}
