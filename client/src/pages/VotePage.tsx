import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, errorText, uuid } from '../api';
import { ConnectionStatus } from '../components/Connection';
import { ErrorBox } from '../components/ErrorBox';
import { GroupedCode } from '../components/JoinCode';
import { LoadFailed, Loading, NotFoundCard } from '../components/PollState';
import { Results } from '../components/Results';
import { useDocumentTitle } from '../hooks';
import { t, text, type Problem } from '../messages';
import { keys } from '../queries';
import { Link } from '../router';
import { kindOf } from '../kinds';
import { describeRule, validateBallot, type Choices } from '../state/ballot';
import { normalizeCode } from '../state/codes';
import { getMyCode, getOrganizer, setMyCode } from '../storage';
import type { Ballot, Poll, PollStatus } from '../types';
import { usePoll } from './usePoll';

/** `#code=…` in the address (a printed slip's QR code), normalized; null when there is none. */
function codeInHash(): string | null {
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash) return null;
  const raw = new URLSearchParams(hash).get('code');
  const code = raw ? normalizeCode(raw) : '';
  return code || null;
}

export default function VotePage({ id }: { id: string }) {
  const { query, poll, live, tally, notFound, status, deleted } = usePoll(id);
  useDocumentTitle(poll?.title ?? 'Poll');

  if (notFound) return <NotFoundCard />;
  if (!poll && query.isError) return <LoadFailed error={query.error} onRetry={() => void query.refetch()} />;
  if (!poll || !status) return <Loading />;
  return <PollView poll={poll} status={status} deleted={deleted} live={live} tally={tally} onStale={() => void query.refetch()} />;
}

type PollViewProps = {
  poll: Poll;
  status: PollStatus;
  deleted: boolean;
  live: ReturnType<typeof usePoll>['live'];
  tally: ReturnType<typeof usePoll>['tally'];
  onStale: () => void;
};

function PollView({ poll, status, deleted, live, tally, onStale }: PollViewProps) {
  const id = poll.id;
  const closed = status === 'closed';
  const organizer = getOrganizer(id);
  const ballotState = useBallotState(poll, closed);
  const voted = ballotState.phase === 'voted' || ballotState.phase === 'editing';
  const hiddenNote = poll.show_results === 'after_vote' && !closed && !voted ? 'The results appear here once you have voted.' : null;

  const results = !deleted && (
    <section className="card" aria-labelledby="results-title" data-testid="results">
      <div className="card-head">
        <h2 id="results-title">{closed ? 'Final results' : 'Results'}</h2>
        <ConnectionStatus state={live.connection} updatedAt={tally.updatedAt} />
      </div>
      <Results poll={poll} tally={tally} hiddenNote={hiddenNote} />
    </section>
  );

  return (
    <main id="main" className="page page-vote">
      <header className="poll-head">
        <h1 tabIndex={-1} data-testid="poll-title">
          {poll.title}
        </h1>
        {poll.description && <p className="lead pre-line">{poll.description}</p>}
        <PollMeta poll={poll} status={status} deleted={deleted} />
      </header>

      {deleted ? (
        <section className="card banner banner-closed" role="status" data-testid="deleted">
          This poll was deleted by its organizer.
        </section>
      ) : (
        <>
          {/* On a closed poll the results come first, the greyed ballot after. */}
          {closed && results}
          <Voting poll={poll} closed={closed} state={ballotState} onStale={onStale} />
          {!closed && results}
        </>
      )}

      <p className="footer-links">
        <Link href={`/p/${id}/present`}>Presenter view</Link>
        {organizer && (
          <>
            {' · '}
            <Link href={`/p/${id}/admin`}>Organizer controls</Link>
          </>
        )}
        {' · '}
        <Link href="/">Home</Link>
      </p>
    </main>
  );
}

export function PollMeta({ poll, status, deleted = false }: { poll: Poll; status: PollStatus; deleted?: boolean }) {
  return (
    <p className="meta">
      {deleted ? (
        <span className="pill pill-closed">Deleted</span>
      ) : (
        <span className={`pill pill-${status}`} data-testid="status-pill">
          {status === 'open' ? 'Open' : 'Closed'}
        </span>
      )}
      <span>
        Join code <GroupedCode code={poll.id} />
      </span>
      {poll.closes_at && status === 'open' && <span>Closes {new Date(poll.closes_at).toLocaleString()}</span>}
      {poll.results === 'after_close' && <span>Results after close</span>}
      {poll.show_results === 'after_vote' && status === 'open' && <span>Results after your vote</span>}
      {poll.allow_revote && status === 'open' && <span data-testid="revote-note">Votes can be changed</span>}
    </p>
  );
}

