#!/usr/bin/env bash
# bench/run.sh: the load scenarios of docs/benchmarks.md, against build/release/roomcast
# (and, for S1, the Node `ws` peer in bench/peers), written to docs/benchmarks.md.
#
# Builds nothing: `make bench` builds build/release (roomcast and roomcast-load) first.
# The server runs on CPU $BENCH_SERVER_CPU (taskset), the load tool on $BENCH_TOOL_CPU.
# Every server is started fresh for each run and stopped after it.
#
# S1-redis (opt-in, ~45 s per run: not in the default list) is S1 over Redis scale-out, in
# each run back to back: (a) one roomcast, (b) one roomcast with --redis, (c) two roomcast
# instances with 50 members each on one redis-server. Every roomcast instance and the
# redis-server (fresh per measurement: loopback, free port, no snapshots, no AOF, own temp
# dir) run on $BENCH_SERVER_CPU. It writes its own section of the report (between the
# "S1-redis begin/end" markers) and leaves the rest of the file as it is when it runs
# alone, e.g.:
#   BENCH_SCENARIOS=S1-redis ./bench/run.sh
# and a full run keeps the last S1-redis section when it does not run S1-redis.
#
# Environment overrides (defaults in brackets), e.g. for a quick smoke run:
#   BENCH_RUNS=1 BENCH_DURATION=3 BENCH_STEP_DURATION=2 BENCH_IDLE_DURATION=3 ./bench/run.sh
#   BENCH_RUNS [3]             runs per scenario (the report shows medians)
#   BENCH_DURATION [10]        measured seconds of S1, S1-now, S2
#   BENCH_WARMUP [2]           seconds sent before measuring (each run, each S3 step)
#   BENCH_DRAIN [2]            seconds to collect deliveries after the last send
#   BENCH_STEP_DURATION [5]    measured seconds of each S3 step
#   BENCH_STEPS [0.2,1,2,5,10,11,12,15,20]  S3 rates per connection per second
#   BENCH_IDLE_DURATION [10]   S4 idle period
#   BENCH_IDLE_CONNECTIONS [10000], BENCH_BURST_CONNECTIONS [10000]
#   BENCH_SCENARIOS ["S1 S1A S1-now S1-sweep S2 S2E S2E-disk S2E-hook S3 S4 S5 J floor"]  which scenarios to run
#                              (S1A: S1 and S1 with camera_rate 2 and 10 followers, back to back)
#                              (S1-sweep: S1 at --max-batch-delay 0,1,2,5,10; S2E: S2 with every
#                              20th message an edit (issue 14's overload); S2E-disk: S2E with
#                              --data-dir on BENCH_DATA_PARENT, its fsyncs/s from /metrics and the
#                              disk's own fdatasync latency (roomcast-disk-bench) right after; S2E-hook:
#                              S2E with --webhook to bench/webhook/receiver.js answering at once: event
#                              delay p50/p99, order, duplicates (issue 25); J: 10,000 joins,
#                              256 in flight, at --max-batch-delay 5 and 50; floor: roomcast-floor;
#                              S1-redis: see above, opt-in)
#   BENCH_REDIS_WINDOWS [""]   S1-redis also runs (c) at these --max-batch-delay values (e.g. "1")
#   BENCH_TOOL_THREADS [1]     load tool threads (all on BENCH_TOOL_CPU)
#   BENCH_SERVER_CPU [0], BENCH_TOOL_CPU [1]
#   BENCH_DATA_PARENT [build]  S2E-disk's --data-dir is made under it (a real disk, not tmpfs)
#   BENCH_OUT [docs/benchmarks.md]
#   ROOMCAST_BIN, LOAD_BIN     binaries (default build/release/...)
#   REDIS_BIN                  redis-server for S1-redis (default: the one on PATH)
#   BENCH_RESULTS [build/bench-results]  raw results (emptied first)
#   BENCH_NOTE                 free text put into the report's conditions section
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER_BIN=${ROOMCAST_BIN:-$ROOT/build/release/roomcast}
LOAD_BIN=${LOAD_BIN:-$ROOT/build/release/roomcast-load}
FLOOR_BIN=${FLOOR_BIN:-$ROOT/build/release/roomcast-floor}
PEER_DIR=$ROOT/bench/peers
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
DRAIN=${BENCH_DRAIN:-2}
STEP_DURATION=${BENCH_STEP_DURATION:-5}
STEPS=${BENCH_STEPS:-0.2,1,2,5,10,11,12,15,20}
IDLE_DURATION=${BENCH_IDLE_DURATION:-10}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-10000}
BURST_CONNECTIONS=${BENCH_BURST_CONNECTIONS:-10000}
SCENARIOS=${BENCH_SCENARIOS:-"S1 S1-now S1-sweep S2 S2E S2E-disk S2E-hook S3 S4 S5 J floor"}
DISK_BENCH_BIN=${DISK_BENCH_BIN:-$ROOT/build/release/roomcast-disk-bench}
DATA_PARENT=${BENCH_DATA_PARENT:-$ROOT/build}
#                              (S1A: S1 and S1 with camera_rate 2 and 10 followers, back to back)
REDIS_WINDOWS=${BENCH_REDIS_WINDOWS:-}
REDIS_BIN=${REDIS_BIN:-$(command -v redis-server || true)}
TOOL_THREADS=${BENCH_TOOL_THREADS:-1}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
TOOL_CPU=${BENCH_TOOL_CPU:-1}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}

