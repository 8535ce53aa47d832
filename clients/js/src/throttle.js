/**
 * Latest-wins throttle: `push` keeps only the newest value, and `send` is called at most
 * once per `ms`. A `send` that returns false (not connected) leaves the value pending
 * until `flush` is called.
 * @template T
 */
export class Throttle {
  /**
   * @param {number} ms
   * @param {(value: T) => boolean} send
   */
  constructor(ms, send) {
    this.ms = ms;
    this.send = send;
    /** @type {T | undefined} */
    this.value = undefined;
    this.dirty = false;
    this.last = -Infinity;
    this.timer = undefined;
  }

  /** @param {T} value */
  push(value) {
    this.value = value;
    this.dirty = true;
    this.flush();
  }

  /** Sends the pending value now if the interval allows, or schedules it. */
  flush() {
    if (!this.dirty || this.timer) return;
    const wait = this.last + this.ms - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, wait);
    } else if (this.send(/** @type {T} */ (this.value))) {
      this.dirty = false;
      this.last = Date.now();
    }
  }

  /** Marks the last value as not sent (a new session has never seen it). */
  again() {
    this.dirty = this.value !== undefined;
    this.flush();
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
