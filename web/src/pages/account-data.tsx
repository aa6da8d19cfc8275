import { useState } from 'react';
import { api, download } from '../api';
import { saveFile, today } from '../files';
import { Outcome, text, useSubmit } from '../form';
import { PasswordReentry } from './password-reentry';

/** A copy of everything Hearth holds about the person, and deletion of the account with it. */
export function AccountDataPage({ onDeleted }: { onDeleted: () => void }) {
  const exportData = useSubmit(async () => {
    const filename = `hearth-export-${today()}.json`;
    saveFile(await download('/v1/me/export'), filename);
    return `Your data was downloaded as ${filename}.`;
  });
  return (
    <>
      <section aria-labelledby="export" className="card account-section">
        <h2 id="export">Download your data</h2>
        <p>
          A copy of everything Hearth holds about you (profile, sign-in security, sessions, homes, devices and
          scale readings), decrypted, as one JSON file.
        </p>
        <form onSubmit={exportData.onSubmit}>
          <button type="submit" disabled={exportData.busy}>
            {exportData.busy ? 'Preparing your data…' : 'Download my data'}
          </button>
          <Outcome error={exportData.error} message={exportData.message} />
        </form>
      </section>
      <DeleteAccount onDeleted={onDeleted} />
    </>
  );
}

function DeleteAccount({ onDeleted }: { onDeleted: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useSubmit(async (form) => {
    await api('DELETE', '/v1/me', { password: text(form, 'password') });
    onDeleted();
  });
  return (
    <section aria-labelledby="delete-account" className="card account-section">
      <h2 id="delete-account">Delete your account</h2>
      <p>
        Deletes your account and everything Hearth holds about you, for good. Homes you alone own are deleted
        with their devices and history; homes you share stay with their other owners.
      </p>
      {confirming ? (
        <form onSubmit={remove.onSubmit} className="confirm-box">
          <p>This cannot be undone. Enter your password to confirm.</p>
          <PasswordReentry id="delete-password" autoFocus />
          <div className="actions">
            <button type="submit" className="danger" disabled={remove.busy}>
              Delete my account and all my data
            </button>
            <button type="button" className="secondary" onClick={() => setConfirming(false)}>
              Keep my account
            </button>
          </div>
          <Outcome error={remove.error} message={null} />
        </form>
      ) : (
        <div className="actions">
          <button type="button" className="secondary" onClick={() => setConfirming(true)}>
            Delete my account…
          </button>
        </div>
      )}
    </section>
  );
}
