import { lazy, Suspense, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, errorText } from '../api';
import { CodesList } from '../components/CodesList';
import { ErrorBox } from '../components/ErrorBox';
import { GroupedCode } from '../components/JoinCode';
import { SharePanel } from '../components/Share';
import { useDocumentTitle } from '../hooks';
import { t } from '../messages';
import { useOrganizedPolls, usePublicPolls } from '../queries';
import { Link, navigate } from '../router';
import { POLL_ID_RE, normalizeCode } from '../state/codes';
import { forgetOrganizer, listOrganized, saveOrganizer } from '../storage';
import type { CreatePollResponse } from '../types';

const CreatePoll = lazy(() => import('./CreatePoll'));

export default function Home() {
  const [created, setCreated] = useState<CreatePollResponse | null>(null);
  const [formKey, setFormKey] = useState(0);
  const createdRef = useRef<HTMLHeadingElement>(null);
  useDocumentTitle(created ? `Created: ${created.poll.title}` : '');

  // "Your poll is ready" takes the focus (keyboard and screen-reader users land on it).
  useEffect(() => {
    if (!created) return;
    window.scrollTo(0, 0);
    const t = setTimeout(() => createdRef.current?.focus(), 60);
    return () => clearTimeout(t);
  }, [created]);

  const onCreated = (res: CreatePollResponse) => {
    saveOrganizer(res.poll.id, {
      token: res.admin_token,
      codes: res.codes,
      title: res.poll.title,
      createdAt: res.poll.created_at,
    });
    setCreated(res);
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
      <MyPolls />
      <Suspense fallback={<p className="loading card">Loading…</p>}>
        <CreatePoll key={formKey} onCreated={onCreated} />
      </Suspense>
      <PublicPolls />
    </main>
  );
}

function JoinByCode() {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const c = normalizeCode(code);
    if (!POLL_ID_RE.test(c)) {
      setError(t('join_code_shape'));
      return;
    }
    setError(null);
    navigate(`/p/${c}`);
  };
  return (
    <form className="card join" onSubmit={submit} noValidate aria-labelledby="join-title">
      <h2 id="join-title">Join a poll</h2>
      <div className="field">
        <label htmlFor="join-code" className="field-label">
          Join code
        </label>
        <div className="input-row">
          <input
            id="join-code"
            className="mono"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            maxLength={24}
            placeholder="7709 4zj5"
            aria-invalid={!!error}
            aria-describedby={error ? 'join-code-err' : undefined}
          />
          <button type="submit" className="btn btn-primary">
            Join
          </button>
        </div>
        {error && (
          <p className="field-error" id="join-code-err">
            {error}
          </p>
        )}
      </div>
    </form>
  );
}

/** The polls this browser created (the organizer links it keeps), with status and voters. */
function MyPolls() {
  const [list, setList] = useState(listOrganized);
  const results = useOrganizedPolls(list);
  if (list.length === 0) return null;
  return (
    <section className="card" aria-labelledby="my-polls-title" data-testid="my-polls">
      <h2 id="my-polls-title">My polls</h2>
      <p className="hint">Polls created in this browser. Only this browser holds their organizer links.</p>
      <ul className="poll-list my-polls">
        {list.map(({ id, record }, i) => {
          const r = results[i];
          const poll = r?.data;
          const gone = r?.error instanceof ApiError && r.error.status === 404;
          const refused = r?.error instanceof ApiError && (r.error.status === 401 || r.error.status === 403);
          const title = poll?.title ?? record.title ?? id;
          const status = poll?.status;
          return (
            <li key={id} className="my-poll" data-testid="my-poll" data-poll={id}>
              <div className="my-poll-main">
                <span className="poll-link-title">{title}</span>
                <span className="poll-link-meta">
                  {gone ? (
                    <span className="pill pill-closed">Deleted</span>
                  ) : status ? (
                    <span className={`pill pill-${status}`} data-testid="my-poll-status">
                      {status === 'open' ? 'Open' : 'Closed'}
                    </span>
                  ) : r?.isError ? (
                    <span className="muted">{refused ? 'Organizer link not accepted' : errorText(r.error)}</span>
                  ) : (
                    <span className="muted">Loading…</span>
                  )}
                  {poll?.tally && (
                    <span data-testid="my-poll-voters">
                      {poll.tally.total} {poll.tally.total === 1 ? 'voter' : 'voters'}
                    </span>
                  )}
                  <GroupedCode code={id} />
                  {record.createdAt && <span>{new Date(record.createdAt).toLocaleDateString()}</span>}
                </span>
              </div>
              <div className="my-poll-actions">
                {gone ? (
                  <button
                    type="button"
                    className="btn btn-small"
                    onClick={() => {
                      forgetOrganizer(id);
                      setList(listOrganized());
                    }}
                  >
                    Remove<span className="sr-only"> {title} from this list</span>
                  </button>
                ) : (
                  <>
                    <Link href={`/p/${id}/admin`} className="btn btn-small">
                      Organize<span className="sr-only"> {title}</span>
                    </Link>
                    <Link href={`/p/${id}/present`} className="btn btn-small">
                      Present<span className="sr-only"> {title}</span>
                    </Link>
                  </>
                )}
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function PublicPolls() {
  const q = usePublicPolls();
  const polls = q.data?.pages.flatMap((p) => p.polls) ?? [];
  const seen = new Set<string>();
  const unique = polls.filter((p) => !seen.has(p.id) && seen.add(p.id));
  return (
    <section className="card" aria-labelledby="public-title">
      <h2 id="public-title">Public polls</h2>
      {q.isError && <ErrorBox message={`Public polls could not be loaded: ${errorText(q.error)}`} />}
      {q.isSuccess && unique.length === 0 && <p className="hint">No public polls yet.</p>}
      {unique.length > 0 && (
        <ul className="poll-list">
          {unique.map((p) => (
            <li key={p.id}>
              <Link href={`/p/${p.id}`} className="poll-link">
                <span className="poll-link-title">{p.title}</span>
                <span className="poll-link-meta">
                  <span className={`pill pill-${p.status}`}>{p.status === 'open' ? 'Open' : 'Closed'}</span>
                  {p.total} {p.total === 1 ? 'voter' : 'voters'} · {new Date(p.created_at).toLocaleDateString()}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      {q.hasNextPage && (
        <button type="button" className="btn" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
          {q.isFetchingNextPage ? 'Loading…' : 'More'}
        </button>
      )}
      {q.isPending && <p className="hint">Loading…</p>}
      {q.isError && (
        <button type="button" className="btn" onClick={() => void q.refetch()}>
          Try again
        </button>
      )}
    </section>
  );
}
