import { useCallback, useEffect, useLayoutEffect, useRef, useState, type RefObject } from 'react';
import { ConnectionStatus } from '../components/Connection';
import { GroupedCode } from '../components/JoinCode';
import { LoadFailed, Loading, NotFoundCard } from '../components/PollState';
import { QrCode } from '../components/QrCode';
import { shareUrl } from '../components/Share';
import { useDocumentTitle, useNow, useThrottled } from '../hooks';
import type { ConnectionState } from '../live';
import { Link } from '../router';
import { kindOf } from '../kinds';
import type { TallyState } from '../state/tally';
import type { Poll, Question } from '../types';
import { usePoll } from './usePoll';

/** "4:05", "1:02:03"; days beyond 24 h. */
export function formatCountdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  if (d >= 1) return `${d} ${d === 1 ? 'day' : 'days'}`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** True once `flag` has held for `ms` (a connection blip does not flash the warning). */
function useHeld(flag: boolean, ms: number): boolean {
  const [held, setHeld] = useState(false);
  useEffect(() => {
    if (!flag) {
      setHeld(false);
      return;
    }
    const t = setTimeout(() => setHeld(true), ms);
    return () => clearTimeout(t);
  }, [flag, ms]);
  return flag && held;
}

/** Scale the text of `ref` down (CSS variable --fit, 1 → 0.3) until it fits its box without scrolling. */
function useFit(ref: RefObject<HTMLElement | null>, deps: unknown[]): void {
  const fit = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    let f = 1;
    el.style.setProperty('--fit', '1');
    const over = () => el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
    while (over() && f > 0.3) {
      f = Math.max(0.3, f * 0.9);
      el.style.setProperty('--fit', f.toFixed(3));
    }
    el.dataset.fit = f.toFixed(3);
  }, [ref]);
  useLayoutEffect(fit, [fit, ...deps]);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => fit());
    ro.observe(el.parentElement ?? el);
    return () => ro.disconnect();
  }, [ref, fit]);
}

/** Presenter view (a projector): one question per slide, always fitting the screen, with the join
 * code and QR code in view.  Keys: ←/→ and Page Up/Down (clickers) move, F full screen, H hides
 * or reveals the results. */
export default function PresentPage({ id }: { id: string }) {
  const { query, poll, live, tally, notFound, status, deleted } = usePoll(id);
  useDocumentTitle(poll ? `Present: ${poll.title}` : 'Present');

  useEffect(() => {
    document.body.classList.add('presenting');
    return () => document.body.classList.remove('presenting');
  }, []);

  if (deleted)
    return (
      <main id="main" className="present present-gone" data-testid="present-deleted">
        <div className="present-end">
          <h1>This poll was deleted</h1>
          <p>Its results are gone. There is nothing more to vote on.</p>
          <p>
            <Link href="/" className="btn btn-ghost">
              Home
            </Link>
          </p>
        </div>
      </main>
    );
  if (notFound) return <NotFoundCard />;
  if (!poll && query.isError) return <LoadFailed error={query.error} onRetry={() => void query.refetch()} />;
  if (!poll || !status) return <Loading />;
  return <Slides poll={poll} tally={tally} closed={status === 'closed'} connection={live.connection} />;
}

