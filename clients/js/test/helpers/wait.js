/** Bounded waits for tests: every wait fails after `ms` instead of hanging. */

/**
 * Resolves with the first `event` from `emitter` for which `test` holds.
 * @param {{on: Function, off: Function}} emitter
 * @param {string} event
 * @param {(value: any) => boolean} [test]
 * @param {number} [ms]
 */
export function next(emitter, event, test = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const fn = (/** @type {any} */ value) => {
      if (!test(value)) return;
      clearTimeout(timer);
      emitter.off(event, fn);
      resolve(value);
    };
    emitter.on(event, fn);
  });
}

/**
 * Polls `test` until it is true.
 * @param {() => boolean} test
 * @param {number} [ms]
 * @param {string} [what]
 */
export async function until(test, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(20);
  }
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Records every event of the given kinds, in order.
 * @param {{on: Function}} emitter
 * @param {string[]} events
 */
export function record(emitter, events) {
  /** @type {Array<[string, any]>} */
  const log = [];
  for (const e of events) emitter.on(e, (/** @type {any} */ v) => log.push([e, v]));
  return log;
}
