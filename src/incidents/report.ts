import { CATEGORIES, type DataCategory, type Storage } from './categories.js';
import type { ActionProgress, Incident, NoticeCounts, ResponseActionName, TimelineEntry } from './model.js';

/**
 * The notification to the supervisory authority, GDPR Art. 33(3) (a)-(d), as data and as Markdown. It is
 * built from the incident, its timeline, the response actions and the notice counts only: ids and counts,
 * never a customer's name or address, so it can be filed and shared as it is.
 */
export interface RegulatorReport {
  incidentId: string;
  generatedAt: string;
  status: Incident['status'];
  /** Art. 33(3)(a). */
  nature: {
    title: string;
    description: string;
    exposedStores: string[];
    window: { from: string; to: string };
    detectedAt: string;
    declaredBy: string;
  };
  approximateNumbers: { dataSubjects: number | null; records: number | null };
  categories: ReportCategory[];
  /** Art. 34(3)(a): which exposed categories were unintelligible without Hearth's keys, which were not. */
  encryption: {
    sealed: DataCategory[];
    notSealed: Array<{ category: DataCategory; storage: Exclude<Storage, 'sealed'>; detail: string }>;
    assessment: string;
  };
  /** Art. 33(3)(c), per category as in `categories`, collected. */
  likelyConsequences: Array<{ category: DataCategory; consequences: string }>;
  /** Art. 33(3)(d). */
  measures: {
    taken: Array<{
      action: ResponseActionName;
      status: ActionProgress['status'];
      done: number;
      total: number;
      startedAt: string;
      finishedAt: string | null;
      description: string;
    }>;
    timeline: Array<{ at: string; kind: string; summary: string }>;
    proposed: string[];
  };
  notices: NoticeCounts & { total: number };
  /** Art. 33(3)(b). */
  contact: string;
  /** Art. 33(1): 72 hours from becoming aware (the detected-at time). */
  deadline: {
    awareAt: string;
    deadline: string;
    hoursRemaining: number;
    overdue: boolean;
    /** Art. 33(1): a late notification must give the reasons for the delay. */
    delayReasonsRequired: boolean;
  };
}

export interface ReportCategory {
  id: DataCategory;
  description: string;
  people: number | null;
  records: number | null;
  storage: Storage;
  unintelligibleWithoutKeys: boolean;
  storageDetail: string;
  consequences: string;
}

export interface RegulatorReportInput {
  incident: Incident;
  timeline: TimelineEntry[];
  actions: ActionProgress[];
  notices: NoticeCounts;
  contact: string;
  now: Date;
}

const DEADLINE_HOURS = 72;
const HOUR_MS = 3_600_000;

const STORAGE_DETAIL: Record<Storage, string> = {
  sealed:
    'Encrypted by the application (AES-256-GCM) under a per-customer or per-home key; unintelligible without Hearth’s keys.',
  hashed:
    'Only a one-way hash is stored (SHA-256 of a 256-bit secret, or argon2id for passwords); not encrypted.',
  'partly-sealed': 'Partly encrypted by the application.',
  'not-stored': 'Not stored by Hearth.',
};

const ACTION_DESCRIPTION: Record<ResponseActionName, string> = {
  'end-sessions': 'Ended the sign-in sessions of affected customers.',
  'force-reset': 'Required affected customers to set a new password before signing in.',
  'revoke-integrations': 'Revoked Alexa, Google Home and IFTTT links of affected customers.',
  'rotate-device-credentials': 'Reset the credentials devices use to connect.',
  'rotate-kek': 'Rotated the key-encryption keys protecting sealed data.',
};

export function buildRegulatorReport(input: RegulatorReportInput): {
  json: RegulatorReport;
  markdown: string;
} {
  const json = reportOf(input);
  return { json, markdown: markdownOf(json) };
}

