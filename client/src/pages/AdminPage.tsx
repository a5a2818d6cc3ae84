import { useMemo, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, errorText } from '../api';
import { ConfirmDialog } from '../components/Dialog';
import { keys } from '../queries';
import { CodesList } from '../components/CodesList';
import { ConnectionStatus } from '../components/Connection';
import { ErrorBox } from '../components/ErrorBox';
import { LoadFailed, Loading, NotFoundCard } from '../components/PollState';
import { Results } from '../components/Results';
import { SharePanel } from '../components/Share';
import { useDocumentTitle } from '../hooks';
import { Link, navigate } from '../router';
import { forgetOrganizer, getOrganizer, saveOrganizer } from '../storage';
import { PollMeta } from './VotePage';
import { usePoll } from './usePoll';

/** Read `#token=…` from the fragment, store it, and take it out of the address bar. */
export function takeTokenFromHash(id: string): string | null {
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (!token) return null;
  saveOrganizer(id, { token });
  window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  return token;
}

export default function AdminPage({ id }: { id: string }) {
  const [token, setToken] = useState<string | null>(() => takeTokenFromHash(id) ?? getOrganizer(id)?.token ?? null);
  useDocumentTitle('Organizer');
  if (!token) return <TokenForm id={id} onToken={setToken} />;
  return <Admin id={id} token={token} onForget={() => setToken(null)} />;
}

function TokenForm({ id, onToken }: { id: string; onToken: (t: string) => void }) {
  const [value, setValue] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let t = value.trim();
    const m = /#token=([^&\s]+)/.exec(t);
    if (m) t = decodeURIComponent(m[1]);
    if (!t) {
      setErr('Paste the organizer link or its token.');
      return;
    }
    saveOrganizer(id, { token: t });
    onToken(t);
  };
  return (
    <main id="main" className="page">
      <form className="card" onSubmit={submit} noValidate aria-labelledby="token-title">
        <h1 id="token-title" tabIndex={-1}>
          Organizer controls
        </h1>
        <p>
          This browser does not hold the organizer token of poll <span className="mono">{id}</span>. Paste the organizer link you
          received when the poll was created.
        </p>
        <div className="field">
          <label htmlFor="admin-token" className="field-label">
            Organizer link or token
          </label>
          <div className="input-row">
            <input
              id="admin-token"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={!!err}
              aria-describedby={err ? 'admin-token-err' : undefined}
            />
            <button type="submit" className="btn btn-primary">
              Continue
            </button>
          </div>
          {err && (
            <p className="field-error" id="admin-token-err">
              {err}
            </p>
          )}
        </div>
        <p className="actions">
          <Link href={`/p/${id}`} className="btn">
            Go to the vote page
          </Link>
        </p>
      </form>
    </main>
  );
}

