import type { Camera, EditResult, Peer, RoomClient, RoomClientOptions, State } from './index.js';

export interface UseRoom {
  /** null until the first effect has run */
  client: RoomClient | null;
  state: State;
  session: string | null;
  seq: number;
  /** a new Map whenever a peer joins, leaves, moves, selects or follows */
  peers: Map<string, Peer>;
  following: string | null;
  setCamera(camera: Camera): void;
  select(ids: string[]): void;
  follow(session: string | null): void;
  edit(edit: { building: string; op: string; data?: unknown }): Promise<EditResult>;
}

/** A RoomClient for the component's life: made when url, room or user.id change, closed on unmount. */
export declare function useRoom(options: RoomClientOptions): UseRoom;
