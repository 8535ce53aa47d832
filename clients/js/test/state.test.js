// The client's state machine against an in-process fake server (test/fake/server.js):
// fast and deterministic. Protocol 1.2 against the real server: roles.test.js.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { RoomClient, RoomError, ErrorCode, CloseCode } from '../src/index.js';
import { FakeServer, fakeToken } from './fake/server.js';
import { next, record, sleep, until } from './helpers/wait.js';

/** @type {RoomClient[]} */
let clients = [];
afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
});

/**
 * @param {FakeServer} server
 * @param {string} name
 * @param {Partial<import('../src/index.js').RoomClientOptions>} [options]
 */
function client(server, name, options = {}) {
  const c = new RoomClient({ url: 'ws://fake', room: 'r', user: { id: name, name }, WebSocket: server.WebSocket, minDelay: 5, maxDelay: 20, ...options });
  clients.push(c);
  return c;
}

/** @param {FakeServer} server @param {string} name @param {Partial<import('../src/index.js').RoomClientOptions>} [options] */
async function joined(server, name, options) {
  const c = client(server, name, options).connect();
  await next(c, 'welcome');
  return c;
}

test('join and welcome: the client takes its session, role, presenter and peers with their roles', async () => {
  const server = new FakeServer({ auth: true });
  const ada = await joined(server, 'ada', { token: fakeToken({ sub: 'ada' }) });
  assert.equal(ada.role, 'editor');
  assert.equal(ada.presenter, null);
  const joins = record(ada, ['presence']);
  const vic = await joined(server, 'vic', { token: fakeToken({ sub: 'vic', edit: [] }) });
  assert.equal(vic.role, 'viewer');
  assert.equal(vic.peers.get(/** @type {string} */ (ada.session))?.role, 'editor');
  await until(() => joins.length === 1, 1000, 'ada sees vic join');
  assert.deepEqual(joins[0][1].role, 'viewer');
  assert.equal(ada.peers.get(/** @type {string} */ (vic.session))?.role, 'viewer');
});

test('cameraRate is sent as camera_rate in every join, and out of range is refused before connecting', async () => {
  const server = new FakeServer();
  const c = await joined(server, 'ada', { cameraRate: 2 });
  assert.equal(server.sent('join')[0].camera_rate, 2);
  server.drop('r', 'ada');
  await next(c, 'welcome');
  assert.equal(server.sent('join')[1].camera_rate, 2, 'a resume carries it too');
  assert.equal(server.sent('join')[1].resume !== undefined, true);
  const plain = await joined(server, 'bob');
  assert.equal('camera_rate' in server.sent('join')[2], false);
  void plain;
  assert.throws(() => client(server, 'x', { cameraRate: 0.2 }), RangeError);
  assert.throws(() => client(server, 'y', { cameraRate: 11 }), RangeError);
});

test('a viewer\'s edit is rejected with a RoomError forbidden naming its id; nothing reaches the others and it is never resent', async () => {
  const server = new FakeServer({ auth: true });
  const ada = await joined(server, 'ada', { token: fakeToken({ sub: 'ada' }) });
  const vic = await joined(server, 'vic', { token: fakeToken({ sub: 'vic', edit: [] }) });
  const atAda = record(ada, ['edit']);
  const errors = record(vic, ['error']);
  const e = await vic.edit({ building: 'b-1', op: 'set', data: { height: 3 }, id: 'mine-1' }).then(() => null, (x) => x);
  assert.ok(e instanceof RoomError);
  assert.equal(e.code, ErrorCode.forbidden);
  assert.equal(e.id, 'mine-1');
  assert.equal(errors[0][1].code, 'forbidden');
  server.drop('r', 'vic');
  await next(vic, 'welcome');
  await sleep(20);
  assert.equal(server.sent('edit').length, 1, 'sent once, not again after the reconnect');
  assert.deepEqual(atAda, []);
  assert.equal(server.room('r').seq, 0);
  // The viewer still moves, selects and follows like anyone.
  const cam = next(ada, 'cursor');
  vic.setCamera({ position: [1, 2, 3], target: [0, 0, 0] });
  assert.deepEqual((await cam).position, [1, 2, 3]);
});

test('edit keeps the caller\'s id and returns it; without one the client makes one; a bad id is refused', async () => {
  const server = new FakeServer();
  const ada = await joined(server, 'ada');
  const first = ada.edit({ building: 'b-1', op: 'set', id: 'app-42' });
  assert.equal(ada.edit({ building: 'b-1', op: 'set', id: 'app-42' }), first, 'the same id pending: the same promise');
  assert.deepEqual(await first, { seq: 1, id: 'app-42' });
  assert.equal(server.sent('edit')[0].id, 'app-42');
  const made = await ada.edit({ building: 'b-2', op: 'set' });
  assert.equal(made.seq, 2);
  assert.equal(made.id, server.sent('edit')[1].id);
  assert.ok(made.id.length >= 1 && made.id.length <= 64);
  // The same id again after its ack: the server's duplicate answer, applied once.
  assert.deepEqual(await ada.edit({ building: 'b-1', op: 'set', id: 'app-42' }), { seq: 1, id: 'app-42', duplicate: true });
  assert.throws(() => ada.edit({ building: 'b', op: 'set', id: 'x'.repeat(65) }), TypeError);
  assert.throws(() => ada.edit({ building: 'b', op: 'set', id: '' }), TypeError);
});

