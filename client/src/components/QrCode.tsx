import { useEffect, useState } from 'react';

/** QR code of `value` as inline SVG (crisp at any size: phone or projector).  The QR library is
 * loaded on first use, so the vote page's bundle does not carry it. */
export function QrCode({ value, label, className }: { value: string; label: string; className?: string }) {
  const [drawn, setDrawn] = useState<{ value: string; svg: string } | null>(null);
  useEffect(() => {
    let live = true;
    import('qrcode')
      .then((QRCode) =>
        QRCode.toString(value, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#111827', light: '#ffffff' } }),
      )
      .then((svg) => {
        if (live) setDrawn({ value, svg });
      })
      .catch(() => {
        /* no QR code: the link and the code are shown as text too */
      });
    return () => {
      live = false;
    };
  }, [value]);
  const svg = drawn?.value === value ? drawn.svg : null;
  return (
    <div
      className={`qr ${className ?? ''}`}
      role="img"
      aria-label={label}
      data-testid="qr"
      data-value={value}
      // The SVG comes from the qrcode library, built from `value` only.
      dangerouslySetInnerHTML={svg ? { __html: svg } : undefined}
    />
  );
}
