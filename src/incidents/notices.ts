import { type RawBuilder, sql } from 'kysely';
import { type UserDirectory, userSubject } from '../accounts/directory.js';
import { DomainError } from '../domain-error.js';
import type { Outbox, PreparedMail } from '../mail/outbox.js';
import type { RenderedMail } from '../mail/templates.js';
import type { Db } from '../store/database.js';
import { categoriesOf, type DataCategory } from './categories.js';
import type { Incident, NoticeCounts, NoticeDeliveryStatus } from './model.js';
import { DEFAULT_MEASURE, involvedLines, type NoticeTemplate, plainDate } from './notice-template.js';

export interface IncidentNoticesDeps {
  db: Db;
  users: UserDirectory;
  /** The mail domain's outbox port: notices are handed to it, and their delivery read through it. */
  outbox: Pick<Outbox, 'prepareRendered' | 'enqueuePreparedMany' | 'deliveryStates'>;
  /** Read on every use, so an operator's corrected template applies to the next batch. */
  template: () => NoticeTemplate;
  /** Where affected people write to: an address or a web page. */
  contact: string;
  publicUrl: string;
  clock?: () => Date;
}

export interface DispatchOptions {
  ratePerSecond: number;
  /** "What We Are Doing" lines, e.g. from noticeMeasures(actions); a default line always follows. */
  measures?: string[];
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface NoticeListItem {
  userId: string;
  status: NoticeDeliveryStatus;
  attempt: number;
  queuedAt: Date | null;
}

/** The outbox label of these messages, in its template column. */
export const NOTICE_MAIL_TEMPLATE = 'incident-notice';
const SAMPLE_NAME = 'Alex Example';
/** Notices per batch at most: one read of their users, one insert of their messages. */
const MAX_BATCH = 500;

/** The idempotency key of one person's notice: one outbox message per attempt, ever. */
export function noticeKey(incidentId: string, userId: string, attempt: number): string {
  return `incident-notice:${incidentId}:${userId}:${attempt}`;
}

/** What a person sees of their notice: the notice row's own state, or its outbox message's. */
const deliveryStatus: RawBuilder<NoticeDeliveryStatus> = sql<NoticeDeliveryStatus>`case
  when n.status = 'pending' then 'pending'
  when n.status = 'skipped' then 'skipped'
  when m.status in ('queued', 'sending') then 'queued'
  when m.status = 'sent' then 'sent'
  else 'failed' end`;

interface Candidate {
  userId: string;
  categories: number;
  attempt: number;
}

type Prepared = { userId: string; attempt: number; mail: PreparedMail };
type Handed = Prepared | { userId: string; skip: true };
interface PreparedBatch {
  from: 'pending' | 'queued';
  /** The attempt each notice had when read: the commit only moves notices still there. */
  readAttempt: Map<string, number>;
  skips: string[];
  mails: Prepared[];
}

/**
 * Personal breach notices: one per person in an incident's affected-set snapshot, each naming only that
 * person's categories, handed to the mail outbox at a bounded rate. The outbox's idempotency key
 * (incident, person, attempt) is what makes a crash and a re-run safe: a second copy of a message can be
 * rendered, but never inserted.
 */
export class IncidentNotices {
  private readonly db: Db;
  private readonly clock: () => Date;

  constructor(private readonly deps: IncidentNoticesDeps) {
    this.db = deps.db;
    this.clock = deps.clock ?? (() => new Date());
  }

  async preview(incident: Incident, userId?: string, measures: string[] = []): Promise<RenderedMail> {
    let query = this.db
      .selectFrom('incident_affected')
      .select(['user_id', 'categories'])
      .where('incident_id', '=', incident.id);
    query = userId === undefined ? query.orderBy('user_id').limit(1) : query.where('user_id', '=', userId);
    const row = await query.executeTakeFirst();
    if (!row)
      throw new DomainError('not_found', 'This person is not among the affected people of the incident');
    const user = await this.deps.users.getById(row.user_id);
    if (!user) throw new DomainError('not_found', 'This affected person no longer has an account');
    return this.render(incident, user.name, categoriesOf(row.categories), measures);
  }

