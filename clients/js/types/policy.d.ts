/**
 * @param {number} code the close code (1006 when there was no close frame)
 * @returns {'stop' | 'token' | 'reconnect'}
 */
export function closeAction(code: number): "stop" | "token" | "reconnect";
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
export function reconnectDelay(code: number, attempt: number, random?: () => number, minDelay?: number, maxDelay?: number): number;
/**
 * A refused upgrade that a non-browser client can read, as the close code it stands for.
 * @param {number} status HTTP status
 * @returns {number}
 */
export function statusToClose(status: number): number;
