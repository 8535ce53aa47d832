// A RoomClient against a real roomcast: joining, peers, cameras, selections, follow, edits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { RoomClient } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { next, record, sleep, until } from './helpers/wait.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {RoomClient[]} */
const clients = [];

before(async () => {
  server = await startServer();
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

/** @param {string} room @param {string} name */
function join(room, name) {
  const c = new RoomClient({ url: server.url, room, user: { id: name, name, color: '#e33' }, WebSocket });
  clients.push(c);
  return c;
}

test('two clients in a room see each other in peers, with presence events', async () => {
  const a = join('peers', 'ada');
  const states = record(a, ['state']);
  a.connect();
  assert.equal(a.state, 'connecting');
  await next(a, 'welcome');
  assert.equal(a.state, 'open');
  assert.deepEqual(states.map(([, s]) => s.state), ['connecting', 'open']);
  assert.ok(a.session);
  assert.equal(a.peers.size, 0);

  const b = join('peers', 'bob');
  const joined = next(a, 'presence', (p) => p.event === 'join');
  b.connect();
  await next(b, 'welcome');
  assert.equal((await joined).user.name, 'bob');
  assert.deepEqual(a.peers.get(b.session)?.user.name, 'bob');
  const seenByB = b.peers.get(a.session);
  assert.equal(seenByB?.user.name, 'ada');
  assert.equal(seenByB?.connected, true);

  const left = next(a, 'presence', (p) => p.event === 'leave');
  b.close();
  assert.equal(b.state, 'closed');
  assert.equal((await left).session, b.session);
  assert.equal(a.peers.size, 0);
});

test('setCamera sends at most 10 cameras a second and the latest one always arrives', async () => {
  const a = join('cameras', 'ada').connect();
  const b = join('cameras', 'bob').connect();
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  const got = record(b, ['cursor']);
  const start = Date.now();
  let i = 0;
  for (; Date.now() - start < 1000; i++) {
    a.setCamera({ position: [i, 2, 3], target: [0, 0, 0], up: [0, 1, 0], fov: 50 });
    await sleep(5);
  }
  const last = i - 1;
  await until(() => got.length > 0 && got[got.length - 1][1].position[0] === last, 1000, 'latest camera');
  const elapsed = Date.now() - start;
  assert.ok(i > 50, `made ${i} camera updates`);
  assert.ok(got.length <= Math.ceil(elapsed / 100) + 1, `${got.length} cameras in ${elapsed} ms`);
  assert.ok(got.length >= 5, `${got.length} cameras in ${elapsed} ms`);
  const camera = b.peers.get(a.session)?.camera;
  assert.deepEqual(camera?.position.map(Number), [last, 2, 3]);
  assert.equal(Number(camera?.fov), 50);
});

test('select and follow reach the others and are kept in peers', async () => {
  const a = join('select', 'ada').connect();
  const b = join('select', 'bob').connect();
  await Promise.all([next(a, 'welcome'), next(b, 'welcome')]);
  const sel = next(b, 'select');
  a.select(['b-1', 'b-2']);
  assert.deepEqual((await sel).ids, ['b-1', 'b-2']);
  assert.deepEqual(b.peers.get(a.session)?.selection, ['b-1', 'b-2']);

  const fol = next(a, 'follow');
  b.follow(a.session);
  assert.deepEqual(await fol, { type: 'follow', session: b.session, target: a.session });
  assert.equal(a.peers.get(b.session)?.following, a.session);

  // A late joiner gets both in its welcome.
  const c = join('select', 'cy').connect();
  await next(c, 'welcome');
  assert.deepEqual(c.peers.get(a.session)?.selection, ['b-1', 'b-2']);
  assert.equal(c.peers.get(b.session)?.following, a.session);

  // The leader leaves: its followers stop following.
  const stopped = next(b, 'follow', (f) => f.session === b.session);
  a.close();
  assert.equal((await stopped).target, null);
  assert.equal(b.following, null);
  assert.equal(c.peers.get(b.session)?.following, null);
});

test('edit resolves with its seq on ack; the others get it with the same seq', async () => {
  const a = join('edits', 'ada').connect();
  const early = a.edit({ building: 'b-0', op: 'set', data: { height: 9 } }); // before the welcome
  const b = join('edits', 'bob').connect();
  await next(b, 'welcome');
  // b may get edit 1 live or in its welcome's seq; and the sender's ack does not wait
  // for the others' batch window, so edits at b are matched by seq, not by arrival time.
  const got = record(b, ['edit']);
  assert.equal((await early).seq, 1);
  const r2 = await a.edit({ building: 'b-1', op: 'set', data: { height: 12.5, color: '#336699' } });
  const r3 = await a.edit({ building: 'b-2', op: 'remove' });
  assert.deepEqual([r2.seq, r3.seq], [2, 3]);
  assert.equal(a.seq, 3);
  const later = () => got.map(([, e]) => e).filter((e) => e.seq >= 2);
  await until(() => later().length === 2, 2000, 'two edits at b');
  assert.deepEqual(later()[0], { type: 'edit', session: a.session, seq: 2, building: 'b-1', op: 'set', data: { height: 12.5, color: '#336699' } });
  assert.equal(later()[1].seq, 3);
  assert.equal(b.seq, 3);

  a.close();
  await assert.rejects(a.edit({ building: 'b-1', op: 'set' }), /closed/);
});

test('an edit still waiting when the client closes is rejected', async () => {
  const a = join('closing', 'ada').connect();
  const p = a.edit({ building: 'b-0', op: 'set', data: 1 });
  a.close();
  await assert.rejects(p, /closed/);
});

test('since: 0 replays the room\'s history to a late joiner', async () => {
  const a = join('history', 'ada').connect();
  await a.edit({ building: 'b-1', op: 'set', data: { height: 4 } });
  await a.edit({ building: 'b-2', op: 'set', data: { color: '#123456' } });
  const late = new RoomClient({ url: server.url, room: 'history', user: { id: 'late' }, WebSocket, since: 0 });
  clients.push(late);
  const got = record(late, ['edit']);
  late.connect();
  await until(() => got.length === 2, 2000, 'two replayed edits');
  assert.deepEqual(got.map(([, e]) => [e.seq, e.building]), [[1, 'b-1'], [2, 'b-2']]);
  assert.equal(late.seq, 2);
  const plain = join('history', 'plain');
  const none = record(plain, ['edit']);
  plain.connect();
  await next(plain, 'welcome');
  await sleep(100);
  assert.deepEqual(none, [], 'no replay without since');
  assert.equal(plain.seq, 2);
});

test('a session taken over by another connection (close 4008) stops the old client', async () => {
  const a = join('replaced', 'ada').connect();
  await next(a, 'welcome');
  const error = next(a, 'error');
  const thief = new WebSocket(`${server.url}/ws/replaced`);
  await new Promise((resolve) => thief.once('open', resolve));
  thief.send(JSON.stringify({ type: 'join', user: { id: 'ada' }, resume: /** @type {any} */ (a)._resume }));
  const e = await error;
  assert.equal(e.close, 4008);
  assert.equal(a.state, 'closed');
  thief.close();
});
