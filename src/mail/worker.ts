import { sql } from 'kysely';
import { SealedFieldError } from '../crypto/errors.js';
import type { Sealer } from '../crypto/sealer.js';
import type { KeyVault } from '../crypto/vault.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/database.js';
import type { Outbox } from './outbox.js';
import { MAIL_SUBJECT_PREFIX, outboxField } from './outbox.js';
import type { RenderedMail } from './templates.js';
import { type MailTransport, type MailTransportError, toTransportError } from './transport.js';

/*
 * What is guaranteed ("a crash never sends twice or loses one"):
 *
 * - Never lost. A message is a committed row before enqueue returns. A worker claims it by setting
 *   status 'sending' with a lease; if the worker dies at any point before recording the outcome, the lease
 *   runs out and any worker claims it again. Only a recorded delivery, a permanent refusal or running out
 *   of attempts ends a message.
 * - Never sent twice, as far as SMTP allows. The one window is after the relay accepted the message (250)
 *   and before 'sent' is committed: a crash there means the message goes out again. Both copies carry the
 *   same Message-ID, derived from the outbox id, so a receiver that deduplicates on it (the catcher does,
 *   as do many relays and mailbox providers) keeps one. No protocol can close that window.
 * - A stale worker cannot overwrite a newer claim: every outcome is recorded only if the row is still
 *   'sending' with the attempt number this worker claimed (a fencing token).
 * - Claims use FOR UPDATE SKIP LOCKED, so several nodes can run workers on one database.
 * - Delivered, failed and cancelled messages are shredded: recipient and content set to null and a
 *   message's own `mail:<id>` key destroyed. A crash between the two leaves only an unused key.
 */

export interface MailWorkerOptions {
  db: Db;
  sealer: Sealer;
  vault: KeyVault;
  transport: MailTransport;
  /** The From header; its domain also names the Message-IDs. */
  from: string;
  /** When set, the worker starts at once when mail is enqueued instead of at its next poll. */
  outbox?: Outbox;
  /** Told of each message's outcome on this node (metrics). */
  onOutcome?: (outcome: MailOutcome) => void;
  logger?: Logger;
  clock?: () => Date;
  random?: () => number;
  /** Longer than the transport's worst case (its timeouts), so a slow send is not claimed twice. */
  leaseMs?: number;
  pollIntervalMs?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface MailRunCounts {
  sent: number;
  retried: number;
  failed: number;
  cancelled: number;
}

interface ClaimedMail {
  id: string;
  template: string;
  seal_subject: string;
  recipient: Buffer | null;
  content: Buffer | null;
  attempts: number;
}

export type MailOutcome = keyof MailRunCounts;
type Outcome = MailOutcome;

/** `<outbox-id@sender-domain>`: the same for every attempt of one message. */
export function messageIdFor(id: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'hearth.invalid';
  return `<${id}@${domain}>`;
}

/** Delivers the outbox: claims due messages, sends them, records the outcome and shreds what was sent. */
export class MailWorker {
  private readonly options: Required<
    Pick<MailWorkerOptions, 'leaseMs' | 'pollIntervalMs' | 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs'>
  >;
  private readonly clock: () => Date;
  private readonly random: () => number;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: MailWorkerOptions) {
    this.clock = deps.clock ?? (() => new Date());
    this.random = deps.random ?? Math.random;
    this.options = {
      leaseMs: deps.leaseMs ?? 5 * 60_000,
      pollIntervalMs: deps.pollIntervalMs ?? 5_000,
      maxAttempts: deps.maxAttempts ?? 8,
      baseDelayMs: deps.baseDelayMs ?? 30_000,
      maxDelayMs: deps.maxDelayMs ?? 60 * 60_000,
    };
  }

  get running(): boolean {
    return this.loop !== null;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.unsubscribe = this.deps.outbox?.onEnqueued(() => this.wake()) ?? null;
    this.loop = this.run();
  }

  /** Finishes the message being sent, then stops; nothing else is claimed. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.wake();
    await this.loop;
    this.loop = null;
    this.stopping = false;
  }

  /** Processes due messages one at a time until none is due, `limit` is reached or the worker stops. */
  async runOnce(limit = 100): Promise<MailRunCounts> {
    const counts: MailRunCounts = { sent: 0, retried: 0, failed: 0, cancelled: 0 };
    for (let done = 0; done < limit && !this.stopping; done++) {
      const claimed = await this.claim();
      if (!claimed) break;
      const outcome = await this.deliver(claimed);
      counts[outcome] += 1;
      this.deps.onOutcome?.(outcome);
    }
    return counts;
  }

