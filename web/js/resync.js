// Catching up after a gap (docs/protocol.md, "Versions and resync"): a patch past
// `version + 1` means one was missed (or is late: fan-out runs a room's jobs in
// parallel), so the page asks for the whole state with `getState`, one request at a
// time. A state that leaves patches still waiting past a hole is asked for again
// shortly, but not forever.

import { RequestError } from './connection.js';

/**
 * @typedef {import('./connection.js').Connection} Connection
 * @typedef {import('./state.js').RoomState} RoomState
 */

/** Pause before asking again for a state when the last one left a gap open. */
const RETRY_MS = 300;
/** States in a row that may leave a gap open before its patches are given up. */
const GAP_STATES = 3;

export class Resync {
  /**
   * @param {Connection} conn
   * @param {() => string | null} room  the base played now (asked when the request goes)
   * @param {(e: unknown) => void} fail  tell the player about a real failure
   */
  constructor(conn, room, fail) {
    this.conn = conn;
    this.room = room;
    this.fail = fail;
    this.inFlight = false;
    /** States received in a row that left a gap open. */
    this.gapStates = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
  }

  /** Ask for the full state now, unless a request is out already or the page is offline. */
  ask() {
    const room = this.room();
    if (!room || this.inFlight || !this.conn.live) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.inFlight = true;
    this.conn
      .request({ action: 'getState', room })
      .catch((e) => {
        if (!(e instanceof RequestError) || (e.code !== 'disconnected' && e.code !== 'offline')) this.fail(e);
      })
      .finally(() => {
        this.inFlight = false;
      });
  }

  /**
   * A `state` was taken into `base`. Patches still waiting past a hole: ask again
   * shortly (they may just be early), but after a few states that do not close it,
   * forget them.
   * @param {RoomState} base
   */
  afterState(base) {
    if (!base.hasGap) {
      this.gapStates = 0;
    } else if (++this.gapStates > GAP_STATES) {
      base.ahead.clear();
      this.gapStates = 0;
    } else if (!this.timer) {
      // Cleared when it fires: a retry that finds a request still out sends nothing,
      // and the state answering that request must be able to schedule the next one.
      this.timer = setTimeout(() => {
        this.timer = null;
        this.ask();
      }, RETRY_MS);
    }
  }

  /** A new connection: a request out on the old one was failed with it. */
  reset() {
    this.inFlight = false;
  }
}
