// In-band tokens: 4001 -> getToken -> reconnect, refresh before exp, 4003 -> stop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { RoomClient } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { signToken } from './helpers/jwt.js';
import { next, record, sleep } from './helpers/wait.js';

const SECRET = 'roomcast-js-test-secret-0123456789';
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

/** @param {Partial<import('../src/index.js').RoomClientOptions>} options */
function client(options) {
  const c = new RoomClient({ url: server.url, room: 'secure', user: { id: 'ignored', name: 'Ada' }, WebSocket, ...options });
  clients.push(c);
  return c;
}

const now = () => Math.floor(Date.now() / 1000);

test('a rejected token (close 4001) makes the client ask getToken and join with the new one', async () => {
  let calls = 0;
  const c = client({
    token: signToken(SECRET, { sub: 'ada', exp: now() - 10 }),
    getToken: async () => (calls++, signToken(SECRET, { sub: 'ada' })),
  });
  const states = record(c, ['state']);
  c.connect();
  const w = await next(c, 'welcome');
  assert.equal(calls, 1);
  assert.equal(w.user.id, 'ada', 'the identity comes from the token');
  assert.deepEqual(states.map(([, s]) => s.state), ['connecting', 'reconnecting', 'open']);
  assert.ok(c.exp && c.exp > now() + 3000);
});

test('the token is refreshed before it expires: the connection outlives the first token', async () => {
  let calls = 0;
  const firstExp = now() + 3;
  const c = client({
    token: signToken(SECRET, { sub: 'bea', exp: firstExp }),
    getToken: () => (calls++, signToken(SECRET, { sub: 'bea' })),
  });
  c.connect();
  await next(c, 'welcome');
  assert.equal(c.exp, firstExp);
  const states = record(c, ['state']);
  const errors = record(c, ['error']);
  await sleep((firstExp - now() + 2) * 1000); // past the first token's expiry and the server's check
  assert.equal(calls, 1);
  assert.ok(c.exp && c.exp > firstExp + 60, 'the server confirmed a later expiry');
  assert.deepEqual(states, [], 'never disconnected');
  assert.deepEqual(errors, []);
  assert.equal(c.state, 'open');
});

test('a token that expires unrefreshed (close 4001) is replaced and the session resumed', async () => {
  let calls = 0;
  const c = client({
    token: signToken(SECRET, { sub: 'fay', exp: now() + 2 }),
    getToken: async () => {
      if (calls++ === 0) throw new Error('token service down'); // the refresh before exp fails
      return signToken(SECRET, { sub: 'fay' });
    },
  });
  c.connect();
  await next(c, 'welcome');
  const session = c.session;
  const errors = record(c, ['error']);
  const w = await next(c, 'welcome', () => true, 8000);
  assert.equal(w.resumed, true);
  assert.equal(c.session, session);
  assert.equal(calls, 2);
  assert.deepEqual(errors.map(([, e]) => e.code), ['token']);
});

test('a token whose rooms exclude the room (close 4003) stops the client for good', async () => {
  let calls = 0;
  const c = client({ getToken: () => (calls++, signToken(SECRET, { sub: 'cy', rooms: ['other-*'] })) });
  const pending = c.connect().edit({ building: 'b-0', op: 'set' });
  const error = await next(c, 'error');
  assert.equal(error.code, 'closed');
  assert.equal(error.close, 4003);
  assert.equal(c.state, 'closed');
  await assert.rejects(pending, /closed/);
  await sleep(1500);
  assert.equal(c.state, 'closed');
  assert.equal(calls, 1, 'no retry');
});

test('the token never travels in the URL', async () => {
  /** @type {string[]} */
  const urls = [];
  class Spy extends WebSocket {
    /** @param {string} url */
    constructor(url) {
      super(url);
      urls.push(url);
    }
  }
  const c = client({ token: signToken(SECRET, { sub: 'dan' }), WebSocket: Spy });
  c.connect();
  await next(c, 'welcome');
  assert.deepEqual(urls, [`${server.url}/ws/secure`]);
});

test('over capacity (close 1013 in band) the client waits at least 5 s before trying again', async () => {
  const full = await startServer({ args: ['--max-connections', '1'], secret: SECRET });
  /** @type {number[]} */
  const opened = [];
  class Spy extends WebSocket {
    /** @param {string} url */
    constructor(url) {
      super(url);
      opened.push(Date.now());
    }
  }
  const token = () => signToken(SECRET, { sub: 'eve' });
  const first = new RoomClient({ url: full.url, room: 'full', user: { id: 'x' }, getToken: token, WebSocket });
  const second = new RoomClient({ url: full.url, room: 'full', user: { id: 'y' }, getToken: token, WebSocket: Spy });
  try {
    first.connect();
    await next(first, 'welcome');
    second.connect();
    await next(second, 'state', (s) => s.state === 'reconnecting');
    first.close();
    await next(second, 'welcome', () => true, 25000);
    assert.ok(opened.length >= 2);
    assert.ok(opened[1] - opened[0] >= 5000, `retried after ${opened[1] - opened[0]} ms`);
  } finally {
    first.close();
    second.close();
    await full.stop();
  }
});
