// `scale`: the voter picks one point of a rating scale (DESIGN.md §3: scale_min..scale_max, at
// most 11 points between 0 and 10, optional end labels; the server makes one option per point,
// label = the number).  Results: the distribution over the points with its mean and median.

import { text } from '../messages';
import type { FormErrors, QuestionDraft } from '../state/pollForm';
import { percent } from '../state/tally';
import { charLength, cleanText, isBlank, textProblem } from '../state/text';
import type { Question, QuestionTally } from '../types';
import { checkCount, countIn, labelOf, parseIntStrict } from './common';
import type { BallotProps, EditorProps, KindModule, ResultsProps } from './types';

export const SCALE = { lowest: 0, highest: 10, labelMax: 200 } as const;

export function checkScaleDraft(q: QuestionDraft): FormErrors {
  const e: FormErrors = {};
  const lo = parseIntStrict(q.scaleMin);
  const hi = parseIntStrict(q.scaleMax);
  if (lo === null || hi === null) e[`q.${q.key}.scale`] = { code: 'scale_not_numbers' };
  else if (!(SCALE.lowest <= lo && lo < hi && hi <= SCALE.highest))
    e[`q.${q.key}.scale`] = { code: 'scale_range', params: { lowest: SCALE.lowest, highest: SCALE.highest } };
  for (const [field, value] of [
    ['minLabel', q.minLabel],
    ['maxLabel', q.maxLabel],
  ] as const) {
    if (isBlank(value)) continue;
    const bad = textProblem(value);
    if (bad) e[`q.${q.key}.${field}`] = { code: bad };
    else if (charLength(cleanText(value)) > SCALE.labelMax) e[`q.${q.key}.${field}`] = { code: 'scale_label_too_long', params: { max: SCALE.labelMax } };
  }
  return e;
}

export interface ScaleView {
  rows: { id: string; label: string; count: number; pct: number; height: number }[];
  votes: number;
  mean: number | null;
  median: number | null;
}

/** The distribution of a scale question (share of its votes per point; bar heights relative to
 * the most chosen point), with the server's mean and median (computed here when a tally lacks them). */
export function scaleView(question: Question, qt: QuestionTally | undefined): ScaleView {
  const counts = question.options.map((o) => ({ id: o.id, label: o.label, count: countIn(qt, o.id) }));
  const votes = counts.reduce((a, r) => a + r.count, 0);
  const most = Math.max(0, ...counts.map((r) => r.count));
  const rows = counts.map((r) => ({ ...r, pct: percent(r.count, votes), height: most > 0 ? (r.count / most) * 100 : 0 }));
  let mean = qt?.mean ?? null;
  let median = qt?.median ?? null;
  if (qt && (qt.mean === undefined || qt.median === undefined) && votes > 0) {
    const points: number[] = [];
    for (const r of counts) for (let i = 0; i < r.count; i += 1) points.push(Number(r.label));
    mean = points.reduce((a, b) => a + b, 0) / votes;
    const mid = Math.floor(votes / 2);
    median = votes % 2 ? points[mid] : (points[mid - 1] + points[mid]) / 2;
  }
  return { rows, votes, mean, median };
}

/** 3.4, 4, 2.67 → "2.7": at most one decimal. */
export function formatPoint(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '–';
  return String(Math.round(x * 10) / 10);
}

function ScaleEditor({ q, errors, onChange, errorId }: EditorProps) {
  const rangeErr = errors[`q.${q.key}.scale`];
  const field = (name: 'scaleMin' | 'scaleMax', label: string) => (
    <div className="field">
      <label htmlFor={`q-${q.key}-${name}`} className="field-label">
        {label}
      </label>
      <input
        id={`q-${q.key}-${name}`}
        type="number"
        inputMode="numeric"
        min={SCALE.lowest}
        max={SCALE.highest}
        value={q[name]}
        onChange={(e) => onChange({ [name]: e.target.value })}
        aria-invalid={!!rangeErr}
        aria-describedby={rangeErr ? errorId('scale') : undefined}
      />
    </div>
  );
  const end = (name: 'minLabel' | 'maxLabel', label: string, placeholder: string) => {
    const err = errors[`q.${q.key}.${name}`];
    return (
      <div className="field">
        <label htmlFor={`q-${q.key}-${name}`} className="field-label">
          {label}
        </label>
        <input
          id={`q-${q.key}-${name}`}
          value={q[name]}
          placeholder={placeholder}
          autoComplete="off"
          onChange={(e) => onChange({ [name]: e.target.value })}
          aria-invalid={!!err}
          aria-describedby={err ? errorId(name) : undefined}
        />
        {err && (
          <p className="field-error" id={errorId(name)}>
            {text(err)}
          </p>
        )}
      </div>
    );
  };
  return (
    <div className="scale-editor">
      <div className="row minmax">
        {field('scaleMin', 'Lowest point')}
        {field('scaleMax', 'Highest point')}
      </div>
      {rangeErr && (
        <p className="field-error" id={errorId('scale')}>
          {text(rangeErr)}
        </p>
      )}
      <div className="row scale-ends-editor">
        {end('minLabel', 'Label of the lowest point (optional)', 'Not at all')}
        {end('maxLabel', 'Label of the highest point (optional)', 'Very much')}
      </div>
    </div>
  );
}

