// The page's history watermark (js/history.js) and recovery (js/recovery.js): each
// frame once, whatever the order and repetition of delivery, `since` only ever
// covering what arrived, and a room's live frames held until its join is answered.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Watermark, positionOf } from '../js/history.js';
import { Recovery } from '../js/recovery.js';

/** @param {number} offset @param {string} [epoch] */
const at = (offset, epoch = 'e1') => ({ offset, epoch });

test('frames before a first state pass; the state sets the base', () => {
  const w = new Watermark();
  assert.equal(w.admit(at(3)), true);
  assert.equal(w.position(), null);
  w.observeState(at(5), false);
  assert.deepEqual(w.position(), at(5));
  assert.equal(w.admit(at(5)), false);
  assert.equal(w.admit(at(6)), true);
});

test('out-of-order and repeated frames pass once; the watermark waits for the gap', () => {
  const w = new Watermark();
  w.observeState(at(0), true);
  const passed = [3, 1, 4, 3, 1, 2, 4, 5].filter((o) => w.admit(at(o)));
  assert.deepEqual(passed, [3, 1, 4, 2, 5]);
  assert.deepEqual(w.position(), at(5));
  assert.equal(w.above.size, 0);
});

test('a resync state keeps the watermark; a join state or a new epoch moves it', () => {
  const w = new Watermark();
  w.observeState(at(2), true);
  w.observeState(at(9), false);
  assert.deepEqual(w.position(), at(2), 'events 3..9 may still come');
  assert.equal(w.admit(at(4)), true);
  w.observeState(at(3), true);
  assert.deepEqual(w.position(), at(4), '4 arrived above the new base');
  assert.equal(w.admit(at(7, 'e2')), true);
  assert.deepEqual(w.position(), at(7, 'e2'));
});

test('positionOf reads offset and epoch only together', () => {
  assert.deepEqual(positionOf({ offset: 4, epoch: 'x' }), at(4, 'x'));
  assert.equal(positionOf({ offset: 4 }), null);
  assert.equal(positionOf({}), null);
});

/** An event of alpha at `offset`. @param {number} offset @returns {any} */
const event = (offset) => ({ type: 'event', room: 'alpha', event: 'n', data: offset, from: null, offset, epoch: 'e1' });
/** What a route delivers: events as their offsets, other frames as their type. @param {{deliver: any[]}} r */
const shown = (r) => r.deliver.map((m) => (m.type === 'event' ? m.offset : m.type));

test('live frames overtaking a recovery, and duplicates, come out once in offset order', () => {
  const r = new Recovery();
  r.track('alpha');
  r.route({ type: 'state', room: 'alpha', version: 0, state: { bg: 0, icons: {} }, offset: 2, epoch: 'e1' });
  assert.deepEqual(r.position('alpha'), at(2));
  r.joining('alpha', 'r9');
  for (const o of [5, 3, 4, 4, 5]) assert.deepEqual(shown(r.route(event(o))), [], `held ${o}`);
  const acked = r.route({ type: 'ack', ref: 'r9', recovered: true });
  assert.deepEqual(shown(acked), [3, 4, 5, 'ack']);
  assert.deepEqual(acked.synced, { room: 'alpha', recovered: true });
  assert.deepEqual([6, 5, 3].map((o) => shown(r.route(event(o)))), [[6], [], []]);
  assert.deepEqual(r.position('alpha'), at(6));
});

test('a join that does not recover releases what it held after its state', () => {
  const r = new Recovery();
  r.track('alpha');
  r.joining('alpha', 'r1');
  assert.deepEqual(shown(r.route(event(8))), []);
  const acked = r.route({ type: 'ack', ref: 'r1', recovered: false });
  assert.deepEqual(acked.synced, { room: 'alpha', recovered: false });
  assert.deepEqual(shown(r.route(event(9))), [], 'still held until the state');
  const state = r.route({ type: 'state', room: 'alpha', version: 4, state: { bg: 0, icons: {} }, offset: 8, epoch: 'e1' });
  assert.deepEqual(shown(state), ['state', 9], 'the state, then what is above it (8 is in it)');
  assert.deepEqual(r.position('alpha'), at(9));
});
