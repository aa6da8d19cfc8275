import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { FieldRef, Sealer } from '../crypto/sealer.js';
import { assertSubject, type KeyVault } from '../crypto/vault.js';
import type { Db } from '../store/database.js';
import type { MailStatus } from '../store/types.js';
import {
  type MailTemplateData,
  type MailTemplateName,
  MailTemplates,
  type RenderedMail,
} from './templates.js';

export interface OutboxOptions {
  db: Db;
  sealer: Sealer;
  vault: KeyVault;
  clock?: () => Date;
  templates?: MailTemplates;
}

export interface EnqueueMail<N extends MailTemplateName> {
  to: string;
  template: N;
  data: MailTemplateData<N>;
  /**
   * One message per key, ever: enqueuing it again returns the first message. Ids only, such as
   * `verify-email:<userId>:<tokenId>`, since it is stored in clear (an address is refused).
   */
  idempotencyKey: string;
  /**
   * The key subject to seal under, e.g. `user:<id>`, so erasing that subject erases its queued mail too.
   * Default: a subject of the message's own (`mail:<id>`), destroyed once the message is delivered. Mail
   * that must outlive its user (account-deleted) keeps the default.
   */
  sealUnder?: string;
}

/** Mail rendered by its caller (e.g. the operator-edited incident notice), for `prepareRendered`. */
export interface RenderedEnqueue {
  to: string;
  /** The label stored in the template column, such as `incident-notice`. */
  template: string;
  rendered: RenderedMail;
  idempotencyKey: string;
  sealUnder?: string;
}

export interface EnqueuedMail {
  id: string;
  /** False when the idempotency key was already used; `id` is then the earlier message. */
  created: boolean;
}

/** Rendered and sealed, ready to insert, possibly inside a caller's transaction. */
export interface PreparedMail {
  id: string;
  idempotencyKey: string;
  /** The label stored in the template column: a MailTemplateName, or e.g. `incident-notice`. */
  template: string;
  sealSubject: string;
  recipient: Buffer;
  content: Buffer;
}

/** What may be shown about a message: no recipient, no content. */
export interface MailStatusView {
  id: string;
  template: string;
  status: MailStatus;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  sentAt: Date | null;
}

export const MAIL_SUBJECT_PREFIX = 'mail:';
const IDEMPOTENCY_KEY = /^[A-Za-z0-9:._-]{1,200}$/;
const ADDRESS = /^[^\s@]+@[^\s@]+$/;
/** Rows per statement of `enqueuePreparedMany`: 7 parameters each, well under PostgreSQL's 65,535. */
const MESSAGES_PER_INSERT = 500;

/** Where each sealed column of a message lives; bound into its ciphertext. */
export function outboxField(column: 'recipient' | 'content', id: string): FieldRef {
  return { table: 'mail_outbox', column, rowId: id };
}

export function messageSubject(id: string): string {
  return `${MAIL_SUBJECT_PREFIX}${id}`;
}

/**
 * The durable queue of outgoing mail (the worker delivers it). Messages are rendered when enqueued, so a
 * template change never alters mail already promised, and sealed, so the database holds no address.
 */
export class Outbox {
  private readonly db: Db;
  private readonly sealer: Sealer;
  private readonly vault: KeyVault;
  private readonly clock: () => Date;
  private readonly templates: MailTemplates;
  private readonly listeners = new Set<() => void>();
  private embedded: Promise<boolean> | undefined;

  constructor(options: OutboxOptions) {
    this.db = options.db;
    this.sealer = options.sealer;
    this.vault = options.vault;
    this.clock = options.clock ?? (() => new Date());
    this.templates = options.templates ?? new MailTemplates();
  }

  /** Queues one message, or returns the message already queued under the same idempotency key. */
  async enqueue<N extends MailTemplateName>(mail: EnqueueMail<N>): Promise<EnqueuedMail> {
    checkKey(mail.idempotencyKey);
    const existing = await this.findByKey(mail.idempotencyKey);
    if (existing) return { id: existing, created: false };
    const prepared = await this.prepare(mail);
    const result = await this.enqueuePrepared(prepared);
    if (!result.created && prepared.sealSubject === messageSubject(prepared.id)) {
      // Lost a race for the key: the key made for this copy seals nothing stored.
      await this.vault.destroy(prepared.sealSubject);
    }
    return result;
  }

