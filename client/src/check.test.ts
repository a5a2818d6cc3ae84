import { describe, expect, it } from 'vitest';
import { ContractError, parseFrame, poll as pollCheck, tally } from './check';

const frame = (v: unknown) => parseFrame(JSON.stringify(v));

describe('parseFrame', () => {
  it('passes the frames of DESIGN §5', () => {
    expect(frame({ type: 'hello', server: 'backend1', heartbeat: 20 })).toEqual({ type: 'hello', server: 'backend1', heartbeat: 20 });
    expect(frame({ type: 'pong' })).toEqual({ type: 'pong' });
    expect(frame({ type: 'snapshot', poll: 'p', seq: 0, status: 'open', total: 0, questions: [{ id: 'q', counts: { o: 0 } }] })).toMatchObject({ seq: 0 });
    expect(frame({ type: 'tally', poll: 'p', seq: 4, total: 4 })).toMatchObject({ type: 'tally', seq: 4 });
    expect(frame({ type: 'status', poll: 'p', status: 'closed', seq: 9 })).toMatchObject({ status: 'closed' });
    expect(frame({ type: 'deleted', poll: 'p' })).toEqual({ type: 'deleted', poll: 'p' });
    expect(frame({ type: 'error', code: 'forbidden', message: 'No.', poll: 'p' })).toMatchObject({ code: 'forbidden', poll: 'p' });
  });

  it('refuses frames that would break the reducer', () => {
    for (const bad of [
      { type: 'tally', poll: 'p', total: 3 }, // no seq: the stale-frame guard would have nothing to compare
      { type: 'snapshot', poll: 'p', seq: null, total: 3 },
      { type: 'status', poll: 'p', status: 'closed' },
      { type: 'status', poll: 'p', status: 'paused', seq: 2 },
      { type: 'tally', poll: 'p', seq: 2, total: -1 },
      { type: 'tally', poll: 'p', seq: 2, total: 1, questions: [{ id: 'q', counts: { o: '1' } }] },
      { type: 'tally', seq: 2, total: 1 },
      { type: 'deleted' },
      { type: 'error' },
      { type: 'toString' },
      { type: 'surprise', poll: 'p' },
      [1, 2],
      null,
    ])
      expect(frame(bad)).toBeNull();
    expect(parseFrame('{not json')).toBeNull();
    expect(parseFrame(new ArrayBuffer(2))).toBeNull();
  });
});

describe('HTTP shapes', () => {
  it('takes ranked and scale questions and their tallies (rounds, winner, mean, median)', () => {
    const t = tally({
      seq: 3,
      total: 3,
      questions: [
        { id: 'r', counts: { a: 2, b: 1 }, rounds: [{ counts: { a: 2, b: 1 }, eliminated: [], exhausted: 0 }], winner: 'a' },
        { id: 's', counts: { p1: 1, p2: 2 }, mean: 1.67, median: 2 },
        { id: 'e', counts: { p1: 0 }, mean: null, median: null },
      ],
    });
    expect(t.questions?.[0].winner).toBe('a');
    expect(t.questions?.[1].mean).toBe(1.67);
    expect(() => tally({ seq: 1, total: 1, questions: [{ id: 'r', counts: {}, rounds: [{ counts: {}, exhausted: 0 }] }] })).toThrow(
      /rounds\[0\]\.eliminated/,
    );
  });

  it('names the path of what is wrong', () => {
    expect(() => tally({ seq: 1, total: 1, questions: [{ id: 'q', counts: { a: 1.5 } }] })).toThrow(/questions\[0\]\.counts\.a/);
    expect(() => pollCheck({ id: 1 })).toThrow(ContractError);
  });
});
