import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, ensureVoter, errorText, isFinal } from './api';
import { ContractError } from './check';
import { MemoryStorage } from './test/fakes';

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

let calls: Call[];
let replies: ((c: Call) => Response | Promise<Response>)[];

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const poll = {
  id: 'abcd2345',
  title: 'Lunch?',
  description: '',
  results: 'live',
  show_results: 'always',
  allow_revote: false,
  eligibility: 'open',
  visibility: 'unlisted',
  status: 'open',
  closes_at: null,
  created_at: '2026-01-01T00:00:00Z',
  closed_at: null,
  questions: [{ id: 'q1', text: 'Where?', kind: 'single', min_choices: 1, max_choices: 1, options: [{ id: 'o1', label: 'A' }, { id: 'o2', label: 'B' }] }],
  tally: { seq: 0, total: 0, questions: [{ id: 'q1', counts: { o1: 0, o2: 0 } }] },
};

beforeEach(() => {
  calls = [];
  replies = [];
  vi.stubGlobal('window', { localStorage: new MemoryStorage() });
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    const c: Call = {
      url,
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      body: init.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(c);
    const next = replies.shift();
    if (!next) throw new Error(`unexpected request ${c.method} ${url}`);
    return next(c);
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('createPoll', () => {
  it('gets a voter token first and sends it with the Idempotency-Key', async () => {
    replies.push(
      () => json(201, { voter_token: 'v1' }),
      () => json(201, { poll, admin_token: 'adm', codes: [] }),
    );
    const res = await api.createPoll({ title: 'Lunch?', questions: [] }, 'key-1');
    expect(res.admin_token).toBe('adm');
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['POST /api/voters', 'POST /api/polls']);
    expect(calls[1].headers['Idempotency-Key']).toBe('key-1');
    expect(calls[1].headers['X-Voter-Token']).toBe('v1');
    expect(calls[1].headers['Content-Type']).toBe('application/json');
  });

  it('uses the stored voter token, and renews it once when the server refuses it', async () => {
    window.localStorage.setItem('voting.voter', 'stale');
    replies.push(
      () => json(401, { error: { code: 'voter_required', message: 'A voter token is required.' } }),
      () => json(201, { voter_token: 'fresh' }),
      () => json(201, { poll, admin_token: 'adm' }),
    );
    await api.createPoll({ title: 'x', questions: [] }, 'k');
    expect(calls[0].headers['X-Voter-Token']).toBe('stale');
    expect(calls[2].headers['X-Voter-Token']).toBe('fresh');
    expect(calls[2].headers['Idempotency-Key']).toBe('k');
    expect(window.localStorage.getItem('voting.voter')).toBe('fresh');
  });

  it('shares one POST /api/voters between concurrent callers', async () => {
    let release: (r: Response) => void = () => {};
    replies.push(() => new Promise<Response>((r) => (release = r)));
    const a = ensureVoter();
    const b = ensureVoter();
    release(json(201, { voter_token: 'one' }));
    expect(await a).toBe('one');
    expect(await b).toBe('one');
    expect(calls).toHaveLength(1);
  });
});

describe('answers are checked at runtime', () => {
  it('rejects a poll of the wrong shape with ContractError', async () => {
    replies.push(() => json(200, { poll: { ...poll, questions: 'nope' } }));
    const err = await api.getPoll('abcd2345').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContractError);
    expect(String((err as Error).message)).toMatch(/poll\.questions/);
    expect(errorText(err)).toMatch(/does not understand/);
    expect(isFinal(err)).toBe(true);
  });

  it('accepts a valid poll, with show_results when the server sends it', async () => {
    replies.push(() => json(200, { poll: { ...poll, show_results: 'after_vote' } }));
    const p = await api.getPoll('abcd2345');
    expect(p.show_results).toBe('after_vote');
    expect(p.tally?.questions?.[0].counts.o1).toBe(0);
  });

  it('rejects a tally without seq', async () => {
    replies.push(() => json(200, { poll: { ...poll, tally: { total: 1 } } }));
    await expect(api.getPoll('abcd2345')).rejects.toBeInstanceOf(ContractError);
  });
});

describe('errors', () => {
  it('keep the server code; the text comes from the catalog', async () => {
    replies.push(() => json(403, { error: { code: 'invalid_code', message: 'Invalid access code.' } }));
    const err = await api.checkCode('abcd2345', 'zzzz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(403);
    expect((err as ApiError).code).toBe('invalid_code');
    expect(errorText(err)).toBe('This code is not valid for this poll.');
    expect(isFinal(err)).toBe(true);
  });

  it('an unknown code falls back to the server sentence; a non-JSON page to the status', async () => {
    replies.push(() => json(422, { error: { code: 'brand_new', message: 'Something new.' } }));
    expect(errorText(await api.listPolls().catch((e: unknown) => e))).toBe('Something new.');
    replies.push(() => new Response('<html>bad gateway</html>', { status: 502 }));
    const err = await api.listPolls().catch((e: unknown) => e);
    expect(errorText(err)).toBe('The server answered 502.');
    expect(isFinal(err)).toBe(false);
  });

  it('a network failure is network_error, and worth a retry', async () => {
    replies.push(() => Promise.reject(new TypeError('Failed to fetch')));
    const err = await api.listPolls().catch((e: unknown) => e);
    expect((err as ApiError).code).toBe('network_error');
    expect(isFinal(err)).toBe(false);
  });
});

describe('ballots and codes', () => {
  it('reads a code ballot with code and receipt in the query', async () => {
    replies.push(() => json(200, { ballot: { poll_id: 'abcd2345', choices: { q1: ['o1'] }, receipt: 'r1' } }));
    const b = await api.getBallot('abcd2345', { code: 'k3x9 q2ab', receipt: 'r1' });
    expect(b.receipt).toBe('r1');
    expect(calls[0].url).toBe('/api/polls/abcd2345/ballot?code=k3x9+q2ab&receipt=r1');
  });

  it('casts a ballot with the code in the body and the key in the header', async () => {
    replies.push(() => json(200, { ballot: { poll_id: 'abcd2345', choices: { q1: ['o1'] }, receipt: 'r2' } }));
    const res = await api.castBallot('abcd2345', { q1: ['o1'] }, 'code1', 'key-9');
    expect(res.replaced).toBe(true);
    expect(calls[0].body).toEqual({ choices: { q1: ['o1'] }, code: 'code1' });
    expect(calls[0].headers['Idempotency-Key']).toBe('key-9');
  });

  it('checks a code', async () => {
    replies.push(() => json(200, { status: 'used' }));
    expect(await api.checkCode('abcd2345', 'abc')).toEqual({ status: 'used' });
    expect(calls[0].url).toBe('/api/polls/abcd2345/codes/abc');
  });
});
