// Everything the player sees: the base (background + modules), the palette, the
// planet chooser, the lobby's list of bases, the status bar and the toasts. The view
// only draws; input.js and main.js decide what happens.

import { MODULES, PLANETS, WORLD, moduleDef, moduleUrl, planetName, planetUrl } from './art.js';

/**
 * @typedef {import('./state.js').Icon} Icon
 * @typedef {import('./connection.js').ConnStatus} ConnStatus
 * @typedef {import('./connection.js').RoomInfo} RoomInfo
 * @typedef {{x: number, y: number}} Point
 */

/**
 * The element with `id`, typed.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function $(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
  return el;
}

/** @param {number} v @param {number} lo @param {number} hi */
export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

export class BaseView {
  constructor() {
    this.stage = $('stage', HTMLDivElement);
    this.iconsLayer = $('icons', HTMLDivElement);
    this.trash = $('trash', HTMLDivElement);
    this.palette = $('palette', HTMLDivElement);
    this.overlay = $('stage-overlay', HTMLDivElement);
    this.bgImgs = [$('bg-a', HTMLImageElement), $('bg-b', HTMLImageElement)];
    this.bgFront = 0;
    /** @type {number | null} */
    this.bgShown = null;
    /** @type {Map<string, HTMLDivElement>} */
    this.iconEls = new Map();
    this.buildPalette();
  }

  buildPalette() {
    this.palette.replaceChildren(
      ...MODULES.map((m, img) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.img = String(img);
        b.title = `${m.name}: click to add, or drag onto the planet`;
        const pic = document.createElement('img');
        pic.src = moduleUrl(img);
        pic.alt = '';
        pic.draggable = false;
        const label = document.createElement('span');
        label.textContent = m.name;
        b.append(pic, label);
        return b;
      }),
    );
  }

  /** @param {boolean} enabled */
  setEditable(enabled) {
    for (const b of this.palette.querySelectorAll('button')) b.disabled = !enabled;
    this.stage.classList.toggle('read-only', !enabled);
  }

  /** @param {string | null} text  null hides the overlay */
  setOverlay(text) {
    this.overlay.hidden = text === null;
    const span = this.overlay.querySelector('span');
    if (span && text !== null) span.textContent = text;
  }

  /** @param {number} bg */
  renderBackground(bg) {
    this.stage.dataset.bg = String(bg);
    if (this.bgShown === bg) return;
    const first = this.bgShown === null;
    this.bgShown = bg;
    const back = this.bgImgs[1 - this.bgFront];
    const front = this.bgImgs[this.bgFront];
    back.src = planetUrl(bg);
    back.alt = `Planet ${planetName(bg)}`;
    if (first) {
      front.classList.add('off');
      back.classList.remove('off');
    } else {
      back.classList.remove('off');
      front.classList.add('off');
    }
    this.bgFront = 1 - this.bgFront;
  }

  /**
   * Draw the modules: one element per icon id, kept across renders.
   * @param {Map<string, Icon>} icons
   * @param {{overrides: Map<string, Point>, hidden: Set<string>, selected: string | null, dragging: string | null, doomed: boolean}} ui
   */
  renderIcons(icons, ui) {
    for (const [id, el] of this.iconEls) {
      if (!icons.has(id) || ui.hidden.has(id)) {
        this.iconEls.delete(id);
        // Fade out; the element stops being a module for queries at once.
        delete el.dataset.id;
        el.classList.add('leaving');
        setTimeout(() => el.remove(), 250);
      }
    }
    for (const [id, icon] of icons) {
      if (ui.hidden.has(id)) continue;
      let el = this.iconEls.get(id);
      if (!el) {
        el = document.createElement('div');
        el.className = 'icon';
        el.dataset.id = id;
        const pic = document.createElement('img');
        pic.alt = '';
        pic.draggable = false;
        el.append(pic);
        this.iconsLayer.append(el);
        this.iconEls.set(id, el);
      }
      const pos = ui.overrides.get(id) ?? icon;
      if (el.dataset.img !== String(icon.img)) {
        el.dataset.img = String(icon.img);
        const def = moduleDef(icon.img);
        const pic = /** @type {HTMLImageElement} */ (el.firstElementChild);
        pic.src = moduleUrl(icon.img);
        el.title = def.name;
        el.style.width = `${(def.size / WORLD.width) * 100}%`;
      }
      if (el.dataset.x !== String(pos.x) || el.dataset.y !== String(pos.y)) {
        el.dataset.x = String(pos.x);
        el.dataset.y = String(pos.y);
        el.style.left = `${(pos.x / WORLD.width) * 100}%`;
        el.style.top = `${(pos.y / WORLD.height) * 100}%`;
        // Nearer the viewer (lower on screen) draws in front.
        el.style.zIndex = String(Math.round(clamp(pos.y, -10000, 10000)) + 10000);
      }
      el.classList.toggle('selected', ui.selected === id);
      el.classList.toggle('dragging', ui.dragging === id);
      el.classList.toggle('doomed', ui.dragging === id && ui.doomed);
    }
    this.stage.classList.toggle('is-dragging', ui.dragging !== null);
    this.trash.classList.toggle('hot', ui.dragging !== null && ui.doomed);
  }

  /** Glow briefly on a module another builder moved. @param {string} id */
  flashRemote(id) {
    const el = this.iconEls.get(id);
    if (!el) return;
    el.classList.add('remote-moving');
    clearTimeout(Number(el.dataset.flash));
    el.dataset.flash = String(setTimeout(() => el.classList.remove('remote-moving'), 450));
  }

  /**
   * Client coordinates to world coordinates (not clamped).
   * @param {number} clientX
   * @param {number} clientY
   * @returns {Point}
   */
  toWorld(clientX, clientY) {
    const r = this.stage.getBoundingClientRect();
    return {
      x: ((clientX - r.left) / r.width) * WORLD.width,
      y: ((clientY - r.top) / r.height) * WORLD.height,
    };
  }

  /** @param {number} clientX @param {number} clientY */
  overStage(clientX, clientY) {
    const r = this.stage.getBoundingClientRect();
    return clientX >= r.left && clientX <= r.right && clientY >= r.top && clientY <= r.bottom;
  }

  /** @param {number} clientX @param {number} clientY */
  overTrash(clientX, clientY) {
    const r = this.trash.getBoundingClientRect();
    const pad = r.width * 0.25;
    return clientX >= r.left - pad && clientX <= r.right + pad && clientY >= r.top - pad && clientY <= r.bottom + pad;
  }
}

