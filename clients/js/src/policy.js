/**
 * What a client does when its socket closes (docs/protocol.md 3.5), and how long it
 * waits before trying again.
 */

/** Close codes after which retrying would only repeat the failure. */
const STOP = [1000, 1002, 1003, 1007, 1009, 4003, 4008];

/**
 * @param {number} code the close code (1006 when there was no close frame)
 * @returns {'stop' | 'token' | 'reconnect'}
 */
export function closeAction(code) {
  if (STOP.includes(code)) return 'stop';
  return code === 4001 ? 'token' : 'reconnect';
}

/**
 * Full-jitter backoff: attempt n (from 0) waits a random time in
 * [0, min(maxDelay, minDelay * 2^n)] (defaults 20 s and 0.5 s). A server going away
 * (1001) is retried within [0, min(2 s, maxDelay)]; an overloaded one (1013) is left alone
 * for at least 5 s, whatever maxDelay says (it asked for that).
 * @param {number} code
 * @param {number} attempt
 * @param {() => number} [random]
 * @param {number} [minDelay]
 * @param {number} [maxDelay]
 * @returns {number} milliseconds
 */
export function reconnectDelay(code, attempt, random = Math.random, minDelay = 500, maxDelay = 20000) {
  if (code === 1001) return random() * Math.min(2000, maxDelay);
  const delay = random() * Math.min(maxDelay, minDelay * 2 ** attempt);
  return code === 1013 ? Math.max(5000, delay) : delay;
}

/**
 * A refused upgrade that a non-browser client can read, as the close code it stands for.
 * @param {number} status HTTP status
 * @returns {number}
 */
export function statusToClose(status) {
  if (status === 401) return 4001;
  if (status === 403) return 4003;
  return status === 429 || status === 503 ? 1013 : 1006;
}