// --- where this device stands with the ballot ----------------------------------------------------

type Phase = 'need-code' | 'checking' | 'form' | 'voted' | 'editing';

interface AccessCheck {
  status: 'unused' | 'used';
  ballot: Ballot | null;
}

function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof ApiError && codes.includes(e.code);
}

/** Null for "no ballot yet" instead of an error. */
function orNull<T>(p: Promise<T>): Promise<T | null> {
  return p.catch((e) => {
    if (isCode(e, 'no_ballot')) return null;
    throw e;
  });
}

function useBallotState(poll: Poll, closed: boolean) {
  const id = poll.id;
  const codes = poll.eligibility === 'codes';
  const [code, setCodeState] = useState<string | null>(() => (codes ? (codeInHash() ?? getMyCode(id)?.code ?? null) : null));
  const [mine, setMine] = useState<{ code: string | null; ballot: Ballot } | null>(null);
  const [editing, setEditing] = useState(false);
  const [codeError, setCodeError] = useState<Problem | null>(null);
  const receipt = code ? (getMyCode(id)?.code === code ? (getMyCode(id)?.receipt ?? null) : null) : null;

  // The slip's code leaves the address bar once read (it is a credential).
  useEffect(() => {
    if (codeInHash() !== null) window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  }, []);

  // Open polls: this voter's ballot (by voter token).
  const byVoter = useQuery({
    queryKey: keys.ballot(id, 'voter'),
    queryFn: ({ signal }) => orNull(api.getBallot(id, null, signal)),
    enabled: !codes,
  });

  // Codes polls: is the code valid, used, and (with this device's receipt) whose ballot?
  const byCode = useQuery({
    queryKey: ['access', id, code, receipt] as const,
    enabled: codes && !!code,
    queryFn: async ({ signal }): Promise<AccessCheck> => {
      const { status } = await api.checkCode(id, code!, signal);
      const ballot = status !== 'unused' && receipt ? await orNull(api.getBallot(id, { code: code!, receipt }, signal)) : null;
      return { status, ballot };
    },
  });

  const setCode = (c: string | null, error: Problem | null = null) => {
    if (c === null) setMyCode(id, null);
    setCodeState(c);
    setMine(null);
    setEditing(false);
    setCodeError(error);
  };

  let phase: Phase;
  let problem: Problem | null = codeError;
  let revote = false;
  let warning: string | null = null;
  const ownBallot = mine && mine.code === code ? mine.ballot : null;
  let ballot: Ballot | null = ownBallot;
  if (codes && !code) phase = 'need-code';
  else if (ballot) phase = editing ? 'editing' : 'voted';
  else if (!codes) {
    if (byVoter.isPending) phase = 'checking';
    else {
      ballot = byVoter.data ?? null;
      if (byVoter.isError) warning = `Could not check for an earlier vote: ${errorText(byVoter.error)}`;
      phase = ballot ? (editing ? 'editing' : 'voted') : 'form';
    }
  } else if (byCode.isPending) phase = 'checking';
  else if (byCode.isError) {
    if (isCode(byCode.error, 'invalid_code', 'poll_not_found') || (byCode.error instanceof ApiError && byCode.error.status === 403)) {
      phase = 'need-code';
      problem = { code: 'invalid_code' };
    } else {
      phase = 'form';
      warning = `Could not check the code: ${errorText(byCode.error)}`;
    }
  } else {
    ballot = byCode.data.ballot;
    if (ballot) phase = editing ? 'editing' : 'voted';
    else if (byCode.data.status === 'used') {
      if (poll.allow_revote && !closed) {
        phase = 'form';
        revote = true;
      } else {
        phase = 'need-code';
        problem = { code: 'code_used' };
      }
    } else phase = 'form';
  }

  return {
    codes,
    code,
    phase,
    problem,
    revote,
    warning,
    ballot,
    setCode,
    setEditing,
    voted: (b: Ballot) => {
      setMine({ code, ballot: b });
      setEditing(false);
      if (codes && code) setMyCode(id, { code, receipt: b.receipt });
    },
    recheck: () => {
      setMine(null);
      setEditing(false);
      void (codes ? byCode.refetch() : byVoter.refetch());
    },
  };
}

