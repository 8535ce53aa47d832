// The page around the canvas: connection badge, presence list with roles and follow
// buttons, the Present button, the "X presents" banner, editor.

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {string} state */
export function showState(state) {
  const badge = $('badge');
  badge.dataset.state = state;
  badge.textContent = state;
}

/**
 * @param {{session: string | null, user: {name?: string, color?: string}, following: string | null, role: string | null,
 *   presenter: string | null,
 *   peers: Map<string, {user: {id: string, name?: string, color?: string}, connected: boolean, role: string, following: string | null}>}} room
 * @param {(session: string | null) => void} follow
 */
export function showPeers(room, follow) {
  const list = $('peers');
  list.replaceChildren(item(room.user, 'you', room.session || '', room.role, room.presenter === room.session));
  for (const [session, peer] of room.peers) {
    const li = item(peer.user, peer.user.name || peer.user.id, session, peer.role, room.presenter === session);
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

/**
 * @param {{color?: string}} user @param {string} name @param {string} session
 * @param {string | null} role @param {boolean} presents
 */
function item(user, name, session, role, presents) {
  const li = document.createElement('li');
  li.dataset.session = session;
  const swatch = document.createElement('span');
  swatch.className = 'swatch';
  swatch.style.background = user.color || '#888';
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  const tag = document.createElement('span');
  tag.className = 'role';
  tag.textContent = presents ? 'presenting' : role || '';
  li.append(swatch, label, tag);
  return li;
}

/**
 * The banner while someone else presents: who, and Break away (or Follow again).
 * @param {{name: string, following: boolean} | null} presenting
 * @param {{breakAway: () => void, rejoin: () => void}} on
 */
export function showBanner(presenting, on) {
  const banner = $('banner');
  banner.hidden = !presenting;
  if (!presenting) return;
  $('presenter-name').textContent = presenting.name;
  const button = /** @type {HTMLButtonElement} */ ($('break-away'));
  button.textContent = presenting.following ? 'Break away' : 'Follow again';
  button.onclick = presenting.following ? on.breakAway : on.rejoin;
}

/**
 * The Present button: Present, or Stop presenting; disabled for a viewer.
 * @param {string | null} role @param {boolean} presenting
 * @param {{present: () => void, stop: () => void}} on
 */
export function showPresent(role, presenting, on) {
  const button = /** @type {HTMLButtonElement} */ ($('present'));
  button.disabled = role === 'viewer';
  button.title = role === 'viewer' ? 'viewers cannot present' : '';
  button.textContent = presenting ? 'Stop presenting' : 'Present';
  button.onclick = presenting ? on.stop : on.present;
}

/**
 * Shows the editor for one building (or hides it with null), and reports changes:
 * `preview` while a control moves, `commit` when it is let go. A viewer sees the
 * controls disabled, with a note.
 * @param {{id: string, height: number, color: string} | null} building
 * @param {boolean} viewer
 * @param {{preview: (data: object) => void, commit: (data: object) => void}} on
 */
export function showEditor(building, viewer, on) {
  const editor = $('editor');
  editor.hidden = !building;
  if (!building) return;
  $('viewer-note').hidden = !viewer;
  for (const input of editor.querySelectorAll('input')) input.disabled = viewer;
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
