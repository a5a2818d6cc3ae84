// Runtime checks of what the server sends (HTTP JSON and WebSocket frames).  The static types
// come from the OpenAPI document; these make sure the data that arrives has that shape before
// any page or reducer relies on it.  A value that does not fit throws ContractError.

import type {
  Ballot,
  CodeStatus,
  CreatePollResponse,
  Poll,
  PollPage,
  PollSummary,
  Question,
  QuestionTally,
  Results,
  ServerFrame,
  Tally,
} from './types';

export class ContractError extends Error {
  constructor(readonly path: string, expected: string) {
    super(`${path || 'value'}: expected ${expected}`);
    this.name = 'ContractError';
  }
}

export type Check<T> = (v: unknown, path?: string) => T;

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const str: Check<string> = (v, p = '') => {
  if (typeof v !== 'string') throw new ContractError(p, 'a string');
  return v;
};

/** A whole number ≥ 0 (counts, totals, seq). */
export const count: Check<number> = (v, p = '') => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ContractError(p, 'a whole number ≥ 0');
  return v;
};

export const int: Check<number> = (v, p = '') => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ContractError(p, 'a whole number');
  return v;
};

export const bool: Check<boolean> = (v, p = '') => {
  if (typeof v !== 'boolean') throw new ContractError(p, 'true or false');
  return v;
};

export function oneOf<T extends string>(...values: T[]): Check<T> {
  return (v, p = '') => {
    if (typeof v !== 'string' || !(values as string[]).includes(v)) throw new ContractError(p, values.join(' | '));
    return v as T;
  };
}

export function nullable<T>(c: Check<T>): Check<T | null> {
  return (v, p = '') => (v === null ? null : c(v, p));
}

export function arrayOf<T>(c: Check<T>): Check<T[]> {
  return (v, p = '') => {
    if (!Array.isArray(v)) throw new ContractError(p, 'an array');
    return v.map((x, i) => c(x, `${p}[${i}]`));
  };
}

export function recordOf<T>(c: Check<T>): Check<Record<string, T>> {
  return (v, p = '') => {
    if (!isRecord(v)) throw new ContractError(p, 'an object');
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(v)) out[k] = c(x, `${p}.${k}`);
    return out;
  };
}

type Shape = Record<string, Check<unknown>>;
type Out<R extends Shape, O extends Shape> = { [K in keyof R]: ReturnType<R[K]> } & { [K in keyof O]?: ReturnType<O[K]> };

/** An object with `required` and `optional` fields; other fields are kept as they came. */
export function object<R extends Shape, O extends Shape = Record<never, never>>(required: R, optional?: O): Check<Out<R, O>> {
  return (v, p = '') => {
    if (!isRecord(v)) throw new ContractError(p, 'an object');
    const out: Rec = { ...v };
    for (const [k, c] of Object.entries(required)) out[k] = c(v[k], p ? `${p}.${k}` : k);
    if (optional)
      for (const [k, c] of Object.entries(optional)) {
        if (v[k] === undefined) delete out[k];
        else out[k] = c(v[k], p ? `${p}.${k}` : k);
      }
    return out as Out<R, O>;
  };
}

const status = oneOf('open', 'closed');

/** A number (mean, median). */
export const num: Check<number> = (v, p = '') => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ContractError(p, 'a number');
  return v;
};

const round = object({ counts: recordOf(count), eliminated: arrayOf(str), exhausted: count });

export const questionTally: Check<QuestionTally> = object(
  { id: str, counts: recordOf(count) },
  { rounds: arrayOf(round), winner: nullable(str), mean: nullable(num), median: nullable(num) },
);

export const tally: Check<Tally> = object({ seq: count, total: count }, { questions: arrayOf(questionTally) });

export const question: Check<Question> = object(
  {
    id: str,
    text: str,
    kind: oneOf('single', 'multiple', 'ranked', 'scale'),
    min_choices: count,
    max_choices: count,
    options: arrayOf(object({ id: str, label: str })),
  },
  { scale_min: count, scale_max: count, min_label: nullable(str), max_label: nullable(str) },
);

export const poll: Check<Poll> = object(
  {
    id: str,
    title: str,
    description: str,
    results: oneOf('live', 'after_close'),
    allow_revote: bool,
    eligibility: oneOf('open', 'codes'),
    visibility: oneOf('unlisted', 'public'),
    status,
    closes_at: nullable(str),
    created_at: str,
    closed_at: nullable(str),
    questions: arrayOf(question),
    show_results: oneOf('always', 'after_vote'),
  },
  { tally, code_count: nullable(count) },
);

export const pollReply: Check<{ poll: Poll }> = object({ poll });

export const createReply: Check<CreatePollResponse> = object({ poll, admin_token: str }, { codes: arrayOf(str) });

export const pollSummary: Check<PollSummary> = object({ id: str, title: str, status, created_at: str, total: count });

export const pollPage: Check<PollPage> = object({ polls: arrayOf(pollSummary), next_cursor: nullable(str) });

export const results: Check<Results> = object({
  poll_id: str,
  status,
  seq: count,
  total: count,
  questions: arrayOf(questionTally),
});

export const ballot: Check<Ballot> = object({ poll_id: str, receipt: str, choices: recordOf(arrayOf(str)) });

export const ballotReply: Check<{ ballot: Ballot }> = object({ ballot });

export const voterReply: Check<{ voter_token: string }> = object({ voter_token: str });

export const codeStatus: Check<CodeStatus> = object({ status: oneOf('unused', 'used') });

const tallyFrame = (type: 'snapshot' | 'tally') =>
  object(
    { type: oneOf(type), poll: str, seq: count, total: count },
    { status, questions: arrayOf(questionTally) },
  );

const FRAMES: Record<ServerFrame['type'], Check<ServerFrame>> = {
  hello: object({ type: oneOf('hello'), heartbeat: (v, p) => (typeof v === 'number' && v >= 0 ? v : int(v, p)) }, { server: str }) as Check<ServerFrame>,
  snapshot: tallyFrame('snapshot'),
  tally: tallyFrame('tally'),
  status: object({ type: oneOf('status'), poll: str, status, seq: count }),
  deleted: object({ type: oneOf('deleted'), poll: str }),
  error: object({ type: oneOf('error'), code: str }, { message: str, poll: str }) as Check<ServerFrame>,
  pong: object({ type: oneOf('pong') }),
};

/** A WebSocket frame, parsed and checked; null for anything that is not a known, well-formed frame
 * (a tally without `seq` is dropped, so the stale-frame guard always has a number to compare). */
export function parseFrame(data: unknown): ServerFrame | null {
  let v: unknown;
  try {
    v = typeof data === 'string' ? JSON.parse(data) : null;
  } catch {
    return null;
  }
  if (!isRecord(v) || typeof v.type !== 'string' || !Object.hasOwn(FRAMES, v.type)) return null;
  try {
    return FRAMES[v.type as ServerFrame['type']](v);
  } catch {
    return null;
  }
}
