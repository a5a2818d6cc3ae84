// One app-wide live connection to /ws (DESIGN.md §5) shared by every page and hook:
//
// * subscriptions are tracked per poll (one `subscribe` on the wire however many listeners),
//   re-sent after every reconnect (the snapshot makes each poll whole), `unsubscribe` when the
//   last listener leaves, and the socket closes a while after nothing is subscribed;
// * a connect attempt that does not open within CONNECT_TIMEOUT_MS is abandoned and retried;
// * reconnects back off with jitter (state/backoff.ts), at once after a server restart (1012);
// * the watchdog measures from the last ping it sent: no pong within PONG_TIMEOUT_MS means the
//   connection is dead.  Other frames do not count (a socket that only delivers old buffered data
//   is not proven alive).  A deadline that fires far too late (a throttled or frozen background
//   tab) does not condemn the socket: it pings again and waits a fresh deadline;
// * a tab that becomes visible again tests the socket with a ping at once (or connects at once
//   when it was waiting to retry); `online` reconnects at once, `offline` says so.

import { parseFrame } from './check';
import { backoffDelay } from './state/backoff';
import type { ServerFrame } from './types';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface LiveListener {
  onFrame: (frame: ServerFrame) => void;
  /** The connection dropped: the next snapshot makes the poll whole again. */
  onDisconnect?: () => void;
}

/** What the connection needs from its surroundings (real browser globals by default; fakes in tests). */
export interface LiveEnv {
  WebSocket: new (url: string) => WebSocket;
  /** Fires `online` / `offline`. */
  window: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  /** Fires `visibilitychange`. */
  document: Pick<EventTarget, 'addEventListener' | 'removeEventListener'> & { visibilityState: string };
  isOnline: () => boolean;
}

export const CONNECT_TIMEOUT_MS = 8_000;
export const PONG_TIMEOUT_MS = 6_000;
/** Ping period when the server's heartbeat is unknown; the hello frame's heartbeat shortens it. */
export const DEFAULT_PING_MS = 15_000;
export const MIN_PING_MS = 5_000;
/** Close the socket this long after the last subscription left (page changes keep it). */
export const IDLE_CLOSE_MS = 10_000;
/** Failed attempts after which the indicator says "offline" (it keeps retrying). */
export const OFFLINE_AFTER = 5;

const OPEN = 1;

interface PollSub {
  listeners: Map<LiveListener, string | null>;
  /** The admin token sent with `subscribe` (the first listener's that has one). */
  token: string | null;
}

