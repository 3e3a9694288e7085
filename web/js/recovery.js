// Recovery, per room (docs/protocol.md, "Recovery"): the page keeps a watermark for
// every room it wants (js/history.js) and joins with it as `since`. The answer is the
// missed `patch`/`event` frames then the `ack` (`recovered: true`), or the `ack` then
// the `state`. Live frames are at-least-once and on AWS may overtake the answer, so
// while a join is answered the room's positioned frames are held; when the answer is
// complete they are released in offset order, and the watermark drops those at or
// below it and the duplicates above it. The app sees each missed frame once, in order,
// and no live frame before the recovered ones.

import { Watermark, positionOf } from './history.js';

/**
 * @typedef {import('./connection.js').ServerMsg} ServerMsg
 * @typedef {import('./connection.js').PatchMsg | import('./connection.js').EventMsg} Positioned
 * @typedef {{ref: string, phase: 'ack' | 'state', held: Positioned[]}} Sync
 *   a join being answered: waiting for its `ack`, then (without recovery) its `state`
 * @typedef {{deliver: ServerMsg[], synced?: {room: string, recovered: boolean}}} Route
 *   the frames to hand to the app, in order, and whether a join just said it recovered
 */

export class Recovery {
  constructor() {
    /** Each wanted room's place in its history. @type {Map<string, Watermark>} */
    this.marks = new Map();
    /** Joins being answered, by room. @type {Map<string, Sync>} */
    this.syncs = new Map();
  }

  /** Keep a watermark for `room` (a room the page wants). @param {string} room */
  track(room) {
    if (!this.marks.has(room)) this.marks.set(room, new Watermark());
  }

  /** The room is no longer wanted. @param {string} room */
  forget(room) {
    this.marks.delete(room);
    this.syncs.delete(room);
  }

  /**
   * The socket closed: drop what was held. The watermarks did not move for it, so the
   * next join's `since` asks for it again.
   */
  disconnected() {
    this.syncs.clear();
  }

  /** What to send as `since` for `room`, if the page has a place in its history. @param {string} room */
  position(room) {
    return this.marks.get(room)?.position() ?? null;
  }

  /**
   * A join of `room` with `ref` was sent: hold the room's frames until it is answered
   * (a newer join takes over an older one and keeps what it held).
   * @param {string} room
   * @param {string} ref
   */
  joining(room, ref) {
    this.syncs.set(room, { ref, phase: 'ack', held: this.syncs.get(room)?.held ?? [] });
  }

  /**
   * The join `ref` of `room` failed or timed out: stop holding; returns what was held.
   * @param {string} room
   * @param {string} ref
   */
  abandon(room, ref) {
    const sync = this.syncs.get(room);
    return sync?.ref === ref ? this.release(room, sync) : [];
  }

  /**
   * Route one frame from the server.
   * @param {ServerMsg} msg
   * @returns {Route}
   */
  route(msg) {
    if (msg.type === 'patch' || msg.type === 'event') {
      const at = positionOf(msg);
      const sync = at && this.syncs.get(msg.room);
      if (sync) {
        sync.held.push(msg);
        return { deliver: [] };
      }
      const fresh = !at || this.marks.get(msg.room)?.admit(at) !== false;
      return { deliver: fresh ? [msg] : [] };
    }
    if (msg.type === 'state') {
      const sync = this.syncs.get(msg.room);
      // The answer to a join resets the watermark; a resync's state only may.
      const completes = sync?.phase === 'state';
      const at = positionOf(msg);
      if (at) this.marks.get(msg.room)?.observeState(at, completes);
      return { deliver: [msg, ...(sync && completes ? this.release(msg.room, sync) : [])] };
    }
    if ((msg.type === 'ack' || msg.type === 'error') && msg.ref !== undefined) {
      const entry = [...this.syncs.entries()].find(([, s]) => s.ref === String(msg.ref));
      if (entry) {
        const [room, sync] = entry;
        if (msg.type === 'error') return { deliver: [...this.release(room, sync), msg] };
        if (!msg.recovered) {
          sync.phase = 'state';
          return { deliver: [msg], synced: { room, recovered: false } };
        }
        // The missed frames came before this ack: they go first.
        return { deliver: [...this.release(room, sync), msg], synced: { room, recovered: true } };
      }
    }
    return { deliver: [msg] };
  }

  /**
   * End `room`'s sync; returns its held frames in offset order, less those the
   * watermark drops.
   * @param {string} room
   * @param {Sync} sync
   * @returns {ServerMsg[]}
   */
  release(room, sync) {
    if (this.syncs.get(room) === sync) this.syncs.delete(room);
    const held = sync.held.sort((x, y) => (x.offset ?? 0) - (y.offset ?? 0));
    return held.flatMap((m) => this.route(m).deliver);
  }
}
