import { GroupedCode } from './JoinCode';
import { QrCode } from './QrCode';
import { codeUrl, shareUrl } from './Share';

/** Printable slips of one-time access codes (print CSS shows only these): each with the code,
 * grouped for reading, and a QR code that opens the vote page with the code filled in. */
export function CodesList({ pollId, title, codes }: { pollId: string; title: string; codes: string[] }) {
  return (
    <div className="codes" data-testid="codes">
      <p className="actions no-print">
        <button type="button" className="btn" onClick={() => window.print()}>
          Print codes
        </button>
        <span className="hint">
          {codes.length} {codes.length === 1 ? 'code' : 'codes'}; each slip’s QR code opens the ballot with its code filled in.
        </span>
      </p>
      <div className="print-area">
        <p className="print-only print-head">
          {title} — vote at {shareUrl(pollId)}
        </p>
        <ol className="code-grid">
          {codes.map((c) => (
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
