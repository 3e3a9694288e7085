// The /admin page: one EventSource on /admin/events (the key, when the gateway has
// one, travels in the cookie that opening /admin?key=… set), one update a second,
// each redrawing the panels, the plots and the rooms table.

import { History, plotted } from './snapshot.js';
import { drawPlot } from './plot.js';
import { showConnections, showErrors, showFanout, showKnobs, showRooms } from './panels.js';

/** @typedef {import('./snapshot.js').Snapshot} Snapshot */

/**
 * The element with `id`, typed.
 * @template {Element} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function $(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
  return el;
}

const ui = {
  feed: $('feed', HTMLElement),
  updated: $('updated', HTMLElement),
  connections: $('connections', HTMLElement),
  fanout: $('fanout', HTMLElement),
  knobs: $('knobs', HTMLElement),
  latency: $('plot-latency', SVGSVGElement),
  rates: $('plot-rates', SVGSVGElement),
  conns: $('plot-conns', SVGSVGElement),
  roomCount: $('room-count', HTMLElement),
  rooms: $('rooms', HTMLTableElement),
  search: $('room-search', HTMLInputElement),
  errors: $('errors', HTMLOListElement),
};

const history = new History();
/** @type {Snapshot | null} */
let latest = null;

/**
 * @param {'connecting' | 'live' | 'down'} state
 * @param {string} text
 */
function feedState(state, text) {
  ui.feed.dataset.state = state;
  ui.feed.textContent = text;
}

/** @param {Snapshot} s */
function render(s) {
  showConnections(ui.connections, s);
  showFanout(ui.fanout, s);
  showKnobs(ui.knobs, s);
  const pick = (/** @type {string[]} */ names) => Object.fromEntries(names.map((n) => [n, history.get(n)]));
  drawPlot(ui.latency, pick(['p50', 'p99']), s.at);
  drawPlot(ui.rates, pick(['posts', 'jobs', 'throttled']), s.at);
  drawPlot(ui.conns, pick(['conns', 'queued']), s.at);
  const listed = s.rooms.length < s.roomCount ? `(${s.rooms.length} of ${s.roomCount} listed)` : `(${s.roomCount})`;
  ui.roomCount.textContent = listed;
  showRooms(ui.rooms, s.rooms, ui.search.value);
  showErrors(ui.errors, s);
  ui.updated.textContent = `updated ${new Date(s.at).toLocaleTimeString('en-GB')} · built in ${s.buildMicros} µs`;
}

ui.search.addEventListener('input', () => {
  if (latest) showRooms(ui.rooms, latest.rooms, ui.search.value);
});

const events = new EventSource('/admin/events');
events.addEventListener('open', () => feedState('live', 'live'));
events.addEventListener('error', () => {
  // EventSource retries by itself unless the gateway refused (then it is closed).
  if (events.readyState === EventSource.CLOSED) feedState('down', 'refused: open /admin?key=…');
  else feedState('connecting', 'reconnecting…');
});
events.addEventListener('message', (e) => {
  /** @type {Snapshot} */
  const s = JSON.parse(e.data);
  latest = s;
  history.push(s.at, plotted(s));
  render(s);
});
