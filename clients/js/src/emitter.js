/**
 * A minimal event emitter: `on`, `off`, `emit`. Listeners run in the order they were
 * added; an `error` event without listeners is simply dropped (unlike Node's).
 */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(value: any) => void>>} */
    this._listeners = new Map();
  }

  /**
   * @param {string} event
   * @param {(value: any) => void} fn
   * @returns {this}
   */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  /**
   * @param {string} event
   * @param {(value: any) => void} fn
   * @returns {this}
   */
  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) set.delete(fn);
    return this;
  }

  /**
   * @param {string} event
   * @param {any} [value]
   */
  emit(event, value) {
    const set = this._listeners.get(event);
    if (set) for (const fn of [...set]) fn(value);
  }
}
