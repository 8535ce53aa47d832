/**
 * A minimal event emitter: `on`, `once`, `off`, `emit`. Listeners run in the order they
 * were added; an `error` event without listeners is simply dropped (unlike Node's). A
 * listener that throws is reported (reportError, else console.error) and never stops the
 * others or the emitter's own work: an app's bug in a handler must not stop reconnecting.
 * @template {object} E the event map: name -> value
 */
export class Emitter<E extends object> {
    /** @private @type {Map<keyof E, Set<(value: any) => void>>} */
    private _listeners;
    /**
     * @template {keyof E} K
     * @param {K} event
     * @param {(value: E[K]) => void} fn
     * @returns {this}
     */
    on<K extends keyof E>(event: K, fn: (value: E[K]) => void): this;
    /**
     * The next `event` only.
     * @template {keyof E} K
     * @param {K} event
     * @param {(value: E[K]) => void} fn
     * @returns {this}
     */
    once<K extends keyof E>(event: K, fn: (value: E[K]) => void): this;
    /**
     * @template {keyof E} K
     * @param {K} event
     * @param {(value: E[K]) => void} fn
     * @returns {this}
     */
    off<K extends keyof E>(event: K, fn: (value: E[K]) => void): this;
    /**
     * @protected
     * @template {keyof E} K
     * @param {K} event
     * @param {E[K]} value
     */
    protected emit<K extends keyof E>(event: K, value: E[K]): void;
}
