import { useState } from 'react';
import { api } from '../api';
import { saveFile } from '../files';
import { useFocusOnStep } from '../focus';
import { Field, Outcome, text, useSubmit } from '../form';
import { useLoaded } from '../load';
import { QrCode } from '../qr';
import { PasswordReentry } from './password-reentry';

interface MfaStatus {
  enabled: boolean;
  pending: boolean;
  enabledAt: string | null;
  recoveryCodesLeft: number;
}

interface Enrolment {
  secret: string;
  otpauthUri: string;
}

/** The secret in groups of four, as authenticator apps show and people type it. */
const grouped = (secret: string) => secret.match(/.{1,4}/g)?.join(' ') ?? secret;

/**
 * Two-step sign-in (TOTP): enrol by scanning a QR code (or typing the key), confirm with a first code, then
 * see the recovery codes once; replace the codes or turn it off later. Each step is the API's to accept.
 */
export function TwoStepPage() {
  const { value: status, error, reload: load } = useLoaded(() => api<MfaStatus>('GET', '/v1/me/mfa'));
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  // Recovery codes just issued: shown until the person says they have kept them, never again.
  const [codes, setCodes] = useState<string[] | null>(null);
  useFocusOnStep(
    status === null ? null : codes ? 'codes' : enrolment ? 'enrol' : status.enabled ? 'on' : 'off',
  );

  const start = useSubmit(async () => {
    setEnrolment(await api<Enrolment>('POST', '/v1/me/mfa/totp'));
  });
  const confirm = useSubmit(async (form) => {
    const { recoveryCodes } = await api<{ recoveryCodes: string[] }>('POST', '/v1/me/mfa/totp/confirm', {
      code: text(form, 'code'),
    });
    setEnrolment(null);
    setCodes(recoveryCodes);
    await load();
  });

  if (error) return <Outcome error={error} message={null} />;
  if (!status) return <p>Loading…</p>;
  if (codes) return <RecoveryCodes codes={codes} onDone={() => setCodes(null)} />;
  if (enrolment)
    return (
      <section aria-labelledby="enrol" className="card account-section">
        <h2 id="enrol">Set up your authenticator app</h2>
        <div className="claim">
          <QrCode value={enrolment.otpauthUri} label="QR code for your authenticator app" />
          <div>
            <ol>
              <li>In your authenticator app, add an account and scan this QR code.</li>
              <li>
                If the app cannot scan, type this key instead:{' '}
                <code className="totp-secret">{grouped(enrolment.secret)}</code>
              </li>
              <li>Enter the six-digit code the app now shows.</li>
            </ol>
          </div>
        </div>
        <form onSubmit={confirm.onSubmit}>
          <CodeField id="enrol-code" label="Code from the app" digits />
          <div className="actions">
            <button type="submit" disabled={confirm.busy}>
              Turn on two-step sign-in
            </button>
            <button type="button" className="secondary" onClick={() => setEnrolment(null)}>
              Cancel
            </button>
          </div>
          <Outcome error={confirm.error} message={null} />
        </form>
      </section>
    );
  if (!status.enabled)
    return (
      <section aria-labelledby="two-step-off" className="card account-section">
        <h2 id="two-step-off">Two-step sign-in is off</h2>
        <p>
          With it on, signing in asks for your password and a code from an authenticator app on your phone, so
          a stolen password alone is not enough.
        </p>
        <form onSubmit={start.onSubmit}>
          <button type="submit" disabled={start.busy}>
            Set up two-step sign-in
          </button>
          <Outcome error={start.error} message={null} />
        </form>
      </section>
    );
  return <TwoStepOn status={status} onCodes={setCodes} onChanged={load} />;
}

function TwoStepOn(props: {
  status: MfaStatus;
  onCodes: (codes: string[]) => void;
  onChanged: () => Promise<void>;
}) {
  const { status, onCodes, onChanged } = props;
  const regenerate = useSubmit(async (form) => {
    const { recoveryCodes } = await api<{ recoveryCodes: string[] }>('POST', '/v1/me/mfa/recovery-codes', {
      code: text(form, 'code'),
    });
    await onChanged();
    onCodes(recoveryCodes);
  });
  const turnOff = useSubmit(async (form) => {
    await api('DELETE', '/v1/me/mfa/totp', { password: text(form, 'password'), code: text(form, 'code') });
    await onChanged();
  });
  const left = status.recoveryCodesLeft;
  return (
    <>
      <section aria-labelledby="two-step-on" className="card account-section">
        <h2 id="two-step-on">Two-step sign-in is on</h2>
        <p>
          {status.enabledAt ? `On since ${new Date(status.enabledAt).toLocaleDateString()}. ` : ''}
          {left === 1 ? '1 recovery code is left.' : `${left} recovery codes are left.`}
        </p>
      </section>
      <section aria-labelledby="new-codes" className="card account-section">
        <h2 id="new-codes">New recovery codes</h2>
        <p>Replaces every recovery code you have with ten new ones, for instance when few are left.</p>
        <form onSubmit={regenerate.onSubmit}>
          <CodeField id="regenerate-code" label="Code from your app, or an unused recovery code" />
          <button type="submit" className="secondary" disabled={regenerate.busy}>
            Replace recovery codes
          </button>
          <Outcome error={regenerate.error} message={null} />
        </form>
      </section>
      <section aria-labelledby="turn-off" className="card account-section">
        <h2 id="turn-off">Turn off two-step sign-in</h2>
        <p>Signing in will ask for your password only. Your recovery codes stop working.</p>
        <form onSubmit={turnOff.onSubmit}>
          <PasswordReentry id="turn-off-password" />
          <CodeField id="turn-off-code" label="Code from your app, or a recovery code" />
          <button type="submit" className="danger" disabled={turnOff.busy}>
            Turn off two-step sign-in
          </button>
          <Outcome error={turnOff.error} message={null} />
        </form>
      </section>
    </>
  );
}

/** A one-time code field; `digits` asks phones for a number pad, which a recovery code would not fit. */
function CodeField({ id, label, digits }: { id: string; label: string; digits?: boolean }) {
  return (
    <Field
      id={id}
      label={label}
      name="code"
      inputMode={digits ? 'numeric' : 'text'}
      autoComplete="one-time-code"
      maxLength={64}
    />
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const asText = `Hearth recovery codes: each works once in place of a code from your app.\n\n${codes.join('\n')}\n`;
  const copy = async () => {
    setError(null);
    try {
      await navigator.clipboard.writeText(asText);
      setMessage('Copied. Paste them into your password manager.');
    } catch {
      setError('The browser did not let the page copy; select the codes and copy them yourself.');
    }
  };
  const download = () => {
    saveFile(new Blob([asText], { type: 'text/plain' }), 'hearth-recovery-codes.txt');
    setMessage('Saved as hearth-recovery-codes.txt.');
  };
  return (
    <section aria-labelledby="recovery-codes" className="card account-section">
      <h2 id="recovery-codes">Your recovery codes</h2>
      <p>
        If you lose your phone, each of these codes signs you in once in place of a code from the app. This is
        the only time they are shown: keep them somewhere safe, such as a password manager.
      </p>
      <ul className="recovery-codes" aria-label="Recovery codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" className="secondary" onClick={() => void copy()}>
          Copy codes
        </button>
        <button type="button" className="secondary" onClick={download}>
          Download codes
        </button>
        <button type="button" onClick={onDone}>
          I have kept them
        </button>
      </div>
      <Outcome error={error} message={message} />
    </section>
  );
}
