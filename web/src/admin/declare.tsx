import { type FormEvent, useRef, useState } from 'react';
import { Link, navigate } from '../router';
import { adminApi, may } from './api';
import { DATA_CATEGORIES } from './catalog';
import { DeclarationFields, declarationOf, useFieldForm } from './declaration';
import { categoryLabel, type Incident, type RenderedNotice } from './model';

interface Drill {
  affected: number;
  categoryCounts: Record<string, number>;
  recordCounts: Record<string, number>;
  sampleNotice: RenderedNotice | null;
  estimate: Record<string, number>;
  listedUnmatched: number;
  warnings: string[];
}

/** Declare an incident, or drill it first: the same form and the same validation as the CLI's. */
export function DeclarePage() {
  const formRef = useRef<HTMLFormElement>(null);
  const form = useFieldForm();
  const [drill, setDrill] = useState<Drill | null>(null);
  const [categories, setCategories] = useState<string[]>([]);

  const declare = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    void form.run(async () => {
      const incident = await adminApi<Incident>('POST', '/v1/admin/incidents', declarationOf(data, true));
      navigate(`/admin/incidents/${incident.id}`);
    });
  };
  const runDrill = () => {
    const element = formRef.current;
    if (!element?.reportValidity()) return;
    const data = new FormData(element);
    setDrill(null);
    void form.run(async () => {
      const body = declarationOf(data, true);
      setCategories(body.categories as string[]);
      setDrill(await adminApi<Drill>('POST', '/v1/admin/incidents/drill', body));
    });
  };

  return (
    <main>
      <p>
        <Link to="/admin">← Incidents</Link>
      </p>
      <h1>{may('responder') ? 'Declare an incident' : 'Drill an incident'}</h1>
      <p className="meta">
        A drill is a dry run: it shows who would be affected, a sample notice and how long the response would
        take, and stores, revokes or sends nothing.
      </p>
      <form ref={formRef} onSubmit={declare} className="wide-form">
        <DeclarationFields errors={form.fieldErrors} withScope />
        <div className="actions">
          <button type="button" className="secondary" disabled={form.busy} onClick={runDrill}>
            Drill (dry run)
          </button>
          {may('responder') && (
            <button type="submit" disabled={form.busy}>
              Declare incident
            </button>
          )}
        </div>
        {form.error && (
          <p className="error" role="alert">
            {form.error}
          </p>
        )}
      </form>
      {drill && <DrillResult drill={drill} categories={categories} />}
    </main>
  );
}

function DrillResult({ drill, categories }: { drill: Drill; categories: string[] }) {
  return (
    <section aria-labelledby="drill-result" className="card drill">
      <h2 id="drill-result">Drill result</h2>
      <p role="status">
        {drill.affected} {drill.affected === 1 ? 'person' : 'people'} would be affected. Nothing was stored or
        sent.
      </p>
      {drill.warnings.map((warning) => (
        <p key={warning} className="warning">
          {warning}
        </p>
      ))}
      {drill.listedUnmatched > 0 && <p>{drill.listedUnmatched} listed entries match no account.</p>}
      <CategoryCounts categories={categories} people={drill.categoryCounts} records={drill.recordCounts} />
      <p>
        Estimated time: about {drill.estimate.total} s (resolve {drill.estimate.resolve} s, end sessions{' '}
        {drill.estimate.endSessions} s, queue notices {drill.estimate.queueNotices} s, deliver notices{' '}
        {drill.estimate.deliverNotices} s).
      </p>
      {drill.sampleNotice ? (
        <>
          <h3>Sample notice</h3>
          <NoticeText notice={drill.sampleNotice} />
        </>
      ) : (
        <p>Nobody would be notified.</p>
      )}
    </section>
  );
}

/** People (and records, where countable) per exposed category. */
export function CategoryCounts(props: {
  categories: string[];
  people: Record<string, number> | null;
  records?: Record<string, number> | null;
}) {
  return (
    <table className="counts">
      <caption>Affected per data category</caption>
      <thead>
        <tr>
          <th scope="col">Category</th>
          <th scope="col">People</th>
          {props.records && <th scope="col">Records</th>}
        </tr>
      </thead>
      <tbody>
        {props.categories.map((category) => (
          <tr key={category}>
            <th scope="row">{categoryLabel(category, DATA_CATEGORIES)}</th>
            <td>{props.people?.[category] ?? 0}</td>
            {props.records && <td>{props.records[category] ?? '—'}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function NoticeText({ notice }: { notice: RenderedNotice }) {
  return (
    <div className="notice-preview">
      <p>
        <strong>Subject:</strong> {notice.subject}
      </p>
      <pre>{notice.text}</pre>
    </div>
  );
}
