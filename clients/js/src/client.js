/**
 * RoomClient: one session in one roomcast room, kept alive across dropped sockets
 * (protocol 1.1: resume, exactly-once edits, epochs, in-band token and refresh; 1.2:
 * roles, presenting, camera rate).
 */
import { Emitter } from './emitter.js';
import { EditQueue } from './edits.js';
import { RoomError } from './errors.js';
import { closeAction, reconnectDelay, statusToClose } from './policy.js';
import { Throttle } from './throttle.js';

/**
 * @typedef {import('./types.js').User} User
 * @typedef {import('./types.js').Camera} Camera
 * @typedef {import('./types.js').Peer} Peer
 * @typedef {import('./types.js').Role} Role
 * @typedef {import('./types.js').State} State
 * @typedef {import('./types.js').StateChange} StateChange
 * @typedef {import('./types.js').RoomClientOptions} RoomClientOptions
 * @typedef {import('./types.js').RoomEvents} RoomEvents
 * @typedef {import('./types.js').Edit} Edit
 * @typedef {import('./types.js').EditResult} EditResult
 */

const CAMERA_MS = 100; // at most 10 cameras a second
const STABLE_MS = 10000; // a connection open this long resets the backoff
const QUIET_MS = 15000; // silence before we ping; twice this and the socket is presumed dead
const RETRY_MS = 1000; // edits refused with rate_limited or unavailable are sent again after this
const RESTART_GRACE_MS = 10000; // after a restart, people not back yet are reported gone after this
const TIMEOUT_MS = 10000; // a socket without a welcome this long after it was opened is replaced

/**
 * @param {any} p a peer as the server describes it
 * @returns {Peer}
 */
const peerOf = (p) => ({
  user: p.user,
  camera: p.camera || null,
  selection: p.selection || [],
  following: p.following || null,
  connected: p.connected !== false,
  role: p.role || 'editor',
});

/**
 * One session in one room. Events: see RoomEvents.
 * @extends {Emitter<RoomEvents>}
 */
export class RoomClient extends Emitter {
  /** @param {RoomClientOptions} options */
  constructor(options) {
    super();
    const { url, room, user, cameraRate: rate } = options || /** @type {any} */ ({});
    if (!url || !room || !user || !user.id) throw new TypeError('RoomClient needs url, room and user.id');
    if (rate !== undefined && !(rate >= 0.5 && rate <= 10)) throw new RangeError('roomcast: cameraRate is from 0.5 to 10');
    this.options = options;
    /** @type {State} */
    this.state = 'closed';
    /** @type {string | null} */
    this.session = null;
    /** the highest edit seq seen: what a reconnect asks to replay after */
    this.seq = 0;
    /** @type {string | null} */
    this.epoch = null;
    /** @type {number | null} the token's expiry (Unix seconds) when the server checks tokens */
    this.exp = null;
    /** @type {User} */
    this.user = user;
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {string[]} */
    this.selection = [];
    /** @type {string | null} */
    this.following = null;
    /** @type {Role | null} your role in the room (protocol 1.2; `editor` from older servers), null before the first welcome */
    this.role = null;
    /** @type {string | null} the session presenting (protocol 1.2), or null */
    this.presenter = null;

    /** @private */
    this._edits = new EditQueue();
    /** @type {Throttle<Camera>} */
    /** @private */
    this._camera = new Throttle(CAMERA_MS, (c) => this._send({ type: 'cursor', ...c }));
    /** @private */
    this._ws = null;
    /** @private */
    this._conn = 0; // connection number, to send each pending edit once per connection
    /** @private */
    this._token = options.token || null;
    /** @private */
    this._resume = null;
    // Joins carry since (and epoch, once known) after a welcome, or from the start when
    // options.since asks for a replay of the room's history (0: all of it).
    /** @private */
    this._joined = options.since !== undefined;
    if (this._joined) this.seq = /** @type {number} */ (options.since);
    /** @private */
    this._asked = false; // the current join carried since
    /** @private */
    this._fresh = false; // a welcome of a new session was skipped to catch up (see _welcome)
    /** @private @type {string | null} the epoch the session ids in `peers` and `following` belong to */
    this._idsEpoch = null;
    /** @private @type {string | null} after a new epoch: the user.id to follow again once that user is back */
    this._followUser = null;
    /**
     * After a new epoch: the sessions (of the old epoch) of people not back yet, by user.id.
     * They are reported gone when the restart grace ends, unless they come back first.
     * @private
     * @type {Map<string, Array<[string, Peer]>>}
     */
    this._missing = new Map();
    /** @private */
    this._missingTimer = /** @type {any} */ (null);
    /** @private */
    this._attempt = 0;
    /** @private */
    this._openedAt = 0;
    /** @private */
    this._heard = 0;
    /** @private */
    this._timers = /** @type {Record<string, any>} */ ({});
  }

