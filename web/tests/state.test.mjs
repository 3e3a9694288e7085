// The version rule of docs/protocol.md, as the browser applies it (js/state.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoomState } from '../js/state.js';

const ID = 'icon2JgQqVmJzPZhs4QHa1XKfK9Ax2T';
const ID2 = 'icon3MankMC0w82wnPvdBZMx7e7o737';

/** @param {number} x */
const move = (x) => ({ moveIcon: { id: ID, img: 3, x, y: 5 } });

function synced() {
  const s = new RoomState('alpha');
  assert.equal(s.applyState(4, { bg: 1, icons: { [ID]: { img: 3, x: 0, y: 5 } } }), true);
  return s;
}

test('patches before the first state wait for it; those it already covers are dropped', () => {
  const s = new RoomState('alpha');
  assert.equal(s.applyPatch(4, move(40)), 'early');
  assert.equal(s.applyPatch(5, move(50)), 'early');
  s.applyState(4, { bg: 0, icons: { [ID]: { img: 3, x: 1, y: 5 } } });
  assert.equal(s.version, 5);
  assert.equal(s.icons.get(ID)?.x, 50);
});

test('version + 1 applies; older and duplicate patches are dropped', () => {
  const s = synced();
  assert.equal(s.applyPatch(5, move(50)), 'applied');
  assert.equal(s.applyPatch(5, move(99)), 'duplicate');
  assert.equal(s.applyPatch(3, move(99)), 'duplicate');
  assert.equal(s.version, 5);
  assert.equal(s.icons.get(ID)?.x, 50);
});

test('a gap is reported and buffered; the missing patch fills it in order', () => {
  const s = synced();
  assert.equal(s.applyPatch(7, move(70)), 'gap');
  assert.equal(s.hasGap, true);
  assert.equal(s.version, 4);
  assert.equal(s.applyPatch(6, { addIcon: { id: ID2, img: 1, x: 2, y: 3 } }), 'gap');
  assert.equal(s.applyPatch(5, move(50)), 'applied');
  assert.equal(s.version, 7);
  assert.equal(s.hasGap, false);
  assert.equal(s.icons.get(ID)?.x, 70);
  assert.deepEqual(s.icons.get(ID2), { img: 1, x: 2, y: 3 });
});

test('a state resolves a gap; an older state is ignored', () => {
  const s = synced();
  s.applyPatch(9, { changeBackground: { bg: 6 } });
  assert.equal(s.applyState(8, { bg: 2, icons: {} }), true);
  assert.equal(s.version, 9);
  assert.equal(s.bg, 6);
  assert.equal(s.icons.size, 0);
  assert.equal(s.applyState(7, { bg: 0, icons: {} }), false);
  assert.equal(s.bg, 6);
});

test('after a reconnect any state is taken, even an older one (a reset store)', () => {
  const s = synced();
  s.applyPatch(5, { deleteIcon: { id: ID } });
  s.unsync();
  assert.equal(s.applyPatch(6, move(1)), 'early');
  assert.equal(s.applyState(2, { bg: 3, icons: {} }), true);
  assert.equal(s.version, 2);
  assert.equal(s.bg, 3);
});

test('every applied change is announced once, in version order', () => {
  const s = synced();
  /** @type {number[]} */
  const seen = [];
  s.subscribe((c) => {
    if (c.kind === 'patch') seen.push(c.version);
  });
  s.applyPatch(6, move(6));
  s.applyPatch(5, move(5));
  s.applyPatch(5, move(5));
  assert.deepEqual(seen, [5, 6]);
});