/** The status bar at the bottom. */
export class StatusBar {
  constructor() {
    this.conn = $('conn', HTMLSpanElement);
    this.connText = $('conn-text', HTMLSpanElement);
    this.builders = $('builders', HTMLElement);
    this.buildersLabel = $('builders-label', HTMLSpanElement);
    this.buildersWrap = $('builders-wrap', HTMLSpanElement);
    this.version = $('version', HTMLElement);
    this.versionWrap = $('version-wrap', HTMLSpanElement);
    this.modules = $('module-count', HTMLElement);
    this.modulesWrap = $('modules-wrap', HTMLSpanElement);
    this.keys = $('keys-hint', HTMLSpanElement);
  }

  /**
   * @param {ConnStatus} status
   * @param {number} [retryInMs]
   */
  setConn(status, retryInMs) {
    const shown = status === 'stopped' ? 'reconnecting' : status;
    this.conn.dataset.state = shown;
    this.connText.textContent = shown;
    this.conn.title =
      shown === 'live' ? 'Connected: changes are live'
        : retryInMs !== undefined ? `Next attempt in ${(retryInMs / 1000).toFixed(1)} s` : 'Connecting to the server';
  }

  /** @param {boolean} inBase */
  showBase(inBase) {
    this.buildersWrap.hidden = !inBase;
    this.versionWrap.hidden = !inBase;
    this.modulesWrap.hidden = !inBase;
    this.keys.hidden = !inBase;
  }

  /** @param {number} n */
  setBuilders(n) {
    this.builders.textContent = String(n);
    this.buildersLabel.textContent = n === 1 ? 'builder' : 'builders';
  }

  /** @param {number} v */
  setVersion(v) {
    this.version.textContent = String(v);
  }

  /** @param {number} n */
  setModules(n) {
    this.modules.textContent = String(n);
  }
}

