// What a user notices when the network or the server goes away: the session survives,
// the others see nothing, no edit is lost or applied twice, a restarted room resyncs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { RoomClient } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { startProxy } from './helpers/proxy.js';
import { next, record, sleep, until } from './helpers/wait.js';

/** @type {Array<() => unknown>} */
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** @param {string} url @param {string} room @param {string} name */
function join(url, room, name) {
  const c = new RoomClient({ url, room, user: { id: name, name }, WebSocket });
  cleanup.push(() => c.close());
  return c.connect();
}

async function serverAndProxy(args = ['--resume-grace', '10']) {
  const server = await startServer({ args });
  const proxy = await startProxy(server.port);
  cleanup.push(() => server.stop(), () => proxy.close());
  return { server, proxy };
}

test('a dropped socket is reconnected and resumed: same session, and the other client sees no presence event', async () => {
  const { server, proxy } = await serverAndProxy();
  const a = join(proxy.url, 'drop', 'ada');
  const b = join(server.url, 'drop', 'bob');
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  await until(() => b.peers.has(/** @type {string} */ (a.session)), 2000, 'b sees a');
  const session = a.session;
  const atB = record(b, ['presence']);
  const states = record(a, ['state']);

  const welcome = next(a, 'welcome', () => true, 8000);
  proxy.drop();
  const w = await welcome;
  assert.equal(w.resumed, true);
  assert.equal(a.session, session);
  assert.deepEqual(states.map(([, s]) => s), ['reconnecting', 'open']);

  // Traffic flows again, and b never saw a departure or an arrival.
  const cam = next(b, 'cursor', (c) => c.session === session);
  a.setCamera({ position: [4, 5, 6], target: [0, 0, 0] });
  await cam;
  await sleep(200);
  assert.deepEqual(atB, []);
  assert.equal(b.peers.get(/** @type {string} */ (session))?.user.name, 'ada');
});

test('an edit whose ack was lost is resent after the reconnect and applied once', async () => {
  const { server, proxy } = await serverAndProxy();
  const a = join(proxy.url, 'lost-ack', 'ada');
  const b = join(server.url, 'lost-ack', 'bob');
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  await a.edit({ building: 'b-0', op: 'set', data: { height: 3 } });
  // a's ack leaves at the end of the loop iteration, b's copy with the batch window: b
  // may see b-0 after a has its ack, so start recording only once b has it.
  await until(() => b.seq === 1, 2000, 'b gets b-0');
  const atB = record(b, ['edit']);

  proxy.deafen(); // the server's answers (the ack) never reach a
  const pending = a.edit({ building: 'b-1', op: 'set', data: { height: 20 } });
  await until(() => atB.length === 1, 2000, 'b gets the edit');
  const seq = atB[0][1].seq;
  assert.equal(a.seq, 1, 'a has not seen its ack');
  proxy.drop();

  const result = await Promise.race([pending, sleep(8000).then(() => 'timeout')]);
  assert.deepEqual(result, { seq, duplicate: true });
  assert.equal(a.seq, seq);
  const after = await a.edit({ building: 'b-2', op: 'set', data: { height: 1 } });
  assert.equal(after.seq, seq + 1);
  await until(() => atB.length === 2, 2000, 'b gets the next edit');
  assert.deepEqual(atB.map(([, e]) => e.building), ['b-1', 'b-2'], 'b-1 applied once');
});

test('edits made while disconnected are sent once the connection is back', async () => {
  const { server, proxy } = await serverAndProxy();
  const a = join(proxy.url, 'offline', 'ada');
  const b = join(server.url, 'offline', 'bob');
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  const atB = record(b, ['edit']);
  const reconnecting = next(a, 'state', (s) => s === 'reconnecting');
  proxy.drop();
  await reconnecting;
  const edits = [1, 2, 3].map((h) => a.edit({ building: `b-${h}`, op: 'set', data: { height: h } }));
  const seqs = (await Promise.all(edits)).map((r) => r.seq);
  assert.deepEqual(seqs, [1, 2, 3]);
  await until(() => atB.length === 3, 2000, 'b gets three edits');
  assert.deepEqual(atB.map(([, e]) => e.building), ['b-1', 'b-2', 'b-3']);
});

test('a server restart on the same port: both clients resync to the new epoch and no edit is lost', async () => {
  const first = await startServer({ args: ['--drain-timeout', '1'] });
  let server = first;
  cleanup.push(() => server.stop());
  const a = join(first.url, 'restart', 'ada');
  const b = join(first.url, 'restart', 'bob');
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  assert.deepEqual(await a.edit({ building: 'b-0', op: 'set', data: { height: 7 } }), { seq: 1 });
  await until(() => b.seq === 1, 2000, 'b sees seq 1');
  const epoch = a.epoch;
  assert.ok(epoch);

  const resyncs = [next(a, 'resync', () => true, 10000), next(b, 'resync', () => true, 10000)];
  const down = [next(a, 'state', (s) => s === 'reconnecting'), next(b, 'state', (s) => s === 'reconnecting')];
  await first.stop();
  await Promise.all(down);
  const offline = a.edit({ building: 'b-9', op: 'set', data: { height: 30 } }); // made while the server is down
  const atB = record(b, ['edit']);
  server = await startServer({ port: first.port, args: ['--drain-timeout', '1'] });

  await Promise.all(resyncs);
  assert.notEqual(a.epoch, epoch);
  assert.equal(a.epoch, b.epoch);
  assert.deepEqual(await offline, { seq: 1 });
  await until(() => atB.length === 1, 2000, 'b gets the offline edit');
  assert.equal(atB[0][1].building, 'b-9');
  assert.equal(a.state, 'open');
  assert.equal(b.state, 'open');
  assert.ok(a.peers.has(/** @type {string} */ (b.session)) && b.peers.has(/** @type {string} */ (a.session)));
});

test('a client back after others edited in the restarted room still gets those edits', async () => {
  const first = await startServer({ args: ['--drain-timeout', '1'] });
  let server = first;
  cleanup.push(() => server.stop());
  const proxy = await startProxy(first.port);
  cleanup.push(() => proxy.close());
  const a = join(first.url, 'late', 'ada');
  const b = join(proxy.url, 'late', 'bob');
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  await a.edit({ building: 'b-0', op: 'set', data: { height: 7 } });

  proxy.block(true); // b stays away until a has edited the new room
  await first.stop();
  server = await startServer({ port: first.port, args: ['--drain-timeout', '1'] });
  await until(() => a.state === 'open' && a.epoch !== null && a.seq === 0, 8000, 'a back in the new room');
  assert.deepEqual(await a.edit({ building: 'b-5', op: 'set', data: { height: 40 } }), { seq: 1 });
  assert.deepEqual(await a.edit({ building: 'b-6', op: 'set', data: { height: 41 } }), { seq: 2 });

  const atB = record(b, ['resync', 'edit', 'state']);
  proxy.block(false);
  await until(() => b.state === 'open' && b.seq === 2, 15000, 'b caught up');
  const kinds = atB.map(([k, v]) => (k === 'edit' ? `edit ${v.building}` : k === 'state' ? v : k));
  assert.deepEqual(kinds.slice(kinds.indexOf('resync')), ['resync', 'open', 'edit b-5', 'edit b-6']);
  assert.equal(b.epoch, a.epoch);
  assert.ok(b.peers.has(/** @type {string} */ (a.session)));
  assert.equal(a.peers.get(/** @type {string} */ (b.session))?.user.name, 'bob');
});
