import { useEffect, useState } from 'react';
import { api } from '../api';
import { Outcome, useSubmit } from '../form';
import { QrCode } from '../qr';

interface ClaimToken {
  claimToken: string;
  expiresAt: string;
}

function remaining(expiresAt: string, now: number): string | null {
  const seconds = Math.ceil((Date.parse(expiresAt) - now) / 1000);
  if (seconds <= 0) return null;
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

/**
 * "Add a device": a single-use claim code (valid ten minutes) and its QR code for the device's setup app.
 * The dashboard around it hears the device arrive over the live stream; `paired` names it once it has.
 */
export function PairingPanel(props: { homeId: string; paired: string | null; onOpen: () => void }) {
  const { homeId, paired, onOpen } = props;
  const [claim, setClaim] = useState<ClaimToken | null>(null);
  const [now, setNow] = useState(Date.now());
  const ask = useSubmit(async () => {
    setClaim(await api<ClaimToken>('POST', `/v1/homes/${homeId}/claim-tokens`));
    setNow(Date.now());
    onOpen();
  });
  const left = claim ? remaining(claim.expiresAt, now) : null;
  useEffect(() => {
    if (!claim || paired || !left) return;
    const tick = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(tick);
  }, [claim, paired, left]);

  return (
    <section className="card pairing" aria-labelledby="pairing">
      <h2 id="pairing">Add a device</h2>
      {claim && !paired && (
        <>
          <ol>
            <li>Power the device on and open its setup (the maker's app, or its pairing mode).</li>
            <li>Scan this QR code with it, or type the code.</li>
            <li>Keep this page open: the device appears here as soon as it joins.</li>
          </ol>
          <div className="claim">
            <QrCode value={claim.claimToken} label="QR code of the claim code" />
            <div>
              <p className="meta">Claim code</p>
              <p>
                <code className="claim-code">{claim.claimToken}</code>
              </p>
              {/* Not a live region: a screen reader would read the countdown out every second. */}
              {left && (
                <p className="meta">
                  Valid until {new Date(claim.expiresAt).toLocaleTimeString()} ({left} left), for one device.
                </p>
              )}
              <p className={left ? 'meta' : 'error'} role="status">
                {left ? 'Waiting for the device…' : 'This code has expired. Get a new one.'}
              </p>
            </div>
          </div>
        </>
      )}
      {paired && (
        <p className="notice" role="status">
          {paired} joined this home.
        </p>
      )}
      <form onSubmit={ask.onSubmit} className="actions">
        <button type="submit" disabled={ask.busy}>
          {paired ? 'Add another device' : claim ? 'Get a new code' : 'Show a claim code'}
        </button>
      </form>
      <Outcome error={ask.error} message={null} />
    </section>
  );
}
