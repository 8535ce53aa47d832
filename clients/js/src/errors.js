/**
 * The codes a client meets, as named constants, and the error a failed call rejects with.
 */

/**
 * Close codes (protocol 1.1, section 5) by name.
 */
export const CloseCode = /** @type {const} */ ({
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupported: 1003,
  noFrame: 1006,
  badData: 1007,
  slowReader: 1008,
  tooBig: 1009,
  serverError: 1011,
  overloaded: 1013,
  unauthorized: 4001,
  forbidden: 4003,
  replaced: 4008,
});

/**
 * `code` of an `error` event or a RoomError: the server's error codes (protocol 1, 1.1,
 * 1.2) and the client's own (`closed`: the client stopped; `token`: getToken failed).
 */
export const ErrorCode = /** @type {const} */ ({
  bad_json: 'bad_json',
  bad_message: 'bad_message',
  unknown_type: 'unknown_type',
  not_joined: 'not_joined',
  already_joined: 'already_joined',
  rate_limited: 'rate_limited',
  room_full: 'room_full',
  bad_token: 'bad_token',
  forbidden: 'forbidden',
  unavailable: 'unavailable',
  closed: 'closed',
  token: 'token',
});

/** @typedef {typeof ErrorCode[keyof typeof ErrorCode]} ErrorCodeName */

/**
 * What an `edit()` promise rejects with: `code` says why (`forbidden`: your role is
 * viewer; `closed`: the client stopped before the server had the edit), `id` is the
 * edit's id, `close` the close code that stopped the client.
 */
export class RoomError extends Error {
  /**
   * @param {ErrorCodeName} code
   * @param {string} [message]
   * @param {{id?: string, close?: number}} [more]
   */
  constructor(code, message, more) {
    super(message || code);
    this.name = 'RoomError';
    /** @type {ErrorCodeName} */
    this.code = code;
    /** @type {string | undefined} */
    this.id = more && more.id;
    /** @type {number | undefined} */
    this.close = more && more.close;
  }
}
