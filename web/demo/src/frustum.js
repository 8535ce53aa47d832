// Another session's camera, drawn as a wireframe frustum in its colour, with its name.
import * as THREE from 'three';
import { CSS2DObject } from 'three/addons/renderers/CSS2DRenderer.js';

const DEPTH = 10; // how far the drawn frustum reaches
const ASPECT = 1.5;

export class Frustum extends THREE.Group {
  /** @param {string} name @param {string} color */
  constructor(name, color) {
    super();
    const positions = new Float32Array(16 * 3);
    this.lines = new THREE.LineSegments(
      new THREE.BufferGeometry().setAttribute('position', new THREE.BufferAttribute(positions, 3)),
      new THREE.LineBasicMaterial({ color }),
    );
    this.add(this.lines);

    this.eye = new THREE.Mesh(new THREE.SphereGeometry(0.8), new THREE.MeshBasicMaterial({ color }));
    this.add(this.eye);

    const div = document.createElement('div');
    div.className = 'label';
    div.textContent = name;
    div.style.background = color;
    this.label = new CSS2DObject(div);
    this.label.position.set(0, 2, 0);
    this.add(this.label);
    this.setFov(50);
    this.placed = false; // a camera was given: it may be drawn
    this.visible = false;
  }

  /** @param {number} fov vertical field of view, degrees */
  setFov(fov) {
    const h = DEPTH * Math.tan(THREE.MathUtils.degToRad(fov) / 2);
    const w = h * ASPECT;
    const c = [[-w, -h], [w, -h], [w, h], [-w, h]];
    const p = this.lines.geometry.attributes.position;
    // four edges from the eye, then the far rectangle (the object looks down +z)
    for (let i = 0; i < 4; i++) {
      p.setXYZ(i * 2, 0, 0, 0);
      p.setXYZ(i * 2 + 1, c[i][0], c[i][1], DEPTH);
      const n = c[(i + 1) % 4];
      p.setXYZ(8 + i * 2, c[i][0], c[i][1], DEPTH);
      p.setXYZ(8 + i * 2 + 1, n[0], n[1], DEPTH);
    }
    p.needsUpdate = true;
    this.lines.geometry.computeBoundingSphere();
  }

  /** @param {{position: number[], target: number[], up?: number[], fov?: number}} camera */
  setCamera(camera) {
    this.position.fromArray(camera.position.map(Number));
    if (camera.up) this.up.fromArray(camera.up.map(Number));
    this.lookAt(new THREE.Vector3().fromArray(camera.target.map(Number)));
    if (camera.fov) this.setFov(Number(camera.fov));
    this.placed = true;
  }

  dispose() {
    this.label.element.remove();
    this.lines.geometry.dispose();
    this.removeFromParent();
  }
}
