// Pieces shared by the kinds: min/max of choices (multiple, ranked), option bars (single,
// multiple), counting checks.

import type { Problem } from '../messages';
import { text } from '../messages';
import type { FormErrors, QuestionDraft } from '../state/pollForm';
import { percent } from '../state/tally';
import { cleanText } from '../state/text';
import type { Question, QuestionTally } from '../types';
import type { EditorProps } from './types';

export function parseIntStrict(s: string): number | null {
  if (!/^\s*-?\d+\s*$/.test(s)) return null;
  return Number.parseInt(s, 10);
}

/** Move item `index` of `list` by `delta` places (a new array). */
export function moveItem<T>(list: readonly T[], index: number, delta: number): T[] {
  const to = index + delta;
  const copy = [...list];
  if (index < 0 || index >= list.length || to < 0 || to >= list.length) return copy;
  const [item] = copy.splice(index, 1);
  copy.splice(to, 0, item);
  return copy;
}

export function labelOf(q: Question, optionId: string): string {
  return q.options.find((o) => o.id === optionId)?.label ?? optionId;
}

export function countIn(qt: QuestionTally | undefined, optionId: string): number {
  return qt?.counts[optionId] ?? 0;
}

export function optionsBody(q: QuestionDraft): { label: string }[] {
  return q.options.map((o) => ({ label: cleanText(o.label) }));
}

/** min/max of a draft (multiple, ranked): 0 ≤ min ≤ max ≤ options, max ≥ 1; path q.<key>.choices. */
export function checkMinMax(q: QuestionDraft): FormErrors {
  const n = q.options.length;
  const min = parseIntStrict(q.min);
  const max = parseIntStrict(q.max);
  let p: Problem | null = null;
  if (min === null || max === null) p = { code: 'choices_not_numbers' };
  else if (min < 0) p = { code: 'choices_min_negative' };
  else if (min > max) p = { code: 'choices_min_over_max' };
  else if (max > n) p = { code: 'choices_max_over_options', params: { n } };
  else if (max < 1) p = { code: 'choices_max_zero' };
  return p ? { [`q.${q.key}.choices`]: p } : {};
}

/** Between min and max chosen (the words depend on the kind). */
export function checkCount(picked: string[], min: number, max: number, tooFew: Problem, tooMany: Problem): Problem | null {
  if (picked.length < min) return tooFew;
  if (picked.length > max) return tooMany;
  return null;
}

export function plainSummary(q: Question, qt: QuestionTally | undefined): string {
  return q.options.map((o) => `${o.label} ${countIn(qt, o.id)}`).join(', ');
}

export function MinMaxEditor({ q, errors, onChange, errorId, lowLabel, highLabel }: EditorProps & { lowLabel: string; highLabel: string }) {
  const err = errors[`q.${q.key}.choices`];
  const describedBy = err ? errorId('choices') : undefined;
  return (
    <>
      <div className="row minmax">
        <div className="field">
          <label htmlFor={`q-${q.key}-min`} className="field-label">
            {lowLabel}
          </label>
          <input
            id={`q-${q.key}-min`}
            type="number"
            inputMode="numeric"
            min={0}
            max={q.options.length}
            value={q.min}
            onChange={(e) => onChange({ min: e.target.value })}
            aria-invalid={!!err}
            aria-describedby={describedBy}
          />
        </div>
        <div className="field">
          <label htmlFor={`q-${q.key}-max`} className="field-label">
            {highLabel}
          </label>
          <input
            id={`q-${q.key}-max`}
            type="number"
            inputMode="numeric"
            min={1}
            max={q.options.length}
            value={q.max}
            onChange={(e) => onChange({ max: e.target.value })}
            aria-invalid={!!err}
            aria-describedby={describedBy}
          />
        </div>
      </div>
      {err && (
        <p className="field-error" id={errorId('choices')}>
          {text(err)}
        </p>
      )}
    </>
  );
}

/** Bars per option with counts and percentages of `total` (single and multiple). */
export function OptionBars({
  question,
  qt,
  total,
  variant,
  ofVoters,
}: {
  question: Question;
  qt: QuestionTally | undefined;
  total: number;
  variant: 'page' | 'slide';
  ofVoters: boolean;
}) {
  const best = Math.max(0, ...question.options.map((o) => countIn(qt, o.id)));
  const suffix = ofVoters ? ' of voters' : '';
  if (variant === 'slide')
    return (
      <ul className="pbars">
        {question.options.map((o) => {
          const n = countIn(qt, o.id);
          const pct = percent(n, total);
          return (
            <li key={o.id} className={`pbar ${n > 0 && n === best ? 'pbar-lead' : ''}`} data-testid="bar" data-option={o.label} data-count={n}>
              <span className="pbar-label">{o.label}</span>
              <span className="pbar-track" aria-hidden="true">
                <span className="pbar-fill" style={{ width: `${pct}%` }} />
              </span>
              <span className="pbar-num">
                <span data-testid="bar-count">{n}</span>{' '}
                <span className="pbar-pct">
                  {pct}%{suffix}
                </span>
              </span>
            </li>
          );
        })}
      </ul>
    );
  return (
    <ul className="bars">
      {question.options.map((o) => {
        const n = countIn(qt, o.id);
        const pct = percent(n, total);
        const lead = n > 0 && n === best;
        return (
          <li key={o.id} className={`bar ${lead ? 'bar-lead' : ''}`} data-testid="bar" data-option={o.label} data-count={n}>
            <div className="bar-head">
              <span className="bar-label">{o.label}</span>
              <span className="bar-num">
                <span className="bar-count" data-testid="bar-count">
                  {n}
                </span>
                <span className="bar-pct">
                  {' '}
                  · {pct}%{suffix}
                </span>
              </span>
            </div>
            <div className="bar-track" aria-hidden="true">
              <div className="bar-fill" style={{ width: `${pct}%` }} />
            </div>
          </li>
        );
      })}
    </ul>
  );
}
