import { useEffect, useState } from 'react';
import { problemText } from '../form';
import { Link } from '../router';
import { adminApi, may } from './api';
import { type Incident, utc } from './model';

const PAGE_SIZE = 10;

/** Incidents newest first, a page at a time (keyset cursors kept for going back). */
export function IncidentsPage() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<{ items: Incident[]; next: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const cursor = cursors.at(-1) ?? null;
  useEffect(() => {
    const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    adminApi<{ items: Incident[]; next: string | null }>(
      'GET',
      `/v1/admin/incidents?limit=${PAGE_SIZE}${query}`,
    )
      .then(setPage, (caught) => setError(problemText(caught)))
      .finally(() => window.scrollTo(0, 0));
  }, [cursor]);

  return (
    <main>
      <h1>Incidents</h1>
      {may('viewer') && (
        <p>
          <Link to="/admin/incidents/new" className="button-link">
            {may('responder') ? 'Declare or drill an incident' : 'Drill an incident'}
          </Link>
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!page && !error && <p>Loading…</p>}
      {page?.items.length === 0 && cursors.length === 1 && (
        <p className="empty">No incidents have been declared. A drill shows what one would involve.</p>
      )}
      {page && page.items.length > 0 && (
        <ul className="incident-list">
          {page.items.map((incident) => (
            <li key={incident.id} className="card">
              <div className="device-head">
                <h2>
                  <Link to={`/admin/incidents/${incident.id}`}>{incident.title}</Link>
                </h2>
                <span className={`pill status-${incident.status}`}>{incident.status}</span>
              </div>
              <p className="meta">
                Exposed {utc(incident.windowFrom)} to {utc(incident.windowTo)} · declared{' '}
                {utc(incident.createdAt)}
              </p>
              <p>
                {incident.affectedCount === null
                  ? 'Affected set not resolved yet'
                  : `${incident.affectedCount} ${incident.affectedCount === 1 ? 'person' : 'people'} affected`}{' '}
                · {incident.categories.length} data{' '}
                {incident.categories.length === 1 ? 'category' : 'categories'}
              </p>
            </li>
          ))}
        </ul>
      )}
      {page && (cursors.length > 1 || page.next) && (
        <nav aria-label="Pages" className="actions">
          <button
            type="button"
            className="secondary"
            disabled={cursors.length === 1}
            onClick={() => setCursors((stack) => stack.slice(0, -1))}
          >
            Newer
          </button>
          <button
            type="button"
            className="secondary"
            disabled={!page.next}
            onClick={() => page.next && setCursors((stack) => [...stack, page.next])}
          >
            Older
          </button>
        </nav>
      )}
    </main>
  );
}
