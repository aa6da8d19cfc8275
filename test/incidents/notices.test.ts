import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userSubject } from '../../src/accounts/user-store.js';
import { DomainError } from '../../src/domain-error.js';
import { CATEGORIES, type DataCategory, maskOf } from '../../src/incidents/categories.js';
import type { Incident } from '../../src/incidents/model.js';
import {
  NOTICE_FILE,
  NOTICE_HEADINGS,
  NoticeTemplate,
  NoticeTemplateError,
} from '../../src/incidents/notice-template.js';
import { IncidentNotices, noticeKey } from '../../src/incidents/notices.js';
import { IncidentStore } from '../../src/incidents/store.js';
import { createUser, type TestUser } from '../helpers/accounts.js';
import { queuedMail } from '../helpers/mail.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const ACCOUNT: DataCategory[] = ['name', 'email'];
const ALL: DataCategory[] = [
  'name',
  'email',
  'body-metrics',
  'wifi-ssids',
  'password-hashes',
  'device-details',
];
const FAST = 10_000;

describe('incident notices', () => {
  let services: TestServices;
  let notices: IncidentNotices;
  let template: NoticeTemplate;

  beforeAll(async () => {
    services = await buildTestServices();
    template = NoticeTemplate.load();
    notices = new IncidentNotices({
      db: services.database.db,
      users: services.users,
      outbox: services.mail.outbox,
      template: () => template,
      contact: 'privacy@hearth.example',
      publicUrl: 'https://hearth.example/',
    });
  });
  afterAll(async () => {
    await services.close();
  });

  /** An incident and its snapshot, written directly; the people are given with their categories. */
  async function declare(
    people: Array<[TestUser | string, DataCategory[]]>,
    title = 'Exposed backup',
  ): Promise<Incident> {
    const id = randomUUID();
    const store = new IncidentStore(services.database.db);
    await store.insert({
      id,
      title,
      description: 'A database backup was readable from the internet.',
      detectedAt: new Date('2026-03-05T09:30:00Z'),
      windowFrom: new Date('2026-03-03T00:00:00Z'),
      windowTo: new Date('2026-03-04T23:00:00Z'),
      stores: ['backups'],
      categories: ALL,
      scope: { kind: 'everyone' },
      status: 'contained',
      declaredBy: 'operator:test',
    });
    if (people.length > 0) {
      await services.database.db
        .insertInto('incident_affected')
        .values(
          people.map(([person, categories]) => ({
            incident_id: id,
            user_id: typeof person === 'string' ? person : person.id,
            categories: maskOf(categories),
          })),
        )
        .execute();
    }
    return (await store.get(id)) as Incident;
  }

  async function people(count: number): Promise<TestUser[]> {
    const made: TestUser[] = [];
    for (let i = 0; i < count; i++) made.push(await createUser(services, { name: `Person ${i}` }));
    return made;
  }

  async function outboxKeys(incidentId: string): Promise<string[]> {
    const rows = await services.database.db
      .selectFrom('mail_outbox')
      .select('idempotency_key')
      .where('idempotency_key', 'like', `incident-notice:${incidentId}:%`)
      .orderBy('idempotency_key')
      .execute();
    return rows.map((row) => row.idempotency_key);
  }

  /** Outbox messages per person (the key without its attempt). */
  function perPerson(keys: string[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const key of keys) {
      const person = key.split(':').slice(0, 3).join(':');
      counts.set(person, (counts.get(person) ?? 0) + 1);
    }
    return counts;
  }

  describe('the template', () => {
    it('gives a person with account data only their own categories, in plain words', async () => {
      const [ada] = await people(1);
      const incident = await declare([[ada as TestUser, ACCOUNT]]);
      const mail = await notices.preview(incident, ada?.id, ['We signed everyone out.']);

      for (const body of [mail.text, mail.html]) {
        expect(body).toContain(CATEGORIES.name.plain);
        expect(body).toContain(CATEGORIES.email.plain);
        expect(body).toContain('stored encrypted; unreadable without our keys');
        expect(body).not.toContain(CATEGORIES['body-metrics'].plain);
        expect(body).not.toContain(CATEGORIES['wifi-ssids'].plain);
        expect(body).not.toContain(CATEGORIES['password-hashes'].plain);
        expect(body).not.toMatch(/Wi-Fi|smart scale|body measurements|firmware/i);
      }
      expect(mail.subject).toBe('Notice of Data Breach: Exposed backup');
      expect(mail.text).toContain('Dear Person 0,');
      expect(mail.text).toContain('from 3 March 2026 to 4 March 2026');
      expect(mail.text).toContain('We found out on 5 March 2026.');
      expect(mail.text).toContain('- We signed everyone out.');
      expect(mail.text).toContain('https://hearth.example/reset-password');
      expect(mail.text).toContain('privacy@hearth.example');
      expect(mail.text).toMatch(/two-step sign-in \(MFA\)/);
      expect(mail.text).toContain('We will never ask for your password by e-mail.');
      expect(mail.text).not.toContain(ada?.email);
    });

    it('keeps every required heading, in order, in text and HTML', () => {
      const incident = { title: 'T', description: 'D' } as Incident;
      const mail = notices.sample(
        { ...incident, windowFrom: new Date(), windowTo: new Date(), detectedAt: new Date() },
        ['device-details', 'password-hashes'],
      );
      const lines = mail.text.split('\n');
      const positions = NOTICE_HEADINGS.map((heading) => lines.indexOf(heading));
      expect(positions.every((at) => at >= 0)).toBe(true);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      for (const heading of NOTICE_HEADINGS) expect(mail.html).toContain(`<h2>${heading}</h2>`);
      expect(mail.text).toContain('Dear Alex Example,');
      expect(mail.text).toContain(
        `- ${CATEGORIES['device-details'].plain} — partly encrypted: the model and firmware version were not.`,
      );
      expect(mail.text).toContain(
        `- ${CATEGORIES['password-hashes'].plain} — only a one-way hash was stored.`,
      );
      expect(mail.html).toMatch(/<ul>\n<li>Details of your devices/);
    });

    it('escapes every value in the HTML version and keeps the subject to one line', () => {
      const mail = notices.sample(
        {
          title: 'Leak <b>\nBcc: x@evil.test',
          description: '<script>alert(1)</script>\nWhat You Can Do',
          windowFrom: new Date(),
          windowTo: new Date(),
          detectedAt: new Date(),
        } as Incident,
        ['name'],
      );
      expect(mail.subject).toBe('Notice of Data Breach: Leak <b> Bcc: x@evil.test');
      expect(mail.html).not.toContain('<script>');
      expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(mail.html).toContain('<title>Notice of Data Breach: Leak &lt;b&gt; Bcc: x@evil.test</title>');
      // A value cannot forge a heading.
      expect(mail.html.match(/<h2>What You Can Do<\/h2>/g)).toHaveLength(1);
    });

    it('refuses an edited template with a missing heading or an unknown placeholder, saying which', async () => {
      const source = await readFile(
        new URL('../../src/incidents/templates/incident-notice.txt', import.meta.url),
        'utf8',
      );
      expect(() => NoticeTemplate.parse(source.replace('What We Are Doing\n', 'What we do\n'))).toThrow(
        /the heading "What We Are Doing" is missing/,
      );
      expect(() => NoticeTemplate.parse(source.replace('{{name}}', '{{nmae}}'))).toThrow(
        /line \d+: unknown placeholder \{\{nmae\}\}/,
      );
      expect(() => NoticeTemplate.parse(source.replace('{{contact}}', '{{contact}'))).toThrow(/malformed/);
      expect(() => NoticeTemplate.parse(source.replace(/^Subject: .*\n/, ''))).toThrow(/Subject:/);
      expect(() => NoticeTemplate.parse(source.replace('{{involved}}', ''))).toThrow(
        /must use \{\{involved\}\}/,
      );
      const swapped = source
        .replace('What Happened\n', '@@\n')
        .replace('For More Information\n', 'What Happened\n')
        .replace('@@\n', 'For More Information\n');
      expect(() => NoticeTemplate.parse(swapped)).toThrow(/in this order/);

      const directory = await mkdtemp(join(tmpdir(), 'hearth-notice-'));
      try {
        await writeFile(join(directory, NOTICE_FILE), source.replace('{{title}}', '{{titel}}'));
        expect(() => NoticeTemplate.load(directory)).toThrow(NoticeTemplateError);
        expect(() => NoticeTemplate.load(directory)).toThrow(
          /incident-notice\.txt line 1: unknown placeholder \{\{titel\}\}/,
        );
        await writeFile(join(directory, NOTICE_FILE), source.replace('The Hearth team', 'Hearth'));
        expect(NoticeTemplate.load(directory)).toBeInstanceOf(NoticeTemplate);
        await rm(join(directory, NOTICE_FILE));
        expect(() => NoticeTemplate.load(directory)).toThrow(/cannot be read/);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });

    it('previews only people in the snapshot', async () => {
      const [ada, bob] = await people(2);
      const incident = await declare([[ada as TestUser, ['email']]]);
      await expect(notices.preview(incident, bob?.id)).rejects.toBeInstanceOf(DomainError);
      await expect(notices.preview(incident, bob?.id)).rejects.toMatchObject({ kind: 'not_found' });
      expect((await notices.preview(incident)).text).toContain('Dear Person 0,');
    });
  });

  describe('dispatch', () => {
    it('hands exactly one sealed message per person to the outbox, and a second run does nothing', async () => {
      const list = await people(5);
      const incident = await declare(
        list.map((person, i) => [person, i % 2 === 0 ? ACCOUNT : ['wifi-ssids']]),
      );
      expect(await notices.queue(incident.id)).toBe(5);
      expect(await notices.queue(incident.id)).toBe(5);
      expect(await notices.counts(incident.id)).toEqual({
        pending: 5,
        queued: 0,
        sent: 0,
        failed: 0,
        skipped: 0,
      });

      const progress: Array<[number, number]> = [];
      const counts = await notices.dispatch(incident, {
        ratePerSecond: FAST,
        onProgress: (done, total) => progress.push([done, total]),
      });
      expect(counts).toEqual({ pending: 0, queued: 5, sent: 0, failed: 0, skipped: 0 });
      expect(progress.at(-1)).toEqual([5, 5]);

      const keys = await outboxKeys(incident.id);
      expect(keys).toEqual(list.map((person) => noticeKey(incident.id, person.id, 0)).sort());
      const rows = await services.database.db
        .selectFrom('incident_notices as n')
        .innerJoin('mail_outbox as m', 'm.id', 'n.mail_id')
        .select(['n.user_id', 'n.status', 'n.queued_at', 'm.seal_subject', 'm.template'])
        .where('n.incident_id', '=', incident.id)
        .execute();
      expect(rows).toHaveLength(5);
      for (const row of rows) {
        expect(row).toMatchObject({
          status: 'queued',
          seal_subject: userSubject(row.user_id),
          template: 'incident-notice',
        });
        expect(row.queued_at).toBeInstanceOf(Date);
      }

      const mail = await queuedMail(services);
      list.forEach((person, i) => {
        const message = mail.filter((m) => m.to === person.email);
        expect(message).toHaveLength(1);
        const text = message[0]?.text ?? '';
        expect(text).toContain(`Dear ${person.name},`);
        if (i % 2 === 0) {
          expect(text).toContain(CATEGORIES.email.plain);
          expect(text).not.toContain(CATEGORIES['wifi-ssids'].plain);
        } else {
          expect(text).toContain(CATEGORIES['wifi-ssids'].plain);
          expect(text).not.toContain(CATEGORIES.email.plain);
        }
      });

      expect(await notices.dispatch(incident, { ratePerSecond: FAST })).toEqual(counts);
      expect(await outboxKeys(incident.id)).toEqual(keys);
    });

    it('after a crash or an abort, a re-run mails everyone exactly once', async () => {
      const list = await people(7);
      const incident = await declare(list.map((person) => [person, ACCOUNT]));
      await notices.queue(incident.id);

      // A run that inserted a message and died before marking the notice queued.
      const first = list[3] as TestUser;
      const earlier = await services.mail.outbox.enqueuePrepared(
        await services.mail.outbox.prepareRendered({
          to: first.email,
          template: 'incident-notice',
          rendered: await notices.preview(incident, first.id),
          idempotencyKey: noticeKey(incident.id, first.id, 0),
          sealUnder: userSubject(first.id),
        }),
      );

      // A run stopped after its first batch of two.
      const controller = new AbortController();
      const stopped = await notices.dispatch(incident, {
        ratePerSecond: 2,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      });
      expect(stopped.queued).toBe(2);
      expect(stopped.pending).toBe(5);

      const counts = await notices.dispatch(incident, { ratePerSecond: FAST });
      expect(counts).toEqual({ pending: 0, queued: 7, sent: 0, failed: 0, skipped: 0 });
      const keys = await outboxKeys(incident.id);
      expect(keys).toHaveLength(7);
      expect([...perPerson(keys).values()]).toEqual(Array(7).fill(1));
      const notice = await services.database.db
        .selectFrom('incident_notices')
        .select('mail_id')
        .where('incident_id', '=', incident.id)
        .where('user_id', '=', first.id)
        .executeTakeFirstOrThrow();
      expect(notice.mail_id).toBe(earlier.id);
    });

    it('keeps the average at or below the rate', async () => {
      const list = await people(10);
      const incident = await declare(list.map((person) => [person, ['email']]));
      await notices.queue(incident.id);
      const started = performance.now();
      const progress: Array<{ done: number; at: number }> = [];
      await notices.dispatch(incident, {
        ratePerSecond: 4,
        onProgress: (done) => progress.push({ done, at: (performance.now() - started) / 1000 }),
      });
      // Batches of at most the rate; each batch only once the previous ones' time has passed.
      expect(progress.map((p) => p.done)).toEqual([4, 8, 10]);
      for (const [i, p] of progress.entries()) {
        expect(p.at).toBeGreaterThanOrEqual(i - 0.05);
      }
    });

    it('counts outbox outcomes, and resends only failed deliveries, once per attempt', async () => {
      const list = await people(5);
      const incident = await declare(list.map((person) => [person, ACCOUNT]));
      await notices.queue(incident.id);
      await notices.dispatch(incident, { ratePerSecond: FAST });
      const mailOf = async (person: TestUser) =>
        (
          await services.database.db
            .selectFrom('incident_notices')
            .select('mail_id')
            .where('incident_id', '=', incident.id)
            .where('user_id', '=', person.id)
            .executeTakeFirstOrThrow()
        ).mail_id as string;
      const setStatus = async (person: TestUser, status: 'sent' | 'failed' | 'cancelled' | 'sending') =>
        services.database.db
          .updateTable('mail_outbox')
          .set({ status })
          .where('id', '=', await mailOf(person))
          .execute();
      const [a, b, c, d] = list as [TestUser, TestUser, TestUser, TestUser];
      await setStatus(a, 'sent');
      await setStatus(b, 'failed');
      await setStatus(c, 'cancelled');
      await setStatus(d, 'sending');
      expect(await notices.counts(incident.id)).toEqual({
        pending: 0,
        queued: 2,
        sent: 1,
        failed: 2,
        skipped: 0,
      });

      const failedPage = await notices.list(incident.id, { status: 'failed', limit: 10 });
      expect(failedPage.items.map((item) => item.userId)).toEqual([b.id, c.id].sort());
      expect(failedPage.next).toBeNull();

      expect(await notices.resendFailed(incident)).toBe(2);
      expect(await notices.resendFailed(incident)).toBe(0);
      const keys = await outboxKeys(incident.id);
      expect(keys.filter((key) => key.endsWith(':1')).sort()).toEqual(
        [noticeKey(incident.id, b.id, 1), noticeKey(incident.id, c.id, 1)].sort(),
      );
      expect(keys).toHaveLength(7);
      expect(await notices.counts(incident.id)).toEqual({
        pending: 0,
        queued: 4,
        sent: 1,
        failed: 0,
        skipped: 0,
      });
      const resent = await notices.list(incident.id, { limit: 10 });
      expect(resent.items.filter((item) => item.attempt === 1).map((item) => item.userId)).toEqual(
        [b.id, c.id].sort(),
      );
      // The failed message was marked so by hand above, so it still holds its (sealed) copy.
      const again = (await queuedMail(services)).filter((m) => m.to === b.email && m.status === 'queued');
      expect(again).toHaveLength(1);
      expect(again[0]?.text).toContain(CATEGORIES.email.plain);
    });

    it('skips a person whose account no longer exists', async () => {
      const list = await people(3);
      const gone = list[1] as TestUser;
      const incident = await declare([
        ...list.map((person): [TestUser, DataCategory[]] => [person, ACCOUNT]),
        [randomUUID(), ACCOUNT],
      ]);
      await notices.queue(incident.id);
      expect(await services.users.delete(gone.id)).toBe(true);
      const counts = await notices.dispatch(incident, { ratePerSecond: FAST });
      expect(counts).toEqual({ pending: 0, queued: 2, sent: 0, failed: 0, skipped: 2 });
      const skipped = await notices.list(incident.id, { status: 'skipped', limit: 10 });
      expect(skipped.items.map((item) => item.userId)).toContain(gone.id);
      expect((await queuedMail(services)).filter((m) => m.to === gone.email)).toHaveLength(0);
    });

    it('skips a person being erased (their key already shredded) and mails the rest of the batch', async () => {
      const list = await people(4);
      const erased = list[2] as TestUser;
      const incident = await declare(list.map((person) => [person, ACCOUNT]));
      await notices.queue(incident.id);
      await services.vault.destroy(userSubject(erased.id));
      const counts = await notices.dispatch(incident, { ratePerSecond: FAST });
      expect(counts).toEqual({ pending: 0, queued: 3, sent: 0, failed: 0, skipped: 1 });
      const skipped = await notices.list(incident.id, { status: 'skipped', limit: 10 });
      expect(skipped.items.map((item) => item.userId)).toEqual([erased.id]);
      const keys = await outboxKeys(incident.id);
      expect(keys).toEqual(
        list
          .filter((person) => person !== erased)
          .map((person) => noticeKey(incident.id, person.id, 0))
          .sort(),
      );
      const mail = await queuedMail(services);
      for (const person of list.filter((p) => p !== erased)) {
        const mine = mail.filter((m) => m.to === person.email);
        expect(mine).toHaveLength(1);
        expect(mine[0]?.text).toContain(`Dear ${person.name},`);
        // Each message carries only its own person's name.
        for (const other of list.filter((p) => p !== person)) expect(mine[0]?.text).not.toContain(other.name);
      }
    });

    it('pages through per-person statuses in user-id order', async () => {
      const list = await people(5);
      const incident = await declare(list.map((person) => [person, ACCOUNT]));
      await notices.queue(incident.id);
      const ids = list.map((person) => person.id).sort();
      const first = await notices.list(incident.id, { limit: 2 });
      expect(first.items.map((item) => item.userId)).toEqual(ids.slice(0, 2));
      expect(first.items[0]).toMatchObject({ status: 'pending', attempt: 0, queuedAt: null });
      const second = await notices.list(incident.id, { limit: 2, after: first.next as string });
      const third = await notices.list(incident.id, { limit: 2, after: second.next as string });
      expect([...second.items, ...third.items].map((item) => item.userId)).toEqual(ids.slice(2));
      expect(third.next).toBeNull();
    });
  });
});
