// roomcast demo: a city block shared by everyone in a room. Each other session's camera
// is drawn as a frustum in its colour; selections are outlined in the selector's colour;
// following another session flies your camera to theirs; edits reach every page.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { CSS2DRenderer } from 'three/addons/renderers/CSS2DRenderer.js';
import { RoomClient } from '@roomcast/client';
import { City } from './city.js';
import { Frustum } from './frustum.js';
import { showBanner, showEditor, showPeers, showPresent, showState } from './ui.js';

const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];

let camera, scene, renderer, labelRenderer, controls, city, client;
const frustums = new Map(); // session -> Frustum
const mine = new Set(); // `${epoch}/${session}` of this page (ids restart with the server): its edits are applied already
const pointer = new THREE.Vector2();
const raycaster = new THREE.Raycaster();
const clock = new THREE.Clock();

init();

function init() {
  const params = new URLSearchParams(location.search);
  const room = decodeURIComponent(location.hash.slice(1)) || params.get('room') || 'demo';
  const user = {
    id: `u-${Math.random().toString(36).slice(2, 10)}`,
    name: params.get('name') || `guest ${Math.floor(Math.random() * 900 + 100)}`,
    color: params.get('color') || COLORS[Math.floor(Math.random() * COLORS.length)],
  };
  document.getElementById('room').textContent = room;

  scene = new THREE.Scene();
  scene.background = new THREE.Color(0x1d2129);
  scene.fog = new THREE.Fog(0x1d2129, 120, 260);

  camera = new THREE.PerspectiveCamera(50, innerWidth / innerHeight, 0.5, 1000);
  // Each window starts at its own viewpoint around the block, so two windows see each
  // other's frustum before anyone orbits.
  const angle = Math.random() * 2 * Math.PI;
  camera.position.set(90 * Math.cos(angle), 45, 90 * Math.sin(angle));

  scene.add(new THREE.HemisphereLight(0xdde6ff, 0x404040, 2));
  const sun = new THREE.DirectionalLight(0xffffff, 2);
  sun.position.set(40, 80, 20);
  scene.add(sun);

  city = new City();
  scene.add(city);
  scene.add(new THREE.GridHelper(80, 16, 0x555b66, 0x454a53));

  renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(devicePixelRatio);
  renderer.setSize(innerWidth, innerHeight);
  renderer.setAnimationLoop(animate);
  document.body.appendChild(renderer.domElement);

  labelRenderer = new CSS2DRenderer();
  labelRenderer.setSize(innerWidth, innerHeight);
  labelRenderer.domElement.style.position = 'absolute';
  labelRenderer.domElement.style.top = '0';
  labelRenderer.domElement.style.pointerEvents = 'none';
  document.body.appendChild(labelRenderer.domElement);

  controls = new OrbitControls(camera, renderer.domElement);
  controls.target.set(0, 5, 0);
  controls.maxPolarAngle = Math.PI / 2.1;
  controls.update();
  controls.addEventListener('change', shareCamera);
  controls.addEventListener('start', () => client.following && follow(null)); // grabbing the view stops following

  // The room: one client, and every message shown in the scene.
  // ?token= joins with that JWT (e.g. a viewer's, whose token has `edit: []`).
  const token = params.get('token') || undefined;
  client = new RoomClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`, room, user, since: 0, token });
  client.on('state', ({ state }) => {
    showState(state);
    refreshPeers();
  });
  // Someone presents: the client follows them (followPresenter), animate() glides there.
  client.on('presenting', refreshPeers);
  client.on('role', refreshPeers);
  client.on('welcome', () => mine.add(`${client.epoch}/${client.session}`));
  client.on('presence', refreshPeers);
  client.on('cursor', (c) => frustumOf(c.session)?.setCamera(c));
  client.on('select', refreshSelection);
  client.on('follow', refreshPeers);
  client.on('edit', (e) => {
    if (!mine.has(`${client.epoch}/${e.session}`)) city.apply(e);
    refreshEditor();
  });
  // After a resync (the server restarted and lost the room's history) we keep our model
  // as it is: the client sends our unacknowledged edits again by itself.
  client.connect();
  shareCamera();

  renderer.domElement.addEventListener('pointerdown', onPointerDown);
  renderer.domElement.addEventListener('pointerup', onPointerUp);
  window.addEventListener('resize', onWindowResize);

  // For tests and the curious: the page's state.
  window.__roomcast = {
    client,
    model: () => city.toJSON(),
    camera: () => ({ position: camera.position.toArray(), target: controls.target.toArray() }),
    frustums: () => [...frustums].filter(([, f]) => drawn(f)).map(([s]) => s),
    highlights: () => Object.fromEntries([...city.buildings].filter(([, m]) => m.userData.outline.visible)
      .map(([id, m]) => [id, `#${m.userData.outline.material.color.getHexString()}`])),
    // where building `id` is on screen, at `at` of its height (0: base, 1: top)
    screenOf: (id, at = 0.5) => {
      const m = city.buildings.get(id);
      const world = m.position.clone().setY(m.scale.y * at);
      const p = world.clone().project(camera);
      return { x: (p.x + 1) / 2 * innerWidth, y: (1 - p.y) / 2 * innerHeight, world: world.toArray() };
    },
  };
}

