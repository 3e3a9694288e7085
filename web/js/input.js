// Player input: pointer events (mouse, touch, pen) to drag modules and to drag new
// ones in from the palette, the trash target, right-click and the keyboard. Moves go
// out at a bounded rate while dragging and once more on drop.

import { WORLD, moduleDef, moduleUrl } from './art.js';
import { clamp } from './view.js';

/**
 * @typedef {import('./state.js').Icon} Icon
 * @typedef {import('./view.js').BaseView} BaseView
 * @typedef {{id: string, x: number, y: number, overTrash: boolean}} DragInfo
 *
 * @typedef {object} Controller  what the input drives (main.js implements it)
 * @property {(id: string) => Icon | undefined} icon
 * @property {() => boolean} canEdit
 * @property {() => boolean} busy  a dialog is open: keys are not for the base
 * @property {(img: number, x: number, y: number) => void} add
 * @property {(img: number) => void} addDefault  add where there is room (a click on the palette)
 * @property {(id: string, icon: Icon, final: boolean) => void} move
 * @property {(id: string) => void} remove
 * @property {(id: string | null) => void} select
 * @property {() => string | null} selected
 * @property {(drag: DragInfo | null) => void} dragging
 */

/** Moves sent per second at most while a module is dragged. */
export const MOVES_PER_SECOND = 10;
const MOVE_INTERVAL_MS = 1000 / MOVES_PER_SECOND;
/** Pointer travel (CSS px) before a press becomes a drag rather than a click. */
const DRAG_SLOP = 4;

/** Keep a module's centre on the map. @param {number} x @param {number} y */
function clampWorld(x, y) {
  return { x: Math.round(clamp(x, 20, WORLD.width - 20)), y: Math.round(clamp(y, 20, WORLD.height - 20)) };
}

/**
 * Wire the input to `view` and `ctl`.
 * @param {BaseView} view
 * @param {Controller} ctl
 */
export function attachInput(view, ctl) {
  /**
   * The drag in progress.
   * @type {{id: string, img: number, pointerId: number, el: HTMLElement, dx: number, dy: number,
   *   startX: number, startY: number, moved: boolean, x: number, y: number, overTrash: boolean,
   *   lastSentAt: number, sentX: number, sentY: number, timer: ReturnType<typeof setTimeout> | null} | null}
   */
  let drag = null;

  /** Send the latest position if it changed (rate-bounded by the caller). */
  function flushMove() {
    if (!drag) return;
    if (drag.timer) clearTimeout(drag.timer);
    drag.timer = null;
    if (drag.x === drag.sentX && drag.y === drag.sentY) return;
    drag.lastSentAt = performance.now();
    drag.sentX = drag.x;
    drag.sentY = drag.y;
    ctl.move(drag.id, { img: drag.img, x: drag.x, y: drag.y }, false);
  }

  function scheduleMove() {
    if (!drag || drag.timer) return;
    const wait = drag.lastSentAt + MOVE_INTERVAL_MS - performance.now();
    if (wait <= 0) flushMove();
    else drag.timer = setTimeout(flushMove, wait);
  }

  /** End the drag: drop it where it is (or in the trash). @param {boolean} commit */
  function endDrag(commit) {
    const d = drag;
    if (!d) return;
    drag = null;
    if (d.timer) clearTimeout(d.timer);
    if (d.el.hasPointerCapture(d.pointerId)) d.el.releasePointerCapture(d.pointerId);
    ctl.dragging(null);
    if (!commit || !d.moved || !ctl.icon(d.id)) return;
    if (d.overTrash) ctl.remove(d.id);
    else ctl.move(d.id, { img: d.img, x: d.x, y: d.y }, true);
  }

  view.iconsLayer.addEventListener('pointerdown', (e) => {
    const el = e.target instanceof Element ? e.target.closest('.icon') : null;
    if (!(el instanceof HTMLElement) || !el.dataset.id) return;
    if (e.button !== 0 || !e.isPrimary) return;
    e.preventDefault();
    view.stage.focus({ preventScroll: true });
    const id = el.dataset.id;
    const icon = ctl.icon(id);
    if (!icon) return;
    ctl.select(id);
    if (!ctl.canEdit()) return;
    endDrag(true);
    const p = view.toWorld(e.clientX, e.clientY);
    const shown = { x: Number(el.dataset.x ?? icon.x), y: Number(el.dataset.y ?? icon.y) };
    el.setPointerCapture(e.pointerId);
    drag = {
      id, img: icon.img, pointerId: e.pointerId, el,
      dx: shown.x - p.x, dy: shown.y - p.y,
      startX: e.clientX, startY: e.clientY, moved: false,
      x: shown.x, y: shown.y, overTrash: false,
      lastSentAt: 0, sentX: shown.x, sentY: shown.y, timer: null,
    };
  });

  document.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.pointerId) return;
    if (!ctl.icon(drag.id) || !ctl.canEdit()) {
      // Scrapped by someone else mid-drag, or the connection dropped.
      endDrag(false);
      return;
    }
    if (!drag.moved && Math.hypot(e.clientX - drag.startX, e.clientY - drag.startY) < DRAG_SLOP) return;
    drag.moved = true;
    const p = view.toWorld(e.clientX, e.clientY);
    const { x, y } = clampWorld(p.x + drag.dx, p.y + drag.dy);
    drag.x = x;
    drag.y = y;
    drag.overTrash = view.overTrash(e.clientX, e.clientY);
    ctl.dragging({ id: drag.id, x, y, overTrash: drag.overTrash });
    if (!drag.overTrash) scheduleMove();
  });

  // On the document, so that a drag whose element went away (scrapped by another
  // builder) still ends cleanly.
  for (const type of /** @type {const} */ (['pointerup', 'pointercancel', 'lostpointercapture'])) {
    document.addEventListener(type, (e) => {
      if (drag && e.pointerId === drag.pointerId) endDrag(true);
    }, true);
  }

  // Right-click scraps a module, as in planetstack.
  view.stage.addEventListener('contextmenu', (e) => {
    e.preventDefault();
    const el = e.target instanceof Element ? e.target.closest('.icon') : null;
    if (el instanceof HTMLElement && el.dataset.id && ctl.canEdit()) {
      endDrag(false);
      ctl.remove(el.dataset.id);
    }
  });

  // A press on empty ground clears the selection.
  view.stage.addEventListener('pointerdown', (e) => {
    if (e.target === view.stage || e.target === view.iconsLayer || (e.target instanceof HTMLImageElement && e.target.classList.contains('bg-layer'))) {
      ctl.select(null);
    }
  });

  view.trash.addEventListener('click', () => {
    const id = ctl.selected();
    if (id && ctl.canEdit()) ctl.remove(id);
  });

  document.addEventListener('keydown', (e) => {
    if (ctl.busy()) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
    const id = ctl.selected();
    if (e.key === 'Escape') {
      if (drag) endDrag(true);
      ctl.select(null);
      return;
    }
    if (!id) return;
    if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault();
      if (ctl.canEdit()) {
        endDrag(false);
        ctl.remove(id);
      }
      return;
    }
    /** @type {Record<string, [number, number]>} */
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const dir = arrows[e.key];
    const icon = ctl.icon(id);
    if (dir && icon && !drag && ctl.canEdit()) {
      e.preventDefault();
      const step = e.shiftKey ? 50 : 10;
      const { x, y } = clampWorld(icon.x + dir[0] * step, icon.y + dir[1] * step);
      ctl.move(id, { img: icon.img, x, y }, true);
    }
  });

  attachPalette(view, ctl);
}

