// bench/webhook/receiver.js: a webhook receiver for benchmarks that answers 200 at once.
//
// Listens on 127.0.0.1 (port 0: the kernel picks; the first stdout line is
// `listening <port>`), keeps connections alive, and on SIGTERM or SIGINT prints one JSON
// line: events by type, duplicates (by webhook-id), per-room order violations (an edit
// whose seq is not above the last one of its room and epoch), and the edit events'
// delay from their `ts` (when applied, ms) to their arrival: p50, p99, max, in ms.
// Dependency-free (node's http); traffic only on loopback.
'use strict';
const http = require('http');

const seen = new Set();
const lastSeq = new Map();
const delays = [];
const counts = { edit: 0, join: 0, leave: 0, other: 0 };
let duplicates = 0, outOfOrder = 0, first = 0, last = 0;

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    res.writeHead(200, { 'content-length': '0' });
    res.end();
    const id = req.headers['webhook-id'] || '';
    if (seen.has(id)) { duplicates++; return; }
    seen.add(id);
    let ev;
    try { ev = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { counts.other++; return; }
    if (!first) first = now;
    last = now;
    if (ev.type === 'edit') {
      counts.edit++;
      delays.push(now - ev.ts);
      const key = ev.room + '\n' + ev.epoch;
      if (lastSeq.has(key) && ev.seq <= lastSeq.get(key)) outOfOrder++;
      lastSeq.set(key, ev.seq);
    } else if (ev.type in counts) {
      counts[ev.type]++;
    } else {
      counts.other++;
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function report() {
  const d = delays.slice().sort((a, b) => a - b);
  const span = (last - first) / 1000;
  console.log(JSON.stringify({
    events: counts, duplicates, out_of_order: outOfOrder,
    edits_per_s: span > 0 ? Math.round(counts.edit / span) : null,
    delay_p50_ms: pct(d, 50), delay_p99_ms: pct(d, 99), delay_max_ms: d.length ? d[d.length - 1] : null,
    cpu_s: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
  }));
  process.exit(0);
}
process.on('SIGTERM', report);
process.on('SIGINT', report);
