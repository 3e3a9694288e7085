// The page: routes between the lobby (`#/`) and a base (`#/base/NAME`), and wires the
// game (js/game.js, which keeps the base in step with the server and makes the
// player's requests) to the view, the input and the lobby's form.

import { Connection, RequestError } from './connection.js';
import { Game } from './game.js';
import { BaseView, PlanetChooser, StatusBar, $, renderRooms, toast } from './view.js';
import { attachInput } from './input.js';
import { planetName } from './art.js';

/** @typedef {{socketUrl: string, stage?: string, protocol?: string}} Config */

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const LOBBY_REFRESH_MS = 4000;

/** Friendlier words for the error codes a player can cause. @type {Record<string, string>} */
const ERROR_TEXT = {
  unknown_icon: 'That module is gone: another builder scrapped it.',
  icon_limit: 'This base is full: scrap a module before adding another.',
  invalid_room: 'That is not a valid base name.',
  offline: 'Not connected: the change was not sent.',
  disconnected: 'The connection dropped before the server confirmed a change.',
  timeout: 'The server did not answer in time.',
  forbidden: 'You may not build in this base.',
  unauthorized: 'Not signed in for this server.',
  rate_limited: 'Too busy right now; trying again shortly.',
  room_limit: 'You are in too many bases at once: leave one first.',
};

/** @returns {Promise<Config>} */
async function loadConfig() {
  const res = await fetch('config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  return res.json();
}

/** @type {Config | null} */
let config = null;

const conn = new Connection({
  socketUrl: async () => {
    // Asked before every attempt, so a server that was down at page load is found later.
    config ??= await loadConfig();
    return config.socketUrl;
  },
  token: new URLSearchParams(location.search).get('token') ?? undefined,
});

const view = new BaseView();
const status = new StatusBar();
const chooser = new PlanetChooser((bg) => game.changeBackground(bg));

/** @type {ReturnType<typeof setInterval> | null} */
let lobbyTimer = null;

const game = new Game(conn, {
  changed: scheduleRender,
  flash: (id) => view.flashRemote(id),
  builders: (n) => status.setBuilders(n),
  rooms: renderRooms,
  landed: (bg) => toast(`Landed on ${planetName(bg)}`, 'info'),
  fail: report,
});

// ---------------------------------------------------------------- rendering

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // rAF for smoothness, with a timer in case the page is in the background.
  const run = () => {
    if (!renderQueued) return;
    renderQueued = false;
    render();
  };
  requestAnimationFrame(run);
  setTimeout(run, 50);
}

function render() {
  const s = game.scene();
  if (!s) return;
  view.renderBackground(s.bg);
  view.renderIcons(s.icons, s);
  status.setVersion(s.version);
  status.setModules(s.modules);
  chooser.setCurrent(s.bg);
}

// ---------------------------------------------------------------- errors

/**
 * Tell the player about a failed request; never silently drop it.
 * @param {unknown} e
 */
function report(e) {
  if (e instanceof RequestError) {
    toast(ERROR_TEXT[e.code] ?? e.message, 'error', e.code);
  } else {
    toast(String(e), 'error');
  }
}

// ---------------------------------------------------------------- connection

conn.onOpen(() => {
  if (!game.room) refreshLobby();
});

conn.onStatus((s, detail) => {
  status.setConn(s, detail.retryInMs);
  const live = s === 'live';
  view.setEditable(live);
  view.setOverlay(live || !game.room ? null : s === 'connecting' ? 'Connecting…' : 'Reconnecting… your base is safe on the server');
});

// ---------------------------------------------------------------- routing

function refreshLobby() {
  if (!game.room && conn.live) conn.sendRaw({ action: 'listRooms' });
}

/** @param {string} name */
function enterBase(name) {
  if (!game.enter(name)) return;
  view.iconsLayer.replaceChildren();
  view.iconEls.clear();
  view.bgShown = null;
  status.setBuilders(0);
  status.setVersion(0);
  status.setModules(0);
  status.showBase(true);
  $('base-name', HTMLElement).textContent = name;
  $('base-title', HTMLDivElement).hidden = false;
  $('game-actions', HTMLElement).hidden = false;
  $('start', HTMLElement).hidden = true;
  $('game', HTMLElement).hidden = false;
  document.title = `${name} · roomcast`;
  if (lobbyTimer) clearInterval(lobbyTimer);
  lobbyTimer = null;
  view.setOverlay(conn.live ? null : 'Connecting…');
  view.stage.focus({ preventScroll: true });
}

