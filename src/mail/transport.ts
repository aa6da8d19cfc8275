import nodemailer, { type NodemailerError } from 'nodemailer';

/** One rendered message as handed to a transport; the only place a recipient exists in clear. */
export interface OutgoingMail {
  /** Deterministic per outbox message, so a receiver can drop a copy re-sent after a crash. */
  messageId: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Delivers one message or throws a MailTransportError; the worker owns retries. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/**
 * Why a delivery failed, in terms safe to store and log: the SMTP reply code and a fixed reason. The relay's
 * own reply text is dropped, since relays quote the recipient in it.
 */
export class MailTransportError extends Error {
  override name = 'MailTransportError';
  readonly responseCode: number | null;
  /** True when the relay refused this message for good (5xx); retrying would get the same answer. */
  readonly permanent: boolean;
  readonly reason: string;

  constructor(reason: string, options: { responseCode?: number | null; permanent?: boolean } = {}) {
    const responseCode = options.responseCode ?? null;
    super(responseCode === null ? reason : `SMTP ${responseCode}: ${reason}`);
    this.responseCode = responseCode;
    this.permanent = options.permanent ?? false;
    this.reason = reason;
  }
}

/** Nodemailer's error codes as fixed reasons; none of them quotes the message or the recipient. */
const REASONS: Record<string, string> = {
  ECONNECTION: 'the connection to the relay closed unexpectedly',
  ETIMEDOUT: 'the relay did not answer in time',
  ESOCKET: 'the relay could not be reached',
  EDNS: 'the relay host name did not resolve',
  ETLS: 'TLS with the relay failed',
  EAUTH: 'the relay refused the credentials',
  ENOAUTH: 'the relay needs credentials',
  EENVELOPE: 'the relay refused the sender or recipient',
  EMESSAGE: 'the relay refused the message',
  EPROTOCOL: 'the relay answered outside the SMTP protocol',
};

/** Maps whatever nodemailer threw to a MailTransportError with nothing personal in it. */
export function toTransportError(error: unknown): MailTransportError {
  if (error instanceof MailTransportError) return error;
  const failure = (error ?? {}) as NodemailerError;
  const code = typeof failure.code === 'string' ? failure.code : '';
  const responseCode = typeof failure.responseCode === 'number' ? failure.responseCode : null;
  // Credentials are a configuration problem, not this message's: retried like a temporary failure.
  const credentials = code === 'EAUTH' || code === 'ENOAUTH';
  const permanent = !credentials && responseCode !== null && responseCode >= 500 && responseCode !== 503;
  const byReply = permanent
    ? 'the relay refused the message permanently'
    : 'the relay refused the message for now';
  // Which step failed says more than the code for envelopes and credentials; for DATA, the reply class does.
  const reason =
    (code === 'EMESSAGE' && responseCode !== null ? byReply : REASONS[code]) ??
    (responseCode === null ? 'the message could not be handed to the relay' : byReply);
  return new MailTransportError(reason, { responseCode, permanent });
}

export interface SmtpTransportOptions {
  /** An smtp:// or smtps:// URL, credentials included. */
  url: string;
  /** Per-connection limits, so a silent relay cannot hold the worker for minutes. */
  timeoutMs?: number;
}

/** Delivers through an SMTP relay, one connection per message (the outbox rate is low). */
export class SmtpTransport implements MailTransport {
  private readonly transporter: ReturnType<typeof nodemailer.createTransport>;

  constructor(options: SmtpTransportOptions) {
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.transporter = nodemailer.createTransport({
      // Nodemailer reads host, port, TLS and credentials from the URL, and further options from its query.
      url: options.url,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      // Nodemailer must not log: its debug output quotes envelopes.
      logger: false,
      debug: false,
    });
  }

  async send(mail: OutgoingMail): Promise<void> {
    try {
      await this.transporter.sendMail({
        messageId: mail.messageId,
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    } catch (error) {
      throw toTransportError(error);
    }
  }

  close(): void {
    this.transporter.close();
  }
}
