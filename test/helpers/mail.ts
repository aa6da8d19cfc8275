import type { Services } from '../../src/app.js';
import { SealedFieldError } from '../../src/crypto/errors.js';
import type { MailTransport, OutgoingMail } from '../../src/mail/transport.js';
import type { MailStatus } from '../../src/store/types.js';

export interface QueuedMail {
  id: string;
  /** Null once the message was delivered or cancelled: recipient and content are shredded then. */
  to: string | null;
  template: string;
  subject: string | null;
  text: string | null;
  html: string | null;
  status: MailStatus;
}

/**
 * The outbox as a test sees it, sealed columns opened, oldest first. With `to`, only messages to that
 * address (which excludes delivered ones, whose recipient is gone). A message sealed under an erased
 * subject shows null recipient and content.
 */
export async function queuedMail(services: Services, to?: string): Promise<QueuedMail[]> {
  const rows = await services.database.db
    .selectFrom('mail_outbox')
    .selectAll()
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
  const mail: QueuedMail[] = [];
  for (const row of rows) {
    const field = (column: string) => ({ table: 'mail_outbox', column, rowId: row.id });
    const recipient = row.recipient
      ? await openOrNull(() =>
          services.sealer.openString(
            row.seal_subject,
            field('recipient'),
            Buffer.from(row.recipient as Buffer),
          ),
        )
      : null;
    const content = row.content
      ? await openOrNull(() =>
          services.sealer.openJson<{ subject: string; text: string; html: string }>(
            row.seal_subject,
            field('content'),
            Buffer.from(row.content as Buffer),
          ),
        )
      : null;
    mail.push({
      id: row.id,
      to: recipient,
      template: row.template,
      subject: content?.subject ?? null,
      text: content?.text ?? null,
      html: content?.html ?? null,
      status: row.status,
    });
  }
  return to === undefined ? mail : mail.filter((message) => message.to === to);
}

async function openOrNull<T>(open: () => Promise<T>): Promise<T | null> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof SealedFieldError && error.reason === 'erased') return null;
    throw error;
  }
}

/** The first http(s) URL in a text, e.g. the verification link of a message. */
export function linkIn(text: string | null): string {
  const match = /https?:\/\/[^\s<>"')]+/.exec(text ?? '');
  if (!match) throw new Error('No link in this text');
  return match[0];
}

/** A transport that keeps what it is given; `failNext` makes the next sends throw. */
export class CapturingTransport implements MailTransport {
  readonly sent: OutgoingMail[] = [];
  private failures: Error[] = [];

  failNext(...errors: Error[]): void {
    this.failures.push(...errors);
  }

  async send(mail: OutgoingMail): Promise<void> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.sent.push(mail);
  }

  close(): void {}
}