die() { echo "bench/run.sh: $*" >&2; exit 1; }
[[ -x $SERVER_BIN ]] || die "$SERVER_BIN missing: run 'make bench' (or 'make') first"
[[ -x $LOAD_BIN ]] || die "$LOAD_BIN missing: run 'make bench' (or 'make') first"
has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
if has_scenario floor; then
  [[ -x $FLOOR_BIN ]] || die "$FLOOR_BIN missing: run 'make bench' (or 'make') first"
fi
if has_scenario S2E-disk; then
  [[ -x $DISK_BENCH_BIN ]] || die "$DISK_BENCH_BIN missing: run 'make bench' (or 'make') first"
fi
if has_scenario S1-redis; then
  [[ -n $REDIS_BIN && -x $REDIS_BIN ]] || die "redis-server missing (Debian package redis-server): S1-redis needs it"
fi
command -v taskset >/dev/null || die "taskset missing (Debian package util-linux)"
command -v node >/dev/null || die "node missing (Debian package nodejs)"

# 10,000 connections need 10,000+ descriptors in the tool and in the server.
hard=$(ulimit -Hn)
want=$(( (IDLE_CONNECTIONS > BURST_CONNECTIONS ? IDLE_CONNECTIONS : BURST_CONNECTIONS) + 1024 ))
if [[ $hard != unlimited && $hard -lt $want ]]; then
  ulimit -Hn "$want" 2>/dev/null || die "hard fd limit $hard < $want; raise it (e.g. ulimit -Hn 65536 as root)"
fi
ulimit -n "$(ulimit -Hn)"

# A join burst of 10,000 overflows the default accept queue (somaxconn 4096): dropped SYNs
# wait a second for their retransmit and the scenario measures that instead of the server.
# Raise the queues when we may (root); the report records the values in force.
if [[ $(cat /proc/sys/net/core/somaxconn) -lt 65535 ]]; then
  sysctl -q -w net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 2>/dev/null ||
    echo "bench/run.sh: could not raise net.core.somaxconn (not root?): S5 may show SYN retransmits" >&2
fi

if [[ ! -d $PEER_DIR/node_modules/ws ]]; then
  echo "== npm ci in bench/peers"
  (cd "$PEER_DIR" && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; })
fi

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=${BENCH_RESULTS:-$ROOT/build/bench-results}
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
LOG=$RESULTS/run.log
: > "$RESULTS/commands.txt"
: > "$RESULTS/notes.txt"

