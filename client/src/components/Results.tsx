import { kindOf, type ResultsProps } from '../kinds';
import type { Poll } from '../types';
import type { TallyState } from '../state/tally';
import { useThrottled } from '../hooks';

function votersText(n: number): string {
  return `${n} ${n === 1 ? 'voter' : 'voters'}`;
}

/** Sentence read by screen readers when the tally changes (throttled by the caller). */
export function summarize(poll: Poll, tally: TallyState): string {
  const parts = [`${votersText(tally.total)}.`];
  if (tally.questions) {
    for (const q of poll.questions) {
      const said = kindOf(q.kind).summary(q, tally.questions.find((x) => x.id === q.id), tally.total);
      parts.push(poll.questions.length > 1 ? `${q.text}: ${said}.` : `${said}.`);
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

function QuestionResults(props: ResultsProps) {
  const View = kindOf(props.question.kind).Results;
  return <View {...props} />;
}

/** Per question its kind's results (bars, the runoff, the scale's distribution), the total, and an
 * aria-live summary. */
export function Results({ poll, tally, big = false, headingLevel = 3, hiddenNote = null }: Props) {
  const status = tally.status ?? poll.status;
  const announcement = useThrottled(tally.seq >= 0 ? summarize(poll, hiddenNote ? { ...tally, questions: null } : tally) : '', 4000);
  const H = headingLevel === 2 ? 'h2' : 'h3';

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
            <QuestionResults question={q} qt={tally.questions?.find((x) => x.id === q.id)} total={tally.total} variant="page" />
          </div>
        ))
      )}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcement}
      </div>
    </div>
  );
}
