// Reconnect schedule: exponential backoff with jitter, capped.
//
// attempt 0 is the first retry after a drop.  The ceiling grows base·2^attempt up to `cap`;
// the delay is drawn in [ceiling/2, ceiling] ("equal jitter"), so clients that lost the
// same server spread out but none waits longer than `cap`.

export interface BackoffOptions {
  /** First ceiling in ms. */
  base?: number;
  /** Largest delay in ms. */
  cap?: number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { base: 500, cap: 30_000 } as const;

export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.base ?? DEFAULT_BACKOFF.base;
  const cap = options.cap ?? DEFAULT_BACKOFF.cap;
  const random = options.random ?? Math.random;
  const n = Number.isNaN(attempt) ? 0 : Math.max(0, Math.floor(attempt));
  // 2 ** n overflows to Infinity for huge n; Math.min keeps it at cap.
  const ceiling = Math.min(cap, base * 2 ** Math.min(n, 52));
  let r = random();
  if (!(r >= 0)) r = 0;
  if (r >= 1) r = 0.999999;
  return Math.round(ceiling / 2 + r * (ceiling / 2));
}
