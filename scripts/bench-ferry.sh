#!/usr/bin/env bash
# The first table of docs/PERFORMANCE.md: ferry alone, server on core 0,
# ferry bench on core 1, a fresh server for each scenario.
#
#   scripts/bench-ferry.sh [FERRY_BINARY] [OUT_DIR]
#
# FERRY_BINARY defaults to target/release/ferry (`cargo build --release`).
# Each run's JSON line is appended to OUT_DIR/results.jsonl (default
# bench-results/); OUT_DIR/runs.txt says when and how busy the machine was.
# Set SCENARIOS to run a subset, e.g. SCENARIOS="idle dm-10000".
# BENCH_BIN picks the generator (default: FERRY_BINARY's own `ferry bench`),
# so that two servers can be measured by one generator.
# WAIT_QUIET=0 skips the wait for an idle machine (interleaved before/after
# runs, where both binaries see the same noise); runs.txt still records it.
set -euo pipefail

FERRY=${1:-target/release/ferry}
OUT=${2:-bench-results}
PORT=${PORT:-16668}
SCENARIOS=${SCENARIOS:-"idle idle-20000 dm-5000 dm-10000 dm-20000 dm-40000 fanout-1000 dm-max"}
mkdir -p "$OUT"
FERRY=$(readlink -f "$FERRY")
BENCH=$(readlink -f "${BENCH_BIN:-$FERRY}")

server_pid=""
data=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    [[ -n "$data" ]] && rm -rf "$data"
    data=""
}
trap stop_server EXIT

# ferry's defaults otherwise: loopback is exempt from the per-address
# connection limits and from flood control, or the figures would measure
# those limits (ten clients per address, two lines a second).
start_server() {
    data=$(mktemp -d)
    printf '[limits]\nexempt = ["127.0.0.0/8", "::1"]\n' >"$data/bench.toml"
    taskset -c 0 "$FERRY" serve --config "$data/bench.toml" --listen "127.0.0.1:$PORT" \
        --data-dir "$data/data" >"$OUT/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return; fi
        sleep 0.1
    done
    echo "server did not start; see $OUT/server.log" >&2
    exit 1
}

# Percent of both cores busy over one second (from /proc/stat).
busy_pct() {
    local a b
    a=($(head -1 /proc/stat))
    sleep 1
    b=($(head -1 /proc/stat))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $((100 * (total - idle) / (total > 0 ? total : 1)))
}

compiling() {
    pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null
}

# Compilers or other engineers' tests running beside a measurement make it
# noisy: wait up to 10 minutes for a quiet machine, then measure anyway
# and record how busy it was.
wait_quiet() {
    [[ ${WAIT_QUIET:-1} == 0 ]] && return 0
    for _ in $(seq 60); do
        if ! compiling && [[ $(busy_pct) -lt 10 ]]; then return 0; fi
        sleep 9
    done
}

run() {
    local name=$1
    shift
    wait_quiet
    start_server
    local busy=no
    compiling && busy=yes
    echo "$(date -u +%FT%TZ) $name: cpu busy before start $(busy_pct)%," \
        "load [$(cut -d' ' -f1-3 /proc/loadavg)], compiler running: $busy" | tee -a "$OUT/runs.txt"
    echo "  taskset -c 0 ferry serve --config bench.toml --listen 127.0.0.1:$PORT --data-dir DIR" \
        >>"$OUT/runs.txt"
    echo "  taskset -c 1 ferry bench $* --server 127.0.0.1:$PORT --server-pid $server_pid" \
        >>"$OUT/runs.txt"
    taskset -c 1 "$BENCH" bench "$@" --server "127.0.0.1:$PORT" --server-pid "$server_pid" \
        | tee -a "$OUT/results.jsonl"
    if compiling; then echo "  (a compiler was running when it ended)" >>"$OUT/runs.txt"; fi
    stop_server
}

for s in $SCENARIOS; do
    case $s in
        idle) run idle idle --clients 10000 --rate 2000 --hold 10 ;;
        idle-*) run "$s" idle --clients 10000 --rate "${s#idle-}" --hold 0 --per-source 2000 ;;
        dm-max) run dm-max dm --pairs 1000 --rate 10000 --duration 5 --max ;;
        fanout-max) run fanout-max fanout --channels 100 --members 50 --rate 500 --duration 5 --max ;;
        dm-*) run "$s" dm --pairs 1000 --rate "${s#dm-}" --duration 10 ;;
        fanout-*) run "$s" fanout --channels 100 --members 50 --rate "${s#fanout-}" --duration 10 ;;
        *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
