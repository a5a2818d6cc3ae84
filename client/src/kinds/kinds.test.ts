import { describe, expect, it } from 'vitest';
import { text, type Problem } from '../messages';
import { newOption, newQuestion, type QuestionDraft } from '../state/pollForm';
import type { Question, QuestionTally } from '../types';
import { describeRule, validateBallot } from '../state/ballot';
import { KINDS, kindOf } from './index';
import { applyRank, ordinal } from './ranked';
import { runoffSummary, runoffView } from './runoff';
import { formatPoint, scaleView } from './scale';

const msg = (p: Problem | null | undefined) => (p ? text(p) : null);
const opts = (...labels: string[]) => labels.map((label, i) => ({ id: `o${i + 1}`, label }));
const q = (kind: Question['kind'], min: number, max: number, options = opts('A', 'B', 'C', 'D')): Question => ({
  id: 'q1',
  text: 'Q?',
  kind,
  min_choices: min,
  max_choices: max,
  options,
});
const draft = (patch: Partial<QuestionDraft>): QuestionDraft => ({ ...newQuestion(), ...patch });

describe('kindOf', () => {
  it('has a module for every kind, named by its kind', () => {
    expect(KINDS).toEqual(['single', 'multiple', 'ranked', 'scale']);
    for (const k of KINDS) expect(kindOf(k).kind).toBe(k);
  });

  it('throws on a kind the client does not know', () => {
    expect(() => kindOf('plurality' as Question['kind'])).toThrow(/plurality/);
  });
});

describe('single', () => {
  const s = kindOf('single');
  it('wants exactly one option', () => {
    expect(msg(s.rule(q('single', 1, 1)))).toBe('Choose one.');
    expect(msg(s.check(q('single', 1, 1), []))).toMatch(/Choose one option/);
    expect(msg(s.check(q('single', 1, 1), ['o1', 'o2']))).toMatch(/at most 1/);
    expect(s.check(q('single', 1, 1), ['o2'])).toBeNull();
  });
});

describe('multiple', () => {
  const m = kindOf('multiple');
  it('wants between min and max options', () => {
    const question = q('multiple', 2, 3);
    expect(msg(m.rule(question))).toBe('Choose 2 to 3.');
    expect(msg(m.check(question, ['o1']))).toMatch(/at least 2/);
    expect(msg(m.check(question, ['o1', 'o2', 'o3', 'o4']))).toMatch(/at most 3/);
    expect(m.check(question, ['o1', 'o4'])).toBeNull();
    expect(msg(m.rule(q('multiple', 0, 2)))).toMatch(/up to 2 \(optional\)/);
  });

  it('checks min and max in the create form and sends them', () => {
    const d = draft({ kind: 'multiple', min: '3', max: '2' });
    expect(Object.values(m.checkDraft(d)).map(msg)).toEqual(['The minimum is larger than the maximum.']);
    expect(m.checkDraft(draft({ kind: 'multiple', min: '1', max: '2' }))).toEqual({});
    expect(m.body(draft({ kind: 'multiple', min: '1', max: '2' }))).toMatchObject({ kind: 'multiple', min_choices: 1, max_choices: 2 });
  });
});

describe('ranked', () => {
  const r = kindOf('ranked');
  it('states the rule and checks how many ranks are filled', () => {
    expect(msg(r.rule(q('ranked', 4, 4)))).toBe('Rank all 4 options, 1 for your first choice.');
    expect(msg(r.rule(q('ranked', 1, 3)))).toMatch(/Rank 1 to 3 options/);
    expect(msg(r.rule(q('ranked', 2, 2)))).toMatch(/Rank 2 options/);
    const question = q('ranked', 2, 3);
    expect(msg(r.check(question, ['o1']))).toBe('Rank at least 2 options.');
    expect(msg(r.check(question, ['o1', 'o2', 'o3', 'o4']))).toBe('Rank at most 3 options.');
    expect(r.check(question, ['o3', 'o1'])).toBeNull();
  });

  it('sends the options and the rank limits, and refuses more ranks than options', () => {
    const d = draft({ kind: 'ranked', min: '1', max: '2', options: [newOption('X'), newOption('Y')] });
    expect(r.body(d)).toEqual({ kind: 'ranked', min_choices: 1, max_choices: 2, options: [{ label: 'X' }, { label: 'Y' }] });
    expect(Object.values(r.checkDraft({ ...d, max: '3' })).map(msg)).toEqual(['The maximum cannot exceed the 2 options.']);
    expect(r.onPick({ ...d, max: '1' })).toEqual({ min: '1', max: '2' });
    expect(Object.values(r.checkDraft({ ...d, min: '0', max: '0' })).map(msg)).toEqual(['The maximum must be at least 1.']);
  });

  it('ranks by adding, moving and removing, and says what happened', () => {
    const label = (id: string) => ({ o1: 'Pizza', o2: 'Sushi', o3: 'Tacos' })[id] ?? id;
    let s = applyRank([], { type: 'add', id: 'o2' }, label, 3);
    expect(s).toEqual({ next: ['o2'], said: 'Sushi ranked 1st.' });
    s = applyRank(s.next, { type: 'add', id: 'o3' }, label, 3);
    expect(s).toEqual({ next: ['o2', 'o3'], said: 'Tacos ranked 2nd.' });
    s = applyRank(s.next, { type: 'move', id: 'o3', delta: -1 }, label, 3);
    expect(s).toEqual({ next: ['o3', 'o2'], said: 'Tacos moved up to 1st.' });
    expect(applyRank(s.next, { type: 'move', id: 'o3', delta: -1 }, label, 3).said).toBe('');
    expect(applyRank(s.next, { type: 'move', id: 'o2', delta: 1 }, label, 3).next).toEqual(['o3', 'o2']);
    s = applyRank(s.next, { type: 'remove', id: 'o3' }, label, 3);
    expect(s).toEqual({ next: ['o2'], said: 'Tacos removed from the ranking.' });
    // At the limit nothing more is ranked; a ranked option is not ranked twice.
    expect(applyRank(['o1'], { type: 'add', id: 'o2' }, label, 1).next).toEqual(['o1']);
    expect(applyRank(['o1'], { type: 'add', id: 'o1' }, label, 3).next).toEqual(['o1']);
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101].map(ordinal)).toEqual([
      '1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '101st',
    ]);
  });

  it('shows the voter their ranking in order', () => {
    expect(r.choiceText(q('ranked', 1, 4), ['o3', 'o1'])).toBe('1. C, 2. A');
  });
});

