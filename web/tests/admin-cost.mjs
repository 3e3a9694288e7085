// What an open /admin page costs a busy gateway: N raw WebSocket clients in one room,
// a publisher emitting 1 KB messages into it through the HTTP publish API, and then,
// in alternating windows, 0, 1 and 5 `/admin/events` subscribers (what an open page
// holds). Per window it reads the gateway's CPU time and RSS from /proc.
//
//   cd web && ROOMCAST_BIN=../target/release/roomcast node tests/admin-cost.mjs
//
// Settings (environment): CLIENTS (1000), RATE messages/s (10), PAYLOAD bytes (1024),
// WINDOW seconds (20), SUBSCRIBERS (0,1,5), ROUNDS (3). Not a test: it asserts
// nothing and is not matched by `npm test`.

import { execSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { loadavg } from 'node:os';
import { Gateway } from './harness.mjs';

const env = (/** @type {string} */ name, /** @type {string} */ fallback) => process.env[name] ?? fallback;
const CLIENTS = Number(env('CLIENTS', '1000'));
const RATE = Number(env('RATE', '10'));
const PAYLOAD = Number(env('PAYLOAD', '1024'));
const WINDOW = Number(env('WINDOW', '20'));
const SUBSCRIBERS = env('SUBSCRIBERS', '0,1,5').split(',').map(Number);
const ROUNDS = Number(env('ROUNDS', '3'));
const KEY = 'cost-key';
const CLK_TCK = Number(execSync('getconf CLK_TCK').toString().trim());

/** @param {number} ms */
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** Bytes every client and subscriber received, for the report. */
const received = { clients: 0, admin: 0 };
/** `buildMicros` of every snapshot the subscribers received (each gateway-side cost once per snapshot). */
const builds = new Map();

/**
 * A roomcast.v1 client that joins `room` at connect and then only reads (and drops)
 * what it is sent: the cost under test is the gateway's, not a client's parser.
 * @param {number} port
 * @param {string} room
 * @returns {Promise<net.Socket>}
 */
function client(port, room) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let upgraded = false;
    socket.on('connect', () =>
      socket.write(
        `GET /dev?room=${room} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.from(String(Math.random())).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          'Sec-WebSocket-Protocol: roomcast.v1\r\n\r\n',
      ),
    );
    socket.on('data', (chunk) => {
      received.clients += chunk.length;
      if (!upgraded) {
        upgraded = true;
        if (chunk.toString('latin1').startsWith('HTTP/1.1 101')) resolve(socket);
        else reject(new Error(`no upgrade: ${chunk.toString('latin1').split('\r\n')[0]}`));
      }
    });
    socket.on('error', reject);
  });
}

/**
 * An `/admin/events` subscriber, as an open page holds one.
 * @param {number} port
 */
function subscriber(port) {
  const request = http.get({ host: '127.0.0.1', port, path: `/admin/events?key=${KEY}` }, (res) => {
    if (res.statusCode !== 200) throw new Error(`/admin/events answered ${res.statusCode}`);
    res.on('data', (chunk) => {
      received.admin += chunk.length;
      for (const m of chunk.toString().matchAll(/"at":(\d+),"intervalSeconds":[\d.e-]+,"buildMicros":(\d+)/g)) builds.set(m[1], Number(m[2]));
    });
  });
  request.on('error', () => {});
  return request;
}

/**
 * The gateway's CPU seconds so far and its RSS now, from /proc.
 * @param {number} pid
 */
async function proc(pid) {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
  return { cpu: (Number(stat[11]) + Number(stat[12])) / CLK_TCK, rssMiB: rssKb / 1024 };
}

const gw = await Gateway.create({
  args: ['--api-key', KEY, '--connects-per-second', '1000000', '--connects-per-second-per-ip', '0'],
});
const pid = gw.proc?.pid;
if (!pid) throw new Error('the gateway is not running');
try {
  const sockets = [];
  for (let i = 0; i < CLIENTS; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, CLIENTS - i) }, () => client(gw.port, 'bench')))));
  }
  const body = JSON.stringify({ event: 'tick', data: { pad: 'x'.repeat(PAYLOAD) } });
  const publisher = setInterval(() => {
    void fetch(`${gw.url}/rooms/bench/emit`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body })
      .then((r) => r.arrayBuffer())
      .catch(() => {});
  }, 1000 / RATE);
  await delay(5000);

  /** @type {Map<number, {cpu: number, rss: number, adminBytes: number, clientBytes: number, load: number}[]>} */
  const results = new Map(SUBSCRIBERS.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of SUBSCRIBERS) {
      const subs = Array.from({ length: n }, () => subscriber(gw.port));
      await delay(3000);
      const before = await proc(pid);
      const bytes = { ...received };
      const t0 = performance.now();
      await delay(WINDOW * 1000);
      const after = await proc(pid);
      const seconds = (performance.now() - t0) / 1000;
      results.get(n)?.push({
        cpu: ((after.cpu - before.cpu) / seconds) * 100,
        rss: after.rssMiB,
        adminBytes: n > 0 ? (received.admin - bytes.admin) / seconds / n : 0,
        clientBytes: (received.clients - bytes.clients) / seconds,
        load: loadavg()[0],
      });
      subs.forEach((s) => s.destroy());
      console.error(`round ${round + 1}, ${n} subscriber(s): ${JSON.stringify(results.get(n)?.at(-1))}`);
    }
  }
  clearInterval(publisher);
  sockets.forEach((s) => s.destroy());

  const mean = (/** @type {number[]} */ xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Each snapshot reports the previous one's cost (the gateway's very first reports 0).
  const costs = [...builds.values()].filter((us) => us > 0).sort((a, b) => a - b);
  console.log(
    `snapshot build + serialize: median ${costs[Math.floor(costs.length / 2)]} µs, p90 ${costs[Math.floor(costs.length * 0.9)]} µs, ` +
      `max ${costs.at(-1)} µs over ${costs.length} snapshots`,
  );
  console.log(`${CLIENTS} clients in one room, ${RATE} msg/s of ${PAYLOAD} B, ${ROUNDS} × ${WINDOW} s windows per row`);
  console.log('| /admin/events subscribers | gateway CPU, % of a core (mean; min–max) | RSS MiB (last) | SSE bytes/s per subscriber | bytes/s to the clients | load avg |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [n, rows] of results) {
    const cpu = rows.map((r) => r.cpu);
    console.log(
      `| ${n} | ${mean(cpu).toFixed(1)} (${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)}) | ${rows.at(-1)?.rss.toFixed(1)} | ` +
        `${Math.round(mean(rows.map((r) => r.adminBytes)))} | ${Math.round(mean(rows.map((r) => r.clientBytes))).toLocaleString('en')} | ${mean(rows.map((r) => r.load)).toFixed(1)} |`,
    );
  }
} finally {
  await gw.dispose();
}
