export type User = {
    id: string;
    name?: string;
    color?: string;
};
export type Camera = {
    position: number[];
    target: number[];
    up?: number[];
    fov?: number;
};
export type Role = "editor" | "viewer";
/**
 * `connected` is false while the server holds the session for a resume; `role` is
 * what the server said (`editor` from a server older than protocol 1.2)
 */
export type Peer = {
    user: User;
    camera: Camera | null;
    selection: string[];
    following: string | null;
    connected: boolean;
    role: Role;
};
export type State = "connecting" | "open" | "reconnecting" | "closed";
export type RoomClientOptions = {
    /**
     * the server's base, `ws://host:port` or `wss://host`; the client opens `${url}/ws/${room}`
     */
    url: string;
    room: string;
    user: User;
    /**
     * a JWT sent inside the socket (in `join`), never in the URL
     */
    token?: string | undefined;
    /**
     * called for a token when there is none, before the current one expires, and after close 4001
     */
    getToken?: (() => string | Promise<string>) | undefined;
    /**
     * a WebSocket constructor, e.g. the `ws` package's on Node; default globalThis.WebSocket
     */
    WebSocket?: unknown;
    /**
     * replay the edits after this seq on the first join (0: the room's whole history, if still held)
     */
    since?: number | undefined;
    /**
     * after a server restart (a new epoch), how long people not back yet are waited for before they are reported gone, in ms (default 10000)
     */
    restartGrace?: number | undefined;
    /**
     * cursors per second per sender this client wants, 0.5 to 10 (protocol 1.2); the session you follow and the presenter always come at full rate. Default: every cursor
     */
    cameraRate?: number | undefined;
    /**
     * follow whoever presents, until you follow someone else or call unfollow() (default true)
     */
    followPresenter?: boolean | undefined;
    /**
     * ms: the first reconnect waits a random time up to this, doubling each attempt (default 500)
     */
    minDelay?: number | undefined;
    /**
     * ms: the longest wait between reconnects (default 20000)
     */
    maxDelay?: number | undefined;
    /**
     * ms: a connection that has no `welcome` this long after it was opened is given up and retried (default 10000)
     */
    timeout?: number | undefined;
};
export type Welcome = {
    type: "welcome";
    protocol?: string | undefined;
    session: string;
    room: string;
    user: User;
    seq: number;
    peers: Array<Peer & {
        session: string;
    }>;
    /**
     * your role (protocol 1.2)
     */
    role?: Role | undefined;
    /**
     * the presenting session (protocol 1.2)
     */
    presenter?: string | null | undefined;
    /**
     * the camera rate in force (protocol 1.2)
     */
    camera_rate?: number | undefined;
    resume?: string | undefined;
    epoch?: string | undefined;
    exp?: number | undefined;
    /**
     * true only when the server gave back the session this client had (never for a new session after a restart)
     */
    resumed?: boolean | undefined;
};
export type StateChange = {
    /**
     * the new state
     */
    state: State;
    /**
     * the close code that ended the connection (reconnecting, closed)
     */
    code?: number | undefined;
    /**
     * the close reason, if any
     */
    reason?: string | undefined;
    /**
     * reconnecting: which attempt comes next (1, 2, ...)
     */
    attempt?: number | undefined;
    /**
     * reconnecting: ms until that attempt
     */
    delay?: number | undefined;
};
export type PresenceEvent = {
    /**
     * `role`: the session's role changed (a refresh, protocol 1.2)
     */
    event: "join" | "leave" | "role";
    session: string;
    user?: User | undefined;
    /**
     * join, role
     */
    role?: Role | undefined;
    /**
     * a join of someone who was here before a server restart and is back within the grace (never reported as leaving)
     */
    returned?: boolean | undefined;
};
export type CursorEvent = Camera & {
    session: string;
};
export type SelectEvent = {
    session: string;
    ids: string[];
};
export type EditEvent = {
    session: string;
    seq: number;
    building: string;
    op: string;
    data?: unknown;
};
export type ResyncEvent = {
    seq: number;
};
/**
 * your own role changed
 */
export type RoleEvent = {
    session: string;
    role: Role;
};
export type PresentingEvent = {
    session: string | null;
    user?: User;
};
export type FollowEvent = {
    /**
     * who follows
     */
    session: string;
    /**
     * whom (null: nobody)
     */
    target: string | null;
    /**
     * set when the client changed your own follow:
     * `epoch` after a server restart (the same user's new session, or null while that user
     * is not back), `presenter` when someone started or stopped presenting (followPresenter)
     */
    reason?: "epoch" | "presenter" | undefined;
};
export type RoomErrorEvent = {
    /**
     * a server `error` code, `closed` (the client stopped: see `close`) or `token` (getToken failed)
     */
    code: import("./errors.js").ErrorCodeName;
    message: string;
    /**
     * the close code, when code is `closed`
     */
    close?: number | undefined;
    /**
     * the edit's id, when the error is about an edit
     */
    id?: string | undefined;
};
export type RoomEvents = {
    state: StateChange;
    welcome: Welcome;
    presence: PresenceEvent;
    cursor: CursorEvent;
    select: SelectEvent;
    edit: EditEvent;
    follow: FollowEvent;
    resync: ResyncEvent;
    role: RoleEvent;
    presenting: PresentingEvent;
    error: RoomErrorEvent;
};
/**
 * `id` (1 to 64 characters): your own id for the edit, e.g. to recognise it in your
 * store; the client makes one when absent
 */
export type Edit = {
    building: string;
    op: string;
    data?: unknown;
    id?: string;
};
/**
 * `duplicate`: the server already had this edit (a resend after a reconnect)
 */
export type EditResult = {
    seq: number;
    id: string;
    duplicate?: boolean;
};
