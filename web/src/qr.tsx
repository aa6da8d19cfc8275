import { useEffect, useState } from 'react';

/**
 * A QR code drawn as SVG rects by React from the library's module matrix: no inline script or style and no
 * innerHTML, so the console's policy holds. The library is loaded on first use, outside the initial bundle.
 */
export function QrCode({ value, label }: { value: string; label: string }) {
  const [modules, setModules] = useState<{ size: number; dark: boolean[] } | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let current = true;
    setModules(null);
    import('qrcode')
      .then(({ create }) => {
        const { modules: matrix } = create(value, { errorCorrectionLevel: 'M' });
        const dark = Array.from({ length: matrix.size * matrix.size }, (_, index) =>
          Boolean(matrix.data[index]),
        );
        if (current) setModules({ size: matrix.size, dark });
      })
      .catch(() => current && setFailed(true));
    return () => {
      current = false;
    };
  }, [value]);
  if (failed) return <p className="error">The QR code could not be drawn; type the code instead.</p>;
  if (!modules) return <p className="meta">Drawing the QR code…</p>;
  // Four modules of quiet zone around the code, as scanners expect.
  const quiet = 4;
  const extent = modules.size + quiet * 2;
  let path = '';
  modules.dark.forEach((dark, index) => {
    if (dark)
      path += `M${(index % modules.size) + quiet} ${Math.floor(index / modules.size) + quiet}h1v1h-1z`;
  });
  return (
    <svg className="qr" viewBox={`0 0 ${extent} ${extent}`} role="img" aria-label={label}>
      <rect width={extent} height={extent} fill="#ffffff" />
      <path d={path} fill="#000000" />
    </svg>
  );
}
