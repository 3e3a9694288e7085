// One base's state, kept in step with the server by the version rule of
// docs/protocol.md: a `state` is a base; a patch applies only when it is
// `version + 1`; an older one is dropped; a newer one is a gap (buffered, and the
// caller asks for `getState`). No DOM, no sockets: easy to reason about.

/**
 * @typedef {{img: number, x: number, y: number}} Icon
 * @typedef {{bg: number, icons: Record<string, Icon>}} GameState
 * @typedef {{addIcon: {id: string} & Icon}
 *   | {moveIcon: {id: string} & Icon}
 *   | {changeBackground: {bg: number}}
 *   | {deleteIcon: {id: string}}} PatchOp
 * @typedef {'applied'|'duplicate'|'gap'|'early'} PatchResult
 *   applied: it was version + 1 (and any buffered successors were applied too);
 *   duplicate: at or below the version held, dropped;
 *   gap: ahead of version + 1, buffered; ask the server for the state;
 *   early: no state held yet, buffered until one arrives.
 * @typedef {{kind: 'state'} | {kind: 'patch', version: number, op: PatchOp}} Change
 */

/** Future patches kept while waiting for a gap to fill (bounded). */
const MAX_AHEAD = 256;

export class RoomState {
  /** @param {string} room */
  constructor(room) {
    this.room = room;
    /** The version of what is held; 0 before any state. */
    this.version = 0;
    /** Whether a `state` has been taken on the current connection. */
    this.synced = false;
    /** Whether any `state` was ever taken (something real to show). */
    this.loaded = false;
    this.bg = 0;
    /** @type {Map<string, Icon>} */
    this.icons = new Map();
    /** @type {Map<number, PatchOp>} */
    this.ahead = new Map();
    /** @type {Set<(c: Change) => void>} */
    this.listeners = new Set();
  }

  /** @param {(c: Change) => void} fn */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** @param {Change} c */
  emit(c) {
    for (const fn of this.listeners) fn(c);
  }

  /**
   * A new connection: the next `state` is taken whatever its version (a server whose
   * store was reset starts again from 0), and buffered patches are forgotten.
   */
  unsync() {
    this.synced = false;
    this.ahead.clear();
  }

  /**
   * Take a full `state`. Ignored when older than what this connection already holds.
   * @param {number} version
   * @param {GameState} state
   * @returns {boolean} whether it was taken
   */
  applyState(version, state) {
    if (this.synced && version < this.version) return false;
    this.version = version;
    this.bg = state.bg;
    this.icons = new Map(Object.entries(state.icons ?? {}));
    this.synced = true;
    this.loaded = true;
    for (const v of [...this.ahead.keys()]) if (v <= version) this.ahead.delete(v);
    this.emit({ kind: 'state' });
    this.drain();
    return true;
  }

  /**
   * Apply or buffer one patch.
   * @param {number} version
   * @param {PatchOp} op
   * @returns {PatchResult}
   */
  applyPatch(version, op) {
    if (!this.synced) {
      this.buffer(version, op);
      return 'early';
    }
    if (version <= this.version) return 'duplicate';
    if (version > this.version + 1) {
      this.buffer(version, op);
      return 'gap';
    }
    this.apply(version, op);
    this.drain();
    return 'applied';
  }

  /** Whether patches are waiting for a missing version. */
  get hasGap() {
    return this.ahead.size > 0;
  }

  /**
   * @param {number} version
   * @param {PatchOp} op
   */
  buffer(version, op) {
    if (this.ahead.size >= MAX_AHEAD) {
      const oldest = Math.min(...this.ahead.keys());
      this.ahead.delete(oldest);
    }
    this.ahead.set(version, op);
  }

  drain() {
    let next = this.ahead.get(this.version + 1);
    while (next) {
      this.ahead.delete(this.version + 1);
      this.apply(this.version + 1, next);
      next = this.ahead.get(this.version + 1);
    }
  }

  /**
   * @param {number} version
   * @param {PatchOp} op
   */
  apply(version, op) {
    if ('addIcon' in op) {
      const { id, img, x, y } = op.addIcon;
      this.icons.set(id, { img, x, y });
    } else if ('moveIcon' in op) {
      const { id, img, x, y } = op.moveIcon;
      this.icons.set(id, { img, x, y });
    } else if ('deleteIcon' in op) {
      this.icons.delete(op.deleteIcon.id);
    } else if ('changeBackground' in op) {
      this.bg = op.changeBackground.bg;
    }
    this.version = version;
    this.emit({ kind: 'patch', version, op });
  }
}
