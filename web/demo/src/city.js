// The shared model: a city block of box buildings, each with an id, a height and a colour.
// Every page builds the same block from the same seed; edits change heights and colours.
import * as THREE from 'three';

const PALETTE = ['#c9c4b9', '#a7b4c2', '#d8c3a5', '#9fa8a3', '#bfb7c9', '#c2a99b'];

export class City extends THREE.Group {
  constructor({ rows = 4, cols = 5, lot = 10, seed = 7 } = {}) {
    super();
    let s = seed;
    const random = () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;

    const ground = new THREE.Mesh(
      new THREE.PlaneGeometry(cols * lot + 20, rows * lot + 20),
      new THREE.MeshStandardMaterial({ color: 0x3a3f47 }),
    );
    ground.rotation.x = -Math.PI / 2;
    this.add(ground);

    const box = new THREE.BoxGeometry(1, 1, 1).translate(0, 0.5, 0);
    const edges = new THREE.EdgesGeometry(box);
    /** @type {Map<string, THREE.Mesh>} */
    this.buildings = new Map();
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const id = `b-${r}-${c}`;
        const mesh = new THREE.Mesh(box, new THREE.MeshStandardMaterial({ flatShading: true }));
        mesh.name = id;
        mesh.position.set((c - (cols - 1) / 2) * lot, 0, (r - (rows - 1) / 2) * lot);
        mesh.scale.set(lot * (0.45 + random() * 0.25), 1, lot * (0.45 + random() * 0.25));
        mesh.material.color.set(PALETTE[Math.floor(random() * PALETTE.length)]);
        const outline = new THREE.LineSegments(edges, new THREE.LineBasicMaterial());
        outline.scale.setScalar(1.04);
        outline.visible = false;
        mesh.add(outline);
        mesh.userData.outline = outline;
        this.setHeight(mesh, Math.round(4 + random() * random() * 40));
        this.buildings.set(id, mesh);
        this.add(mesh);
      }
    }
  }

  /**
   * Applies an edit `{building, op: 'set', data: {height?, color?}}`; others are ignored.
   * @param {{building: string, op: string, data?: any}} edit
   */
  apply({ building, op, data }) {
    const mesh = this.buildings.get(building);
    if (!mesh || op !== 'set' || !data) return false;
    if (Number.isFinite(data.height)) this.setHeight(mesh, Math.min(200, Math.max(1, data.height)));
    if (typeof data.color === 'string' && /^#[0-9a-f]{6}$/i.test(data.color)) mesh.material.color.set(data.color);
    return true;
  }

  /** @param {THREE.Mesh} mesh @param {number} height */
  setHeight(mesh, height) {
    mesh.scale.y = height;
  }

  /**
   * Outlines each building in the colour of the first session selecting it.
   * @param {Array<{color: string, ids: string[]}>} selections
   */
  highlight(selections) {
    for (const mesh of this.buildings.values()) mesh.userData.outline.visible = false;
    for (const { color, ids } of [...selections].reverse()) {
      for (const id of ids) {
        const outline = this.buildings.get(id)?.userData.outline;
        if (!outline) continue;
        outline.material.color.set(color);
        outline.visible = true;
      }
    }
  }

  /** The model as plain data: `{id: {height, color}}`. */
  toJSON() {
    return Object.fromEntries(
      [...this.buildings].map(([id, m]) => [id, { height: m.scale.y, color: `#${m.material.color.getHexString()}` }]),
    );
  }
}
