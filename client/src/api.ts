// The JSON HTTP API (DESIGN.md §4): fetch, runtime checks of every answer (check.ts), errors as
// ApiError with the server's code (texts come from the message catalog, messages.ts).

import * as check from './check';
import { hasMessage, t } from './messages';
import { getVoterToken, setVoterToken } from './storage';
import type { Ballot, CodeStatus, CreatePollBody, CreatePollResponse, Poll, PollPage } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    /** The server's own sentence (English); the page shows the catalog's text when it has one. */
    readonly serverMessage = '',
  ) {
    super(serverMessage || code);
    this.name = 'ApiError';
  }
}

/** Words for any error, from the message catalog (the server's sentence only for codes it does not know). */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (hasMessage(err.code)) return t(err.code, { status: err.status });
    return err.serverMessage || t('http_error', { status: err.status });
  }
  if (err instanceof check.ContractError) return t('bad_response');
  return t('unknown');
}

/** 4xx answers are final: retrying cannot change them (TanStack Query's `retry`). */
export function isFinal(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 400 && err.status < 500;
  return err instanceof check.ContractError;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function send(path: string, opts: RequestOptions, accept = 'application/json'): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept, ...opts.headers };
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
    throw new ApiError(0, 'network_error');
  }
  if (!res.ok) {
    let code = 'http_error';
    let message = '';
    try {
      const data: unknown = JSON.parse(await res.text());
      const err = (data as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      if (typeof err?.code === 'string') code = err.code;
      if (typeof err?.message === 'string') message = err.message;
    } catch {
      /* not JSON (a proxy's page): the status tells */
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

async function request<T>(path: string, shape: check.Check<T>, opts: RequestOptions = {}): Promise<{ status: number; data: T }> {
  const res = await send(path, opts);
  let data: unknown;
  try {
    data = JSON.parse(await res.text());
  } catch {
    throw new check.ContractError(path, 'JSON');
  }
  return { status: res.status, data: shape(data) };
}

const pollPath = (id: string) => `/api/polls/${encodeURIComponent(id)}`;

function voterHeaders(): Record<string, string> {
  const tok = getVoterToken();
  return tok ? { 'X-Voter-Token': tok } : {};
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

let voterPromise: Promise<string> | null = null;

/** This browser's voter token: the stored one, else a new one (POST /api/voters, which also sets the cookie). */
export function ensureVoter(renew = false): Promise<string> {
  const have = getVoterToken();
  if (have && !renew) return Promise.resolve(have);
  if (!voterPromise) {
    voterPromise = request('/api/voters', check.voterReply, { method: 'POST', body: {} })
      .then((r) => {
        setVoterToken(r.data.voter_token);
        return r.data.voter_token;
      })
      .finally(() => {
        voterPromise = null;
      });
  }
  return voterPromise;
}

/** Run `fn` with a voter token; a refused token (401 voter_required) is replaced once. */
async function asVoter<T>(fn: () => Promise<T>): Promise<T> {
  await ensureVoter();
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError && e.code === 'voter_required') {
      await ensureVoter(true);
      return fn();
    }
    throw e;
  }
}

export const api = {
  /** POST /api/polls.  The Idempotency-Key is scoped to the voter token (DESIGN.md §4), so one is sent. */
  createPoll: (body: CreatePollBody, idempotencyKey: string): Promise<CreatePollResponse> =>
    asVoter(() =>
      request('/api/polls', check.createReply, {
        method: 'POST',
        body,
        headers: { 'Idempotency-Key': idempotencyKey, ...voterHeaders() },
      }).then((r) => r.data),
    ),

  listPolls: (cursor?: string | null, limit = 20): Promise<PollPage> => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return request(`/api/polls?${q}`, check.pollPage).then((r) => r.data);
  },

  getPoll: (id: string, adminToken?: string | null, signal?: AbortSignal): Promise<Poll> =>
    request(pollPath(id), check.pollReply, { headers: adminToken ? bearer(adminToken) : voterHeaders(), signal }).then(
      (r) => r.data.poll,
    ),

  /** The caller's ballot: by voter token, or by access code + the receipt this device kept. */
  getBallot: (id: string, by: { code: string; receipt: string } | null = null, signal?: AbortSignal): Promise<Ballot> => {
    const q = by ? `?${new URLSearchParams({ code: by.code, receipt: by.receipt })}` : '';
    const get = () => request(`${pollPath(id)}/ballot${q}`, check.ballotReply, { headers: voterHeaders(), signal });
    return (by ? get() : asVoter(get)).then((r) => r.data.ballot);
  },

  /** GET …/codes/{code}: unused | used; 403 invalid_code. */
  checkCode: (id: string, code: string, signal?: AbortSignal): Promise<CodeStatus> =>
    request(`${pollPath(id)}/codes/${encodeURIComponent(code)}`, check.codeStatus, { signal }).then((r) => r.data),

  castBallot: (
    id: string,
    choices: Record<string, string[]>,
    code: string | null,
    idempotencyKey: string,
  ): Promise<{ ballot: Ballot; replaced: boolean }> => {
    const post = () =>
      request(`${pollPath(id)}/ballots`, check.ballotReply, {
        method: 'POST',
        body: code ? { choices, code } : { choices },
        headers: { ...voterHeaders(), 'Idempotency-Key': idempotencyKey },
      });
    return (code ? post() : asVoter(post)).then((r) => ({ ballot: r.data.ballot, replaced: r.status === 200 }));
  },

  closePoll: (id: string, token: string): Promise<Poll> =>
    request(`${pollPath(id)}/close`, check.pollReply, { method: 'POST', body: {}, headers: bearer(token) }).then((r) => r.data.poll),

  reopenPoll: (id: string, token: string): Promise<Poll> =>
    request(`${pollPath(id)}/reopen`, check.pollReply, { method: 'POST', body: {}, headers: bearer(token) }).then((r) => r.data.poll),

  deletePoll: (id: string, token: string): Promise<void> =>
    send(pollPath(id), { method: 'DELETE', headers: bearer(token) }).then(() => undefined),

  /** The results as CSV (the admin token shows after_close results before the close). */
  resultsCsv: (id: string, token: string | null): Promise<Blob> =>
    send(`${pollPath(id)}/results?format=csv`, { headers: token ? bearer(token) : {} }, 'text/csv').then((r) => r.blob()),
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
