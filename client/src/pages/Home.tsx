import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, errorText } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { SharePanel } from '../components/Share';
import { CodesList } from '../components/CodesList';
import { Link, navigate } from '../router';
import { saveOrganizer } from '../storage';
import type { CreatePollResponse, PollSummary } from '../types';
import { useDocumentTitle } from '../hooks';
import { CreatePoll } from './CreatePoll';

export const JOIN_CODE_RE = /^[a-z0-9]{8}$/;

export function normalizeJoinCode(raw: string): string {
  return raw.trim().toLowerCase().replace(/[\s-]/g, '');
}

export function Home() {
  const [created, setCreated] = useState<CreatePollResponse | null>(null);
  const [formKey, setFormKey] = useState(0);
  const createdRef = useRef<HTMLHeadingElement>(null);
  useDocumentTitle(created ? `Created: ${created.poll.title}` : '');

  const onCreated = (res: CreatePollResponse) => {
    saveOrganizer(res.poll.id, {
      token: res.admin_token,
      codes: res.codes,
      title: res.poll.title,
      createdAt: res.poll.created_at,
    });
    setCreated(res);
    window.scrollTo(0, 0);
    setTimeout(() => createdRef.current?.focus(), 0);
  };

  if (created) {
    const { poll } = created;
    return (
      <main id="main" className="page">
        <section className="card" aria-labelledby="created-title" data-testid="created">
          <h1 id="created-title" tabIndex={-1} ref={createdRef}>
            Your poll is ready
          </h1>
          <p className="lead">“{poll.title}”</p>
          <SharePanel id={poll.id} adminToken={created.admin_token} />
          <p className="actions">
            <a className="btn btn-primary" href={`/p/${poll.id}/admin#token=${encodeURIComponent(created.admin_token)}`} data-testid="open-admin">
              Open organizer controls
            </a>
            <button
              type="button"
              className="btn"
              onClick={() => {
                setCreated(null);
                setFormKey((k) => k + 1);
              }}
            >
              Create another poll
            </button>
          </p>
        </section>
        {created.codes && created.codes.length > 0 && (
          <section className="card" aria-labelledby="codes-title">
            <h2 id="codes-title">Access codes</h2>
            <p className="hint">
              Each code casts one ballot. They are shown only now and kept in this browser; print them or open the organizer
              controls later to print them again.
            </p>
            <CodesList pollId={poll.id} title={poll.title} codes={created.codes} />
          </section>
        )}
      </main>
    );
  }

  return (
    <main id="main" className="page">
      <header className="hero">
        <h1>Live polls, counted in the open</h1>
        <p className="lead">Create a poll, share the link or code, and watch the results move as people vote.</p>
      </header>
      <JoinByCode />
      <CreatePoll key={formKey} onCreated={onCreated} />
      <PublicPolls />
    </main>
  );
}

function JoinByCode() {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const c = normalizeJoinCode(code);
    if (!JOIN_CODE_RE.test(c)) {
      setError('A join code has 8 letters and digits, like “k3x9q2ab”.');
      return;
    }
    setError(null);
    navigate(`/p/${c}`);
  };
  return (
    <form className="card join" onSubmit={submit} noValidate aria-labelledby="join-title">
      <h2 id="join-title">Join a poll</h2>
      <div className="row join-row">
        <div className="field grow">
          <label htmlFor="join-code" className="field-label">
            Join code
          </label>
          <input
            id="join-code"
            className="mono"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            maxLength={16}
            placeholder="8 letters and digits"
            aria-invalid={!!error}
            aria-describedby={error ? 'join-code-err' : undefined}
          />
          {error && (
            <p className="field-error" id="join-code-err">
              {error}
            </p>
          )}
        </div>
        <button type="submit" className="btn btn-primary">
          Join
        </button>
      </div>
    </form>
  );
}

function PublicPolls() {
  const [polls, setPolls] = useState<PollSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);

  const load = async (after: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const res = await api.listPolls(after);
      setPolls((prev) => {
        const seen = new Set(prev.map((p) => p.id));
        return [...(after ? prev : []), ...res.polls.filter((p) => !after || !seen.has(p.id))];
      });
      setCursor(res.next_cursor);
      setLoaded(true);
    } catch (e) {
      setError(`Public polls could not be loaded: ${errorText(e)}`);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load(null);
  }, []);

  return (
    <section className="card" aria-labelledby="public-title">
      <h2 id="public-title">Public polls</h2>
      <ErrorBox message={error} />
      {loaded && polls.length === 0 && <p className="hint">No public polls yet.</p>}
      {polls.length > 0 && (
        <ul className="poll-list">
          {polls.map((p) => (
            <li key={p.id}>
              <Link href={`/p/${p.id}`} className="poll-link">
                <span className="poll-link-title">{p.title}</span>
                <span className="poll-link-meta">
                  <span className={`pill pill-${p.status}`}>{p.status === 'open' ? 'Open' : 'Closed'}</span>
                  {p.total} {p.total === 1 ? 'vote' : 'votes'} · {new Date(p.created_at).toLocaleDateString()}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" className="btn" onClick={() => void load(cursor)} disabled={loading}>
          {loading ? 'Loading…' : 'More'}
        </button>
      )}
      {!cursor && loading && <p className="hint">Loading…</p>}
      {error && (
        <button type="button" className="btn" onClick={() => void load(polls.length ? cursor : null)}>
          Try again
        </button>
      )}
    </section>
  );
}
