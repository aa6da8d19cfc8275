import { describe, expect, it } from 'vitest';
import type { ActionProgress, Incident, TimelineEntry } from '../../src/incidents/model.js';
import { buildRegulatorReport } from '../../src/incidents/report.js';

const detectedAt = new Date('2026-03-05T09:30:00Z');
const HOUR = 3_600_000;

const incident: Incident = {
  id: '6f1c2a7e-0000-4000-8000-000000000001',
  title: 'Exposed backup bucket',
  description: 'A database backup was readable from the internet for two days.',
  detectedAt,
  windowFrom: new Date('2026-03-03T00:00:00Z'),
  windowTo: new Date('2026-03-04T23:00:00Z'),
  stores: ['backups', 'users'],
  categories: ['name', 'email', 'password-hashes', 'device-details', 'event-history'],
  scope: { kind: 'everyone' },
  status: 'notifying',
  declaredBy: 'operator:3b0d6c1e-0000-4000-8000-000000000002',
  createdAt: detectedAt,
  updatedAt: detectedAt,
  resolvedAt: null,
  affectedCount: 2_400_000,
  categoryCounts: {
    name: 2_400_000,
    email: 2_400_000,
    'password-hashes': 2_400_000,
    'device-details': 900_000,
    'event-history': 800_000,
  },
  recordCounts: { 'device-details': 1_800_000, 'event-history': 40_000_000 },
};

const timeline: TimelineEntry[] = [
  {
    seq: 1,
    at: detectedAt,
    actor: 'operator:3b0d6c1e-0000-4000-8000-000000000002',
    kind: 'declared',
    summary: 'Incident declared',
    // Details may name a person; the report must not carry them.
    details: { reportedBy: 'Ada Lovelace', email: 'ada.lovelace@example.com' },
  },
];

const actions: ActionProgress[] = [
  {
    action: 'end-sessions',
    params: { scope: 'affected' },
    status: 'done',
    total: 2_400_000,
    done: 2_400_000,
    startedBy: 'operator:3b0d6c1e-0000-4000-8000-000000000002',
    startedAt: new Date(detectedAt.getTime() + HOUR),
    finishedAt: new Date(detectedAt.getTime() + 2 * HOUR),
    error: null,
  },
];

const notices = { pending: 10, queued: 20, sent: 2_399_960, failed: 10, skipped: 0 };

function build(now: Date) {
  return buildRegulatorReport({ incident, timeline, actions, notices, contact: 'dpo@hearth.example', now });
}

describe('the regulator report (GDPR Art. 33)', () => {
  it('counts the 72-hour deadline from detection', () => {
    const { json, markdown } = build(new Date(detectedAt.getTime() + 10 * HOUR));
    expect(json.deadline).toEqual({
      awareAt: detectedAt.toISOString(),
      deadline: new Date(detectedAt.getTime() + 72 * HOUR).toISOString(),
      hoursRemaining: 62,
      overdue: false,
      delayReasonsRequired: false,
    });
    expect(markdown).toContain(`72-hour deadline: ${json.deadline.deadline}`);
    expect(markdown).toContain('Hours remaining: 62');

    const late = build(new Date(detectedAt.getTime() + 80 * HOUR));
    expect(late.json.deadline).toMatchObject({
      hoursRemaining: -8,
      overdue: true,
      delayReasonsRequired: true,
    });
    expect(late.markdown).toContain('Overdue by 8 hours');
  });

  it('states the nature, numbers, storage and consequences of each category', () => {
    const { json } = build(detectedAt);
    expect(json.nature).toMatchObject({
      title: incident.title,
      exposedStores: ['backups', 'users'],
      window: { from: '2026-03-03T00:00:00.000Z', to: '2026-03-04T23:00:00.000Z' },
    });
    expect(json.approximateNumbers).toEqual({ dataSubjects: 2_400_000, records: 41_800_000 });
    const byId = Object.fromEntries(json.categories.map((category) => [category.id, category]));
    expect(byId.name).toMatchObject({
      people: 2_400_000,
      records: null,
      storage: 'sealed',
      unintelligibleWithoutKeys: true,
    });
    expect(byId['device-details']).toMatchObject({
      people: 900_000,
      records: 1_800_000,
      storage: 'partly-sealed',
    });
    expect(byId['device-details']?.storageDetail).toContain('In clear: model and firmware version');
    expect(byId['password-hashes']?.consequences).toMatch(/Offline guessing/);
    expect(json.encryption.sealed).toEqual(['name', 'email']);
    expect(json.encryption.notSealed.map((c) => [c.category, c.storage])).toEqual([
      ['password-hashes', 'hashed'],
      ['device-details', 'partly-sealed'],
      ['event-history', 'partly-sealed'],
    ]);
    expect(json.measures.taken).toEqual([
      expect.objectContaining({ action: 'end-sessions', status: 'done' }),
    ]);
    // What has not run yet is proposed; what ran is not.
    expect(json.measures.proposed).toContain('Require affected customers to set a new password.');
    expect(json.measures.proposed.join()).not.toMatch(/End the sign-in sessions/);
    expect(json.measures.proposed).toContain('Resend the 10 notices whose delivery failed.');
    expect(json.notices).toEqual({ ...notices, total: 2_400_000 });
    expect(json.contact).toBe('dpo@hearth.example');
  });

  it('lists sealed and not-sealed categories in the Markdown', () => {
    const { markdown } = build(detectedAt);
    expect(markdown).toContain('Sealed (unintelligible without Hearth’s keys): name, email');
    expect(markdown).toMatch(/- Not sealed:\n {2}- password-hashes \(hashed\): Only a one-way hash/);
    expect(markdown).toContain(
      '  - event-history (partly-sealed): Partly encrypted by the application. In clear: event type and time.',
    );
    for (const heading of [
      '(a) Nature of the breach',
      '(b) Contact point',
      '(c) Likely consequences',
      '(d) Measures taken and proposed',
    ]) {
      expect(markdown).toContain(`## ${heading}`);
    }
    expect(markdown).toContain('| event-history | approx. 800,000 | approx. 40,000,000 |');
  });

  it('carries no personal data', () => {
    const { json, markdown } = build(detectedAt);
    for (const text of [JSON.stringify(json), markdown]) {
      expect(text).not.toContain('ada.lovelace@example.com');
      expect(text).not.toContain('Ada Lovelace');
      // The only address is the contact point's.
      expect(text.match(/[\w.+-]+@[\w.-]+/g) ?? []).toEqual(expect.arrayContaining(['dpo@hearth.example']));
      expect(new Set(text.match(/[\w.+-]+@[\w.-]+/g))).toEqual(new Set(['dpo@hearth.example']));
    }
  });
});
