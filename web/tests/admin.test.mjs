// Browser tests of the gateway's /admin page: with WebSocket clients in two rooms and
// edits flowing, the page lists both rooms with their member and user counts and its
// latency plot fills in while it is open; one user's two tabs show as one user; without
// the API key the page, its modules and its event stream are refused.

import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Gateway, REPO_DIR, WAIT_MS, hsToken, launchBrowser, saveScreenshot } from './harness.mjs';

/** @typedef {import('playwright-core').Page} Page */

const KEY = 'admin-test-key';
/** [room, clients, of which planetstack-format]: a crowd besides the two rooms, for the screenshot. */
const ROOMS = /** @type {[string, number, number][]} */ ([
  ['alpha', 3, 0],
  ['beta', 2, 1],
  ['crowd', 40, 0],
]);
/** Milliseconds between two edits in each room. */
const EDIT_EVERY = { alpha: 100, beta: 250, crowd: 200 };

/** @type {Gateway} */
let gw;
/** @type {import('playwright-core').Browser} */
let browser;

/**
 * What the admin page shows, read from the DOM.
 * @param {Page} page
 */
function readAdmin(page) {
  return page.evaluate(() => {
    /** @type {Record<string, number>} */
    const rooms = {};
    /** The text of each room's cell in the `users` column, as an operator reads it. */
    /** @type {Record<string, string>} */
    const users = {};
    const usersColumn = [...document.querySelectorAll('#rooms thead th')].findIndex((th) => th.textContent === 'users');
    for (const tr of document.querySelectorAll('#rooms tbody tr')) {
      if (!(tr instanceof HTMLElement) || !tr.dataset.room) continue;
      rooms[tr.dataset.room] = Number(tr.dataset.members);
      users[tr.dataset.room] = tr.children[usersColumn]?.textContent ?? '';
    }
    const figures = (/** @type {string} */ id) =>
      Object.fromEntries([...document.querySelectorAll(`#${id} dt`)].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]));
    const latency = document.getElementById('plot-latency');
    return {
      feed: document.getElementById('feed')?.dataset.state ?? '',
      rooms,
      users,
      connections: figures('connections'),
      fanout: figures('fanout'),
      latencyValues: Number(latency?.dataset.values ?? 0),
      latencyPoints: Number(latency?.dataset.points ?? 0),
      lines: latency?.querySelectorAll('polyline').length ?? 0,
    };
  });
}

/** @typedef {Awaited<ReturnType<typeof readAdmin>>} AdminView */

/**
 * Wait until the admin page's view satisfies `pred`.
 * @param {Page} page
 * @param {string} what
 * @param {(v: AdminView) => boolean} pred
 */
