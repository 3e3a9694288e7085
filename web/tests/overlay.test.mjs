// The player's optimistic edits (js/overlay.js): a drop shows until the base holds its
// ack's version, a scrap until the module is gone, and a failed request shows the
// server's state again at once.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Overlay } from '../js/overlay.js';
import { RoomState } from '../js/state.js';

const ID = 'icon2JgQqVmJzPZhs4QHa1XKfK9Ax2T';
const ID2 = 'icon3MankMC0w82wnPvdBZMx7e7o737';

/** @param {string} id @param {number} x */
const move = (id, x) => ({ moveIcon: { id, img: 3, x, y: 5 } });

/** A base at version 4 holding both modules at x 0. */
function base() {
  const s = new RoomState('alpha');
  s.applyState(4, { bg: 0, icons: { [ID]: { img: 3, x: 0, y: 5 }, [ID2]: { img: 1, x: 0, y: 5 } } });
  return s;
}

test('a drop shows until the base holds the version of its ack, not before', () => {
  const b = base();
  const o = new Overlay();
  o.move(ID, 70, 5);
  // Unanswered: whatever the base holds meanwhile, the drop stays.
  b.applyPatch(5, move(ID, 20));
  o.prune(b);
  assert.deepEqual(o.placed.get(ID), { x: 70, y: 5, until: Number.MAX_SAFE_INTEGER });
  o.moveAcked(ID, 70, 5, 6);
  o.prune(b);
  assert.equal(o.isPlaced(ID), true, 'version 5 is not the move yet');
  b.applyPatch(6, move(ID, 70));
  o.prune(b);
  assert.equal(o.isPlaced(ID), false);
});

test('the ack may come after its patch: the drop goes at the next look', () => {
  const b = base();
  const o = new Overlay();
  o.move(ID, 70, 5);
  b.applyPatch(5, move(ID, 70));
  o.prune(b);
  assert.equal(o.isPlaced(ID), true);
  o.moveAcked(ID, 70, 5, 5);
  o.prune(b);
  assert.equal(o.isPlaced(ID), false);
});

test("an older move's ack does not end a newer drop of the same module", () => {
  const b = base();
  const o = new Overlay();
  o.move(ID, 70, 5);
  o.move(ID, 90, 5);
  o.moveAcked(ID, 70, 5, 5);
  b.applyPatch(5, move(ID, 70));
  o.prune(b);
  assert.deepEqual(o.placed.get(ID), { x: 90, y: 5, until: Number.MAX_SAFE_INTEGER });
  o.moveAcked(ID, 90, 5, 6);
  b.applyPatch(6, move(ID, 90));
  o.prune(b);
  assert.equal(o.isPlaced(ID), false);
});

test('a refused or lost move drops at once; so does a drop whose module is gone', () => {
  const b = base();
  const o = new Overlay();
  o.move(ID, 70, 5);
  o.move(ID2, 80, 5);
  o.moveFailed(ID);
  assert.equal(o.isPlaced(ID), false);
  b.applyPatch(5, { deleteIcon: { id: ID2 } });
  o.prune(b);
  assert.equal(o.isPlaced(ID2), false);
});

test('after a reconnect, a version is not compared with an ack until a state is taken', () => {
  const b = base();
  const o = new Overlay();
  o.move(ID, 70, 5);
  o.moveAcked(ID, 70, 5, 3);
  b.unsync();
  o.prune(b);
  assert.equal(o.isPlaced(ID), true, 'the held version (4) may be from a reset store');
  b.applyState(6, { bg: 0, icons: { [ID]: { img: 3, x: 70, y: 5 } } });
  o.prune(b);
  assert.equal(o.isPlaced(ID), false);
});

test('a scrap hides the module until it is gone; a refused one shows it again', () => {
  const b = base();
  const o = new Overlay();
  o.scrap(ID);
  o.scrap(ID2);
  o.prune(b);
  assert.equal(o.isScrapped(ID), true);
  b.applyPatch(5, { deleteIcon: { id: ID } });
  o.prune(b);
  assert.equal(o.isScrapped(ID), false);
  o.scrapFailed(ID2);
  assert.equal(o.isScrapped(ID2), false);
  assert.deepEqual([...o.scrapping], []);
});

test('clear forgets every edit (another base)', () => {
  const o = new Overlay();
  o.move(ID, 1, 2);
  o.scrap(ID2);
  o.clear();
  assert.equal(o.placed.size + o.scrapping.size, 0);
});
