import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { Outcome, problemText, useSubmit } from '../form';
import { Link } from '../router';
import { adminApi, adminText, may } from './api';
import { DATA_CATEGORIES, RESPONSE_ACTIONS } from './catalog';
import { DeclarationFields, declarationOf, useFieldForm } from './declaration';
import { CategoryCounts, NoticeText } from './declare';
import {
  type ActionProgress,
  categoryLabel,
  type IncidentDetails,
  type NoticeCounts,
  type RenderedNotice,
  utc,
} from './model';
import { watchProgress } from './progress';

const OPEN_TO_CHANGE = ['declared', 'contained'];
const RESPONDABLE = ['declared', 'contained', 'notifying'];

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
        <ol className="timeline">
          {details.timeline.map((entry) => (
            <li key={entry.seq}>
              <span className="meta">{utc(entry.at)}</span> {entry.summary}
            </li>
          ))}
        </ol>
      </section>
    </main>
  );
}

interface SectionProps {
  details: IncidentDetails;
  onChanged: () => Promise<void>;
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
    const body = declarationOf(new FormData(event.currentTarget), false);
    void amend.run(async () => {
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

/**
 * The incident's live progress: the stored progress of each action and the notice counts, updated from the
 * progress stream while work runs (`watch()` after starting some); a reload of the incident merges in.
 */
function useLiveProgress(details: IncidentDetails, onChanged: () => Promise<void>) {
  const [actions, setActions] = useState<Map<string, ActionProgress>>(() => new Map());
  const [notices, setNotices] = useState<NoticeCounts>(details.notices);
  const [watching, setWatching] = useState(
    details.working || details.actions.some((action) => action.status === 'running'),
  );
  const [finished, setFinished] = useState<string | null>(null);
  const [streamError, setStreamError] = useState<string | null>(null);
  const changed = useRef(onChanged);
  changed.current = onChanged;
  // What the stream brought may be newer than a reload that was already on its way.
  useEffect(() => {
    setActions((current) => {
      const merged = new Map(current);
      for (const stored of details.actions) {
        const seen = merged.get(stored.action);
        const older =
          seen && (stored.done < seen.done || (stored.status === 'running' && seen.status !== 'running'));
        if (!older) merged.set(stored.action, stored);
      }
      return merged;
    });
    setNotices(details.notices);
  }, [details]);

  const incidentId = details.incident.id;
  useEffect(() => {
    if (!watching) return;
    const controller = new AbortController();
    void watchProgress(
      incidentId,
      {
        action: (action) => setActions((current) => new Map(current).set(action.action, action)),
        notices: setNotices,
        end: () => {
          setWatching(false);
          setFinished('Everything started has finished.');
          void changed.current();
        },
        stopped: (reason) => {
          setWatching(false);
          setStreamError(reason);
        },
      },
      controller.signal,
    );
    return () => controller.abort();
  }, [watching, incidentId]);

  const watch = () => {
    setFinished(null);
    setStreamError(null);
    setWatching(true);
  };
  return { actions, notices, watching, watch, finished, streamError };
}

type LiveProgress = ReturnType<typeof useLiveProgress>;

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

const NOTICE_STATUSES: (keyof NoticeCounts)[] = ['pending', 'queued', 'sent', 'failed', 'skipped'];

function NoticesSection({ details, onChanged, live }: SectionProps & { live: LiveProgress }) {
  const { incident } = details;
  const { notices } = live;
  const [preview, setPreview] = useState<RenderedNotice | null>(null);
  const queue = useSubmit(async () => {
    await adminApi('POST', `/v1/admin/incidents/${incident.id}/notices`, {});
    await onChanged();
    live.watch();
    return 'Notices are being handed to the mail outbox; the counts follow live.';
  });
  const refresh = useSubmit(async () => {
    await onChanged();
  });
  const showPreview = useSubmit(async () => {
    setPreview(
      await adminApi<RenderedNotice>('POST', `/v1/admin/incidents/${incident.id}/notices/preview`, {}),
    );
  });
  const resend = useSubmit(async () => {
    const { resent } = await adminApi<{ resent: number }>(
      'POST',
      `/v1/admin/incidents/${incident.id}/notices/resend`,
    );
    await onChanged();
    return resent === 0 ? 'No failed notices to resend.' : `${resent} failed notices queued again.`;
  });
  const responder = may('responder');
  return (
    <section aria-labelledby="notices">
      <h2 id="notices">Notices</h2>
      <dl className="state notice-counts">
        {NOTICE_STATUSES.map((status) => (
          <div key={status}>
            <dt>{status}</dt>
            <dd>{notices[status]}</dd>
          </div>
        ))}
      </dl>
      <div className="actions">
        {responder && RESPONDABLE.includes(incident.status) && incident.affectedCount !== null && (
          <form onSubmit={queue.onSubmit}>
            <button type="submit" disabled={queue.busy}>
              Queue notices
            </button>
          </form>
        )}
        <form onSubmit={refresh.onSubmit}>
          <button type="submit" className="secondary" disabled={refresh.busy}>
            Refresh counts
          </button>
        </form>
        {responder && (
          <form onSubmit={showPreview.onSubmit}>
            <button type="submit" className="secondary" disabled={showPreview.busy}>
              Preview a notice
            </button>
          </form>
        )}
        {responder && incident.status === 'notifying' && (
          <form onSubmit={resend.onSubmit}>
            <button type="submit" className="secondary" disabled={resend.busy}>
              Resend failed notices
            </button>
          </form>
        )}
      </div>
      <Outcome error={queue.error} message={queue.message} />
      <Outcome error={showPreview.error} message={null} />
      <Outcome error={resend.error} message={resend.message} />
      {preview && (
        <>
          <h3>Notice preview</h3>
          <NoticeText notice={preview} />
        </>
      )}
    </section>
  );
}

/** The Art. 33 report: shown as its Markdown, and offered as a file in either format. */
function ReportSection({ incidentId }: { incidentId: string }) {
  const [report, setReport] = useState<string | null>(null);
  const [files, setFiles] = useState<{ markdown: string; json: string } | null>(null);
  useEffect(
    () => () => {
      if (files) {
        URL.revokeObjectURL(files.markdown);
        URL.revokeObjectURL(files.json);
      }
    },
    [files],
  );
  const show = useSubmit(async () => {
    const base = `/v1/admin/incidents/${incidentId}/report`;
    const [markdown, json] = await Promise.all([
      adminText(`${base}?format=markdown`),
      adminApi<unknown>('GET', `${base}?format=json`),
    ]);
    setReport(markdown);
    setFiles({
      markdown: URL.createObjectURL(new Blob([markdown], { type: 'text/markdown' })),
      json: URL.createObjectURL(new Blob([JSON.stringify(json, null, 2)], { type: 'application/json' })),
    });
  });
  return (
    <section aria-labelledby="report">
      <h2 id="report">Regulator report (GDPR Art. 33)</h2>
      <form onSubmit={show.onSubmit} className="actions">
        <button type="submit" className="secondary" disabled={show.busy}>
          {report ? 'Build the report again' : 'Show the report'}
        </button>
        {files && (
          <>
            <a href={files.markdown} download={`incident-${incidentId}-report.md`} className="button-link">
              Download Markdown
            </a>
            <a href={files.json} download={`incident-${incidentId}-report.json`} className="button-link">
              Download JSON
            </a>
          </>
        )}
      </form>
      <Outcome error={show.error} message={null} />
      {report && (
        <pre className="report" aria-label="Report text">
          {report}
        </pre>
      )}
    </section>
  );
}

function CloseSection({ details, onChanged }: SectionProps) {
  const { incident } = details;
  const [confirming, setConfirming] = useState(false);
  const close = useSubmit(async () => {
    await adminApi('POST', `/v1/admin/incidents/${incident.id}/close`);
    setConfirming(false);
    await onChanged();
  });
  if (!may('responder') || incident.status === 'closed') return null;
  return (
    <section aria-labelledby="close">
      <h2 id="close">Close</h2>
      <p className="meta">Once every notice is delivered or failed. A closed incident cannot change again.</p>
      {confirming ? (
        <form onSubmit={close.onSubmit} className="confirm">
          <button type="submit" className="danger" disabled={close.busy}>
            Close this incident
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Keep it open
          </button>
        </form>
      ) : (
        <button type="button" className="secondary" onClick={() => setConfirming(true)}>
          Close…
        </button>
      )}
      <Outcome error={close.error} message={null} />
    </section>
  );
}
