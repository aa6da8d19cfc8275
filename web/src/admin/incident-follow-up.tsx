import { useEffect, useState } from 'react';
import { Outcome, useSubmit } from '../form';
import { adminApi, adminText, may } from './api';
import { NoticeText } from './declare';
import { type NoticeCounts, RESPONDABLE, type RenderedNotice, type SectionProps } from './model';
import type { LiveProgress } from './progress';

/** An incident's notices, its regulator report and its closing. */
const NOTICE_STATUSES: (keyof NoticeCounts)[] = ['pending', 'queued', 'sent', 'failed', 'skipped'];

export function NoticesSection({ details, onChanged, live }: SectionProps & { live: LiveProgress }) {
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
export function ReportSection({ incidentId }: { incidentId: string }) {
  const [report, setReport] = useState<string | null>(null);
  const [markdownFile, setMarkdownFile] = useState<string | null>(null);
  useEffect(() => () => void (markdownFile && URL.revokeObjectURL(markdownFile)), [markdownFile]);
  const base = `/v1/admin/incidents/${incidentId}/report`;
  // Each build of the report is audited, so the JSON is fetched only when it is asked for.
  const show = useSubmit(async () => {
    const markdown = await adminText(`${base}?format=markdown`);
    setReport(markdown);
    setMarkdownFile(URL.createObjectURL(new Blob([markdown], { type: 'text/markdown' })));
  });
  const downloadJson = useSubmit(async () => {
    const json = await adminApi<unknown>('GET', `${base}?format=json`);
    const file = URL.createObjectURL(new Blob([JSON.stringify(json, null, 2)], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = file;
    link.download = `incident-${incidentId}-report.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(file), 10_000);
  });
  return (
    <section aria-labelledby="report">
      <h2 id="report">Regulator report (GDPR Art. 33)</h2>
      <div className="actions">
        <form onSubmit={show.onSubmit}>
          <button type="submit" className="secondary" disabled={show.busy}>
            {report ? 'Build the report again' : 'Show the report'}
          </button>
        </form>
        {markdownFile && (
          <a href={markdownFile} download={`incident-${incidentId}-report.md`} className="button-link">
            Download Markdown
          </a>
        )}
        <form onSubmit={downloadJson.onSubmit}>
          <button type="submit" className="secondary" disabled={downloadJson.busy}>
            Download JSON
          </button>
        </form>
      </div>
      <Outcome error={show.error ?? downloadJson.error} message={null} />
      {report && (
        <pre className="report" aria-label="Report text">
          {report}
        </pre>
      )}
    </section>
  );
}

export function CloseSection({ details, onChanged }: SectionProps) {
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