test('presenting: everyone follows the presenter; a takeover moves them; stop ends it', async () => {
  const server = new FakeServer();
  const ada = await joined(server, 'ada');
  const bob = await joined(server, 'bob');
  const cy = await joined(server, 'cy');
  const follows = record(bob, ['follow']);
  ada.present();
  await until(() => bob.following === ada.session && cy.following === ada.session, 1000, 'bob and cy follow ada');
  assert.equal(bob.presenter, ada.session);
  assert.equal(ada.presenter, ada.session);
  assert.equal(ada.following, null, 'the presenter follows nobody');
  assert.deepEqual(follows.find(([, f]) => f.session === bob.session)?.[1], { session: bob.session, target: ada.session, reason: 'presenter' });
  // The server (and so everyone) knows they follow.
  await until(() => ada.peers.get(/** @type {string} */ (bob.session))?.following === ada.session, 1000, 'ada sees bob follow');
  // bob's app moves its camera from the leader's cursors.
  ada.setCamera({ position: [9, 9, 9], target: [0, 0, 0] });
  await until(() => bob.leaderCamera?.position[0] === 9, 1000, 'leaderCamera');

  cy.present(); // takeover
  await until(() => bob.following === cy.session && ada.following === cy.session, 1000, 'everyone follows cy');
  assert.equal(cy.following, null);

  cy.stopPresenting();
  await until(() => bob.presenter === null && ada.presenter === null, 1000, 'presentation over');
  assert.equal(bob.following, null);
  assert.equal(ada.following, null);
});

test('followPresenter: breaking away (unfollow, or following someone else) lasts until the next presentation; false never follows', async () => {
  const server = new FakeServer();
  const ada = await joined(server, 'ada');
  const bob = await joined(server, 'bob');
  const cy = await joined(server, 'cy');
  const dan = await joined(server, 'dan', { followPresenter: false });
  ada.present();
  await until(() => bob.following === ada.session && cy.following === ada.session, 1000, 'followers');
  bob.unfollow();
  cy.follow(/** @type {string} */ (dan.session));
  assert.equal(bob.following, null);
  // Reconnects and more cursors do not pull them back while ada still presents.
  server.drop('r', 'bob');
  await next(bob, 'welcome');
  await sleep(20);
  assert.equal(bob.following, null);
  assert.equal(cy.following, dan.session);
  assert.equal(dan.following, null);
  ada.stopPresenting();
  await until(() => bob.presenter === null, 1000, 'stopped');
  assert.equal(cy.following, dan.session, 'a follow of someone else is kept when the presentation ends');
  ada.present();
  await until(() => bob.following === ada.session && cy.following === ada.session, 1000, 'a new presentation: both follow again');
  assert.equal(dan.following, null);
});

test('a late joiner follows whoever presents, from its welcome', async () => {
  const server = new FakeServer();
  const ada = await joined(server, 'ada');
  ada.present();
  await until(() => ada.presenter === ada.session, 1000, 'ada presents');
  const late = await joined(server, 'late');
  assert.equal(late.presenter, ada.session);
  assert.equal(late.following, ada.session);
  await until(() => server.sent('follow').some((f) => f.session === ada.session), 1000, 'the late joiner told the server');
});

test('a viewer\'s present is refused (error forbidden) and nobody presents', async () => {
  const server = new FakeServer({ auth: true });
  const ada = await joined(server, 'ada', { token: fakeToken({ sub: 'ada' }) });
  const vic = await joined(server, 'vic', { token: fakeToken({ sub: 'vic', edit: [] }) });
  const err = next(vic, 'error');
  vic.present();
  assert.equal((await err).code, 'forbidden');
  await sleep(10);
  assert.equal(ada.presenter, null);
  assert.equal(ada.following, null);
});

