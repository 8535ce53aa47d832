// The package as a user installs it: its size, its TypeScript declarations, its React hook.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import WebSocket from 'ws';
import { RoomClient } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { next, until } from './helpers/wait.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** @type {Array<() => unknown>} */
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** @param {string} entry */
async function minified(entry) {
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', write: false, external: ['react'], absWorkingDir: root });
  return out.outputFiles[0].contents;
}

test('the client is under 5 KB minified and gzipped, and has no dependencies', async (t) => {
  const size = gzipSync(await minified('src/index.js'), { level: 9 }).length;
  t.diagnostic(`@roomcast/client: ${size} bytes min+gzip`);
  assert.ok(size < 5 * 1024, `${size} bytes`);
  const pkg = JSON.parse(execFileSync('cat', [`${root}/package.json`], { encoding: 'utf8' }));
  assert.equal(pkg.dependencies, undefined);
});

test('the React entry point imports react instead of bundling it', async (t) => {
  const code = Buffer.from(await minified('src/react.js')).toString();
  assert.match(code, /from\s*"react"/);
  t.diagnostic(`@roomcast/client/react: ${gzipSync(code).length} bytes min+gzip`);
});

test('the sources pass tsc (checkJs, strict), and types/ is what they generate', () => {
  const out = mkdtempSync(join(tmpdir(), 'roomcast-types-'));
  cleanup.push(() => rmSync(out, { recursive: true, force: true }));
  execFileSync(`${root}/node_modules/.bin/tsc`, ['-p', `${root}/tsconfig.json`, '--outDir', out], { stdio: 'inherit' });
  const files = readdirSync(out).sort();
  assert.deepEqual(readdirSync(`${root}/types`).sort(), files, 'run `npm run types`');
  for (const f of files) assert.equal(readFileSync(`${root}/types/${f}`, 'utf8'), readFileSync(join(out, f), 'utf8'), `types/${f} is stale: run \`npm run types\``);
});

test('the TypeScript declarations compile against typed usage', () => {
  execFileSync(`${root}/node_modules/.bin/tsc`, ['-p', `${root}/test/types/tsconfig.json`], { stdio: 'inherit' });
});

test('useRoom renders the state and peers of a room and its actions reach the others', async () => {
  const server = await startServer();
  cleanup.push(() => server.stop());
  const React = await import('react');
  const { default: TestRenderer } = await import('react-test-renderer');
  const { useRoom } = await import('../src/react.js');

  /** @type {any} */
  let room;
  function Probe() {
    room = useRoom({ url: server.url, room: 'hook', user: { id: 'hook', name: 'Hook' }, WebSocket });
    return React.createElement('span', null, `${room.state}:${room.peers.size}`);
  }
  const other = new RoomClient({ url: server.url, room: 'hook', user: { id: 'bob', name: 'Bob' }, WebSocket });
  cleanup.push(() => other.close());
  other.connect();
  await next(other, 'welcome');

  /** @type {any} */
  let renderer;
  const warn = console.error;
  console.error = (/** @type {any[]} */ ...a) => /deprecated/.test(String(a[0])) || warn(...a);
  cleanup.push(() => (console.error = warn));
  renderer = TestRenderer.create(React.createElement(Probe));
  await until(() => renderer.toJSON()?.children?.[0] === 'open:1', 5000, 'hook open with one peer');
  assert.equal(room.peers.get(other.session).user.name, 'Bob');

  const edit = next(other, 'edit');
  const result = await room.edit({ building: 'b-1', op: 'set', data: { height: 2 } });
  assert.equal((await edit).seq, result.seq);

  const sel = next(other, 'select');
  room.select(['b-3']);
  assert.deepEqual((await sel).ids, ['b-3']);

  const left = next(other, 'presence', (p) => p.event === 'leave');
  renderer.unmount();
  assert.equal((await left).session, room.session);
});
