// The page's history watermark (js/history.js): each frame once, whatever the order
// and repetition of delivery, and `since` only ever covering what arrived.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Watermark, positionOf } from '../js/history.js';

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
