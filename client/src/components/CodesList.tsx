import { shareUrl } from './Share';

/** Printable list of one-time access codes (print CSS shows only this list). */
export function CodesList({ pollId, title, codes }: { pollId: string; title: string; codes: string[] }) {
  return (
    <div className="codes" data-testid="codes">
      <p className="actions no-print">
        <button type="button" className="btn" onClick={() => window.print()}>
          Print codes
        </button>
        <span className="hint">
          {codes.length} {codes.length === 1 ? 'code' : 'codes'}
        </span>
      </p>
      <div className="print-area">
        <p className="print-only print-head">
          {title} — vote at {shareUrl(pollId)}
        </p>
        <ol className="code-grid">
          {codes.map((c) => (
            <li key={c} className="code-slip">
              <span className="code-slip-url">{shareUrl(pollId)}</span>
              <span className="mono code-slip-code">{c}</span>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}
