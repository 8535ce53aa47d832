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
  assert.deepEqual(states.map(([, s]) => s.state), ['reconnecting', 'open']);

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
  assert.deepEqual(result, { seq, id: /** @type {any} */ (result).id, duplicate: true });
  assert.ok(/** @type {any} */ (result).id);
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
  const reconnecting = next(a, 'state', (s) => s.state === 'reconnecting');
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
  assert.equal((await a.edit({ building: 'b-0', op: 'set', data: { height: 7 } })).seq, 1);
  await until(() => b.seq === 1, 2000, 'b sees seq 1');
  const epoch = a.epoch;
  assert.ok(epoch);

  const resyncs = [next(a, 'resync', () => true, 10000), next(b, 'resync', () => true, 10000)];
  const down = [next(a, 'state', (s) => s.state === 'reconnecting'), next(b, 'state', (s) => s.state === 'reconnecting')];
  await first.stop();
  await Promise.all(down);
  const offline = a.edit({ building: 'b-9', op: 'set', data: { height: 30 } }); // made while the server is down
  const atB = record(b, ['edit']);
  server = await startServer({ port: first.port, args: ['--drain-timeout', '1'] });

  await Promise.all(resyncs);
  assert.notEqual(a.epoch, epoch);
  assert.equal(a.epoch, b.epoch);
  assert.equal((await offline).seq, 1);
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
  assert.equal((await a.edit({ building: 'b-5', op: 'set', data: { height: 40 } })).seq, 1);
  assert.equal((await a.edit({ building: 'b-6', op: 'set', data: { height: 41 } })).seq, 2);

  const atB = record(b, ['resync', 'edit', 'state']);
  const welcomes = record(b, ['welcome']);
  proxy.block(false);
  await until(() => b.state === 'open' && b.seq === 2, 15000, 'b caught up');
  // b took its new session over once more to ask for the new history: the server said
  // `resumed: true` to that, but b's session is new since the restart.
  assert.ok(welcomes.length >= 1);
  for (const [, w] of welcomes) assert.equal(w.resumed, false, 'a new session is not reported as resumed');
  const kinds = atB.map(([k, v]) => (k === 'edit' ? `edit ${v.building}` : k === 'state' ? v.state : k));
  assert.deepEqual(kinds.slice(kinds.indexOf('resync')), ['resync', 'open', 'edit b-5', 'edit b-6']);
  assert.equal(b.epoch, a.epoch);
  assert.ok(b.peers.has(/** @type {string} */ (a.session)));
  assert.equal(a.peers.get(/** @type {string} */ (b.session))?.user.name, 'bob');
});

// Issue 20: after a restart every session id is new. The client must not re-send an old
// id (it would name nobody, or someone else), must not tell people who are still there
// as leaving and joining, and must not call the new session resumed.
test('a follow survives a server restart: the follower follows the same user again, and nobody is told as leaving', async () => {
  const first = await startServer({ args: ['--drain-timeout', '1'] });
  let server = first;
  cleanup.push(() => server.stop());
  const proxy = await startProxy(first.port);
  cleanup.push(() => proxy.close());
  const alice = join(first.url, 'follow-restart', 'alice');
  const bob = join(proxy.url, 'follow-restart', 'bob');
  await Promise.all([next(alice, 'welcome'), next(bob, 'welcome')]);
  await until(() => bob.peers.has(/** @type {string} */ (alice.session)), 2000, 'bob sees alice');
  bob.follow(alice.session);
  await until(() => alice.peers.get(/** @type {string} */ (bob.session))?.following === alice.session, 2000, 'alice sees bob follow her');
  const oldAlice = alice.session;
  const oldEpoch = alice.epoch;

  proxy.block(true); // bob comes back only once alice and a newcomer are in the new room
  await first.stop();
  server = await startServer({ port: first.port, args: ['--drain-timeout', '1'] });
  await until(() => alice.state === 'open' && alice.epoch !== oldEpoch, 8000, 'alice back in the new room');
  assert.notEqual(alice.session, oldAlice, 'a new session after a restart');
  const carol = join(server.url, 'follow-restart', 'carol');
  await next(carol, 'welcome');

  const atBob = record(bob, ['presence', 'follow', 'welcome']);
  proxy.block(false);
  await until(() => bob.state === 'open' && bob.epoch === alice.epoch, 15000, 'bob back in the new room');
  await until(() => bob.following === alice.session, 2000, 'bob follows alice again');
  await until(() => alice.peers.get(/** @type {string} */ (bob.session))?.following === alice.session, 2000, 'the server has bob following alice');
  await sleep(200);

  const welcomes = atBob.filter(([k]) => k === 'welcome').map(([, w]) => w);
  assert.ok(welcomes.length >= 1);
  for (const w of welcomes) assert.notEqual(w.resumed, true, 'a new session is not reported as resumed');
  const presence = atBob.filter(([k]) => k === 'presence').map(([, p]) => `${p.event} ${p.user && p.user.id}`);
  assert.deepEqual(presence, ['join carol'], 'only carol is new; alice never left');
  const follows = atBob.filter(([k]) => k === 'follow').map(([, f]) => f);
  assert.deepEqual(follows, [{ session: bob.session, target: alice.session, reason: 'epoch' }]);
  assert.notEqual(carol.peers.get(/** @type {string} */ (bob.session))?.following, carol.session);
});