function Slides({ poll, tally, closed, connection }: { poll: Poll; tally: TallyState; closed: boolean; connection: ConnectionState }) {
  const [index, setIndex] = useState(0);
  const [hidden, setHidden] = useState(false);
  const [fullscreen, setFullscreen] = useState(false);
  const slideRef = useRef<HTMLElement>(null);
  const count = poll.questions.length;
  const at = Math.min(index, count - 1);
  const question = poll.questions[at];
  const link = shareUrl(poll.id);
  const lost = useHeld(connection !== 'live', 2500);

  const go = useCallback((delta: number) => setIndex((i) => Math.max(0, Math.min(count - 1, i + delta))), [count]);
  const toggleFullscreen = useCallback(() => {
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
    else void document.documentElement.requestFullscreen?.().catch(() => {});
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const target = e.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      switch (e.key) {
        case 'ArrowRight':
        case 'PageDown':
          go(1);
          break;
        case 'ArrowLeft':
        case 'PageUp':
          go(-1);
          break;
        case 'Home':
          setIndex(0);
          break;
        case 'End':
          setIndex(count - 1);
          break;
        case 'f':
        case 'F':
          toggleFullscreen();
          break;
        case 'h':
        case 'H':
          setHidden((h) => !h);
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    const onFs = () => setFullscreen(!!document.fullscreenElement);
    window.addEventListener('keydown', onKey);
    document.addEventListener('fullscreenchange', onFs);
    return () => {
      window.removeEventListener('keydown', onKey);
      document.removeEventListener('fullscreenchange', onFs);
    };
  }, [go, count, toggleFullscreen]);

  useFit(slideRef, [at, hidden, tally.questions, tally.total, closed, lost]);

  const shownHidden = hidden || tally.questions === null;
  const announce = useThrottled(shownHidden ? votersText(tally.total) : summary(question, tally), 4000);

  return (
    <main id="main" className={`present ${closed ? 'present-closed' : ''}`} data-testid="present" data-slide={at + 1}>
      {lost && (
        <div className="present-warning" role="alert" data-testid="connection-warning">
          Connection lost — the results on screen may be out of date. Reconnecting…
        </div>
      )}
      <header className="present-top">
        <h1 className="present-title">{poll.title}</h1>
        <div className="present-status">
          <span className={`pill pill-${closed ? 'closed' : 'open'}`} data-testid="status-pill">
            {closed ? 'Voting closed' : 'Voting open'}
          </span>
          {!closed && poll.closes_at && <Countdown closesAt={poll.closes_at} />}
          <span className="present-voters">
            <strong data-testid="total-count">{tally.total}</strong> {tally.total === 1 ? 'voter' : 'voters'}
          </span>
          <ConnectionStatus state={connection} updatedAt={tally.updatedAt} />
        </div>
      </header>

      <div className="present-body">
        <section
          className="slide"
          ref={slideRef}
          aria-roledescription="slide"
          aria-label={`Question ${at + 1} of ${count}`}
          data-testid="slide"
        >
          <p className="slide-num">
            Question {at + 1} of {count}
          </p>
          <h2 className="slide-q" data-testid="slide-question">
            {question.text}
          </h2>
          {tally.questions === null ? (
            <p className="slide-hidden" data-testid="results-hidden">
              {closed ? 'Loading results…' : 'Results will be shown when the poll closes.'}
            </p>
          ) : hidden ? (
            <p className="slide-hidden" data-testid="results-concealed">
              Results hidden <span className="slide-hidden-sub">— press H to reveal</span>
            </p>
          ) : (
            <SlideBars question={question} tally={tally} />
          )}
        </section>

        <aside className="present-join" aria-label={closed ? 'Voting closed' : 'How to join'} data-testid="join-panel">
          {closed ? (
            <div className="present-closed-note" data-testid="closed-state">
              <p className="present-closed-big">Voting closed</p>
              <p>Final results</p>
            </div>
          ) : (
            <>
              <p className="present-join-lead">Vote at</p>
              <p className="present-url mono">
                {link.replace(/^https?:\/\//, '').replace(/\/p\/[^/]+$/, '/p/')}
                <span className="nowrap">{poll.id}</span>
              </p>
              <QrCode value={link} label={`QR code for ${link}`} className="present-qr" />
              <p className="present-join-lead">Join code</p>
              <p className="present-code">
                <GroupedCode code={poll.id} testId="join-code" />
              </p>
            </>
          )}
        </aside>
      </div>

      <footer className="present-controls no-print">
        <button type="button" className="btn btn-ghost" onClick={() => go(-1)} disabled={at === 0} aria-label="Previous question">
          ←
        </button>
        <span className="present-counter" aria-hidden="true">
          {at + 1} / {count}
        </span>
        <button type="button" className="btn btn-ghost" onClick={() => go(1)} disabled={at >= count - 1} aria-label="Next question">
          →
        </button>
        <button type="button" className="btn btn-ghost" onClick={() => setHidden((h) => !h)} aria-pressed={hidden} data-testid="toggle-results">
          {hidden ? 'Reveal results' : 'Hide results'} <kbd>H</kbd>
        </button>
        <button type="button" className="btn btn-ghost" onClick={toggleFullscreen}>
          {fullscreen ? 'Exit full screen' : 'Full screen'} <kbd>F</kbd>
        </button>
        <Link href={`/p/${poll.id}`} className="btn btn-ghost">
          Back
        </Link>
      </footer>
      <div className="sr-only" aria-live="polite" aria-atomic="true">
        {announce}
      </div>
    </main>
  );
}

function votersText(n: number): string {
  return `${n} ${n === 1 ? 'voter' : 'voters'}.`;
}

function summary(q: Question, tally: TallyState): string {
  return `${votersText(tally.total)} ${kindOf(q.kind).summary(q, tally.questions?.find((x) => x.id === q.id), tally.total)}.`;
}

/** The question's results in its kind's projector layout (bars, the runoff, the scale). */
function SlideBars({ question, tally }: { question: Question; tally: TallyState }) {
  const View = kindOf(question.kind).Results;
  return <View question={question} qt={tally.questions?.find((x) => x.id === question.id)} total={tally.total} variant="slide" />;
}

function Countdown({ closesAt }: { closesAt: string }) {
  const now = useNow(1000);
  const left = Date.parse(closesAt) - now;
  if (!Number.isFinite(left)) return null;
  return (
    <span className="present-countdown" data-testid="countdown">
      {left > 0 ? <>Closes in {formatCountdown(left)}</> : 'Closing…'}
    </span>
  );
}