function ScaleBallot({ question: q, picked, onChange }: BallotProps) {
  const last = q.options.length - 1;
  return (
    <div className="scale">
      <div className="scale-points">
        {q.options.map((o, i) => {
          const inputId = `vo-${q.id}-${o.id}`;
          const end = i === 0 ? q.min_label : i === last ? q.max_label : null;
          return (
            <div className={`scale-point ${picked.includes(o.id) ? 'scale-point-on' : ''}`} key={o.id}>
              <input
                id={inputId}
                type="radio"
                name={`q-${q.id}`}
                value={o.id}
                checked={picked.includes(o.id)}
                onChange={(e) => onChange(e.target.checked ? [o.id] : [])}
              />
              <label htmlFor={inputId}>
                {o.label}
                {end && <span className="sr-only"> ({end})</span>}
              </label>
            </div>
          );
        })}
      </div>
      {(q.min_label || q.max_label) && (
        <div className="scale-ends" aria-hidden="true">
          <span>{q.min_label}</span>
          <span>{q.max_label}</span>
        </div>
      )}
    </div>
  );
}

function ScaleResults({ question, qt, variant }: ResultsProps) {
  const view = scaleView(question, qt);
  const k = view.rows.length;
  const lo = question.scale_min ?? Number(question.options[0]?.label ?? 0);
  const markAt = view.mean === null ? null : ((view.mean - lo + 0.5) / k) * 100;
  return (
    <div className={`scale-results ${variant === 'slide' ? 'scale-results-slide' : ''}`} data-testid="scale-results">
      <p className="scale-stats">
        Mean <strong data-testid="scale-mean">{formatPoint(view.mean)}</strong> · Median{' '}
        <strong data-testid="scale-median">{formatPoint(view.median)}</strong> ·{' '}
        <span data-testid="scale-votes">
          {view.votes} {view.votes === 1 ? 'vote' : 'votes'}
        </span>
      </p>
      <ul className="scale-dist" aria-label={`Votes per point, ${view.rows[0]?.label} to ${view.rows[k - 1]?.label}`}>
        {view.rows.map((r) => (
          <li key={r.id} className="scale-col" data-testid="scale-bar" data-point={r.label} data-count={r.count}>
            <span className="scale-count" aria-hidden="true">
              {r.count}
            </span>
            <span className="scale-track" aria-hidden="true">
              <span className="scale-fill" style={{ height: `${r.height}%` }} />
            </span>
            <span className="scale-label">
              {r.label}
              <span className="sr-only">
                : {r.count} {r.count === 1 ? 'vote' : 'votes'} ({r.pct}%)
              </span>
            </span>
          </li>
        ))}
      </ul>
      <div className="scale-axis" aria-hidden="true">
        {markAt !== null && (
          <span className="scale-mean-mark" style={{ left: `${markAt}%` }} data-testid="scale-mean-mark">
            ▲ mean
          </span>
        )}
      </div>
      {(question.min_label || question.max_label) && (
        <div className="scale-ends">
          <span>
            {question.options[0]?.label} = {question.min_label ?? '–'}
          </span>
          <span>
            {question.options[k - 1]?.label} = {question.max_label ?? '–'}
          </span>
        </div>
      )}
    </div>
  );
}

export const scale: KindModule = {
  kind: 'scale',
  title: 'Rating scale',
  writesOptions: false,
  onPick: () => ({}),
  checkDraft: checkScaleDraft,
  body: (q) => ({
    kind: 'scale',
    scale_min: Number.parseInt(q.scaleMin, 10),
    scale_max: Number.parseInt(q.scaleMax, 10),
    min_label: isBlank(q.minLabel) ? null : cleanText(q.minLabel),
    max_label: isBlank(q.maxLabel) ? null : cleanText(q.maxLabel),
  }),
  Editor: ScaleEditor,
  rule: (q) => ({
    code: 'rule_scale_range',
    params: { min: q.options[0]?.label ?? '', max: q.options[q.options.length - 1]?.label ?? '' },
  }),
  check: (_q, picked) => checkCount(picked, 1, 1, { code: 'ballot_choose_one' }, { code: 'ballot_too_many', params: { max: 1 } }),
  Ballot: ScaleBallot,
  Results: ScaleResults,
  summary: (q, qt) => {
    const v = scaleView(q, qt);
    return `Mean ${formatPoint(v.mean)}, median ${formatPoint(v.median)}; ${v.rows.map((r) => `${r.label}: ${r.count}`).join(', ')}`;
  },
  choiceText: (q, picked) => picked.map((id) => labelOf(q, id)).join(', '),
};