describe('runoffView', () => {
  const question = q('ranked', 1, 4);
  // 9 ballots: D eliminated after round 1 (its ballot exhausts), C after round 2 (2 to A), A wins.
  const qt: QuestionTally = {
    id: 'q1',
    counts: { o1: 3, o2: 3, o3: 2, o4: 1 },
    rounds: [
      { counts: { o1: 3, o2: 3, o3: 2, o4: 1 }, eliminated: ['o4'], exhausted: 0 },
      { counts: { o1: 3, o2: 3, o3: 2 }, eliminated: ['o3'], exhausted: 1 },
      { counts: { o1: 5, o2: 3 }, eliminated: [], exhausted: 1 },
    ],
    winner: 'o1',
  };

  it('maps every round: options still in the race, the eliminated one, the winner in the last', () => {
    const v = runoffView(question, qt, 9);
    expect(v.winner).toEqual({ id: 'o1', label: 'A' });
    expect(v.rounds.map((r) => r.rows.map((x) => x.label))).toEqual([['A', 'B', 'C', 'D'], ['A', 'B', 'C'], ['A', 'B']]);
    expect(v.rounds.map((r) => r.eliminated)).toEqual([['D'], ['C'], []]);
    expect(v.rounds[0].rows.find((x) => x.eliminated)?.id).toBe('o4');
    expect(v.rounds[1].rows.filter((x) => x.eliminated).map((x) => x.id)).toEqual(['o3']);
    expect(v.rounds.flatMap((r) => r.rows.filter((x) => x.winner).map((x) => `${r.number}:${x.id}`))).toEqual(['3:o1']);
    // Shares and majorities are of the ballots still counting (not exhausted).
    expect(v.rounds.map((r) => [r.continuing, r.exhausted, r.majority])).toEqual([
      [9, 0, 5],
      [8, 1, 5],
      [8, 1, 5],
    ]);
    expect(v.rounds[2].rows.map((x) => x.pct)).toEqual([63, 38]);
    expect(runoffSummary(v)).toBe(
      'Round 1: A 3, B 3, C 2, D 1; D eliminated. Round 2: A 3, B 3, C 2; C eliminated. Round 3: A 5, B 3. Winner: A.',
    );
  });

  it('lists options in listing order whatever order the counts come in', () => {
    const v = runoffView(question, { id: 'q1', counts: {}, rounds: [{ counts: { o3: 1, o1: 2 }, eliminated: [], exhausted: 0 }], winner: 'o1' }, 3);
    expect(v.rounds[0].rows.map((x) => x.id)).toEqual(['o1', 'o3']);
  });

  it('shows an empty poll as one round of zeros with no winner', () => {
    const empty = { id: 'q1', counts: { o1: 0, o2: 0, o3: 0, o4: 0 }, rounds: [{ counts: { o1: 0, o2: 0, o3: 0, o4: 0 }, eliminated: [], exhausted: 0 }], winner: null };
    const v = runoffView(question, empty, 0);
    expect(v.winner).toBeNull();
    expect(v.rounds).toHaveLength(1);
    expect(v.rounds[0].majority).toBe(0);
    expect(v.rounds[0].rows.every((x) => x.count === 0 && x.pct === 0 && !x.eliminated && !x.winner)).toBe(true);
    expect(runoffSummary(v)).toMatch(/No winner yet\.$/);
  });

  it('falls back to the first preferences when a tally has no rounds', () => {
    const v = runoffView(question, { id: 'q1', counts: { o1: 2, o2: 1, o3: 0, o4: 0 } }, 4);
    expect(v.rounds).toHaveLength(1);
    expect(v.rounds[0].rows.map((x) => x.count)).toEqual([2, 1, 0, 0]);
    expect(v.rounds[0].exhausted).toBe(1);
    expect(runoffView(question, undefined, 0).rounds[0].rows).toHaveLength(4);
  });
});

