// Property tests of the version rule as the browser applies it (js/state.js,
// docs/protocol.md "Versions and resync"): whatever order the patches arrive in, however
// often each one arrives, however late the first `state` (or a getState's answer) is,
// whatever other rooms' messages are mixed in, across reconnects (some to a server whose
// store was wiped), the client only ever shows the server's state at the client's
// version, and ends on the server's final state. With patches lost it stops at the last
// contiguous version, and one getState brings it to the end.
//
// The server side is modelled here, independently of state.js: a random history of
// changeBackground / addIcon / moveIcon / deleteIcon ops (only ops the server would
// accept: moves and deletes of icons the base holds, server-made ids, rounded
// coordinates), each the patch of version v = 1..n, and the snapshot after every
// version, computed by this file's own apply of the op table in docs/protocol.md.
//
// Random cases come from a seeded PRNG (mulberry32). A failing case names its seed;
// rerun just that case with STATE_PROP_SEED=<seed> node --test tests/state.property.test.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoomState } from '../js/state.js';

/** @typedef {import('../js/state.js').GameState} GameState */
/** @typedef {import('../js/state.js').PatchOp} PatchOp */
/** @typedef {import('../js/state.js').Icon} Icon */
/**
 * A server message as it arrives on the socket (JSON text, as on the wire).
 * @typedef {{type: 'state', room: string, version: number, state: GameState}
 *   | {type: 'patch', room: string, version: number, op: PatchOp}} Msg
 */

// ---------------------------------------------------------------- seeded randomness

