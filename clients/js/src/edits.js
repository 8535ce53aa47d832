/**
 * Edits waiting for their `ack`. Each has an id (1-64 characters: the caller's, or made
 * here) and keeps it until acknowledged, so the server can answer a repeat after a
 * reconnect with the original seq instead of applying it twice (docs/protocol.md 3.2).
 */

/**
 * @typedef {import('./types.js').Edit} Edit
 * @typedef {import('./types.js').EditResult} EditResult
 * @typedef {{type: 'edit', id: string, building: string, op: string, data?: unknown}} EditMessage
 * @typedef {{msg: EditMessage, conn: number, promise: Promise<EditResult>, resolve: (r: EditResult) => void, reject: (e: Error) => void}} Pending
 */

const random = () => Math.random().toString(36).slice(2, 10).padEnd(8, '0');

export class EditQueue {
  constructor() {
    /** @type {Map<string, Pending>} in the order made */
    this.pending = new Map();
    this.prefix = random() + random();
    this.count = 0;
  }

  /**
   * @param {Edit} edit
   * @returns {Promise<EditResult>} the same promise for an id already pending
   */
  add({ building, op, data, id }) {
    if (id === undefined) id = `${this.prefix}-${(++this.count).toString(36)}`;
    else if (typeof id !== 'string' || !id || id.length > 64) throw new TypeError('roomcast: an edit id is 1 to 64 characters');
    const known = this.pending.get(id);
    if (known) return known.promise;
    /** @type {EditMessage} */
    const msg = { type: 'edit', id, building, op };
    if (data !== undefined) msg.data = data;
    const p = /** @type {Pending} */ ({ msg, conn: 0 });
    p.promise = new Promise((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    this.pending.set(id, p);
    return p.promise;
  }

  /**
   * Messages not yet sent on connection `conn`, now marked as sent on it.
   * @param {number} conn
   * @returns {EditMessage[]}
   */
  take(conn) {
    const out = [];
    for (const p of this.pending.values()) {
      if (p.conn !== conn) {
        p.conn = conn;
        out.push(p.msg);
      }
    }
    return out;
  }

  /** Forget where the pending edits were sent: the next `take` returns them all. */
  unmark() {
    for (const p of this.pending.values()) p.conn = 0;
  }

  /** @param {{id?: string, seq: number, duplicate?: boolean}} ack */
  ack({ id, seq, duplicate }) {
    const p = this.settle(id);
    if (p) p.resolve(duplicate ? { seq, id: p.msg.id, duplicate } : { seq, id: p.msg.id });
  }

  /**
   * The pending edit `id`, no longer pending.
   * @param {string | undefined} id
   */
  settle(id) {
    const p = id === undefined ? undefined : this.pending.get(id);
    if (p) this.pending.delete(p.msg.id);
    return p;
  }

  /** @param {Error} error */
  fail(error) {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(error);
  }
}
