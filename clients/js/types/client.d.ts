/**
 * One session in one room. Events: see RoomEvents.
 * @extends {Emitter<RoomEvents>}
 */
export class RoomClient extends Emitter<import("./types.js").RoomEvents> {
    /** @param {RoomClientOptions} options */
    constructor(options: RoomClientOptions);
    options: import("./types.js").RoomClientOptions;
    /** @type {State} */
    state: State;
    /** @type {string | null} */
    session: string | null;
    /** the highest edit seq seen: what a reconnect asks to replay after */
    seq: number;
    /** @type {string | null} */
    epoch: string | null;
    /** @type {number | null} the token's expiry (Unix seconds) when the server checks tokens */
    exp: number | null;
    /** @type {User} */
    user: User;
    /** @type {Map<string, Peer>} */
    peers: Map<string, Peer>;
    /** @type {string[]} */
    selection: string[];
    /** @type {string | null} */
    following: string | null;
    /** @type {Role | null} your role in the room (protocol 1.2; `editor` from older servers), null before the first welcome */
    role: Role | null;
    /** @type {string | null} the session presenting (protocol 1.2), or null */
    presenter: string | null;
    /** @private */
    private _edits;
    /** @type {Throttle<Camera>} */
    /** @private */
    private _camera;
    /** @private */
    private _ws;
    /** @private */
    private _conn;
    /** @private */
    private _token;
    /** @private */
    private _resume;
    /** @private */
    private _joined;
    /** @private */
    private _asked;
    /** @private */
    private _fresh;
    /** @private @type {string | null} the epoch the session ids in `peers` and `following` belong to */
    private _idsEpoch;
    /** @private @type {string | null} after a new epoch: the user.id to follow again once that user is back */
    private _followUser;
    /**
     * After a new epoch: the sessions (of the old epoch) of people not back yet, by user.id.
     * They are reported gone when the restart grace ends, unless they come back first.
     * @private
     * @type {Map<string, Array<[string, Peer]>>}
     */
    private _missing;
    /** @private */
    private _missingTimer;
    /** @private */
    private _attempt;
    /** @private */
    private _openedAt;
    /** @private */
    private _heard;
    /** @private */
    private _timers;
    /** @returns {Camera | undefined} the last camera given to setCamera */
    get camera(): Camera | undefined;
    /** Opens the connection (again, after `close`). */
    connect(): this;
    /** Leaves the room: the others see `presence` `leave` at once. Pending edits are rejected. */
    close(): void;
    /**
     * Shares your camera; sent at most 10 times a second, the latest wins.
     * @param {Camera} camera
     */
    setCamera(camera: Camera): void;
    /** @param {string[]} ids the building ids now selected (replaces the selection) */
    select(ids: string[]): void;
    /**
     * Tells the others whose camera you follow (or nobody). It does not move your camera:
     * your app does, from `leaderCamera` (the leader's latest cursor). Following someone
     * other than the presenter, or nobody, breaks away from a presentation.
     * @param {string | null} session
     */
    follow(session: string | null): void;
    /** Follows nobody (and breaks away from a presentation). */
    unfollow(): void;
    /** @returns {Camera | null} the latest camera of the session you follow, or null */
    get leaderCamera(): Camera | null;
    /** Asks everyone to follow you (protocol 1.2; a viewer gets an `error` `forbidden`). */
    present(): void;
    /** Ends your presentation (nothing if you are not presenting). */
    stopPresenting(): void;
    /**
     * Sends an edit; resolves with its seq and id once the server has it, however many
     * reconnects that takes. Rejects with a RoomError: `forbidden` when your role is viewer,
     * `closed` when the client stops first.
     * @param {Edit} edit `id` (1-64 characters) is yours to choose; the client makes one when absent
     * @returns {Promise<EditResult>}
     */
    edit(edit: Edit): Promise<EditResult>;
    /**
     * @private
     * @param {string | null} session
     */
    private _follow;
    /** @private */
    private _open;
    /** @private */
    private _join;
    /**
     * @param {number} code
     * @param {string} reason
     * @private
     */
    private _closed;
    /**
     * @private
     * @param {number} code
     * @param {string} [reason]
     */
    private _retry;
    /**
     * @private
     * @param {number} [code]
     * @param {string} [reason]
     */
    private _stop;
    /** @private */
    private _clearTimers;
    /**
     * @private
     * @param {State} state
     * @param {Omit<StateChange, 'state'>} [more] code, reason, attempt, delay
     * @param {boolean} [again] told even when the state stays (each reconnect attempt)
     */
    private _setState;
    /**
     * @private
     * @param {object} msg
     */
    private _send;
    /** @private */
    private _flushEdits;
    /**
     * @private
     * @param {string} data
     */
    private _receive;
    /**
     * @private
     * @param {Role} role
     */
    private _setRole;
    /**
     * Someone started presenting, took over, or nobody presents any more: with
     * followPresenter, follow the new presenter; when a presentation ends, stop following
     * it. Only a change moves the follow, so whoever broke away from a presenter (followed
     * someone else, or nobody) stays away until the next presentation.
     * @private
     * @param {string | null} session
     */
    private _presenting;
    /** @private @param {any} m */
    private _welcome;
    /**
     * Presence across a new epoch: every session id changed, so only people (by user.id)
     * who are missing now are told as leaving, and only new people as joining; someone who
     * is still there under a new session id is not told as leaving and joining again.
     * @param {Map<string, Peer>} before
     * @private
     */
    private _diffByUser;
    /** The restart grace is over: whoever is not back has left. */
    /** @private */
    private _graceOver;
    /** Our leader of before a restart is not back: we follow nobody, and say so. */
    /** @private */
    private _dropFollow;
    /**
     * A session of user `userId` among the peers (a connected one first), if any.
     * @param {string} userId
     * @private
     */
    private _sessionOf;
    /**
     * Follows `session`, the new session of the user we followed before a new epoch, and
     * says so (a `follow` event of our own session, reason 'epoch').
     * @param {string} session
     * @param {boolean} [send] false: the caller sends it
     * @private
     */
    private _refollow;
    /** @private @param {string} session */
    private _left;
    /** Edits refused for now (rate limit, store down) are sent again, with the same ids. */
    /** @private */
    private _retryEdits;
    /** @private */
    private _heartbeat;
    /**
     * The socket says nothing (no answer, or no welcome in time): the network is gone
     * without telling us. Replaced; 4000 keeps the session held for the resume.
     * @private
     * @param {string} reason
     */
    private _drop;
    /** @private */
    private _scheduleRefresh;
}
export type User = import("./types.js").User;
export type Camera = import("./types.js").Camera;
export type Peer = import("./types.js").Peer;
export type Role = import("./types.js").Role;
export type State = import("./types.js").State;
export type StateChange = import("./types.js").StateChange;
export type RoomClientOptions = import("./types.js").RoomClientOptions;
export type RoomEvents = import("./types.js").RoomEvents;
export type Edit = import("./types.js").Edit;
export type EditResult = import("./types.js").EditResult;
import { Emitter } from './emitter.js';
