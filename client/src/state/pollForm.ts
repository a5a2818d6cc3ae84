// The create-poll form: its state, validation (the server's limits, DESIGN.md §3–§4)
// and conversion to the POST /api/polls body.  Pure: no React, no DOM.

import type { Problem } from '../messages';
import type { CreatePollBody, Eligibility, QuestionKind, ResultsMode, ShowResults, Visibility } from '../types';
import { kindOf } from '../kinds';
import { charLength, cleanText, isBlank, textProblem, visibleKey } from './text';

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
  /** `scale` (kinds/scale.tsx): the end points, as typed, and the optional end labels. */
  scaleMin: string;
  scaleMax: string;
  minLabel: string;
  maxLabel: string;
}

export interface PollForm {
  title: string;
  description: string;
  questions: QuestionDraft[];
  results: ResultsMode;
  showResults: ShowResults;
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
  return {
    key: newKey('q'),
    text: '',
    kind: 'single',
    min: '1',
    max: '2',
    options: [newOption(), newOption()],
    scaleMin: '1',
    scaleMax: '5',
    minLabel: '',
    maxLabel: '',
  };
}

export function emptyForm(): PollForm {
  return {
    title: '',
    description: '',
    questions: [newQuestion()],
    results: 'live',
    showResults: 'always',
    allowRevote: false,
    eligibility: 'open',
    codeCount: '30',
    visibility: 'unlisted',
    closesAt: '',
  };
}

/** Field path → problem (a message code).  Paths: title, description, questions, q.<key>.text,
 * q.<key>.options, q.<key>.choices, o.<key>.label, codeCount, closesAt; a scale's q.<key>.scale,
 * q.<key>.minLabel, q.<key>.maxLabel. */
export type FormErrors = Record<string, Problem>;

function parseIntStrict(s: string): number | null {
  if (!/^\s*-?\d+\s*$/.test(s)) return null;
  return Number.parseInt(s, 10);
}

export { charLength };

/** datetime-local value (local time) → RFC 3339 UTC ("2025-01-02T03:04:05Z"), or null. */
export function localToRfc3339(value: string): string | null {
  if (!value) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(value);
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One text field by DESIGN.md §4's rules: blank (also when only invisible characters), too long,
 * control or bidi characters. */
function checkText(value: string, max: number, required: Problem['code'], tooLong: Problem['code'], multiline = false): Problem | null {
  if (isBlank(value)) return required ? { code: required } : null;
  const bad = textProblem(value, multiline);
  if (bad) return { code: bad };
  if (charLength(cleanText(value)) > max) return { code: tooLong, params: { max } };
  return null;
}

export function validatePollForm(form: PollForm, now: number = Date.now()): FormErrors {
  const e: FormErrors = {};
  const put = (path: string, p: Problem | null) => {
    if (p) e[path] = p;
  };
  put('title', checkText(form.title, LIMITS.titleMax, 'title_required', 'title_too_long'));
  put('description', checkText(form.description, LIMITS.descriptionMax, '', 'description_too_long', true));

  if (form.questions.length < LIMITS.questionsMin) e.questions = { code: 'questions_too_few' };
  else if (form.questions.length > LIMITS.questionsMax) e.questions = { code: 'questions_too_many', params: { max: LIMITS.questionsMax } };

  for (const q of form.questions) {
    put(`q.${q.key}.text`, checkText(q.text, LIMITS.questionTextMax, 'question_required', 'question_too_long'));
    const kind = kindOf(q.kind);
    Object.assign(e, kind.checkDraft(q));
    if (!kind.writesOptions) continue;

    const n = q.options.length;
    if (n < LIMITS.optionsMin) e[`q.${q.key}.options`] = { code: 'options_too_few', params: { min: LIMITS.optionsMin } };
    else if (n > LIMITS.optionsMax) e[`q.${q.key}.options`] = { code: 'options_too_many', params: { max: LIMITS.optionsMax } };

    // As the server compares them: NFC, trimmed, invisible characters ignored, case kept ("Yes" ≠ "yes").
    const seen = new Set<string>();
    for (const o of q.options) {
      const p = checkText(o.label, LIMITS.labelMax, 'option_required', 'option_too_long');
      if (p) {
        e[`o.${o.key}.label`] = p;
        continue;
      }
      const key = visibleKey(o.label);
      if (seen.has(key)) e[`o.${o.key}.label`] = { code: 'option_duplicate' };
      else seen.add(key);
    }
  }

  if (form.eligibility === 'codes') {
    const c = parseIntStrict(form.codeCount);
    if (c === null || c < LIMITS.codeCountMin || c > LIMITS.codeCountMax)
      e.codeCount = { code: 'code_count_range', params: { min: LIMITS.codeCountMin, max: LIMITS.codeCountMax } };
  }

  if (form.closesAt) {
    const iso = localToRfc3339(form.closesAt);
    if (!iso) e.closesAt = { code: 'closes_at_invalid' };
    else if (Date.parse(iso) <= now) e.closesAt = { code: 'closes_at_past' };
  }
  return e;
}

export function toCreateBody(form: PollForm): CreatePollBody {
  return {
    title: cleanText(form.title),
    description: cleanText(form.description),
    results: form.results,
    show_results: form.showResults,
    allow_revote: form.allowRevote,
    eligibility: form.eligibility,
    code_count: form.eligibility === 'codes' ? Number.parseInt(form.codeCount, 10) : null,
    visibility: form.visibility,
    closes_at: localToRfc3339(form.closesAt),
    questions: form.questions.map((q) => ({ text: cleanText(q.text), ...kindOf(q.kind).body(q) })),
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
