// Shapes of the HTTP API (generated from /api/openapi.json into src/api/schema.ts) and of the
// WebSocket protocol (DESIGN.md §5, which the OpenAPI document does not describe).

import type { components, operations } from './api/schema';

type S = components['schemas'];

export type Option = S['Option'];
export type Question = S['Question'];
export type QuestionKind = Question['kind'];
export type QuestionTally = S['QuestionCounts'];
export type Tally = S['Tally'];
export type Poll = S['Poll'];
/** `show_results` (DESIGN.md §3): a display rule of the client. */
export type ShowResults = Poll['show_results'];
export type PollStatus = Poll['status'];
export type ResultsMode = Poll['results'];
export type Eligibility = Poll['eligibility'];
export type Visibility = Poll['visibility'];
export type PollSummary = S['PollSummary'];
export type Results = S['Results'];
export type Ballot = S['Ballot'];
export type CreatePollBody = S['PollIn'];
export type CreatePollResponse = { poll: Poll; admin_token: string; codes?: string[] };
export type PollPage = { polls: PollSummary[]; next_cursor: string | null };
/** GET /api/polls/{id}/codes/{code} (DESIGN.md §4). */
export type CodeStatus = operations['checkCode']['responses'][200]['content']['application/json'];

/** A snapshot or tally frame: the tally of one poll. */
export interface TallyFrame {
  type: 'snapshot' | 'tally';
  poll: string;
  seq: number;
  status?: PollStatus;
  total: number;
  questions?: QuestionTally[];
}

/** Frames the server sends on /ws. */
export type ServerFrame =
  | { type: 'hello'; server: string; heartbeat: number }
  | TallyFrame
  | { type: 'status'; poll: string; status: PollStatus; seq: number }
  | { type: 'deleted'; poll: string }
  | { type: 'error'; code: string; message: string; poll?: string }
  | { type: 'pong' };