describe('scale', () => {
  const s = kindOf('scale');
  const question: Question = { ...q('scale', 1, 1, opts('1', '2', '3', '4', '5')), scale_min: 1, scale_max: 5, min_label: 'Bad', max_label: 'Good' };

  it('wants one point and names the range', () => {
    expect(msg(s.rule(question))).toBe('Choose one point from 1 to 5.');
    expect(msg(s.check(question, []))).toMatch(/Choose one option/);
    expect(msg(s.check(question, ['o1', 'o2']))).toMatch(/at most 1/);
    expect(s.check(question, ['o5'])).toBeNull();
  });

  it('checks the scale in the create form and sends points and end labels, not options', () => {
    expect(s.writesOptions).toBe(false);
    const ok = draft({ kind: 'scale', scaleMin: '0', scaleMax: '10', minLabel: '  Never ', maxLabel: '' });
    expect(s.checkDraft(ok)).toEqual({});
    expect(s.body(ok)).toEqual({ kind: 'scale', scale_min: 0, scale_max: 10, min_label: 'Never', max_label: null });
    const path = `q.${ok.key}.scale`;
    expect(s.checkDraft({ ...ok, scaleMin: '5', scaleMax: '5' })[path]?.code).toBe('scale_range');
    expect(s.checkDraft({ ...ok, scaleMin: '0', scaleMax: '11' })[path]?.code).toBe('scale_range');
    expect(s.checkDraft({ ...ok, scaleMin: '-1' })[path]?.code).toBe('scale_range');
    expect(s.checkDraft({ ...ok, scaleMin: '' })[path]?.code).toBe('scale_not_numbers');
    expect(s.checkDraft({ ...ok, minLabel: 'x'.repeat(201) })[`q.${ok.key}.minLabel`]?.code).toBe('scale_label_too_long');
    expect(s.checkDraft({ ...ok, maxLabel: 'a\u202Eb' })[`q.${ok.key}.maxLabel`]?.code).toBe('text_bidi_controls');
  });

  it('maps the distribution with the mean and median of the tally', () => {
    const qt: QuestionTally = { id: 'q1', counts: { o1: 1, o2: 0, o3: 2, o4: 0, o5: 1 }, mean: 3, median: 3 };
    const v = scaleView(question, qt);
    expect(v.votes).toBe(4);
    expect(v.rows.map((r) => [r.label, r.count, r.pct, r.height])).toEqual([
      ['1', 1, 25, 50],
      ['2', 0, 0, 0],
      ['3', 2, 50, 100],
      ['4', 0, 0, 0],
      ['5', 1, 25, 50],
    ]);
    expect([v.mean, v.median]).toEqual([3, 3]);
    expect(s.summary(question, qt, 4)).toBe('Mean 3, median 3; 1: 1, 2: 0, 3: 2, 4: 0, 5: 1');
  });

  it('computes mean and median itself when a tally lacks them, and shows none with no votes', () => {
    const v = scaleView(question, { id: 'q1', counts: { o1: 0, o2: 1, o3: 0, o4: 2, o5: 3 } });
    expect(v.mean).toBeCloseTo(25 / 6);
    expect(v.median).toBe(4.5);
    const none = scaleView(question, { id: 'q1', counts: {}, mean: null, median: null });
    expect([none.votes, none.mean, none.median]).toEqual([0, null, null]);
    expect([formatPoint(25 / 6), formatPoint(4.5), formatPoint(3), formatPoint(null)]).toEqual(['4.2', '4.5', '3', '–']);
  });
});

describe('validateBallot over every kind', () => {
  const ranked = { ...q('ranked', 2, 3), id: 'r' };
  const rating: Question = { ...q('scale', 1, 1, opts('0', '1', '2')), id: 's', scale_min: 0, scale_max: 2, min_label: null, max_label: null };
  const one = { ...q('single', 1, 1), id: 'o' };

  it('keeps the rank order in the choices it sends', () => {
    const r = validateBallot([ranked, rating, one], { r: ['o3', 'o1', 'o2'], s: ['o2'], o: ['o4'] });
    expect(r.ok).toBe(true);
    expect(r.choices).toEqual({ r: ['o3', 'o1', 'o2'], s: ['o2'], o: ['o4'] });
  });

  it("reports each question's problem in its kind's words", () => {
    const r = validateBallot([ranked, rating, one], { r: ['o3'], s: [], o: ['o1', 'o1'] });
    expect(r.ok).toBe(false);
    expect(msg(r.errors.r)).toBe('Rank at least 2 options.');
    expect(msg(r.errors.s)).toBe('Choose one option.');
    expect(msg(r.errors.o)).toBe('An option was chosen twice.');
    expect(msg(validateBallot([ranked], { r: ['o1', 'o9'] }).errors.r)).toBe('Unknown option.');
    expect(msg(describeRule(rating))).toBe('Choose one point from 0 to 2.');
  });
});
