export namespace CloseCode {
    let normal: 1000;
    let goingAway: 1001;
    let protocolError: 1002;
    let unsupported: 1003;
    let noFrame: 1006;
    let badData: 1007;
    let slowReader: 1008;
    let tooBig: 1009;
    let serverError: 1011;
    let overloaded: 1013;
    let unauthorized: 4001;
    let forbidden: 4003;
    let replaced: 4008;
}
export namespace ErrorCode {
    export let bad_json: "bad_json";
    export let bad_message: "bad_message";
    export let unknown_type: "unknown_type";
    export let not_joined: "not_joined";
    export let already_joined: "already_joined";
    export let rate_limited: "rate_limited";
    export let room_full: "room_full";
    export let bad_token: "bad_token";
    let forbidden_1: "forbidden";
    export { forbidden_1 as forbidden };
    export let unavailable: "unavailable";
    export let closed: "closed";
    export let token: "token";
}
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
    constructor(code: ErrorCodeName, message?: string, more?: {
        id?: string;
        close?: number;
    });
    /** @type {ErrorCodeName} */
    code: ErrorCodeName;
    /** @type {string | undefined} */
    id: string | undefined;
    /** @type {number | undefined} */
    close: number | undefined;
}
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];
