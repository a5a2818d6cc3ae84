// Thin fetch wrapper for the JSON HTTP API (DESIGN.md §4).

import type { Ballot, CreatePollBody, CreatePollResponse, Poll, PollSummary } from './types';
import { getVoterToken } from './storage';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Words for the error codes a person may meet, used when the server's message is missing. */
const FRIENDLY: Record<string, string> = {
  network_error: 'The server could not be reached. Check your connection and try again.',
  invalid_poll: 'The poll is not valid.',
  poll_not_found: 'This poll does not exist (or was deleted).',
  poll_closed: 'This poll is closed: no more votes are accepted.',
  already_voted: 'You have already voted in this poll.',
  invalid_code: 'This access code is not valid for this poll.',
  code_used: 'This access code has already been used.',
  voter_required: 'An access code is needed to vote in this poll.',
  invalid_ballot: 'The ballot is not valid.',
  rate_limited: 'Too many requests right now. Wait a moment and try again.',
  admin_required: 'The organizer link (admin token) is needed for this.',
  forbidden: 'The organizer token does not match this poll.',
  results_hidden: 'Results are shown when the poll closes.',
  storage_unavailable: 'The server cannot save right now. Try again in a few seconds.',
  payload_too_large: 'The poll is too large.',
};

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    return err.message || FRIENDLY[err.code] || `Something went wrong (${err.code}).`;
  }
  if (err instanceof Error && err.message) return err.message;
  return 'Something went wrong.';
}

export function friendly(code: string): string {
  return FRIENDLY[code] ?? code;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function request<T>(path: string, opts: RequestOptions = {}): Promise<{ status: number; data: T }> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? 'GET', headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', FRIENDLY.network_error);
  }
  if (res.status === 204) return { status: 204, data: undefined as T };
  let data: unknown = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
    const code = err?.code ?? `http_${res.status}`;
    throw new ApiError(res.status, code, err?.message || FRIENDLY[code] || `The server answered ${res.status}.`);
  }
  return { status: res.status, data: data as T };
}

function voterHeaders(): Record<string, string> {
  const t = getVoterToken();
  return t ? { 'X-Voter-Token': t } : {};
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

export const api = {
  createPoll: (body: CreatePollBody, idempotencyKey: string) =>
    request<CreatePollResponse>('/api/polls', { method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey } }).then(
      (r) => r.data,
    ),

  listPolls: (cursor?: string | null, limit = 20) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return request<{ polls: PollSummary[]; next_cursor: string | null }>(`/api/polls?${q}`).then((r) => r.data);
  },

  getPoll: (id: string, adminToken?: string | null) =>
    request<{ poll: Poll }>(`/api/polls/${encodeURIComponent(id)}`, {
      headers: adminToken ? bearer(adminToken) : voterHeaders(),
    }).then((r) => r.data.poll),

  newVoter: () => request<{ voter_token: string }>('/api/voters', { method: 'POST', body: {} }).then((r) => r.data.voter_token),

  getBallot: (id: string, code?: string | null) => {
    const q = code ? `?code=${encodeURIComponent(code)}` : '';
    return request<{ ballot: Ballot }>(`/api/polls/${encodeURIComponent(id)}/ballot${q}`, { headers: voterHeaders() }).then(
      (r) => r.data.ballot,
    );
  },

  castBallot: (id: string, choices: Record<string, string[]>, code: string | null, idempotencyKey: string) =>
    request<{ ballot: Ballot }>(`/api/polls/${encodeURIComponent(id)}/ballots`, {
      method: 'POST',
      body: code ? { choices, code } : { choices },
      headers: { ...voterHeaders(), 'Idempotency-Key': idempotencyKey },
    }).then((r) => ({ ballot: r.data.ballot, replaced: r.status === 200 })),

  closePoll: (id: string, token: string) =>
    request<{ poll: Poll }>(`/api/polls/${encodeURIComponent(id)}/close`, { method: 'POST', body: {}, headers: bearer(token) }).then(
      (r) => r.data.poll,
    ),

  reopenPoll: (id: string, token: string) =>
    request<{ poll: Poll }>(`/api/polls/${encodeURIComponent(id)}/reopen`, { method: 'POST', body: {}, headers: bearer(token) }).then(
      (r) => r.data.poll,
    ),

  deletePoll: (id: string, token: string) =>
    request<void>(`/api/polls/${encodeURIComponent(id)}`, { method: 'DELETE', headers: bearer(token) }).then(() => undefined),

  /** The results as CSV text (admin token allows after_close results before the close). */
  resultsCsv: async (id: string, token: string | null): Promise<Blob> => {
    let res: Response;
    try {
      res = await fetch(`/api/polls/${encodeURIComponent(id)}/results?format=csv`, {
        headers: { Accept: 'text/csv', ...(token ? bearer(token) : {}) },
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiError(0, 'network_error', FRIENDLY.network_error);
    }
    if (!res.ok) {
      let code = `http_${res.status}`;
      let message = '';
      try {
        const data = (await res.json()) as { error?: { code?: string; message?: string } };
        code = data.error?.code ?? code;
        message = data.error?.message ?? '';
      } catch {
        /* not JSON */
      }
      throw new ApiError(res.status, code, message || FRIENDLY[code] || `The server answered ${res.status}.`);
    }
    return res.blob();
  },
};

/** A random RFC 4122 v4 UUID; crypto.randomUUID is missing outside secure contexts (plain http on a LAN). */
export function uuid(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') {
    try {
      return c.randomUUID();
    } catch {
      /* fall through */
    }
  }
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
