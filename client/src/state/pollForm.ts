// The create-poll form: its state, validation (the server's limits, DESIGN.md §3–§4)
// and conversion to the POST /api/polls body.  Pure: no React, no DOM.

import type { CreatePollBody, Eligibility, QuestionKind, ResultsMode, Visibility } from '../types';

export const LIMITS = {
  titleMax: 200,
  descriptionMax: 2000,
  questionsMin: 1,
  questionsMax: 20,
  questionTextMax: 500,
  optionsMin: 2,
  optionsMax: 50,
  labelMax: 200,
  codeCountMin: 1,
  codeCountMax: 10000,
} as const;

export interface OptionDraft {
  key: string;
  label: string;
}

export interface QuestionDraft {
  key: string;
  text: string;
  kind: QuestionKind;
  /** Kept as strings: they come from number inputs and may be empty while typing. */
  min: string;
  max: string;
  options: OptionDraft[];
}

export interface PollForm {
  title: string;
  description: string;
  questions: QuestionDraft[];
  results: ResultsMode;
  allowRevote: boolean;
  eligibility: Eligibility;
  codeCount: string;
  visibility: Visibility;
  /** Value of an <input type="datetime-local">, local time, '' for none. */
  closesAt: string;
}

let keySeq = 0;
export function newKey(prefix = 'k'): string {
  keySeq += 1;
  return `${prefix}${keySeq}`;
}

export function newOption(label = ''): OptionDraft {
  return { key: newKey('o'), label };
}

export function newQuestion(): QuestionDraft {
  return { key: newKey('q'), text: '', kind: 'single', min: '1', max: '2', options: [newOption(), newOption()] };
}

export function emptyForm(): PollForm {
  return {
    title: '',
    description: '',
    questions: [newQuestion()],
    results: 'live',
    allowRevote: false,
    eligibility: 'open',
    codeCount: '30',
    visibility: 'unlisted',
    closesAt: '',
  };
}

/** Field path → message.  Paths: title, description, questions, q.<key>.text, q.<key>.options,
 * q.<key>.choices, o.<key>.label, codeCount, closesAt. */
export type FormErrors = Record<string, string>;

function parseIntStrict(s: string): number | null {
  if (!/^\s*-?\d+\s*$/.test(s)) return null;
  return Number.parseInt(s, 10);
}

/** Length in code points, as the server (Python len) counts. */
export function charLength(s: string): number {
  return [...s].length;
}

/** datetime-local value (local time) → RFC 3339 UTC ("2025-01-02T03:04:05Z"), or null. */
export function localToRfc3339(value: string): string | null {
  if (!value) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value);
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function validatePollForm(form: PollForm, now: number = Date.now()): FormErrors {
  const e: FormErrors = {};
  const title = form.title.trim();
  if (!title) e.title = 'Give the poll a title.';
  else if (charLength(title) > LIMITS.titleMax) e.title = `The title is longer than ${LIMITS.titleMax} characters.`;
  if (charLength(form.description) > LIMITS.descriptionMax)
    e.description = `The description is longer than ${LIMITS.descriptionMax} characters.`;

  if (form.questions.length < LIMITS.questionsMin) e.questions = 'Add at least one question.';
  else if (form.questions.length > LIMITS.questionsMax) e.questions = `At most ${LIMITS.questionsMax} questions.`;

  for (const q of form.questions) {
    const text = q.text.trim();
    if (!text) e[`q.${q.key}.text`] = 'Write the question.';
    else if (charLength(text) > LIMITS.questionTextMax)
      e[`q.${q.key}.text`] = `The question is longer than ${LIMITS.questionTextMax} characters.`;

    const n = q.options.length;
    if (n < LIMITS.optionsMin) e[`q.${q.key}.options`] = `A question needs at least ${LIMITS.optionsMin} options.`;
    else if (n > LIMITS.optionsMax) e[`q.${q.key}.options`] = `A question has at most ${LIMITS.optionsMax} options.`;

    const seen = new Map<string, string>();
    for (const o of q.options) {
      const label = o.label.trim();
      if (!label) e[`o.${o.key}.label`] = 'Write the option.';
      else if (charLength(label) > LIMITS.labelMax)
        e[`o.${o.key}.label`] = `The option is longer than ${LIMITS.labelMax} characters.`;
      // As the server compares them: after trimming and NFC, case kept ("Yes" ≠ "yes").
      else if (seen.has(label.normalize('NFC'))) e[`o.${o.key}.label`] = 'This option is already in the question.';
      else seen.set(label.normalize('NFC'), o.key);
    }

    if (q.kind === 'multiple') {
      const min = parseIntStrict(q.min);
      const max = parseIntStrict(q.max);
      if (min === null || max === null) e[`q.${q.key}.choices`] = 'Enter whole numbers for the minimum and maximum.';
      else if (min < 0) e[`q.${q.key}.choices`] = 'The minimum cannot be negative.';
      else if (min > max) e[`q.${q.key}.choices`] = 'The minimum is larger than the maximum.';
      else if (max > n) e[`q.${q.key}.choices`] = `The maximum cannot exceed the ${n} options.`;
      else if (max < 1) e[`q.${q.key}.choices`] = 'The maximum must be at least 1.';
    }
  }

  if (form.eligibility === 'codes') {
    const c = parseIntStrict(form.codeCount);
    if (c === null || c < LIMITS.codeCountMin || c > LIMITS.codeCountMax)
      e.codeCount = `Enter a number of access codes from ${LIMITS.codeCountMin} to ${LIMITS.codeCountMax}.`;
  }

  if (form.closesAt) {
    const iso = localToRfc3339(form.closesAt);
    if (!iso) e.closesAt = 'Enter a valid date and time.';
    else if (Date.parse(iso) <= now) e.closesAt = 'The closing time must be in the future.';
  }
  return e;
}

export function toCreateBody(form: PollForm): CreatePollBody {
  return {
    title: form.title.trim(),
    description: form.description.trim(),
    results: form.results,
    allow_revote: form.allowRevote,
    eligibility: form.eligibility,
    code_count: form.eligibility === 'codes' ? Number.parseInt(form.codeCount, 10) : null,
    visibility: form.visibility,
    closes_at: localToRfc3339(form.closesAt),
    questions: form.questions.map((q) => ({
      text: q.text.trim(),
      kind: q.kind,
      ...(q.kind === 'multiple'
        ? { min_choices: Number.parseInt(q.min, 10), max_choices: Number.parseInt(q.max, 10) }
        : {}),
      options: q.options.map((o) => ({ label: o.label.trim() })),
    })),
  };
}

/** Move item `index` of `list` by `delta` places; returns a new array (unchanged if out of range). */
export function move<T>(list: readonly T[], index: number, delta: number): T[] {
  const to = index + delta;
  if (index < 0 || index >= list.length || to < 0 || to >= list.length) return [...list];
  const copy = [...list];
  const [item] = copy.splice(index, 1);
  copy.splice(to, 0, item);
  return copy;
}
