/**
 * useRoom: a RoomClient for the life of a component, as React state.
 * React is a peer dependency: this file imports it, the bundle never carries it.
 */
import { useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { RoomClient } from './client.js';

const EVENTS = ['state', 'welcome', 'presence', 'cursor', 'select', 'follow', 'edit', 'resync'];

/**
 * @param {import('./client.js').Options} options a new client is made when url, room or
 *   user.id change; other options are read when needed (getToken always the latest)
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
    const c = new RoomClient({ ...o, getToken: o.getToken && (() => latest.current.getToken()) });
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
      /** @param {import('./client.js').Camera} camera */
      setCamera: (camera) => client && client.setCamera(camera),
      /** @param {string[]} ids */
      select: (ids) => client && client.select(ids),
      /** @param {string | null} session */
      follow: (session) => client && client.follow(session),
      /** @param {{building: string, op: string, data?: unknown}} e */
      edit: (e) => (client ? client.edit(e) : Promise.reject(new Error('roomcast: not connected yet'))),
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
    ...actions,
  };
}
