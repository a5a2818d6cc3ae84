import { describe, expect, it } from 'vitest';
import { countOf, initialTallyState, percent, tallyReducer, type TallyState } from './tally';
import type { ServerFrame } from '../types';

const q = (a: number, b: number) => [{ id: 'q1', counts: { o1: a, o2: b } }];
const frame = (f: ServerFrame, now = 1000) => ({ type: 'frame' as const, frame: f, now });
const run = (frames: ServerFrame[], start: TallyState = initialTallyState) =>
  frames.reduce((s, f, i) => tallyReducer(s, frame(f, 1000 + i)), start);

describe('tallyReducer', () => {
  it('a newer snapshot replaces the state whole', () => {
    const before: TallyState = { ...initialTallyState, seq: 4, total: 9, questions: q(5, 4), status: 'closed', deleted: true };
    const s = tallyReducer(before, frame({ type: 'snapshot', poll: 'p', seq: 7, status: 'open', total: 3, questions: q(2, 1) }));
    expect(s).toMatchObject({ seq: 7, total: 3, status: 'open', deleted: false, synced: true });
    expect(s.questions).toEqual(q(2, 1));
    expect(s.updatedAt).toBe(1000);
  });

  it('an older snapshot (a cached one, older than the HTTP load) never moves totals backwards', () => {
    const seeded = tallyReducer(initialTallyState, { type: 'seed', tally: { seq: 12, total: 12, questions: q(7, 5) }, status: 'open', now: 500 });
    const s = tallyReducer(seeded, frame({ type: 'snapshot', poll: 'p', seq: 10, status: 'open', total: 10, questions: q(6, 4) }));
    expect(s).toMatchObject({ seq: 12, total: 12, synced: true, updatedAt: 500 });
    expect(countOf(s, 'q1', 'o1')).toBe(7);
    // An equal seq is applied (the same state, as the socket sees it).
    const t = tallyReducer(s, frame({ type: 'snapshot', poll: 'p', seq: 12, status: 'open', total: 12, questions: q(7, 5) }, 900));
    expect(t.updatedAt).toBe(900);
  });

  it('applies newer tallies and ignores lower seq', () => {
    const s = run([
      { type: 'snapshot', poll: 'p', seq: 5, status: 'open', total: 5, questions: q(3, 2) },
      { type: 'tally', poll: 'p', seq: 8, status: 'open', total: 8, questions: q(5, 3) },
      { type: 'tally', poll: 'p', seq: 6, status: 'open', total: 6, questions: q(4, 2) },
    ]);
    expect(s.seq).toBe(8);
    expect(s.total).toBe(8);
    expect(countOf(s, 'q1', 'o1')).toBe(5);
    expect(s.updatedAt).toBe(1001); // the stale frame did not touch the state
  });

  it('a lower-seq tally after a snapshot is ignored (same object back)', () => {
    const a = run([{ type: 'snapshot', poll: 'p', seq: 10, status: 'open', total: 10, questions: q(6, 4) }]);
    const b = tallyReducer(a, frame({ type: 'tally', poll: 'p', seq: 9, total: 9, questions: q(5, 4) }));
    expect(b).toBe(a);
  });

  it('accepts the tally that repeats the seq of a status frame', () => {
    const s = run([
      { type: 'snapshot', poll: 'p', seq: 4, status: 'open', total: 4, questions: q(2, 2) },
      { type: 'status', poll: 'p', status: 'closed', seq: 5 },
      { type: 'tally', poll: 'p', seq: 5, status: 'closed', total: 4, questions: q(2, 2) },
    ]);
    expect(s.status).toBe('closed');
    expect(s.seq).toBe(5);
    expect(s.updatedAt).toBe(1002);
  });

  it('accepts a status frame with the same seq as the current tally', () => {
    const s = run([
      { type: 'tally', poll: 'p', seq: 6, total: 4, questions: q(2, 2) },
      { type: 'status', poll: 'p', status: 'closed', seq: 6 },
    ]);
    expect(s.status).toBe('closed');
  });

  it('ignores a status frame with a lower seq', () => {
    const s = run([
      { type: 'snapshot', poll: 'p', seq: 9, status: 'open', total: 4, questions: q(2, 2) },
      { type: 'status', poll: 'p', status: 'closed', seq: 8 },
    ]);
    expect(s.status).toBe('open');
  });

  it('after_close frames without questions keep the total only', () => {
    const s1 = run([
      { type: 'snapshot', poll: 'p', seq: 1, status: 'open', total: 1 },
      { type: 'tally', poll: 'p', seq: 2, status: 'open', total: 2 },
    ]);
    expect(s1.total).toBe(2);
    expect(s1.questions).toBeNull();
    // Closing reveals the counts: status, then the tally repeating its seq carries them.
    const s2 = run(
      [
        { type: 'status', poll: 'p', status: 'closed', seq: 3 },
        { type: 'tally', poll: 'p', seq: 3, status: 'closed', total: 2, questions: q(1, 1) },
      ],
      s1,
    );
    expect(s2.questions).toEqual(q(1, 1));
    // Reopening hides them again.
    const s3 = run(
      [
        { type: 'status', poll: 'p', status: 'open', seq: 4 },
        { type: 'tally', poll: 'p', seq: 4, status: 'open', total: 2 },
      ],
      s2,
    );
    expect(s3.questions).toBeNull();
    expect(s3.total).toBe(2);
    expect(s3.status).toBe('open');
  });

  it('marks deleted polls', () => {
    const s = run([
      { type: 'snapshot', poll: 'p', seq: 1, status: 'open', total: 0, questions: q(0, 0) },
      { type: 'deleted', poll: 'p' },
    ]);
    expect(s.deleted).toBe(true);
  });

  it('ignores frames that carry no tally (hello, pong, error)', () => {
    const a = run([{ type: 'snapshot', poll: 'p', seq: 1, status: 'open', total: 0, questions: q(0, 0) }]);
    expect(tallyReducer(a, frame({ type: 'hello', server: 'b1', heartbeat: 20 }))).toBe(a);
    expect(tallyReducer(a, frame({ type: 'pong' }))).toBe(a);
    expect(tallyReducer(a, frame({ type: 'error', code: 'invalid_message', message: 'x' }))).toBe(a);
  });

  it('disconnected clears synced; the next snapshot makes it whole', () => {
    const a = run([{ type: 'snapshot', poll: 'p', seq: 3, status: 'open', total: 3, questions: q(2, 1) }]);
    const b = tallyReducer(a, { type: 'disconnected' });
    expect(b.synced).toBe(false);
    expect(b.total).toBe(3);
    const c = tallyReducer(b, frame({ type: 'snapshot', poll: 'p', seq: 12, status: 'closed', total: 11, questions: q(7, 4) }));
    expect(c).toMatchObject({ synced: true, seq: 12, total: 11, status: 'closed' });
  });

  it('a seed from HTTP never overrides a newer frame', () => {
    const a = run([{ type: 'snapshot', poll: 'p', seq: 10, status: 'open', total: 10, questions: q(6, 4) }]);
    expect(tallyReducer(a, { type: 'seed', tally: { seq: 9, total: 9, questions: q(5, 4) }, now: 5 })).toBe(a);
    const b = tallyReducer(initialTallyState, { type: 'seed', tally: { seq: 2, total: 2, questions: q(1, 1) }, status: 'open', now: 5 });
    expect(b).toMatchObject({ seq: 2, total: 2, status: 'open', synced: false });
  });
});

describe('percent', () => {
  it('rounds and handles zero voters', () => {
    expect(percent(0, 0)).toBe(0);
    expect(percent(1, 3)).toBe(33);
    expect(percent(2, 3)).toBe(67);
    expect(percent(3, 3)).toBe(100);
  });
});
