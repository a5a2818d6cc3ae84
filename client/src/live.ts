// The WebSocket connection to /ws (DESIGN.md §5): subscribe, reconnect with backoff + jitter,
// resubscribe after every reconnect (the snapshot makes the state whole), watchdog pings.

import { backoffDelay } from './state/backoff';
import type { ServerFrame } from './types';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export type FrameListener = (frame: ServerFrame) => void;

interface Subscription {
  poll: string;
  adminToken: string | null;
  listener: FrameListener;
  onDisconnect: () => void;
}

/** Failed attempts after which the indicator says "offline" (it keeps retrying). */
const OFFLINE_AFTER = 5;
/** Client ping period when the server's heartbeat is unknown, ms. */
const DEFAULT_PING_MS = 15_000;
/** No frame at all for this long after a ping → the connection is dead. */
const PONG_GRACE_MS = 10_000;

export function wsUrl(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

export class LiveSocket {
  private ws: WebSocket | null = null;
  private subs = new Map<number, Subscription>();
  private nextId = 1;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private pingMs = DEFAULT_PING_MS;
  private closed = false;
  private stateListeners = new Set<(s: ConnectionState) => void>();
  state: ConnectionState = 'connecting';

  constructor(private readonly url: string = wsUrl()) {
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  onState(fn: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  /** Subscribe to a poll; returns a function that unsubscribes. */
  subscribe(poll: string, adminToken: string | null, listener: FrameListener, onDisconnect: () => void = () => {}): () => void {
    const id = this.nextId++;
    const sub: Subscription = { poll, adminToken, listener, onDisconnect };
    this.subs.set(id, sub);
    if (this.ws?.readyState === WebSocket.OPEN) this.sendSubscribe(sub);
    return () => {
      this.subs.delete(id);
      const still = [...this.subs.values()].some((s) => s.poll === poll);
      if (!still) this.send({ type: 'unsubscribe', poll });
    };
  }

  /** Change the admin token of the subscriptions of a poll (null: subscribe as anyone). */
  resubscribe(poll: string, adminToken: string | null): void {
    for (const s of this.subs.values()) if (s.poll === poll) s.adminToken = adminToken;
    const first = [...this.subs.values()].find((s) => s.poll === poll);
    if (first && this.ws?.readyState === WebSocket.OPEN) this.sendSubscribe(first);
  }

  close(): void {
    this.closed = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    this.clearTimers();
    this.drop();
    this.stateListeners.clear();
  }

  private setState(s: ConnectionState): void {
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private connect(): void {
    if (this.closed) return;
    this.clearTimers();
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.setState(this.attempt === 0 ? 'connecting' : this.attempt >= OFFLINE_AFTER ? 'offline' : 'reconnecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastFrameAt = Date.now();
      const polls = new Set<string>();
      for (const s of this.subs.values()) {
        if (polls.has(s.poll)) continue;
        polls.add(s.poll);
        this.sendSubscribe(s);
      }
      this.startPing();
    };
    ws.onmessage = (ev) => this.onMessage(ev);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.lost(ev.code === 1012 || ev.code === 1001);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private onMessage(ev: MessageEvent): void {
    this.lastFrameAt = Date.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(ev.data)) as ServerFrame;
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    if (frame.type === 'hello') {
      if (typeof frame.heartbeat === 'number' && frame.heartbeat > 0) {
        this.pingMs = Math.max(5_000, Math.min(DEFAULT_PING_MS, frame.heartbeat * 1000));
        this.startPing();
      }
      return;
    }
    if (frame.type === 'pong') return;
    if (frame.type === 'snapshot') {
      // A working subscription: the connection is sound, the next drop starts the schedule over.
      this.attempt = 0;
      this.setState('live');
    }
    const poll = 'poll' in frame ? frame.poll : undefined;
    for (const s of [...this.subs.values()]) {
      if (poll === undefined || s.poll === poll) s.listener(frame);
    }
    if (frame.type === 'error' && this.state !== 'live' && poll !== undefined) {
      // Subscribed to nothing that works (unknown poll, …): still connected.
      this.setState('live');
    }
  }

  private lost(fast: boolean): void {
    this.stopPing();
    for (const s of this.subs.values()) s.onDisconnect();
    if (this.closed) return;
    if (fast && this.attempt === 0) {
      // Server restart (1012) or going away: reconnect elsewhere almost at once.
      this.attempt = 1;
      this.setState('reconnecting');
      this.retryTimer = setTimeout(() => this.connect(), backoffDelay(0, { base: 300 }));
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState(this.attempt >= OFFLINE_AFTER || navigator.onLine === false ? 'offline' : 'reconnecting');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private sendSubscribe(s: Subscription): void {
    this.send(s.adminToken ? { type: 'subscribe', poll: s.poll, admin_token: s.adminToken } : { type: 'subscribe', poll: s.poll });
  }

  private send(msg: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) {
      try {
        this.ws.send(JSON.stringify(msg));
      } catch {
        /* closing; onclose handles it */
      }
    }
  }

  private startPing(): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastFrameAt > this.pingMs + PONG_GRACE_MS) {
        // Half-open connection: nothing (not even a pong) for too long.
        this.drop();
        this.lost(false);
        return;
      }
      this.send({ type: 'ping' });
    }, this.pingMs);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopPing();
  }

  /** Forget the current socket without triggering its close handler. */
  private drop(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        /* ignore */
      }
    }
  }

  private onOnline = () => {
    if (this.closed || this.ws) return;
    this.attempt = 0;
    this.connect();
  };

  private onOffline = () => {
    if (this.closed) return;
    this.drop();
    this.clearTimers();
    for (const s of this.subs.values()) s.onDisconnect();
    this.setState('offline');
  };

  private onVisible = () => {
    if (this.closed || document.visibilityState !== 'visible' || this.ws) return;
    // Back to the tab while waiting for a retry: try now.
    this.connect();
  };
}
