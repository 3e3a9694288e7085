// The panels of figures, the rooms table with its search, and the error list.

import { fmt } from './snapshot.js';

/**
 * @typedef {import('./snapshot.js').Snapshot} Snapshot
 * @typedef {import('./snapshot.js').Room} Room
 * @typedef {[label: string, value: string, alert?: boolean]} Figure
 */

/**
 * Replace the figures of a `<dl>`.
 * @param {HTMLElement} dl
 * @param {Figure[]} figures
 */
function fill(dl, figures) {
  dl.replaceChildren(
    ...figures.flatMap(([label, value, alert]) => {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      if (alert) dd.className = 'alert';
      return [dt, dd];
    }),
  );
}

/**
 * @param {HTMLElement} dl
 * @param {Snapshot} s
 */
export function showConnections(dl, s) {
  const c = s.connections;
  fill(dl, [
    ['open', fmt(c.count)],
    ['roomcast.v1 / planetstack', `${fmt(c.v1)} / ${fmt(c.planetstack)}`],
    ['queued frames, total / max', `${fmt(c.queuedFramesTotal)} / ${fmt(c.queuedFramesMax)}`],
    ['queued KiB, total / max', `${fmt(c.queuedBytesTotal / 1024)} / ${fmt(c.queuedBytesMax / 1024)}`],
    ['slow consumers closed', fmt(c.slowConsumersClosed), c.slowConsumersClosed > 0],
    ['connects/s', fmt(c.connectsPerSecond)],
    ['refusals/s', fmt(c.refusalsPerSecond), c.refusalsPerSecond > 0],
    ['messages in/s', fmt(c.messagesPerSecond)],
  ]);
}

/**
 * @param {HTMLElement} dl
 * @param {Snapshot} s
 */
export function showFanout(dl, s) {
  const f = s.fanout;
  fill(dl, [
    ['jobs/s', fmt(f.jobsPerSecond)],
    ['posts/s', fmt(f.postsPerSecond)],
    ['throttled/s (total)', `${fmt(f.throttledPerSecond)} (${fmt(f.throttled)})`, f.throttledPerSecond > 0],
    ['gone/s (total)', `${fmt(f.gonePerSecond)} (${fmt(f.gone)})`],
    ['failed posts', fmt(f.failed), f.failed > 0],
    ['dead letters', fmt(f.deadLetters), f.deadLetters > 0],
    ['latency p50 / p99, ms', `${fmt(f.latency.p50Ms)} / ${fmt(f.latency.p99Ms)}`],
    // Over the write budget each connection's frames wait and go out together.
    ['write delay, ms', f.writeDelayMs === 0 ? 'none (writes at once)' : fmt(f.writeDelayMs), f.writeDelayMs > 0],
    // The connections that share the write budget: the delay is these ÷ the budget.
    ['connections written, last 250 ms', f.writeRecipients === null ? 'not counted (fixed delay or no budget)' : fmt(f.writeRecipients)],
  ]);
}

/**
 * @param {HTMLElement} dl
 * @param {Snapshot} s
 */
export function showKnobs(dl, s) {
  const k = s.knobs;
  fill(dl, [
    ['SHARD_SIZE', fmt(k.shardSize)],
    ['POOL_SIZE', fmt(k.poolSize)],
    ['POST_CONCURRENCY', fmt(k.postConcurrency)],
    ['RATE_LIMIT', k.rateLimit === 0 ? 'unlimited' : `${fmt(k.rateLimit)}/s`],
  ]);
}

/**
 * Fill the rooms table with the rooms whose name contains `search` (case-insensitive),
 * in the gateway's order (busiest first). `users` counts one user's connections once,
 * so it is below `members` when someone has several tabs open.
 * @param {HTMLTableElement} table
 * @param {Room[]} rooms
 * @param {string} search
 */
export function showRooms(table, rooms, search) {
  const needle = search.trim().toLowerCase();
  const rows = rooms
    .filter((r) => r.room.toLowerCase().includes(needle))
    .map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.room = r.room;
      tr.dataset.members = String(r.members);
      /** @type {[string, string][]} */
      const cells = [
        [r.room, ''],
        [fmt(r.members), 'num'],
        [fmt(r.users), 'num'],
        [fmt(r.version), 'num'],
        [fmt(r.changesPerSecond), 'num'],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
  table.tBodies[0].replaceChildren(...rows);
}

/**
 * @param {HTMLOListElement} list
 * @param {Snapshot} s
 */
export function showErrors(list, s) {
  list.replaceChildren(
    ...s.errors.map((e) => {
      const li = document.createElement('li');
      li.className = e.level;
      li.textContent = `${new Date(e.at).toISOString().slice(11, 19)} ${e.level} ${e.target}: ${e.message}`;
      return li;
    }),
  );
}
