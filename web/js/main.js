// The game: routes between the lobby (`#/`) and a base (`#/base/NAME`), keeps the
// base's state in step with the server and turns the player's input into requests.

import { Connection, RequestError } from './connection.js';
import { RoomState } from './state.js';
import { BaseView, PlanetChooser, StatusBar, $, renderRooms, toast } from './view.js';
import { attachInput } from './input.js';
import { planetName } from './art.js';

/**
 * @typedef {import('./state.js').Icon} Icon
 * @typedef {import('./connection.js').ServerMsg} ServerMsg
 * @typedef {import('./input.js').DragInfo} DragInfo
 * @typedef {{socketUrl: string, stage?: string, protocol?: string}} Config
 */

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
const chooser = new PlanetChooser((bg) => changeBackground(bg));

/** The base being played, or null in the lobby. */
let room = /** @type {string | null} */ (null);
/** @type {RoomState | null} */
let base = null;
/** Builders in the base: distinct users (one player's tabs count once). */
let builders = 0;
/** @type {string | null} */
let selected = null;
/** @type {DragInfo | null} */
let dragInfo = null;
/**
 * Where this player last put a module, shown until the server's state holds that
 * move (`until` = the version of its ack), so nothing jumps back on drop.
 * @type {Map<string, {x: number, y: number, until: number}>}
 */
const placed = new Map();
/** Modules scrapped here and not yet confirmed. @type {Set<string>} */
const scrapping = new Set();
/** The module this player added last (from its ack): select it when it shows. */
let selectId = /** @type {string | null} */ (null);
let resyncInFlight = false;
/** States received in a row that left a gap open. */
let gapStates = 0;
/** @type {ReturnType<typeof setTimeout> | null} */
let resyncTimer = null;
/** @type {ReturnType<typeof setInterval> | null} */
let lobbyTimer = null;

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
  if (!base) return;
  // Drop what the server has caught up with.
  for (const [id, p] of placed) {
    if (!base.icons.has(id) || (base.synced && base.version >= p.until)) placed.delete(id);
  }
  for (const id of scrapping) if (!base.icons.has(id)) scrapping.delete(id);
  if (selected && !base.icons.has(selected)) selected = null;
  if (dragInfo && !base.icons.has(dragInfo.id)) dragInfo = null;

  /** @type {Map<string, {x: number, y: number}>} */
  const overrides = new Map(placed);
  if (dragInfo) overrides.set(dragInfo.id, dragInfo);
  view.renderBackground(base.bg);
  view.renderIcons(base.icons, {
    overrides,
    hidden: scrapping,
    selected,
    dragging: dragInfo?.id ?? null,
    doomed: dragInfo?.overTrash ?? false,
  });
  status.setVersion(base.version);
  status.setModules(base.icons.size - scrapping.size);
  chooser.setCurrent(base.bg);
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

// ---------------------------------------------------------------- requests

/** Ask for the full state after a gap (one request at a time, retried while gaps remain). */
function resync() {
  if (!room || resyncInFlight || !conn.live) return;
  if (resyncTimer) clearTimeout(resyncTimer);
  resyncTimer = null;
  resyncInFlight = true;
  const asked = room;
  conn
    .request({ action: 'getState', room: asked })
    .catch((e) => {
      if (!(e instanceof RequestError) || (e.code !== 'disconnected' && e.code !== 'offline')) report(e);
    })
    .finally(() => {
      resyncInFlight = false;
    });
}

/** @param {number} img @param {number} x @param {number} y */
function addIcon(img, x, y) {
  if (!room) return;
  conn
    .request({ action: 'addIcon', room, icon: { img, x, y } })
    .then((ack) => {
      if (!ack.id || !base) return;
      // The ack names the new module; its patch may already be here (any order).
      if (base.icons.has(ack.id)) {
        selected = ack.id;
        scheduleRender();
      } else {
        selectId = ack.id;
      }
    })
    .catch(report);
}

/** A free-ish spot on the ground near the middle, spiralling out as the base fills. @param {number} img */
function addDefault(img) {
  const n = base ? base.icons.size : 0;
  const a = n * 2.39996;
  const r = 95 * Math.sqrt(n % 48);
  const x = Math.round(800 + Math.cos(a) * r * 1.7);
  const y = Math.round(650 + Math.sin(a) * r * 0.55);
  addIcon(img, Math.max(60, Math.min(1540, x)), Math.max(420, Math.min(950, y)));
}

/** @param {string} id @param {Icon} icon @param {boolean} final */
function moveIcon(id, icon, final) {
  if (!room) return;
  const req = conn.request({ action: 'moveIcon', room, icon: { id, img: icon.img, x: icon.x, y: icon.y } });
  if (!final) {
    req.catch((e) => {
      // A lost intermediate move is healed by the final one; only a real refusal counts.
      if (e instanceof RequestError && ['offline', 'disconnected', 'timeout'].includes(e.code)) return;
      report(e);
    });
    return;
  }
  placed.set(id, { x: icon.x, y: icon.y, until: Number.MAX_SAFE_INTEGER });
  scheduleRender();
  req
    .then((ack) => {
      const p = placed.get(id);
      if (p && p.x === icon.x && p.y === icon.y) p.until = ack.version ?? 0;
      scheduleRender();
    })
    .catch((e) => {
      placed.delete(id);
      scheduleRender();
      report(e);
    });
}

/** @param {string} id */
function deleteIcon(id) {
  if (!room) return;
  scrapping.add(id);
  if (selected === id) selected = null;
  scheduleRender();
  conn
    .request({ action: 'deleteIcon', room, id })
    .catch((e) => {
      scrapping.delete(id);
      scheduleRender();
      report(e);
    });
}

