// The shape of one `/admin/events` update (services/gateway/src/admin/snapshot.rs),
// and the series the plots draw, kept in the page: the gateway sends only the current
// second, so the last minutes are what this page has seen since it opened.

/**
 * @typedef {{shardSize: number, poolSize: number, postConcurrency: number, rateLimit: number}} Knobs
 * @typedef {{
 *   count: number, v1: number, planetstack: number,
 *   queuedFramesTotal: number, queuedFramesMax: number, queuedBytesTotal: number, queuedBytesMax: number,
 *   slowConsumersClosed: number, connectsPerSecond: number, refusalsPerSecond: number, messagesPerSecond: number,
 * }} Connections
 * @typedef {{samples: number, p50Ms: number | null, p99Ms: number | null}} Latency
 * @typedef {{
 *   jobsPerSecond: number, postsPerSecond: number, throttledPerSecond: number, gonePerSecond: number,
 *   throttled: number, gone: number, failed: number, deadLetters: number, latency: Latency,
 *   writeDelayMs: number, writeRecipients: number | null,
 * }} Fanout
 * @typedef {{room: string, members: number, users: number, version: number | null, changesPerSecond: number}} Room
 * @typedef {{at: number, level: 'WARN' | 'ERROR', target: string, message: string}} LoggedEvent
 * @typedef {{
 *   at: number, intervalSeconds: number, buildMicros: number, knobs: Knobs, connections: Connections, fanout: Fanout,
 *   roomCount: number, rooms: Room[], errors: LoggedEvent[],
 * }} Snapshot
 * @typedef {{at: number, value: number | null}} Point
 */

/** Seconds of history the plots show. */
export const HISTORY_SECONDS = 300;

/** Named series of the last {@link HISTORY_SECONDS} seconds, one point per update. */
export class History {
  constructor() {
    /** @type {Map<string, Point[]>} */
    this.series = new Map();
  }

  /**
   * Append one update's values.
   * @param {number} at  Unix ms
   * @param {Record<string, number | null>} values
   */
  push(at, values) {
    const oldest = at - HISTORY_SECONDS * 1000;
    for (const [name, value] of Object.entries(values)) {
      let points = this.series.get(name);
      if (!points) this.series.set(name, (points = []));
      points.push({ at, value });
      while (points.length > 0 && points[0].at < oldest) points.shift();
    }
  }

  /**
   * The points of `name`, oldest first.
   * @param {string} name
   * @returns {Point[]}
   */
  get(name) {
    return this.series.get(name) ?? [];
  }
}

/**
 * The series one snapshot adds to the plots.
 * @param {Snapshot} s
 * @returns {Record<string, number | null>}
 */
export function plotted(s) {
  return {
    p50: s.fanout.latency.p50Ms,
    p99: s.fanout.latency.p99Ms,
    posts: s.fanout.postsPerSecond,
    jobs: s.fanout.jobsPerSecond,
    throttled: s.fanout.throttledPerSecond,
    conns: s.connections.count,
    queued: s.connections.queuedFramesTotal,
  };
}

/**
 * A number for a figure: integers as they are, two significant digits below 1 (a
 * local delivery takes a fraction of a millisecond), one decimal below 100.
 * @param {number | null | undefined} n
 */
export function fmt(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Number.isInteger(n)) return n.toLocaleString('en');
  if (Math.abs(n) < 1) return n.toPrecision(2);
  return n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en');
}