function reportOf({
  incident,
  timeline,
  actions,
  notices,
  contact,
  now,
}: RegulatorReportInput): RegulatorReport {
  const categories = incident.categories.map((id): ReportCategory => {
    const info = CATEGORIES[id];
    return {
      id,
      description: info.plain,
      people: incident.categoryCounts?.[id] ?? null,
      records: incident.recordCounts?.[id] ?? null,
      storage: info.storage,
      unintelligibleWithoutKeys: info.storage === 'sealed',
      storageDetail:
        info.storage === 'partly-sealed'
          ? `${STORAGE_DETAIL['partly-sealed']} In clear: ${info.inClear ?? 'some fields'}.`
          : STORAGE_DETAIL[info.storage],
      consequences: info.consequences,
    };
  });
  const sealed = categories.filter((c) => c.storage === 'sealed').map((c) => c.id);
  const notSealed = categories.flatMap((c) =>
    c.storage === 'sealed' ? [] : [{ category: c.id, storage: c.storage, detail: c.storageDetail }],
  );
  const recordCounts = Object.values(incident.recordCounts ?? {});
  const awareAt = incident.detectedAt;
  const deadline = new Date(awareAt.getTime() + DEADLINE_HOURS * HOUR_MS);
  const hoursRemaining = Math.round(((deadline.getTime() - now.getTime()) / HOUR_MS) * 10) / 10;
  const ran = new Set(actions.filter((a) => a.status === 'done').map((a) => a.action));
  const total = notices.pending + notices.queued + notices.sent + notices.failed + notices.skipped;
  return {
    incidentId: incident.id,
    generatedAt: now.toISOString(),
    status: incident.status,
    nature: {
      title: incident.title,
      description: incident.description,
      exposedStores: [...incident.stores],
      window: { from: incident.windowFrom.toISOString(), to: incident.windowTo.toISOString() },
      detectedAt: incident.detectedAt.toISOString(),
      declaredBy: incident.declaredBy,
    },
    approximateNumbers: {
      dataSubjects: incident.affectedCount,
      records: recordCounts.length > 0 ? recordCounts.reduce((sum, n) => sum + (n ?? 0), 0) : null,
    },
    categories,
    encryption: { sealed, notSealed, assessment: assessment(sealed, notSealed.length, ran) },
    likelyConsequences: categories.map((c) => ({ category: c.id, consequences: c.consequences })),
    measures: {
      taken: actions.map((a) => ({
        action: a.action,
        status: a.status,
        done: a.done,
        total: a.total,
        startedAt: a.startedAt.toISOString(),
        finishedAt: a.finishedAt?.toISOString() ?? null,
        description: ACTION_DESCRIPTION[a.action],
      })),
      timeline: timeline.map((entry) => ({
        at: entry.at.toISOString(),
        kind: entry.kind,
        summary: entry.summary,
      })),
      proposed: proposed(incident.categories, ran, notices),
    },
    notices: { ...notices, total },
    contact,
    deadline: {
      awareAt: awareAt.toISOString(),
      deadline: deadline.toISOString(),
      hoursRemaining,
      overdue: hoursRemaining < 0,
      delayReasonsRequired: hoursRemaining < 0,
    },
  };
}

function assessment(sealed: DataCategory[], notSealed: number, ran: Set<ResponseActionName>): string {
  const keys = ran.has('rotate-kek')
    ? 'The key-encryption keys have since been rotated.'
    : 'This holds as long as the keys were not exposed with the data.';
  if (sealed.length === 0) return 'No exposed category was encrypted by the application.';
  if (notSealed === 0) {
    return `Every exposed category was encrypted by the application and is unintelligible without Hearth’s keys (Art. 34(3)(a)). ${keys}`;
  }
  return `The sealed categories are unintelligible without Hearth’s keys (Art. 34(3)(a)); the others are not covered by it. ${keys}`;
}

function proposed(categories: DataCategory[], ran: Set<ResponseActionName>, notices: NoticeCounts): string[] {
  const exposed = new Set(categories);
  const steps: string[] = [];
  const hashedCredentials =
    exposed.has('password-hashes') || exposed.has('session-tokens') || exposed.has('integration-tokens');
  if (exposed.has('password-hashes') && !ran.has('force-reset')) {
    steps.push('Require affected customers to set a new password.');
  }
  if (hashedCredentials && !ran.has('end-sessions'))
    steps.push('End the sign-in sessions of affected customers.');
  if (exposed.has('integration-tokens') && !ran.has('revoke-integrations')) {
    steps.push('Revoke Alexa, Google Home and IFTTT links of affected customers.');
  }
  if (exposed.has('device-credentials') && !ran.has('rotate-device-credentials')) {
    steps.push('Reset the credentials of affected devices.');
  }
  if (categories.some((c) => CATEGORIES[c].storage === 'sealed') && !ran.has('rotate-kek')) {
    steps.push('Rotate the key-encryption keys if key material may have been exposed.');
  }
  if (notices.pending + notices.queued > 0) {
    steps.push(`Complete delivery of the ${notices.pending + notices.queued} notices still on their way.`);
  }
  if (notices.failed > 0) steps.push(`Resend the ${notices.failed} notices whose delivery failed.`);
  steps.push('Review access controls of the exposed stores and document the breach (Art. 33(5)).');
  return steps;
}