  /** @returns {Camera | undefined} the last camera given to setCamera */
  get camera() {
    return this._camera.value;
  }

  /** Opens the connection (again, after `close`). */
  connect() {
    if (this.state === 'closed') {
      this._setState('connecting');
      this._open();
    }
    return this;
  }

  /** Leaves the room: the others see `presence` `leave` at once. Pending edits are rejected. */
  close() {
    if (this.state === 'closed') return;
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      if (ws.readyState === 1) ws.send('{"type":"leave"}');
      ws.close(1000);
    }
    this._stop();
  }

  /**
   * Shares your camera; sent at most 10 times a second, the latest wins.
   * @param {Camera} camera
   */
  setCamera(camera) {
    this._camera.push(camera);
  }

  /** @param {string[]} ids the building ids now selected (replaces the selection) */
  select(ids) {
    this.selection = [...ids];
    this._send({ type: 'select', ids: this.selection });
  }

  /**
   * Tells the others whose camera you follow (or nobody). It does not move your camera:
   * your app does, from `leaderCamera` (the leader's latest cursor). Following someone
   * other than the presenter, or nobody, breaks away from a presentation.
   * @param {string | null} session
   */
  follow(session) {
    this._follow(session);
  }

  /** Follows nobody (and breaks away from a presentation). */
  unfollow() {
    this.follow(null);
  }

  /** @returns {Camera | null} the latest camera of the session you follow, or null */
  get leaderCamera() {
    const leader = this.following === null ? undefined : this.peers.get(this.following);
    return (leader && leader.camera) || null;
  }

  /** Asks everyone to follow you (protocol 1.2; a viewer gets an `error` `forbidden`). */
  present() {
    this._send({ type: 'present' });
  }

  /** Ends your presentation (nothing if you are not presenting). */
  stopPresenting() {
    this._send({ type: 'present', stop: true });
  }

  /**
   * Sends an edit; resolves with its seq and id once the server has it, however many
   * reconnects that takes. Rejects with a RoomError: `forbidden` when your role is viewer,
   * `closed` when the client stops first.
   * @param {Edit} edit `id` (1-64 characters) is yours to choose; the client makes one when absent
   * @returns {Promise<EditResult>}
   */
  edit(edit) {
    if (this.state === 'closed') return Promise.reject(new RoomError('closed', 'roomcast: client is closed', { id: edit.id }));
    const promise = this._edits.add(edit);
    this._flushEdits();
    return promise;
  }

  /**
   * @private
   * @param {string | null} session
   */
  _follow(session) {
    this._followUser = null;
    this.following = session;
    this._send({ type: 'follow', session });
  }

  // --- connection -------------------------------------------------------------------

  /** @private */
  async _open() {
    const { getToken, url, room } = this.options;
    if (!this._token && getToken) {
      try {
        this._token = await getToken();
      } catch (e) {
        this.emit('error', { code: 'token', message: String(e && /** @type {any} */ (e).message || e) });
        return this.state === 'closed' ? undefined : this._retry(1006);
      }
    }
    if (this.state === 'closed' || this._ws) return;
    const WS = /** @type {any} */ (this.options.WebSocket || globalThis.WebSocket);
    const ws = new WS(`${url.replace(/\/+$/, '')}/ws/${encodeURIComponent(room)}`);
    this._ws = ws;
    this._timers.open = setTimeout(() => this._drop('timeout'), this.options.timeout || TIMEOUT_MS);
    let status = 0;
    ws.onopen = () => ws === this._ws && this._join();
    ws.onmessage = (/** @type {{data: any}} */ ev) => ws === this._ws && this._receive(ev.data);
    ws.onerror = (/** @type {any} */ ev) => {
      // Node's `ws` names a refused upgrade's status; a browser never can.
      const m = /response: (\d+)/.exec(ev && ev.message);
      if (m) status = +m[1];
    };
    ws.onclose = (/** @type {{code: number, reason: string}} */ ev) => {
      if (ws !== this._ws) return;
      this._ws = null;
      this._closed(status ? statusToClose(status) : ev.code, ev.reason);
    };
  }

  /** @private */
  _join() {
    /** @type {Record<string, unknown>} */
    const join = { type: 'join', user: this.options.user };
    if (this._token) join.token = this._token;
    if (this.options.cameraRate) join.camera_rate = this.options.cameraRate;
    if (this._resume) join.resume = this._resume;
    if ((this._asked = this._joined)) {
      join.since = this.seq;
      if (this.epoch) join.epoch = this.epoch;
    }
    this._heard = Date.now();
    this._ws.send(JSON.stringify(join));
  }

  /**
   * @param {number} code
   * @param {string} reason
   * @private
   */
  _closed(code, reason) {
    this._clearTimers();
    if (this.state === 'closed') return;
    if (this._openedAt && Date.now() - this._openedAt >= STABLE_MS) this._attempt = 0;
    this._openedAt = 0;
    const action = closeAction(code);
    if (action === 'stop' || (action === 'token' && !this.options.getToken)) {
      if (code !== 1000) this.emit('error', { code: 'closed', close: code, message: reason || '' });
      return this._stop(code, reason);
    }
    if (action === 'token') this._token = null;
    this._retry(code, reason);
  }

  /**
   * @private
   * @param {number} code
   * @param {string} [reason]
   */
  _retry(code, reason) {
    const { minDelay, maxDelay } = this.options;
    const delay = reconnectDelay(code, this._attempt++, Math.random, minDelay, maxDelay);
    this._setState('reconnecting', { code, reason, attempt: this._attempt, delay }, true);
    this._timers.retry = setTimeout(() => this._open(), delay);
  }

  /**
   * @private
   * @param {number} [code]
   * @param {string} [reason]
   */
  _stop(code = 1000, reason) {
    this._clearTimers();
    clearTimeout(this._missingTimer);
    this._missingTimer = null;
    this._missing.clear();
    this._followUser = null;
    this._camera.cancel();
    this._setState('closed', { code, reason });
    this._edits.fail(new RoomError('closed', 'roomcast: client closed', { close: code }));
  }

  /** @private */
  _clearTimers() {
    for (const t of Object.values(this._timers)) clearTimeout(t), clearInterval(t);
    this._timers = {};
  }

  /**
   * @private
   * @param {State} state
   * @param {Omit<StateChange, 'state'>} [more] code, reason, attempt, delay
   * @param {boolean} [again] told even when the state stays (each reconnect attempt)
   */
  _setState(state, more, again) {
    if (this.state === state && !again) return;
    this.state = state;
    this.emit('state', { state, ...more });
  }

  /**
   * @private
   * @param {object} msg
   */
  _send(msg) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1 || this.state !== 'open') return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /** @private */
  _flushEdits() {
    if (this.state !== 'open') return;
    for (const msg of this._edits.take(this._conn)) this._send(msg);
  }

  // --- messages ---------------------------------------------------------------------

  /**
   * @private
   * @param {string} data
   */
  _receive(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    this._heard = Date.now();
    const peer = this.peers.get(m.session);
    switch (m.type) {
      case 'welcome':
        return this._welcome(m);
      case 'edit':
        if (m.seq > this.seq) this.seq = m.seq;
        return this.emit('edit', m);
      case 'ack':
        if (m.seq > this.seq) this.seq = m.seq;
        return this._edits.ack(m);
      case 'cursor':
        if (peer) peer.camera = { position: m.position, target: m.target, up: m.up, fov: m.fov };
        return this.emit('cursor', m);
      case 'select':
        if (peer) peer.selection = m.ids;
        return this.emit('select', m);
      case 'follow':
        if (peer) peer.following = m.target;
        return this.emit('follow', m);
      case 'presence':
        if (m.event === 'role') {
          if (peer) peer.role = m.role;
          return this.emit('presence', m);
        }
        if (m.event === 'join') {
          this.peers.set(m.session, peerOf(m));
          const uid = m.user && m.user.id;
          const gone = this._missing.get(uid);
          if (gone) {
            // Back after the restart within the grace: never reported as leaving, so not
            // as a new arrival either.
            gone.shift();
            if (!gone.length) this._missing.delete(uid);
            this.emit('presence', { ...m, returned: true });
          } else {
            this.emit('presence', m);
          }
          // The leader we followed before the room restarted is back: follow it again.
          if (this._followUser !== null && uid === this._followUser) this._refollow(m.session);
          return;
        }
        return this._left(m.session);
      case 'resync':
        this.seq = m.seq;
        return this.emit('resync', m);
      case 'refreshed':
        this.exp = m.exp;
        if (m.role) this._setRole(m.role);
        return this._scheduleRefresh();
      case 'presenting':
        this._presenting(m.session);
        return this.emit('presenting', m);
      case 'error':
        if (m.code === 'rate_limited' || m.code === 'unavailable') this._retryEdits();
        else {
          // Refused for good (a viewer's edit: forbidden): the edit's promise says why.
          const p = this._edits.settle(m.id);
          if (p) p.reject(new RoomError(m.code, m.message, { id: m.id }));
        }
        return this.emit('error', m);
    }
  }

  /**
   * @private
   * @param {Role} role
   */
  _setRole(role) {
    if (role === this.role) return;
    const told = this.role !== null;
    this.role = role;
    if (told) this.emit('role', { session: /** @type {string} */ (this.session), role });
  }

  /**
   * Someone started presenting, took over, or nobody presents any more: with
   * followPresenter, follow the new presenter; when a presentation ends, stop following
   * it. Only a change moves the follow, so whoever broke away from a presenter (followed
   * someone else, or nobody) stays away until the next presentation.
   * @private
   * @param {string | null} session
   */
  _presenting(session) {
    const was = this.presenter;
    this.presenter = session;
    if (session === was || this.options.followPresenter === false) return;
    const target = session === null || session === this.session ? (this.following === was ? null : this.following) : session;
    if (target !== this.following) {
      this._follow(target);
      this.emit('follow', { session: /** @type {string} */ (this.session), target, reason: 'presenter' });
    }
  }

  /** @private @param {any} m */
  _welcome(m) {
    if (this._asked && this.epoch && m.epoch && m.epoch !== this.epoch && m.seq > 0) {
      // The room restarted (new epoch) and already holds edits we never saw. The server
      // will answer resync; instead, take the session over again at once and ask for the
      // new history from its start, so no edit made meanwhile is missed.
      this._fresh = this._fresh || !m.resumed;
      this.epoch = m.epoch;
      this.seq = 0;
      this._resume = m.resume || null;
      this.emit('resync', { seq: m.seq });
      const ws = this._ws;
      this._ws = null;
      ws.close(4000); // not 1000: the session stays held for the resume
      return void this._open();
    }
    clearTimeout(this._timers.open);
    const fresh = !m.resumed || this._fresh;
    this._fresh = false;
    const before = new Map(this.peers);
    // A new epoch (the room restarted): the session ids we knew are gone; people are
    // matched by user.id instead.
    const newEpoch = this._idsEpoch !== null && !!m.epoch && m.epoch !== this._idsEpoch;
    const leader = this.following !== null ? before.get(this.following) : undefined;
    this.session = m.session;
    this.user = m.user;
    this.epoch = m.epoch || null;
    this._idsEpoch = this.epoch;
    this.exp = m.exp || null;
    this._resume = m.resume || null;
    this._setRole(m.role || 'editor');
    if (!this._asked) this.seq = m.seq; // with since, the replay that follows moves seq
    this._joined = true;
    this._conn++;
    this.peers.clear();
    for (const p of m.peers || []) this.peers.set(p.session, peerOf(p));
    this._openedAt = this._heard = Date.now();
    this._timers.beat = setInterval(() => this._heartbeat(), QUIET_MS / 3);
    this._scheduleRefresh();
    this._setState('open');
    // `resumed` as the server said it of the session we had: a new session whose welcome
    // we skipped to catch up (above) is not resumed, whatever the second welcome says.
    this.emit('welcome', fresh && m.resumed ? { ...m, resumed: false } : m);

    // What changed while we were away, told as if we had seen it happen.
    if (newEpoch) this._diffByUser(before);
    else {
      for (const [s, p] of before) if (!this.peers.has(s)) this.emit('presence', { event: 'leave', session: s, user: p.user });
      for (const [s, p] of this.peers) {
        const old = before.get(s);
        if (!old) this.emit('presence', { event: 'join', session: s, user: p.user, role: p.role });
        else if (old.role !== p.role) this.emit('presence', { event: 'role', session: s, role: p.role });
      }
    }
    if (newEpoch && this.following !== null && !this.peers.has(this.following)) {
      // Our leader's session id means nothing in the new epoch (or names someone else):
      // follow the same user's new session, or nobody until that user is back.
      this._followUser = leader ? leader.user.id : null;
      this.following = null;
      const again = this._followUser === null ? undefined : this._sessionOf(this._followUser);
      // A fresh session is told whom it follows below, with its camera and selection.
      // A leader not back yet is waited for until the restart grace ends (_missing).
      if (again !== undefined) this._refollow(again, !fresh);
      else if (this._followUser === null || !this._missing.has(this._followUser)) this._dropFollow();
    }
    if (fresh) {
      // A new session starts empty at the server: give it our camera, selection, leader.
      this._camera.again();
      if (this.selection.length) this._send({ type: 'select', ids: this.selection });
      if (this.following && !this.peers.has(this.following)) this._follow(null);
      else if (this.following) this._send({ type: 'follow', session: this.following });
    } else {
      this._camera.flush();
    }
    // A presenter who started, changed or stopped while we were away (or before we came).
    if (newEpoch) this.presenter = null;
    this._presenting(m.presenter || null);
    this._flushEdits();
  }

  /**
   * Presence across a new epoch: every session id changed, so only people (by user.id)
   * who are missing now are told as leaving, and only new people as joining; someone who
   * is still there under a new session id is not told as leaving and joining again.
   * @param {Map<string, Peer>} before
   * @private
   */
  _diffByUser(before) {
    /** @param {Map<string, Peer>} peers */
    const byUser = (peers) => {
      /** @type {Map<string, Array<[string, Peer]>>} */
      const out = new Map();
      for (const [s, p] of peers) {
        const id = p.user && p.user.id;
        if (!out.has(id)) out.set(id, []);
        /** @type {Array<[string, Peer]>} */ (out.get(id)).push([s, p]);
      }
      return out;
    };
    const was = byUser(before);
    const now = byUser(this.peers);
    for (const [id, sessions] of now) {
      for (const [s, p] of sessions.slice((was.get(id) || []).length)) this.emit('presence', { event: 'join', session: s, user: p.user, role: p.role });
    }
    // Those not back yet were dropped by the restart like us and may be reconnecting:
    // reported gone only if the grace ends without them (or with fewer of their sessions).
    for (const [id, sessions] of was) {
      const gone = sessions.slice((now.get(id) || []).length);
      if (gone.length) this._missing.set(id, [...(this._missing.get(id) || []), ...gone]);
    }
    if (this._missing.size && !this._missingTimer) {
      const grace = this.options.restartGrace ?? RESTART_GRACE_MS;
      this._missingTimer = setTimeout(() => this._graceOver(), grace);
    }
  }

  /** The restart grace is over: whoever is not back has left. */
  /** @private */
  _graceOver() {
    this._missingTimer = null;
    const missing = [...this._missing];
    this._missing.clear();
    for (const [, sessions] of missing) for (const [s, p] of sessions) this.emit('presence', { event: 'leave', session: s, user: p.user });
    if (this._followUser !== null && missing.some(([id]) => id === this._followUser)) this._dropFollow();
  }

  /** Our leader of before a restart is not back: we follow nobody, and say so. */
  /** @private */
  _dropFollow() {
    this._followUser = null;
    this.emit('follow', { session: /** @type {string} */ (this.session), target: null, reason: 'epoch' });
  }

  /**
   * A session of user `userId` among the peers (a connected one first), if any.
   * @param {string} userId
   * @private
   */
  _sessionOf(userId) {
    let found;
    for (const [s, p] of this.peers) {
      if (s === this.session || !p.user || p.user.id !== userId) continue;
      if (p.connected) return s;
      if (found === undefined) found = s;
    }
    return found;
  }

  /**
   * Follows `session`, the new session of the user we followed before a new epoch, and
   * says so (a `follow` event of our own session, reason 'epoch').
   * @param {string} session
   * @param {boolean} [send] false: the caller sends it
   * @private
   */
  _refollow(session, send = true) {
    this._followUser = null;
    this.following = session;
    if (send) this._send({ type: 'follow', session });
    this.emit('follow', { session: /** @type {string} */ (this.session), target: session, reason: 'epoch' });
  }

  /** @private @param {string} session */
  _left(session) {
    const peer = this.peers.get(session);
    this.peers.delete(session);
    for (const [s, p] of this.peers) {
      if (p.following === session) p.following = null, this.emit('follow', { session: s, target: null });
    }
    if (this.following === session) {
      this.following = null;
      this.emit('follow', { session: /** @type {string} */ (this.session), target: null });
    }
    this.emit('presence', { event: 'leave', session, user: peer && peer.user });
  }

  /** Edits refused for now (rate limit, store down) are sent again, with the same ids. */
  /** @private */
  _retryEdits() {
    if (this._timers.edits) return;
    this._timers.edits = setTimeout(() => {
      delete this._timers.edits;
      this._edits.unmark();
      this._flushEdits();
    }, RETRY_MS);
  }

  /** @private */
  _heartbeat() {
    const quiet = Date.now() - this._heard;
    if (quiet < QUIET_MS) return;
    if (quiet < 2 * QUIET_MS) return void this._send({ type: 'ping' });
    this._drop('no answer');
  }

  /**
   * The socket says nothing (no answer, or no welcome in time): the network is gone
   * without telling us. Replaced; 4000 keeps the session held for the resume.
   * @private
   * @param {string} reason
   */
  _drop(reason) {
    const ws = this._ws;
    this._ws = null;
    try {
      ws.close(4000);
    } catch {}
    this._closed(1006, reason);
  }

  /** @private */
  _scheduleRefresh() {
    clearTimeout(this._timers.refresh);
    const { getToken } = this.options;
    if (!this.exp || !getToken) return;
    const left = this.exp * 1000 - Date.now();
    const delay = Math.min(2 ** 31 - 1, Math.max(1000, left - Math.min(60000, left / 4)));
    this._timers.refresh = setTimeout(async () => {
      try {
        const token = await getToken();
        this._token = token;
        this._send({ type: 'refresh', token });
      } catch (e) {
        this.emit('error', { code: 'token', message: String(e && /** @type {any} */ (e).message || e) });
      }
    }, delay);
  }
}
