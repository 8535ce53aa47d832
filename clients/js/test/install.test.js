// The documented install in a fresh app: `npm pack`'s tarball installed next to the app's
// own React, then bundled by esbuild as a web app is. A linked checkout (`npm install
// ../roomcast/clients/js`) made esbuild miss `react`, or bundle a second React
// ("Cannot read properties of null (reading 'useRef')").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { FakeServer } from './fake/server.js';
import { until } from './helpers/wait.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'roomcast-app-'));
after(() => rmSync(app, { recursive: true, force: true }));

const version = (/** @type {string} */ pkg) => JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;

test('a fresh app installs the packed client and its bundle runs useRoom with the app\'s React', { timeout: 180000 }, async () => {
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', app], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop();
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error',
    `./${tgz}`, `react@${version('react')}`, `react-test-renderer@${version('react-test-renderer')}`], { cwd: app, stdio: 'inherit' });
  writeFileSync(join(app, 'app.js'), `
    import React from 'react';
    import TestRenderer from 'react-test-renderer';
    import { useRoom } from '@roomcast/client/react';
    import { CloseCode } from '@roomcast/client';
    export function run(WebSocket) {
      let room;
      function App() {
        room = useRoom({ url: 'ws://fake', room: 'app', user: { id: 'fresh' }, WebSocket });
        return React.createElement('b', null, room.state + ':' + room.role + ':' + CloseCode.normal);
      }
      const r = TestRenderer.create(React.createElement(App));
      return { text: () => r.toJSON()?.children?.[0], unmount: () => r.unmount() };
    }
  `);
  await build({ entryPoints: [join(app, 'app.js')], bundle: true, format: 'esm', platform: 'node', outfile: join(app, 'out.mjs'), absWorkingDir: app, logLevel: 'error' });
  const { run } = await import(pathToFileURL(join(app, 'out.mjs')).href);
  const server = new FakeServer();
  const warn = console.error;
  console.error = (/** @type {any[]} */ ...a) => /deprecated/.test(String(a[0])) || warn(...a);
  try {
    const view = run(server.WebSocket);
    await until(() => view.text() === 'open:editor:1000', 5000, 'the app renders the open room');
    view.unmount();
  } finally {
    console.error = warn;
  }
  assert.equal(server.sent('join').length, 1);
});
