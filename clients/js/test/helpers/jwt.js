/** HS256 tokens for tests, signed with node's crypto. */
import { createHmac } from 'node:crypto';

const b64 = (/** @type {string | Buffer} */ s) => Buffer.from(s).toString('base64url');

/**
 * @param {string} secret
 * @param {{sub: string, exp?: number, name?: string, rooms?: string[], edit?: string[]}} claims exp defaults to an
 *   hour from now; `edit: []` makes a viewer (protocol 1.2)
 */
export function signToken(secret, claims) {
  const body = { exp: Math.floor(Date.now() / 1000) + 3600, ...claims };
  const head = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(body))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}
