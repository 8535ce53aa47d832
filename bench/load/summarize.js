#!/usr/bin/env node
// bench/load/summarize.js: turns the raw results of bench/run.sh into docs/benchmarks.md.
//
// Input: a directory with meta.txt (key=value per line), commands.txt (key<TAB>command),
// notes.txt, and <scenario>.<target>.jsonl: one JSON line per roomcast-load report, with
// "target" and "run" added by run.sh. Output (stdout): the Markdown report. Every number
// it prints is a measured value or a median of measured values; nothing is estimated.
// With `--section S1-redis` it prints only that scenario's section, between the markers
// bench/run.sh splices by (the section carries its own conditions, since it may be
// measured on another day than the rest of the report).
'use strict';

const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const section = process.argv[3] === '--section' ? process.argv[4] : undefined;
if (!dir || (process.argv.length > 3 && section !== 'S1-redis')) {
  console.error('usage: summarize.js RESULTS_DIR [--section S1-redis]');
  process.exit(2);
}

function readLines(file) {
  const p = path.join(dir, file);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
}

const meta = {};
for (const line of readLines('meta.txt')) {
  const eq = line.indexOf('=');
  if (eq > 0) meta[line.slice(0, eq)] = line.slice(eq + 1);
}
const commands = {};
for (const line of readLines('commands.txt')) {
  const tab = line.indexOf('\t');
  let cmd = line.slice(tab + 1).trim();
  if (meta.root) cmd = cmd.split(meta.root + '/').join('./');
  commands[line.slice(0, tab)] = cmd;
}
const notes = readLines('notes.txt');
const results = (scenario, target) => readLines(`${scenario}.${target}.jsonl`).map((l) => JSON.parse(l));

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
const med = (rows, key) => median(rows.map((r) => r[key]));
const max = (rows, key) => {
  const v = rows.map((r) => r[key]).filter((x) => typeof x === 'number');
  return v.length ? Math.max(...v) : undefined;
};
function fmt(x, digits = 0) {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
const ms = (us) => (us === undefined || us === null ? 'n/a' : fmt(us / 1000, 2));

// The tool's warnings, shortened to fit next to the numbers (legend in the report).
function shortWarning(w) {
  let m;
  if ((m = /^load tool threads waited for a CPU (\d+)%/.exec(w))) return `tool CPU-wait ${m[1]}%`;
  if ((m = /^load tool CPU at (\d+)%/.exec(w))) return `tool CPU ${m[1]}%`;
  if ((m = /^sends late: p99 send lag (\d+) us, ([\d.]+)%/.exec(w))) {
    return `sends late (p99 ${fmt(Number(m[1]) / 1000, 1)} ms, ${m[2]}% > 1 ms)`;
  }
  if ((m = /^server threads waited for a CPU (\d+)%/.exec(w))) return `server CPU-wait ${m[1]}%`;
  if ((m = /^(\d+) SYNs dropped/.exec(w))) return `${m[1]} SYNs dropped (accept queue full)`;
  return w;
}
const toolBound = (r) => (r.warnings || []).some((w) => /the tool may be the bottleneck/.test(w));
const warnCell = (r) => (r.warnings || []).map(shortWarning).join('; ') || 'none';
const boundCount = (rows) => `${rows.filter(toolBound).length}/${rows.length}`;

const lines = [];
const emit = (s = '') => lines.push(s);
const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

if (section === 'S1-redis') {
  process.stdout.write(scaleoutSection().join('\n') + '\n');
  process.exit(0);
}

// ---- collect --------------------------------------------------------------------------
const s1 = results('S1', 'roomcast');
const s1node = results('S1', 'node');
const s1now = results('S1-now', 'roomcast');
const s1aBase = results('S1A-base', 'roomcast');
const s1a = results('S1A', 'roomcast');
const s2 = results('S2', 'roomcast');
const s2e = results('S2E', 'roomcast');
const s3 = results('S3', 'roomcast');
const s4 = results('S4', 'roomcast');
const s5 = results('S5', 'roomcast');
const joins = [5, 50].map((w) => ({ window: w, rows: results(`J-${w}`, 'roomcast') }));
const sweepDelays = [0, 1, 2, 5, 10];
const sweep = sweepDelays.map((d) => ({ delay: d, rows: results(`S1-sweep-${d}`, 'roomcast') }));
const floorRows = readLines('floor.jsonl').map((l) => JSON.parse(l));
const floorLabels = [...new Set(floorRows.map((r) => r.label))];
const floorOf = (label) => floorRows.filter((r) => r.label === label);
const floorCpu = (label) => med(floorOf(label), 'cpu_needed_pct');
const floorCell = (label) => (floorOf(label).length ? `${fmt(floorCpu(label), 1)}% (${label})` : 'n/a');

const ratioRuns = [];
for (const r of s1) {
  const n = s1node.find((x) => x.run === r.run);
  if (n && r.server_cpu_us_per_delivery > 0 && n.server_cpu_us_per_delivery > 0) {
    ratioRuns.push({ run: r.run, node: n.server_cpu_us_per_delivery, roomcast: r.server_cpu_us_per_delivery,
      ratio: n.server_cpu_us_per_delivery / r.server_cpu_us_per_delivery, nodeLost: n.lost });
  }
}
const ratio = median(ratioRuns.map((x) => x.ratio));

const s3steps = [];
for (const r of s3) (s3steps[r.step] = s3steps[r.step] || []).push(r);
let s3best;
for (const rows of s3steps) {
  if (!rows) continue;
  const d = med(rows, 'deliveries_per_s');
  if (med(rows, 'p99_us') <= 50000 && (s3best === undefined || d > s3best)) s3best = d;
}

// ---- header ---------------------------------------------------------------------------
emit('# Benchmarks');
emit();
emit('Generated by `bench/run.sh` (`make bench`); do not edit by hand. Every number is measured');
emit(`by \`roomcast-load\`; tables show the median of ${meta.runs} runs unless they say otherwise.`);
emit('Latency is receive time minus send time on the tool\'s monotonic clock (sender and');
emit('receiver are the same process), so it includes the tool\'s own delays.');
emit();
emit('## Machine and conditions');
emit();
emit(`- CPU: ${meta.model}, ${meta.cpus} cores; kernel ${meta.kernel}`);
emit(`- Date: ${meta.date}; repository HEAD ${meta.commit} when the report was written; load average ${meta.loadavg_start} at the start, ${meta.loadavg} at the end`);
emit(`- Server: \`${(meta.server_bin || '').split((meta.root || '\u0000') + '/').join('./')}\` pinned to CPU ${meta.server_cpu} with \`taskset\`, \`--threads 1\`; load tool pinned to CPU ${meta.tool_cpu}, ${meta.tool_threads} thread(s)`);
emit(`- S1, S1-now, S2: ${meta.duration} s measured after ${meta.warmup} s warm-up, then ${meta.drain} s drain. S3: rates ${meta.steps} per session per second, ${meta.step_duration} s measured per step after ${meta.warmup} s warm-up. S4: ${meta.idle_duration} s idle`);
emit(`- Node peer: node ${meta.node} (\`bench/peers/ws-peer.js\`)`);
if (meta.note) emit(`- Note: ${meta.note}`);
for (const n of notes) emit(`- ${n}`);
emit('- Server CPU: utime+stime of the server from `/proc/PID/stat` over the measured interval');
emit('  (10 ms ticks), in % of one core; µs/delivery divides it by the deliveries counted.');
emit('  RSS: `VmRSS` at the end of the interval. CPU-wait: time the threads were runnable but');
emit('  not running (`/proc/PID/task/*/schedstat`), i.e. the core was busy with something else.');
emit();
emit('Warnings of the load tool, shortened next to the numbers:');
emit();
emit('- `tool CPU N%`: the tool used more than 85% of its threads: it may be the bottleneck.');
emit('- `tool CPU-wait N%`: the tool waited N% of the time for its core (other processes on');
emit('  it): it may be the bottleneck.');
emit('- `sends late (p99 X ms, Y% > 1 ms)`: cursors left later than their schedule: the offered');
emit('  load was lower than intended and latency includes the tool\'s delay.');
emit('- `server CPU-wait N%`: the server waited N% of the time for its core: latency includes it.');
emit('- `N SYNs dropped (accept queue full)`: machine-wide TcpExt ListenOverflows during the join;');
emit('  those connections waited for a SYN retransmit (1 s, then 3 s).');
emit();

// ---- targets --------------------------------------------------------------------------
function cursorTarget(rows, p99LimitUs, cpuLimitPct) {
  if (rows.length === 0) return { ok: undefined, text: 'not run' };
  const lostMax = max(rows, 'lost');
  const p99 = med(rows, 'p99_us');
  const cpu = med(rows, 'server_cpu_pct');
  const ok = lostMax <= 0 && p99 <= p99LimitUs && cpu <= cpuLimitPct;
  return { ok, text: `lost ${fmt(lostMax)} (worst run), p99 ${ms(p99)} ms, server CPU ${fmt(cpu, 1)}%; tool-bottleneck warnings in ${boundCount(rows)} runs` };
}
emit('## Targets');
emit();
emit('"Kernel floor" is what the kernel alone charges for the fewest writes the target\'s latency');
emit('budget allows (one plain `write()` per recipient socket per budget, no server at all;');
emit('`roomcast-floor`, section "Kernel floor" below), in % of one core of this machine. A CPU');
emit('target below its floor cannot be met by any server here.');
emit();
emit('| scenario | target | measured | kernel floor | verdict |');
emit('|---|---|---|---|---|');
{
  const t = cursorTarget(s1, 10000, 10);
  emit(`| S1: 1 room x 100, 10/s | 0 loss, p99 <= 10 ms, server <= 10% of a core | ${t.text} | ${floorCell('S1@10ms')} | ${verdict(t.ok)} |`);
  const n = cursorTarget(s1now, 2000, 40);
  emit(`| S1-now: S1 with \`--max-batch-delay 0\` | 0 loss, p99 <= 2 ms, server <= 40% of a core | ${n.text} | ${floorCell('S1@2ms')} | ${verdict(n.ok)} |`);
  const t2 = cursorTarget(s2, 50000, 100);
  emit(`| S2: 1,000 rooms x 10, 10/s | 0 loss, p99 <= 50 ms, server <= 1 core | ${t2.text} | ${floorCell('S2@50ms')} | ${verdict(t2.ok)} |`);
  emit(`| S3: 1 room x 500, stepped | >= 2,500,000 deliveries/s at p99 <= 50 ms | best step with median p99 <= 50 ms: ${fmt(s3best)} deliveries/s; tool-bottleneck warnings in ${boundCount(s3)} step runs | ${floorCell('S3@50ms')} | ${verdict(s3.length ? (s3best || 0) >= 2500000 : undefined)} |`);
  // Steady state: RSS per connection at the end of the idle period (older reports: 2 s after the joins).
  const rss = s4.some((r) => r.server_rss_idle_per_conn_bytes !== undefined)
    ? med(s4, 'server_rss_idle_per_conn_bytes') : med(s4, 'server_rss_per_conn_bytes');
  const idleCpu = med(s4, 'server_cpu_pct');
  // Issue 14 tightened v1's 1 KiB to 640 B (the C++ pub/sub server we compare with: 694 B).
  emit(`| S4: 10,000 idle joined | <= 640 B server RSS per connection (v1: 1 KiB), ~0 CPU | ${fmt(rss)} B per connection, idle server CPU ${fmt(idleCpu, 1)}% | n/a | ${verdict(s4.length ? rss <= 640 && idleCpu <= 1 : undefined)} |`);
  const burst = med(s5, 'all_welcomed_ms');
  const allIn = s5.length ? s5.every((r) => r.welcomed === r.connections) : undefined;
  emit(`| S5: 10,000 join at once | all welcomed in < 1 s | ${burst === undefined ? 'not all welcomed' : fmt(burst) + ' ms until the last welcome'}${allIn === false ? ' (some runs: not all welcomed)' : ''} | n/a | ${verdict(s5.length ? allIn && burst < 1000 : undefined)} |`);
  emit(`| S1 vs Node \`ws\` | >= 10x less server CPU per delivery | Node/roomcast = ${fmt(ratio, 1)}x (median of per-run ratios) | n/a | ${verdict(ratioRuns.length ? ratio >= 10 : undefined)} |`);
}
emit();

// Issue 14 (batching that keeps its promise): its own targets, from the same runs.
emit('### Issue 14 targets');
emit();
emit('The 1,000 rooms x 10 at 4/s target (p99 <= 10 ms at <= 0.75 core) is judged against its');
emit('kernel floor in "The batch window\'s trade-off" below (`bench/curve.sh`). J-5 and J-50:');
emit('10,000 connections join (1,000 rooms x 10) with at most 256 between connect and welcome,');
emit('at `--max-batch-delay` 5 and 50. Overload: S2E, S2 (900,000 deliveries/s offered, more');
emit('than this core delivers) with every 20th message of a connection an edit: its RSS against');
emit('S4\'s idle RSS, the share of (recipient, sender) pairs whose newest camera received is the');
emit('sender\'s last one (latest-wins keeps the freshest), and every edit at every member in seq order.');
emit();
emit('| target | measured | verdict |');
emit('|---|---|---|');
{
  if (s1.length) {
    const p99 = med(s1, 'p99_us'), cpu = med(s1, 'server_cpu_pct');
    emit(`| S1 keeps p99 <= 10 ms at <= 20% of a core | p99 ${ms(p99)} ms, server CPU ${fmt(cpu, 1)}% | ${verdict(p99 <= 10000 && cpu <= 20)} |`);
  } else {
    emit('| S1 keeps p99 <= 10 ms at <= 20% of a core | not run | not measured |');
  }
  emit(`| S3 keeps >= 2.5M deliveries/s at p99 <= 50 ms | ${s3best === undefined ? 'no step with p99 <= 50 ms' : fmt(s3best) + ' deliveries/s'} | ${verdict(s3.length ? (s3best || 0) >= 2500000 : undefined)} |`);
  for (const j of joins) {
    const last = med(j.rows, 'all_welcomed_ms');
    const all = j.rows.length ? j.rows.every((r) => r.welcomed === r.connections) : undefined;
    emit(`| 10,000 joins (256 in flight) in <= 0.7 s, window ${j.window} ms | ${j.rows.length ? fmt(last) + ' ms until the last welcome' + (all ? '' : ' (some runs: not all welcomed)') : 'not run'} | ${verdict(j.rows.length ? all && last <= 700 : undefined)} |`);
  }
  const idleRss = s4.some((r) => r.server_rss_idle_per_conn_bytes !== undefined)
    ? med(s4, 'server_rss_idle_per_conn_bytes') : med(s4, 'server_rss_per_conn_bytes');
  emit(`| idle RSS <= 640 B per joined connection (S4) | ${s4.length ? fmt(idleRss) + ' B' : 'not run'} | ${verdict(s4.length ? idleRss <= 640 : undefined)} |`);
  const idleKib = med(s4, 'server_rss_idle_kib');
  const over = s2e.length ? s2e : s2;
  const overName = s2e.length ? 'S2E' : 'S2';
  const overKib = med(over, 'server_rss_kib');
  const fresh = over.length && over.every((r) => r.freshest_camera_pct !== undefined) ? Math.min(...over.map((r) => r.freshest_camera_pct)) : undefined;
  const overOk = over.length && s4.length && idleKib ? overKib < 3 * idleKib && fresh === 100 : undefined;
  emit(`| overload (${overName}): RSS < 3x idle RSS, freshest camera of each sender arrives | ${over.length ? `RSS ${fmt(overKib / 1024, 1)} MB vs ${idleKib ? fmt(idleKib / 1024, 1) + ' MB idle (S4)' : 'no S4'}; freshest camera in ${fresh === undefined ? 'n/a' : fmt(fresh, 2) + '%'} of pairs (worst run); ${fmt(med(over, 'deliveries_per_s'))} deliveries/s` : 'not run'} | ${verdict(overOk)} |`);
  if (s2e.length) {
    const worst = (key) => max(s2e, key);
    const ok = med(s2e, 'edits_sent') > 0 && worst('edits_lost') === 0 && worst('edit_gaps') === 0 && worst('edit_reordered') === 0 &&
      s2e.every((r) => r.acks_received === r.edits_sent);
    emit(`| overload (S2E): edits keep their order and are never dropped | per run ${fmt(med(s2e, 'edits_sent'))} edits sent, ${fmt(med(s2e, 'edits_received'))} of ${fmt(med(s2e, 'edits_expected'))} relays received; worst run: ${fmt(worst('edits_lost'))} lost, ${fmt(worst('edit_gaps'))} seq gaps, ${fmt(worst('edit_reordered'))} out of order, ${s2e.every((r) => r.acks_received === r.edits_sent) ? 'every edit acked' : 'some edits not acked'} | ${verdict(ok)} |`);
  } else {
    emit('| overload (S2E): edits keep their order and are never dropped | not run | not measured |');
  }
}
emit();

// ---- sections -------------------------------------------------------------------------
function commandBlock(scenario, targets) {
  emit('```');
  for (const t of targets) {
    if (commands[`${scenario}/${t}/server`]) emit(commands[`${scenario}/${t}/server`]);
    if (commands[`${scenario}/${t}/load`]) emit(commands[`${scenario}/${t}/load`]);
  }
  emit('```');
  emit('(`--port` and `--server-pid` were those of the server started for the first run; every');
  emit('run starts its own server.)');
  emit();
}

function cursorSection(title, scenario, groups) {
  emit(`## ${title}`);
  emit();
  commandBlock(scenario, groups.map((g) => g.target));
  emit('| server | p50 ms | p99 ms | p99.9 ms | max ms | deliveries/s | lost (worst run) | dup | reordered | server CPU % | server µs/delivery | server RSS KiB | tool CPU % | runs with tool warnings |');
  emit('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { name, rows } of groups) {
    if (!rows.length) continue;
    emit(`| ${name} | ${ms(med(rows, 'p50_us'))} | ${ms(med(rows, 'p99_us'))} | ${ms(med(rows, 'p999_us'))} | ${ms(med(rows, 'max_us'))} | ${fmt(med(rows, 'deliveries_per_s'))} | ${fmt(max(rows, 'lost'))} | ${fmt(max(rows, 'duplicates'))} | ${fmt(max(rows, 'reordered'))} | ${fmt(med(rows, 'server_cpu_pct'), 1)} | ${fmt(med(rows, 'server_cpu_us_per_delivery'), 3)} | ${fmt(med(rows, 'server_rss_kib'))} | ${fmt(med(rows, 'tool_cpu_pct'), 1)} | ${boundCount(rows)} |`);
  }
  emit();
  emit('Each run:');
  emit();
  emit('| server | run | p50 ms | p99 ms | max ms | sends/s | deliveries/s | lost | server CPU % | µs/delivery | tool CPU % | warnings |');
  emit('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { name, rows } of groups) {
    for (const r of rows) {
      emit(`| ${name} | ${r.run} | ${ms(r.p50_us)} | ${ms(r.p99_us)} | ${ms(r.max_us)} | ${fmt(r.sends_per_s)} | ${fmt(r.deliveries_per_s)} | ${fmt(r.lost)} | ${fmt(r.server_cpu_pct, 1)} | ${fmt(r.server_cpu_us_per_delivery, 3)} | ${fmt(r.tool_cpu_pct, 1)} | ${warnCell(r)} |`);
    }
  }
  emit();
}

cursorSection('S1: 1 room x 100 sessions, 10 cursors/s each (99,000 deliveries/s)', 'S1',
  [{ name: 'roomcast', target: 'roomcast', rows: s1 }, { name: 'Node ws', target: 'node', rows: s1node }]);
if (ratioRuns.length) {
  emit('Server CPU per delivery, Node `ws` peer / roomcast, the two measured back to back in each run:');
  emit();
  emit('| run | roomcast µs/delivery | Node µs/delivery | ratio | Node lost |');
  emit('|---|---|---|---|---|');
  for (const x of ratioRuns) emit(`| ${x.run} | ${fmt(x.roomcast, 3)} | ${fmt(x.node, 3)} | ${fmt(x.ratio, 1)}x | ${fmt(x.nodeLost)} |`);
  emit(`| median | | | ${fmt(ratio, 1)}x | |`);
  emit();
  if (ratioRuns.some((x) => x.nodeLost > 0)) {
    emit('Where the Node peer lost deliveries it was saturated (its backlog grew for the whole run):');
    emit('its µs/delivery is then CPU spent per delivery it managed, over a busy interval.');
    emit();
  }
}
cursorSection('S1-now: S1 with `--max-batch-delay 0`', 'S1-now', [{ name: 'roomcast', target: 'roomcast', rows: s1now }]);
if (s1a.length) {
  // Protocol 1.2 camera rate by attention (docs/protocol.md 7.3), S1 and S1A back to back
  // in each run.
  emit('## S1A: S1 with every client `camera_rate: 2`, 10 of the 100 following one leader');
  emit();
  commandBlock('S1A-base', ['roomcast']);
  commandBlock('S1A', ['roomcast']);
  emit('Deliveries/s count cursors received (a reduced client gets the newest of each sender');
  emit('about twice a second, so "lost" in the load tool\'s terms is by design here). Bytes are');
  emit('what each client read per second. Followers\' p99: the leader\'s cursors at its followers.');
  emit();
  emit('| scenario | deliveries/s | server CPU % | bytes/s per client | p99 ms (all) | followers\' p99 ms | leader cursors at followers |');
  emit('|---|---|---|---|---|---|---|');
  const follow99 = (rows) => (rows.some((r) => r.follower_p99_us !== undefined) ? ms(med(rows, 'follower_p99_us')) : 'n/a');
  emit(`| S1 | ${fmt(med(s1aBase, 'deliveries_per_s'))} | ${fmt(med(s1aBase, 'server_cpu_pct'), 1)} | ${fmt(med(s1aBase, 'bytes_in_per_client_per_s'))} | ${ms(med(s1aBase, 'p99_us'))} | ${ms(med(s1aBase, 'p99_us'))} (all) | every cursor |`);
  emit(`| S1A | ${fmt(med(s1a, 'deliveries_per_s'))} | ${fmt(med(s1a, 'server_cpu_pct'), 1)} | ${fmt(med(s1a, 'bytes_in_per_client_per_s'))} | ${ms(med(s1a, 'p99_us'))} | ${follow99(s1a)} | ${fmt(med(s1a, 'follower_received'))} |`);
  const cpuRatio = med(s1aBase, 'server_cpu_pct') / med(s1a, 'server_cpu_pct');
  const byteRatio = med(s1aBase, 'bytes_in_per_client_per_s') / med(s1a, 'bytes_in_per_client_per_s');
  emit(`| S1 / S1A | ${fmt(med(s1aBase, 'deliveries_per_s') / med(s1a, 'deliveries_per_s'), 1)}x | ${fmt(cpuRatio, 1)}x | ${fmt(byteRatio, 1)}x | | | |`);
  emit();
  emit(`Goal (issue 23): >= 3x less server CPU (${verdict(cpuRatio >= 3)}), >= 4x fewer bytes per client (${verdict(byteRatio >= 4)}), followers' p99 unchanged.`);
  emit();
  emit('| run | S1 CPU % | S1A CPU % | S1 bytes/s/client | S1A bytes/s/client | S1 p99 ms | S1A followers\' p99 ms |');
  emit('|---|---|---|---|---|---|---|');
  for (const r of s1a) {
    const b = s1aBase.find((x) => x.run === r.run) || {};
    emit(`| ${r.run} | ${fmt(b.server_cpu_pct, 1)} | ${fmt(r.server_cpu_pct, 1)} | ${fmt(b.bytes_in_per_client_per_s)} | ${fmt(r.bytes_in_per_client_per_s)} | ${ms(b.p99_us)} | ${ms(r.follower_p99_us)} |`);
  }
  emit();
}
if (sweep.some((x) => x.rows.length)) {
  emit('## S1 across batch windows (`--max-batch-delay` 0, 1, 2, 5, 10 ms)');
  emit();
  emit('The same S1 load with only the window changed: what the default (5 ms) trades. Each');
  emit('window means about one `sendmsg` per recipient socket per window, so server CPU follows');
  emit('the number of windows per second; latency follows the window. "Floor" is');
  emit('`roomcast-floor` writing each of the 100 sockets once per window (no server).');
  emit();
  emit('| --max-batch-delay ms | p50 ms | p99 ms | max ms | lost (worst run) | server CPU % | µs/delivery | kernel floor at this window | runs with tool warnings |');
  emit('|---|---|---|---|---|---|---|---|---|');
  for (const { delay, rows } of sweep) {
    if (!rows.length) continue;
    const fl = delay > 0 ? floorCell(`S1@${delay}ms`) : 'n/a (no window)';
    emit(`| ${delay} | ${ms(med(rows, 'p50_us'))} | ${ms(med(rows, 'p99_us'))} | ${ms(med(rows, 'max_us'))} | ${fmt(max(rows, 'lost'))} | ${fmt(med(rows, 'server_cpu_pct'), 1)} | ${fmt(med(rows, 'server_cpu_us_per_delivery'), 3)} | ${fl} | ${boundCount(rows)} |`);
  }
  emit();
}
cursorSection('S2: 1,000 rooms x 10 sessions, 10/s each (900,000 deliveries/s)', 'S2', [{ name: 'roomcast', target: 'roomcast', rows: s2 }]);
if (s2e.length) {
  cursorSection('S2E: S2 with every 20th message an edit (issue 14\'s overload)', 'S2E', [{ name: 'roomcast', target: 'roomcast', rows: s2e }]);
}

emit('## S3: 1 room x 500 sessions, rate stepped');
emit();
commandBlock('S3', ['roomcast']);
emit('| rate /s per session | offered deliveries/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms | lost (worst run) | server CPU % | µs/delivery | tool CPU % | runs with tool warnings |');
emit('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const rows of s3steps) {
  if (!rows) continue;
  const offered = rows[0].rate_per_conn * rows[0].connections * (rows[0].connections - 1);
  emit(`| ${rows[0].rate_per_conn} | ${fmt(offered)} | ${fmt(med(rows, 'deliveries_per_s'))} | ${ms(med(rows, 'p50_us'))} | ${ms(med(rows, 'p99_us'))} | ${ms(med(rows, 'p999_us'))} | ${ms(med(rows, 'max_us'))} | ${fmt(max(rows, 'lost'))} | ${fmt(med(rows, 'server_cpu_pct'), 1)} | ${fmt(med(rows, 'server_cpu_us_per_delivery'), 3)} | ${fmt(med(rows, 'tool_cpu_pct'), 1)} | ${boundCount(rows)} |`);
}
emit();
emit('Each run and step:');
emit();
emit('| run | rate | sends/s | deliveries/s | p99 ms | lost | server CPU % | tool CPU % | warnings |');
emit('|---|---|---|---|---|---|---|---|---|');
for (const r of s3) {
  emit(`| ${r.run} | ${r.rate_per_conn} | ${fmt(r.sends_per_s)} | ${fmt(r.deliveries_per_s)} | ${ms(r.p99_us)} | ${fmt(r.lost)} | ${fmt(r.server_cpu_pct, 1)} | ${fmt(r.tool_cpu_pct, 1)} | ${warnCell(r)} |`);
}
emit();
emit('Cursors are lossy by contract: a recipient whose output backs up gets only the newest');
emit('camera of each sender, so past saturation "lost" counts superseded cameras.');
emit();

function joinSection(title, scenario, rows, idle) {
  emit(`## ${title}`);
  emit();
  commandBlock(scenario, ['roomcast']);
  emit('| run | welcomed | last welcome ms | welcome p50 ms | p99 ms | server RSS before KiB | joined KiB | RSS per connection B | join: server CPU % | server CPU-wait % | tool CPU % | tool CPU-wait % | server CPU µs per join' + (idle ? ' | idle server CPU % | RSS per connection after the idle period B' : '') + ' | warnings |');
  emit('|---|---|---|---|---|---|---|---|---|---|---|---|---|' + (idle ? '---|---|' : '') + '---|');
  for (const r of rows) {
    const perJoin = r.join_server_cpu_pct !== undefined && r.welcomed
      ? (r.join_server_cpu_pct / 100) * r.join_phase_s * 1e6 / r.welcomed : undefined;
    emit(`| ${r.run} | ${fmt(r.welcomed)} / ${fmt(r.connections)} | ${fmt(r.welcome_max_ms)} | ${fmt(r.welcome_p50_ms)} | ${fmt(r.welcome_p99_ms)} | ${fmt(r.server_rss_before_kib)} | ${fmt(r.server_rss_joined_kib)} | ${fmt(r.server_rss_per_conn_bytes)} | ${fmt(r.join_server_cpu_pct, 1)} | ${fmt(r.join_server_cpu_wait_pct, 1)} | ${fmt(r.join_tool_cpu_pct, 1)} | ${fmt(r.join_tool_cpu_wait_pct, 1)} | ${fmt(perJoin)}` + (idle ? ` | ${fmt(r.server_cpu_pct, 1)} | ${fmt(r.server_rss_idle_per_conn_bytes)}` : '') + ` | ${warnCell(r)} |`);
  }
  if (rows.length) {
    emit(`| median | | ${fmt(med(rows, 'welcome_max_ms'))} | ${fmt(med(rows, 'welcome_p50_ms'))} | ${fmt(med(rows, 'welcome_p99_ms'))} | | | ${fmt(med(rows, 'server_rss_per_conn_bytes'))} | ${fmt(med(rows, 'join_server_cpu_pct'), 1)} | | ${fmt(med(rows, 'join_tool_cpu_pct'), 1)} | | ` + (idle ? ` | ${fmt(med(rows, 'server_cpu_pct'), 1)} | ${fmt(med(rows, 'server_rss_idle_per_conn_bytes'))}` : '') + ' | |');
  }
  emit();
}
joinSection('S4: 10,000 joined idle connections (1,000 rooms x 10)', 'S4', s4, true);
joinSection('S5: 10,000 connections join at once (1,000 rooms x 10)', 'S5', s5, false);
emit('"Join" columns cover the interval from the first connect to the last welcome. The tool');
emit('opens all its connections from one thread (socket, bind, nonblocking connect each),');
emit('so that time is part of "last welcome". RSS per connection = (RSS after the joins and a');
emit('settle of 2 s (S4) or 0.5 s (S5) - RSS before connecting) / connections; S4\'s target is');
emit('judged on the steady state, "RSS per connection after the idle period" (same formula with');
emit('the RSS at the end of the idle period).');

emit();

if (floorRows.length) {
  emit('## Kernel floor: plain loopback writes, no server');
  emit();
  emit('`roomcast-floor` opens N loopback TCP connections and, from a thread pinned to the');
  emit(`server's CPU (${meta.server_cpu}), writes B bytes to each of them every interval with plain \`send()\`, while`);
  emit(`a reader thread on CPU ${meta.tool_cpu} drains them. It reports the writer thread's CPU time. On loopback`);
  emit('the receiving side\'s TCP work runs inside the sender\'s write (softirq), for roomcast');
  emit('exactly as here, so this is the least CPU any server on this machine pays to put the');
  emit('same bytes in the same sockets at that cadence. Patterns: one write per recipient socket');
  emit('per latency budget (S1: 10 ms; S2, S3: 50 ms), S1 at the 5, 2 and 1 ms windows, and S3 at');
  emit('the default 5 ms window written as one piece and as the 25 frames a batched `sendmsg`');
  emit('gathers there (`--iovecs 25`): what gathering separate frames costs the kernel.');
  emit();
  emit('```');
  for (const label of floorLabels) if (commands[`floor/${label}/load`]) emit(commands[`floor/${label}/load`]);
  emit('```');
  emit();
  emit('"CPU needed" is µs per write times the writes the pattern asks for: equal to the writer\'s');
  emit('CPU when it kept the cadence, more than 100% when one core could not (writes/s then falls');
  emit('short of the pattern).');
  emit();
  emit('| pattern | sockets | interval ms | bytes per write | iovecs per write | pattern writes/s | writes/s done | writer CPU % | µs per write | CPU needed, % of a core (median) |');
  emit('|---|---|---|---|---|---|---|---|---|---|');
  for (const label of floorLabels) {
    const rows = floorOf(label);
    emit(`| ${label} | ${fmt(rows[0].sockets)} | ${fmt(rows[0].interval_us / 1000, 1)} | ${fmt(rows[0].bytes)} | ${fmt(rows[0].iovecs || 1)} | ${fmt(rows[0].wanted_writes_per_s)} | ${fmt(med(rows, 'writes_per_s'))} | ${fmt(med(rows, 'writer_cpu_pct'), 1)} | ${fmt(med(rows, 'us_per_write'), 2)} | ${fmt(med(rows, 'cpu_needed_pct'), 1)} |`);
  }
  emit();
}

process.stdout.write(lines.join('\n') + '\n');

// ---- S1-redis (its own section, spliced in by bench/run.sh) -----------------------------
// Three setups per run, back to back: (a) one roomcast, (b) one roomcast with --redis, (c)
// two instances, member m of the room on instance m % 2, one redis-server. In (c) the tool
// splits deliveries by path: same-instance (sender and receiver on one instance) and
// cross-instance; the goal compares the two within each run.
function scaleoutSection() {
  const out = [];
  const put = (x = '') => out.push(x);
  const windows = (meta.redis_windows || '').split(/\s+/).filter((w) => w !== '');
  const setups = [
    { key: 'single', name: '(a) 1 instance, no Redis', instances: 1, redis: false },
    { key: 'single-redis', name: '(b) 1 instance, `--redis`', instances: 1, redis: true },
    { key: 'two-redis', name: '(c) 2 instances x 50, one Redis', instances: 2, redis: true },
    ...windows.map((w) => ({ key: `two-redis-w${w}`, name: `(c) at \`--max-batch-delay ${w}\``, instances: 2, redis: true })),
  ].map((x) => ({ ...x, rows: results('S1-redis', x.key) }));
  const bySetup = Object.fromEntries(setups.map((x) => [x.key, x]));
  // Same-instance latency: every delivery with one instance; the same-server share with two.
  const same = (r, q) => (r.servers > 1 ? r[`same_server_${q}_us`] : r[`${q}_us`]);
  const cross = (r, q) => (r.servers > 1 ? r[`cross_server_${q}_us`] : undefined);
  const overhead = (r) => (r.servers > 1 ? r.cross_server_p99_us - r.same_server_p99_us : undefined);
  const inst = (r, i) => (r.servers > 1 ? r[`server${i}_cpu_pct`] : i === 0 ? r.server_cpu_pct : undefined);
  const withRedis = (r) => (r.server_cpu_pct ?? NaN) + (r.redis_cpu_pct ?? 0);
  const usPerDelivery = (r) => (r.deliveries_per_s > 0 ? (withRedis(r) / 100) * 1e6 / r.deliveries_per_s : undefined);
  const cell = (x, f) => (x === undefined || Number.isNaN(x) ? '—' : f(x));
  const msCell = (x) => cell(x, ms);
  const pct = (x) => cell(x, (v) => fmt(v, 1));
  const medOf = (rows, f) => median(rows.map(f));
  // (c) against (a) in the same run: cross-instance p99 minus one instance's p99.
  const vsSingle = (rows) => median(rows.map((r) => {
    const a = bySetup.single.rows.find((x) => x.run === r.run);
    return a ? r.cross_server_p99_us - a.p99_us : undefined;
  }));
  const c = bySetup['two-redis'].rows;
  const goalUs = 2000;
  const cOverhead = medOf(c, overhead);

  put('<!-- bench/run.sh: S1-redis begin -->');
  put('## S1-redis: S1 split over two instances through Redis (issue 12)');
  put();
  put('S1 (1 room x 100 sessions, 10 cursors/s each) served three ways, back to back in each run so');
  put('they compare within a run: (a) one roomcast; (b) one roomcast with `--redis` (it publishes');
  put('its room to Redis though nobody else listens); (c) two roomcast instances sharing one');
  put('redis-server, member m of the room connected to instance m % 2 (50 each). In (c) the tool');
  put('splits deliveries into same-instance (sender and receiver on one instance: 2 x 50 x 49 per');
  put('round) and cross-instance (2 x 50 x 50 per round), each with its own percentiles.');
  put('Not in the default `BENCH_SCENARIOS` (about 45 s per run, 2.5 minutes at 3 runs); run it');
  put('with `BENCH_SCENARIOS=S1-redis ./bench/run.sh` (after `make bench` or with `ROOMCAST_BIN` and');
  put('`LOAD_BIN` set; `BENCH_REDIS_WINDOWS="1"` adds (c) at `--max-batch-delay 1`, 15 s per run more):');
  put('it rewrites only this section.');
  put();
  put(`- Machine: ${meta.model}, ${meta.cpus} cores; kernel ${meta.kernel}; redis-server ${meta.redis || 'n/a'}`);
  put(`- Date: ${meta.date}; repository HEAD ${meta.commit}; load average ${meta.loadavg_start} at the start, ${meta.loadavg} at the end`);
  put(`- Pinning: every roomcast instance (\`--threads 1\`) and the redis-server on CPU ${meta.server_cpu}, the load tool on CPU ${meta.tool_cpu}`);
  put('  (`taskset`): with 2 cores, (c) puts both instances and Redis on one core, so their CPU adds up');
  put('  there and each waits while the others run (the "CPU-wait" column).');
  put(`- ${meta.duration} s measured after ${meta.warmup} s warm-up, then ${meta.drain} s drain; ${meta.runs} run(s), medians; a fresh redis-server`);
  put('  (loopback, free port, `--save "" --appendonly no`, own temp dir) per measurement.');
  if (meta.note) put(`- Note: ${meta.note}`);
  put('- CPU: utime+stime from `/proc/PID/stat` over the measured interval (10 ms ticks), % of one');
  put('  core; "servers + Redis" is the instances\' total plus Redis, and µs/delivery divides that by');
  put('  the deliveries counted.');
  put();
  put('```');
  const cmdKeys = ['S1-redis/redis/server'];
  for (const x of setups) {
    for (let i = 1; i <= x.instances; ++i) cmdKeys.push(`S1-redis/${x.key}/server${i}`);
    cmdKeys.push(`S1-redis/${x.key}/load`);
  }
  for (const k of cmdKeys) if (commands[k]) put(commands[k]);
  put('```');
  put('(ports and pids were those of the first run; every measurement starts its own processes.)');
  put();
  put(`Goal: cross-instance p99 at most ${fmt(goalUs / 1000)} ms over same-instance p99, in (c). Measured: **${cell(cOverhead, (v) => fmt(v / 1000, 2))} ms**`);
  put(`(median of the per-run differences) -> ${verdict(c.length ? cOverhead < goalUs : undefined)}. Against (a) in the same run, (c)'s`);
  put(`cross-instance p99 is ${cell(vsSingle(c), (v) => fmt(v / 1000, 2))} ms higher.`);
  put();
  put('| setup | same-instance p50 ms | same-instance p99 ms | cross-instance p50 ms | cross-instance p99 ms | cross - same p99 ms | lost (worst run) | instance 1 CPU % | instance 2 CPU % | servers CPU % | Redis CPU % | servers + Redis CPU % | µs/delivery (servers + Redis) | servers CPU-wait % | runs with tool warnings |');
  put('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const x of setups) {
    const rows = x.rows;
    if (!rows.length) continue;
    put(`| ${x.name} | ${msCell(medOf(rows, (r) => same(r, 'p50')))} | ${msCell(medOf(rows, (r) => same(r, 'p99')))} | ${msCell(medOf(rows, (r) => cross(r, 'p50')))} | ${msCell(medOf(rows, (r) => cross(r, 'p99')))} | ${msCell(medOf(rows, overhead))} | ${fmt(max(rows, 'lost'))} | ${pct(medOf(rows, (r) => inst(r, 0)))} | ${pct(medOf(rows, (r) => inst(r, 1)))} | ${pct(med(rows, 'server_cpu_pct'))} | ${pct(med(rows, 'redis_cpu_pct'))} | ${pct(medOf(rows, withRedis))} | ${cell(medOf(rows, usPerDelivery), (v) => fmt(v, 3))} | ${pct(med(rows, 'server_cpu_wait_pct'))} | ${boundCount(rows)} |`);
  }
  put();
  put('Each run:');
  put();
  put('| setup | run | same p50 ms | same p99 ms | cross p50 ms | cross p99 ms | cross - same p99 ms | max ms | deliveries/s | lost | instance 1 CPU % | instance 2 CPU % | Redis CPU % | warnings |');
  put('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const x of setups) {
    for (const r of x.rows) {
      put(`| ${x.name} | ${r.run} | ${msCell(same(r, 'p50'))} | ${msCell(same(r, 'p99'))} | ${msCell(cross(r, 'p50'))} | ${msCell(cross(r, 'p99'))} | ${msCell(overhead(r))} | ${ms(r.max_us)} | ${fmt(r.deliveries_per_s)} | ${fmt(r.lost)} | ${pct(inst(r, 0))} | ${pct(inst(r, 1))} | ${pct(r.redis_cpu_pct)} | ${warnCell(r)} |`);
    }
  }
  put();
  const sameP50 = medOf(c, (r) => r.same_server_p50_us);
  const crossP50 = medOf(c, (r) => r.cross_server_p50_us);
  const a = bySetup.single.rows;
  const b = bySetup['single-redis'].rows;
  put('Why cross-instance costs what it costs. A cursor reaches a member of its own instance at');
  put('once if that member\'s socket was not written to within `--max-batch-delay` W (default 5 ms),');
  put('else W after its last write. The instance\'s relay to Redis follows the same rule: one');
  put('message per room to the room\'s channel (its outbox: every cursor relayed since the last');
  put('one), sent at once when the last went out W ago or more, else W after it (at most 200');
  put('PUBLISH/s per instance at 5 ms). Redis passes it to the other instance\'s subscriber');
  put('connection; its Redis thread hands it to the room\'s loop thread through an eventfd, whose');
  put('completion wakes that loop; each record becomes one shared frame for that instance\'s');
  put('members, pushed urgent: it leaves at the end of that loop iteration, not after a second');
  put('window. So a cross-instance delivery adds the Redis round (loopback to Redis and back, Redis');
  put('itself, the link thread, the hand-off to the loop) and at most one window on the sender\'s');
  put('side. Sending relayed frames at once costs writes: a recipient can get a write for its own');
  put('instance\'s traffic and another for each relayed batch.');
  if (c.length) {
    put(`Measured in (c): p50 ${msCell(sameP50)} ms same-instance and ${msCell(crossP50)} ms cross-instance;`);
    put(`p99 overhead ${cell(cOverhead, (v) => fmt(v / 1000, 2))} ms.`);
  }
  const wRows = windows.map((w) => ({ w, rows: bySetup[`two-redis-w${w}`].rows })).filter((x) => x.rows.length);
  for (const { w, rows } of wRows) {
    put(`At \`--max-batch-delay ${w}\` (both instances) the p99 overhead is ${cell(medOf(rows, overhead), (v) => fmt(v / 1000, 2))} ms, at servers + Redis`);
    put(`CPU ${pct(medOf(rows, withRedis))}% (${pct(medOf(c, withRedis))}% at the default window).`);
  }
  if (a.length && b.length) {
    put();
    put(`What \`--redis\` costs one instance alone, (b) against (a): server CPU ${pct(med(a, 'server_cpu_pct'))}% -> ${pct(med(b, 'server_cpu_pct'))}%, plus`);
    put(`Redis ${pct(med(b, 'redis_cpu_pct'))}%: it still publishes the room every window (nobody can tell it that no other`);
    put('instance listens) and reads its own messages back from the channel, skipping their records.');
  }
  put('<!-- bench/run.sh: S1-redis end -->');
  return out;
}