function Admin({ id, token, onForget }: { id: string; token: string; onForget: () => void }) {
  const { query, poll, live, tally, notFound, status: liveStatus, deleted: liveDeleted } = usePoll(id, token);
  const queryClient = useQueryClient();
  const { seed } = live;
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [deleted, setDeleted] = useState(false);
  const [confirm, setConfirm] = useState<'delete' | 'forget' | null>(null);
  const errorRef = useRef<HTMLDivElement>(null);
  const record = useMemo(() => getOrganizer(id), [id]);
  useDocumentTitle(poll ? `Organize: ${poll.title}` : 'Organizer');

  // Close, reopen, delete, CSV: one mutation at a time; the poll's query data follows the answer.
  const action = useMutation({
    mutationFn: async (what: 'close' | 'reopen' | 'delete' | 'csv'): Promise<string | null> => {
      switch (what) {
        case 'close':
        case 'reopen': {
          const p = what === 'close' ? await api.closePoll(id, token) : await api.reopenPoll(id, token);
          queryClient.setQueryData(keys.poll(id, token), p);
          if (p.tally) seed(p.tally, p.status);
          return what === 'close' ? 'The poll is closed.' : 'The poll is open again.';
        }
        case 'delete':
          await api.deletePoll(id, token);
          forgetOrganizer(id);
          setDeleted(true);
          return null;
        case 'csv': {
          const blob = await api.resultsCsv(id, token);
          const url = URL.createObjectURL(blob);
          const a = document.createElement('a');
          a.href = url;
          a.download = `poll-${id}-results.csv`;
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
          return null;
        }
      }
    },
    retry: false,
  });
  const act = (what: 'close' | 'reopen' | 'delete' | 'csv') => {
    setError(null);
    setNotice(null);
    action.mutate(what, {
      onSuccess: (msg) => setNotice(msg),
      onError: (e) => {
        setError(errorText(e));
        setTimeout(() => errorRef.current?.focus(), 0);
      },
    });
  };

  if (deleted || liveDeleted)
    return (
      <main id="main" className="page">
        <section className="card" role="status" data-testid="deleted">
          <h1 tabIndex={-1}>Poll deleted</h1>
          <p>The poll and its ballots are gone.</p>
          <p>
            <Link href="/" className="btn btn-primary">
              Create a new poll
            </Link>
          </p>
        </section>
      </main>
    );
  if (notFound) return <NotFoundCard />;
  if (!poll && query.isError) return <LoadFailed error={query.error} onRetry={() => void query.refetch()} />;
  if (!poll) return <Loading />;

  const status = liveStatus ?? poll.status;

  const busy = action.isPending ? action.variables : null;
  const close = () => act('close');
  const reopen = () => act('reopen');
  const remove = () => {
    setConfirm(null);
    act('delete');
  };
  const downloadCsv = () => act('csv');

  return (
    <main id="main" className="page page-admin">
      <header className="poll-head no-print">
        <p className="eyebrow">Organizer controls</p>
        <h1 tabIndex={-1} data-testid="poll-title">
          {poll.title}
        </h1>
        <PollMeta poll={poll} status={status} />
      </header>

      <section className="card no-print" aria-labelledby="controls-title">
        <h2 id="controls-title">Controls</h2>
        <ErrorBox message={error} ref={errorRef} />
        {live.adminRefused && (
          <p className="banner banner-warn" role="status">
            The server did not accept this browser’s organizer token for live results.
          </p>
        )}
        {notice && (
          <p className="banner banner-ok" role="status">
            {notice}
          </p>
        )}
        <div className="actions">
          {status === 'open' ? (
            <button type="button" className="btn btn-primary" onClick={close} disabled={!!busy} data-testid="close-poll">
              {busy === 'close' ? 'Closing…' : 'Close poll'}
            </button>
          ) : (
            <button type="button" className="btn btn-primary" onClick={reopen} disabled={!!busy} data-testid="reopen-poll">
              {busy === 'reopen' ? 'Reopening…' : 'Reopen poll'}
            </button>
          )}
          <button type="button" className="btn" onClick={downloadCsv} disabled={!!busy}>
            {busy === 'csv' ? 'Preparing…' : 'Download CSV'}
          </button>
          <Link href={`/p/${id}/present`} className="btn">
            Present
          </Link>
          <Link href={`/p/${id}`} className="btn">
            Vote page
          </Link>
          <button type="button" className="btn btn-danger" onClick={() => setConfirm('delete')} disabled={!!busy}>
            {busy === 'delete' ? 'Deleting…' : 'Delete poll'}
          </button>
        </div>
      </section>

      <section className="card no-print" aria-labelledby="admin-results-title">
        <div className="card-head">
          <h2 id="admin-results-title">Results</h2>
          <ConnectionStatus state={live.connection} updatedAt={tally.updatedAt} />
        </div>
        {poll.results === 'after_close' && status === 'open' && (
          <p className="hint">Participants see only the number of voters until you close the poll.</p>
        )}
        <Results poll={poll} tally={tally} />
      </section>

      <section className="card no-print" aria-labelledby="share-title">
        <h2 id="share-title">Share</h2>
        <SharePanel id={id} adminToken={token} />
      </section>

      {poll.eligibility === 'codes' && (
        <section className="card" aria-labelledby="codes-title">
          <h2 id="codes-title" className="no-print">
            Access codes
          </h2>
          {record?.codes?.length ? (
            <CodesList pollId={id} title={poll.title} codes={record.codes} />
          ) : (
            <p className="hint">
              The access codes are shown only once, at creation, and are not stored in this browser. Use the browser where
              the poll was created.
            </p>
          )}
        </section>
      )}

      <p className="footer-links no-print">
        <button
          type="button"
          className="linklike"
          onClick={() => setConfirm('forget')}
        >
          Forget organizer token on this device
        </button>
        {' · '}
        <Link href="/">Home</Link>
      </p>
      <ConfirmDialog
        open={confirm === 'delete'}
        title="Delete this poll?"
        confirmLabel="Delete poll"
        danger
        onConfirm={remove}
        onCancel={() => setConfirm(null)}
      >
        <p>
          “{poll.title}” and all its ballots will be deleted for everyone. This cannot be undone.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === 'forget'}
        title="Forget the organizer link?"
        confirmLabel="Forget"
        onConfirm={() => {
          setConfirm(null);
          forgetOrganizer(id);
          onForget();
          navigate(`/p/${id}/admin`, true);
        }}
        onCancel={() => setConfirm(null)}
      >
        <p>This browser will no longer hold the organizer link of this poll. You will need the link again to manage it.</p>
      </ConfirmDialog>
    </main>
  );
}