/** @param {number} bg */
function changeBackground(bg) {
  if (!room) return;
  if (!conn.live) {
    report(new RequestError('offline', 'not connected'));
    return;
  }
  conn
    .request({ action: 'changeBackground', room, bg })
    .then(() => toast(`Landed on ${planetName(bg)}`, 'info'))
    .catch(report);
}

// ---------------------------------------------------------------- server messages

/**
 * Presence counts carry no version and fan-out may deliver two of them in either
 * order, so after a burst of them the builders are read back with `listMembers` (a
 * direct reply, current when the server answers it).
 */
function confirmPresenceSoon() {
  if (presenceTimer) clearTimeout(presenceTimer);
  presenceTimer = setTimeout(() => {
    presenceTimer = null;
    if (room) conn.sendRaw({ action: 'listMembers', room });
  }, 700);
}
/** @type {ReturnType<typeof setTimeout> | null} */
let presenceTimer = null;

conn.onMessage((msg) => {
  switch (msg.type) {
    case 'state':
      if (base && msg.room === room) {
        base.applyState(msg.version, msg.state);
        // Patches still waiting past a hole: ask again shortly (they may just be early),
        // but not forever: after a few states that do not close it, forget them.
        if (!base.hasGap) {
          gapStates = 0;
        } else if (++gapStates > 3) {
          base.ahead.clear();
          gapStates = 0;
        } else if (!resyncTimer) {
          resyncTimer = setTimeout(resync, 300);
        }
      }
      break;
    case 'patch':
      if (base && msg.room === room) {
        const result = base.applyPatch(msg.version, msg.op);
        if (result === 'gap') resync();
      }
      break;
    case 'presence':
      if (msg.room === room) {
        // Builders are users: a player's second tab is not a second builder.
        builders = msg.users ?? msg.members;
        status.setBuilders(builders);
        confirmPresenceSoon();
      }
      break;
    case 'members':
      // One page of users; past a page the presence count stands.
      if (msg.room === room && !msg.next) {
        builders = msg.users.length;
        status.setBuilders(builders);
      }
      break;
    case 'rooms':
      // The lobby's list (counts are connections); in a base it only kept the socket busy.
      if (!room) renderRooms(msg.rooms.filter((r) => r.members > 0));
      break;
    case 'error':
      // Errors with no request of ours to attach to.
      toast(ERROR_TEXT[msg.code] ?? msg.message, 'error', msg.code);
      break;
    default:
      break;
  }
});

conn.onOpen(() => {
  // A new connection. With a place in the base's history the re-join asks for what
  // was missed (`since`) and the base goes on from its version; without one, or when
  // the server cannot recover (below), the next state is taken whatever its version.
  if (room && !conn.position(room)) base?.unsync();
  resyncInFlight = false;
  if (!room) refreshLobby();
});

conn.onSync((r, recovered) => {
  if (r === room && !recovered) base?.unsync();
});

conn.onStatus((s, detail) => {
  status.setConn(s, detail.retryInMs);
  const live = s === 'live';
  view.setEditable(live);
  view.setOverlay(live || !room ? null : s === 'connecting' ? 'Connecting…' : 'Reconnecting… your base is safe on the server');
  if (!live) {
    dragInfo = null;
    scheduleRender();
  }
});

// ---------------------------------------------------------------- routing

function refreshLobby() {
  if (!room && conn.live) conn.sendRaw({ action: 'listRooms' });
}

/** @param {string} name */
function enterBase(name) {
  if (room === name) return;
  if (room) conn.leave(room).catch(() => {});
  room = name;
  base = new RoomState(name);
  builders = 0;
  selected = null;
  dragInfo = null;
  placed.clear();
  scrapping.clear();
  selectId = null;
  view.iconsLayer.replaceChildren();
  view.iconEls.clear();
  view.bgShown = null;
  base.subscribe((c) => {
    if (c.kind === 'patch') {
      const op = c.op;
      if ('addIcon' in op) {
        if (op.addIcon.id === selectId) {
          selected = selectId;
          selectId = null;
        }
      } else if ('moveIcon' in op) {
        const id = op.moveIcon.id;
        if (dragInfo?.id !== id && !placed.has(id)) view.flashRemote(id);
      }
    }
    scheduleRender();
  });
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
  conn.join(name).catch((e) => {
    if (!(e instanceof RequestError) || e.code !== 'offline') report(e);
  });
  view.stage.focus({ preventScroll: true });
}

function enterLobby() {
  if (room) conn.leave(room).catch(() => {});
  room = null;
  base = null;
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
  if (base) chooser.show(base.bg);
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
  if (!room || chooser.open || e.target instanceof HTMLInputElement) return;
  if ((e.key === 'b' || e.key === 'B') && !e.ctrlKey && !e.metaKey && !e.altKey && base) {
    chooser.show(base.bg);
  }
});
chooser.dialog.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && e.target === chooser.dialog) {
    changeBackground(chooser.index);
    chooser.dialog.close();
  }
});

attachInput(view, {
  icon: (id) => (scrapping.has(id) ? undefined : base?.icons.get(id)),
  canEdit: () => conn.live && base !== null && base.loaded,
  busy: () => chooser.open,
  add: addIcon,
  addDefault,
  move: moveIcon,
  remove: deleteIcon,
  select: (id) => {
    selected = id;
    scheduleRender();
  },
  selected: () => selected,
  dragging: (d) => {
    dragInfo = d;
    scheduleRender();
  },
});

/** For the browser console (and tests): the live connection and the base's state. */
Object.defineProperty(window, 'roomcast', {
  value: Object.freeze({ conn, base: () => base }),
});

window.addEventListener('hashchange', route);
route();
conn.start();
