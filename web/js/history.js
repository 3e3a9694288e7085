// Where the page stands in each room's history (docs/protocol.md, "Recovery"): every
// `patch` and `event` carries an `offset` (one more per history entry of its room) and
// an `epoch`; a `state` carries the offset it is current to. The page sends its
// watermark back as `join`'s `since` on every reconnect and re-join, and the server
// answers with exactly the missed frames when it still has them.
//
// Live frames are at-least-once and may arrive out of order (parallel broadcasters on
// AWS), so the watermark is the highest offset up to which *everything* arrived; the
// offsets above a gap are remembered to drop their duplicates.

/** @typedef {{offset: number, epoch: string}} Position */

/** Most offsets remembered above a gap; past this the oldest gap is given up. */
const MAX_ABOVE = 4096;

export class Watermark {
  constructor() {
    /** @type {Position | null} */
    this.at = null;
    /** Offsets above the watermark that arrived. @type {Set<number>} */
    this.above = new Set();
  }

  /** The position to send as `since`, if any. @returns {Position | null} */
  position() {
    return this.at ? { ...this.at } : null;
  }

  /**
   * A `state` current to `at`. The answer to a join resets the watermark (what came
   * before is in the state); a resync after a version gap only sets a first position
   * or follows a new epoch, since events below it may still be on their way.
   * @param {Position} at
   * @param {boolean} authoritative
   */
  observeState(at, authoritative) {
    if (authoritative || !this.at || this.at.epoch !== at.epoch) this.reset(at);
  }

  /**
   * Whether the `patch`/`event` at `at` is new (remembered if so); false for one at or
   * below the watermark or already seen above it.
   * @param {Position} at
   */
  admit(at) {
    if (!this.at) return true; // no base yet: the first state sets one
    if (this.at.epoch !== at.epoch) {
      // The history behind the old epoch is gone: this frame starts the new one.
      this.reset(at);
      return true;
    }
    if (at.offset <= this.at.offset || this.above.has(at.offset)) return false;
    this.above.add(at.offset);
    if (this.above.size > MAX_ABOVE) this.at.offset = Math.min(...this.above);
    this.advance();
    return true;
  }

  /** @param {Position} at */
  reset(at) {
    this.at = { offset: at.offset, epoch: at.epoch };
    this.advance();
  }

  /** Move over every remembered offset that is now contiguous; forget those below. */
  advance() {
    const at = /** @type {Position} */ (this.at);
    for (const o of this.above) if (o <= at.offset) this.above.delete(o);
    while (this.above.delete(at.offset + 1)) at.offset += 1;
  }
}

/**
 * The position a server frame carries, if it has one.
 * @param {{offset?: number, epoch?: string}} msg
 * @returns {Position | null}
 */
export function positionOf(msg) {
  return typeof msg.offset === 'number' && typeof msg.epoch === 'string' ? { offset: msg.offset, epoch: msg.epoch } : null;
}
