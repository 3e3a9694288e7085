// The server's word on a room's version, for tests that want pages "in step".

import assert from 'node:assert/strict';
import { WAIT_MS, snapshot } from './harness.mjs';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').Page} Page */

/**
 * The server's word on a room's version: a bare `roomcast.v1` socket, in no room, that
 * asks `getState` (whose `ack` carries the version). Tests that want two pages "in
 * step" compare both with this, never one page with the other: a page's snapshot is
 * only what it has rendered so far, and any page may be the one that lags.
 */
export class Probe {
  /** @param {Page} page  a page of the gateway's origin that runs no game */
  constructor(page) {
    this.page = page;
  }

  /** @param {Browser} browser @param {string} url  the gateway's base URL */
  static async open(browser, url) {
    const page = await browser.newPage();
    await page.goto(`${url}/healthz`);
    return new Probe(page);
  }

  /**
   * The room's current version; rejects when the gateway is not answering. The socket
   * is (re)opened as needed, so a restarted gateway is asked on a new one.
   * @param {string} room
   * @returns {Promise<number>}
   */
  version(room) {
    return this.page.evaluate(async (room) => {
      const w = /** @type {any} */ (window);
      if (!w.probe || w.probe.readyState !== WebSocket.OPEN) {
        const url = new URL('/dev?room=probe', location.href);
        url.protocol = 'ws:';
        const ws = new WebSocket(url, 'roomcast.v1');
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = () => reject(new Error('probe: could not connect'));
        });
        // Out of its connect room, so that no base and no lobby counts it.
        ws.send(JSON.stringify({ action: 'leave', room: 'probe' }));
        w.probe = ws;
        w.probeRefs = 0;
      }
      /** @type {WebSocket} */
      const ws = w.probe;
      const ref = `probe${++w.probeRefs}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('probe: no answer')), 5000);
        ws.addEventListener('message', function answer(m) {
          const f = JSON.parse(m.data);
          if (f.ref !== ref) return;
          ws.removeEventListener('message', answer);
          clearTimeout(timer);
          if (f.type === 'ack') resolve(f.version);
          else reject(new Error(`probe: ${f.code}`));
        });
        ws.send(JSON.stringify({ action: 'getState', room, ref }));
      });
    }, room);
  }

  async close() {
    await this.page.close();
  }
}

/**
 * Wait until every page in `pages` shows `room`'s current version, as the server
 * tells it (asked again each time round); resolves with their snapshots, in order.
 * Comparing one page with another instead races: the page read first may not have
 * rendered the last change yet, and then the other, already past it, never matches.
 * @param {Probe} probe
 * @param {string} what  for the failure message
 * @param {string} room
 * @param {Page[]} pages
 */
export async function waitInStep(probe, what, room, pages) {
  const deadline = Date.now() + WAIT_MS;
  /** @type {unknown} */
  let last = null;
  while (Date.now() < deadline) {
    const server = await probe.version(room).catch((e) => String(e));
    const shown = await Promise.all(pages.map((p) => snapshot(p)));
    if (shown.every((s) => s.version === server)) return shown;
    last = { server, shown: shown.map((s) => s.version) };
    await pages[0].waitForTimeout(40);
  }
  assert.fail(`timed out after ${WAIT_MS} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}
