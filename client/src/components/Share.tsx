import { useState } from 'react';
import { QrCode } from './QrCode';
import { Link } from '../router';
import { GroupedCode } from './JoinCode';

export function shareUrl(id: string): string {
  return `${window.location.origin}/p/${id}`;
}

/** The vote page with an access code in the fragment (never sent to the server, kept out of logs). */
export function codeUrl(id: string, code: string): string {
  return `${shareUrl(id)}#code=${encodeURIComponent(code)}`;
}

export function adminUrl(id: string, token: string): string {
  return `${window.location.origin}/p/${id}/admin#token=${encodeURIComponent(token)}`;
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
      setTimeout(() => setDone(false), 2000);
    } catch {
      window.prompt('Copy this:', text);
    }
  };
  // The visible word starts the accessible name ("Copy share link", then "Copied share link"), so
  // the name always contains the visible text (WCAG 2.5.3); the status line announces the copy.
  return (
    <>
      <button type="button" className="btn btn-small" onClick={copy}>
        {done ? 'Copied' : 'Copy'}
        <span className="sr-only"> {label}</span>
      </button>
      <span className="sr-only" role="status">
        {done ? `The ${label} was copied.` : ''}
      </span>
    </>
  );
}

/** Link, join code and QR code for participants; the admin link when the token is known. */
export function SharePanel({ id, adminToken }: { id: string; adminToken?: string | null }) {
  const link = shareUrl(id);
  return (
    <div className="share">
      <div className="share-grid">
        <div className="share-text">
          <p className="field-label">Share link</p>
          <p className="copy-row">
            <a href={link} className="mono" data-testid="share-link">
              {link}
            </a>
            <CopyButton text={link} label="share link" />
          </p>
          <p className="field-label">Join code</p>
          <p className="join-code">
            <GroupedCode code={id} testId="join-code" />
          </p>
          {adminToken && (
            <>
              <p className="field-label">Organizer link (keep it private)</p>
              <p className="copy-row">
                <a href={adminUrl(id, adminToken)} className="mono break" data-testid="admin-link">
                  {`${window.location.origin}/p/${id}/admin#token=…`}
                </a>
                <CopyButton text={adminUrl(id, adminToken)} label="organizer link" />
              </p>
              <p className="hint">Anyone with this link can close or delete the poll. It is also saved in this browser.</p>
            </>
          )}
          <p className="actions">
            <Link href={`/p/${id}`} className="btn">
              Open vote page
            </Link>
            <Link href={`/p/${id}/present`} className="btn">
              Present
            </Link>
          </p>
        </div>
        <QrCode value={link} label={`QR code for ${link}`} className="share-qr" />
      </div>
    </div>
  );
}
