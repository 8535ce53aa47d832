// End to end: the web/demo page in Debian's chromium, two pages in one room, a real
// roomcast serving the page (--static) and the room, restarted under the pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../helpers/server.js';
import { signToken } from '../helpers/jwt.js';
import { sleep } from '../helpers/wait.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const dist = join(repo, 'web/demo/dist');
const artifacts = join(repo, 'build/artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-swiftshader', '--use-angle=swiftshader'];

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').BrowserContext} */
let browser;
let profile = '';
const serverArgs = ['--static', dist, '--drain-timeout', '1'];

before(async () => {
  assert.ok(existsSync(join(dist, 'index.html')), 'build web/demo first (npm run build)');
  mkdirSync(artifacts, { recursive: true });
  server = await startServer({ args: serverArgs });
  profile = mkdtempSync(join(tmpdir(), 'roomcast-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 960, height: 600 },
    timeout: 20000,
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/**
 * Waits until `fn` evaluated in the page returns something truthy, and returns it.
 * @param {import('playwright-core').Page} page
 * @param {string | Function} fn
 * @param {any} [arg]
 */
async function until(page, fn, arg, ms = 10000) {
  const handle = await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
  return handle.jsonValue();
}

/**
 * @param {string} name
 * @param {string} [room]
 * @param {{port?: number, token?: string}} [more] another server's port; the JWT the page joins with (?token=)
 */
async function open(name, room = 'e2e', { port = server.port, token } = {}) {
  const page = await browser.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && !/WebSocket|ERR_CONNECTION/.test(m.text()) && problems.push(m.text()));
  await page.goto(`http://127.0.0.1:${port}/?name=${name}${token ? `&token=${token}` : ''}#${room}`);
  await until(page, () => document.getElementById('badge')?.dataset.state === 'open');
  return { page, problems };
}

/**
 * Clicks a building as a user would, the nearest one to the page's camera that is not in
 * `skip` and whose top is in view and not hidden, and returns its id.
 * @param {import('playwright-core').Page} page
 * @param {string[]} [skip]
 */
async function clickBuilding(page, skip = []) {
  const spots = await page.evaluate((skip) => {
    const { model, screenOf, camera } = window.__roomcast;
    const eye = camera().position;
    return Object.keys(model()).filter((id) => !skip.includes(id)).map((id) => ({ id, ...screenOf(id, 1) }))
      .filter((p) => p.x > 20 && p.x < 700 && p.y > 60 && p.y < innerHeight - 20)
      .sort((p, q) => Math.hypot(...p.world.map((v, i) => v - eye[i])) - Math.hypot(...q.world.map((v, i) => v - eye[i])));
  }, skip);
  for (const { id, x, y } of spots) {
    await page.mouse.click(x, y);
    if ((await page.evaluate(() => window.__roomcast.client.selection[0])) === id) return id;
  }
  throw new Error('no building could be clicked');
}

const distance = (/** @type {number[]} */ a, /** @type {number[]} */ b) => Math.hypot(...a.map((v, i) => v - b[i]));

test('two pages share a room: presence, cameras, follow, edits, and a server restart', { timeout: 120000 }, async (t) => {
  const a = await open('Ada');
  const b = await open('Bob');
  const sessionA = await a.page.evaluate(() => window.__roomcast.client.session);
  const sessionB = await b.page.evaluate(() => window.__roomcast.client.session);
  let picked = ''; // the building A edits first

  await t.test('each page lists the other and draws its camera', async () => {
    await until(a.page, (s) => document.querySelector(`#peers li[data-session="${s}"]`)?.textContent.includes('Bob'), sessionB);
    await until(b.page, (s) => document.querySelector(`#peers li[data-session="${s}"]`)?.textContent.includes('Ada'), sessionA);
    await until(a.page, (s) => window.__roomcast.frustums().includes(s), sessionB);
    await until(b.page, (s) => window.__roomcast.frustums().includes(s), sessionA);
  });

  await t.test('B follows A and its camera ends where A moved to', async () => {
    await b.page.click(`#peers button[data-follow="${sessionA}"]`);
    // A orbits and zooms with the mouse.
    await a.page.bringToFront();
    await a.page.mouse.move(300, 300);
    await a.page.mouse.down();
    await a.page.mouse.move(420, 250, { steps: 8 });
    await a.page.mouse.up();
    await a.page.mouse.wheel(0, 300);
    await sleep(300);
    const camA = await a.page.evaluate(() => window.__roomcast.camera());
    await b.page.bringToFront(); // headless chromium gives the front page all the frames
    await until(b.page, ([p, q]) => {
      const c = window.__roomcast.camera();
      const d = (/** @type {number[]} */ x, /** @type {number[]} */ y) => Math.hypot(...x.map((v, i) => v - y[i]));
      return d(c.position, p) < 0.05 && d(c.target, q) < 0.05;
    }, [camA.position, camA.target]);
    const camB = await b.page.evaluate(() => window.__roomcast.camera());
    assert.ok(distance(camA.position, camB.position) < 0.05);
    assert.equal(await a.page.evaluate((s) => window.__roomcast.client.peers.get(s)?.following, sessionB), sessionA);
    await b.page.click(`#peers button[data-follow="${sessionA}"]`); // unfollow
  });

  await t.test('a building clicked on A is outlined in A\'s colour on B, and A\'s edit shows on B', async () => {
    await a.page.bringToFront();
    picked = await clickBuilding(a.page);
    const colorA = await a.page.evaluate(() => window.__roomcast.client.user.color);
    await until(b.page, ([id, color]) => window.__roomcast.highlights()[id] === color.toLowerCase(), [picked, colorA]);

    await a.page.fill('#height', '55');
    await a.page.fill('#color', '#ff8800');
    await until(b.page, (id) => {
      const m = window.__roomcast.model()[id];
      return m.height === 55 && m.color === '#ff8800';
    }, picked);
    assert.deepEqual(await a.page.evaluate((id) => window.__roomcast.model()[id], picked), { height: 55, color: '#ff8800' });
  });

  await t.test('the server restarts under both pages: they recover and no edit is lost', async () => {
    const port = server.port;
    await server.stop();
    await until(a.page, () => document.getElementById('badge')?.dataset.state === 'reconnecting');
    // A edits a building while the server is down, through the page as a user would.
    await a.page.bringToFront();
    const offline = await clickBuilding(a.page, [picked]);
    await a.page.fill('#height', '44');
    await a.page.fill('#color', '#22aa66');
    server = await startServer({ port, args: serverArgs });
    for (const p of [a.page, b.page]) await until(p, () => document.getElementById('badge')?.dataset.state === 'open', undefined, 15000);
    await until(b.page, (id) => window.__roomcast.model()[id].height === 44 && window.__roomcast.model()[id].color === '#22aa66', offline);
    // Edits made before the restart are still on both pages.
    for (const p of [a.page, b.page]) {
      const m = await p.evaluate(() => window.__roomcast.model());
      assert.deepEqual(m[picked], { height: 55, color: '#ff8800' });
      assert.deepEqual(m[offline], { height: 44, color: '#22aa66' });
    }
    // And the room works again in both directions.
    await until(a.page, () => window.__roomcast.client.peers.size === 1);
    await until(b.page, () => window.__roomcast.client.peers.size === 1);
    await b.page.bringToFront();
    const third = await clickBuilding(b.page, [picked, offline]);
    await b.page.fill('#height', '12');
    await until(a.page, (id) => window.__roomcast.model()[id].height === 12, third);
    assert.deepEqual(await a.page.evaluate(() => window.__roomcast.model()), await b.page.evaluate(() => window.__roomcast.model()));
  });

  // B looks from elsewhere, so A's screenshot shows B's frustum and name in the scene.
  await b.page.bringToFront();
  await b.page.mouse.move(500, 450);
  await b.page.mouse.down();
  await b.page.mouse.move(300, 420, { steps: 8 });
  await b.page.mouse.up();
  await b.page.mouse.wheel(0, -400);
  const end = Date.now() + 10000;
  const nowB = await b.page.evaluate(() => window.__roomcast.client.session); // a new session since the restart
  for (;;) {
    const here = (await b.page.evaluate(() => window.__roomcast.camera())).position;
    const there = await a.page.evaluate((s) => window.__roomcast.client.peers.get(s)?.camera?.position, nowB);
    if (there && distance(here, there.map(Number)) < 0.01) break;
    assert.ok(Date.now() < end, 'A sees where B looks from');
    await sleep(100);
  }
  await a.page.bringToFront();
  await sleep(300);

  await a.page.screenshot({ path: join(artifacts, 'demo-page-a.png') });
  await b.page.screenshot({ path: join(artifacts, 'demo-page-b.png') });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
});

// Issue 20: session ids are new after a restart; the page that followed someone follows
// the same person again (never whoever got the old id), and sees nobody leave and rejoin.
test('a follow in one page survives a server restart, and nobody is shown leaving', { timeout: 60000 }, async () => {
  const room = 'e2e-follow';
  const c = await open('Cleo', room);
  const d = await open('Dan', room);
  const cleo = await c.page.evaluate(() => window.__roomcast.client.session);
  const dan = await d.page.evaluate(() => window.__roomcast.client.session);
  await until(d.page, (s) => !!document.querySelector(`#peers button[data-follow="${s}"]`), cleo);
  await d.page.click(`#peers button[data-follow="${cleo}"]`);
  await until(c.page, ([me, him]) => window.__roomcast.client.peers.get(him)?.following === me, [cleo, dan]);
  // Dan's page records what its client tells it from here on.
  await d.page.evaluate(() => {
    const log = (window.__log = /** @type {string[]} */ ([]));
    const client = window.__roomcast.client;
    client.on('presence', (/** @type {any} */ p) => log.push(`${p.event}${p.returned ? ' (returned)' : ''} ${p.user && p.user.name}`));
    client.on('welcome', (/** @type {any} */ w) => log.push(`welcome resumed=${w.resumed}`));
  });

  const port = server.port;
  await server.stop();
  server = await startServer({ port, args: serverArgs });
  for (const p of [c.page, d.page]) await until(p, () => document.getElementById('badge')?.dataset.state === 'open', undefined, 15000);
  const cleoNow = await until(c.page, (old) => {
    const s = window.__roomcast.client.session;
    return s && s !== old ? s : null;
  }, cleo);
  // Dan follows Cleo's new session, the server knows it, and his page shows it.
  await until(d.page, (s) => window.__roomcast.client.following === s, cleoNow);
  const danNow = await d.page.evaluate(() => window.__roomcast.client.session);
  await until(c.page, ([me, him]) => window.__roomcast.client.peers.get(him)?.following === me, [cleoNow, danNow]);
  await until(d.page, (s) => document.querySelector(`#peers button[data-follow="${s}"]`)?.textContent === 'unfollow', cleoNow);
  await sleep(300);
  const log = await d.page.evaluate(() => window.__log);
  // Cleo may come back after Dan: then only a join marked returned, never a leave.
  assert.ok(!log.some((e) => e.startsWith('leave') || (e.startsWith('join') && !e.startsWith('join (returned)'))),
    `Dan's page saw presence events: ${log}`);
  assert.ok(!log.includes('welcome resumed=true'), `a new session reported as resumed: ${log}`);
  assert.deepEqual(c.problems, []);
  assert.deepEqual(d.problems, []);
  await c.page.close();
  await d.page.close();
});

// Protocol 1.2 in the page: a viewer's token (edit: []) disables editing; Ada presents and
// the follower's page says so in a banner and flies to her camera.
test('a viewer page cannot edit; a presenter page leads and the follower page shows "Ada presents"', { timeout: 90000 }, async () => {
  const SECRET = 'roomcast-e2e-roles-secret-0123456789';
  const auth = await startServer({ args: ['--static', dist], secret: SECRET });
  try {
    const room = 'e2e-roles';
    const a = await open('Ada', room, { port: auth.port, token: signToken(SECRET, { sub: 'ada', name: 'Ada' }) });
    const v = await open('Vic', room, { port: auth.port, token: signToken(SECRET, { sub: 'vic', name: 'Vic', edit: [] }) });
    const ada = await a.page.evaluate(() => window.__roomcast.client.session);
    const vic = await v.page.evaluate(() => window.__roomcast.client.session);
    assert.equal(await v.page.evaluate(() => window.__roomcast.client.role), 'viewer');
    assert.equal(await a.page.evaluate(() => window.__roomcast.client.role), 'editor');
    // Each page lists the other with their role.
    await until(a.page, (s) => document.querySelector(`#peers li[data-session="${s}"] .role`)?.textContent === 'viewer', vic);
    await until(v.page, (s) => document.querySelector(`#peers li[data-session="${s}"] .role`)?.textContent === 'editor', ada);

    // The viewer selects a building (before anyone presents: grabbing the view breaks away).
    await v.page.bringToFront();
    await clickBuilding(v.page);
    await until(v.page, () => !document.getElementById('editor')?.hidden);
    assert.deepEqual(await v.page.evaluate(() => ({
      height: /** @type {HTMLInputElement} */ (document.getElementById('height')).disabled,
      color: /** @type {HTMLInputElement} */ (document.getElementById('color')).disabled,
      note: /** @type {HTMLElement} */ (document.getElementById('viewer-note')).hidden,
      present: /** @type {HTMLButtonElement} */ (document.getElementById('present')).disabled,
    })), { height: true, color: true, note: false, present: true }, 'the viewer\'s edit controls and Present are disabled, with a note');
    // The editor's are not.
    await a.page.bringToFront();
    await clickBuilding(a.page);
    await until(a.page, () => !document.getElementById('editor')?.hidden);
    assert.deepEqual(await a.page.evaluate(() => ({
      height: /** @type {HTMLInputElement} */ (document.getElementById('height')).disabled,
      note: /** @type {HTMLElement} */ (document.getElementById('viewer-note')).hidden,
      present: /** @type {HTMLButtonElement} */ (document.getElementById('present')).disabled,
    })), { height: false, note: true, present: false });

    // Ada presents; Vic's page follows her and says so.
    await a.page.click('#present');
    await until(a.page, () => document.getElementById('present')?.textContent === 'Stop presenting');
    await until(v.page, () => !document.getElementById('banner')?.hidden);
    assert.equal(await v.page.textContent('#banner'), 'Ada presents Break away');
    assert.equal(await a.page.evaluate(() => document.getElementById('banner')?.hidden), true, 'the presenter sees no banner');
    assert.equal(await v.page.evaluate(() => window.__roomcast.client.following), ada);
    await until(a.page, ([me, him]) => window.__roomcast.client.peers.get(him)?.following === me, [ada, vic]);
    // Ada moves; Vic's camera ends where Ada's is.
    await a.page.mouse.move(300, 300);
    await a.page.mouse.down();
    await a.page.mouse.move(200, 340, { steps: 8 });
    await a.page.mouse.up();
    await sleep(300);
    const camA = await a.page.evaluate(() => window.__roomcast.camera());
    await v.page.bringToFront();
    await until(v.page, ([p, q]) => {
      const c = window.__roomcast.camera();
      const d = (/** @type {number[]} */ x, /** @type {number[]} */ y) => Math.hypot(...x.map((k, i) => k - y[i]));
      return d(c.position, p) < 0.05 && d(c.target, q) < 0.05;
    }, [camA.position, camA.target]);
    // Ada's frustum would frame Vic's whole view from where Vic now is: it is not drawn.
    assert.deepEqual(await v.page.evaluate(() => window.__roomcast.frustums()), []);
    await sleep(200);
    await v.page.screenshot({ path: join(artifacts, 'demo-follower.png') });
    await a.page.screenshot({ path: join(artifacts, 'demo-presenter.png') });

    // Break away, then stop presenting: the banner goes.
    await v.page.click('#break-away');
    await until(v.page, () => window.__roomcast.client.following === null && document.getElementById('break-away')?.textContent === 'Follow again');
    await a.page.click('#present');
    await until(v.page, () => document.getElementById('banner')?.hidden === true);
    assert.deepEqual(a.problems, []);
    assert.deepEqual(v.problems, []);
    await a.page.close();
    await v.page.close();
  } finally {
    await auth.stop();
  }
});
