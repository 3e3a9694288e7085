// The player's own edits shown before the server's state holds them (optimistic):
// where this player dropped a module, and which modules it scrapped. Without it a
// dropped module would jump back to its last confirmed spot until its patch came, and
// a scrapped one would linger. Each entry goes when the server has caught up (the
// ack's version is held, or the module is gone) or when the request failed.
// No DOM, no sockets: the game asks it what to draw over the base's state.

/**
 * @typedef {{x: number, y: number, until: number}} Placed
 *   shown at x, y until the base holds version `until` (the move's ack)
 * @typedef {{icons: Map<string, unknown>, version: number, synced: boolean}} Held
 *   what the page holds of the base (a RoomState)
 */

/** `until` while the move is unanswered: the ack's version is not known yet. */
const UNANSWERED = Number.MAX_SAFE_INTEGER;

export class Overlay {
  constructor() {
    /** Where this player last put each module. @type {Map<string, Placed>} */
    this.placed = new Map();
    /** Modules scrapped here and not yet gone from the base. @type {Set<string>} */
    this.scrapping = new Set();
  }

  /** Forget everything (another base). */
  clear() {
    this.placed.clear();
    this.scrapping.clear();
  }

  /**
   * A final move was sent: show the module at x, y until it is answered.
   * @param {string} id @param {number} x @param {number} y
   */
  move(id, x, y) {
    this.placed.set(id, { x, y, until: UNANSWERED });
  }

  /**
   * The move to x, y was acked at `version`: shown until the base holds that version.
   * A later move of the same module (another spot) keeps waiting for its own ack.
   * @param {string} id @param {number} x @param {number} y @param {number} version
   */
  moveAcked(id, x, y, version) {
    const p = this.placed.get(id);
    if (p && p.x === x && p.y === y) p.until = version;
  }

  /** The move was refused or lost: show the server's spot again. @param {string} id */
  moveFailed(id) {
    this.placed.delete(id);
  }

  /** A scrap was sent: hide the module until it is gone. @param {string} id */
  scrap(id) {
    this.scrapping.add(id);
  }

  /** The scrap was refused or lost: show the module again. @param {string} id */
  scrapFailed(id) {
    this.scrapping.delete(id);
  }

  /**
   * Drop what the base has caught up with: a placement once the base (taken on this
   * connection, so the version means what the ack meant) holds its ack's version, or
   * whose module is gone; a scrap once its module is gone.
   * @param {Held} base
   */
  prune(base) {
    for (const [id, p] of this.placed) {
      if (!base.icons.has(id) || (base.synced && base.version >= p.until)) this.placed.delete(id);
    }
    for (const id of this.scrapping) if (!base.icons.has(id)) this.scrapping.delete(id);
  }

  /** Whether this player's own placement of `id` is on show. @param {string} id */
  isPlaced(id) {
    return this.placed.has(id);
  }

  /** Whether `id` is hidden as scrapped. @param {string} id */
  isScrapped(id) {
    return this.scrapping.has(id);
  }
}
