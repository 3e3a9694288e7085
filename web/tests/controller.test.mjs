// The game's controller (js/game.js) with a stand-in connection: the frames a base's
// page receives, in the orders the local gateway and AWS can deliver them, and what
// the player sees and sends in answer. No browser, no server.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Game } from '../js/game.js';

const ID = 'icon2JgQqVmJzPZhs4QHa1XKfK9Ax2T';
const ID2 = 'icon3MankMC0w82wnPvdBZMx7e7o737';

/** @param {string} id @param {number} x */
const move = (id, x) => ({ moveIcon: { id, img: 3, x, y: 5 } });

/** The parts of Connection the game uses; requests wait for the test to answer them. */
class FakeConn {
  constructor() {
    this.live = true;
    /** @type {{msg: any, resolve?: (ack: any) => void, reject?: (e: any) => void}[]} */
    this.sent = [];
    /** @type {((m: any) => void)[]} */
    this.listeners = [];
  }
  /** @param {(m: any) => void} fn */
  onMessage(fn) {
    this.listeners.push(fn);
  }
  onOpen() {}
  onSync() {}
  onStatus() {}
  position() {
    return null;
  }
  /** @param {any} msg @returns {Promise<any>} */
  request(msg) {
    return new Promise((resolve, reject) => this.sent.push({ msg, resolve, reject }));
  }
  /** @param {any} msg */
  sendRaw(msg) {
    this.sent.push({ msg });
    return true;
  }
  /** @param {string} room */
  join(room) {
    return this.request({ action: 'join', room });
  }
  /** @param {string} room */
  leave(room) {
    return this.request({ action: 'leave', room });
  }
  /** @param {any} msg */
  receive(msg) {
    for (const fn of this.listeners) fn(msg);
  }
  /** The last request of `action`. @param {string} action */
  last(action) {
    const r = [...this.sent].reverse().find((s) => s.msg.action === action);
    assert.ok(r, `a ${action} was sent`);
    return r;
  }
  /** @param {string} action */
  count(action) {
    return this.sent.filter((s) => s.msg.action === action).length;
  }
}

/** Let promise callbacks (acks, errors) run. */
const settle = () => new Promise((r) => setImmediate(r));

/** A game in base alpha at version 4, holding ID at x 0. */
function playing() {
  const conn = new FakeConn();
  /** @type {unknown[]} */
  const failed = [];
  /** @type {string[]} */
  const flashed = [];
  const hooks = {
    changed: () => {},
    flash: (/** @type {string} */ id) => flashed.push(id),
    builders: () => {},
    rooms: () => {},
    landed: () => {},
    fail: (/** @type {unknown} */ e) => failed.push(e),
  };
  const game = new Game(/** @type {any} */ (conn), hooks);
  assert.equal(game.enter('alpha'), true);
  conn.receive({ type: 'state', room: 'alpha', version: 4, state: { bg: 0, icons: { [ID]: { img: 3, x: 0, y: 5 } } } });
  return { conn, game, failed, flashed };
}

test('patches out of order: the page asks for the state once and takes it', async () => {
  const { conn, game } = playing();
  conn.receive({ type: 'patch', room: 'alpha', version: 6, op: move(ID, 60) });
  conn.receive({ type: 'patch', room: 'alpha', version: 7, op: move(ID, 70) });
  assert.equal(conn.count('getState'), 1, 'one request at a time');
  conn.receive({ type: 'patch', room: 'alpha', version: 5, op: move(ID, 50) });
  assert.equal(game.scene()?.version, 7, 'the late patch closed the gap');
  // The state answers after it (the gateway queues the ack and state in order).
  conn.last('getState').resolve?.({ type: 'ack', version: 7 });
  await settle();
  conn.receive({ type: 'state', room: 'alpha', version: 7, state: { bg: 0, icons: { [ID]: { img: 3, x: 70, y: 5 } } } });
  assert.equal(game.scene()?.version, 7);
  assert.equal(game.base?.hasGap, false);
  conn.receive({ type: 'patch', room: 'alpha', version: 9, op: move(ID, 90) });
  assert.equal(conn.count('getState'), 2, 'a new gap asks again once the last answer is in');
});

test('a drop shows until the patch of its ack arrives; another builder’s move flashes', async () => {
  const { conn, game, flashed } = playing();
  game.move(ID, { img: 3, x: 70, y: 5 }, true);
  assert.deepEqual(game.scene()?.overrides.get(ID), { x: 70, y: 5, until: Number.MAX_SAFE_INTEGER });
  conn.receive({ type: 'patch', room: 'alpha', version: 5, op: move(ID2, 1) });
  conn.last('moveIcon').resolve?.({ type: 'ack', version: 6 });
  await settle();
  assert.equal(game.scene()?.overrides.has(ID), true);
  conn.receive({ type: 'patch', room: 'alpha', version: 6, op: move(ID, 70) });
  assert.equal(game.scene()?.overrides.has(ID), false);
  assert.equal(game.scene()?.icons.get(ID)?.x, 70);
  assert.deepEqual(flashed, [ID2], 'its own move is no news to the player');
});

test('a refused drop or scrap shows the server’s state again, and says why', async () => {
  const { conn, game, failed } = playing();
  game.move(ID, { img: 3, x: 70, y: 5 }, true);
  conn.last('moveIcon').reject?.(new Error('unknown_icon'));
  await settle();
  assert.equal(game.scene()?.overrides.size, 0);
  game.select(ID);
  game.remove(ID);
  assert.equal(game.selected, null);
  assert.equal(game.icon(ID), undefined, 'a module being scrapped cannot be grabbed');
  assert.deepEqual([...(game.scene()?.hidden ?? [])], [ID]);
  assert.equal(game.scene()?.modules, 0);
  conn.last('deleteIcon').reject?.(new Error('forbidden'));
  await settle();
  assert.deepEqual([...(game.scene()?.hidden ?? [])], []);
  assert.equal(failed.length, 2);
});

test('a module added here is selected when it shows, whichever of ack and patch comes first', async () => {
  const { conn, game } = playing();
  game.add(1, 100, 500);
  conn.last('addIcon').resolve?.({ type: 'ack', version: 5, id: ID2 });
  await settle();
  assert.equal(game.selected, null, 'not shown yet');
  conn.receive({ type: 'patch', room: 'alpha', version: 5, op: { addIcon: { id: ID2, img: 1, x: 100, y: 500 } } });
  assert.equal(game.selected, ID2);

  const other = 'icon3MankMC0w82wnPvdBZMx7e7o738';
  game.add(2, 200, 500);
  conn.receive({ type: 'patch', room: 'alpha', version: 6, op: { addIcon: { id: other, img: 2, x: 200, y: 500 } } });
  conn.last('addIcon').resolve?.({ type: 'ack', version: 6, id: other });
  await settle();
  assert.equal(game.selected, other);
});

test('frames of another base are not this base’s; back in the lobby the base is left', () => {
  const { conn, game } = playing();
  conn.receive({ type: 'patch', room: 'beta', version: 5, op: move(ID, 99) });
  conn.receive({ type: 'state', room: 'beta', version: 9, state: { bg: 3, icons: {} } });
  assert.equal(game.scene()?.version, 4);
  assert.equal(game.scene()?.icons.get(ID)?.x, 0);
  game.leave();
  assert.equal(game.scene(), null);
  assert.equal(conn.last('leave').msg.room, 'alpha');
});
