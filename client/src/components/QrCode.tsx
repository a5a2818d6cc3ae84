import { useEffect, useState } from 'react';
import QRCode from 'qrcode';

/** QR code of `value` as inline SVG (crisp at any size: phone or projector). */
export function QrCode({ value, label, className }: { value: string; label: string; className?: string }) {
  const [svg, setSvg] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    QRCode.toString(value, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#111827', light: '#ffffff' } })
      .then((s) => {
        if (live) setSvg(s);
      })
      .catch(() => {
        if (live) setSvg(null);
      });
    return () => {
      live = false;
    };
  }, [value]);
  return (
    <div
      className={`qr ${className ?? ''}`}
      role="img"
      aria-label={label}
      data-testid="qr"
      // The SVG comes from the qrcode library, built from `value` only.
      dangerouslySetInnerHTML={svg ? { __html: svg } : undefined}
    />
  );
}
