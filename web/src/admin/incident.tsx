import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { Outcome, problemText, useSubmit } from '../form';
import { Link } from '../router';
import { adminApi, may } from './api';
import { DATA_CATEGORIES, RESPONSE_ACTIONS } from './catalog';
import { DeclarationFields, declarationOf, useFieldForm } from './declaration';
import { CategoryCounts } from './declare';
import { CloseSection, NoticesSection, ReportSection } from './incident-follow-up';
import {
  categoryLabel,
  type Incident,
  type IncidentDetails,
  RESPONDABLE,
  type SectionProps,
  utc,
} from './model';
import { type LiveProgress, useLiveProgress } from './progress';

const OPEN_TO_CHANGE = ['declared', 'contained'];

/** One incident: its facts, the affected set, response actions with live progress, notices, report. */
export function IncidentPage({ incidentId }: { incidentId: string }) {
  const [details, setDetails] = useState<IncidentDetails | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setDetails(await adminApi<IncidentDetails>('GET', `/v1/admin/incidents/${incidentId}`));
      setLoadError(null);
    } catch (error) {
      setLoadError(problemText(error));
    }
  }, [incidentId]);
  useEffect(() => {
    void load();
  }, [load]);

  if (!details) {
    return (
      <main>
        <p>
          <Link to="/admin">← Incidents</Link>
        </p>
        {loadError ? (
          <p className="error" role="alert">
            {loadError}
          </p>
        ) : (
          <p>Loading…</p>
        )}
      </main>
    );
  }
  return <IncidentView details={details} onChanged={load} />;
}

function IncidentView({ details, onChanged: load }: SectionProps) {
  const { incident } = details;
  const live = useLiveProgress(details, load);
  return (
    <main>
      <p>
        <Link to="/admin">← Incidents</Link>
      </p>
      <div className="device-head">
        <h1>{incident.title}</h1>
        <span className={`pill status-${incident.status}`}>{incident.status}</span>
      </div>
      <p className="description">{incident.description}</p>
      <dl className="state">
        <div>
          <dt>Exposed</dt>
          <dd>
            {utc(incident.windowFrom)} to {utc(incident.windowTo)}
          </dd>
        </div>
        <div>
          <dt>Detected</dt>
          <dd>{utc(incident.detectedAt)}</dd>
        </div>
        <div>
          <dt>Stores</dt>
          <dd>{incident.stores.join(', ')}</dd>
        </div>
        <div>
          <dt>Customers</dt>
          <dd>
            {incident.scope.kind}
            {incident.scope.count !== undefined ? ` (${incident.scope.count})` : ''}
            {incident.scope.model ? ` (${incident.scope.model})` : ''}
          </dd>
        </div>
        <div>
          <dt>Categories</dt>
          <dd>{incident.categories.map((id) => categoryLabel(id, DATA_CATEGORIES)).join(', ')}</dd>
        </div>
      </dl>
      <AffectedSection details={details} onChanged={load} />
      <ActionsSection details={details} live={live} />
      <NoticesSection details={details} onChanged={load} live={live} />
      <ReportSection incidentId={incident.id} />
      <CloseSection details={details} onChanged={load} />
      <section aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <ol className="incident-timeline">
          {details.timeline.map((entry) => (
            <li key={entry.seq}>
              <span className="meta">{utc(entry.at)}</span> <span>{entry.summary}</span>
            </li>
          ))}
        </ol>
      </section>
    </main>
  );
}

/**
 * Only what the operator changed goes into an amendment, so the timeline names just that; the form's times
 * are to the minute, so a time counts as changed only when its minute did.
 */
function changedFields(form: Record<string, unknown>, incident: Incident): Record<string, unknown> {
  const minute = (value: unknown) => Math.floor(new Date(String(value)).getTime() / 60_000);
  const before = incident as unknown as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(form).filter(([field, value]) =>
      field === 'detectedAt' || field === 'windowFrom' || field === 'windowTo'
        ? value === undefined || minute(value) !== minute(before[field])
        : JSON.stringify(value) !== JSON.stringify(before[field]),
    ),
  );
}

