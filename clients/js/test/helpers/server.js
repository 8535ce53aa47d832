/**
 * Starts a real roomcast ($ROOMCAST_BIN) on 127.0.0.1 for a test, and stops it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.ROOMCAST_BIN;

/**
 * @param {{port?: number, args?: string[], secret?: string}} [options] port 0 (default)
 *   picks a free one; `secret`: JWTs are required, HS256 with this secret (written to a
 *   temporary file for --jwt-secret-file)
 * @returns {Promise<{port: number, url: string, stop: (signal?: NodeJS.Signals) => Promise<void>}>}
 */
export async function startServer({ port = 0, args = [], secret } = {}) {
  if (!BIN) throw new Error('set ROOMCAST_BIN to the roomcast binary');
  /** @type {string | undefined} */
  let secretDir;
  if (secret !== undefined) {
    secretDir = mkdtempSync(join(tmpdir(), 'roomcast-js-'));
    writeFileSync(join(secretDir, 'secret'), secret);
    args = [...args, '--jwt-secret-file', join(secretDir, 'secret')];
  }
  const child = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--threads', '1', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const listening = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`roomcast did not start within 5 s: ${out}`)), 5000);
    const fail = (/** @type {Error} */ e) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /roomcast listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => fail(new Error(`roomcast exited with ${code} before listening: ${out}`)));
  });
  child.stdout.resume();
  return {
    port: listening,
    url: `ws://127.0.0.1:${listening}`,
    async stop(signal = 'SIGTERM') {
      if (secretDir) rmSync(secretDir, { recursive: true, force: true });
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
