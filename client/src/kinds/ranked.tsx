// `ranked`: the voter orders options, most preferred first (DESIGN.md §3); results show the
// instant-runoff count round by round.
//
// The ranking control works by touch and by keyboard alone, without dragging: a tap (or Enter)
// on an unranked option ranks it next, ↑/↓ move a ranked option, ✕ takes it out.  Every change is
// announced (aria-live) and the focus stays on the control that was used (or its nearest
// neighbour when that control went away).

import { useEffect, useRef, useState } from 'react';
import type { Problem } from '../messages';
import { MinMaxEditor, checkCount, checkMinMax, labelOf, moveItem, optionsBody } from './common';
import { runoffSummary, runoffView } from './runoff';
import type { BallotProps, KindModule, ResultsProps } from './types';

export function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${s}`;
}

export function rankRule(min: number, max: number, options: number): Problem {
  if (min === max && max === options) return { code: 'rule_rank_all', params: { n: options } };
  if (min === max) return { code: 'rule_rank_exactly', params: { n: min } };
  return { code: 'rule_rank_range', params: { min, max } };
}

/** What the ranking control does: the new ranking and the sentence announcing it. */
export type RankAction = { type: 'add' | 'remove'; id: string } | { type: 'move'; id: string; delta: -1 | 1 };

export function applyRank(ranking: string[], action: RankAction, label: (id: string) => string, max: number): { next: string[]; said: string } {
  const name = label(action.id);
  const i = ranking.indexOf(action.id);
  switch (action.type) {
    case 'add':
      if (i >= 0 || ranking.length >= max) return { next: ranking, said: '' };
      return { next: [...ranking, action.id], said: `${name} ranked ${ordinal(ranking.length + 1)}.` };
    case 'remove':
      if (i < 0) return { next: ranking, said: '' };
      return { next: ranking.filter((x) => x !== action.id), said: `${name} removed from the ranking.` };
    case 'move': {
      const to = i + action.delta;
      if (i < 0 || to < 0 || to >= ranking.length) return { next: ranking, said: '' };
      return { next: moveItem(ranking, i, action.delta), said: `${name} moved ${action.delta < 0 ? 'up' : 'down'} to ${ordinal(to + 1)}.` };
    }
  }
}

function RankedBallot({ question: q, picked, onChange, disabled }: BallotProps) {
  const [said, setSaid] = useState('');
  const focusNext = useRef<string[] | null>(null);
  const max = q.max_choices;
  const full = picked.length >= max;
  const unranked = q.options.filter((o) => !picked.includes(o.id));
  const bid = (id: string, what: string) => `rk-${q.id}-${id}-${what}`;

  // After a change, focus the first of the wanted controls that exists and is enabled.
  useEffect(() => {
    const ids = focusNext.current;
    if (!ids) return;
    focusNext.current = null;
    for (const id of ids) {
      const el = document.getElementById(id) as HTMLButtonElement | null;
      if (el && !el.disabled) {
        el.focus();
        return;
      }
    }
  });

  const act = (action: RankAction, focus: string[]) => {
    const r = applyRank(picked, action, (id) => labelOf(q, id), max);
    if (r.next === picked) return;
    focusNext.current = [...focus, `rk-${q.id}-list`];
    onChange(r.next);
    setSaid(r.said + (action.type === 'add' && r.next.length >= max && max < q.options.length ? ` ${max} of ${max} ranked.` : ''));
  };

  return (
    <div className="ranking" data-testid="ranking">
      <p className="ranking-head" id={`rk-${q.id}-yours`}>
        Your ranking{' '}
        <span className="muted">
          ({picked.length} of {Math.min(max, q.options.length)})
        </span>
      </p>
      {picked.length === 0 ? (
        <p className="hint ranking-empty" id={`rk-${q.id}-list`} tabIndex={-1}>
          Nothing ranked yet: tap the options below, most preferred first.
        </p>
      ) : (
        <ol className="ranking-list" aria-labelledby={`rk-${q.id}-yours`} id={`rk-${q.id}-list`} tabIndex={-1}>
          {picked.map((id, i) => {
            const name = labelOf(q, id);
            const after = picked[i + 1];
            const before = picked[i - 1];
            return (
              <li key={id} className="ranking-item" data-testid="rank-item" data-option={name}>
                <span className="ranking-pos" aria-hidden="true">
                  {i + 1}
                </span>
                <span className="ranking-label">
                  <span className="sr-only">{ordinal(i + 1)}: </span>
                  {name}
                </span>
                <span className="toolbar">
                  <button
                    type="button"
                    className="btn btn-icon"
                    id={bid(id, 'up')}
                    disabled={disabled || i === 0}
                    aria-label={`Move ${name} up`}
                    onClick={() => act({ type: 'move', id, delta: -1 }, [bid(id, 'up'), bid(id, 'down')])}
                  >
                    ↑
                  </button>
                  <button
                    type="button"
                    className="btn btn-icon"
                    id={bid(id, 'down')}
                    disabled={disabled || i === picked.length - 1}
                    aria-label={`Move ${name} down`}
                    onClick={() => act({ type: 'move', id, delta: 1 }, [bid(id, 'down'), bid(id, 'up')])}
                  >
                    ↓
                  </button>
                  <button
                    type="button"
                    className="btn btn-icon btn-danger"
                    id={bid(id, 'remove')}
                    disabled={disabled}
                    aria-label={`Remove ${name} from the ranking`}
                    onClick={() =>
                      act({ type: 'remove', id }, [
                        bid(id, 'add'),
                        ...(after ? [bid(after, 'remove')] : []),
                        ...(before ? [bid(before, 'remove')] : []),
                      ])
                    }
                  >
                    ✕
                  </button>
                </span>
              </li>
            );
          })}
        </ol>
      )}
      {unranked.length > 0 && (
        <>
          <p className="ranking-head" id={`rk-${q.id}-pool`}>
            {picked.length === 0 ? 'Options' : 'Not ranked'}
          </p>
          {full && <p className="hint">You have ranked {max}, the most allowed. Remove one to rank another.</p>}
          <ul className="ranking-pool" aria-labelledby={`rk-${q.id}-pool`}>
            {unranked.map((o, i) => {
              const neighbours = [unranked[i + 1], unranked[i - 1]].filter(Boolean).map((x) => bid(x.id, 'add'));
              return (
                <li key={o.id}>
                  <button
                    type="button"
                    className="btn ranking-add"
                    id={bid(o.id, 'add')}
                    data-testid="rank-add"
                    data-option={o.label}
                    disabled={disabled || full}
                    onClick={() => act({ type: 'add', id: o.id }, [...neighbours, bid(o.id, 'remove')])}
                  >
                    <span className="ranking-add-plus" aria-hidden="true">
                      +
                    </span>
                    <span>{o.label}</span>
                    <span className="sr-only">, rank {ordinal(picked.length + 1)}</span>
                  </button>
                </li>
              );
            })}
          </ul>
        </>
      )}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="rank-announcer">
        {said}
      </div>
    </div>
  );
}

function RankedResults({ question, qt, total, variant }: ResultsProps) {
  const view = runoffView(question, qt, total);
  const slide = variant === 'slide';
  return (
    <div className={`runoff ${slide ? 'runoff-slide' : ''}`} data-testid="runoff">
      <p className="runoff-winner" data-testid="runoff-winner">
        {view.winner ? (
          <>
            Winner: <strong>{view.winner.label}</strong>
            {view.rounds.length > 1 ? ` after ${view.rounds.length} rounds` : ' in the first round'}
          </>
        ) : (
          'No winner yet'
        )}
      </p>
      <ol className="runoff-rounds">
        {view.rounds.map((r) => (
          <li key={r.number} className="runoff-round" data-testid="runoff-round" data-round={r.number}>
            <p className="runoff-round-head">
              <strong>Round {r.number}</strong>
              <span className="muted">
                {' '}
                · {r.majority > 0 ? `${r.majority} to win` : 'no ballots yet'}
                {r.exhausted > 0 ? ` · ${r.exhausted} exhausted` : ''}
              </span>
            </p>
            <ul className="bars">
              {r.rows.map((x) => (
                <li
                  key={x.id}
                  className={`bar ${x.winner ? 'bar-lead bar-winner' : ''} ${x.eliminated ? 'bar-out' : ''}`}
                  data-testid="runoff-bar"
                  data-option={x.label}
                  data-count={x.count}
                  data-state={x.winner ? 'winner' : x.eliminated ? 'eliminated' : 'in'}
                >
                  <div className="bar-head">
                    <span className="bar-label">
                      {x.eliminated ? <s>{x.label}</s> : x.label}
                      {x.eliminated && <span className="tag tag-out"> eliminated</span>}
                      {x.winner && <span className="tag tag-win"> ✓ winner</span>}
                    </span>
                    <span className="bar-num">
                      <span className="bar-count">{x.count}</span>
                      <span className="bar-pct"> · {x.pct}%</span>
                    </span>
                  </div>
                  <div className="bar-track" aria-hidden="true">
                    <div className="bar-fill" style={{ width: `${x.pct}%` }} />
                  </div>
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
    </div>
  );
}

export const ranked: KindModule = {
  kind: 'ranked',
  title: 'Ranking (instant runoff)',
  writesOptions: true,
  onPick: (q) => ({ min: '1', max: String(q.options.length) }),
  checkDraft: checkMinMax,
  body: (q) => ({
    kind: 'ranked',
    min_choices: Number.parseInt(q.min, 10),
    max_choices: Number.parseInt(q.max, 10),
    options: optionsBody(q),
  }),
  Editor: (props) => <MinMaxEditor {...props} lowLabel="Rank at least" highLabel="Rank at most" />,
  rule: (q) => rankRule(q.min_choices, q.max_choices, q.options.length),
  check: (q, picked) =>
    checkCount(
      picked,
      q.min_choices,
      q.max_choices,
      { code: 'ballot_rank_too_few', params: { min: q.min_choices } },
      { code: 'ballot_rank_too_many', params: { max: q.max_choices } },
    ),
  Ballot: RankedBallot,
  Results: RankedResults,
  summary: (q, qt, total) => runoffSummary(runoffView(q, qt, total)),
  choiceText: (q, picked) => picked.map((id, i) => `${i + 1}. ${labelOf(q, id)}`).join(', '),
};