type BallotState = ReturnType<typeof useBallotState>;

function choiceLabels(poll: Poll, choices: Record<string, string[]>): { q: string; labels: string[] }[] {
  return poll.questions.map((q) => ({
    q: q.text,
    labels: choices[q.id]?.length ? [kindOf(q.kind).choiceText(q, choices[q.id])] : [],
  }));
}

function Voting({ poll, closed, state, onStale }: { poll: Poll; closed: boolean; state: BallotState; onStale: () => void }) {
  const queryClient = useQueryClient();
  const [selection, setSelection] = useState<Choices>({});
  const [qErrors, setQErrors] = useState<Record<string, Problem>>({});
  const [error, setError] = useState<string | null>(null);
  const idemRef = useRef<{ key: string; body: string } | null>(null);
  const doneRef = useRef<HTMLHeadingElement>(null);
  const errorRef = useRef<HTMLDivElement>(null);
  const cast = useMutation({
    mutationFn: (v: { choices: Choices; code: string | null; key: string }) => api.castBallot(poll.id, v.choices, v.code, v.key),
  });
  const sending = cast.isPending;
  const { phase, code } = state;

  useEffect(() => {
    if (phase === 'voted' && cast.isSuccess) doneRef.current?.focus();
  }, [phase, cast.isSuccess]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (sending) return;
    setError(null);
    const check = validateBallot(poll.questions, selection);
    setQErrors(check.errors);
    if (!check.ok) {
      const first = poll.questions.find((q) => check.errors[q.id]);
      if (first) setTimeout(() => document.getElementById(`vq-${first.id}`)?.focus(), 0);
      return;
    }
    const bodyText = JSON.stringify({ choices: check.choices, code });
    // One key per ballot: a retry of the same ballot (after a failure) reuses it, so it is never counted twice.
    if (!idemRef.current || idemRef.current.body !== bodyText) idemRef.current = { key: uuid(), body: bodyText };
    cast.mutate(
      { choices: check.choices, code, key: idemRef.current.key },
      {
        onSuccess: (res) => {
          idemRef.current = null;
          state.voted(res.ballot);
          if (!state.codes) queryClient.setQueryData(keys.ballot(poll.id, 'voter'), res.ballot);
        },
        onError: (err) => {
          if (isCode(err, 'already_voted')) {
            state.recheck();
            return;
          }
          if (isCode(err, 'invalid_code', 'code_used')) {
            state.setCode(null, { code: (err as ApiError).code });
            return;
          }
          if (isCode(err, 'poll_closed')) onStale();
          setError(errorText(err));
          setTimeout(() => errorRef.current?.focus(), 0);
        },
      },
    );
  };

  if (phase === 'checking') {
    return (
      <section className="card">
        <p className="loading" role="status">
          {state.codes ? 'Checking your code…' : 'Checking your ballot…'}
        </p>
      </section>
    );
  }

  if (phase === 'need-code') {
    return (
      <section className="card" aria-labelledby="code-title" data-testid="code-entry">
        <h2 id="code-title">Enter your access code</h2>
        {closed && <ClosedBanner />}
        <ErrorBox message={state.problem ? text(state.problem) : null} />
        <CodeForm onCode={(c) => state.setCode(c)} disabled={closed} />
      </section>
    );
  }

  if ((phase === 'voted' || (phase === 'editing' && closed)) && state.ballot) {
    const ballot = state.ballot;
    return (
      <section className={`card voted ${closed ? 'card-closed' : ''}`} aria-labelledby="voted-title" data-testid="voted">
        {closed && <ClosedBanner />}
        <h2 id="voted-title" tabIndex={-1} ref={doneRef}>
          ✓ Your vote counted
        </h2>
        <ul className="your-choices">
          {choiceLabels(poll, ballot.choices).map(({ q, labels }) => (
            <li key={q}>
              {poll.questions.length > 1 && <span className="muted">{q}: </span>}
              <strong>{labels.length ? labels.join(', ') : 'no choice'}</strong>
            </li>
          ))}
        </ul>
        <p className="receipt">
          Receipt <span className="mono" data-testid="receipt">{ballot.receipt}</span>
        </p>
        <ErrorBox message={error} ref={errorRef} />
        {poll.allow_revote && !closed && (
          <button
            type="button"
            className="btn"
            onClick={() => {
              setSelection(Object.fromEntries(Object.entries(ballot.choices).map(([k, v]) => [k, [...v]])));
              setQErrors({});
              state.setEditing(true);
            }}
          >
            Change my vote
          </button>
        )}
      </section>
    );
  }

  // phase 'form' or 'editing'
  const editing = phase === 'editing';
  return (
    <form
      className={`card ballot ${closed ? 'card-closed' : ''}`}
      onSubmit={submit}
      noValidate
      aria-labelledby="ballot-title"
      data-testid="ballot-form"
    >
      <h2 id="ballot-title">{editing ? 'Change your vote' : 'Your vote'}</h2>
      {closed && <ClosedBanner />}
      {state.warning && <p className="banner banner-warn">{state.warning}</p>}
      {state.revote && (
        <p className="banner banner-info" role="status" data-testid="revote-replaces">
          This code was already used. Voting again replaces the earlier ballot.
        </p>
      )}
      <ErrorBox message={error} ref={errorRef} />
      {poll.questions.map((q, qi) => {
        const picked = selection[q.id] ?? [];
        const err = qErrors[q.id];
        const KindBallot = kindOf(q.kind).Ballot;
        return (
          <fieldset
            key={q.id}
            className="vote-q"
            id={`vq-${q.id}`}
            tabIndex={-1}
            aria-describedby={`vq-${q.id}-rule${err ? ` vq-${q.id}-err` : ''}`}
            disabled={closed || sending}
          >
            <legend className="vote-q-text">
              {poll.questions.length > 1 && <span className="muted">{qi + 1}. </span>}
              {q.text}
            </legend>
            <p className="hint" id={`vq-${q.id}-rule`}>
              {text(describeRule(q))}
            </p>
            <KindBallot
              question={q}
              picked={picked}
              disabled={closed || sending}
              onChange={(next) => {
                setSelection((s) => ({ ...s, [q.id]: next }));
                setQErrors((x) => Object.fromEntries(Object.entries(x).filter(([k]) => k !== q.id)));
              }}
            />
            {err && (
              <p className="field-error" id={`vq-${q.id}-err`}>
                {text(err)}
              </p>
            )}
          </fieldset>
        );
      })}
      {state.codes && code && (
        <p className="hint">
          Voting with access code <GroupedCode code={code} testId="using-code" />.{' '}
          <button type="button" className="linklike" onClick={() => state.setCode(null)}>
            Use another code
          </button>
        </p>
      )}
      <div className="actions">
        <button type="submit" className="btn btn-primary btn-large" disabled={closed || sending} data-testid="vote-submit">
          {sending ? 'Sending…' : editing ? 'Replace my vote' : 'Vote'}
        </button>
        {editing && (
          <button type="button" className="btn" onClick={() => state.setEditing(false)} disabled={sending}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function ClosedBanner() {
  return (
    <p className="banner banner-closed" role="status" data-testid="closed-banner">
      This poll is closed. No more votes are accepted.
    </p>
  );
}

function CodeForm({ onCode, disabled }: { onCode: (code: string) => void; disabled: boolean }) {
  const [value, setValue] = useState('');
  const [err, setErr] = useState<string | null>(null);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        const c = normalizeCode(value);
        if (!c) {
          setErr(t('access_code_required'));
          return;
        }
        setErr(null);
        onCode(c);
      }}
      noValidate
    >
      <div className="field">
        <label htmlFor="access-code" className="field-label">
          Access code
        </label>
        <div className="input-row">
          <input
            id="access-code"
            className="mono"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            disabled={disabled}
            aria-invalid={!!err}
            aria-describedby={err ? 'access-code-err' : undefined}
          />
          <button type="submit" className="btn btn-primary" disabled={disabled}>
            Continue
          </button>
        </div>
        {err && (
          <p className="field-error" id="access-code-err">
            {err}
          </p>
        )}
      </div>
    </form>
  );
}
