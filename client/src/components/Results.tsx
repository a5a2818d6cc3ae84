import { useMemo } from 'react';
import type { Poll } from '../types';
import { countOf, percent, type TallyState } from '../state/tally';
import { useThrottled } from '../hooks';

function votersText(n: number): string {
  return `${n} ${n === 1 ? 'voter' : 'voters'}`;
}

/** Sentence read by screen readers when the tally changes (throttled by the caller). */
export function summarize(poll: Poll, tally: TallyState): string {
  const parts = [`${votersText(tally.total)}.`];
  if (tally.questions) {
    for (const q of poll.questions) {
      const counts = q.options.map((o) => `${o.label} ${countOf(tally, q.id, o.id)}`).join(', ');
      parts.push(poll.questions.length > 1 ? `${q.text}: ${counts}.` : `${counts}.`);
    }
  }
  return parts.join(' ');
}

interface Props {
  poll: Poll;
  tally: TallyState;
  /** Presenter layout: larger, for a projector. */
  big?: boolean;
  /** Heading level of the question texts. */
  headingLevel?: 2 | 3;
  /** Show only the number of voters, with this note (show_results: after_vote before the vote). */
  hiddenNote?: string | null;
}

/** Bars with counts and percentages per question, the total, and an aria-live summary. */
export function Results({ poll, tally, big = false, headingLevel = 3, hiddenNote = null }: Props) {
  const status = tally.status ?? poll.status;
  const announcement = useThrottled(tally.seq >= 0 ? summarize(poll, hiddenNote ? { ...tally, questions: null } : tally) : '', 4000);
  const H = headingLevel === 2 ? 'h2' : 'h3';
  const leaders = useMemo(() => {
    const m = new Map<string, number>();
    for (const q of poll.questions) {
      let best = 0;
      for (const o of q.options) best = Math.max(best, countOf(tally, q.id, o.id));
      m.set(q.id, best);
    }
    return m;
  }, [poll, tally]);

  // A plain container: each page puts it in its own "Results" region (a nested region of the
  // same name would only repeat it in the landmark list).
  return (
    <div className={`results ${big ? 'results-big' : ''}`}>
      <p className="total" data-testid="total">
        <strong data-testid="total-count">{tally.total}</strong> {tally.total === 1 ? 'voter' : 'voters'}
      </p>
      {hiddenNote ? (
        <p className="hidden-note" data-testid="results-after-vote">
          {hiddenNote}
        </p>
      ) : tally.questions === null ? (
        <p className="hidden-note" data-testid="results-hidden">
          {status === 'closed' ? 'Loading results…' : 'Results will be shown when the poll closes.'}
        </p>
      ) : (
        poll.questions.map((q) => (
          <div className="result-q" key={q.id} data-testid="result-question">
            <H className="result-q-text">{q.text}</H>
            <ul className="bars">
              {q.options.map((o) => {
                const n = countOf(tally, q.id, o.id);
                const pct = percent(n, tally.total);
                const lead = n > 0 && n === leaders.get(q.id);
                return (
                  <li key={o.id} className={`bar ${lead ? 'bar-lead' : ''}`} data-testid="bar" data-option={o.label} data-count={n}>
                    <div className="bar-head">
                      <span className="bar-label">{o.label}</span>
                      <span className="bar-num">
                        <span className="bar-count" data-testid="bar-count">
                          {n}
                        </span>
                        <span className="bar-pct"> · {pct}%{q.kind === 'multiple' ? ' of voters' : ''}</span>
                      </span>
                    </div>
                    <div className="bar-track" aria-hidden="true">
                      <div className="bar-fill" style={{ width: `${pct}%` }} />
                    </div>
                  </li>
                );
              })}
            </ul>
          </div>
        ))
      )}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcement}
      </div>
    </div>
  );
}
