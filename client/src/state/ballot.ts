// Client-side ballot validation, mirroring the server's rules (DESIGN.md §3, §4):
// per question the chosen option ids are distinct, belong to the question and number
// between min_choices and max_choices (the kind's own check, kinds/); a question whose
// min_choices is 0 may be left out.  Problems are message codes (messages.ts), not sentences.

import { kindOf } from '../kinds';
import { toggle } from '../kinds/choice';
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

/** The rule under a question on the ballot (its kind's). */
export function describeRule(q: Pick<Question, 'kind' | 'min_choices' | 'max_choices'> & Partial<Question>): Problem {
  return kindOf(q.kind).rule({ id: '', text: '', options: [], ...q });
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
    const optionIds = new Set(q.options.map((o) => o.id));
    if (new Set(picked).size !== picked.length) {
      errors[q.id] = { code: 'ballot_duplicate' };
      continue;
    }
    if (picked.some((id) => !optionIds.has(id))) {
      errors[q.id] = { code: 'ballot_unknown_option' };
      continue;
    }
    const problem = kindOf(q.kind).check(q, picked);
    if (problem) {
      errors[q.id] = problem;
      continue;
    }
    if (picked.length > 0) choices[q.id] = [...picked];
  }
  return { ok: Object.keys(errors).length === 0, errors, choices };
}

/** Toggle an option in a selection: exactly one (single, scale) replaces, like a radio button;
 * otherwise adds or removes, like a checkbox. */
export function toggleChoice(q: Question, current: string[], optionId: string, checked: boolean): string[] {
  return toggle(q.min_choices === 1 && q.max_choices === 1, current, optionId, checked);
}