  sample(incident: Incident, categories: DataCategory[], measures: string[] = []): RenderedMail {
    return this.render(incident, SAMPLE_NAME, categories, measures);
  }

  async queue(incidentId: string): Promise<number> {
    await this.db
      .insertInto('incident_notices')
      .columns(['incident_id', 'user_id', 'status'])
      .expression((eb) =>
        eb
          .selectFrom('incident_affected')
          .select(['incident_id', 'user_id', sql<'pending'>`'pending'`.as('status')])
          .where('incident_id', '=', incidentId),
      )
      .onConflict((conflict) => conflict.doNothing())
      .execute();
    const { total } = await this.db
      .selectFrom('incident_notices')
      .select((eb) => eb.fn.countAll<number>().as('total'))
      .where('incident_id', '=', incidentId)
      .executeTakeFirstOrThrow();
    return Number(total);
  }

  async dispatch(incident: Incident, options: DispatchOptions): Promise<NoticeCounts> {
    if (!(options.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be a positive number');
    const batchSize = Math.max(1, Math.min(Math.floor(options.ratePerSecond), MAX_BATCH));
    const progress = await this.db
      .selectFrom('incident_notices')
      .select((eb) => [
        eb.fn.countAll<number>().as('total'),
        sql<number>`count(*) filter (where status <> 'pending')`.as('done'),
      ])
      .where('incident_id', '=', incident.id)
      .executeTakeFirstOrThrow();
    const total = Number(progress.total);
    let done = Number(progress.done);
    const started = performance.now();
    let handed = 0;
    let after: string | undefined;
    let committing: Promise<{ queued: number; skipped: number }> | null = null;
    const account = async (outcome: { queued: number; skipped: number }) => {
      handed += outcome.queued;
      done += outcome.queued + outcome.skipped;
      options.onProgress?.(done, total);
      // Pace on what reached the outbox: the average since the start stays at or below the rate.
      const due = (handed / options.ratePerSecond) * 1000 - (performance.now() - started);
      if (due > 0) await sleep(due, options.signal).catch(() => {});
    };
    while (!options.signal?.aborted) {
      const batch = await this.db
        .selectFrom('incident_notices as n')
        .innerJoin('incident_affected as a', (join) =>
          join.onRef('a.incident_id', '=', 'n.incident_id').onRef('a.user_id', '=', 'n.user_id'),
        )
        .select(['n.user_id as userId', 'a.categories', 'n.attempt'])
        .where('n.incident_id', '=', incident.id)
        .where('n.status', '=', 'pending')
        // On both sides: PostgreSQL carries equalities across a join, not ranges, and without the bound
        // on a.user_id a merge join reads the snapshot from its start for every batch.
        .$if(after !== undefined, (query) =>
          query.where('n.user_id', '>', after as string).where('a.user_id', '>', after as string),
        )
        .orderBy('n.user_id')
        .limit(batchSize)
        .execute();
      if (batch.length === 0) break;
      after = (batch.at(-1) as Candidate).userId;
      // This batch is opened, rendered and sealed while the previous one commits: Node and the database
      // work side by side. Batches never overlap (each starts after the last one's highest user id).
      const prepared = await this.prepareBatch(incident, batch, options.measures ?? [], 'pending');
      if (committing) await account(await committing);
      // Stopped meanwhile: what was prepared is dropped unsent (sealed under the person's own key).
      if (options.signal?.aborted) {
        committing = null;
        break;
      }
      committing = this.commitBatch(incident, prepared);
      // Awaited on the next turn; marked handled now so a failure meanwhile is not an unhandled rejection.
      committing.catch(() => {});
    }
    if (committing) await account(await committing);
    return this.counts(incident.id);
  }

  async counts(incidentId: string): Promise<NoticeCounts> {
    const row = await this.db
      .selectFrom('incident_notices as n')
      .leftJoin(this.deps.outbox.deliveryStates().as('m'), 'm.id', 'n.mail_id')
      .select([
        sql<number>`count(*) filter (where ${deliveryStatus} = 'pending')`.as('pending'),
        sql<number>`count(*) filter (where ${deliveryStatus} = 'queued')`.as('queued'),
        sql<number>`count(*) filter (where ${deliveryStatus} = 'sent')`.as('sent'),
        sql<number>`count(*) filter (where ${deliveryStatus} = 'failed')`.as('failed'),
        sql<number>`count(*) filter (where ${deliveryStatus} = 'skipped')`.as('skipped'),
      ])
      .where('n.incident_id', '=', incidentId)
      .executeTakeFirstOrThrow();
    return {
      pending: Number(row.pending),
      queued: Number(row.queued),
      sent: Number(row.sent),
      failed: Number(row.failed),
      skipped: Number(row.skipped),
    };
  }

  async list(
    incidentId: string,
    options: { status?: NoticeDeliveryStatus; after?: string; limit: number },
  ): Promise<{ items: NoticeListItem[]; next: string | null }> {
    const limit = Math.max(1, Math.min(Math.floor(options.limit), 1000));
    let query = this.db
      .selectFrom('incident_notices as n')
      .leftJoin(this.deps.outbox.deliveryStates().as('m'), 'm.id', 'n.mail_id')
      .select(['n.user_id as userId', deliveryStatus.as('status'), 'n.attempt', 'n.queued_at as queuedAt'])
      .where('n.incident_id', '=', incidentId);
    if (options.status) query = query.where(deliveryStatus, '=', options.status);
    if (options.after) query = query.where('n.user_id', '>', options.after);
    const rows = await query
      .orderBy('n.user_id')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit);
    return { items, next: rows.length > limit ? (items.at(-1)?.userId ?? null) : null };
  }

  async resendFailed(incident: Incident, measures: string[] = []): Promise<number> {
    let resent = 0;
    let after: string | undefined;
    for (;;) {
      const batch = await this.db
        .selectFrom('incident_notices as n')
        .innerJoin(this.deps.outbox.deliveryStates().as('m'), 'm.id', 'n.mail_id')
        .innerJoin('incident_affected as a', (join) =>
          join.onRef('a.incident_id', '=', 'n.incident_id').onRef('a.user_id', '=', 'n.user_id'),
        )
        .select(['n.user_id as userId', 'a.categories', 'n.attempt'])
        .where('n.incident_id', '=', incident.id)
        .where('n.status', '=', 'queued')
        .where('m.status', 'in', ['failed', 'cancelled'])
        // On both sides: PostgreSQL carries equalities across a join, not ranges, and without the bound
        // on a.user_id a merge join reads the snapshot from its start for every batch.
        .$if(after !== undefined, (query) =>
          query.where('n.user_id', '>', after as string).where('a.user_id', '>', after as string),
        )
        .orderBy('n.user_id')
        .limit(MAX_BATCH)
        .execute();
      if (batch.length === 0) return resent;
      after = (batch.at(-1) as Candidate).userId;
      resent += (await this.hand(incident, batch, measures, 'queued')).queued;
    }
  }

  /**
   * Renders and seals outside any transaction (the vault queries the database, and PGlite has one
   * connection), then inserts the messages and moves the notices on in one transaction. The update is
   * fenced on the state each notice was read in (status and attempt), so a concurrent run moves none twice.
   */
  private async hand(
    incident: Incident,
    batch: Candidate[],
    measures: string[],
    from: 'pending' | 'queued',
  ): Promise<{ queued: number; skipped: number }> {
    return this.commitBatch(incident, await this.prepareBatch(incident, batch, measures, from));
  }

  /** Opens, renders and seals a batch: no transaction open, so the vault may query the database. */
  private async prepareBatch(
    incident: Incident,
    batch: Candidate[],
    measures: string[],
    from: 'pending' | 'queued',
  ): Promise<PreparedBatch> {
    const template = this.deps.template();
    const users = await this.deps.users.getManyById(
      batch.map((notice) => notice.userId),
      // A person whose key is already shredded is being erased: as gone as one without an account.
      { erased: 'omit' },
    );
    const prepared = await Promise.all(
      batch.map(async (notice): Promise<Handed> => {
        const user = users.get(notice.userId);
        if (!user) return { userId: notice.userId, skip: true };
        const attempt = from === 'pending' ? notice.attempt : notice.attempt + 1;
        const categories = categoriesOf(notice.categories);
        const mail = await this.deps.outbox.prepareRendered({
          to: user.email,
          template: NOTICE_MAIL_TEMPLATE,
          rendered: this.renderWith(template, incident, user.name, categories, measures),
          idempotencyKey: noticeKey(incident.id, notice.userId, attempt),
          sealUnder: userSubject(notice.userId),
        });
        return { userId: notice.userId, attempt, mail };
      }),
    );
    users.clear();
    const readAttempt = new Map(batch.map((notice) => [notice.userId, notice.attempt]));
    const skips = prepared.filter((item) => 'skip' in item).map((item) => item.userId);
    const mails = prepared.filter((item): item is Prepared => !('skip' in item));
    return { from, readAttempt, skips, mails };
  }

  /** Inserts a prepared batch into the outbox and marks its notices, in one transaction. */
  private commitBatch(
    incident: Incident,
    { from, readAttempt, skips, mails }: PreparedBatch,
  ): Promise<{ queued: number; skipped: number }> {
    return this.db.transaction().execute(async (trx) => {
      let skipped = 0;
      if (skips.length > 0) {
        const result = await trx
          .updateTable('incident_notices')
          .set({ status: 'skipped' })
          .where('incident_id', '=', incident.id)
          .where('user_id', 'in', skips)
          .where('status', '=', from)
          .executeTakeFirst();
        skipped = Number(result.numUpdatedRows);
      }
      if (mails.length === 0) return { queued: 0, skipped };
      // A message already under a key (a run that crashed, or one racing us) is that person's notice.
      const enqueued = await this.deps.outbox.enqueuePreparedMany(
        mails.map((item) => item.mail),
        trx,
      );
      const rows = mails.map(
        (item, i) =>
          sql`(${item.userId}::uuid, ${enqueued[i]?.id}::uuid, ${item.attempt}::int, ${readAttempt.get(item.userId)}::int)`,
      );
      const result = await sql`
        update incident_notices n
        set status = 'queued', mail_id = v.mail_id, attempt = v.attempt, queued_at = ${this.clock()}
        from (values ${sql.join(rows)}) as v(user_id, mail_id, attempt, read_attempt)
        where n.incident_id = ${incident.id} and n.user_id = v.user_id
          and n.status = ${from} and n.attempt = v.read_attempt`.execute(trx);
      return { queued: Number(result.numAffectedRows ?? 0n), skipped };
    });
  }

  private render(incident: Incident, name: string, categories: readonly DataCategory[], measures: string[]) {
    return this.renderWith(this.deps.template(), incident, name, categories, measures);
  }

  private renderWith(
    template: NoticeTemplate,
    incident: Incident,
    name: string,
    categories: readonly DataCategory[],
    measures: string[],
  ): RenderedMail {
    return template.render({
      name,
      title: incident.title,
      whatHappened: incident.description,
      exposureFrom: plainDate(incident.windowFrom),
      exposureTo: plainDate(incident.windowTo),
      detectedAt: plainDate(incident.detectedAt),
      involved: involvedLines(categories),
      measures: [...measures, DEFAULT_MEASURE],
      resetLink: `${this.deps.publicUrl.replace(/\/+$/, '')}/reset-password`,
      contact: this.deps.contact,
    });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
