import { useEffect, useRef, useState } from 'react';
import { usePageHeading } from '../focus';
import { Link, usePath } from '../router';
import { may, type OperatorSession, onSessionChange, operatorSession, operatorSignOut } from './api';
import { DeclarePage } from './declare';
import { AuditPage, OperatorsPage } from './directory';
import { IncidentPage } from './incident';
import { IncidentsPage } from './incidents';
import { OperatorSignInPage } from './sign-in';

const INCIDENT_PATH = /^\/admin\/incidents\/([0-9a-fA-F-]{36})$/;

/**
 * The operator console at /admin, loaded only when an operator opens it: its own sign-in (password and
 * authenticator code), its own session, nothing shared with the customer console's.
 */
export default function AdminApp() {
  const path = usePath();
  const [session, setSession] = useState<OperatorSession | null>(operatorSession());
  useEffect(() => onSessionChange(setSession), []);
  usePageHeading(path, 'Hearth operators');

  return (
    <div className="admin">
      <header className="top">
        <Link to="/admin" className="brand">
          Hearth operators
        </Link>
        {session && (
          <nav aria-label="Operator console" className="admin-nav">
            <Link to="/admin">Incidents</Link>
            <Link to="/admin/audit">Audit</Link>
            {may('admin') && <Link to="/admin/operators">Operators</Link>}
            <span className="who">{session.role}</span>
            <button type="button" className="secondary" onClick={() => void operatorSignOut()}>
              Sign out
            </button>
          </nav>
        )}
      </header>
      {session ? <AdminPage path={path} /> : <OperatorSignInPage />}
    </div>
  );
}

function AdminPage({ path }: { path: string }) {
  const [, incidentId] = INCIDENT_PATH.exec(path) ?? [];
  if (incidentId) return <IncidentPage key={incidentId} incidentId={incidentId} />;
  switch (path) {
    case '/admin':
    case '/admin/':
      return <IncidentsPage />;
    case '/admin/incidents/new':
      return <DeclarePage />;
    case '/admin/audit':
      return <AuditPage />;
    case '/admin/operators':
      return <OperatorsPage />;
    default:
      return (
        <main className="narrow">
          <h1>Page not found</h1>
          <p>
            There is nothing at this address. <Link to="/admin">Go to the incidents</Link>
          </p>
        </main>
      );
  }
}
