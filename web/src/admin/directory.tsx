import { useEffect, useState } from 'react';
import { problemText, useSubmit } from '../form';
import { adminApi } from './api';
import { utc } from './model';

interface Verification {
  ok: boolean;
  entries: number;
  lastHash: string | null;
  firstBadSeq: number | null;
  problem: string | null;
}

/** The audit chain check (hearth audit verify), run when asked: it reads every entry. */
export function AuditPage() {
  const [result, setResult] = useState<Verification | null>(null);
  const verify = useSubmit(async () => {
    setResult(await adminApi<Verification>('GET', '/v1/admin/audit/verify'));
  });
  return (
    <main>
      <h1>Audit chain</h1>
      <p className="meta">
        Every sign-in, incident step and operator action is appended to a hash chain. Verifying walks the
        whole chain and names the first entry that was altered, removed or reordered.
      </p>
      <form onSubmit={verify.onSubmit} className="actions">
        <button type="submit" disabled={verify.busy}>
          {verify.busy ? 'Verifying…' : 'Verify the audit chain'}
        </button>
      </form>
      {verify.error && (
        <p className="error" role="alert">
          {verify.error}
        </p>
      )}
      {result &&
        (result.ok ? (
          <div className="card verdict ok" role="status">
            <h2>Intact</h2>
            <p>
              All {result.entries} entries verify. Last hash: <code className="hash">{result.lastHash}</code>
            </p>
          </div>
        ) : (
          <div className="card verdict bad" role="alert">
            <h2>Broken at entry {result.firstBadSeq}</h2>
            <p>
              {result.problem}; the {result.entries} entries before it verify.
            </p>
          </div>
        ))}
    </main>
  );
}

interface OperatorRow {
  id: string;
  email: string;
  role: string;
  createdAt: string;
  disabledAt: string | null;
}

/** Every operator with role and status (admins only; the listing is audited). */
export function OperatorsPage() {
  const [operators, setOperators] = useState<OperatorRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    adminApi<{ items: OperatorRow[] }>('GET', '/v1/admin/operators').then(
      (answer) => setOperators(answer.items),
      (caught) => setError(problemText(caught)),
    );
  }, []);
  return (
    <main>
      <h1>Operators</h1>
      <p className="meta">
        Add, disable and sign in operators with <code>hearth operators</code>; a new operator's password and
        authenticator secret are shown only there, once.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!operators && !error && <p>Loading…</p>}
      {operators && (
        <ul className="cards">
          {operators.map((operator) => (
            <li key={operator.id} className="card">
              <h2 className="person-name">{operator.email}</h2>
              <p className="meta">
                {operator.role} · added {utc(operator.createdAt)}
              </p>
              <p>{operator.disabledAt ? `Disabled ${utc(operator.disabledAt)}` : 'Active'}</p>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
