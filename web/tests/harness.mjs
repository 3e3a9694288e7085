// Test harness: the real gateway binary as a child process (start, kill, restart on the
// same port and data dir) and Debian's Chromium driven by playwright-core.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').Page} Page */

export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(WEB_DIR, '..');
/** How long any single condition may take to come true (a loaded 2-core machine). */
export const WAIT_MS = Number(process.env.ROOMCAST_TEST_WAIT_MS ?? 20_000);

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  // Several pages play at once: keep background pages' timers running.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/** A port that was free a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** @param {number} ms */
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** The real gateway (`roomcast`) on a fixed port and data dir, restartable. */
export class Gateway {
  /**
   * @param {{bin: string, port: number, dataDir: string, args?: string[]}} opts
   */
  constructor(opts) {
    this.bin = opts.bin;
    /** Extra flags (e.g. `--jwt-secret`). */
    this.args = opts.args ?? [];
    this.port = opts.port;
    this.dataDir = opts.dataDir;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    /** The last lines of output, shown when something fails. */
    this.log = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** @param {{bin?: string, port?: number, args?: string[]}} [opts] */
  static async create(opts = {}) {
    const bin = opts.bin ?? process.env.ROOMCAST_BIN ?? path.join(REPO_DIR, 'target', 'debug', 'roomcast');
    const dataDir = await mkdtemp(path.join(tmpdir(), 'roomcast-web-'));
    const port = opts.port ?? (await freePort());
    const gw = new Gateway({ bin: path.resolve(WEB_DIR, bin), port, dataDir, args: opts.args });
    await gw.start();
    return gw;
  }

  /** Start and wait for `/healthz`; retries while the port is still held by the last run. */
  async start() {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const proc = spawn(
        this.bin,
        ['--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir, '--web-dir', WEB_DIR, ...this.args],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } },
      );
      this.proc = proc;
      const append = (/** @type {Buffer} */ b) => {
        this.log = (this.log + b.toString()).slice(-8000);
      };
      proc.stdout?.on('data', append);
      proc.stderr?.on('data', append);
      /** @type {Promise<'exited'>} */
      const exited = new Promise((resolve) => {
        proc.once('exit', () => resolve('exited'));
        proc.once('error', (e) => {
          append(Buffer.from(`spawn error: ${e.message}\n`));
          resolve('exited');
        });
      });
      const healthy = this.waitHealthy(deadline, exited);
      if ((await healthy) === 'ok') return;
      if (Date.now() > deadline) throw new Error(`gateway did not become healthy on port ${this.port}:\n${this.log}`);
      await delay(200);
    }
  }

  /**
   * @param {number} deadline
   * @param {Promise<'exited'>} exited
   * @returns {Promise<'ok' | 'exited'>}
   */
  async waitHealthy(deadline, exited) {
    let gone = false;
    void exited.then(() => (gone = true));
    while (!gone && Date.now() < deadline) {
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) return 'ok';
      } catch {
        // not up yet
      }
      await delay(100);
    }
    if (!gone) {
      this.proc?.kill('SIGKILL');
      await exited;
    }
    return 'exited';
  }

  /** @param {NodeJS.Signals} signal */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async dispose() {
    await this.stop('SIGKILL');
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * An HS256 token for `sub`, valid for ten minutes (for a gateway with `--jwt-secret`).
 * @param {string} sub
 * @param {string} secret
 */
export function hsToken(sub, secret) {
  const b64 = (/** @type {object} */ v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 600 })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** Debian's Chromium with a fresh profile (Playwright makes a temporary user-data-dir per launch). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * A player: a page in its own browser context, with what its socket received recorded.
 * @param {Browser} browser
 * @param {string} url
 * @param {{touch?: boolean}} [opts]  a touch screen instead of a mouse
 */
export async function openPlayer(browser, url, opts = {}) {
  const context = await browser.newContext({
    viewport: opts.touch ? { width: 900, height: 700 } : { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    hasTouch: opts.touch ?? false,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  /** @type {string[]} */
  const received = [];
  /** @type {{at: number, data: string}[]} */
  const sent = [];
  /** @type {string[]} */
  const errors = [];
  page.on('websocket', (ws) => {
    ws.on('framereceived', (f) => received.push(String(f.payload)));
    ws.on('framesent', (f) => sent.push({ at: Date.now(), data: String(f.payload) }));
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, context, received, sent, errors };
}

/**
 * What a page shows, read from the DOM.
 * @param {Page} page
 */
export function snapshot(page) {
  return page.evaluate(() => {
    /** @type {Record<string, {img: number, x: number, y: number}>} */
    const icons = {};
    for (const el of document.querySelectorAll('#icons .icon[data-id]')) {
      if (!(el instanceof HTMLElement) || !el.dataset.id) continue;
      icons[el.dataset.id] = { img: Number(el.dataset.img), x: Number(el.dataset.x), y: Number(el.dataset.y) };
    }
    const text = (/** @type {string} */ id) => document.getElementById(id)?.textContent ?? '';
    return {
      conn: document.getElementById('conn')?.dataset.state ?? '',
      version: Number(text('version')),
      builders: Number(text('builders')),
      bg: Number(document.getElementById('stage')?.dataset.bg ?? -1),
      icons,
    };
  });
}

/**
 * Save a screenshot of `page` to `file`, unless the picture there already looks the
 * same (Chromium's anti-aliasing varies by a few pixels between runs; a committed
 * picture should not change with every test run). Compared in the page's own canvas.
 * @param {Page} page
 * @param {string} file
 * @returns {Promise<boolean>} whether the file was written
 */
export async function saveScreenshot(page, file) {
  const shot = await page.screenshot({ animations: 'disabled', caret: 'hide' });
  /** @type {Buffer | null} */
  let old = null;
  try {
    old = await readFile(file);
  } catch {
    old = null;
  }
  if (old) {
    const differing = await page.evaluate(async ([a, b]) => {
      /** @param {string} b64 @returns {Promise<HTMLImageElement>} */
      const load = (b64) =>
        new Promise((resolve, reject) => {
          const img = new Image();
          img.onload = () => resolve(img);
          img.onerror = reject;
          img.src = `data:image/png;base64,${b64}`;
        });
      const [ia, ib] = await Promise.all([load(a), load(b)]);
      if (ia.width !== ib.width || ia.height !== ib.height) return Infinity;
      const canvas = document.createElement('canvas');
      canvas.width = ia.width;
      canvas.height = ia.height;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      if (!ctx) return Infinity;
      ctx.drawImage(ia, 0, 0);
      const da = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(ib, 0, 0);
      const db = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < da.length; i += 4) {
        if (Math.abs(da[i] - db[i]) + Math.abs(da[i + 1] - db[i + 1]) + Math.abs(da[i + 2] - db[i + 2]) > 24) n++;
      }
      return n;
    }, [old.toString('base64'), shot.toString('base64')]);
    if (differing < 200) return false;
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, shot);
  return true;
}