/**
 * mulberry32: a small, fast 32-bit PRNG; the same seed gives the same sequence.
 * @param {number} seed
 */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  /** @param {number} seed */
  constructor(seed) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). @param {number} n */
  int(n) {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. @param {number} lo @param {number} hi */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  /** @param {number} p */
  chance(p) {
    return this.next() < p;
  }
  /** @template T @param {T[]} xs @returns {T} */
  pick(xs) {
    return xs[this.int(xs.length)];
  }
  /** Fisher–Yates, in place. @template T @param {T[]} xs */
  shuffle(xs) {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

const BASE_SEED = 0x5eed2024;

/**
 * The seeds to run: `count` derived from a fixed base (the same every run), or just the
 * one in STATE_PROP_SEED.
 * @param {number} count
 */
function seeds(count) {
  const one = process.env.STATE_PROP_SEED;
  if (one) return [Number(one) >>> 0];
  const r = mulberry32(BASE_SEED);
  return Array.from({ length: count }, () => Math.floor(r() * 4294967296) >>> 0);
}

/**
 * Run `body` once per seed; a failure is rethrown naming the seed, how to rerun it and
 * the last steps of the case.
 * @param {string} name
 * @param {number} count
 * @param {(rng: Rng, log: string[]) => void} body
 */
function forEachSeed(name, count, body) {
  let ran = 0;
  for (const seed of seeds(count)) {
    /** @type {string[]} */
    const log = [];
    try {
      body(new Rng(seed), log);
    } catch (e) {
      const head =
        `${name}: failed for seed ${seed} (case ${ran + 1}); rerun it alone with\n` +
        `  STATE_PROP_SEED=${seed} node --test tests/state.property.test.mjs\n` +
        `last steps:\n  ${log.slice(-25).join('\n  ')}`;
      throw new Error(`${head}\n${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    ran++;
  }
  return ran;
}

// ---------------------------------------------------------------- the server's history

const ID_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** An id as the server makes one: `icon` + a 27-character KSUID. @param {Rng} rng */
function newId(rng) {
  let s = 'icon';
  for (let i = 0; i < 27; i++) s += ID_CHARS[rng.int(ID_CHARS.length)];
  return s;
}

/**
 * docs/protocol.md's op table, applied to a copy (this file's own, not state.js's).
 * @param {GameState} s
 * @param {PatchOp} op
 * @returns {GameState}
 */
function applyOp(s, op) {
  const next = { bg: s.bg, icons: { ...s.icons } };
  if ('addIcon' in op || 'moveIcon' in op) {
    const { id, img, x, y } = 'addIcon' in op ? op.addIcon : op.moveIcon;
    next.icons[id] = { img, x, y };
  } else if ('deleteIcon' in op) {
    delete next.icons[op.deleteIcon.id];
  } else {
    next.bg = op.changeBackground.bg;
  }
  return next;
}

/**
 * A room's history as the server commits it: ops[v - 1] is the patch of version v,
 * snaps[v] the state at version v (snaps[0] is a never-written room).
 * @param {Rng} rng
 * @param {number} n
 */
function history(rng, n) {
  /** @type {PatchOp[]} */
  const ops = [];
  /** @type {GameState[]} */
  const snaps = [{ bg: 0, icons: {} }];
  for (let v = 1; v <= n; v++) {
    const cur = snaps[v - 1];
    const ids = Object.keys(cur.icons);
    const roll = rng.next();
    /** @type {PatchOp} */
    let op;
    const pos = () => ({ img: rng.int(12), x: rng.range(0, 1600), y: rng.range(0, 1000) });
    if (roll < 0.2) {
      op = { changeBackground: { bg: rng.int(32) } };
    } else if (ids.length === 0 || roll < 0.5) {
      op = { addIcon: { id: newId(rng), ...pos() } };
    } else if (roll < 0.82) {
      const id = rng.pick(ids);
      // Often only the position changes, sometimes the image too.
      const img = rng.chance(0.7) ? cur.icons[id].img : rng.int(12);
      op = { moveIcon: { id, ...pos(), img } };
    } else {
      op = { deleteIcon: { id: rng.pick(ids) } };
    }
    ops.push(op);
    snaps.push(applyOp(cur, op));
  }
  return { ops, snaps };
}

// ---------------------------------------------------------------- the client, watched

/** What the client shows, in the server's shape. @param {RoomState} c @returns {GameState} */
const shown = (c) => ({ bg: c.bg, icons: Object.fromEntries(c.icons) });

/**
 * One room: the server's history and how far it has committed, and the browser's
 * RoomState for it, with a watch on everything it announces.
 */
class Room {
  /**
   * @param {Rng} rng
   * @param {string} name
   * @param {number} n
   */
  constructor(rng, name, n) {
    this.name = name;
    this.n = n;
    const h = history(rng, n);
    this.ops = h.ops;
    this.snaps = h.snaps;
    /** How many versions the server has committed (and broadcast). */
    this.committed = 0;
    /**
     * After a store reset, the old server's snapshots while the client still shows
     * one of them (until it takes the new server's first state).
     * @type {GameState[] | null}
     */
    this.before = null;
    /** Whether a getState (or the join) is outstanding: at most one at a time. */
    this.asking = false;
    this.client = new RoomState(name);
    /** The highest version the client has held (its version never goes back here). */
    this.high = 0;
    /** The version the client's announcements say it holds. */
    this.announced = 0;
    this.client.subscribe((c) => {
      if (c.kind === 'state') {
        this.announced = this.client.version;
      } else {
        // Patches are announced one at a time, in order, each the server's op.
        assert.equal(c.version, this.announced + 1, `${name}: patch announced out of order`);
        assert.deepEqual(c.op, this.ops[c.version - 1], `${name}: announced op is not v${c.version}'s`);
        this.announced = c.version;
      }
    });
  }

  /**
   * The server's store is wiped (it starts again from version 0 with a new history).
   * @param {Rng} rng
   * @param {number} n
   */
  reset(rng, n) {
    // Still showing an older server's state if it never took a state since.
    this.before ??= this.snaps;
    this.n = n;
    const h = history(rng, n);
    this.ops = h.ops;
    this.snaps = h.snaps;
    this.committed = 0;
  }

  /** The client agrees with the server at the client's version (checked after every step). */
  check() {
    const c = this.client;
    if (this.before) {
      if (c.synced) {
        // The first state from the reset server: versions count from it again.
        this.before = null;
        this.high = 0;
      } else {
        assert.deepEqual(shown(c), this.before[c.version], `${this.name}: the old server's v${c.version} changed before a new state`);
        for (const v of c.ahead.keys()) assert.deepEqual(c.ahead.get(v), this.ops[v - 1], `${this.name}: early v${v} is not the server's`);
        return;
      }
    }
    assert.ok(Number.isInteger(c.version) && c.version >= 0, `${this.name}: version ${c.version}`);
    assert.ok(c.version <= this.committed, `${this.name}: v${c.version} is ahead of the server (${this.committed})`);
    assert.ok(c.version >= this.high, `${this.name}: version went back from ${this.high} to ${c.version}`);
    this.high = c.version;
    assert.equal(this.announced, c.version, `${this.name}: announcements say v${this.announced}`);
    assert.deepEqual(shown(c), this.snaps[c.version], `${this.name}: client at v${c.version} differs from the server's v${c.version}`);
    for (const v of c.ahead.keys()) {
      // Synced, only patches past a hole wait; before a state (early), any may.
      const floor = c.synced ? c.version + 1 : 0;
      assert.ok(v > floor && v <= this.committed, `${this.name}: buffered v${v} at v${c.version}`);
      assert.deepEqual(c.ahead.get(v), this.ops[v - 1], `${this.name}: buffered v${v} is not the server's`);
    }
  }

  /** The `state` the server answers a join or getState with: its current one. */
  stateMsg() {
    return JSON.stringify({ type: 'state', room: this.name, version: this.committed, state: this.snaps[this.committed] });
  }

  /** @param {number} v */
  patchMsg(v) {
    return JSON.stringify({ type: 'patch', room: this.name, version: v, op: this.ops[v - 1] });
  }
}

/**
 * Hand one message to the client of its room, as web/js/main.js does: a message for a
 * room this page does not show is ignored; a gap asks for the state (one getState at a
 * time), and a state that leaves a gap open asks again.
 * @param {Map<string, Room>} rooms
 * @param {string} text
 * @param {(room: Room) => void} ask  send a getState for `room`
 * @param {string[]} log
 */
function deliver(rooms, text, ask, log) {
  /** @type {Msg} */
  const msg = JSON.parse(text);
  const room = rooms.get(msg.room);
  if (!room) {
    log.push(`${msg.type} v${msg.version} for ${msg.room}: not ours, ignored`);
    return;
  }
  const before = room.client.version;
  if (msg.type === 'state') {
    const taken = room.client.applyState(msg.version, msg.state);
    room.asking = false;
    log.push(`${room.name}: state v${msg.version} ${taken ? 'taken' : 'ignored'}, v${before} -> v${room.client.version}`);
    if (room.client.hasGap) ask(room);
  } else {
    const result = room.client.applyPatch(msg.version, msg.op);
    log.push(`${room.name}: patch v${msg.version} ${result}, v${before} -> v${room.client.version}`);
    if (result === 'gap') ask(room);
  }
  room.check();
}

// ---------------------------------------------------------------- properties

/** Cases per property (one when STATE_PROP_SEED picks a case). */
const CASES = process.env.STATE_PROP_SEED ? 1 : 300;

test(`converges under any reordering and duplication, with late states, resyncs, reconnects and other rooms mixed in (${CASES} seeded cases)`, () => {
  let steps = 0;
  let gaps = 0;
  forEachSeed('reordering', CASES, (rng, log) => {
    // Most histories are short and dense in interleavings; a few outgrow the client's
    // buffer of future patches (256).
    const size = () => (rng.chance(0.03) ? rng.range(257, 320) : rng.range(0, 40));
    /** @type {Map<string, Room>} */
    const rooms = new Map();
    for (const name of ['alpha', 'beta']) rooms.set(name, new Room(rng, name, size()));
    // A third room's traffic reaches the socket too (it has no client here).
    const other = new Room(rng, 'gamma', rng.range(0, 10));
    /** Messages in flight to this page, delivered in any order. @type {string[]} */
    let wire = [];
    /** @param {string} m @param {number} copies */
    const send = (m, copies) => {
      for (let i = 0; i < copies; i++) wire.push(m);
    };
    // At-least-once: most frames once, some retried once or a few times.
    const copies = () => (rng.chance(0.3) ? rng.range(2, 4) : 1);
    /** @param {Room} room */
    const ask = (room) => {
      if (room.asking) return;
      room.asking = true;
      gaps++;
      // The answer is the server's current state; it may itself arrive late.
      send(room.stateMsg(), rng.chance(0.1) ? 2 : 1);
    };
    const all = [...rooms.values(), other];
    // Some history is committed before the page joins; the join's state is then in
    // flight with everything else.
    for (const r of all) r.committed = rng.range(0, r.n);
    for (const r of rooms.values()) {
      r.asking = true;
      send(r.stateMsg(), 1);
      // Patches from before the join may still reach the page (harmless either way).
      for (let v = 1; v <= r.committed; v++) if (rng.chance(0.3)) send(r.patchMsg(v), copies());
      r.check();
    }
    const reconnects = rng.chance(0.3) ? rng.range(1, 2) : 0;
    let reconnected = 0;
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 100_000, 'the run does not end');
      const pending = all.filter((r) => r.committed < r.n);
      if (wire.length === 0 && pending.length === 0) break;
      const roll = rng.next();
      if (pending.length > 0 && (wire.length === 0 || roll < 0.35)) {
        // The server commits the next change of some room and fans out its patch.
        const r = rng.pick(pending);
        r.committed++;
        log.push(`server: ${r.name} commits v${r.committed}`);
        send(r.patchMsg(r.committed), copies());
      } else if (reconnected < reconnects && roll > 0.995) {
        // The socket drops: what was in flight on it is gone. The new connection
        // takes the next state whatever its version and re-joins every room.
        // Sometimes the server restarted on a wiped store: new histories from 0.
        reconnected++;
        const wiped = rng.chance(0.5);
        log.push(`reconnect (${wire.length} frames lost${wiped ? ', store wiped' : ''})`);
        wire = [];
        if (wiped) {
          for (const r of all) {
            r.reset(rng, size());
            r.committed = rng.range(0, r.n);
          }
        }
        for (const r of rooms.values()) {
          r.client.unsync();
          r.asking = true;
          send(r.stateMsg(), 1);
          r.check();
        }
      } else {
        const [m] = wire.splice(rng.int(wire.length), 1);
        deliver(rooms, m, ask, log);
        steps++;
      }
    }
    for (const r of rooms.values()) {
      assert.equal(r.client.version, r.n, `${r.name}: ends at v${r.client.version}, not the final v${r.n}`);
      assert.deepEqual(shown(r.client), r.snaps[r.n], `${r.name}: the final state differs`);
      assert.equal(r.client.hasGap, false, `${r.name}: still waiting on a gap`);
    }
  });
  // The generator really exercises the rule (not a vacuous pass).
  if (CASES > 1) {
    assert.ok(steps > CASES * 20, `only ${steps} deliveries`);
    assert.ok(gaps > CASES, `only ${gaps} getStates`);
  }
});

