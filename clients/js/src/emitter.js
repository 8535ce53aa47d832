/**
 * A minimal event emitter: `on`, `once`, `off`, `emit`. Listeners run in the order they
 * were added; an `error` event without listeners is simply dropped (unlike Node's). A
 * listener that throws is reported (reportError, else console.error) and never stops the
 * others or the emitter's own work: an app's bug in a handler must not stop reconnecting.
 * @template {object} E the event map: name -> value
 */
export class Emitter {
  constructor() {
    /** @private @type {Map<keyof E, Set<(value: any) => void>>} */
    this._listeners = new Map();
  }

  /**
   * @template {keyof E} K
   * @param {K} event
   * @param {(value: E[K]) => void} fn
   * @returns {this}
   */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  /**
   * The next `event` only.
   * @template {keyof E} K
   * @param {K} event
   * @param {(value: E[K]) => void} fn
   * @returns {this}
   */
  once(event, fn) {
    const one = Object.assign((/** @type {E[K]} */ value) => {
      this.off(event, one);
      fn(value);
    }, { fn });
    return this.on(event, one);
  }

  /**
   * @template {keyof E} K
   * @param {K} event
   * @param {(value: E[K]) => void} fn
   * @returns {this}
   */
  off(event, fn) {
    const set = this._listeners.get(event);
    // A `once` listener is removed by the function given to `once`.
    if (set) for (const f of set) if (f === fn || /** @type {any} */ (f).fn === fn) set.delete(f);
    return this;
  }

  /**
   * @protected
   * @template {keyof E} K
   * @param {K} event
   * @param {E[K]} value
   */
  emit(event, value) {
    const set = this._listeners.get(event);
    if (set) {
      for (const fn of [...set]) {
        try {
          fn(value);
        } catch (e) {
          (globalThis.reportError || console.error)(e);
        }
      }
    }
  }
}
