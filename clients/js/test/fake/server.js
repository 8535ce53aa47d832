/**
 * A fake roomcast for the client's unit tests: the room rules of protocol 1, 1.1 and 1.2
 * that a client can notice (welcome, presence, relays, edits with ids and acks, resume,
 * roles from a token's `edit` claim, presenting, camera_rate echoed), in this process.
 *
 * `server.WebSocket` is a browser-like WebSocket class connected to it in memory (pass it
 * as the client's `WebSocket` option): no sockets, no binary, nothing to wait for but a
 * turn of the event loop per message. `attach(wss)` serves the same rooms over a real
 * `ws` WebSocketServer (the demo's end-to-end test in Chromium).
 *
 * Tokens are not verified: `fakeToken(claims)` makes one, and its `sub`, `rooms` and
 * `edit` claims are obeyed (a test double for the server's rules, not a security check).
 */

/** @typedef {{send: (text: string) => void, close: (code: number, reason?: string) => void}} Conn */

/** @param {Record<string, unknown>} claims */
export function fakeToken(claims) {
  const b64 = (/** @type {object} */ o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}.x`;
}

/** @param {string} token */
function claimsOf(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  } catch {
    return null;
  }
}

/** @param {string[] | undefined} patterns @param {string} room */
const allows = (patterns, room) =>
  patterns === undefined || patterns.some((p) => (p.endsWith('*') ? room.startsWith(p.slice(0, -1)) : p === room));

class Session {
  /** @param {string} id @param {any} user */
  constructor(id, user) {
    this.id = id;
    this.user = user;
    /** @type {'editor' | 'viewer'} */
    this.role = 'editor';
    /** @type {any} */
    this.camera = null;
    /** @type {string[]} */
    this.selection = [];
    /** @type {string | null} */
    this.following = null;
    /** @type {Conn | null} null while held for a resume */
    this.conn = null;
    this.resume = `r-${id}-${Math.random().toString(36).slice(2)}`;
    /** @type {any} the join that made or resumed this session */
    this.join = null;
    /** @type {any} */
    this.claims = null;
  }

  /** @param {object} msg */
  send(msg) {
    if (this.conn) this.conn.send(JSON.stringify(msg));
  }

  describe() {
    const { id: session, user, camera, selection, following, role } = this;
    return { session, user, camera, selection, following, connected: !!this.conn, role };
  }
}

class Room {
  /** @param {string} name @param {string} epoch */
  constructor(name, epoch) {
    this.name = name;
    this.epoch = epoch;
    /** @type {Map<string, Session>} */
    this.sessions = new Map();
    /** @type {any[]} */
    this.history = [];
    /** @type {Map<string, number>} `${user.id}/${id}` -> seq */
    this.ids = new Map();
    /** @type {string | null} */
    this.presenter = null;
  }

  get seq() {
    return this.history.length;
  }

  /** @param {object} msg @param {Session} [except] */
  broadcast(msg, except) {
    for (const s of this.sessions.values()) if (s !== except) s.send(msg);
  }

  /** @param {Session} s */
  stopPresenting(s) {
    if (this.presenter !== s.id) return;
    this.presenter = null;
    this.broadcast({ type: 'presenting', session: null });
  }

  /** @param {Session} s */
  remove(s) {
    this.sessions.delete(s.id);
    this.broadcast({ type: 'presence', event: 'leave', session: s.id });
    this.stopPresenting(s);
  }
}

export class FakeServer {
  /** @param {{auth?: boolean}} [options] auth: a join needs a token (close 4001 without) */
  constructor({ auth = false } = {}) {
    this.auth = auth;
    /** @type {Map<string, Room>} */
    this.rooms = new Map();
    this.instance = 1;
    this.count = 0;
    /** every message every client sent, parsed, in order: [session or null, message] */
    /** @type {Array<[string | null, any]>} */
    this.received = [];
    /** @type {Set<FakeSocket>} */
    this.sockets = new Set();
    const server = this;
    /** A browser-like WebSocket connected to this server in memory. */
    this.WebSocket = class extends FakeSocket {
      /** @param {string} url */
      constructor(url) {
        super(server, url);
      }
    };
  }

  /** @param {string} name */
  room(name) {
    let r = this.rooms.get(name);
    if (!r) this.rooms.set(name, (r = new Room(name, `e${this.instance}`)));
    return r;
  }

  /** The messages of `type` the clients sent, parsed. @param {string} type */
  sent(type) {
    return this.received.filter(([, m]) => m.type === type).map(([, m]) => m);
  }

  /**
   * A new connection to room `roomName`: returns what the transport calls with each text
   * message and when it closes.
   * @param {string} roomName
   * @param {Conn} conn
   */
  connect(roomName, conn) {
    const room = this.room(roomName);
    /** @type {Session | null} */
    let me = null;
    const reply = (/** @type {object} */ msg) => conn.send(JSON.stringify(msg));
    return {
      /** @param {string} text */
      message: (text) => {
        let m;
        try {
          m = JSON.parse(text);
        } catch {
          return reply({ type: 'error', code: 'bad_json', message: 'not JSON' });
        }
        this.received.push([me && me.id, m]);
        if (!me) {
          if (m.type !== 'join') return reply({ type: 'error', code: 'not_joined', message: 'join first' });
          me = this.join(room, conn, m);
          return;
        }
        this.handle(room, me, m);
      },
      /** @param {number} code */
      closed: (code) => {
        if (!me || me.conn !== conn) return;
        me.conn = null;
        // 1.1: a close 1000 (or without a code) ends the session; anything else holds it.
        if (code === 1000 || code === 1005) room.remove(me);
      },
    };
  }

  /**
   * @param {Room} room
   * @param {Conn} conn
   * @param {any} m
   * @returns {Session | null}
   */
  join(room, conn, m) {
    let claims = null;
    if (this.auth) {
      claims = m.token ? claimsOf(m.token) : null;
      if (!claims || !claims.sub) return conn.close(4001, 'unauthorized'), null;
      if (!allows(claims.rooms, room.name)) return conn.close(4003, 'forbidden'), null;
    }
    const rate = m.camera_rate;
    if (rate !== undefined && !(typeof rate === 'number' && rate >= 0.5 && rate <= 10)) {
      conn.send(JSON.stringify({ type: 'error', code: 'bad_message', message: 'camera_rate' }));
      conn.close(1008, 'bad join');
      return null;
    }
    let s = [...room.sessions.values()].find((x) => x.resume === m.resume);
    const resumed = !!s;
    if (s) {
      if (s.conn) s.conn.close(4008, 'replaced');
    } else {
      s = new Session(`${this.instance}-${++this.count}`, claims ? { ...m.user, id: claims.sub } : m.user);
    }
    s.conn = conn;
    s.join = m;
    const before = s.role;
    if (claims || !resumed) {
      s.claims = claims;
      const edit = claims ? (claims.edit === undefined ? claims.rooms : claims.edit) : undefined;
      s.role = allows(edit, room.name) ? 'editor' : 'viewer';
    }
    const peers = [...room.sessions.values()].filter((x) => x !== s).map((x) => x.describe());
    if (!resumed) room.sessions.set(s.id, s);
    /** @type {Record<string, unknown>} */
    const welcome = {
      type: 'welcome', protocol: '1.2', session: s.id, room: room.name, user: s.user, seq: room.seq, peers,
      role: s.role, presenter: room.presenter, resume: s.resume, epoch: room.epoch, resumed,
    };
    if (rate !== undefined) welcome.camera_rate = rate;
    if (claims) welcome.exp = claims.exp;
    s.send(welcome);
    if (!resumed) room.broadcast({ type: 'presence', event: 'join', session: s.id, user: s.user, role: s.role }, s);
    else if (before !== s.role) this.roleChanged(room, s);
    if (m.since !== undefined) {
      if (m.epoch !== undefined && m.epoch !== room.epoch) s.send({ type: 'resync', seq: room.seq });
      else for (const e of room.history.slice(m.since)) s.send(e);
    }
    return s;
  }

  /** @param {Room} room @param {Session} s */
  roleChanged(room, s) {
    room.broadcast({ type: 'presence', event: 'role', session: s.id, role: s.role }, s);
    if (s.role === 'viewer') room.stopPresenting(s);
  }

  /** @param {Room} room @param {Session} s @param {any} m */
  handle(room, s, m) {
    const forbidden = () => s.send({ type: 'error', code: 'forbidden', message: 'viewers may not', ...(m.id === undefined ? {} : { id: m.id }) });
    switch (m.type) {
      case 'cursor':
        s.camera = { position: m.position, target: m.target, up: m.up, fov: m.fov };
        return room.broadcast({ ...m, session: s.id }, s);
      case 'select':
        s.selection = m.ids;
        return room.broadcast({ type: 'select', session: s.id, ids: m.ids }, s);
      case 'follow':
        s.following = m.session;
        return room.broadcast({ type: 'follow', session: s.id, target: m.session }, s);
      case 'edit': {
        if (s.role !== 'editor') return forbidden();
        const key = `${s.user.id}/${m.id}`;
        if (m.id !== undefined && room.ids.has(key)) return s.send({ type: 'ack', id: m.id, seq: room.ids.get(key), duplicate: true });
        const edit = { type: 'edit', session: s.id, seq: room.seq + 1, building: m.building, op: m.op, ...(m.data === undefined ? {} : { data: m.data }) };
        room.history.push(edit);
        if (m.id !== undefined) room.ids.set(key, edit.seq);
        room.broadcast(edit, s);
        return s.send({ type: 'ack', ...(m.id === undefined ? {} : { id: m.id }), seq: edit.seq });
      }
      case 'present':
        if (m.stop) return room.stopPresenting(s);
        if (s.role !== 'editor') return forbidden();
        room.presenter = s.id;
        return room.broadcast({ type: 'presenting', session: s.id, user: s.user });
      case 'refresh': {
        const claims = claimsOf(m.token);
        if (!claims || (s.claims && claims.sub !== s.claims.sub)) return s.send({ type: 'error', code: 'bad_token', message: 'bad token' });
        if (!allows(claims.rooms, room.name)) return forbidden();
        s.claims = claims;
        const edit = claims.edit === undefined ? claims.rooms : claims.edit;
        const role = allows(edit, room.name) ? 'editor' : 'viewer';
        const changed = role !== s.role;
        s.role = role;
        s.send({ type: 'refreshed', exp: claims.exp, role });
        if (changed) this.roleChanged(room, s);
        return;
      }
      case 'leave':
        s.conn && s.conn.close(1000, 'leave');
        return;
      case 'ping':
        return s.send({ type: 'pong', t: m.t });
      default:
        return s.send({ type: 'error', code: 'unknown_type', message: String(m.type) });
    }
  }

  /** The session of user `id` in room `name`. @param {string} name @param {string} id */
  session(name, id) {
    return [...this.room(name).sessions.values()].find((s) => s.user.id === id);
  }

  /**
   * The network under user `id` fails: its socket closes without a close frame (1006);
   * the server holds the session for a resume.
   * @param {string} name @param {string} id
   */
  drop(name, id) {
    const s = this.session(name, id);
    for (const sock of this.sockets) if (s && sock.conn === s.conn) sock.drop();
  }

  /** The server restarts: every socket closes with 1001, rooms start again in a new epoch. */
  restart() {
    for (const sock of [...this.sockets]) sock.drop(1001);
    this.rooms.clear();
    this.instance++;
  }

  /**
   * Serves these rooms over a real `ws` WebSocketServer too, at /ws/{room}.
   * @param {import('ws').WebSocketServer} wss
   */
  attach(wss) {
    wss.on('connection', (ws, req) => {
      const name = decodeURIComponent(String(req.url).replace(/^\/ws\//, '').split('?')[0]);
      const handlers = this.connect(name, {
        send: (text) => ws.readyState === 1 && ws.send(text),
        close: (code, reason) => ws.close(code, reason),
      });
      ws.on('message', (data) => handlers.message(String(data)));
      ws.on('close', (code) => handlers.closed(code));
    });
  }
}

/** The client's end of an in-memory connection; every delivery takes a turn of the event loop. */
class FakeSocket {
  /** @param {FakeServer} server @param {string} url */
  constructor(server, url) {
    this.url = url;
    this.readyState = 0;
    /** @type {any} */ this.onopen = null;
    /** @type {any} */ this.onmessage = null;
    /** @type {any} */ this.onclose = null;
    /** @type {any} */ this.onerror = null;
    this.server = server;
    const m = /\/ws\/([^/?]+)/.exec(url);
    const room = decodeURIComponent(m ? m[1] : '');
    /** @type {Conn} the server's end */
    this.conn = {
      send: (text) => this.later(() => this.readyState === 1 && this.onmessage && this.onmessage({ data: text })),
      close: (code, reason) => this.end(code, reason || ''),
    };
    this.handlers = server.connect(room, this.conn);
    server.sockets.add(this);
    this.later(() => {
      if (this.readyState !== 0) return;
      this.readyState = 1;
      this.onopen && this.onopen({});
    });
  }

  /** @param {() => void} fn */
  later(fn) {
    setImmediate(fn);
  }

  /** @param {string} text */
  send(text) {
    if (this.readyState !== 1) throw new Error('not open');
    this.later(() => this.server.sockets.has(this) && this.handlers.message(text));
  }

  /** The client closes. @param {number} [code] */
  close(code = 1005) {
    if (this.readyState > 1) return;
    this.readyState = 2;
    this.server.sockets.delete(this);
    this.later(() => this.handlers.closed(code));
    this.later(() => this.finish(code, ''));
  }

  /** The server closes. @param {number} code @param {string} reason */
  end(code, reason) {
    if (this.readyState > 1) return;
    this.readyState = 2;
    this.server.sockets.delete(this);
    this.handlers.closed(code);
    this.later(() => this.finish(code, reason));
  }

  /** The connection is lost (1006 by default): both ends see it close. @param {number} [code] */
  drop(code = 1006) {
    this.end(code, '');
  }

  /** @param {number} code @param {string} reason */
  finish(code, reason) {
    this.readyState = 3;
    this.onclose && this.onclose({ code, reason });
  }
}
