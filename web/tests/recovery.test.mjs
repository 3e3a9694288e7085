// Recovery in the browser against the real local gateway: a page whose socket drops
// while another page edits the base re-joins with `since` and gets exactly the
// patches it missed (no `state`), and shows builders by user, not by connection.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Gateway, WAIT_MS, hsToken, launchBrowser, openPlayer, snapshot } from './harness.mjs';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {Awaited<ReturnType<typeof openPlayer>>} Player */
/** @typedef {Awaited<ReturnType<typeof snapshot>>} Snapshot */

/** @type {Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Player} */
let a;
/** @type {Player} */
let b;

/**
 * @param {Page} page
 * @param {string} what
 * @param {(s: Snapshot) => boolean} pred
 */
async function until(page, what, pred) {
  const deadline = Date.now() + WAIT_MS;
  /** @type {Snapshot | null} */
  let last = null;
  while (Date.now() < deadline) {
    last = await snapshot(page);
    if (pred(last)) return last;
    await page.waitForTimeout(40);
  }
  assert.fail(`timed out after ${WAIT_MS} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

/**
 * Requests sent on `page`'s own connection, in order, each awaited: the acks.
 * @param {Page} page
 * @param {Record<string, unknown>[]} requests
 * @returns {Promise<{version?: number, id?: string}[]>}
 */
function send(page, requests) {
  return page.evaluate(async (requests) => {
    const conn = /** @type {any} */ (window).roomcast.conn;
    const acks = [];
    for (const r of requests) acks.push(await conn.request(r));
    return acks;
  }, requests);
}

const SECRET = '0123456789abcdef0123456789abcdef';
/** A page of player `sub` in base alpha. @param {string} sub */
const alpha = (sub) => `${gw.url}/?token=${hsToken(sub, SECRET)}#/base/alpha`;

before(async () => {
  gw = await Gateway.create({ args: ['--jwt-secret', SECRET] });
  browser = await launchBrowser();
  a = await openPlayer(browser, alpha('ada'));
  b = await openPlayer(browser, alpha('bob'));
  await Promise.all([a, b].map((p) => until(p.page, 'live', (s) => s.conn === 'live')));
});

after(async () => {
  for (const p of [a, b]) if (p?.errors.length) console.log('page errors:', p.errors);
  await browser?.close();
  await gw?.dispose();
});

describe('recovery', { timeout: 120_000 }, () => {
  test('a page whose socket drops gets exactly the missed patches via since, and no state', async () => {
    const [first] = await send(a.page, [{ action: 'addIcon', room: 'alpha', icon: { img: 1, x: 300, y: 700 } }]);
    assert.ok(first.id, 'the ack names the new module');
    await until(b.page, 'b has the first module', (s) => first.id !== undefined && first.id in s.icons);

    // b's socket drops, and b cannot reconnect until the edits are done.
    await b.page.evaluate(() => {
      const w = /** @type {any} */ (window);
      const conn = w.roomcast.conn;
      const socketUrl = conn.opts.socketUrl;
      const gate = new Promise((resolve) => (w.reopen = resolve));
      conn.opts.socketUrl = async () => {
        await gate;
        return socketUrl();
      };
      conn.ws.close();
    });
    await until(b.page, 'b reconnecting', (s) => s.conn === 'reconnecting');

    const edits = [
      ...[2, 3, 4, 5].map((img) => ({ action: 'addIcon', room: 'alpha', icon: { img, x: 200 + 150 * img, y: 760 } })),
      { action: 'changeBackground', room: 'alpha', bg: 5 },
      { action: 'moveIcon', room: 'alpha', icon: { id: first.id, img: 1, x: 900, y: 820 } },
    ];
    const acks = await send(a.page, edits);
    const missed = acks.map((k) => k.version);
    const done = await until(a.page, 'a has every edit', (s) => s.version === missed[missed.length - 1]);

    const mark = b.received.length;
    const sentMark = b.sent.length;
    await b.page.evaluate(() => /** @type {any} */ (window).reopen());
    const caught = await until(b.page, 'b caught up', (s) => s.conn === 'live' && s.version === done.version);
    assert.deepEqual(caught.icons, done.icons);
    assert.equal(caught.bg, 5);

    const join = b.sent
      .slice(sentMark)
      .map((f) => JSON.parse(f.data))
      .find((m) => m.action === 'join' && m.room === 'alpha');
    assert.ok(join?.since, `the re-join carries since: ${JSON.stringify(join)}`);
    const frames = b.received.slice(mark).map((f) => JSON.parse(f));
    const patches = frames.filter((m) => m.type === 'patch' && m.room === 'alpha').map((m) => m.version);
    const states = frames.filter((m) => m.type === 'state' && m.room === 'alpha');
    const ack = frames.find((m) => m.type === 'ack' && m.ref === join.ref);
    console.log(
      `recovery: ${edits.length} edits while away; the re-join since offset ${join.since.offset} got ` +
        `${patches.length} patches (versions ${patches.join(',')}), ${states.length} state frames, recovered=${ack?.recovered}`,
    );
    assert.deepEqual(patches, missed, 'exactly the missed patches, in order, once');
    assert.equal(states.length, 0, 'no state');
    assert.equal(ack?.recovered, true);
  });

  test('builders are users: a second tab of one player is not a second builder', async () => {
    await until(a.page, 'a: 2 builders', (s) => s.builders === 2);
    const tab = await openPlayer(browser, alpha('ada'));
    try {
      await until(tab.page, 'the second tab is live', (s) => s.conn === 'live' && s.builders === 2);
      /** The newest presence frame of alpha `p` received. @param {Player} p */
      const presence = (p) =>
        p.received
          .map((f) => JSON.parse(f))
          .filter((m) => m.type === 'presence' && m.room === 'alpha')
          .pop();
      const deadline = Date.now() + WAIT_MS;
      while (presence(b)?.members !== 3 && Date.now() < deadline) await b.page.waitForTimeout(40);
      assert.deepEqual([presence(b)?.members, presence(b)?.users], [3, 2], 'three connections, two users');
      assert.equal((await snapshot(b.page)).builders, 2);
      console.log(`presence: ada in two tabs + bob -> members ${presence(b)?.members}, users ${presence(b)?.users}; builders shown 2`);
      // Ada closes her second tab: one connection fewer, the same two builders.
      const mark = b.received.length;
      await tab.context.close();
      const deadline2 = Date.now() + WAIT_MS;
      const after = () =>
        b.received
          .slice(mark)
          .map((f) => JSON.parse(f))
          .filter((m) => m.type === 'presence' && m.room === 'alpha')
          .pop();
      while (after()?.members !== 2 && Date.now() < deadline2) await b.page.waitForTimeout(40);
      assert.deepEqual([after()?.members, after()?.users], [2, 2], 'the tab closed, the user stays');
      assert.equal((await snapshot(b.page)).builders, 2);
    } finally {
      if (!tab.page.isClosed()) await tab.context.close();
    }
  });
});
