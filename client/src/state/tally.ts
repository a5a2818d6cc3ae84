// Pure reducer for the live tally of one poll, fed by WebSocket frames (DESIGN.md §5).
//
// Rules:
// * totals never move backwards: a snapshot, a tally frame or an HTTP seed whose seq is lower
//   than the current seq is stale and ignored (a snapshot cached by a backend can be older than
//   the HTTP load); an equal seq is accepted (the tally that follows a status frame repeats it);
// * a snapshot (sent after every (re)subscribe) marks the state synced even when it is stale;
// * a status frame whose seq is not lower than the current one sets the status;
// * frames without `questions` (results hidden: `after_close` poll before it closes)
//   keep the total only; the per-option counts are dropped (`questions: null`);
// * `deleted` marks the poll gone.

import type { PollStatus, QuestionTally, ServerFrame, Tally } from '../types';

export interface TallyState {
  /** -1 before anything arrived. */
  seq: number;
  total: number;
  /** null when the counts are hidden from this client. */
  questions: QuestionTally[] | null;
  status: PollStatus | null;
  deleted: boolean;
  /** Has a snapshot arrived on the current connection? */
  synced: boolean;
  /** Time (ms) of the last accepted change, for "updated N s ago". */
  updatedAt: number | null;
}

export const initialTallyState: TallyState = {
  seq: -1,
  total: 0,
  questions: null,
  status: null,
  deleted: false,
  synced: false,
  updatedAt: null,
};

export type TallyAction =
  | { type: 'frame'; frame: ServerFrame; now: number }
  /** Seed from an HTTP answer (poll.tally or /results); does not override newer frames. */
  | { type: 'seed'; tally: Tally; status?: PollStatus; now: number }
  /** The socket dropped: the next snapshot makes the state whole again. */
  | { type: 'disconnected' };

export function tallyReducer(state: TallyState, action: TallyAction): TallyState {
  switch (action.type) {
    case 'disconnected':
      return state.synced ? { ...state, synced: false } : state;
    case 'seed': {
      if (action.tally.seq < state.seq) return state;
      return {
        ...state,
        seq: action.tally.seq,
        total: action.tally.total,
        questions: action.tally.questions ?? null,
        status: action.status ?? state.status,
        updatedAt: action.now,
      };
    }
    case 'frame':
      return applyFrame(state, action.frame, action.now);
  }
}

function applyFrame(state: TallyState, frame: ServerFrame, now: number): TallyState {
  switch (frame.type) {
    case 'snapshot':
      if (frame.seq < state.seq) return state.synced ? state : { ...state, synced: true };
      return {
        seq: frame.seq,
        total: frame.total,
        questions: frame.questions ?? null,
        status: frame.status ?? state.status,
        deleted: false,
        synced: true,
        updatedAt: now,
      };
    case 'tally':
      if (frame.seq < state.seq) return state;
      return {
        ...state,
        seq: frame.seq,
        total: frame.total,
        questions: frame.questions ?? null,
        status: frame.status ?? state.status,
        updatedAt: now,
      };
    case 'status':
      if (frame.seq < state.seq) return state;
      return { ...state, seq: frame.seq, status: frame.status, updatedAt: now };
    case 'deleted':
      return { ...state, deleted: true, updatedAt: now };
    default:
      return state;
  }
}

/** Count of one option, 0 when unknown. */
export function countOf(state: Pick<TallyState, 'questions'>, questionId: string, optionId: string): number {
  const q = state.questions?.find((x) => x.id === questionId);
  return q?.counts[optionId] ?? 0;
}

/** Whole-number percentage of `count` over `total` voters (0 when nobody voted). */
export function percent(count: number, total: number): number {
  if (total <= 0) return 0;
  return Math.round((count / total) * 100);
}
