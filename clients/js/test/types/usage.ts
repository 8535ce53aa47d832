// Compiled by package.test.js with tsc --noEmit: the declarations a TypeScript user sees
// (types/, generated from the JSDoc of src/ by `npm run types`).
import {
  RoomClient, RoomError, CloseCode, ErrorCode,
  type Peer, type State, type StateChange, type RoomErrorEvent, type ErrorCodeName, type Role, type EditResult,
} from '@roomcast/client';
import { useRoom } from '@roomcast/client/react';

const client = new RoomClient({
  url: 'ws://127.0.0.1:8080', room: 'demo', user: { id: 'u1', name: 'Ada' }, getToken: async () => 'jwt',
  cameraRate: 2, followPresenter: true, minDelay: 250, maxDelay: 10000, timeout: 5000,
});
client.on('state', (s: StateChange) => {
  const state: State = s.state;
  if (s.state === 'reconnecting') console.log(state, s.code, s.reason, s.attempt, s.delay);
});
client.once('welcome', (w) => console.log(w.role, w.presenter));
client.on('cursor', (c) => console.log(c.session, c.position[0]));
client.on('edit', (e) => console.log(e.seq, e.building, e.op));
client.on('error', (e: RoomErrorEvent) => {
  const code: ErrorCodeName = e.code;
  if (code === ErrorCode.forbidden) console.log('viewers cannot edit', e.id);
  if (e.close === CloseCode.replaced) console.log('opened elsewhere');
});
client.on('follow', (f) => f.session === client.session && f.reason === 'presenter' && console.log('now following', f.target));
client.on('presence', (p) => p.event === 'role' && console.log(p.session, p.role));
client.on('role', (r) => console.log('my role is now', r.role));
client.on('presenting', (p) => console.log(p.session === null ? 'nobody presents' : `${p.user?.name} presents`));
client.connect().setCamera({ position: [1, 2, 3], target: [0, 0, 0], fov: 50 });
client.select(['b-1']);
client.follow(null);
client.unfollow();
client.present();
client.stopPresenting();
const role: Role | null = client.role;
const presenter: string | null = client.presenter;
const leader = client.leaderCamera?.position;
const result: Promise<EditResult> = client.edit({ building: 'b-1', op: 'set', data: { height: 3 }, id: 'my-id' });
result.then((r) => console.log(r.id, r.seq), (e) => e instanceof RoomError && e.code === 'forbidden' && console.log(e.id));
const peer: Peer | undefined = client.peers.get('0-1');
const name: string | undefined = peer?.user.name;
const peerRole: Role | undefined = peer?.role;
void role, presenter, leader, name, peerRole;

export function View() {
  const room = useRoom({ url: 'ws://x', room: 'r', user: { id: 'u' } });
  const n: number = room.peers.size;
  const r: Role | null = room.role;
  const p: string | null = room.presenter;
  room.follow(room.session);
  room.present();
  room.unfollow();
  return `${room.state} ${n} ${r} ${p}`;
}

// @ts-expect-error: an edit needs a building
client.edit({ op: 'set' });
// @ts-expect-error: not an event
client.on('nope', () => {});
// @ts-expect-error: not an error code
const bad: ErrorCodeName = 'nope';
// @ts-expect-error: internals are not part of the API
client._send({});
void bad;
