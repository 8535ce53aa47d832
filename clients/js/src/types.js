/**
 * The shapes a RoomClient takes and gives: the one place they are written (JSDoc, checked
 * by tsc; the .d.ts files in types/ are generated from these sources).
 */

/**
 * @typedef {{id: string, name?: string, color?: string}} User
 * @typedef {{position: number[], target: number[], up?: number[], fov?: number}} Camera
 * @typedef {'editor' | 'viewer'} Role
 * @typedef {{
 *   user: User, camera: Camera | null, selection: string[], following: string | null,
 *   connected: boolean, role: Role
 * }} Peer
 *   `connected` is false while the server holds the session for a resume; `role` is
 *   what the server said (`editor` from a server older than protocol 1.2)
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} State
 */

/**
 * @typedef {object} RoomClientOptions
 * @property {string} url the server's base, `ws://host:port` or `wss://host`; the client opens `${url}/ws/${room}`
 * @property {string} room
 * @property {User} user
 * @property {string} [token] a JWT sent inside the socket (in `join`), never in the URL
 * @property {() => string | Promise<string>} [getToken] called for a token when there is none, before the current one expires, and after close 4001
 * @property {unknown} [WebSocket] a WebSocket constructor, e.g. the `ws` package's on Node; default globalThis.WebSocket
 * @property {number} [since] replay the edits after this seq on the first join (0: the room's whole history, if still held)
 * @property {number} [restartGrace] after a server restart (a new epoch), how long people not back yet are waited for before they are reported gone, in ms (default 10000)
 * @property {number} [cameraRate] cursors per second per sender this client wants, 0.5 to 10 (protocol 1.2); the session you follow and the presenter always come at full rate. Default: every cursor
 * @property {boolean} [followPresenter] follow whoever presents, until you follow someone else or call unfollow() (default true)
 * @property {number} [minDelay] ms: the first reconnect waits a random time up to this, doubling each attempt (default 500)
 * @property {number} [maxDelay] ms: the longest wait between reconnects (default 20000)
 * @property {number} [timeout] ms: a connection that has no `welcome` this long after it was opened is given up and retried (default 10000)
 */

/**
 * @typedef {object} Welcome
 * @property {'welcome'} type
 * @property {string} [protocol]
 * @property {string} session
 * @property {string} room
 * @property {User} user
 * @property {number} seq
 * @property {Array<Peer & {session: string}>} peers
 * @property {Role} [role] your role (protocol 1.2)
 * @property {string | null} [presenter] the presenting session (protocol 1.2)
 * @property {number} [camera_rate] the camera rate in force (protocol 1.2)
 * @property {string} [resume]
 * @property {string} [epoch]
 * @property {number} [exp]
 * @property {boolean} [resumed] true only when the server gave back the session this client had (never for a new session after a restart)
 */

/**
 * @typedef {object} StateChange
 * @property {State} state the new state
 * @property {number} [code] the close code that ended the connection (reconnecting, closed)
 * @property {string} [reason] the close reason, if any
 * @property {number} [attempt] reconnecting: which attempt comes next (1, 2, ...)
 * @property {number} [delay] reconnecting: ms until that attempt
 */

/**
 * @typedef {object} PresenceEvent
 * @property {'join' | 'leave' | 'role'} event `role`: the session's role changed (a refresh, protocol 1.2)
 * @property {string} session
 * @property {User} [user]
 * @property {Role} [role] join, role
 * @property {boolean} [returned] a join of someone who was here before a server restart and is back within the grace (never reported as leaving)
 */

/**
 * @typedef {Camera & {session: string}} CursorEvent
 * @typedef {{session: string, ids: string[]}} SelectEvent
 * @typedef {{session: string, seq: number, building: string, op: string, data?: unknown}} EditEvent
 * @typedef {{seq: number}} ResyncEvent
 * @typedef {{session: string, role: Role}} RoleEvent your own role changed
 * @typedef {{session: string | null, user?: User}} PresentingEvent
 */

/**
 * @typedef {object} FollowEvent
 * @property {string} session who follows
 * @property {string | null} target whom (null: nobody)
 * @property {'epoch' | 'presenter'} [reason] set when the client changed your own follow:
 *   `epoch` after a server restart (the same user's new session, or null while that user
 *   is not back), `presenter` when someone started or stopped presenting (followPresenter)
 */

/**
 * @typedef {object} RoomErrorEvent
 * @property {import('./errors.js').ErrorCodeName} code a server `error` code, `closed` (the client stopped: see `close`) or `token` (getToken failed)
 * @property {string} message
 * @property {number} [close] the close code, when code is `closed`
 * @property {string} [id] the edit's id, when the error is about an edit
 */

/**
 * @typedef {object} RoomEvents
 * @property {StateChange} state
 * @property {Welcome} welcome
 * @property {PresenceEvent} presence
 * @property {CursorEvent} cursor
 * @property {SelectEvent} select
 * @property {EditEvent} edit
 * @property {FollowEvent} follow
 * @property {ResyncEvent} resync
 * @property {RoleEvent} role
 * @property {PresentingEvent} presenting
 * @property {RoomErrorEvent} error
 */

/**
 * @typedef {{building: string, op: string, data?: unknown, id?: string}} Edit
 *   `id` (1 to 64 characters): your own id for the edit, e.g. to recognise it in your
 *   store; the client makes one when absent
 * @typedef {{seq: number, id: string, duplicate?: boolean}} EditResult
 *   `duplicate`: the server already had this edit (a resend after a reconnect)
 */

export {};
