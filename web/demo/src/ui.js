// The page around the canvas: connection badge, presence list with follow buttons, editor.

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {string} state */
export function showState(state) {
  const badge = $('badge');
  badge.dataset.state = state;
  badge.textContent = state;
}

/**
 * @param {{session: string | null, user: {name?: string, color?: string}, following: string | null,
 *   peers: Map<string, {user: {id: string, name?: string, color?: string}, connected: boolean}>}} room
 * @param {(session: string | null) => void} follow
 */
export function showPeers(room, follow) {
  const list = $('peers');
  list.replaceChildren(item(room.user, 'you', room.session || ''));
  for (const [session, peer] of room.peers) {
    const li = item(peer.user, peer.user.name || peer.user.id, session);
    if (peer.following === room.session) li.querySelector('.name').textContent += ' (follows you)';
    li.classList.toggle('away', !peer.connected);
    const button = document.createElement('button');
    const following = room.following === session;
    button.textContent = following ? 'unfollow' : 'follow';
    button.dataset.follow = session;
    button.onclick = () => follow(following ? null : session);
    li.append(button);
    list.append(li);
  }
}

/** @param {{color?: string}} user @param {string} name @param {string} session */
function item(user, name, session) {
  const li = document.createElement('li');
  li.dataset.session = session;
  const swatch = document.createElement('span');
  swatch.className = 'swatch';
  swatch.style.background = user.color || '#888';
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  li.append(swatch, label);
  return li;
}

/**
 * Shows the editor for one building (or hides it with null), and reports changes:
 * `preview` while a control moves, `commit` when it is let go.
 * @param {{id: string, height: number, color: string} | null} building
 * @param {{preview: (data: object) => void, commit: (data: object) => void}} on
 */
export function showEditor(building, on) {
  const editor = $('editor');
  editor.hidden = !building;
  if (!building) return;
  $('building-id').textContent = building.id;
  const height = /** @type {HTMLInputElement} */ ($('height'));
  const color = /** @type {HTMLInputElement} */ ($('color'));
  height.value = String(building.height);
  color.value = building.color;
  height.oninput = () => on.preview({ height: Number(height.value) });
  height.onchange = () => on.commit({ height: Number(height.value) });
  color.oninput = () => on.preview({ color: color.value });
  color.onchange = () => on.commit({ color: color.value });
}
