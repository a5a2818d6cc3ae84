// Client-side ballot validation, mirroring the server's rules (DESIGN.md §3, §4):
// per question the chosen option ids are distinct, belong to the question and number
// between min_choices and max_choices; a question whose min_choices is 0 may be left out.
// Problems are message codes (messages.ts), not sentences.

import type { Problem } from '../messages';
import type { Question } from '../types';

export type Choices = Record<string, string[]>;

export interface BallotCheck {
  ok: boolean;
  /** question id → problem, for questions that are not yet valid. */
  errors: Record<string, Problem>;
  /** The `choices` object to send (questions with no choice and min 0 left out). */
  choices: Choices;
}

export function describeRule(q: Pick<Question, 'kind' | 'min_choices' | 'max_choices'>): Problem {
  if (q.kind === 'single') return { code: 'rule_one' };
  const { min_choices: min, max_choices: max } = q;
  if (min === max) return { code: 'rule_exactly', params: { n: min } };
  if (min === 0) return max === 1 ? { code: 'rule_optional_one' } : { code: 'rule_optional_up_to', params: { max } };
  return { code: 'rule_range', params: { min, max } };
}

export function validateBallot(questions: Question[], selected: Choices): BallotCheck {
  const errors: Record<string, Problem> = {};
  const choices: Choices = {};
  const known = new Set(questions.map((q) => q.id));
  for (const qid of Object.keys(selected)) {
    if (!known.has(qid)) errors[qid] = { code: 'ballot_unknown_question' };
  }
  for (const q of questions) {
    const picked = selected[q.id] ?? [];
    const min = q.kind === 'single' ? 1 : q.min_choices;
    const max = q.kind === 'single' ? 1 : q.max_choices;
    const optionIds = new Set(q.options.map((o) => o.id));
    if (new Set(picked).size !== picked.length) {
      errors[q.id] = { code: 'ballot_duplicate' };
      continue;
    }
    if (picked.some((id) => !optionIds.has(id))) {
      errors[q.id] = { code: 'ballot_unknown_option' };
      continue;
    }
    if (picked.length < min) {
      errors[q.id] = q.kind === 'single' ? { code: 'ballot_choose_one' } : { code: 'ballot_too_few', params: { min } };
      continue;
    }
    if (picked.length > max) {
      errors[q.id] = { code: 'ballot_too_many', params: { max } };
      continue;
    }
    if (picked.length > 0) choices[q.id] = [...picked];
  }
  return { ok: Object.keys(errors).length === 0, errors, choices };
}

/** Toggle an option in a selection, respecting the kind (radio replaces, checkbox adds). */
export function toggleChoice(q: Question, current: string[], optionId: string, checked: boolean): string[] {
  if (q.kind === 'single') return checked ? [optionId] : [];
  if (checked) return current.includes(optionId) ? current : [...current, optionId];
  return current.filter((id) => id !== optionId);
}
