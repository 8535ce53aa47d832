/**
 * useRoom: a RoomClient for the life of a component, as React state.
 * React is a peer dependency: this file imports it, the bundle never carries it.
 */
import { useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { RoomClient } from './client.js';
import { RoomError } from './errors.js';

/**
 * @typedef {import('./types.js').RoomClientOptions} RoomClientOptions
 * @typedef {import('./types.js').RoomEvents} RoomEvents
 * @typedef {import('./types.js').Camera} Camera
 * @typedef {import('./types.js').Peer} Peer
 * @typedef {import('./types.js').Role} Role
 * @typedef {import('./types.js').State} State
 * @typedef {import('./types.js').Edit} Edit
 * @typedef {import('./types.js').EditResult} EditResult
 */

/**
 * @typedef {object} UseRoom
 * @property {RoomClient | null} client null until the first effect has run
 * @property {State} state
 * @property {string | null} session
 * @property {number} seq
 * @property {Map<string, Peer>} peers a new Map whenever a peer joins, leaves, moves, selects, follows or changes role
 * @property {string | null} following
 * @property {Role | null} role your role: `viewer` may look, move, select and follow, never edit or present
 * @property {string | null} presenter the session presenting, or null
 * @property {(camera: Camera) => void} setCamera
 * @property {(ids: string[]) => void} select
 * @property {(session: string | null) => void} follow
 * @property {() => void} unfollow
 * @property {() => void} present
 * @property {() => void} stopPresenting
 * @property {(edit: Edit) => Promise<EditResult>} edit
 */

/** @type {Array<keyof RoomEvents>} */
const EVENTS = ['state', 'welcome', 'presence', 'cursor', 'select', 'follow', 'edit', 'resync', 'role', 'presenting'];

/**
 * A RoomClient for the component's life: made when url, room or user.id change, closed on
 * unmount. Other options are read when needed (getToken always the latest).
 * @param {RoomClientOptions} options
 * @returns {UseRoom}
 */
export function useRoom(options) {
  const latest = useRef(options);
  latest.current = options;
  const [client, setClient] = useState(/** @type {RoomClient | null} */ (null));
  const [peers, setPeers] = useState(() => new Map());
  const [, render] = useReducer((/** @type {number} */ n) => n + 1, 0);
  const { url, room } = options;
  const userId = options.user && options.user.id;

  useEffect(() => {
    const o = latest.current;
    const get = o.getToken && (() => /** @type {() => string | Promise<string>} */ (latest.current.getToken)());
    const c = new RoomClient({ ...o, getToken: get });
    const update = () => {
      setPeers(new Map(c.peers));
      render();
    };
    for (const e of EVENTS) c.on(e, update);
    setClient(c);
    c.connect();
    return () => {
      for (const e of EVENTS) c.off(e, update);
      c.close();
    };
  }, [url, room, userId]);

  const actions = useMemo(
    () => ({
      /** @param {Camera} camera */
      setCamera: (camera) => client && client.setCamera(camera),
      /** @param {string[]} ids */
      select: (ids) => client && client.select(ids),
      /** @param {string | null} session */
      follow: (session) => client && client.follow(session),
      unfollow: () => client && client.unfollow(),
      present: () => client && client.present(),
      stopPresenting: () => client && client.stopPresenting(),
      /** @param {Edit} e */
      edit: (e) => (client ? client.edit(e) : Promise.reject(new RoomError('closed', 'roomcast: not connected yet', { id: e.id }))),
    }),
    [client],
  );

  return {
    client,
    state: client ? client.state : 'connecting',
    session: client ? client.session : null,
    seq: client ? client.seq : 0,
    peers,
    following: client ? client.following : null,
    role: client ? client.role : null,
    presenter: client ? client.presenter : null,
    ...actions,
  };
}
