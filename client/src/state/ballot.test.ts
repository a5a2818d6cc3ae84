import { describe, expect, it } from 'vitest';
import { describeRule, toggleChoice, validateBallot } from './ballot';
import type { Question } from '../types';
import { text, type Problem } from '../messages';

const msg = (p?: Problem) => (p ? text(p) : undefined);

const opts = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `o${i + 1}`, label: `Option ${i + 1}` }));
const single: Question = { id: 'q1', text: 'One?', kind: 'single', min_choices: 1, max_choices: 1, options: opts(3) };
const multi: Question = { id: 'q2', text: 'Some?', kind: 'multiple', min_choices: 1, max_choices: 2, options: opts(4) };
const optional: Question = { id: 'q3', text: 'Any?', kind: 'multiple', min_choices: 0, max_choices: 3, options: opts(3) };

describe('validateBallot', () => {
  it('accepts a valid ballot and returns the choices to send', () => {
    const r = validateBallot([single, multi], { q1: ['o2'], q2: ['o1', 'o4'] });
    expect(r.ok).toBe(true);
    expect(r.errors).toEqual({});
    expect(r.choices).toEqual({ q1: ['o2'], q2: ['o1', 'o4'] });
  });

  it('requires exactly one choice for single questions', () => {
    expect(msg(validateBallot([single], {}).errors.q1)).toMatch(/Choose one/);
    expect(validateBallot([single], { q1: [] }).ok).toBe(false);
    expect(msg(validateBallot([single], { q1: ['o1', 'o2'] }).errors.q1)).toMatch(/at most 1/);
  });

  it('enforces min and max for multiple questions', () => {
    expect(msg(validateBallot([multi], { q2: [] }).errors.q2)).toMatch(/at least 1/);
    expect(msg(validateBallot([multi], { q2: ['o1', 'o2', 'o3'] }).errors.q2)).toMatch(/at most 2/);
    expect(validateBallot([multi], { q2: ['o3'] }).ok).toBe(true);
  });

  it('lets a min-0 question be left out (and omits it from choices)', () => {
    const r = validateBallot([single, optional], { q1: ['o1'] });
    expect(r.ok).toBe(true);
    expect(r.choices).toEqual({ q1: ['o1'] });
    const r2 = validateBallot([single, optional], { q1: ['o1'], q3: [] });
    expect(r2.ok).toBe(true);
    expect('q3' in r2.choices).toBe(false);
    expect(validateBallot([optional], { q3: ['o1', 'o2', 'o3'] }).ok).toBe(true);
  });

  it('requires distinct option ids that belong to the question', () => {
    expect(msg(validateBallot([multi], { q2: ['o1', 'o1'] }).errors.q2)).toMatch(/twice/);
    expect(msg(validateBallot([multi], { q2: ['o9'] }).errors.q2)).toMatch(/Unknown option/);
    expect(msg(validateBallot([single], { q1: ['o1'], zz: ['o1'] }).errors.zz)).toMatch(/Unknown question/);
  });

  it('reports every invalid question at once', () => {
    const r = validateBallot([single, multi, optional], {});
    expect(Object.keys(r.errors).sort()).toEqual(['q1', 'q2']);
  });
});

describe('toggleChoice', () => {
  it('replaces for single and adds/removes for multiple', () => {
    expect(toggleChoice(single, ['o1'], 'o2', true)).toEqual(['o2']);
    expect(toggleChoice(multi, ['o1'], 'o2', true)).toEqual(['o1', 'o2']);
    expect(toggleChoice(multi, ['o1', 'o2'], 'o2', true)).toEqual(['o1', 'o2']);
    expect(toggleChoice(multi, ['o1', 'o2'], 'o1', false)).toEqual(['o2']);
  });
});

describe('describeRule', () => {
  it('words the rule', () => {
    expect(text(describeRule(single))).toBe('Choose one.');
    expect(text(describeRule(multi))).toBe('Choose 1 to 2.');
    expect(text(describeRule(optional))).toBe('Choose up to 3 (optional).');
    expect(text(describeRule({ kind: 'multiple', min_choices: 2, max_choices: 2 }))).toBe('Choose exactly 2.');
  });
});