SERVER_PID=""
PORT=""
INSTANCE_PIDS=()  # S1-redis: every roomcast instance of the current measurement
REDIS_PID=""
REDIS_PORT=""
REDIS_DIR=""
cleanup() {
  local pid
  for pid in "$SERVER_PID" "${INSTANCE_PIDS[@]}" "$REDIS_PID"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  if [[ -n $REDIS_DIR ]]; then rm -rf "$REDIS_DIR"; fi
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap stops what it started (bash
# runs it once the command in the foreground returns).
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME CMD...: starts CMD in the background and waits (10 s at most) for its
# "listening on 127.0.0.1:PORT" line; sets SERVER_PID and PORT.
start_server() {
  local name=$1; shift
  local out=$RESULTS/$name.server.out
  : >"$out"  # exists before the loop below reads it (the child opens it only after the fork)
  "$@" >"$out" 2>>"$RESULTS/$name.server.err" &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$out" | head -1)
    [[ -n $PORT ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited at start: $(tail -3 "$RESULTS/$name.server.err")"
    sleep 0.05
  done
  [[ -n $PORT ]] || die "$name did not print its listening line within 10 s"
}

stop_pid() {  # SIGTERM, 5 s to exit, then SIGKILL
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  stop_pid "$SERVER_PID"
  SERVER_PID=""
}

record_command() {  # the exact command line, once per scenario/target
  local key=$1; shift
  if ! grep -qF "$key"$'\t' "$RESULTS/commands.txt"; then
    printf '%s\t%s\n' "$key" "$(printf '%q ' "$@")" >> "$RESULTS/commands.txt"
  fi
}

# run_load SCENARIO TARGET RUN ARGS...: one load-tool run against the server started last
# (or, when LOAD_WHERE is set, against the servers it names).
LOAD_WHERE=()
run_load() {
  local scenario=$1 target=$2 run=$3; shift 3
  local where=(--port "$PORT" --server-pid "$SERVER_PID")
  if [[ ${#LOAD_WHERE[@]} -gt 0 ]]; then where=("${LOAD_WHERE[@]}"); fi
  local cmd=(taskset -c "$TOOL_CPU" "$LOAD_BIN" "${where[@]}"
             --threads "$TOOL_THREADS" --json --label "$scenario" "$@")
  record_command "$scenario/$target/load" "${cmd[@]}"
  echo "== $scenario $target run $run: ${cmd[*]}" | tee -a "$LOG"
  local text
  text=$("${cmd[@]}" 2>>"$LOG") || { echo "load tool failed (exit $?)" | tee -a "$LOG"; text=""; }
  printf '%s\n' "$text" >> "$LOG"
  printf '%s\n' "$text" | grep -E '^(WARNING|  (p99_us|lost|deliveries_per_s|server_cpu_pct|all_welcomed_ms|server_rss_per_conn_bytes|same_server_p99_us|cross_server_p99_us|redis_cpu_pct|bytes_in_per_client_per_s|follower_p99_us))' || true
  printf '%s\n' "$text" | grep '^{' | sed "s/^{/{\"target\":\"$target\",\"run\":$run,/" \
    >> "$RESULTS/$scenario.$target.jsonl" || true
}

# roomcast SCENARIO RUN [SERVER FLAGS...] -- LOAD ARGS...
roomcast() {
  local scenario=$1 run=$2; shift 2
  local sflags=()
  while [[ $# -gt 0 && $1 != -- ]]; do sflags+=("$1"); shift; done
  shift
  local cmd=(taskset -c "$SERVER_CPU" "$SERVER_BIN" --listen 127.0.0.1:0 --threads 1 "${sflags[@]}")
  record_command "$scenario/roomcast/server" "${cmd[@]}"
  start_server "$scenario.roomcast.$run" "${cmd[@]}"
  run_load "$scenario" roomcast "$run" "$@"
  stop_server
}

node_peer() {  # SCENARIO RUN -- LOAD ARGS...
  local scenario=$1 run=$2; shift 3
  local cmd=(taskset -c "$SERVER_CPU" node "$PEER_DIR/ws-peer.js" --port 0)
  record_command "$scenario/node/server" "${cmd[@]}"
  start_server "$scenario.node.$run" "${cmd[@]}"
  run_load "$scenario" node "$run" "$@"
  stop_server
}

# A loopback port nobody listens on right now (the kernel's pick; redis-server cannot take
# port 0, so it is asked for this one and start_redis retries if another process took it).
# A counter from the server's /metrics (bash's /dev/tcp: no curl needed).
metric() {
  local port=$1 name=$2 body
  exec 8<>"/dev/tcp/127.0.0.1/$port" || { echo 0; return; }
  printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&8
  body=$(cat <&8)
  exec 8<&-
  printf '%s\n' "$body" | sed -n "s/^$name \([0-9][0-9]*\).*/\1/p" | head -1
}

# S2E with --data-dir: the load as S2E, then the store's counters, then (same run, same
# disk) the disk's own fdatasync latency, the floor an ack cannot go below.
roomcast_disk() {  # SCENARIO RUN -- LOAD ARGS...
  local scenario=$1 run=$2; shift 3
  local dir
  dir=$(mktemp -d "$DATA_PARENT/roomcast-bench-data.XXXXXX")
  local cmd=(taskset -c "$SERVER_CPU" "$SERVER_BIN" --listen 127.0.0.1:0 --threads 1 --data-dir "$dir")
  record_command "$scenario/roomcast/server" "${cmd[@]}"
  start_server "$scenario.roomcast.$run" "${cmd[@]}"
  local t0 t1 fsyncs appends
  t0=$(date +%s.%N)
  run_load "$scenario" roomcast "$run" "$@"
  t1=$(date +%s.%N)
  fsyncs=$(metric "$PORT" roomcast_store_fsyncs_total)
  appends=$(metric "$PORT" roomcast_store_appends_total)
  stop_server
  local floor_cmd=("$DISK_BENCH_BIN" fsync "$dir/floor" 1000)
  record_command "$scenario/disk/floor" "${floor_cmd[@]}"
  local floor
  floor=$("${floor_cmd[@]}" 2>>"$LOG" | tail -1)
  local secs
  secs=$(echo "$t1 - $t0" | bc)
  echo "== $scenario disk run $run: fsyncs=$fsyncs appends=$appends in $secs s; floor: $floor" | tee -a "$LOG"
  local p50 p99
  p50=$(printf '%s' "$floor" | sed -n 's/.*p50=\([0-9.]*\) ms.*/\1/p')
  p99=$(printf '%s' "$floor" | sed -n 's/.*p99=\([0-9.]*\) ms.*/\1/p')
  printf '{"run":%s,"seconds":%s,"fsyncs":%s,"appends":%s,"disk_fsync_p50_ms":%s,"disk_fsync_p99_ms":%s}\n' \
    "$run" "$secs" "${fsyncs:-0}" "${appends:-0}" "${p50:-null}" "${p99:-null}" >> "$RESULTS/$scenario.store.jsonl"
  rm -rf "$dir"
}

# S2E with --webhook: the load as S2E, the webhooks to bench/webhook/receiver.js (node,
# answering 200 at once, unpinned), which reports each edit event's delay from its `ts`,
# order and duplicates once the delivery drained (bounded: 10 s).
roomcast_hook() {  # SCENARIO RUN -- LOAD ARGS...
  local scenario=$1 run=$2; shift 3
  local out="$RESULTS/$scenario.receiver.$run.out"
: > "$out"
  node "$ROOT/bench/webhook/receiver.js" >> "$out" 2>>"$LOG" &
  local rpid=$! rport="" i
  for i in $(seq 50); do
    rport=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$out" | head -1)
    [[ -n $rport ]] && break
    sleep 0.1
  done
  [[ -n $rport ]] || { kill "$rpid" 2>/dev/null; die "the webhook receiver did not start"; }
  local cmd=(taskset -c "$SERVER_CPU" "$SERVER_BIN" --listen 127.0.0.1:0 --threads 1
             --webhook "http://127.0.0.1:$rport/hook")
  record_command "$scenario/roomcast/server" "${cmd[@]}"
  start_server "$scenario.roomcast.$run" "${cmd[@]}"
  run_load "$scenario" roomcast "$run" "$@"
  for i in $(seq 100); do
    [[ $(metric "$PORT" roomcast_webhook_queue_events) == 0 ]] && break
    sleep 0.1
  done
  stop_server
  kill -TERM "$rpid" 2>/dev/null
  wait "$rpid" 2>/dev/null
  local summary
  summary=$(tail -1 "$out")
  echo "== $scenario webhook run $run: $summary" | tee -a "$LOG"
  printf '{"run":%s,"receiver":%s}\n' "$run" "${summary:-null}" >> "$RESULTS/$scenario.hook.jsonl"
}

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# start_redis NAME: a fresh redis-server on CPU $SERVER_CPU (loopback, a free port, no RDB
# snapshots, no AOF, its own temp dir); waits (5 s at most) for PONG; sets REDIS_PID and
# REDIS_PORT. Fresh per measurement, so no run sees another run's room state.
start_redis() {
  local name=$1 port="" cmd attempt
  REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/roomcast-bench-redis.XXXXXX")
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cmd=(taskset -c "$SERVER_CPU" "$REDIS_BIN" --bind 127.0.0.1 --port "$port" --save "" --appendonly no
         --dir "$REDIS_DIR" --daemonize no)
    "${cmd[@]}" >"$RESULTS/$name.redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 100); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      if { exec 9<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        local reply=""
        printf 'PING\r\n' >&9
        read -r -t 1 reply <&9 || true
        exec 9<&-
        if [[ $reply == +PONG* ]]; then
          REDIS_PORT=$port
          record_command "${name%%.*}/redis/server" "${cmd[@]}"
          return 0
        fi
      fi
      sleep 0.05
    done
    stop_pid "$REDIS_PID"  # lost the port to another process, or never answered: next port
    REDIS_PID=""
  done
  die "redis-server did not start (5 attempts): $(tail -3 "$RESULTS/$name.redis.log")"
}

stop_redis() {
  [[ -n $REDIS_PID ]] || return 0
  stop_pid "$REDIS_PID"
  REDIS_PID=""
  REDIS_PORT=""
  rm -rf "$REDIS_DIR"
  REDIS_DIR=""
}

# scaleout SCENARIO TARGET RUN INSTANCES REDIS [SERVER FLAGS...] -- LOAD ARGS...: S1-redis's
# measurements. INSTANCES roomcast processes (REDIS=1: all with --redis on one fresh
# redis-server), all on CPU $SERVER_CPU; the load tool spreads each room's members over
# them (member m -> instance m % INSTANCES) and watches every process, Redis included.
scaleout() {
  local scenario=$1 target=$2 run=$3 instances=$4 use_redis=$5; shift 5
  local sflags=() rflags=() urls=() pids=() i
  while [[ $# -gt 0 && $1 != -- ]]; do sflags+=("$1"); shift; done
  shift
  if [[ $use_redis == 1 ]]; then
    start_redis "$scenario.$target.$run"
    rflags=(--redis "redis://127.0.0.1:$REDIS_PORT")
  fi
  for i in $(seq 1 "$instances"); do
    local cmd=(taskset -c "$SERVER_CPU" "$SERVER_BIN" --listen 127.0.0.1:0 --threads 1 "${rflags[@]}" "${sflags[@]}")
    record_command "$scenario/$target/server$i" "${cmd[@]}"
    start_server "$scenario.$target.$run.$i" "${cmd[@]}"
    INSTANCE_PIDS+=("$SERVER_PID")
    urls+=("ws://127.0.0.1:$PORT/ws/")
    pids+=("$SERVER_PID")
    SERVER_PID=""  # INSTANCE_PIDS owns it now
  done
  if [[ $instances == 1 ]]; then
    LOAD_WHERE=(--port "$PORT" --server-pid "${pids[0]}")
  else
    LOAD_WHERE=(--urls "$(IFS=,; echo "${urls[*]}")" --server-pid "$(IFS=,; echo "${pids[*]}")")
  fi
  if [[ $use_redis == 1 ]]; then LOAD_WHERE+=(--redis-pid "$REDIS_PID"); fi
  run_load "$scenario" "$target" "$run" "$@"
  LOAD_WHERE=()
  for i in "${pids[@]}"; do stop_pid "$i"; done
  INSTANCE_PIDS=()
  stop_redis
}

# floor LABEL SOCKETS INTERVAL_US BYTES RUN: the kernel's cost of the fewest writes a
# scenario's latency budget allows (one write per socket per budget), no server at all.
floor() {
  local label=$1 sockets=$2 interval=$3 bytes=$4 run=$5 iovecs=${6:-1}
  local cmd=("$FLOOR_BIN" --label "$label" --sockets "$sockets" --interval-us "$interval" --bytes "$bytes"
             --iovecs "$iovecs" --duration "$DURATION" --writer-cpu "$SERVER_CPU" --reader-cpu "$TOOL_CPU")
  record_command "floor/$label/load" "${cmd[@]}"
  echo "== floor $label run $run: ${cmd[*]}" | tee -a "$LOG"
  local text
  text=$("${cmd[@]}" 2>>"$LOG") || { echo "roomcast-floor failed (exit $?)" | tee -a "$LOG"; text=""; }
  printf '%s\n' "$text" >> "$LOG"
  printf '%s\n' "$text" | grep -E '^  (writes_per_s|cpu_needed_pct)' || true
  printf '%s\n' "$text" | grep '^{' | sed "s/^{/{\"run\":$run,/" >> "$RESULTS/floor.jsonl" || true
}

has_batch_delay=0
if "$SERVER_BIN" --help 2>&1 | grep -q -- --max-batch-delay; then has_batch_delay=1; fi

CURSOR_ARGS=(--duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN")
for scenario in $SCENARIOS; do
  for run in $(seq 1 "$RUNS"); do
    case $scenario in
      S1)
        # roomcast and the Node peer back to back in the same run, for the CPU ratio.
        roomcast S1 "$run" -- --connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}"
        node_peer S1 "$run" -- --connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}"
        ;;
      S1A)
        # Protocol 1.2 camera rate (docs/protocol.md 7.3): S1, then S1 with every client at
        # camera_rate 2 and 10 of them following one leader, back to back in each run.
        roomcast S1A-base "$run" -- --connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}"
        roomcast S1A "$run" -- --connections 100 --rooms 1 --rate 10 --camera-rate 2 --followers 10 "${CURSOR_ARGS[@]}"
        ;;
      S1-now)
        if [[ $has_batch_delay == 1 ]]; then
          roomcast S1-now "$run" --max-batch-delay 0 -- --connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}"
        else
          [[ $run == 1 ]] && echo "S1-now: this server has no --max-batch-delay; ran without it" >> "$RESULTS/notes.txt"
          roomcast S1-now "$run" -- --connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}"
        fi
        ;;
      S1-sweep)
        if [[ $has_batch_delay == 1 ]]; then
          for d in 0 1 2 5 10; do
            roomcast "S1-sweep-$d" "$run" --max-batch-delay "$d" -- --connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}"
          done
        fi
        ;;
      floor)
        # label sockets interval_us bytes [pieces]: S1 at its 10 ms budget and at the 5, 2 and 1 ms
        # windows, S2 at its 50 ms budget (10,000 sockets), S3's 2.5M deliveries/s at 50 ms.
        floor S1@10ms 100 10000 1000 "$run"
        floor S1@5ms 100 5000 500 "$run"
        floor S1@2ms 100 2000 200 "$run"
        floor S1@1ms 100 1000 100 "$run"
        floor S2@50ms 10000 50000 450 "$run"
        floor S3@50ms 500 50000 25000 "$run"
        # S3 at the default 5 ms window, as one piece and as the 25 frames roomcast gathers.
        floor S3@5ms 500 5000 2500 "$run" 1
        floor S3@5ms/25 500 5000 2500 "$run" 25
        ;;
      S2)
        roomcast S2 "$run" -- --connections 10000 --rooms 1000 --rate 10 "${CURSOR_ARGS[@]}"
        ;;
      S2E)
        # Issue 14's overload with edits in it: every member must get every edit, in order.
        roomcast S2E "$run" -- --connections 10000 --rooms 1000 --rate 10 --edit-every 20 "${CURSOR_ARGS[@]}"
        ;;
      S2E-disk)
        # The same with --data-dir: every ack waits for its fdatasync (docs/durability.md).
        roomcast_disk S2E-disk "$run" -- --connections 10000 --rooms 1000 --rate 10 --edit-every 20 "${CURSOR_ARGS[@]}"
        ;;
      S2E-hook)
        # The same with --webhook: every applied edit's event to a receiver (docs/benchmarks.md).
        roomcast_hook S2E-hook "$run" -- --connections 10000 --rooms 1000 --rate 10 --edit-every 20 "${CURSOR_ARGS[@]}"
        ;;
      S1-redis)
        # (a), (b), (c) back to back in the same run, so their ratios compare within it.
        s1=(--connections 100 --rooms 1 --rate 10 "${CURSOR_ARGS[@]}")
        scaleout S1-redis single "$run" 1 0 -- "${s1[@]}"
        scaleout S1-redis single-redis "$run" 1 1 -- "${s1[@]}"
        scaleout S1-redis two-redis "$run" 2 1 -- "${s1[@]}"
        for d in $REDIS_WINDOWS; do
          scaleout S1-redis "two-redis-w$d" "$run" 2 1 --max-batch-delay "$d" -- "${s1[@]}"
        done
        ;;
      S3)
        roomcast S3 "$run" -- --connections 500 --rooms 1 --step "$STEPS" \
          --duration "$STEP_DURATION" --warmup "$WARMUP" --drain "$DRAIN"
        ;;
      S4)
        roomcast S4 "$run" -- --connections "$IDLE_CONNECTIONS" --rooms 1000 --idle --duration "$IDLE_DURATION"
        ;;
      S5)
        roomcast S5 "$run" -- --connections "$BURST_CONNECTIONS" --rooms 1000 --join-burst
        ;;
      J)
        # Issue 14: joins bounded in flight, at a short and a long batch window.
        for w in 5 50; do
          roomcast "J-$w" "$run" --max-batch-delay "$w" -- --connections "$BURST_CONNECTIONS" --rooms 1000 \
            --idle --join-in-flight 256 --duration 1
        done
        ;;
      *) die "unknown scenario $scenario" ;;
    esac
  done
