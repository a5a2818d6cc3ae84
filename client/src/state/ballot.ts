// Client-side ballot validation, mirroring the server's rules (DESIGN.md §3, §4):
// per question the chosen option ids are distinct, belong to the question and number
// between min_choices and max_choices; a question whose min_choices is 0 may be left out.

import type { Question } from '../types';

export type Choices = Record<string, string[]>;

export interface BallotCheck {
  ok: boolean;
  /** question id → message, for questions that are not yet valid. */
  errors: Record<string, string>;
  /** The `choices` object to send (questions with no choice and min 0 left out). */
  choices: Choices;
}

export function describeRule(q: Pick<Question, 'kind' | 'min_choices' | 'max_choices'>): string {
  if (q.kind === 'single') return 'Choose one.';
  const { min_choices: min, max_choices: max } = q;
  if (min === max) return `Choose exactly ${min}.`;
  if (min === 0) return max === 1 ? 'Choose at most 1 (optional).' : `Choose up to ${max} (optional).`;
  return `Choose ${min} to ${max}.`;
}

export function validateBallot(questions: Question[], selected: Choices): BallotCheck {
  const errors: Record<string, string> = {};
  const choices: Choices = {};
  const known = new Set(questions.map((q) => q.id));
  for (const qid of Object.keys(selected)) {
    if (!known.has(qid)) errors[qid] = 'Unknown question.';
  }
  for (const q of questions) {
    const picked = selected[q.id] ?? [];
    const min = q.kind === 'single' ? 1 : q.min_choices;
    const max = q.kind === 'single' ? 1 : q.max_choices;
    const optionIds = new Set(q.options.map((o) => o.id));
    if (new Set(picked).size !== picked.length) {
      errors[q.id] = 'An option was chosen twice.';
      continue;
    }
    if (picked.some((id) => !optionIds.has(id))) {
      errors[q.id] = 'Unknown option.';
      continue;
    }
    if (picked.length < min) {
      errors[q.id] =
        q.kind === 'single' ? 'Choose one option.' : `Choose at least ${min} option${min === 1 ? '' : 's'}.`;
      continue;
    }
    if (picked.length > max) {
      errors[q.id] = `Choose at most ${max} option${max === 1 ? '' : 's'}.`;
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
