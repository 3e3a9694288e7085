// The socket to roomcast (subprotocol `roomcast.v1`, docs/protocol.md): requests with
// refs answered by `ack`/`error`, auto-reconnect with capped exponential backoff and
// jitter, and the rooms this client wants re-joined on every new connection, each
// with `since` (its history watermark) so that what was missed is recovered.

import { Recovery } from './recovery.js';

export const PROTOCOL = 'roomcast.v1';

/**
 * @typedef {'connecting'|'live'|'reconnecting'|'stopped'} ConnStatus
 * @typedef {import('./state.js').GameState} GameState
 * @typedef {import('./state.js').PatchOp} PatchOp
 * @typedef {import('./history.js').Position} Position
 * @typedef {{offset?: number, epoch?: string}} At  where a frame stands in its room's history
 * @typedef {{type: 'state', room: string, version: number, state: GameState} & At} StateMsg
 * @typedef {{type: 'patch', room: string, version: number, op: PatchOp} & At} PatchMsg
 * @typedef {{type: 'event', room: string, event: string, data: unknown, from: string | null} & At} EventMsg
 * @typedef {{type: 'presence', room: string, members: number, users?: number}} PresenceMsg
 * @typedef {{room: string, members: number}} RoomInfo
 * @typedef {{type: 'rooms', rooms: RoomInfo[]}} RoomsMsg
 * @typedef {{type: 'members', room: string, users: {user: string, connections: number}[], next?: string}} MembersMsg
 * @typedef {{type: 'welcome', id: string, user: string, limits: Record<string, number>}} WelcomeMsg
 * @typedef {{type: 'ack', ref: string | number, version?: number, id?: string, recovered?: boolean}} AckMsg
 * @typedef {{type: 'error', code: string, message: string, ref?: string | number}} ErrorMsg
 * @typedef {StateMsg | PatchMsg | EventMsg | PresenceMsg | RoomsMsg | MembersMsg | WelcomeMsg | AckMsg | ErrorMsg} ServerMsg
 * @typedef {{action: string, [field: string]: unknown}} ClientMsg
 */

/** An `error` from the server, or a local failure with a code of the same style. */
export class RequestError extends Error {
  /**
   * @param {string} code  a protocol error code, or `offline` / `disconnected` / `timeout`
   * @param {string} message
   * @param {ClientMsg} [request]
   */
  constructor(code, message, request) {
    super(message);
    this.name = 'RequestError';
    this.code = code;
    this.request = request;
  }
}

/**
 * @typedef {object} ConnectionOptions
 * @property {() => Promise<string>} socketUrl  resolves the WebSocket URL (asked before each attempt)
 * @property {number} [backoffBaseMs]  first retry delay (default 250)
 * @property {number} [backoffMaxMs]   retry delay cap (default 5000)
 * @property {number} [requestTimeoutMs]  a request with no answer fails after this (default 10000)
 * @property {number} [keepaliveMs]  send something after this much quiet (default 240000; the server's idle timeout is 10 min)
 * @property {string} [token]  connect token for the authorizer, when the deployment needs one
 */

/**
 * @typedef {object} Pending
 * @property {ClientMsg} msg
 * @property {(ack: AckMsg) => void} resolve
 * @property {(e: RequestError) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 */

export class Connection {
  /** @param {ConnectionOptions} opts */
  constructor(opts) {
    this.opts = {
      backoffBaseMs: 250,
      backoffMaxMs: 5000,
      requestTimeoutMs: 10_000,
      keepaliveMs: 240_000,
      ...opts,
    };
    /** @type {ConnStatus} */
    this.status = 'stopped';
    /** @type {WebSocket | null} */
    this.ws = null;
    /** Rooms re-joined on every new connection, in the order asked. @type {Set<string>} */
    this.rooms = new Set();
    /** @type {Map<string, Pending>} */
    this.pending = new Map();
    this.nextRef = 1;
    this.attempt = 0;
    /** When the current socket opened (ms), to tell a flapping server from a good run. */
    this.openedAt = 0;
    this.wasLive = false;
    this.lastSentAt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.keepaliveTimer = null;
    /** @type {Set<(m: ServerMsg) => void>} */
    this.messageListeners = new Set();
    /** @type {Set<(s: ConnStatus, detail: {attempt: number, retryInMs?: number}) => void>} */
    this.statusListeners = new Set();
    /** Called on each new live connection, just before the rooms are re-joined. @type {Set<() => void>} */
    this.openListeners = new Set();
    /** The wanted rooms' history positions, and their joins being answered. */
    this.recovery = new Recovery();
    /** Told whether a join recovered (before the recovered frames or the state). @type {Set<(room: string, recovered: boolean) => void>} */
    this.syncListeners = new Set();
    /** This connection's `welcome`: its id, user and limits. @type {WelcomeMsg | null} */
    this.identity = null;
  }

