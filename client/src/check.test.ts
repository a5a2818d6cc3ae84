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
  it('names the path of what is wrong', () => {
    expect(() => tally({ seq: 1, total: 1, questions: [{ id: 'q', counts: { a: 1.5 } }] })).toThrow(/questions\[0\]\.counts\.a/);
    expect(() => pollCheck({ id: 1 })).toThrow(ContractError);
  });
});