  /**
   * Renders and seals a message without touching the outbox table. The vault may query the database, so
   * call this before a transaction (PGlite has one connection), then `enqueuePrepared` inside it.
   */
  async prepare<N extends MailTemplateName>(mail: EnqueueMail<N>): Promise<PreparedMail> {
    checkKey(mail.idempotencyKey);
    // Both throw before anything is sealed; neither message quotes the value.
    if (!ADDRESS.test(mail.to)) throw new RangeError('The recipient is not an e-mail address');
    const rendered: RenderedMail = this.templates.render(mail.template, mail.data);
    return this.prepareRendered({
      to: mail.to,
      template: mail.template,
      rendered,
      idempotencyKey: mail.idempotencyKey,
      sealUnder: mail.sealUnder,
    });
  }

  /** As `prepare`, for mail its caller has rendered already. */
  async prepareRendered(mail: RenderedEnqueue): Promise<PreparedMail> {
    checkKey(mail.idempotencyKey);
    if (!ADDRESS.test(mail.to)) throw new RangeError('The recipient is not an e-mail address');
    const id = randomUUID();
    const sealSubject = mail.sealUnder ?? messageSubject(id);
    assertSubject(sealSubject);
    if (mail.sealUnder?.startsWith(MAIL_SUBJECT_PREFIX) || mail.sealUnder?.startsWith('system:')) {
      throw new RangeError('sealUnder must be the subject the mail is about, such as user:<id>');
    }
    const { subject, text, html } = mail.rendered;
    return {
      id,
      idempotencyKey: mail.idempotencyKey,
      template: mail.template,
      sealSubject,
      recipient: await this.sealer.sealString(sealSubject, outboxField('recipient', id), mail.to),
      content: await this.sealer.sealJson(sealSubject, outboxField('content', id), { subject, text, html }),
    };
  }