test(`with patches lost, the client stops at the last contiguous version, and one getState brings it to the final state (${CASES} seeded cases)`, () => {
  forEachSeed('losses', CASES, (rng, log) => {
    const room = new Room(rng, 'alpha', rng.range(1, 60));
    // The whole history is committed; the page joined at version k.
    room.committed = room.n;
    const k = rng.range(0, room.n);
    const lossRate = rng.pick([0.05, 0.2, 0.5]);
    /** @type {Set<number>} */
    const arrived = new Set();
    /** @type {string[]} */
    const wire = [];
    for (let v = 1; v <= room.n; v++) {
      if (rng.chance(lossRate)) continue;
      arrived.add(v);
      const copies = rng.chance(0.3) ? rng.range(2, 3) : 1;
      for (let i = 0; i < copies; i++) wire.push(room.patchMsg(v));
    }
    rng.shuffle(wire);
    // The join's state (at k) lands anywhere among the patches.
    const join = JSON.stringify({ type: 'state', room: 'alpha', version: k, state: room.snaps[k] });
    wire.splice(rng.int(wire.length + 1), 0, join);
    // No getState is answered in this run: gaps stay open.
    const ignore = () => {};
    for (const m of wire) deliver(new Map([['alpha', room]]), m, ignore, log);
    let contiguous = k;
    while (arrived.has(contiguous + 1)) contiguous++;
    assert.equal(room.client.version, contiguous, `holds v${room.client.version}, expected v${contiguous} (joined at v${k})`);
    assert.equal(room.client.hasGap, [...arrived].some((v) => v > contiguous + 1), 'hasGap');
    // The one getState after the gap: the server's final state.
    deliver(new Map([['alpha', room]]), room.stateMsg(), ignore, log);
    assert.equal(room.client.version, room.n);
    assert.deepEqual(shown(room.client), room.snaps[room.n]);
    assert.equal(room.client.hasGap, false);
    // Late copies of anything are harmless now.
    for (const v of arrived) deliver(new Map([['alpha', room]]), room.patchMsg(v), ignore, log);
    deliver(new Map([['alpha', room]]), join, ignore, log);
    assert.equal(room.client.version, room.n);
    assert.deepEqual(shown(room.client), room.snaps[room.n]);
  });
});
