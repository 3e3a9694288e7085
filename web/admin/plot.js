// Line plots in SVG: one polyline per series over a shared time axis ending now,
// scaled to the largest value shown, with three grid lines labelled in its units. The
// axis spans what the page has seen (at least a minute, at most HISTORY_SECONDS), so
// a page just opened does not squeeze its first points into the right edge.

import { HISTORY_SECONDS } from './snapshot.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 160;
/** The shortest time the axis spans, in ms. */
const MIN_SPAN = 60_000;
/** Room left of the plot for the axis labels. */
const LEFT = 44;
const TOP = 8;

/**
 * A "nice" upper bound at or above `max`: 1, 2 or 5 times a power of ten.
 * @param {number} max
 */
export function niceCeiling(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * @param {string} name
 * @param {Record<string, string | number>} attrs
 */
function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * Redraw `svg` with `series` (class name → points), the newest point at the right edge.
 * Gaps (null values, e.g. no deliveries in a second) break the line.
 * On the svg, `data-points` tells how many updates the longest series holds and
 * `data-values` how many values (non-null points) all series hold.
 * @param {SVGSVGElement} svg
 * @param {Record<string, import('./snapshot.js').Point[]>} series
 * @param {number} now  Unix ms of the latest update
 */
export function drawPlot(svg, series, now) {
  const all = Object.values(series).flat();
  const values = all.map((p) => p.value).filter((v) => v !== null);
  const top = niceCeiling(Math.max(0, ...values.map(Number)));
  const oldest = Math.min(now, ...all.map((p) => p.at));
  const span = Math.min(HISTORY_SECONDS * 1000, Math.max(MIN_SPAN, now - oldest));
  // Drawn in the element's own pixels, so labels are not stretched.
  const width = Math.max(LEFT + 100, Math.round(svg.clientWidth) || 600);
  svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
  const x = (/** @type {number} */ at) => LEFT + ((at - (now - span)) / span) * (width - LEFT);
  const y = (/** @type {number} */ v) => TOP + (1 - v / top) * (HEIGHT - TOP - 1);

  svg.replaceChildren();
  for (const fraction of [0, 0.5, 1]) {
    const v = top * fraction;
    svg.append(el('line', { class: 'grid', x1: LEFT, x2: width, y1: y(v), y2: y(v) }));
    const label = el('text', { class: 'label', x: LEFT - 4, y: y(v) + 4, 'text-anchor': 'end' });
    label.textContent = v >= 1000 ? `${v / 1000}k` : String(v);
    svg.append(label);
  }
  const age = el('text', { class: 'label', x: LEFT + 4, y: HEIGHT - 4 });
  age.textContent = `−${Math.round(span / 1000)} s`;
  svg.append(age);
  for (const [name, points] of Object.entries(series)) {
    /** @type {string[]} */
    let run = [];
    const flush = () => {
      if (run.length > 0) svg.append(el('polyline', { class: name, points: run.join(' ') }));
      run = [];
    };
    for (const p of points) {
      if (p.value === null) flush();
      else run.push(`${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`);
    }
    flush();
  }
  svg.dataset.points = String(Math.max(0, ...Object.values(series).map((s) => s.length)));
  svg.dataset.values = String(values.length);
}
