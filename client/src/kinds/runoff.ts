// The instant-runoff count of a ranked question (DESIGN.md §3, the tally's `rounds` and `winner`)
// mapped to what the results view draws: per round, the options still in the race in listing
// order with their votes and share of the ballots not exhausted, the option eliminated after the
// round struck, and the winner marked in the last round.  Pure, for tests.

import { percent } from '../state/tally';
import type { Question, QuestionTally } from '../types';

export interface RunoffRow {
  id: string;
  label: string;
  count: number;
  /** Share of the ballots still counting in this round (not exhausted). */
  pct: number;
  /** Eliminated after this round. */
  eliminated: boolean;
  /** The winner, marked in the round that decided it. */
  winner: boolean;
}

export interface RunoffRound {
  /** 1-based. */
  number: number;
  rows: RunoffRow[];
  exhausted: number;
  /** Ballots not exhausted: the base of the majority. */
  continuing: number;
  /** Votes an option needs to win this round (more than half of `continuing`); 0 with no ballots. */
  majority: number;
  /** Labels of the options eliminated after this round. */
  eliminated: string[];
}

export interface RunoffView {
  rounds: RunoffRound[];
  winner: { id: string; label: string } | null;
}

export function runoffView(question: Question, qt: QuestionTally | undefined, total: number): RunoffView {
  const labels = new Map(question.options.map((o) => [o.id, o.label]));
  const label = (id: string) => labels.get(id) ?? id;
  let source = qt?.rounds;
  if (!source || source.length === 0) {
    // No runoff in the tally (none read yet): the first preferences as one round.
    const counts = Object.fromEntries(question.options.map((o) => [o.id, qt?.counts[o.id] ?? 0]));
    const placed = Object.values(counts).reduce((a, b) => a + b, 0);
    source = [{ counts, eliminated: [], exhausted: Math.max(0, total - placed) }];
  }
  const winnerId = qt?.winner ?? null;
  const last = source.length - 1;
  const rounds = source.map((r, i): RunoffRound => {
    const continuing = Object.values(r.counts).reduce((a, b) => a + b, 0);
    const out = new Set(r.eliminated);
    const rows = question.options
      .filter((o) => Object.hasOwn(r.counts, o.id))
      .map((o) => ({
        id: o.id,
        label: o.label,
        count: r.counts[o.id],
        pct: percent(r.counts[o.id], continuing),
        eliminated: out.has(o.id),
        winner: i === last && o.id === winnerId,
      }));
    return {
      number: i + 1,
      rows,
      exhausted: r.exhausted,
      continuing,
      majority: continuing > 0 ? Math.floor(continuing / 2) + 1 : 0,
      eliminated: r.eliminated.map(label),
    };
  });
  return { rounds, winner: winnerId ? { id: winnerId, label: label(winnerId) } : null };
}

/** The runoff in words, for screen readers. */
export function runoffSummary(view: RunoffView): string {
  const parts = view.rounds.map((r) => {
    const counts = r.rows.map((x) => `${x.label} ${x.count}`).join(', ');
    const out = r.eliminated.length ? `; ${r.eliminated.join(', ')} eliminated` : '';
    return `Round ${r.number}: ${counts}${out}.`;
  });
  parts.push(view.winner ? `Winner: ${view.winner.label}.` : 'No winner yet.');
  return parts.join(' ');
}
