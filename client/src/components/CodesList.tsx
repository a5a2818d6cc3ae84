import { useState } from 'react';
import { GroupedCode } from './JoinCode';
import { QrCode } from './QrCode';
import { codeUrl, shareUrl } from './Share';

/** Slips per page: a poll may have 10,000 codes; drawing a QR code for each at once would stall
 * the page, so they are shown (and printed) a page at a time. */
export const SLIPS_PER_PAGE = 120;

/** Printable slips of one-time access codes (print CSS shows only these): each with the code,
 * grouped for reading, and a QR code that opens the vote page with the code filled in. */
export function CodesList({ pollId, title, codes }: { pollId: string; title: string; codes: string[] }) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(codes.length / SLIPS_PER_PAGE));
  const at = Math.min(page, pages - 1);
  const shown = codes.slice(at * SLIPS_PER_PAGE, (at + 1) * SLIPS_PER_PAGE);
  const first = at * SLIPS_PER_PAGE + 1;
  return (
    <div className="codes" data-testid="codes">
      <p className="actions no-print">
        <button type="button" className="btn" onClick={() => window.print()}>
          {pages > 1 ? `Print codes ${first}–${first + shown.length - 1}` : 'Print codes'}
        </button>
        <span className="hint">
          {codes.length} {codes.length === 1 ? 'code' : 'codes'}; each slip’s QR code opens the ballot with its code filled in.
        </span>
      </p>
      {pages > 1 && (
        <nav className="actions no-print" aria-label="Pages of access codes">
          <button type="button" className="btn btn-small" disabled={at === 0} onClick={() => setPage(at - 1)}>
            Previous codes
          </button>
          <span className="hint" aria-live="polite">
            Codes {first}–{first + shown.length - 1} of {codes.length}
          </span>
          <button type="button" className="btn btn-small" disabled={at >= pages - 1} onClick={() => setPage(at + 1)}>
            Next codes
          </button>
        </nav>
      )}
      <div className="print-area">
        <p className="print-only print-head">
          {title} — vote at {shareUrl(pollId)}
        </p>
        <ol className="code-grid" start={first}>
          {shown.map((c) => (
            <li key={c} className="code-slip" data-testid="code-slip">
              <QrCode value={codeUrl(pollId, c)} label={`QR code to vote with code ${c}`} className="code-slip-qr" />
              <span className="code-slip-text">
                <span className="code-slip-url">{shareUrl(pollId)}</span>
                <GroupedCode code={c} className="code-slip-code" testId="slip-code" />
              </span>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}