/**
 * The palette: click a module to add it; or drag it onto the planet to put it there.
 * @param {BaseView} view
 * @param {Controller} ctl
 */
function attachPalette(view, ctl) {
  /** @type {{img: number, pointerId: number, button: HTMLButtonElement, ghost: HTMLImageElement | null, startX: number, startY: number} | null} */
  let carry = null;
  let suppressClick = false;

  view.palette.addEventListener('pointerdown', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button') : null;
    if (!(b instanceof HTMLButtonElement) || b.disabled || e.button !== 0 || !e.isPrimary) return;
    b.setPointerCapture(e.pointerId);
    carry = { img: Number(b.dataset.img), pointerId: e.pointerId, button: b, ghost: null, startX: e.clientX, startY: e.clientY };
  });

  view.palette.addEventListener('pointermove', (e) => {
    if (!carry || e.pointerId !== carry.pointerId) return;
    if (!carry.ghost) {
      if (Math.hypot(e.clientX - carry.startX, e.clientY - carry.startY) < DRAG_SLOP * 2) return;
      const g = document.createElement('img');
      g.className = 'ghost';
      g.src = moduleUrl(carry.img);
      g.alt = '';
      const stageWidth = view.stage.getBoundingClientRect().width;
      g.style.width = `${(moduleDef(carry.img).size / WORLD.width) * stageWidth}px`;
      document.body.append(g);
      carry.ghost = g;
    }
    carry.ghost.style.left = `${e.clientX}px`;
    carry.ghost.style.top = `${e.clientY}px`;
    carry.ghost.style.opacity = view.overStage(e.clientX, e.clientY) ? '0.9' : '0.45';
  });

  /** @param {PointerEvent} e @param {boolean} commit */
  function finish(e, commit) {
    if (!carry || e.pointerId !== carry.pointerId) return;
    const c = carry;
    carry = null;
    if (!c.ghost) return; // a click: the click handler adds it
    c.ghost.remove();
    suppressClick = true;
    setTimeout(() => (suppressClick = false), 0);
    if (commit && view.overStage(e.clientX, e.clientY) && ctl.canEdit()) {
      const p = view.toWorld(e.clientX, e.clientY);
      const { x, y } = clampWorld(p.x, p.y);
      ctl.add(c.img, x, y);
    }
  }
  view.palette.addEventListener('pointerup', (e) => finish(e, true));
  view.palette.addEventListener('pointercancel', (e) => finish(e, false));

  view.palette.addEventListener('click', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button') : null;
    if (!(b instanceof HTMLButtonElement) || b.disabled) return;
    if (suppressClick) {
      suppressClick = false;
      return;
    }
    if (ctl.canEdit()) ctl.addDefault(Number(b.dataset.img));
  });
}
