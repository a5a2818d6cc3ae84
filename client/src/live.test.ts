import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CONNECT_TIMEOUT_MS, IDLE_CLOSE_MS, LiveConnection, PONG_TIMEOUT_MS, type LiveListener } from './live';
import { FakeDocument, FakeWebSocket } from './test/fakes';
import type { ServerFrame } from './types';

let win: EventTarget;
let doc: FakeDocument;
let online: boolean;

function make(): LiveConnection {
  return new LiveConnection('ws://test/ws', {
    WebSocket: FakeWebSocket as unknown as new (url: string) => WebSocket,
    window: win,
    document: doc,
    isOnline: () => online,
  });
}

function listener(): LiveListener & { frames: ServerFrame[]; drops: number } {
  const l = {
    frames: [] as ServerFrame[],
    drops: 0,
    onFrame: (f: ServerFrame) => l.frames.push(f),
    onDisconnect: () => {
      l.drops += 1;
    },
  };
  return l;
}

const snapshot = (poll: string, seq: number, total = seq) => ({
  type: 'snapshot',
  poll,
  seq,
  status: 'open',
  total,
  questions: [{ id: 'q1', counts: { o1: total } }],
});

/** Open the current socket with a hello (heartbeat in seconds). */
function openWithHello(heartbeat = 10): FakeWebSocket {
  const ws = FakeWebSocket.last();
  ws.open();
  ws.receive({ type: 'hello', server: 'backend1', heartbeat });
  return ws;
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
  FakeWebSocket.reset();
  win = new EventTarget();
  doc = new FakeDocument();
  online = true;
});

afterEach(() => {
  vi.useRealTimers();
});

describe('LiveConnection subscriptions', () => {
  it('shares one socket and one subscribe per poll between listeners', () => {
    const live = make();
    const a = listener();
    const b = listener();
    const c = listener();
    const stopA = live.subscribe('p1', a);
    const stopB = live.subscribe('p1', b);
    live.subscribe('p2', c);
    expect(FakeWebSocket.instances).toHaveLength(1);
    const ws = openWithHello();
    expect(ws.sentOfType('subscribe')).toEqual([
      { type: 'subscribe', poll: 'p1' },
      { type: 'subscribe', poll: 'p2' },
    ]);
    ws.receive(snapshot('p1', 3));
    ws.receive(snapshot('p2', 8));
    expect(a.frames.map((f) => f.type)).toEqual(['snapshot']);
    expect(b.frames).toHaveLength(1);
    expect(c.frames).toHaveLength(1);
    expect(live.state).toBe('live');

    stopA();
    expect(ws.sentOfType('unsubscribe')).toEqual([]); // b still listens to p1
    stopB();
    expect(ws.sentOfType('unsubscribe')).toEqual([{ type: 'unsubscribe', poll: 'p1' }]);
    expect(live.subscribedPolls()).toEqual(['p2']);
  });

  it('subscribes with the admin token and resubscribes without it on request', () => {
    const live = make();
    const a = listener();
    live.subscribe('p1', a, 'tok');
    const ws = openWithHello();
    expect(ws.sentOfType('subscribe')).toEqual([{ type: 'subscribe', poll: 'p1', admin_token: 'tok' }]);
    live.setToken('p1', a, null);
    expect(ws.sentOfType('subscribe').at(-1)).toEqual({ type: 'subscribe', poll: 'p1' });
  });

  it('closes the socket a while after the last subscription left', () => {
    const live = make();
    const stop = live.subscribe('p1', listener());
    const ws = openWithHello();
    stop();
    vi.advanceTimersByTime(IDLE_CLOSE_MS - 1);
    expect(ws.closedByClient).toBe(false);
    vi.advanceTimersByTime(2);
    expect(ws.closedByClient).toBe(true);
  });

  it('drops frames that break the contract: a tally without seq never reaches a listener', () => {
    const live = make();
    const a = listener();
    live.subscribe('p1', a);
    const ws = openWithHello();
    ws.receive({ type: 'tally', poll: 'p1', total: 99, questions: [] });
    ws.receive({ type: 'tally', poll: 'p1', seq: '5', total: 5 });
    ws.receive('not json');
    ws.receive({ type: 'mystery', poll: 'p1' });
    expect(a.frames).toEqual([]);
    ws.receive({ type: 'tally', poll: 'p1', seq: 5, total: 5 });
    expect(a.frames).toHaveLength(1);
  });
});