  /** Inserts a prepared message, with `db` being the caller's transaction when there is one. */
  async enqueuePrepared(prepared: PreparedMail, db: Db = this.db): Promise<EnqueuedMail> {
    const now = this.clock();
    const inserted = await db
      .insertInto('mail_outbox')
      .values({
        id: prepared.id,
        idempotency_key: prepared.idempotencyKey,
        template: prepared.template,
        seal_subject: prepared.sealSubject,
        recipient: prepared.recipient,
        content: prepared.content,
        status: 'queued',
        next_attempt_at: now,
        // The database's own time, to the microsecond: it orders messages even within one transaction.
        created_at: sql<Date>`clock_timestamp()`,
      })
      .onConflict((conflict) => conflict.column('idempotency_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) {
      for (const listener of this.listeners) listener();
      return { id: inserted.id, created: true };
    }
    const existing = await this.findByKey(prepared.idempotencyKey, db);
    if (!existing) throw new Error('An outbox message vanished while its idempotency key was in use');
    return { id: existing, created: false };
  }

  /**
   * Inserts many prepared messages with one statement per few hundred, with `db` being the caller's
   * transaction when there is one. Returns one result per message, in the order given: a key already used
   * (by an earlier run, a racing caller, or an earlier message of `prepared`) gives that message's id and
   * `created: false`, as `enqueuePrepared` does. Messages are ordered as given, also by `created_at`.
   */
  async enqueuePreparedMany(prepared: readonly PreparedMail[], db: Db = this.db): Promise<EnqueuedMail[]> {
    const now = this.clock();
    const asText = prepared.length > 0 && (await this.byteaAsText(db));
    const created = new Map<string, string>();
    for (let from = 0; from < prepared.length; from += MESSAGES_PER_INSERT) {
      const chunk = prepared.slice(from, from + MESSAGES_PER_INSERT);
      const inserted = await db
        .insertInto('mail_outbox')
        .values(
          chunk.map((mail, i) => ({
            id: mail.id,
            idempotency_key: mail.idempotencyKey,
            template: mail.template,
            seal_subject: mail.sealSubject,
            recipient: asText
              ? sql<Buffer>`decode(${mail.recipient.toString('hex')}, 'hex')`
              : mail.recipient,
            content: asText ? sql<Buffer>`decode(${mail.content.toString('hex')}, 'hex')` : mail.content,
            status: 'queued' as const,
            next_attempt_at: now,
            // The database's time, as enqueuePrepared, a microsecond apart: the order given, even if the
            // clock does not move between the rows of one statement.
            created_at: sql<Date>`clock_timestamp() + ${i}::int * interval '1 microsecond'`,
          })),
        )
        .onConflict((conflict) => conflict.column('idempotency_key').doNothing())
        .returning(['id', 'idempotency_key'])
        .execute();
      for (const row of inserted) created.set(row.idempotency_key, row.id);
    }
    const conflicting = [...new Set(prepared.map((mail) => mail.idempotencyKey))].filter(
      (key) => !created.has(key),
    );
    const existing = new Map<string, string>();
    for (let from = 0; from < conflicting.length; from += MESSAGES_PER_INSERT) {
      const rows = await db
        .selectFrom('mail_outbox')
        .select(['id', 'idempotency_key'])
        .where('idempotency_key', 'in', conflicting.slice(from, from + MESSAGES_PER_INSERT))
        .execute();
      for (const row of rows) existing.set(row.idempotency_key, row.id);
    }
    if (created.size > 0) for (const listener of this.listeners) listener();
    return prepared.map((mail) => {
      const id = created.get(mail.idempotencyKey);
      // Only the message inserted under a key is created; a repeat of its key in `prepared` is not.
      if (id === mail.id) return { id, created: true };
      const earlier = id ?? existing.get(mail.idempotencyKey);
      if (!earlier) throw new Error('An outbox message vanished while its idempotency key was in use');
      return { id: earlier, created: false };
    });
  }

  /**
   * Calls `listener` after each new message (once per call of `enqueuePreparedMany`), so a worker can start
   * at once instead of at its next poll.
   */
  onEnqueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * `(id, status)` of every message, as a sub-query to join in place of the table: a caller that keeps
   * message ids beside its own rows (incident notices, millions of them) reports their delivery in one
   * set-based query without naming this domain's table.
   */
  deliveryStates() {
    return this.db.selectFrom('mail_outbox').select(['id', 'status']);
  }

  /** Messages per status (for metrics: outbox depth and failures). */
  async countByStatus(): Promise<Partial<Record<MailStatus, number>>> {
    const rows = await this.db
      .selectFrom('mail_outbox')
      .select((eb) => ['status', eb.fn.countAll<string>().as('count')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
  }

  async status(id: string): Promise<MailStatusView | null> {
    const row = await this.db
      .selectFrom('mail_outbox')
      .select([
        'id',
        'template',
        'status',
        'attempts',
        'last_error',
        'next_attempt_at',
        'created_at',
        'sent_at',
      ])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    return {
      id: row.id,
      template: row.template,
      status: row.status,
      attempts: row.attempts,
      lastError: row.last_error,
      nextAttemptAt: row.next_attempt_at,
      createdAt: row.created_at,
      sentAt: row.sent_at,
    };
  }

  /**
   * Cancels and shreds every queued message sealed under `subject` (account deletion). A message already
   * being sent is left to finish: it cannot be called back from the relay anyway.
   */
  async cancelQueuedFor(subject: string, db: Db = this.db): Promise<number> {
    assertSubject(subject);
    const result = await db
      .updateTable('mail_outbox')
      .set({ status: 'cancelled', recipient: null, content: null, lease_until: null })
      .where('seal_subject', '=', subject)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * Whether sealed columns go to the database as hex text (decoded by it, in C): on PGlite, whose own
   * bytea conversion works byte by byte in JavaScript and costs more than the insert (as in key rotation);
   * not on PostgreSQL, where node-postgres sends a Buffer as it is. Asked once.
   */
  private byteaAsText(db: Db): Promise<boolean> {
    this.embedded ??= sql<{ embedded: boolean }>`select version() like '%PGlite%' as embedded`
      .execute(db)
      .then((result) => result.rows[0]?.embedded === true)
      .catch((error: unknown) => {
        this.embedded = undefined;
        throw error;
      });
    return this.embedded;
  }

  private async findByKey(idempotencyKey: string, db: Db = this.db): Promise<string | null> {
    const row = await db
      .selectFrom('mail_outbox')
      .select('id')
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
    return row?.id ?? null;
  }
}

function checkKey(idempotencyKey: string): void {
  if (!IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new RangeError(
      'An idempotency key is 1-200 characters of A-Z a-z 0-9 : . _ - (ids, never addresses)',
    );
  }
}
