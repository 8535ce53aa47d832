/**
 * A RoomClient for the component's life: made when url, room or user.id change, closed on
 * unmount. Other options are read when needed (getToken always the latest).
 * @param {RoomClientOptions} options
 * @returns {UseRoom}
 */
export function useRoom(options: RoomClientOptions): UseRoom;
export type RoomClientOptions = import("./types.js").RoomClientOptions;
export type RoomEvents = import("./types.js").RoomEvents;
export type Camera = import("./types.js").Camera;
export type Peer = import("./types.js").Peer;
export type Role = import("./types.js").Role;
export type State = import("./types.js").State;
export type Edit = import("./types.js").Edit;
export type EditResult = import("./types.js").EditResult;
export type UseRoom = {
    /**
     * null until the first effect has run
     */
    client: RoomClient | null;
    state: State;
    session: string | null;
    seq: number;
    /**
     * a new Map whenever a peer joins, leaves, moves, selects, follows or changes role
     */
    peers: Map<string, Peer>;
    following: string | null;
    /**
     * your role: `viewer` may look, move, select and follow, never edit or present
     */
    role: Role | null;
    /**
     * the session presenting, or null
     */
    presenter: string | null;
    setCamera: (camera: Camera) => void;
    select: (ids: string[]) => void;
    follow: (session: string | null) => void;
    unfollow: () => void;
    present: () => void;
    stopPresenting: () => void;
    edit: (edit: Edit) => Promise<EditResult>;
};
import { RoomClient } from './client.js';
