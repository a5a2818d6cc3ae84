import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, api, errorText, uuid } from '../api';
import { ConnectionStatus } from '../components/Connection';
import { ErrorBox } from '../components/ErrorBox';
import { Loading, NotFoundCard } from '../components/PollState';
import { Results } from '../components/Results';
import { useDocumentTitle, useLiveTally } from '../hooks';
import { Link } from '../router';
import { backoffDelay } from '../state/backoff';
import { describeRule, toggleChoice, validateBallot, type Choices } from '../state/ballot';
import { getMyCode, getOrganizer, getVoterToken, setMyCode, setVoterToken } from '../storage';
import type { Ballot, Poll } from '../types';
import { usePoll } from './usePoll';

/** Make sure this browser holds a voter token (POST /api/voters also sets the `voter` cookie). */
let voterPromise: Promise<string> | null = null;
export function ensureVoter(force = false): Promise<string> {
  const have = getVoterToken();
  if (have && !force) return Promise.resolve(have);
  if (!voterPromise || force) {
    voterPromise = api
      .newVoter()
      .then((t) => {
        setVoterToken(t);
        return t;
      })
      .finally(() => {
        voterPromise = null;
      });
  }
  return voterPromise;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Phase = 'checking' | 'need-code' | 'form' | 'voted' | 'editing';

export function VotePage({ id }: { id: string }) {
  const { poll, error: loadError, notFound, setPoll } = usePoll(id);
  const live = useLiveTally(poll ? id : null);
  const { tally, seed } = live;
  useDocumentTitle(poll?.title ?? 'Poll');

  useEffect(() => {
    if (poll?.tally) seed(poll.tally, poll.status);
  }, [poll, seed]);

  if (notFound || live.error?.code === 'poll_not_found') return <NotFoundCard />;
  if (loadError)
    return (
      <main id="main" className="page">
        <ErrorBox message={loadError} />
      </main>
    );
  if (!poll) return <Loading />;

  const status = tally.status ?? poll.status;
  const deleted = tally.deleted;
  const organizer = getOrganizer(id);

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
        <Voting poll={poll} status={status} onClosed={() => setPoll({ ...poll, status: 'closed' })} />
      )}

      {!deleted && (
        <section className="card" aria-labelledby="results-title">
          <div className="card-head">
            <h2 id="results-title">Results</h2>
            <ConnectionStatus state={live.connection} updatedAt={tally.updatedAt} />
          </div>
          <Results poll={poll} tally={tally} />
        </section>
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

export function PollMeta({ poll, status, deleted = false }: { poll: Poll; status: Poll['status']; deleted?: boolean }) {
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
        Join code <span className="mono">{poll.id}</span>
      </span>
      {poll.closes_at && status === 'open' && <span>Closes {new Date(poll.closes_at).toLocaleString()}</span>}
      {poll.results === 'after_close' && <span>Results after close</span>}
      {poll.allow_revote && <span>Votes can be changed</span>}
    </p>
  );
}

function choiceLabels(poll: Poll, choices: Record<string, string[]>): { q: string; labels: string[] }[] {
  return poll.questions.map((q) => ({
    q: q.text,
    labels: (choices[q.id] ?? []).map((oid) => q.options.find((o) => o.id === oid)?.label ?? oid),
  }));
}

function Voting({ poll, status, onClosed }: { poll: Poll; status: Poll['status']; onClosed: () => void }) {
  const codes = poll.eligibility === 'codes';
  const [code, setCode] = useState<string | null>(() => (codes ? getMyCode(poll.id) : null));
  const [phase, setPhase] = useState<Phase>('checking');
  const [ballot, setBallot] = useState<Ballot | null>(null);
  const [selection, setSelection] = useState<Choices>({});
  const [qErrors, setQErrors] = useState<Record<string, string>>({});
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [closedByServer, setClosedByServer] = useState(false);
  const idemRef = useRef<{ key: string; body: string } | null>(null);
  const doneRef = useRef<HTMLHeadingElement>(null);
  const errorRef = useRef<HTMLDivElement>(null);
  const closed = status === 'closed' || (closedByServer && status !== 'open');

  // Reopened after we saw poll_closed: forget that.
  useEffect(() => {
    if (status === 'open') setClosedByServer(false);
  }, [status]);

  const checkBallot = useCallback(
    async (withCode: string | null) => {
      if (codes && !withCode) {
        setPhase('need-code'); // keeps the error that sent us here (invalid code, …)
        return;
      }
      setPhase('checking');
      setError(null);
      for (let tries = 0; tries < 2; tries++) {
        try {
          if (!codes) await ensureVoter(tries > 0);
          const b = await api.getBallot(poll.id, withCode);
          setBallot(b);
          setPhase('voted');
          return;
        } catch (e) {
          if (e instanceof ApiError && e.code === 'no_ballot') {
            setBallot(null);
            setPhase('form');
            return;
          }
          if (e instanceof ApiError && e.status === 401 && !codes && tries === 0) continue; // stale token: get a new one
          if (e instanceof ApiError && codes && (e.code === 'invalid_code' || e.status === 401 || e.status === 403)) {
            setMyCode(poll.id, null);
            setCode(null);
            setError(errorText(e));
            setPhase('need-code');
            return;
          }
          // Could not tell (network, …): let the person vote; the server refuses a second ballot anyway.
          setError(`Could not check for an earlier vote: ${errorText(e)}`);
          setPhase('form');
          return;
        }
      }
    },
    [poll.id, codes],
  );

  useEffect(() => {
    void checkBallot(code);
    // Only on load and when the code changes.
  }, [poll.id, code]);

  const submit = async (e: FormEvent) => {
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
    // One key per attempt; a retry of the same ballot (after a failure) reuses it, so it is never counted twice.
    if (!idemRef.current || idemRef.current.body !== bodyText) idemRef.current = { key: uuid(), body: bodyText };
    const key = idemRef.current.key;
    setSending(true);
    try {
      let renewed = false;
      for (let attempt = 0; ; attempt++) {
        try {
          if (!codes) await ensureVoter();
          const res = await api.castBallot(poll.id, check.choices, code, key);
          idemRef.current = null;
          setBallot(res.ballot);
          if (codes && code) setMyCode(poll.id, code);
          setPhase('voted');
          setTimeout(() => doneRef.current?.focus(), 0);
          return;
        } catch (err) {
          if (err instanceof ApiError && err.code === 'network_error' && attempt < 2) {
            await sleep(backoffDelay(attempt, { base: 800 }));
            continue;
          }
          if (err instanceof ApiError && err.code === 'voter_required' && !codes && !renewed) {
            renewed = true;
            await ensureVoter(true);
            idemRef.current = { key: uuid(), body: bodyText };
            continue;
          }
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_voted') {
        await checkBallot(code);
        return;
      }
      if (err instanceof ApiError && err.code === 'poll_closed') {
        setClosedByServer(true);
        onClosed();
      }
      if (err instanceof ApiError && (err.code === 'invalid_code' || err.code === 'code_used')) {
        setMyCode(poll.id, null);
      }
      setError(errorText(err));
      setTimeout(() => errorRef.current?.focus(), 0);
    } finally {
      setSending(false);
    }
  };

  if (phase === 'checking') {
    return (
      <section className="card">
        <p className="loading" role="status">
          Checking your ballot…
        </p>
      </section>
    );
  }

  if (phase === 'need-code') {
    return (
      <section className="card" aria-labelledby="code-title">
        <h2 id="code-title">Enter your access code</h2>
        {closed && <ClosedBanner />}
        <ErrorBox message={error} />
        <CodeForm
          onCode={(c) => {
            setError(null);
            setCode(c);
          }}
        />
      </section>
    );
  }

  if (phase === 'voted' && ballot) {
    return (
      <section className="card voted" aria-labelledby="voted-title" data-testid="voted">
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
              setPhase('editing');
            }}
          >
            Change my vote
          </button>
        )}
      </section>
    );
  }

  // phase 'form' or 'editing'
  return (
    <form className="card ballot" onSubmit={submit} noValidate aria-labelledby="ballot-title" data-testid="ballot-form">
      <h2 id="ballot-title">{phase === 'editing' ? 'Change your vote' : 'Your vote'}</h2>
      {closed && <ClosedBanner />}
      <ErrorBox message={error} ref={errorRef} />
      {poll.questions.map((q, qi) => {
        const picked = selection[q.id] ?? [];
        const err = qErrors[q.id];
        const full = q.kind === 'multiple' && picked.length >= q.max_choices;
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
              {describeRule(q)}
            </p>
            <div className="choices">
              {q.options.map((o) => {
                const checked = picked.includes(o.id);
                const inputId = `vo-${q.id}-${o.id}`;
                return (
                  <div className={`choice ${checked ? 'choice-on' : ''}`} key={o.id}>
                    <input
                      id={inputId}
                      type={q.kind === 'single' ? 'radio' : 'checkbox'}
                      name={`q-${q.id}`}
                      value={o.id}
                      checked={checked}
                      disabled={!checked && full}
                      onChange={(e) => {
                        setSelection((s) => ({ ...s, [q.id]: toggleChoice(q, s[q.id] ?? [], o.id, e.target.checked) }));
                        setQErrors((x) => {
                          const { [q.id]: _drop, ...rest } = x;
                          void _drop;
                          return rest;
                        });
                      }}
                    />
                    <label htmlFor={inputId}>{o.label}</label>
                  </div>
                );
              })}
            </div>
            {err && (
              <p className="field-error" id={`vq-${q.id}-err`}>
                {err}
              </p>
            )}
          </fieldset>
        );
      })}
      {codes && code && (
        <p className="hint">
          Voting with access code <span className="mono">{code}</span>.{' '}
          <button
            type="button"
            className="linklike"
            onClick={() => {
              setMyCode(poll.id, null);
              setCode(null);
            }}
          >
            Use another code
          </button>
        </p>
      )}
      <div className="actions">
        <button type="submit" className="btn btn-primary btn-large" disabled={closed || sending} data-testid="vote-submit">
          {sending ? 'Sending…' : phase === 'editing' ? 'Replace my vote' : 'Vote'}
        </button>
        {phase === 'editing' && (
          <button type="button" className="btn" onClick={() => setPhase('voted')} disabled={sending}>
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

function CodeForm({ onCode }: { onCode: (code: string) => void }) {
  const [value, setValue] = useState('');
  const [err, setErr] = useState<string | null>(null);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        const c = value.trim();
        if (!c) {
          setErr('Enter the access code you were given.');
          return;
        }
        onCode(c);
      }}
      noValidate
    >
      <div className="row">
        <div className="field grow">
          <label htmlFor="access-code" className="field-label">
            Access code
          </label>
          <input
            id="access-code"
            className="mono"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            aria-invalid={!!err}
            aria-describedby={err ? 'access-code-err' : undefined}
          />
          {err && (
            <p className="field-error" id="access-code-err">
              {err}
            </p>
          )}
        </div>
        <button type="submit" className="btn btn-primary">
          Continue
        </button>
      </div>
    </form>
  );
}