function markdownOf(report: RegulatorReport): string {
  const n = (value: number | null) =>
    value === null ? 'not known' : `approx. ${value.toLocaleString('en-GB')}`;
  const cell = (value: string) => value.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
  const d = report.deadline;
  const lines = [
    `# Personal data breach notification (GDPR Art. 33)`,
    '',
    `Incident \`${report.incidentId}\` · status ${report.status} · generated ${report.generatedAt}`,
    '',
    '## Deadline (Art. 33(1))',
    '',
    `- Aware since (detected at): ${d.awareAt}`,
    `- 72-hour deadline: ${d.deadline}`,
    d.overdue
      ? `- **Overdue by ${Math.abs(d.hoursRemaining)} hours**: the notification must give the reasons for the delay.`
      : `- Hours remaining: ${d.hoursRemaining}`,
    '',
    '## (a) Nature of the breach',
    '',
    `**${report.nature.title}**`,
    '',
    report.nature.description,
    '',
    `- Exposed stores: ${report.nature.exposedStores.join(', ') || 'none named'}`,
    `- Exposure window: ${report.nature.window.from} to ${report.nature.window.to}`,
    `- Detected at: ${report.nature.detectedAt}`,
    `- Data subjects: ${n(report.approximateNumbers.dataSubjects)}`,
    `- Records: ${n(report.approximateNumbers.records)}`,
    '',
    '### Categories of data',
    '',
    '| Category | People | Records | Storage | Likely consequences |',
    '|---|---|---|---|---|',
    ...report.categories.map(
      (c) =>
        `| ${c.id} | ${n(c.people)} | ${n(c.records)} | ${cell(c.storageDetail)} | ${cell(c.consequences)} |`,
    ),
    '',
    '### Encryption (Art. 34(3)(a))',
    '',
    `- Sealed (unintelligible without Hearth’s keys): ${report.encryption.sealed.join(', ') || 'none'}`,
    `- Not sealed:${report.encryption.notSealed.length === 0 ? ' none' : ''}`,
    ...report.encryption.notSealed.map((c) => `  - ${c.category} (${c.storage}): ${c.detail}`),
    '',
    report.encryption.assessment,
    '',
    '## (b) Contact point',
    '',
    report.contact,
    '',
    '## (c) Likely consequences',
    '',
    ...report.likelyConsequences.map((c) => `- ${c.category}: ${c.consequences}`),
    '',
    '## (d) Measures taken and proposed',
    '',
    '### Taken',
    '',
    ...(report.measures.taken.length === 0
      ? ['- No response action has run yet.']
      : report.measures.taken.map(
          (a) =>
            `- ${a.description} (${a.action}: ${a.status}, ${a.done}/${a.total}, started ${a.startedAt}` +
            `${a.finishedAt ? `, finished ${a.finishedAt}` : ''})`,
        )),
    '',
    '### Timeline',
    '',
    ...report.measures.timeline.map((e) => `- ${e.at} [${e.kind}] ${cell(e.summary)}`),
    '',
    '### Proposed',
    '',
    ...report.measures.proposed.map((step) => `- ${step}`),
    '',
    '## Notices to data subjects (Art. 34)',
    '',
    `- Total: ${report.notices.total}`,
    `- Sent: ${report.notices.sent}`,
    `- Failed: ${report.notices.failed}`,
    `- In the mail queue: ${report.notices.queued}`,
    `- Pending: ${report.notices.pending}`,
    `- Skipped (account no longer exists): ${report.notices.skipped}`,
    '',
  ];
  return lines.join('\n');
}