  private wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.runOnce();
      } catch (error) {
        // The database may be briefly away; the next poll tries again.
        this.deps.logger?.error(
          { errorClass: (error as Error)?.constructor?.name },
          'mail worker pass failed',
        );
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollIntervalMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  /** Takes one due message, or one whose worker's lease ran out, and counts the attempt. */
  private async claim(): Promise<ClaimedMail | null> {
    const now = this.clock();
    const leaseUntil = new Date(now.getTime() + this.options.leaseMs);
    const { rows } = await sql<ClaimedMail>`
      update mail_outbox
      set status = 'sending', lease_until = ${leaseUntil}, attempts = attempts + 1
      where id = (
        select id from mail_outbox
        where (status = 'queued' and next_attempt_at <= ${now})
           or (status = 'sending' and lease_until < ${now})
        order by next_attempt_at, id
        limit 1
        for update skip locked
      )
      returning id, template, seal_subject, recipient, content, attempts`.execute(this.deps.db);
    const row = rows[0];
    if (!row) return null;
    // PGlite returns bytea as Uint8Array.
    return {
      ...row,
      recipient: row.recipient ? Buffer.from(row.recipient) : null,
      content: row.content ? Buffer.from(row.content) : null,
    };
  }

  private async deliver(mail: ClaimedMail): Promise<Outcome> {
    if (!mail.recipient || !mail.content) return this.finish(mail, 'cancelled', null);
    // Claims count as attempts, so a message whose sending keeps killing its worker ends here.
    if (mail.attempts > this.options.maxAttempts)
      return this.finish(mail, 'failed', 'too many interrupted attempts');
    let to: string;
    let content: RenderedMail;
    try {
      to = await this.deps.sealer.openString(
        mail.seal_subject,
        outboxField('recipient', mail.id),
        mail.recipient,
      );
      content = await this.deps.sealer.openJson(
        mail.seal_subject,
        outboxField('content', mail.id),
        mail.content,
      );
    } catch (error) {
      if (!(error instanceof SealedFieldError)) throw error;
      // The person was erased after the message was queued: it must not go out.
      if (error.reason === 'erased') return this.finish(mail, 'cancelled', null);
      return this.finish(mail, 'failed', 'sealed content does not open');
    }
    try {
      const messageId = messageIdFor(mail.id, this.deps.from);
      await this.deps.transport.send({ messageId, from: this.deps.from, to, ...content });
    } catch (error) {
      return this.recordFailure(mail, toTransportError(error));
    }
    return this.finish(mail, 'sent', null);
  }

  private async recordFailure(mail: ClaimedMail, error: MailTransportError): Promise<Outcome> {
    this.deps.logger?.warn(
      { mailId: mail.id, template: mail.template, attempts: mail.attempts, responseCode: error.responseCode },
      `mail delivery failed: ${error.reason}`,
    );
    // A permanent refusal (550 no such user) would be refused again; anything else is retried.
    if (error.permanent || mail.attempts >= this.options.maxAttempts) {
      return this.finish(mail, 'failed', error.message);
    }
    const now = this.clock();
    await this.deps.db
      .updateTable('mail_outbox')
      .set({
        status: 'queued',
        lease_until: null,
        last_error: error.message,
        next_attempt_at: new Date(now.getTime() + this.backoffMs(mail.attempts)),
      })
      .where('id', '=', mail.id)
      .where('status', '=', 'sending')
      .where('attempts', '=', mail.attempts)
      .execute();
    return 'retried';
  }

  /** Exponential, with half of it random so many messages failing together do not retry together. */
  private backoffMs(attempts: number): number {
    const exponential = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (attempts - 1));
    return Math.round(exponential / 2 + (this.random() * exponential) / 2);
  }

  /** Records a final outcome and shreds the message; `lastError` is a fixed text, never the relay's reply. */
  private async finish(mail: ClaimedMail, status: Exclude<Outcome, 'retried'>, lastError: string | null) {
    const now = this.clock();
    const result = await this.deps.db
      .updateTable('mail_outbox')
      .set({
        status,
        recipient: null,
        content: null,
        lease_until: null,
        last_error: lastError,
        ...(status === 'sent' ? { sent_at: now } : {}),
      })
      .where('id', '=', mail.id)
      .where('status', '=', 'sending')
      .where('attempts', '=', mail.attempts)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) {
      // Another worker took the message over after this one's lease ran out; its outcome counts.
      this.deps.logger?.warn({ mailId: mail.id }, 'mail outcome not recorded: the lease was taken over');
    } else if (mail.seal_subject.startsWith(MAIL_SUBJECT_PREFIX)) {
      await this.deps.vault.destroy(mail.seal_subject);
    }
    if (status === 'sent') {
      this.deps.logger?.info(
        { mailId: mail.id, template: mail.template, attempts: mail.attempts },
        'mail sent',
      );
    }
    return status;
  }
}
