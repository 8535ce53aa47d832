// Protocol 1.2 against a real roomcast: roles from the token's `edit` claim, presenting,
// a refresh that changes the role, and camera rate by attention.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { RoomClient, RoomError, ErrorCode } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { signToken } from './helpers/jwt.js';
import { startProxy } from './helpers/proxy.js';
import { next, record, sleep, until } from './helpers/wait.js';

const SECRET = 'roomcast-js-roles-secret-0123456789';
/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {RoomClient[]} */
const clients = [];

before(async () => {
  server = await startServer({ secret: SECRET });
});
after(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

/**
 * A client of `room` for user `sub`; `edit: []` in `claims` makes it a viewer.
 * @param {string} room
 * @param {string} sub
 * @param {Partial<import('../src/index.js').RoomClientOptions>} [options]
 * @param {{edit?: string[], exp?: number}} [claims]
 */
function client(room, sub, options = {}, claims = {}) {
  const c = new RoomClient({ url: server.url, room, user: { id: sub }, token: signToken(SECRET, { sub, name: sub, ...claims }), WebSocket, ...options });
  clients.push(c);
  return c;
}

/** @param {Parameters<typeof client>} args */
async function joined(...args) {
  const c = client(...args);
  const w = next(c, 'welcome');
  c.connect();
  await w;
  return c;
}

const id = (/** @type {RoomClient} */ c) => /** @type {string} */ (c.session);

test('a viewer token (edit: []): role viewer; its edit is forbidden with its id, reaches nobody and takes no seq; present is forbidden', async () => {
  const ada = await joined('view', 'ada');
  const vic = client('view', 'vic', {}, { edit: [] });
  const welcome = next(vic, 'welcome');
  vic.connect();
  const w = await welcome;
  assert.equal(w.role, 'viewer');
  assert.equal(vic.role, 'viewer');
  assert.equal(ada.role, 'editor');
  assert.equal(vic.peers.get(id(ada))?.role, 'editor');
  await until(() => ada.peers.get(id(vic))?.role === 'viewer', 2000, 'ada sees vic as a viewer');

  const atAda = record(ada, ['edit']);
  const errors = record(vic, ['error']);
  const e = await vic.edit({ building: 'b-1', op: 'set', data: { height: 30 }, id: 'vic-1' }).then(() => null, (x) => x);
  assert.ok(e instanceof RoomError, `rejected with ${e}`);
  assert.equal(e.code, ErrorCode.forbidden);
  assert.equal(e.id, 'vic-1');
  assert.deepEqual(errors.map(([, x]) => [x.code, x.id]), [['forbidden', 'vic-1']]);
  assert.equal(vic.state, 'open', 'the connection stays open');

  // A viewer's camera still reaches the others, and after anything vic sent before it
  // (per-sender order): had the edit been relayed, ada would have it by now.
  const cam = next(ada, 'cursor', (c) => c.session === vic.session);
  vic.setCamera({ position: [7, 8, 9], target: [0, 0, 0] });
  assert.deepEqual((await cam).position.map(Number), [7, 8, 9]);
  assert.deepEqual(atAda, [], 'the viewer\'s edit never reached ada');

  // The next editor edit is the room's first.
  const atVic = record(vic, ['edit']);
  assert.equal((await ada.edit({ building: 'b-1', op: 'set', data: { height: 12 } })).seq, 1);
  await until(() => atVic.length === 1, 2000, 'vic gets ada\'s edit');
  assert.equal(atVic[0][1].seq, 1);

  const refused = next(vic, 'error');
  vic.present();
  const r = await refused;
  assert.equal(r.code, 'forbidden');
  assert.equal(r.id, undefined);
  await sleep(200);
  assert.equal(ada.presenter, null);
  assert.equal(vic.presenter, null);
  assert.equal(ada.following, null);
  assert.equal(vic.state, 'open');
});

test('presenting: followers follow, one breaks away, stop ends it, a late joiner follows from its welcome, a takeover moves everyone, the presenter leaving ends it', async () => {
  const ada = await joined('present', 'ada');
  const bob = await joined('present', 'bob');
  const dan = await joined('present', 'dan');
  const presenting = next(ada, 'presenting');
  ada.present();
  const p = await presenting;
  assert.equal(p.session, ada.session, 'the presenter is told too');
  assert.equal(p.user?.id, 'ada');
  await until(() => bob.following === ada.session && dan.following === ada.session, 2000, 'bob and dan follow ada');
  assert.equal(bob.presenter, ada.session);
  assert.equal(ada.following, null, 'the presenter follows nobody');
  // The server knows who follows: ada's presence list says so.
  await until(() => ada.peers.get(id(bob))?.following === ada.session && ada.peers.get(id(dan))?.following === ada.session, 2000, 'ada sees her followers');
  ada.setCamera({ position: [9, 9, 9], target: [1, 0, 0] });
  await until(() => Number(bob.leaderCamera?.position[0]) === 9, 2000, 'bob has ada\'s camera as leaderCamera');

  // bob breaks away: he follows dan instead.
  bob.follow(id(dan));
  await until(() => ada.peers.get(id(bob))?.following === dan.session, 2000, 'ada sees bob follow dan');
  assert.equal(bob.presenter, ada.session, 'ada still presents');

  const stopped = next(bob, 'presenting', (m) => m.session === null);
  ada.stopPresenting();
  await stopped;
  await until(() => ada.presenter === null && dan.presenter === null && dan.following === null, 2000, 'the presentation is over');
  assert.equal(bob.following, dan.session, 'who broke away keeps his own follow');
  await until(() => ada.peers.get(id(dan))?.following === null, 2000, 'ada sees dan follow nobody');

  // A new presentation; cy comes in while it runs.
  ada.present();
  await until(() => bob.following === ada.session && dan.following === ada.session, 2000, 'a new presentation: everyone follows again');
  const cy = client('present', 'cy');
  const welcome = next(cy, 'welcome');
  cy.connect();
  assert.equal((await welcome).presenter, ada.session);
  assert.equal(cy.presenter, ada.session);
  assert.equal(cy.following, ada.session);
  await until(() => ada.peers.get(id(cy))?.following === ada.session, 2000, 'the server knows cy follows ada');
  assert.deepEqual(cy.leaderCamera?.position.map(Number), [9, 9, 9], 'cy has ada\'s camera from its welcome');

  // dan takes over, then ada takes it back: everyone else follows the newest presenter.
  dan.present();
  await until(() => [ada, bob, cy].every((c) => c.presenter === dan.session && c.following === dan.session) && dan.following === null, 2000, 'everyone follows dan');
  ada.present();
  await until(() => [bob, cy, dan].every((c) => c.presenter === ada.session && c.following === ada.session) && ada.following === null, 2000, 'everyone follows ada again');

  // ada leaves: the presentation ends for everyone.
  const ended = [bob, cy, dan].map((c) => next(c, 'presenting', (m) => m.session === null));
  ada.close();
  await Promise.all(ended);
  await until(() => [bob, cy, dan].every((c) => c.presenter === null && c.following === null && !c.peers.has(id(ada))), 2000, 'nobody presents or follows');
});

test('a presenter whose connection drops still presents while held, and its presentation ends when the grace does', async () => {
  const held = await startServer({ args: ['--resume-grace', '1'] });
  const proxy = await startProxy(held.port);
  const user = (/** @type {string} */ id) => ({ id, name: id });
  const ada = new RoomClient({ url: proxy.url, room: 'held', user: user('ada'), WebSocket });
  const bob = new RoomClient({ url: held.url, room: 'held', user: user('bob'), WebSocket });
  try {
    await Promise.all([next(ada.connect(), 'welcome'), next(bob.connect(), 'welcome')]);
    ada.present();
    await until(() => bob.following === ada.session, 2000, 'bob follows ada');
    const atBob = record(bob, ['presenting', 'presence']);
    proxy.block(true); // ada cannot come back
    proxy.drop();
    await sleep(500);
    assert.equal(bob.presenter, ada.session, 'still presenting while held');
    assert.equal(bob.following, ada.session);
    await until(() => bob.presenter === null, 4000, 'the presentation ends with the grace');
    assert.equal(bob.following, null);
    assert.deepEqual(atBob.map(([e, m]) => `${e} ${m.event || m.session}`).sort(), ['presence leave', 'presenting null']);
  } finally {
    ada.close();
    bob.close();
    await proxy.close();
    await held.stop();
  }
});

test('a refresh whose token drops `edit` makes the session a viewer: role event for it, presence role for the others, and its presentation ends', async () => {
  /** @type {string[] | undefined} */
  let edit;
  const exp = Math.floor(Date.now() / 1000) + 2;
  const ada = await joined('refresh', 'ada', { getToken: () => signToken(SECRET, { sub: 'ada', name: 'ada', edit }) }, { exp });
  const bob = await joined('refresh', 'bob');
  assert.equal(ada.role, 'editor');
  ada.present();
  await until(() => bob.following === ada.session, 2000, 'bob follows ada');
  edit = []; // ada's next token is view only
  const mine = next(ada, 'role', () => true, 5000);
  const theirs = next(bob, 'presence', (m) => m.event === 'role', 5000);
  assert.deepEqual(await mine, { session: ada.session, role: 'viewer' });
  assert.deepEqual(await theirs, { type: 'presence', event: 'role', session: ada.session, role: 'viewer' });
  assert.equal(ada.role, 'viewer');
  assert.equal(bob.peers.get(id(ada))?.role, 'viewer');
  assert.ok(ada.exp && ada.exp > exp, 'refreshed');
  await until(() => bob.presenter === null && ada.presenter === null && bob.following === null, 2000, 'a viewer does not present');
  assert.equal(ada.state, 'open');
  const e = await ada.edit({ building: 'b', op: 'set', id: 'after' }).then(() => null, (x) => x);
  assert.equal(e?.code, 'forbidden');
});

test('a resume with a view-only token (the old one expired): the same session, now a viewer; the others see the role change and its presentation ends', async () => {
  let calls = 0;
  const exp = Math.floor(Date.now() / 1000) + 2;
  const ada = await joined('resume-role', 'ada', {
    getToken: async () => {
      if (calls++ === 0) throw new Error('token service down'); // the refresh before exp fails
      return signToken(SECRET, { sub: 'ada', name: 'ada', edit: [] });
    },
  }, { exp });
  const bob = await joined('resume-role', 'bob');
  ada.present();
  await until(() => bob.following === ada.session, 2000, 'bob follows ada');
  const session = ada.session;
  const mine = next(ada, 'role', () => true, 8000);
  const theirs = next(bob, 'presence', (m) => m.event === 'role', 8000);
  const w = await next(ada, 'welcome', () => true, 8000);
  assert.equal(w.resumed, true);
  assert.equal(ada.session, session);
  assert.equal(w.role, 'viewer');
  assert.deepEqual(await mine, { session, role: 'viewer' });
  assert.equal((await theirs).role, 'viewer');
  assert.equal(bob.peers.get(id(ada))?.role, 'viewer');
  await until(() => bob.presenter === null && ada.presenter === null && bob.following === null, 2000, 'a viewer does not present');
});

test('cameraRate 2: another sender\'s cursors arrive at most about twice a second, the newest last; the followed sender\'s and the presenter\'s at full rate', async (t) => {
  const reduced = client('rate', 'rita', { cameraRate: 2 });
  const welcome = next(reduced, 'welcome');
  reduced.connect();
  assert.equal((await welcome).camera_rate, 2, 'the welcome echoes the rate in force');
  const full = await joined('rate', 'fred');
  const sam = await joined('rate', 'sam');
  const tom = await joined('rate', 'tom');
  await until(() => reduced.peers.has(id(sam)) && reduced.peers.has(id(tom)), 2000, 'rita sees sam and tom');
  reduced.follow(id(tom));
  await until(() => sam.peers.get(id(reduced))?.following === tom.session, 2000, 'the server knows rita follows tom');

  const atReduced = record(reduced, ['cursor']);
  /** @type {number[]} when each of sam's cursors reached rita */
  const samTimes = [];
  reduced.on('cursor', (m) => m.session === sam.session && samTimes.push(Date.now()));
  const atFull = record(full, ['cursor']);
  const start = Date.now();
  let i = 0;
  // Both send as fast as setCamera allows (10 a second) for 2 s.
  for (; Date.now() - start < 2000; i++) {
    sam.setCamera({ position: [i, 0, 0], target: [0, 0, 0] });
    tom.setCamera({ position: [i, 1, 0], target: [0, 0, 0] });
    await sleep(20);
  }
  const last = i - 1;
  const from = (/** @type {Array<[string, any]>} */ log, /** @type {RoomClient} */ c) => log.filter(([, m]) => m.session === c.session).map(([, m]) => Number(m.position[0]));
  // The newest of each sender arrives within 1/R (0.5 s) plus the batch window.
  await until(() => from(atReduced, sam).at(-1) === last && from(atReduced, tom).at(-1) === last, 1500, 'rita has the newest of both');
  await until(() => from(atFull, sam).at(-1) === last, 1000, 'fred has sam\'s newest');
  const seconds = (Date.now() - start) / 1000;
  const samAtRita = from(atReduced, sam);
  const tomAtRita = from(atReduced, tom);
  const samAtFred = from(atFull, sam);
  t.diagnostic(`in ${seconds} s rita got ${samAtRita.length} of sam's cursors (${samAtRita}), ${tomAtRita.length} of tom's; fred ${samAtFred.length} of sam's`);
  assert.ok(samAtFred.length >= 12, `fred (no camera_rate) got ${samAtFred.length} of sam's cursors in ${seconds} s`);
  assert.ok(samAtRita.length >= 2, `rita got ${samAtRita.length} of sam's cursors`);
  // At most 2 a second, plus the first (at once) and the newest (at the next tick).
  assert.ok(samAtRita.length <= Math.floor(seconds * 2) + 2, `rita got ${samAtRita.length} of sam's cursors in ${seconds} s: more than 2 a second`);
  const busiest = Math.max(...samTimes.map((at) => samTimes.filter((x) => x >= at && x < at + 1000).length));
  assert.ok(busiest <= 3, `rita got ${busiest} of sam's cursors within one second`);
  assert.ok(tomAtRita.length >= 12, `rita got ${tomAtRita.length} of tom's (whom she follows) cursors in ${seconds} s`);
  assert.deepEqual([...samAtRita].sort((a, b) => a - b), samAtRita, 'in order');
  assert.equal(Number(reduced.peers.get(id(sam))?.camera?.position[0]), last, 'rita\'s peer list has sam\'s newest camera');

  // A presenter's cursors come at full rate too, even to a reduced client that does not follow.
  const ann = client('rate', 'ann', { cameraRate: 2, followPresenter: false });
  await next(ann.connect(), 'welcome');
  const presenting = next(ann, 'presenting');
  sam.present();
  await presenting;
  assert.equal(ann.following, null);
  const atAnn = record(ann, ['cursor']);
  const t0 = Date.now();
  for (let k = 0; Date.now() - t0 < 1500; k++) {
    sam.setCamera({ position: [1000 + k, 0, 0], target: [0, 0, 0] });
    await sleep(20);
  }
  await sleep(300);
  const samAtAnn = from(atAnn, sam);
  t.diagnostic(`ann (camera_rate 2) got ${samAtAnn.length} of the presenter's cursors in 1.5 s`);
  assert.ok(samAtAnn.length >= 9, `ann got ${samAtAnn.length} of the presenter's cursors in 1.5 s`);
});

test('cameraRate: a sender\'s held-back cursor arrives before its next selection (per-sender order)', async () => {
  const slow = await joined('order', 'sol', { cameraRate: 0.5 });
  const sam = await joined('order', 'sam');
  await until(() => slow.peers.has(id(sam)), 2000, 'sol sees sam');
  const log = record(slow, ['cursor', 'select']);
  sam.setCamera({ position: [1, 0, 0], target: [0, 0, 0] });
  await until(() => log.length === 1, 2000, 'the first cursor (nothing held back yet)');
  sam.setCamera({ position: [2, 0, 0], target: [0, 0, 0] }); // held back for up to 2 s at sol
  await sleep(300); // it has left sam's client (at most 10 a second)
  assert.equal(log.length, 1, 'the second cursor is held back');
  sam.select(['b-1']);
  await until(() => log.length === 3, 1000, 'the cursor and the selection');
  assert.deepEqual(log.map(([e, m]) => (e === 'cursor' ? Number(m.position[0]) : m.ids[0])), [1, 2, 'b-1']);
  assert.equal(Number(slow.peers.get(id(sam))?.camera?.position[0]), 2);
});