export function wsUrl(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

function browserEnv(): LiveEnv {
  return {
    WebSocket: window.WebSocket,
    window,
    document,
    isOnline: () => navigator.onLine !== false,
  };
}

type Timer = ReturnType<typeof setTimeout>;

export class LiveConnection {
  private ws: WebSocket | null = null;
  private polls = new Map<string, PollSub>();
  private attempt = 0;
  private retryTimer: Timer | null = null;
  private connectTimer: Timer | null = null;
  private pingTimer: Timer | null = null;
  private pongTimer: Timer | null = null;
  private idleTimer: Timer | null = null;
  /** When the unanswered ping was sent (null: none outstanding). */
  private pingSentAt: number | null = null;
  private pingMs = DEFAULT_PING_MS;
  private stateListeners = new Set<() => void>();
  private started = false;
  private disposed = false;
  private env: LiveEnv;
  state: ConnectionState = 'connecting';
  /** Name of the backend that answered (hello frame), for diagnostics. */
  server: string | null = null;

  constructor(
    private readonly url: string = wsUrl(),
    env?: Partial<LiveEnv>,
  ) {
    this.env = { ...(env?.WebSocket ? ({} as LiveEnv) : browserEnv()), ...env } as LiveEnv;
  }

  // --- the public side ---------------------------------------------------------------------------

  /** Connection state, for useSyncExternalStore. */
  getState = (): ConnectionState => this.state;

  onState = (fn: () => void): (() => void) => {
    this.stateListeners.add(fn);
    return () => {
      this.stateListeners.delete(fn);
    };
  };

  /** Listen to a poll's frames; returns the function that stops listening. */
  subscribe(poll: string, listener: LiveListener, adminToken: string | null = null): () => void {
    if (this.disposed) return () => {};
    this.start();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    let sub = this.polls.get(poll);
    if (!sub) {
      sub = { listeners: new Map(), token: null };
      this.polls.set(poll, sub);
    }
    sub.listeners.set(listener, adminToken);
    this.retoken(poll, sub, true);
    if (!this.ws && !this.retryTimer) this.connect();
    return () => this.unsubscribe(poll, listener);
  }

  /** Change the admin token a listener subscribes with (null: as anyone, after a `forbidden`). */
  setToken(poll: string, listener: LiveListener, adminToken: string | null): void {
    const sub = this.polls.get(poll);
    if (!sub || !sub.listeners.has(listener)) return;
    sub.listeners.set(listener, adminToken);
    this.retoken(poll, sub, false);
  }

  /** Polls with at least one listener (tests, diagnostics). */
  subscribedPolls(): string[] {
    return [...this.polls.keys()];
  }

  dispose(): void {
    this.disposed = true;
    this.stop();
    this.polls.clear();
    this.stateListeners.clear();
  }

  // --- subscriptions ---------------------------------------------------------------------------------

  private retoken(poll: string, sub: PollSub, isNew: boolean): void {
    const token = [...sub.listeners.values()].find((t) => t) ?? null;
    const changed = token !== sub.token;
    sub.token = token;
    if ((isNew && sub.listeners.size === 1) || changed) this.sendSubscribe(poll, sub);
  }

  private unsubscribe(poll: string, listener: LiveListener): void {
    const sub = this.polls.get(poll);
    if (!sub || !sub.listeners.delete(listener)) return;
    if (sub.listeners.size > 0) {
      this.retoken(poll, sub, false);
      return;
    }
    this.polls.delete(poll);
    this.send({ type: 'unsubscribe', poll });
    if (this.polls.size === 0 && !this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        if (this.polls.size === 0) this.stop();
      }, IDLE_CLOSE_MS);
    }
  }

  private sendSubscribe(poll: string, sub: PollSub): void {
    this.send(sub.token ? { type: 'subscribe', poll, admin_token: sub.token } : { type: 'subscribe', poll });
  }

  // --- the socket ------------------------------------------------------------------------------------

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.env.window.addEventListener('online', this.onOnline);
    this.env.window.addEventListener('offline', this.onOffline);
    this.env.document.addEventListener('visibilitychange', this.onVisible);
  }

  /** Close the socket and stop every timer and listener (no subscriptions left). */
  private stop(): void {
    if (this.started) {
      this.env.window.removeEventListener('online', this.onOnline);
      this.env.window.removeEventListener('offline', this.onOffline);
      this.env.document.removeEventListener('visibilitychange', this.onVisible);
      this.started = false;
    }
    this.clearTimers();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.drop();
    this.attempt = 0;
    this.setState('connecting');
  }

  private setState(s: ConnectionState): void {
    if (s === this.state) return;
    this.state = s;
    for (const fn of [...this.stateListeners]) fn();
  }

  private connect(): void {
    if (this.disposed || this.polls.size === 0) return;
    this.clearTimers();
    this.drop();
    if (!this.env.isOnline()) {
      this.setState('offline');
      return;
    }
    this.setState(this.attempt === 0 ? 'connecting' : this.attempt >= OFFLINE_AFTER ? 'offline' : 'reconnecting');
    let ws: WebSocket;
    try {
      ws = new this.env.WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      // Never opened (a black-holed SYN, a proxy that holds the upgrade): try again.
      this.connectTimer = null;
      if (this.ws === ws && ws.readyState !== OPEN) this.lost(ws, false);
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      if (this.ws !== ws) return;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      for (const [poll, sub] of this.polls) this.sendSubscribe(poll, sub);
      if (this.polls.size === 0) this.setState('live');
      this.schedulePing();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws === ws) this.onMessage(ev.data);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws === ws) this.lost(ws, ev.code === 1012 || ev.code === 1001);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private onMessage(data: unknown): void {
    const frame = parseFrame(data);
    if (!frame) return;
    switch (frame.type) {
      case 'hello':
        this.server = 'server' in frame && typeof frame.server === 'string' ? frame.server : null;
        if (frame.heartbeat > 0) {
          this.pingMs = Math.max(MIN_PING_MS, Math.min(DEFAULT_PING_MS, frame.heartbeat * 1000));
          if (this.pingSentAt === null) this.schedulePing();
        }
        return;
      case 'pong':
        this.pingSentAt = null;
        if (this.pongTimer) clearTimeout(this.pongTimer);
        this.pongTimer = null;
        this.schedulePing();
        return;
      case 'snapshot':
        // A working subscription: the connection is sound, the next drop starts the schedule over.
        this.attempt = 0;
        this.setState('live');
        break;
      case 'error':
        if (frame.poll !== undefined) this.setState('live'); // connected, that poll just failed
        break;
    }
    const poll = 'poll' in frame ? frame.poll : undefined;
    const targets = poll === undefined ? [...this.polls.values()] : [this.polls.get(poll)].filter((s) => s !== undefined);
    for (const sub of targets) for (const l of [...sub.listeners.keys()]) l.onFrame(frame);
  }

  /** The socket `ws` is gone (closed, timed out, or judged dead): tell the listeners, retry. */
  private lost(ws: WebSocket, fast: boolean): void {
    if (this.ws !== ws) return;
    this.drop();
    this.clearTimers();
    this.notifyDisconnect();
    if (this.disposed || this.polls.size === 0) return;
    if (fast && this.attempt === 0) {
      // Server restart (1012) or going away: reconnect (elsewhere) almost at once.
      this.attempt = 1;
      this.setState('reconnecting');
      this.retryTimer = setTimeout(() => this.retry(), backoffDelay(0, { base: 300 }));
      return;
    }
    this.scheduleReconnect();
  }

  private notifyDisconnect(): void {
    for (const sub of this.polls.values()) for (const l of [...sub.listeners.keys()]) l.onDisconnect?.();
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState(this.attempt >= OFFLINE_AFTER || !this.env.isOnline() ? 'offline' : 'reconnecting');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.retry(), delay);
  }

  private retry(): void {
    this.retryTimer = null;
    this.connect();
  }

  private send(msg: unknown): void {
    const ws = this.ws;
    if (ws && ws.readyState === OPEN) {
      try {
        ws.send(JSON.stringify(msg));
      } catch {
        /* closing; onclose handles it */
      }
    }
  }

  // --- the watchdog ----------------------------------------------------------------------------------

  private schedulePing(): void {
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      this.pingTimer = null;
      this.ping();
    }, this.pingMs);
  }

  /** Send a ping and expect its pong within PONG_TIMEOUT_MS. */
  private ping(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = null;
    const sentAt = Date.now();
    this.pingSentAt = sentAt;
    this.send({ type: 'ping' });
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = setTimeout(() => {
      this.pongTimer = null;
      if (this.ws !== ws || this.pingSentAt !== sentAt) return;
      if (Date.now() - sentAt > 2 * PONG_TIMEOUT_MS) {
        // The deadline itself ran far too late (throttled or frozen tab): the pong may be queued
        // behind it.  No verdict from a late timer: ask again.
        this.ping();
        return;
      }
      this.lost(ws, false);
    }, PONG_TIMEOUT_MS);
  }

  private clearTimers(): void {
    for (const t of [this.retryTimer, this.connectTimer, this.pingTimer, this.pongTimer]) if (t) clearTimeout(t);
    this.retryTimer = this.connectTimer = this.pingTimer = this.pongTimer = null;
    this.pingSentAt = null;
  }

  /** Forget the current socket without running its close handler. */
  private drop(): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch {
      /* ignore */
    }
  }

  // --- the page's events -----------------------------------------------------------------------------

  private onOnline = (): void => {
    if (this.disposed || this.ws) return;
    this.attempt = 0;
    this.connect();
  };

  private onOffline = (): void => {
    if (this.disposed) return;
    const had = this.ws !== null;
    this.drop();
    this.clearTimers();
    if (had) this.notifyDisconnect();
    this.setState('offline');
  };

  private onVisible = (): void => {
    if (this.disposed || this.env.document.visibilityState !== 'visible' || this.polls.size === 0) return;
    if (this.ws?.readyState === OPEN) {
      // Back from the background: is this socket still alive?  A ping answers within the deadline.
      if (this.pingSentAt === null || Date.now() - this.pingSentAt > PONG_TIMEOUT_MS) this.ping();
    } else if (!this.ws) {
      // Waiting for a retry: try now.
      this.connect();
    }
  };
}

let shared: LiveConnection | null = null;

/** The app's one live connection. */
export function liveConnection(): LiveConnection {
  if (!shared) shared = new LiveConnection();
  return shared;
}