test('a refresh that changes the role: refreshed.role, a role event for oneself, presence role for the others; a demoted presenter stops', async () => {
  const server = new FakeServer({ auth: true });
  let edit = /** @type {string[] | undefined} */ (undefined);
  const ada = await joined(server, 'ada', { token: fakeToken({ sub: 'ada', exp: Math.floor(Date.now() / 1000) + 2 }), getToken: () => fakeToken({ sub: 'ada', edit }) });
  const bob = await joined(server, 'bob', { token: fakeToken({ sub: 'bob' }) });
  ada.present();
  await until(() => bob.following === ada.session, 1000, 'bob follows ada');
  edit = []; // ada's next token is view-only
  const mine = next(ada, 'role', () => true, 3000);
  const theirs = next(bob, 'presence', (p) => p.event === 'role', 3000);
  assert.deepEqual(await mine, { session: ada.session, role: 'viewer' });
  assert.deepEqual(await theirs, { type: 'presence', event: 'role', session: ada.session, role: 'viewer' });
  assert.equal(ada.role, 'viewer');
  assert.equal(bob.peers.get(/** @type {string} */ (ada.session))?.role, 'viewer');
  await until(() => bob.presenter === null && bob.following === null, 1000, 'ada no longer presents');
});

test('reconnect: state changes carry code, attempt and delay; the session resumes and a pending edit is applied once', async () => {
  const server = new FakeServer();
  const ada = await joined(server, 'ada', { minDelay: 10, maxDelay: 10 });
  const bob = await joined(server, 'bob');
  const states = record(ada, ['state']);
  const atBob = record(bob, ['presence', 'edit']);
  const session = ada.session;
  server.drop('r', 'ada');
  const pending = ada.edit({ building: 'b-1', op: 'set', data: 1 }); // while down
  await next(ada, 'welcome');
  assert.equal(ada.session, session);
  assert.equal(states[0][1].state, 'reconnecting');
  assert.equal(states[0][1].code, CloseCode.noFrame);
  assert.equal(states[0][1].attempt, 1);
  assert.ok(states[0][1].delay >= 0 && states[0][1].delay <= 10);
  assert.deepEqual(states.map(([, s]) => s.state), ['reconnecting', 'open']);
  assert.equal((await pending).seq, 1);
  await until(() => atBob.length === 1, 1000, 'bob gets the edit');
  assert.deepEqual(atBob.map(([e]) => e), ['edit'], 'no presence event for a resume');
});

test('an app handler that throws does not stop the reconnect: the pending edit still arrives', async () => {
  const server = new FakeServer();
  const reported = /** @type {unknown[]} */ ([]);
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    const ada = await joined(server, 'ada');
    const bug = () => {
      throw new Error('app bug');
    };
    ada.on('state', bug);
    const after = record(ada, ['state']);
    server.drop('r', 'ada');
    const pending = ada.edit({ building: 'b-1', op: 'set' });
    assert.equal((await Promise.race([pending, sleep(2000).then(() => null)]))?.seq, 1);
    assert.equal(ada.state, 'open');
    assert.deepEqual(after.map(([, s]) => s.state), ['reconnecting', 'open'], 'the listeners after it still ran');
    assert.ok(reported.length >= 2 && /app bug/.test(String(reported[0])));
    ada.off('state', bug);
  } finally {
    globalThis.reportError = saved;
  }
});

test('once listens to one event; off removes a once listener', async () => {
  const server = new FakeServer();
  const ada = client(server, 'ada');
  let n = 0;
  let m = 0;
  const f = () => m++;
  ada.once('state', () => n++).once('state', f).off('state', f);
  ada.connect();
  await next(ada, 'welcome');
  assert.equal(n, 1);
  assert.equal(m, 0);
});

test('timeout: a connection without a welcome in time is given up and retried', async () => {
  const server = new FakeServer();
  const ada = client(server, 'ada', { timeout: 30 });
  const join = server.join.bind(server);
  let mute = true;
  server.join = (room, conn, m) => (mute ? null : join(room, conn, m));
  const states = record(ada, ['state']);
  ada.connect();
  const s = await next(ada, 'state', (x) => x.state === 'reconnecting', 1000);
  assert.equal(s.reason, 'timeout');
  mute = false;
  await next(ada, 'welcome', () => true, 1000);
  assert.equal(states[0][1].state, 'connecting');
  await sleep(80); // the timeout no longer applies once welcomed
  assert.equal(ada.state, 'open');
  assert.equal(server.sent('join').length, 2);
});

test('a stop (4003) rejects pending edits with RoomError closed and the close code', async () => {
  const server = new FakeServer({ auth: true });
  const ada = client(server, 'ada', { token: fakeToken({ sub: 'ada', rooms: ['elsewhere'] }) }).connect();
  const p = ada.edit({ building: 'b', op: 'set', id: 'e1' });
  const closed = next(ada, 'state', (s) => s.state === 'closed');
  const e = await p.then(() => null, (x) => x);
  assert.ok(e instanceof RoomError);
  assert.equal(e.code, 'closed');
  assert.equal(e.close, CloseCode.forbidden);
  assert.deepEqual(await closed, { state: 'closed', code: 4003, reason: 'forbidden' });
});
