// Asking for the state after a gap (js/resync.js): one request at a time, asked again
// shortly while a state leaves the gap open, and given up after a few such states.
// Node's mock timers stand in for the 300 ms pause; a stand-in connection answers.

import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Resync } from '../js/resync.js';
import { RoomState } from '../js/state.js';

/** The parts of Connection the resync uses; requests wait for the test to answer. */
class FakeConn {
  constructor() {
    this.live = true;
    /** @type {{msg: any, resolve: (v: any) => void}[]} */
    this.sent = [];
  }
  /** @param {any} msg @returns {Promise<any>} */
  request(msg) {
    return new Promise((resolve) => this.sent.push({ msg, resolve }));
  }
}

/** A synced base at version 4 with a patch waiting past a hole (version 6). */
function gapped() {
  const base = new RoomState('alpha');
  base.applyState(4, { bg: 0, icons: {} });
  assert.equal(base.applyPatch(6, { changeBackground: { bg: 2 } }), 'gap');
  return base;
}

const settle = () => new Promise((r) => setImmediate(r));

test('one getState at a time; a state that leaves the gap open asks again after the pause', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const conn = new FakeConn();
    const r = new Resync(/** @type {any} */ (conn), () => 'alpha', (e) => assert.fail(String(e)));
    r.ask();
    r.ask();
    assert.equal(conn.sent.length, 1, 'a second ask while one is out sends nothing');
    assert.deepEqual(conn.sent[0].msg, { action: 'getState', room: 'alpha' });
    conn.sent[0].resolve({});
    await settle();
    r.afterState(gapped());
    mock.timers.tick(299);
    assert.equal(conn.sent.length, 1);
    mock.timers.tick(1);
    assert.equal(conn.sent.length, 2, 'asked again after the pause');
  } finally {
    mock.timers.reset();
  }
});

test('a retry that fires while a request is out is not lost: the next open state schedules again', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const conn = new FakeConn();
    const r = new Resync(/** @type {any} */ (conn), () => 'alpha', (e) => assert.fail(String(e)));
    // A state (from a join, say) leaves a gap open while a getState is out.
    r.ask();
    r.afterState(gapped());
    mock.timers.tick(300); // the retry fires, but a request is out: nothing sent
    assert.equal(conn.sent.length, 1);
    conn.sent[0].resolve({});
    await settle();
    // The answer still leaves the gap open: another retry must be scheduled.
    r.afterState(gapped());
    mock.timers.tick(300);
    assert.equal(conn.sent.length, 2, 'the page asked again instead of waiting forever');
  } finally {
    mock.timers.reset();
  }
});

test('after a few states that leave the gap open its patches are given up', async () => {
  const conn = new FakeConn();
  const r = new Resync(/** @type {any} */ (conn), () => 'alpha', (e) => assert.fail(String(e)));
  const b = gapped();
  for (let i = 0; i < 3; i++) r.afterState(b);
  assert.equal(b.ahead.size, 1, 'three states may leave it open');
  r.afterState(b);
  assert.equal(b.ahead.size, 0, 'the fourth gives the waiting patches up');
  if (r.timer) clearTimeout(r.timer);
});
