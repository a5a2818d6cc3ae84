import { useCallback, useEffect, useReducer, useRef, useState, useSyncExternalStore } from 'react';
import { liveConnection, type ConnectionState, type LiveListener } from './live';
import { initialTallyState, tallyReducer, type TallyState } from './state/tally';
import type { PollStatus, ServerFrame, Tally } from './types';

export interface LiveTally {
  tally: TallyState;
  connection: ConnectionState;
  /** Error frame for this poll (poll_not_found, …), if any. */
  error: { code: string; message: string } | null;
  /** The admin token was refused (forbidden): subscribed without it. */
  adminRefused: boolean;
  /** Seed the state from an HTTP answer (ignored if older than what the socket gave). */
  seed: (tally: Tally, status?: PollStatus) => void;
}

/** State of the app's live connection. */
export function useConnectionState(): ConnectionState {
  const live = liveConnection();
  return useSyncExternalStore(live.onState, live.getState, () => 'connecting');
}

/** Live tally of one poll over the app's WebSocket.  pollId null: not yet. */
export function useLiveTally(pollId: string | null, adminToken: string | null = null): LiveTally {
  const [tally, dispatch] = useReducer(tallyReducer, initialTallyState);
  const connection = useConnectionState();
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const [adminRefused, setAdminRefused] = useState(false);

  useEffect(() => {
    if (!pollId) return;
    const live = liveConnection();
    const listener: LiveListener = {
      onFrame: (frame: ServerFrame) => {
        if (frame.type === 'error') {
          if (frame.code === 'forbidden' && adminToken) {
            setAdminRefused(true);
            live.setToken(pollId, listener, null);
            return;
          }
          if (frame.type === 'error' && 'poll' in frame) setError({ code: frame.code, message: frame.message ?? '' });
          return;
        }
        if (frame.type === 'snapshot') setError(null);
        dispatch({ type: 'frame', frame, now: Date.now() });
      },
      onDisconnect: () => dispatch({ type: 'disconnected' }),
    };
    const stop = live.subscribe(pollId, listener, adminToken);
    return () => {
      stop();
      setError(null);
      setAdminRefused(false);
    };
  }, [pollId, adminToken]);

  const seed = useCallback((t: Tally, status?: PollStatus) => dispatch({ type: 'seed', tally: t, status, now: Date.now() }), []);

  return { tally, connection, error, adminRefused, seed };
}

/** The current time, refreshed every `periodMs`. */
export function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(t);
  }, [periodMs]);
  return now;
}

/**
 * Throttle a message for an aria-live region: the region changes at most once per
 * `intervalMs`, always to the newest message, so screen readers are not flooded.
 */
export function useThrottled(message: string, intervalMs = 5000): string {
  const [shown, setShown] = useState(message);
  const lastRef = useRef(0);
  const latestRef = useRef(message);
  useEffect(() => {
    latestRef.current = message;
  });
  useEffect(() => {
    if (message === shown) return;
    const wait = Math.max(0, lastRef.current + intervalMs - Date.now());
    const timer = setTimeout(() => {
      lastRef.current = Date.now();
      setShown(latestRef.current);
    }, wait);
    return () => clearTimeout(timer);
  }, [message, shown, intervalMs]);
  return shown;
}

export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Voting` : 'Voting';
  }, [title]);
}
