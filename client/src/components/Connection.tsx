import type { ConnectionState } from '../live';
import { useNow } from '../hooks';

const LABEL: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

export function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  return `${h} h ago`;
}

/** Connection indicator (live / reconnecting / offline) and "updated N s ago". */
export function ConnectionStatus({ state, updatedAt }: { state: ConnectionState; updatedAt: number | null }) {
  const now = useNow(1000);
  return (
    <p className="conn" data-state={state} data-testid="connection">
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-label">{LABEL[state]}</span>
      {updatedAt !== null && <span className="conn-ago"> · updated {ago(now - updatedAt)}</span>}
    </p>
  );
}