function AffectedSection({ details, onChanged }: SectionProps) {
  const { incident } = details;
  const [warnings, setWarnings] = useState<string[]>([]);
  const [amending, setAmending] = useState(false);
  const resolve = useSubmit(async () => {
    const result = await adminApi<{ affected: number; warnings: string[] }>(
      'POST',
      `/v1/admin/incidents/${incident.id}/resolve`,
    );
    setWarnings(result.warnings);
    await onChanged();
    return `Resolved: ${result.affected} ${result.affected === 1 ? 'person' : 'people'} affected.`;
  });
  const amend = useFieldForm();
  const saveAmendment = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const body = changedFields(declarationOf(new FormData(event.currentTarget), false), incident);
    void amend.run(async () => {
      if (Object.keys(body).length === 0) {
        setAmending(false);
        return;
      }
      await adminApi('PATCH', `/v1/admin/incidents/${incident.id}`, body);
      setAmending(false);
      await onChanged();
    });
  };
  // As the service decides (IncidentService.frozenBecause): per-person actions ran, or notices went out.
  const frozen =
    details.actions.some((action) => action.action !== 'rotate-kek' && action.params.scope !== 'everyone') ||
    Object.values(details.notices).some((count) => count > 0);
  const changeable = may('responder') && OPEN_TO_CHANGE.includes(incident.status) && !frozen;
  return (
    <section aria-labelledby="affected">
      <h2 id="affected">Affected people</h2>
      {incident.affectedCount === null ? (
        <p className="empty">Not resolved yet: resolve the affected set before actions and notices.</p>
      ) : (
        <>
          <p>
            <strong>{incident.affectedCount}</strong> {incident.affectedCount === 1 ? 'person' : 'people'}{' '}
            affected (resolved {utc(incident.resolvedAt)}).
          </p>
          <CategoryCounts
            categories={incident.categories}
            people={incident.categoryCounts}
            records={incident.recordCounts}
          />
        </>
      )}
      {frozen && incident.status !== 'closed' && (
        <p className="meta">
          The affected set is frozen: response actions ran on it or notices went out. Declare a new incident
          for anyone it missed.
        </p>
      )}
      {warnings.map((warning) => (
        <p key={warning} className="warning">
          {warning}
        </p>
      ))}
      {changeable && (
        <form onSubmit={resolve.onSubmit} className="actions">
          <button type="submit" disabled={resolve.busy}>
            {incident.affectedCount === null ? 'Resolve affected set' : 'Resolve again'}
          </button>
          <button type="button" className="secondary" onClick={() => setAmending((open) => !open)}>
            {amending ? 'Cancel amendment' : 'Amend…'}
          </button>
          <Outcome error={resolve.error} message={resolve.message} />
        </form>
      )}
      {changeable && amending && (
        <form onSubmit={saveAmendment} className="wide-form card" aria-label="Amend the incident">
          <p className="meta">
            Allowed until notices go out or actions run on the affected set; a resolved set is discarded, so
            resolve again after.
          </p>
          <DeclarationFields errors={amend.fieldErrors} incident={incident} withScope={false} />
          <button type="submit" disabled={amend.busy}>
            Save amendment
          </button>
          {amend.error && (
            <p className="error" role="alert">
              {amend.error}
            </p>
          )}
        </form>
      )}
    </section>
  );
}

const actionLabel = (id: string) => RESPONSE_ACTIONS.find((action) => action.id === id)?.label ?? id;

function ActionsSection({ details, live }: { details: IncidentDetails; live: LiveProgress }) {
  const { incident } = details;
  const progress = live.actions;
  const start = useSubmit(async (form) => {
    const actions = form.getAll('action').map((id) => {
      const scope = String(form.get(`scope-${id}`) ?? 'affected');
      return id === 'end-sessions' || id === 'force-reset'
        ? { action: id, params: { scope } }
        : { action: id };
    });
    if (actions.length === 0) return 'Choose at least one action.';
    await adminApi('POST', `/v1/admin/incidents/${incident.id}/actions`, { actions });
    live.watch();
    return 'Started; progress shows below as the work advances.';
  });

  const offered = RESPONSE_ACTIONS.filter((action) => may(action.role));
  return (
    <section aria-labelledby="actions">
      <h2 id="actions">Response actions</h2>
      {may('responder') && RESPONDABLE.includes(incident.status) && (
        <form onSubmit={start.onSubmit} className="wide-form">
          <fieldset className="choices">
            <legend>Actions to run</legend>
            {offered.map((action) => (
              <div key={action.id} className="choice-row">
                <label className="choice">
                  <input type="checkbox" name="action" value={action.id} />
                  {action.label}
                </label>
                <small className="hint">{action.hint}</small>
                {(action.id === 'end-sessions' || action.id === 'force-reset') && (
                  <select name={`scope-${action.id}`} aria-label={`Whom ${action.label} applies to`}>
                    <option value="affected">The affected people</option>
                    <option value="everyone">Every customer</option>
                  </select>
                )}
              </div>
            ))}
          </fieldset>
          <button type="submit" disabled={start.busy || live.watching}>
            Start actions
          </button>
          <Outcome error={start.error} message={start.message} />
        </form>
      )}
      {progress.size === 0 ? (
        <p className="empty">No response action has run yet.</p>
      ) : (
        <ul className="progress-list" aria-label="Action progress">
          {[...progress.values()].map((action) => (
            <li key={action.action}>
              <div className="device-head">
                <span id={`progress-${action.action}`}>{actionLabel(action.action)}</span>
                <span className={`pill action-${action.status}`}>{action.status}</span>
              </div>
              <progress
                aria-labelledby={`progress-${action.action}`}
                max={Math.max(action.total, 1)}
                value={action.status === 'done' && action.total === 0 ? 1 : action.done}
              />
              <span className="meta">
                {action.done} of {action.total}
                {action.error ? ` · ${action.error}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
      <div role="status" className="notice">
        {live.watching ? 'Watching progress live…' : live.finished}
      </div>
      {live.streamError && (
        <p className="error" role="alert">
          {live.streamError}
        </p>
      )}
    </section>
  );
}
