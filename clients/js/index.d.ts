export interface User {
  id: string;
  name?: string;
  color?: string;
}

export interface Camera {
  position: [number, number, number] | number[];
  target: [number, number, number] | number[];
  up?: [number, number, number] | number[];
  fov?: number;
}

export interface Peer {
  user: User;
  camera: Camera | null;
  selection: string[];
  following: string | null;
  /** false while the server holds the session for a resume */
  connected: boolean;
}

export type State = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface RoomClientOptions {
  /** the server's base, `ws://host:port` or `wss://host`; the client opens `${url}/ws/${room}` */
  url: string;
  room: string;
  user: User;
  /** a JWT sent inside the socket (in `join`), never in the URL */
  token?: string;
  /** called for a token when there is none, before the current one expires, and after close 4001 */
  getToken?: () => string | Promise<string>;
  /** a WebSocket constructor, e.g. the `ws` package's on Node; default globalThis.WebSocket */
  WebSocket?: unknown;
  /** replay the edits after this seq on the first join (0: the room's whole history, if still held) */
  since?: number;
  /**
   * After a server restart (a new epoch), how long people not back yet are waited for
   * before they are reported gone (presence `leave`) and a follow of them is dropped, in
   * ms (default 10000)
   */
  restartGrace?: number;
}

export interface Welcome {
  type: 'welcome';
  protocol?: string;
  session: string;
  room: string;
  user: User;
  seq: number;
  peers: Array<Peer & { session: string }>;
  resume?: string;
  epoch?: string;
  exp?: number;
  /** true only when the server gave back the session this client had (never for a new session after a restart) */
  resumed?: boolean;
}
export interface PresenceEvent {
  event: 'join' | 'leave';
  session: string;
  user?: User;
  /** a join of someone who was here before a server restart and is back within the grace (never reported as leaving) */
  returned?: boolean;
}
export interface CursorEvent extends Camera { session: string }
export interface SelectEvent { session: string; ids: string[] }
export interface FollowEvent {
  session: string;
  target: string | null;
  /**
   * 'epoch': the client changed your own follow because the room restarted (a new epoch:
   * every session id is new). `target` is the new session of the user you followed, or
   * null while that user is not in the room; the client follows them again when they return.
   */
  reason?: 'epoch';
}
export interface EditEvent { session: string; seq: number; building: string; op: string; data?: unknown }
export interface ResyncEvent { seq: number }
export interface ErrorEvent {
  /** a server `error` code, `closed` (the client stopped: see `close`) or `token` (getToken failed) */
  code: string;
  message: string;
  /** the close code, when code is `closed` */
  close?: number;
}

export interface RoomEvents {
  state: State;
  welcome: Welcome;
  presence: PresenceEvent;
  cursor: CursorEvent;
  select: SelectEvent;
  edit: EditEvent;
  follow: FollowEvent;
  resync: ResyncEvent;
  error: ErrorEvent;
}

export interface EditResult {
  seq: number;
  /** true when this was a resend of an edit the server already had */
  duplicate?: boolean;
}

export declare class RoomClient {
  constructor(options: RoomClientOptions);
  readonly options: RoomClientOptions;
  readonly state: State;
  readonly session: string | null;
  /** the highest edit seq seen */
  readonly seq: number;
  readonly epoch: string | null;
  readonly exp: number | null;
  readonly user: User;
  readonly peers: Map<string, Peer>;
  readonly camera: Camera | undefined;
  readonly selection: string[];
  readonly following: string | null;
  connect(): this;
  close(): void;
  setCamera(camera: Camera): void;
  select(ids: string[]): void;
  follow(session: string | null): void;
  edit(edit: { building: string; op: string; data?: unknown }): Promise<EditResult>;
  on<K extends keyof RoomEvents>(event: K, fn: (value: RoomEvents[K]) => void): this;
  off<K extends keyof RoomEvents>(event: K, fn: (value: RoomEvents[K]) => void): this;
}

export declare function closeAction(code: number): 'stop' | 'token' | 'reconnect';
export declare function reconnectDelay(code: number, attempt: number, random?: () => number): number;