async function until(page, what, pred) {
  const deadline = Date.now() + WAIT_MS;
  /** @type {AdminView | null} */
  let last = null;
  while (Date.now() < deadline) {
    last = await readAdmin(page);
    if (pred(last)) return last;
    await page.waitForTimeout(100);
  }
  assert.fail(`timed out after ${WAIT_MS} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

/**
 * Open the sockets of `rooms` from `page` and have one roomcast.v1 client per room
 * change the room's background every `every[room]` ms, until the page closes.
 * @param {Page} page
 * @param {[string, number, number][]} rooms
 * @param {Record<string, number>} every
 */
function startLoad(page, rooms, every) {
  return page.evaluate(
    async ([rooms, every]) => {
      /** @param {string} room @param {boolean} planetstack @returns {Promise<WebSocket>} */
      const open = (room, planetstack) =>
        new Promise((resolve, reject) => {
          const url = new URL(`/dev?room=${room}`, location.href);
          url.protocol = 'ws:';
          const ws = planetstack ? new WebSocket(url) : new WebSocket(url, 'roomcast.v1');
          ws.onopen = () => resolve(ws);
          ws.onerror = () => reject(new Error(`a socket to ${room} failed`));
        });
      for (const [room, count, planetstacks] of rooms) {
        const sockets = [];
        for (let i = 0; i < count; i++) sockets.push(await open(room, i < planetstacks));
        const editor = sockets[planetstacks];
        let bg = 0;
        setInterval(() => {
          bg = 1 - bg;
          editor.send(JSON.stringify({ action: 'changeBackground', room, bg }));
        }, every[room]);
      }
    },
    /** @type {const} */ ([rooms, every]),
  );
}

describe('the /admin page', { timeout: 120_000 }, () => {
  before(async () => {
    gw = await Gateway.create({ args: ['--api-key', KEY] });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await gw?.dispose();
  });

  test('without the API key, the page, its modules and its stream are refused', async () => {
    for (const p of ['/admin', '/admin/', '/admin/events', '/admin/main.js', '/admin?key=wrong']) {
      const res = await fetch(`${gw.url}${p}`);
      assert.equal(res.status, 401, `${p} without the key`);
      await res.body?.cancel();
    }
    // The same requests with the key pass: the refusals are about the key.
    const withHeader = await fetch(`${gw.url}/admin`, { headers: { 'x-api-key': KEY } });
    assert.equal(withHeader.status, 200);
    assert.match(await withHeader.text(), /roomcast · admin/);

    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(`${gw.url}/admin`);
      assert.equal(response?.status(), 401);
      // An EventSource without the cookie is refused and gives up (no retries on 401).
      const state = await page.evaluate(
        () =>
          new Promise((resolve) => {
            const events = new EventSource('/admin/events');
            events.onmessage = () => resolve('message');
            events.onerror = () => resolve(events.readyState === EventSource.CLOSED ? 'closed' : 'retrying');
          }),
      );
      assert.equal(state, 'closed');
    } finally {
      await context.close();
    }
  });

  test('lists both rooms with their member and user counts while the latency plot fills in', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
    try {
      const clients = await context.newPage();
      await clients.goto(`${gw.url}/healthz`);
      await startLoad(clients, ROOMS, EDIT_EVERY);

      const admin = await context.newPage();
      /** @type {string[]} */
      const errors = [];
      admin.on('pageerror', (e) => errors.push(e.message));
      const response = await admin.goto(`${gw.url}/admin?key=${KEY}`);
      assert.equal(response?.status(), 200);
      const first = await until(admin, 'alpha with 3 members and beta with 2', (v) => v.rooms.alpha === 3 && v.rooms.beta === 2);
      assert.equal(first.feed, 'live');
      assert.equal(first.rooms.crowd, 40);
      // Without tokens every connection is its own user.
      assert.deepEqual(first.users, { alpha: '3', beta: '2', crowd: '40' });

      // The latency plot gains a value with every second of deliveries.
      const grown = await until(admin, 'three more latency values', (v) => v.latencyValues >= first.latencyValues + 3);
      assert.ok(grown.latencyPoints > first.latencyPoints);
      assert.ok(grown.lines >= 2, 'p50 and p99 are drawn');
      assert.match(grown.fanout['latency p50 / p99, ms'] ?? '', /^[\d.,]+ \/ [\d.,]+$/);
      // Under the default budget the fan-out counts the connections it writes to.
      assert.match(grown.fanout['connections written, last 250 ms'] ?? '', /^\d[\d,]*$/);
      assert.equal(grown.connections['open'], '45');
      assert.equal(grown.connections['roomcast.v1 / planetstack'], '44 / 1');

      // The search narrows the table to matching rooms.
      await admin.fill('#room-search', 'alp');
      const searched = await readAdmin(admin);
      assert.deepEqual(Object.keys(searched.rooms), ['alpha']);
      await admin.fill('#room-search', '');

      // A committed picture of a live page would change every run: written when
      // missing, or on request.
      const file = path.join(REPO_DIR, 'docs', 'screenshots', 'admin.png');
      const missing = await access(file).then(() => false, () => true);
      if (missing || process.env.ROOMCAST_UPDATE_SCREENSHOTS === '1') {
        await until(admin, 'a quarter minute of plots', (v) => v.latencyPoints >= 15);
        const written = await saveScreenshot(admin, file);
        console.log(`screenshot: ${file} (${written ? 'written' : 'unchanged'})`);
      }
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('the /admin page with connect tokens', { timeout: 60_000 }, () => {
  const SECRET = 'admin-test-secret';
  /** @type {Gateway} */
  let gw;
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    gw = await Gateway.create({ args: ['--api-key', KEY, '--jwt-secret', SECRET] });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await gw?.dispose();
  });

  test("counts one user's two tabs once in the users column", async () => {
    const context = await browser.newContext();
    try {
      const clients = await context.newPage();
      await clients.goto(`${gw.url}/healthz`);
      const tokens = ['ada', 'ada', 'bob'].map((sub) => hsToken(sub, SECRET));
      await clients.evaluate(async (tokens) => {
        const sockets = [];
        for (const token of tokens) {
          const url = new URL(`/dev?room=family&token=${token}`, location.href);
          url.protocol = 'ws:';
          const ws = new WebSocket(url, 'roomcast.v1');
          await new Promise((resolve, reject) => {
            ws.onopen = resolve;
            ws.onerror = () => reject(new Error('a socket to family failed'));
          });
          sockets.push(ws);
        }
        // Held by the page, so the room keeps its members while the page is open.
        Object.assign(window, { familySockets: sockets });
      }, tokens);

      const admin = await context.newPage();
      const response = await admin.goto(`${gw.url}/admin?key=${KEY}`);
      assert.equal(response?.status(), 200);
      const view = await until(admin, 'family with 3 members', (v) => v.rooms.family === 3);
      assert.equal(view.users.family, '2', 'ada and bob');
    } finally {
      await context.close();
    }
  });
});
