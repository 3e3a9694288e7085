// The game's state in one place: the base being played and its state kept in step
// with the server (gaps resynced), the player's requests and their optimistic edits,
// the selection, the drag and the builders' count. No DOM: the page asks `scene()`
// what to draw and is told through hooks when to draw it, so main.js only wires the
// view, the input and the routing to this.

import { Builders } from './builders.js';
import { RequestError } from './connection.js';
import { Overlay } from './overlay.js';
import { Resync } from './resync.js';
import { RoomState } from './state.js';

/**
 * @typedef {import('./connection.js').Connection} Connection
 * @typedef {import('./connection.js').RoomInfo} RoomInfo
 * @typedef {import('./connection.js').ServerMsg} ServerMsg
 * @typedef {import('./state.js').Change} Change
 * @typedef {import('./state.js').Icon} Icon
 * @typedef {import('./input.js').DragInfo} DragInfo
 *
 * @typedef {object} Hooks  what the page does for the game
 * @property {() => void} changed  something on show changed: draw `scene()` soon
 * @property {(id: string) => void} flash  another builder moved module `id`
 * @property {(n: number) => void} builders  builders in the base
 * @property {(rooms: RoomInfo[]) => void} rooms  the lobby's list of bases
 * @property {(bg: number) => void} landed  the background change was made
 * @property {(e: unknown) => void} fail  tell the player a request failed (never drop it silently)
 *
 * @typedef {object} Scene  the base as this player sees it
 * @property {number} bg
 * @property {Map<string, Icon>} icons  the server's modules
 * @property {Map<string, {x: number, y: number}>} overrides  drawn elsewhere: own drops, the drag
 * @property {Set<string>} hidden  scrapped here, not yet gone
 * @property {string | null} selected
 * @property {string | null} dragging
 * @property {boolean} doomed  the drag is over the trash
 * @property {number} version
 * @property {number} modules  how many the player sees
 */

export class Game {
  /** @param {Connection} conn @param {Hooks} hooks */
  constructor(conn, hooks) {
    this.conn = conn;
    this.hooks = hooks;
    /** The base being played, or null in the lobby. @type {string | null} */
    this.room = null;
    /** @type {RoomState | null} */
    this.base = null;
    /** Builders in the base. */
    this.builders = new Builders(conn, () => this.room, (n) => hooks.builders(n));
    /** @type {string | null} */
    this.selected = null;
    /** @type {DragInfo | null} */
    this.drag = null;
    /** This player's drops and scraps, shown until the server's state holds them. */
    this.overlay = new Overlay();
    /** The module this player added last (from its ack): select it when it shows. @type {string | null} */
    this.selectId = null;
    /** Catching up after a missed patch. */
    this.resync = new Resync(conn, () => this.room, (e) => hooks.fail(e));

    conn.onMessage((m) => this.receive(m));
    conn.onOpen(() => {
      // A new connection. With a place in the base's history the re-join asks for what
      // was missed (`since`) and the base goes on from its version; without one, or when
      // the server cannot recover (below), the next state is taken whatever its version.
      if (this.room && !conn.position(this.room)) this.base?.unsync();
      this.resync.reset();
    });
    conn.onSync((r, recovered) => {
      if (r === this.room && !recovered) this.base?.unsync();
    });
    conn.onStatus((s) => {
      // No dragging while offline: the drag's moves would not be sent.
      if (s !== 'live') {
        this.drag = null;
        hooks.changed();
      }
    });
  }

  // ---------------------------------------------------------------- bases

  /**
   * Play base `name` (leaving the one played); false if it is the one played already.
   * @param {string} name
   */
  enter(name) {
    if (this.room === name) return false;
    if (this.room) this.conn.leave(this.room).catch(() => {});
    this.room = name;
    const base = new RoomState(name);
    this.base = base;
    this.builders.count = 0;
    this.selected = null;
    this.drag = null;
    this.overlay.clear();
    this.selectId = null;
    base.subscribe((c) => this.baseChanged(c));
    this.conn.join(name).catch((e) => {
      if (!(e instanceof RequestError) || e.code !== 'offline') this.hooks.fail(e);
    });
    return true;
  }

  /** Back to the lobby. */
  leave() {
    if (this.room) this.conn.leave(this.room).catch(() => {});
    this.room = null;
    this.base = null;
  }

  /** @param {Change} c */
  baseChanged(c) {
    if (c.kind === 'patch') {
      const op = c.op;
      if ('addIcon' in op) {
        if (op.addIcon.id === this.selectId) {
          this.selected = this.selectId;
          this.selectId = null;
        }
      } else if ('moveIcon' in op) {
        // Someone else's move: this player's own drag and drops are not news to it.
        const id = op.moveIcon.id;
        if (this.drag?.id !== id && !this.overlay.isPlaced(id)) this.hooks.flash(id);
      }
    }
    this.hooks.changed();
  }

