/**
 * Latest-wins throttle: `push` keeps only the newest value, and `send` is called at most
 * once per `ms`. A `send` that returns false (not connected) leaves the value pending
 * until `flush` is called.
 * @template T
 */
export class Throttle<T> {
    /**
     * @param {number} ms
     * @param {(value: T) => boolean} send
     */
    constructor(ms: number, send: (value: T) => boolean);
    ms: number;
    send: (value: T) => boolean;
    /** @type {T | undefined} */
    value: T | undefined;
    dirty: boolean;
    last: number;
    timer: any;
    /** @param {T} value */
    push(value: T): void;
    /** Sends the pending value now if the interval allows, or schedules it. */
    flush(): void;
    /** Marks the last value as not sent (a new session has never seen it). */
    again(): void;
    cancel(): void;
}
