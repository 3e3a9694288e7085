// How many builders are in the base. `presence` frames are coalesced counts with no
// version, and fan-out may deliver two of them in either order, so after a burst of
// them the builders are read back with `listMembers`: a direct reply, current when
// the server answers it.

/**
 * @typedef {import('./connection.js').Connection} Connection
 * @typedef {import('./connection.js').PresenceMsg} PresenceMsg
 * @typedef {import('./connection.js').MembersMsg} MembersMsg
 */

/** Quiet after a presence count before the builders are read back. */
const CONFIRM_MS = 700;

export class Builders {
  /**
   * @param {Connection} conn
   * @param {() => string | null} room  the base played now
   * @param {(n: number) => void} told  the count changed (or was confirmed)
   */
  constructor(conn, room, told) {
    this.conn = conn;
    this.room = room;
    this.told = told;
    /** Distinct users: one player's tabs count once. */
    this.count = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
  }

  /** @param {number} n */
  set(n) {
    this.count = n;
    this.told(n);
  }

  /** A `presence` of the base played. @param {PresenceMsg} msg */
  presence(msg) {
    // Builders are users: a player's second tab is not a second builder.
    this.set(msg.users ?? msg.members);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const room = this.room();
      if (room) this.conn.sendRaw({ action: 'listMembers', room });
    }, CONFIRM_MS);
  }

  /** A page of `members` of the base played. @param {MembersMsg} msg */
  members(msg) {
    // One page of users; past a page the presence count stands.
    if (!msg.next) this.set(msg.users.length);
  }
}
