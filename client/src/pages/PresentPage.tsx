import { useEffect, useState } from 'react';
import { ConnectionStatus } from '../components/Connection';
import { ErrorBox } from '../components/ErrorBox';
import { Loading, NotFoundCard } from '../components/PollState';
import { QrCode } from '../components/QrCode';
import { Results } from '../components/Results';
import { shareUrl } from '../components/Share';
import { useDocumentTitle, useLiveTally } from '../hooks';
import { Link } from '../router';
import { usePoll } from './usePoll';

/** Presenter view: full-screen live results with the join code and QR code, for a projector. */
export function PresentPage({ id }: { id: string }) {
  const { poll, error: loadError, notFound } = usePoll(id);
  const live = useLiveTally(poll ? id : null);
  const { tally, seed } = live;
  const [fullscreen, setFullscreen] = useState(false);
  useDocumentTitle(poll ? `Present: ${poll.title}` : 'Present');

  useEffect(() => {
    if (poll?.tally) seed(poll.tally, poll.status);
  }, [poll, seed]);

  useEffect(() => {
    const on = () => setFullscreen(!!document.fullscreenElement);
    document.addEventListener('fullscreenchange', on);
    document.body.classList.add('presenting');
    return () => {
      document.removeEventListener('fullscreenchange', on);
      document.body.classList.remove('presenting');
    };
  }, []);

  if (notFound || live.error?.code === 'poll_not_found') return <NotFoundCard />;
  if (loadError)
    return (
      <main id="main" className="page">
        <ErrorBox message={loadError} />
      </main>
    );
  if (!poll) return <Loading />;

  const status = tally.status ?? poll.status;
  const link = shareUrl(id);
  const toggleFullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void document.documentElement.requestFullscreen?.().catch(() => {});
  };

  return (
    <main id="main" className="present" data-testid="present">
      <div className="present-main">
        <header className="present-head">
          <h1 className="present-title">{poll.title}</h1>
          <div className="present-sub">
            {tally.deleted ? (
              <span className="pill pill-closed">Deleted</span>
            ) : (
              <span className={`pill pill-${status}`} data-testid="status-pill">
                {status === 'open' ? 'Voting open' : 'Voting closed'}
              </span>
            )}
            <ConnectionStatus state={live.connection} updatedAt={tally.updatedAt} />
          </div>
        </header>
        <section aria-label="Results">
          <Results poll={poll} tally={tally} big headingLevel={2} />
        </section>
      </div>
      <aside className="present-join" aria-label="How to join">
        <p className="present-join-lead">Vote at</p>
        <p className="present-url mono">{link.replace(/^https?:\/\//, '')}</p>
        <QrCode value={link} label={`QR code for ${link}`} className="present-qr" />
        <p className="present-join-lead">Join code</p>
        <p className="present-code mono" data-testid="join-code">
          {id}
        </p>
        <p className="present-tools no-print">
          <button type="button" className="btn btn-ghost" onClick={toggleFullscreen}>
            {fullscreen ? 'Exit full screen' : 'Full screen'}
          </button>
          <Link href={`/p/${id}`} className="btn btn-ghost">
            Back
          </Link>
        </p>
      </aside>
    </main>
  );
}
