// Compiled by package.test.js with tsc --noEmit: the declarations a TypeScript user sees.
import { RoomClient, type Peer, type State } from '@roomcast/client';
import { useRoom } from '@roomcast/client/react';

const client = new RoomClient({ url: 'ws://127.0.0.1:8080', room: 'demo', user: { id: 'u1', name: 'Ada' }, getToken: async () => 'jwt' });
client.on('state', (s: State) => console.log(s));
client.on('cursor', (c) => console.log(c.session, c.position[0]));
client.on('edit', (e) => console.log(e.seq, e.building, e.op));
client.on('error', (e) => console.log(e.code, e.close));
client.on('follow', (f) => f.session === client.session && f.reason === 'epoch' && console.log('now following', f.target));
client.connect().setCamera({ position: [1, 2, 3], target: [0, 0, 0], fov: 50 });
client.select(['b-1']);
client.follow(null);
const seq: Promise<number> = client.edit({ building: 'b-1', op: 'set', data: { height: 3 } }).then((r) => r.seq);
const peer: Peer | undefined = client.peers.get('0-1');
const name: string | undefined = peer?.user.name;
void seq, name;

export function View() {
  const room = useRoom({ url: 'ws://x', room: 'r', user: { id: 'u' } });
  const n: number = room.peers.size;
  room.follow(room.session);
  return `${room.state} ${n}`;
}

// @ts-expect-error: an edit needs a building
client.edit({ op: 'set' });
// @ts-expect-error: not an event
client.on('nope', () => {});
