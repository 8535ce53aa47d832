#!/bin/bash
# bench/disk/server_pair.sh: issues 24 and 25's goals through the server: memory,
# --data-dir and --webhook alternating at 5,000 edits/s without a cursor overload (1,000
# connections in 100 rooms, 10 messages/s each, every 2nd an edit), then the disk's own
# fdatasync floor. docs/benchmarks.md "5,000 edits/s with --data-dir" and "Webhooks at
# 5,000 edits/s" have the numbers.
#
#   MODES ["mem disk mem disk"]  runs, in order: mem, disk (--data-dir), hook (--webhook to
#                                bench/webhook/receiver.js answering 200 at once), diskhook
#   PIN   [""]                   a prefix for the server, e.g. "taskset -c 0"
#   DATA  [build/bench-data]     the --data-dir (on the disk under test, not a tmpfs)
#   OUT   [build/bench-pair]     one JSON line per run (roomcast-load --json)
set -u
cd "$(dirname "$0")/../.."
R=build/release
DATA=${DATA:-build/bench-data}
OUT=${OUT:-build/bench-pair}
mkdir -p "$OUT"
n=0
for mode in ${MODES:-mem disk mem disk}; do
  n=$((n + 1))
  rm -rf "$DATA"; mkdir -p "$DATA"
  args=(--listen 127.0.0.1:0 --threads 1 --max-connections 20000)
  case "$mode" in disk|diskhook) args+=(--data-dir "$DATA") ;; esac
  rpid=
  case "$mode" in
    hook|diskhook)
      node bench/webhook/receiver.js > "$OUT/receiver-$n.out" &
      rpid=$!
      rport=
      for _ in $(seq 50); do
        rport=$(grep -o '^listening [0-9]*' "$OUT/receiver-$n.out" | cut -d' ' -f2)
        [ -n "$rport" ] && break
        sleep 0.1
      done
      args+=(--webhook "http://127.0.0.1:$rport/hook")
      ;;
  esac
  ${PIN:-} $R/roomcast "${args[@]}" > "$OUT/server-$n.out" 2>"$OUT/server-$n.err" &
  pid=$!
  port=
  for _ in $(seq 50); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$OUT/server-$n.out" | cut -d: -f2)
    [ -n "$port" ] && break
    sleep 0.1
  done
  taskset -c 1 $R/roomcast-load --port "$port" --server-pid $pid --connections 1000 --rooms 100 --rate 10 \
    --edit-every 2 --duration 10 --warmup 2 --drain 2 --json 2>/dev/null | grep '^{' | tail -1 > "$OUT/$n-$mode.json"
  fsyncs=
  case "$mode" in disk|diskhook) fsyncs=$(curl -s "127.0.0.1:$port/metrics" | grep '^roomcast_store_fsyncs_total' | cut -d' ' -f2) ;; esac
  if [ -n "$rpid" ]; then
    # Let the delivery drain (bounded), then the receiver's own summary.
    for _ in $(seq 100); do
      q=$(curl -s "127.0.0.1:$port/metrics" | grep '^roomcast_webhook_queue_events' | cut -d' ' -f2)
      [ "${q:-0}" = 0 ] && break
      sleep 0.1
    done
  fi
  kill $pid; wait $pid 2>/dev/null
  if [ -n "$rpid" ]; then
    kill -TERM $rpid; wait $rpid 2>/dev/null
    echo "      receiver: $(tail -1 "$OUT/receiver-$n.out")"
  fi
  python3 - "$OUT/$n-$mode.json" "$mode" "${fsyncs:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:5} ack p50 {d['ack_p50_us']/1000:.2f} ms p99 {d['ack_p99_us']/1000:.2f} ms  cursor p99 "
      f"{d['p99_us']/1000:.1f} ms  server CPU {d['server_cpu_pct']}% wait {d['server_cpu_wait_pct']}%  "
      f"acked {d['acks_received']}/{d['edits_sent']} lost {d['edits_lost']} gaps {d['edit_gaps']}"
      + (f"  fsyncs {sys.argv[3]}" if sys.argv[3] else ""))
PY
done
rm -rf "$DATA"; mkdir -p "$DATA"
$R/roomcast-disk-bench fsync "$DATA" 1000 | tail -1
rm -rf "$DATA"
