/**
 * Edits waiting for their `ack`. Each gets an id (1-64 characters) when made and keeps it
 * until acknowledged, so the server can answer a repeat after a reconnect with the
 * original seq instead of applying it twice (docs/protocol.md 3.2).
 */

/**
 * @typedef {{type: 'edit', id: string, building: string, op: string, data?: unknown}} EditMessage
 * @typedef {{seq: number, duplicate?: boolean}} EditResult
 * @typedef {{msg: EditMessage, conn: number, resolve: (r: EditResult) => void, reject: (e: Error) => void}} Pending
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
   * @param {{building: string, op: string, data?: unknown}} edit
   * @returns {Promise<EditResult>}
   */
  add({ building, op, data }) {
    const id = `${this.prefix}-${(++this.count).toString(36)}`;
    /** @type {EditMessage} */
    const msg = { type: 'edit', id, building, op };
    if (data !== undefined) msg.data = data;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { msg, conn: 0, resolve, reject });
    });
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
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(duplicate ? { seq, duplicate } : { seq });
  }

  /** @param {Error} error */
  fail(error) {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(error);
  }
}
