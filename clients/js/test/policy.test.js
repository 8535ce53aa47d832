// The close-code table and backoff of protocol 1.1, section 5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeAction, reconnectDelay } from '../src/index.js';
import { statusToClose } from '../src/policy.js';

test('close codes: stop on leave, client bugs, forbidden and replaced; new token on 4001; else reconnect', () => {
  for (const code of [1000, 1002, 1003, 1007, 1009, 4003, 4008]) assert.equal(closeAction(code), 'stop', `${code}`);
  assert.equal(closeAction(4001), 'token');
  for (const code of [1001, 1006, 1008, 1011, 1013]) assert.equal(closeAction(code), 'reconnect', `${code}`);
});

test('backoff is full jitter up to min(20 s, 0.5 s * 2^n); 1001 within 2 s; 1013 waits at least 5 s', () => {
  assert.equal(reconnectDelay(1006, 0, () => 1), 500);
  assert.equal(reconnectDelay(1006, 3, () => 1), 4000);
  assert.equal(reconnectDelay(1006, 30, () => 1), 20000);
  assert.equal(reconnectDelay(1006, 5, () => 0), 0);
  assert.equal(reconnectDelay(1001, 9, () => 1), 2000);
  assert.equal(reconnectDelay(1013, 0, () => 0), 5000);
  assert.equal(reconnectDelay(1013, 8, () => 1), 20000);
  for (let n = 0; n < 50; n++) {
    const d = reconnectDelay(1008, n % 8);
    assert.ok(d >= 0 && d <= Math.min(20000, 500 * 2 ** (n % 8)));
  }
});

test('refused upgrades a non-browser client can read map like close codes', () => {
  assert.equal(statusToClose(401), 4001);
  assert.equal(statusToClose(403), 4003);
  assert.equal(statusToClose(429), 1013);
  assert.equal(statusToClose(503), 1013);
  assert.equal(statusToClose(500), 1006);
});