/**
 * Show a short message; errors stay a little longer.
 * @param {string} text
 * @param {'error'|'info'} [kind]
 * @param {string} [code]  an error code, shown after the text
 */
export function toast(text, kind = 'error', code) {
  const box = $('toasts', HTMLDivElement);
  // Collapse repeats of the same message instead of stacking them.
  for (const t of box.querySelectorAll('.toast')) {
    if (t instanceof HTMLElement && t.dataset.text === text && !t.classList.contains('out')) t.remove();
  }
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.dataset.text = text;
  if (code) el.dataset.code = code;
  el.append(text);
  if (code) {
    const c = document.createElement('code');
    c.textContent = code;
    el.append(' ', c);
  }
  box.append(el);
  while (box.children.length > 4) box.firstElementChild?.remove();
  const ms = kind === 'error' ? 4500 : 2500;
  setTimeout(() => {
    el.classList.add('out');
    setTimeout(() => el.remove(), 350);
  }, ms);
}

/**
 * The lobby's list of active bases.
 * @param {RoomInfo[]} rooms
 */
export function renderRooms(rooms) {
  const list = $('rooms', HTMLUListElement);
  $('rooms-empty', HTMLParagraphElement).hidden = rooms.length > 0;
  const total = rooms.reduce((n, r) => n + r.members, 0);
  $('rooms-note', HTMLSpanElement).textContent = rooms.length ? `${total} building now` : '';
  list.replaceChildren(
    ...rooms.map((r) => {
      const li = document.createElement('li');
      li.className = 'room-row';
      li.dataset.room = r.room;
      const a = document.createElement('a');
      a.href = `#/base/${encodeURIComponent(r.room)}`;
      const dot = document.createElement('i');
      dot.className = 'dot';
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = r.room;
      const members = document.createElement('span');
      members.className = 'members';
      members.dataset.members = String(r.members);
      members.textContent = `${r.members} ${r.members === 1 ? 'builder' : 'builders'}`;
      const go = document.createElement('span');
      go.className = 'go';
      go.textContent = 'Join →';
      a.append(dot, name, members, go);
      li.append(a);
      return li;
    }),
  );
}

/** The planet chooser dialog: browse with arrows, click to pick. */
export class PlanetChooser {
  /** @param {(bg: number) => void} onPick */
  constructor(onPick) {
    this.dialog = $('bg-chooser', HTMLDialogElement);
    this.img = $('bg-preview-img', HTMLImageElement);
    this.name = $('bg-preview-name', HTMLElement);
    this.count = $('bg-preview-count', HTMLSpanElement);
    this.currentBadge = $('bg-preview-current', HTMLSpanElement);
    this.index = 0;
    this.current = 0;
    $('bg-prev', HTMLButtonElement).addEventListener('click', () => this.step(-1));
    $('bg-next', HTMLButtonElement).addEventListener('click', () => this.step(1));
    $('bg-preview', HTMLButtonElement).addEventListener('click', () => {
      onPick(this.index);
      this.dialog.close();
    });
    this.dialog.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft') this.step(-1);
      else if (e.key === 'ArrowRight') this.step(1);
      else return;
      e.preventDefault();
    });
  }

  get open() {
    return this.dialog.open;
  }

  /** @param {number} current */
  show(current) {
    this.current = current;
    this.index = ((current % PLANETS.length) + PLANETS.length) % PLANETS.length;
    this.draw();
    this.dialog.showModal();
    $('bg-preview', HTMLButtonElement).focus();
  }

  /** The base's background changed while the chooser is open. @param {number} bg */
  setCurrent(bg) {
    this.current = bg;
    if (this.open) this.draw();
  }

  /** @param {number} d */
  step(d) {
    this.index = (this.index + d + PLANETS.length) % PLANETS.length;
    this.draw();
  }

  draw() {
    this.img.src = planetUrl(this.index);
    this.img.alt = `Planet ${planetName(this.index)}`;
    this.dialog.dataset.index = String(this.index);
    this.name.textContent = planetName(this.index);
    this.count.textContent = `${this.index + 1} / ${PLANETS.length}`;
    this.currentBadge.hidden = this.index !== this.current % PLANETS.length;
  }
}