  /**
   * What to draw, after dropping what the server has caught up with; null in the lobby.
   * @returns {Scene | null}
   */
  scene() {
    const base = this.base;
    if (!base) return null;
    this.overlay.prune(base);
    if (this.selected && !base.icons.has(this.selected)) this.selected = null;
    if (this.drag && !base.icons.has(this.drag.id)) this.drag = null;
    /** @type {Map<string, {x: number, y: number}>} */
    const overrides = new Map(this.overlay.placed);
    if (this.drag) overrides.set(this.drag.id, this.drag);
    const hidden = this.overlay.scrapping;
    return {
      bg: base.bg,
      icons: base.icons,
      overrides,
      hidden,
      selected: this.selected,
      dragging: this.drag?.id ?? null,
      doomed: this.drag?.overTrash ?? false,
      version: base.version,
      modules: base.icons.size - hidden.size,
    };
  }

  // ---------------------------------------------------------------- what the input asks

  /** A module as the player may grab it (not one being scrapped). @param {string} id */
  icon(id) {
    return this.overlay.isScrapped(id) ? undefined : this.base?.icons.get(id);
  }

  canEdit() {
    return this.conn.live && this.base !== null && this.base.loaded;
  }

  /** @param {string | null} id */
  select(id) {
    this.selected = id;
    this.hooks.changed();
  }

  /** @param {DragInfo | null} d */
  dragging(d) {
    this.drag = d;
    this.hooks.changed();
  }

  // ---------------------------------------------------------------- requests

  /** @param {number} img @param {number} x @param {number} y */
  add(img, x, y) {
    if (!this.room) return;
    this.conn
      .request({ action: 'addIcon', room: this.room, icon: { img, x, y } })
      .then((ack) => {
        if (!ack.id || !this.base) return;
        // The ack names the new module; its patch may already be here (any order).
        if (this.base.icons.has(ack.id)) {
          this.selected = ack.id;
          this.hooks.changed();
        } else {
          this.selectId = ack.id;
        }
      })
      .catch((e) => this.hooks.fail(e));
  }

  /** A free-ish spot on the ground near the middle, spiralling out as the base fills. @param {number} img */
  addDefault(img) {
    const n = this.base ? this.base.icons.size : 0;
    const a = n * 2.39996;
    const r = 95 * Math.sqrt(n % 48);
    const x = Math.round(800 + Math.cos(a) * r * 1.7);
    const y = Math.round(650 + Math.sin(a) * r * 0.55);
    this.add(img, Math.max(60, Math.min(1540, x)), Math.max(420, Math.min(950, y)));
  }

  /** @param {string} id @param {Icon} icon @param {boolean} final */
  move(id, icon, final) {
    if (!this.room) return;
    const req = this.conn.request({ action: 'moveIcon', room: this.room, icon: { id, img: icon.img, x: icon.x, y: icon.y } });
    if (!final) {
      req.catch((e) => {
        // A lost intermediate move is healed by the final one; only a real refusal counts.
        if (e instanceof RequestError && ['offline', 'disconnected', 'timeout'].includes(e.code)) return;
        this.hooks.fail(e);
      });
      return;
    }
    this.overlay.move(id, icon.x, icon.y);
    this.hooks.changed();
    req
      .then((ack) => {
        this.overlay.moveAcked(id, icon.x, icon.y, ack.version ?? 0);
        this.hooks.changed();
      })
      .catch((e) => {
        this.overlay.moveFailed(id);
        this.hooks.changed();
        this.hooks.fail(e);
      });
  }

  /** @param {string} id */
  remove(id) {
    if (!this.room) return;
    this.overlay.scrap(id);
    if (this.selected === id) this.selected = null;
    this.hooks.changed();
    this.conn.request({ action: 'deleteIcon', room: this.room, id }).catch((e) => {
      this.overlay.scrapFailed(id);
      this.hooks.changed();
      this.hooks.fail(e);
    });
  }

  /** @param {number} bg */
  changeBackground(bg) {
    if (!this.room) return;
    if (!this.conn.live) {
      this.hooks.fail(new RequestError('offline', 'not connected'));
      return;
    }
    this.conn
      .request({ action: 'changeBackground', room: this.room, bg })
      .then(() => this.hooks.landed(bg))
      .catch((e) => this.hooks.fail(e));
  }

  // ---------------------------------------------------------------- server messages

  /** @param {ServerMsg} msg */
  receive(msg) {
    const here = 'room' in msg && msg.room === this.room;
    switch (msg.type) {
      case 'state':
        if (this.base && here) {
          this.base.applyState(msg.version, msg.state);
          this.resync.afterState(this.base);
        }
        break;
      case 'patch':
        if (this.base && here && this.base.applyPatch(msg.version, msg.op) === 'gap') this.resync.ask();
        break;
      case 'presence':
        if (here) this.builders.presence(msg);
        break;
      case 'members':
        if (here) this.builders.members(msg);
        break;
      case 'rooms':
        // The lobby's list (counts are connections); in a base it only kept the socket busy.
        if (!this.room) this.hooks.rooms(msg.rooms.filter((r) => r.members > 0));
        break;
      case 'error':
        // Errors with no request of ours to attach to.
        this.hooks.fail(new RequestError(msg.code, msg.message));
        break;
      default:
        break;
    }
  }
}
