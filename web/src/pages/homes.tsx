import { useCallback, useEffect, useState } from 'react';
import { ApiProblem, api, listAll } from '../api';
import { Field, Outcome, text, useSubmit } from '../form';
import { Link } from '../router';

export interface Home {
  id: string;
  name: string;
  timeZone: string;
  role: 'guest' | 'member' | 'admin' | 'owner';
}

const browserTimeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function HomesPage() {
  const [homes, setHomes] = useState<Home[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const items = await listAll<Home>('/v1/homes');
      setHomes(items);
      setLoadError(null);
    } catch (error) {
      setLoadError(
        error instanceof ApiProblem ? error.describe() : 'Hearth could not be reached; try again.',
      );
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const create = useSubmit(
    async (data) => {
      await api('POST', '/v1/homes', { name: text(data, 'name'), timeZone: text(data, 'timeZone') });
      await load();
      return 'Home created.';
    },
    { resetOnSuccess: true },
  );

  return (
    <main>
      <h1>Your homes</h1>
      {loadError && (
        <p className="error" role="alert">
          {loadError}
        </p>
      )}
      {homes === null && !loadError && <p>Loading…</p>}
      {homes?.length === 0 && (
        <p className="empty">You have no homes yet. Create one below, then pair your devices in it.</p>
      )}
      {homes && homes.length > 0 && (
        <ul className="cards">
          {homes.map((home) => (
            <HomeCard key={home.id} home={home} onChanged={load} />
          ))}
        </ul>
      )}
      <section aria-labelledby="create-home">
        <h2 id="create-home">Create a home</h2>
        <form onSubmit={create.onSubmit} className="inline">
          <Field label="Name" name="name" maxLength={100} />
          <Field label="Time zone" name="timeZone" defaultValue={browserTimeZone} maxLength={64} />
          <button type="submit" disabled={create.busy}>
            Create home
          </button>
          <Outcome error={create.error} message={create.message} />
        </form>
      </section>
    </main>
  );
}

const canManage = (home: Home) => home.role === 'owner' || home.role === 'admin';

function HomeCard({ home, onChanged }: { home: Home; onChanged: () => Promise<void> }) {
  const [renaming, setRenaming] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const rename = useSubmit(async (data) => {
    await api('PATCH', `/v1/homes/${home.id}`, { name: text(data, 'name') });
    setRenaming(false);
    await onChanged();
  });
  const remove = useSubmit(async () => {
    await api('DELETE', `/v1/homes/${home.id}`);
    await onChanged();
  });
  return (
    <li className="card">
      {renaming ? (
        <form onSubmit={rename.onSubmit} aria-label={`Rename ${home.name}`}>
          <Field label="New name" name="name" defaultValue={home.name} maxLength={100} />
          <div className="actions">
            <button type="submit" disabled={rename.busy}>
              Save
            </button>
            <button type="button" className="secondary" onClick={() => setRenaming(false)}>
              Cancel
            </button>
          </div>
          <Outcome error={rename.error} message={null} />
        </form>
      ) : (
        <>
          <h2>
            <Link to={`/homes/${home.id}`}>{home.name}</Link>
          </h2>
          <p className="meta">
            {home.timeZone} · you are {home.role === 'admin' ? 'an admin' : `the ${home.role}`}
          </p>
          {canManage(home) && (
            <div className="actions">
              <button type="button" className="secondary" onClick={() => setRenaming(true)}>
                Rename
              </button>
              {home.role === 'owner' &&
                (confirmingDelete ? (
                  <form onSubmit={remove.onSubmit} className="confirm">
                    <button type="submit" className="danger" disabled={remove.busy}>
                      Delete {home.name} and all its data
                    </button>
                    <button type="button" className="secondary" onClick={() => setConfirmingDelete(false)}>
                      Keep it
                    </button>
                  </form>
                ) : (
                  <button type="button" className="secondary" onClick={() => setConfirmingDelete(true)}>
                    Delete…
                  </button>
                ))}
            </div>
          )}
          <Outcome error={remove.error} message={null} />
        </>
      )}
    </li>
  );
}