done

# Machine and conditions, then the report.
{
  echo "model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cpus=$(nproc)"
  echo "kernel=$(uname -sr)"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "loadavg_start=$LOADAVG_START"
  echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "root=$ROOT"
  echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "node=$(node --version) ws=$(node -p "require('$PEER_DIR/node_modules/ws/package.json').version")"
  echo "runs=$RUNS"
  echo "duration=$DURATION"
  echo "warmup=$WARMUP"
  echo "drain=$DRAIN"
  echo "step_duration=$STEP_DURATION"
  echo "steps=$STEPS"
  echo "idle_duration=$IDLE_DURATION"
  echo "tool_threads=$TOOL_THREADS"
  echo "server_cpu=$SERVER_CPU"
  echo "tool_cpu=$TOOL_CPU"
  echo "server_bin=$SERVER_BIN"
  echo "batch_delay_flag=$has_batch_delay"
  echo "redis_windows=$REDIS_WINDOWS"
  echo "redis=$([[ -n $REDIS_BIN ]] && "$REDIS_BIN" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
  echo "note=${BENCH_NOTE:-}"
} > "$RESULTS/meta.txt"
# The report has three parts: the main report (every scenario but S1-redis), the S1-redis
# section between its markers, and hand-written comparisons below the comparisons marker
# (before/after a change, measured in one session). A part whose scenarios did not run is
# kept from the existing file as it is, so a run of S1-redis alone changes only its section.
MARKER='<!-- kept by bench/run.sh: comparisons -->'
REDIS_BEGIN='<!-- bench/run.sh: S1-redis begin -->'
REDIS_END='<!-- bench/run.sh: S1-redis end -->'
main_ran=0
for scenario in $SCENARIOS; do [[ $scenario == S1-redis ]] || main_ran=1; done
: > "$OUT.tmp"
if [[ $main_ran == 1 ]]; then
  node "$ROOT/bench/load/summarize.js" "$RESULTS" >> "$OUT.tmp"