test('someone back within the grace after a restart: no leave, a join marked returned, and the follow moves to them', async () => {
  const first = await startServer({ args: ['--drain-timeout', '1'] });
  let server = first;
  cleanup.push(() => server.stop());
  const proxy = await startProxy(first.port);
  cleanup.push(() => proxy.close());
  const alice = join(proxy.url, 'follow-later', 'alice');
  const bob = join(first.url, 'follow-later', 'bob');
  await Promise.all([next(alice, 'welcome'), next(bob, 'welcome')]);
  await until(() => bob.peers.has(/** @type {string} */ (alice.session)), 2000, 'bob sees alice');
  bob.follow(alice.session);
  const oldEpoch = bob.epoch;

  proxy.block(true); // alice stays away for a while
  const atBob = record(bob, ['presence', 'follow']);
  await first.stop();
  server = await startServer({ port: first.port, args: ['--drain-timeout', '1'] });
  await until(() => bob.state === 'open' && bob.epoch !== oldEpoch, 8000, 'bob back in the new room');
  await sleep(500);
  assert.equal(bob.following, null, 'nobody to follow while alice is away');
  assert.deepEqual(atBob, [], 'alice is not reported gone: she may be reconnecting');

  proxy.block(false);
  await until(() => alice.state === 'open' && alice.epoch === bob.epoch, 15000, 'alice back');
  await until(() => bob.following === alice.session, 2000, 'bob follows alice again');
  await until(() => alice.peers.get(/** @type {string} */ (bob.session))?.following === alice.session, 2000, 'the server has bob following alice');
  assert.deepEqual(atBob.map(([k, v]) => (k === 'follow' ? `follow ${v.target === alice.session} ${v.reason}` : `${v.event} ${v.user && v.user.id} ${v.returned}`)), [
    'join alice true',
    'follow true epoch',
  ]);
});

test('someone not back when the grace ends after a restart is reported gone, and the follow is dropped with an event', async () => {
  const first = await startServer({ args: ['--drain-timeout', '1'] });
  let server = first;
  cleanup.push(() => server.stop());
  const proxy = await startProxy(first.port);
  cleanup.push(() => proxy.close());
  const alice = join(proxy.url, 'follow-gone', 'alice');
  const bob = new RoomClient({ url: first.url, room: 'follow-gone', user: { id: 'bob', name: 'bob' }, WebSocket, restartGrace: 1000 });
  cleanup.push(() => bob.close());
  bob.connect();
  await Promise.all([next(alice, 'welcome'), next(bob, 'welcome')]);
  await until(() => bob.peers.has(/** @type {string} */ (alice.session)), 2000, 'bob sees alice');
  bob.follow(alice.session);
  const oldEpoch = bob.epoch;

  proxy.block(true); // alice does not come back within bob's grace
  const atBob = record(bob, ['presence', 'follow']);
  await first.stop();
  server = await startServer({ port: first.port, args: ['--drain-timeout', '1'] });
  await until(() => bob.state === 'open' && bob.epoch !== oldEpoch, 8000, 'bob back in the new room');
  await until(() => atBob.length === 2, 3000, 'bob is told alice is gone');
  const told = atBob.map(([k, v]) => (k === 'follow' ? `follow ${v.target} ${v.reason}` : `${v.event} ${v.user && v.user.id}`));
  assert.deepEqual(told, ['leave alice', 'follow null epoch']);
  assert.equal(bob.following, null);

  // Back later: a new arrival, and bob does not follow her again by himself.
  proxy.block(false);
  await until(() => alice.state === 'open' && alice.epoch === bob.epoch, 15000, 'alice back');
  await until(() => atBob.length === 3, 2000, 'bob sees alice arrive');
  assert.equal(atBob[2][1].event, 'join');
  assert.equal(atBob[2][1].returned, undefined);
  await sleep(200);
  assert.equal(bob.following, null);
});