  /** @param {(room: string, recovered: boolean) => void} fn */
  onSync(fn) {
    this.syncListeners.add(fn);
  }

  /** Where the page stands in `room`'s history (what a re-join sends as `since`). @param {string} room */
  position(room) {
    return this.recovery.position(room);
  }

  /** @param {(m: ServerMsg) => void} fn */
  onMessage(fn) {
    this.messageListeners.add(fn);
  }

  /** @param {(s: ConnStatus, detail: {attempt: number, retryInMs?: number}) => void} fn */
  onStatus(fn) {
    this.statusListeners.add(fn);
  }

  /** @param {() => void} fn */
  onOpen(fn) {
    this.openListeners.add(fn);
  }

  get live() {
    return this.status === 'live';
  }

  /**
   * @param {ConnStatus} status
   * @param {number} [retryInMs]
   */
  setStatus(status, retryInMs) {
    this.status = status;
    for (const fn of this.statusListeners) fn(status, { attempt: this.attempt, retryInMs });
  }

  start() {
    if (this.status !== 'stopped') return;
    this.setStatus('connecting');
    this.keepaliveTimer = setInterval(() => this.keepalive(), 30_000);
    void this.open();
  }

  stop() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.retryTimer = null;
    this.keepaliveTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.failPending('disconnected', 'the connection was closed');
    this.setStatus('stopped');
    if (ws) ws.close(1000, 'bye');
  }

  async open() {
    this.retryTimer = null;
    /** @type {string} */
    let url;
    try {
      const base = new URL(await this.opts.socketUrl());
      const first = this.rooms.values().next();
      // The connect room is joined by the server at $connect; use the base we want so
      // that a lobby visitor is not counted as a builder somewhere.
      if (!first.done) base.searchParams.set('room', first.value);
      if (this.opts.token) base.searchParams.set('token', this.opts.token);
      url = base.toString();
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    if (this.status === 'stopped') return;
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new WebSocket(url, PROTOCOL);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    const connectRoom = new URL(url).searchParams.get('room') ?? 'default';
    ws.onopen = () => {
      if (this.ws !== ws) return;
      if (ws.protocol !== PROTOCOL) {
        ws.close(4000, 'subprotocol not accepted');
        return;
      }
      this.openedAt = Date.now();
      this.wasLive = true;
      this.setStatus('live');
      // The server joined us to the connect room; leave it unless it is wanted.
      if (!this.rooms.has(connectRoom)) this.sendRaw({ action: 'leave', room: connectRoom });
      for (const fn of this.openListeners) fn();
      for (const room of this.rooms) {
        this.sync(room).catch((e) => {
          // A refused re-join (say `forbidden`) is news for the player; a dropped
          // socket is not (the next connection re-joins).
          if (e instanceof RequestError && !['disconnected', 'offline', 'timeout'].includes(e.code)) {
            for (const fn of this.messageListeners) fn({ type: 'error', code: e.code, message: e.message });
          }
        });
      }
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      /** @type {ServerMsg} */
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.recovery.disconnected();
      this.failPending('disconnected', 'the connection was lost before the server answered');
      // A socket that closes right after opening (a flapping server, a refusal) keeps
      // backing off; one that served a while starts over quickly.
      if (this.openedAt && Date.now() - this.openedAt > 5_000) this.attempt = 0;
      this.openedAt = 0;
      this.scheduleRetry();
    };
    // Errors are always followed by close.
    ws.onerror = () => {};
  }

  scheduleRetry() {
    if (this.status === 'stopped') return;
    const exp = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** this.attempt);
    const delay = Math.round(exp * (0.5 + Math.random() * 0.5));
    this.attempt += 1;
    // Before the first live connection a failure is still "connecting".
    this.setStatus(this.wasLive ? 'reconnecting' : 'connecting', delay);
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  /**
   * One frame from the server: held while its room's join is answered, dropped if it
   * was seen already, else delivered (with what a completed join releases).
   * @param {ServerMsg} msg
   */
  dispatch(msg) {
    if (msg.type === 'welcome') this.identity = msg;
    const { deliver, synced } = this.recovery.route(msg);
    if (synced) for (const fn of this.syncListeners) fn(synced.room, synced.recovered);
    for (const m of deliver) this.deliver(m);
  }

  /** Resolve the request a message answers, and tell the listeners. @param {ServerMsg} msg */
  deliver(msg) {
    if ((msg.type === 'ack' || msg.type === 'error') && msg.ref !== undefined && msg.ref !== null) {
      const key = String(msg.ref);
      const p = this.pending.get(key);
      if (p) {
        this.pending.delete(key);
        clearTimeout(p.timer);
        if (msg.type === 'ack') p.resolve(msg);
        else p.reject(new RequestError(msg.code, msg.message, p.msg));
        // Answered errors go to the request's owner, not to the general listeners.
        if (msg.type === 'error') return;
      }
    }
    for (const fn of this.messageListeners) fn(msg);
  }

  /**
   * Send a request with a fresh `ref`; resolves with its `ack`, rejects with the
   * server's `error` (or `offline`, `disconnected`, `timeout`).
   * @param {ClientMsg} msg
   * @param {string} [ref]  the ref to use (default: a fresh one)
   * @returns {Promise<AckMsg>}
   */
  request(msg, ref = `r${this.nextRef++}`) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new RequestError('offline', 'not connected: the change was not sent', msg));
        return;
      }
      const timer = setTimeout(() => {
        if (this.pending.delete(ref)) reject(new RequestError('timeout', 'the server did not answer in time', msg));
      }, this.opts.requestTimeoutMs);
      this.pending.set(ref, { msg, resolve, reject, timer });
      this.sendRaw({ ...msg, ref });
    });
  }

  /** Send without a ref (no ack). Returns whether it was sent. @param {ClientMsg} msg */
  sendRaw(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    this.lastSentAt = Date.now();
    return true;
  }

  /**
   * @param {string} code
   * @param {string} message
   */
  failPending(code, message) {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(new RequestError(code, message, p.msg));
    }
  }

  /** Keep the socket inside the server's idle timeout while the player only watches. */
  keepalive() {
    if (this.live && Date.now() - this.lastSentAt > this.opts.keepaliveMs) {
      this.sendRaw({ action: 'listRooms' });
    }
  }

  /**
   * Be in `room` now and after every reconnect; resolves with the join's ack (the
   * `state` follows as a message, or, on a re-join that recovered, the missed frames
   * came before it).
   * @param {string} room
   */
  join(room) {
    this.rooms.add(room);
    this.recovery.track(room);
    return this.sync(room);
  }

  /**
   * Join `room` with `since` when the page has a place in its history, holding the
   * room's live frames until the answer is complete.
   * @param {string} room
   */
  sync(room) {
    const since = this.position(room);
    const ref = `r${this.nextRef++}`;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.recovery.joining(room, ref);
    const answered = this.request(since ? { action: 'join', room, since } : { action: 'join', room }, ref);
    // Unanswered in time: stop holding the room's frames.
    answered.catch(() => {
      for (const m of this.recovery.abandon(room, ref)) this.deliver(m);
    });
    return answered;
  }

  /** Stop wanting `room`. @param {string} room */
  leave(room) {
    this.rooms.delete(room);
    this.recovery.forget(room);
    return this.request({ action: 'leave', room });
  }
}
