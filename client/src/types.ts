// Shapes of the HTTP API and the WebSocket protocol (DESIGN.md §4, §5).

export type PollStatus = 'open' | 'closed';
export type ResultsMode = 'live' | 'after_close';
export type Eligibility = 'open' | 'codes';
export type Visibility = 'unlisted' | 'public';
export type QuestionKind = 'single' | 'multiple';

export interface Option {
  id: string;
  label: string;
}

export interface Question {
  id: string;
  text: string;
  kind: QuestionKind;
  min_choices: number;
  max_choices: number;
  options: Option[];
}

export interface QuestionTally {
  id: string;
  counts: Record<string, number>;
}

export interface Tally {
  seq: number;
  total: number;
  questions?: QuestionTally[];
}

export interface Poll {
  id: string;
  title: string;
  description: string;
  questions: Question[];
  status: PollStatus;
  results: ResultsMode;
  allow_revote: boolean;
  eligibility: Eligibility;
  visibility: Visibility;
  closes_at: string | null;
  created_at: string;
  closed_at: string | null;
  tally?: Tally;
}

export interface PollSummary {
  id: string;
  title: string;
  status: PollStatus;
  created_at: string;
  total: number;
}

export interface Ballot {
  poll_id: string;
  choices: Record<string, string[]>;
  receipt: string;
}

export interface CreatePollBody {
  title: string;
  description: string;
  results: ResultsMode;
  allow_revote: boolean;
  eligibility: Eligibility;
  code_count: number | null;
  visibility: Visibility;
  closes_at: string | null;
  questions: {
    text: string;
    kind: QuestionKind;
    min_choices?: number;
    max_choices?: number;
    options: { label: string }[];
  }[];
}

export interface CreatePollResponse {
  poll: Poll;
  admin_token: string;
  codes?: string[];
}

/** Frames the server sends on /ws. */
export type ServerFrame =
  | { type: 'hello'; server: string; heartbeat: number }
  | {
      type: 'snapshot' | 'tally';
      poll: string;
      seq: number;
      status?: PollStatus;
      total: number;
      questions?: QuestionTally[];
    }
  | { type: 'status'; poll: string; status: PollStatus; seq: number }
  | { type: 'deleted'; poll: string }
  | { type: 'error'; code: string; message: string; poll?: string }
  | { type: 'pong' };