describe('LiveConnection reconnects', () => {
  it('re-subscribes every poll after a reconnect and tells listeners about the drop', () => {
    const live = make();
    const a = listener();
    live.subscribe('p1', a, 'tok');
    live.subscribe('p2', listener());
    const first = openWithHello();
    first.serverClose(1006);
    expect(a.drops).toBe(1);
    expect(live.state).toBe('reconnecting');
    vi.advanceTimersByTime(500); // the first retry waits at most 500 ms
    expect(FakeWebSocket.instances).toHaveLength(2);
    const second = openWithHello();
    expect(second.sentOfType('subscribe')).toEqual([
      { type: 'subscribe', poll: 'p1', admin_token: 'tok' },
      { type: 'subscribe', poll: 'p2' },
    ]);
  });

  it('abandons a connect attempt that does not open in time', () => {
    const live = make();
    live.subscribe('p1', listener());
    const stuck = FakeWebSocket.last();
    vi.advanceTimersByTime(CONNECT_TIMEOUT_MS + 1);
    expect(stuck.closedByClient).toBe(true);
    expect(live.state).toBe('reconnecting');
    vi.advanceTimersByTime(30_000);
    expect(FakeWebSocket.instances.length).toBeGreaterThanOrEqual(2);
  });

  it('reconnects at once after a server restart (1012)', () => {
    const live = make();
    live.subscribe('p1', listener());
    openWithHello().serverClose(1012);
    vi.advanceTimersByTime(300);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it('says offline when the browser goes offline, and reconnects when it is back', () => {
    const live = make();
    const a = listener();
    live.subscribe('p1', a);
    const ws = openWithHello();
    online = false;
    win.dispatchEvent(new Event('offline'));
    expect(live.state).toBe('offline');
    expect(ws.closedByClient).toBe(true);
    expect(a.drops).toBe(1);
    online = true;
    win.dispatchEvent(new Event('online'));
    expect(FakeWebSocket.instances).toHaveLength(2);
  });
});

describe('LiveConnection watchdog', () => {
  it('pings on the heartbeat and keeps a socket that answers', () => {
    const live = make();
    live.subscribe('p1', listener());
    const ws = openWithHello(10);
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(10_000);
      expect(ws.sentOfType('ping')).toHaveLength(i + 1);
      vi.advanceTimersByTime(100);
      ws.receive({ type: 'pong' });
    }
    vi.advanceTimersByTime(PONG_TIMEOUT_MS * 2);
    expect(ws.closedByClient).toBe(false);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('measures from the ping: other frames do not keep a socket without pongs alive', () => {
    const live = make();
    const a = listener();
    live.subscribe('p1', a);
    const ws = openWithHello(10);
    vi.advanceTimersByTime(10_000);
    expect(ws.sentOfType('ping')).toHaveLength(1);
    for (let seq = 1; seq <= 5; seq++) {
      vi.advanceTimersByTime(1_000);
      ws.receive({ type: 'tally', poll: 'p1', seq, total: seq });
    }
    vi.advanceTimersByTime(PONG_TIMEOUT_MS);
    expect(ws.closedByClient).toBe(true);
    expect(a.drops).toBe(1);
    expect(live.state).toBe('reconnecting');
  });

  it('does not condemn the socket when its deadline fires late (a throttled background tab)', () => {
    const live = make();
    live.subscribe('p1', listener());
    const ws = openWithHello(10);
    vi.advanceTimersByTime(10_000); // ping 1 sent
    // The tab is throttled: the clock jumps a minute while no timer ran.
    vi.setSystemTime(Date.now() + 60_000);
    vi.advanceTimersByTime(PONG_TIMEOUT_MS); // the late deadline: asks again instead
    expect(ws.closedByClient).toBe(false);
    expect(ws.sentOfType('ping')).toHaveLength(2);
    ws.receive({ type: 'pong' });
    vi.advanceTimersByTime(PONG_TIMEOUT_MS + 1);
    expect(ws.closedByClient).toBe(false);
  });

  it('a tab coming back tests its socket with a ping at once', () => {
    const live = make();
    live.subscribe('p1', listener());
    const ws = openWithHello(10);
    doc.setVisible(false);
    doc.setVisible(true);
    expect(ws.sentOfType('ping')).toHaveLength(1);
    // No pong: dead within the deadline, not after a whole heartbeat.
    vi.advanceTimersByTime(PONG_TIMEOUT_MS + 1);
    expect(ws.closedByClient).toBe(true);
    expect(live.state).toBe('reconnecting');
  });

  it('a tab coming back while waiting to retry connects at once', () => {
    const live = make();
    live.subscribe('p1', listener());
    openWithHello().serverClose(1006);
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(CONNECT_TIMEOUT_MS + 1); // attempts that never open
    }
    const before = FakeWebSocket.instances.length;
    const last = FakeWebSocket.last();
    last.serverClose(1006);
    doc.setVisible(true);
    expect(FakeWebSocket.instances.length).toBe(before + 1);
    expect(live.state).not.toBe('live');
  });
});