function shareCamera() {
  client.setCamera({
    position: camera.position.toArray(),
    target: controls.target.toArray(),
    up: camera.up.toArray(),
    fov: camera.fov,
  });
}

function frustumOf(session) {
  const peer = client.peers.get(session);
  if (!peer) return null;
  let f = frustums.get(session);
  if (!f) {
    f = new Frustum(peer.user.name || peer.user.id, peer.user.color || '#fff');
    frustums.set(session, f);
    scene.add(f);
  }
  return f;
}

// A camera where ours is (the one we follow, or one following us) would frame our view
// with its own outline: it is drawn only when it is elsewhere.
function drawn(f) {
  return f.placed && f.position.distanceToSquared(camera.position) > 1;
}

function refreshPeers() {
  for (const [session, f] of frustums) {
    if (!client.peers.has(session)) f.dispose(), frustums.delete(session);
  }
  for (const [session, peer] of client.peers) if (peer.camera) frustumOf(session).setCamera(peer.camera);
  showPeers(client, follow);
  const presenter = client.presenter && client.peers.get(client.presenter);
  showBanner(presenter ? { name: presenter.user.name || presenter.user.id, following: client.following === client.presenter } : null, {
    breakAway: () => follow(null),
    rejoin: () => follow(client.presenter),
  });
  showPresent(client.role, client.presenter !== null && client.presenter === client.session, {
    present: () => client.present(),
    stop: () => client.stopPresenting(),
  });
  refreshSelection();
}

function refreshSelection() {
  const selections = [{ color: client.user.color, ids: client.selection }];
  for (const peer of client.peers.values()) selections.push({ color: peer.user.color || '#fff', ids: peer.selection });
  city.highlight(selections);
  refreshEditor();
}

function refreshEditor() {
  const id = client.selection.length === 1 ? client.selection[0] : null;
  const building = id && city.toJSON()[id];
  if (document.activeElement?.closest?.('#editor') && building) return; // don't fight the user's hand
  showEditor(building ? { id, ...building } : null, client.role === 'viewer', {
    preview: (data) => city.apply({ building: id, op: 'set', data }),
    commit: (data) => {
      city.apply({ building: id, op: 'set', data });
      client.edit({ building: id, op: 'set', data }).catch(() => {});
    },
  });
}

function follow(session) {
  client.follow(session);
  refreshPeers();
}

let down = null;

function onPointerDown(event) {
  down = { x: event.clientX, y: event.clientY };
}

function onPointerUp(event) {
  if (!down || Math.hypot(event.clientX - down.x, event.clientY - down.y) > 4) return; // a drag, not a click
  pointer.set((event.clientX / innerWidth) * 2 - 1, -(event.clientY / innerHeight) * 2 + 1);
  raycaster.setFromCamera(pointer, camera);
  const hit = raycaster.intersectObjects([...city.buildings.values()], false)[0];
  client.select(hit ? [hit.object.name] : []);
  refreshSelection();
}

function onWindowResize() {
  camera.aspect = innerWidth / innerHeight;
  camera.updateProjectionMatrix();
  renderer.setSize(innerWidth, innerHeight);
  labelRenderer.setSize(innerWidth, innerHeight);
}

const goalPosition = new THREE.Vector3();
const goalTarget = new THREE.Vector3();

function animate() {
  const dt = Math.min(clock.getDelta(), 0.5);

  // Following (someone, or the presenter): the client only tells the others; the page
  // eases its own camera toward the leader's latest cursor, and snaps once close.
  const leader = client.leaderCamera;
  if (leader) {
    goalPosition.fromArray(leader.position.map(Number));
    goalTarget.fromArray(leader.target.map(Number));
    const k = 1 - Math.exp(-dt * 5);
    camera.position.lerp(goalPosition, k);
    controls.target.lerp(goalTarget, k);
    if (camera.position.distanceTo(goalPosition) < 0.01 && controls.target.distanceTo(goalTarget) < 0.01) {
      camera.position.copy(goalPosition);
      controls.target.copy(goalTarget);
    }
    if (leader.fov && Math.abs(camera.fov - leader.fov) > 0.01) {
      camera.fov += (Number(leader.fov) - camera.fov) * k;
      camera.updateProjectionMatrix();
    }
  }
  controls.update();
  for (const f of frustums.values()) f.visible = drawn(f);

  renderer.render(scene, camera);
  labelRenderer.render(scene, camera);
}
