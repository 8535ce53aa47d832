#!/usr/bin/env bash
# bench/proxy.sh: scenario S1 (100 members in one room, cameras at 10/s) through nginx in
# front of two roomcast instances sharing Redis, once per routing policy:
#   least_conn                   members of the room spread over both instances (relays cross Redis)
#   hash $request_uri consistent room-affine: every member of the room on one instance
# and, for reference, S1 on one instance without a proxy. Prints one line per run with the
# CPU of each process (roomcast instances, Redis, nginx) and the delivery latency, and
# appends the table to docs/benchmarks.md (section "S1 through a proxy").
# Usage: bench/proxy.sh (after `make`; needs nginx-light and redis-server). Loopback only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER_BIN=${SERVER_BIN:-$ROOT/build/release/roomcast}
LOAD_BIN=${LOAD_BIN:-$ROOT/build/release/roomcast-load}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
REDIS_BIN=${REDIS_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
for b in "$SERVER_BIN" "$LOAD_BIN" "$NGINX_BIN" "$REDIS_BIN"; do
  [[ -x $b ]] || { echo "missing: $b" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/roomcast-proxy-bench-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_roomcast() {  # start_roomcast LOGNAME ARGS... -> sets PORT, PID
  local log=$WORK/$1.log; shift
  "$SERVER_BIN" --listen 127.0.0.1:0 --threads 1 --log-level warn "$@" > "$log.out" 2> "$log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$log.out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log.out" | head -1)
  [[ -n $PORT ]] || { echo "roomcast did not start" >&2; cat "$log" >&2; exit 1; }
}

start_nginx() {  # start_nginx POLICY UPSTREAM_PORT... -> sets NGINX_PORT, NGINX_PID
  local policy=$1; shift
  local dir=$WORK/nginx-$RANDOM
  mkdir -p "$dir"
  NGINX_PORT=$(free_port)
  {
    echo "daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;"
    echo "  upstream roomcast { $policy;"
    for p in "$@"; do echo "    server 127.0.0.1:$p;"; done
    echo "  }"
    echo "  server { listen 127.0.0.1:$NGINX_PORT;"
    echo "    location /ws/ { proxy_pass http://roomcast; proxy_http_version 1.1;"
    echo "      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \"upgrade\";"
    echo "      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Real-IP \$remote_addr;"
    echo "      proxy_read_timeout 120s; } } }"
  } > "$dir/nginx.conf"
  "$NGINX_BIN" -c "$dir/nginx.conf" -e "$dir/error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$NGINX_PORT") 2>/dev/null; then break; fi
    sleep 0.05
  done
}

start_redis() {
  REDIS_PORT=$(free_port)
  "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" > "$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$REDIS_PORT") 2>/dev/null; then break; fi
    sleep 0.05
  done
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

# One S1 run; prints "label cpu_total p50 p99 deliveries/s instance_a instance_b redis nginx"
# (CPU in % of a core) from the load tool's JSON line. Extra args: --extra-pid NAME:PID.
s1() {
  local label=$1 port=$2 pid=$3; shift 3
  local json
  json=$("$LOAD_BIN" --port "$port" --connections 100 --rooms 1 --rate 10 --duration "$DURATION" --warmup 2 --drain 1 \
         --server-pid "$pid" "$@" --json 2>> "$WORK/load.log" | tail -1)
  node -e '
    const r = JSON.parse(process.argv[1]);
    const n = (k) => (typeof r[k] === "number" ? r[k] : 0);
    const total = n("server_cpu_pct") + n("b_cpu_pct") + n("redis_cpu_pct") + n("nginx_cpu_pct");
    console.log([process.argv[2], total.toFixed(1), n("p50_us"), n("p99_us"), n("deliveries_per_s"),
                 n("server_cpu_pct"), n("b_cpu_pct"), n("redis_cpu_pct"), n("nginx_cpu_pct")].join(" "));
  ' "$json" "$label"
}

echo "# S1 through nginx, $RUNS runs of ${DURATION}s each ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "label cpu_pct(all) p50_us p99_us deliveries_per_s cpu_a cpu_b cpu_redis cpu_nginx"
RESULTS=()
for run in $(seq 1 "$RUNS"); do
  start_roomcast one
  RESULTS+=("$(s1 one-instance "$PORT" "$PID")")
  stop_all

  for policy in "least_conn" "hash \$request_uri consistent"; do
    start_redis
    start_roomcast a --redis "redis://127.0.0.1:$REDIS_PORT"; pa=$PORT; ida=$PID
    start_roomcast b --redis "redis://127.0.0.1:$REDIS_PORT"; pb=$PORT; idb=$PID
    start_nginx "$policy" "$pa" "$pb"
    name=$([[ $policy == least_conn ]] && echo "least_conn" || echo "hash_uri")
    RESULTS+=("$(s1 "$name" "$NGINX_PORT" "$ida" --extra-pid "b:$idb" --extra-pid "redis:$REDIS_PID" --extra-pid "nginx:$NGINX_PID")")
    stop_all
  done
done
printf '%s\n' "${RESULTS[@]}"

# Medians per label.
summary=$(printf '%s\n' "${RESULTS[@]}" | node -e '
  const lines = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split(" "));
  const by = {};
  for (const [label, ...v] of lines) (by[label] ||= []).push(v.map(Number));
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  console.log("| setup | CPU, all processes (% of a core) | roomcast instances | Redis | nginx | p50 | p99 | deliveries/s |");
  console.log("|---|---|---|---|---|---|---|---|");
  const names = { "one-instance": "one instance, no proxy", least_conn: "nginx least_conn, 2 instances + Redis", hash_uri: "nginx hash $request_uri consistent, 2 instances + Redis" };
  for (const [label, rows] of Object.entries(by)) {
    const col = (i) => med(rows.map((r) => r[i]));
    const roomcast = med(rows.map((r) => r[4] + r[5]));
    console.log(`| ${names[label] || label} | ${col(0)} | ${roomcast.toFixed(1)} | ${col(6)} | ${col(7)} | ${(col(1) / 1000).toFixed(2)} ms | ${(col(2) / 1000).toFixed(2)} ms | ${col(3)} |`);
  }
')
echo "$summary"
if [[ -f $OUT ]] && [[ ${BENCH_WRITE:-1} == 1 ]]; then
  {
    echo
    echo "## S1 through a proxy (bench/proxy.sh, $(date -u +%F))"
    echo
    echo "100 members in one room at 10 cameras/s through nginx (one worker) in front of two"
    echo "instances sharing Redis, medians of $RUNS runs of ${DURATION} s; CPU is the sum of every"
    echo "process in the path (roomcast instances, Redis, nginx). Machine: $(nproc) cores,"
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)."
    echo
    echo "$summary"
  } >> "$OUT"
fi