elif [[ -f $OUT ]]; then
  # Everything above the S1-redis section (or above the blank line before the marker).
  awk -v b="$REDIS_BEGIN" -v m="$MARKER" '
    $0 == b { exit }
    $0 == m { at_marker = 1; exit }
    { line[n++] = $0 }
    END {
      if (at_marker && n > 0 && line[n - 1] == "") n--  # the blank line put before the marker
      for (i = 0; i < n; i++) print line[i]
    }' "$OUT" >> "$OUT.tmp"
fi
if has_scenario S1-redis; then
  node "$ROOT/bench/load/summarize.js" "$RESULTS" --section S1-redis >> "$OUT.tmp"
elif [[ -f $OUT ]] && grep -qF "$REDIS_BEGIN" "$OUT"; then
  awk -v b="$REDIS_BEGIN" -v e="$REDIS_END" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$OUT" >> "$OUT.tmp"
fi
# (Lines are compared as strings: the markers hold a '/', which a sed address would end at.)
if [[ -f $OUT ]] && grep -qF "$MARKER" "$OUT"; then
  { echo; awk -v m="$MARKER" '$0 == m { on = 1 } on' "$OUT"; } >> "$OUT.tmp"
fi
mv "$OUT.tmp" "$OUT"
echo "== wrote $OUT (raw results in $RESULTS)"