function enterLobby() {
  game.leave();
  status.showBase(false);
  $('base-title', HTMLDivElement).hidden = true;
  $('game-actions', HTMLElement).hidden = true;
  $('game', HTMLElement).hidden = true;
  $('start', HTMLElement).hidden = false;
  document.title = 'roomcast · planet bases';
  if (chooser.open) chooser.dialog.close();
  refreshLobby();
  if (!lobbyTimer) lobbyTimer = setInterval(refreshLobby, LOBBY_REFRESH_MS);
}

function route() {
  const m = /^#\/base\/(.+)$/.exec(location.hash);
  if (m) {
    let name = '';
    try {
      name = decodeURIComponent(m[1]);
    } catch {
      name = '';
    }
    if (ROOM_RE.test(name)) {
      enterBase(name);
      return;
    }
    toast('That is not a valid base name: letters, digits, - and _, up to 64.', 'error', 'invalid_room');
  }
  enterLobby();
}

// ---------------------------------------------------------------- lobby form

const ADJ = ['red', 'lunar', 'frozen', 'amber', 'silent', 'nova', 'deep', 'violet', 'iron', 'solar', 'crater', 'drift'];
const NOUN = ['outpost', 'colony', 'station', 'haven', 'ridge', 'harbor', 'camp', 'spire', 'hollow', 'frontier'];
function suggestName() {
  const pick = (/** @type {string[]} */ a) => a[Math.floor(Math.random() * a.length)];
  return `${pick(ADJ)}-${pick(NOUN)}-${Math.floor(10 + Math.random() * 90)}`;
}

const nameInput = $('base-name-input', HTMLInputElement);
$('base-random', HTMLButtonElement).addEventListener('click', () => {
  nameInput.value = suggestName();
  nameInput.focus();
});
$('base-form', HTMLFormElement).addEventListener('submit', (e) => {
  e.preventDefault();
  const name = nameInput.value.trim();
  const hint = $('base-hint', HTMLParagraphElement);
  if (!ROOM_RE.test(name)) {
    hint.classList.add('bad');
    nameInput.focus();
    return;
  }
  hint.classList.remove('bad');
  location.hash = `#/base/${encodeURIComponent(name)}`;
});

// ---------------------------------------------------------------- base toolbar

$('bg-open', HTMLButtonElement).addEventListener('click', () => {
  if (game.base) chooser.show(game.base.bg);
});
$('invite', HTMLButtonElement).addEventListener('click', async () => {
  // The base's address, without any `?token=` of this player's.
  const link = `${location.origin}${location.pathname}${location.hash}`;
  try {
    await navigator.clipboard.writeText(link);
    toast('Invite link copied: send it to a friend', 'info');
  } catch {
    window.prompt('Copy this link to invite a friend:', link);
  }
});
document.addEventListener('keydown', (e) => {
  if (!game.room || chooser.open || e.target instanceof HTMLInputElement) return;
  if ((e.key === 'b' || e.key === 'B') && !e.ctrlKey && !e.metaKey && !e.altKey && game.base) {
    chooser.show(game.base.bg);
  }
});
chooser.dialog.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && e.target === chooser.dialog) {
    game.changeBackground(chooser.index);
    chooser.dialog.close();
  }
});

attachInput(view, {
  icon: (id) => game.icon(id),
  canEdit: () => game.canEdit(),
  busy: () => chooser.open,
  add: (img, x, y) => game.add(img, x, y),
  addDefault: (img) => game.addDefault(img),
  move: (id, icon, final) => game.move(id, icon, final),
  remove: (id) => game.remove(id),
  select: (id) => game.select(id),
  selected: () => game.selected,
  dragging: (d) => game.dragging(d),
});

/** For the browser console (and tests): the live connection and the base's state. */
Object.defineProperty(window, 'roomcast', {
  value: Object.freeze({ conn, base: () => game.base }),
});

window.addEventListener('hashchange', route);
route();
conn.start();
