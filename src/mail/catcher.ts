import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type AddressObject, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { type MailTransport, MailTransportError, type OutgoingMail, SmtpTransport } from './transport.js';

export interface CaughtMail {
  /** Increasing with each message caught; also the pagination cursor. */
  id: number;
  messageId: string | null;
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string | null;
  receivedAt: Date;
}

export interface MailCatcherOptions {
  /** 0 picks any free port; `port` tells which once started. */
  port: number;
  /** How many messages are kept; older ones are dropped. */
  capacity?: number;
  clock?: () => Date;
}

/** The catcher could not start; the message says which setting to change. */
export class MailCatcherStartError extends Error {
  override name = 'MailCatcherStartError';
}

const HOST = '127.0.0.1';
const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

function equalSecret(given: string | null | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  return [field ?? []]
    .flat()
    .flatMap((object) => object.value)
    .map((entry) => entry.address ?? '')
    .filter(Boolean);
}

/**
 * A development SMTP server on 127.0.0.1 that keeps what it receives in memory instead of delivering it, so
 * a newcomer can open the links Hearth mails. It requires AUTH with credentials made at each start: nothing
 * on the machine can use it as an open relay or fill it without them.
 */
export class MailCatcher {
  private readonly requestedPort: number;
  private readonly capacity: number;
  private readonly clock: () => Date;
  private readonly messages: CaughtMail[] = [];
  private readonly messageIds = new Set<string>();
  private nextId = 1;
  private server: SMTPServer | null = null;
  private listeningPort: number | null = null;
  readonly credentials = { user: 'hearth', pass: randomBytes(24).toString('base64url') };

  constructor(options: MailCatcherOptions) {
    this.requestedPort = options.port;
    this.capacity = options.capacity ?? 500;
    this.clock = options.clock ?? (() => new Date());
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** The port it listens on; only known once started. */
  get port(): number {
    if (this.listeningPort === null) throw new Error('The mail catcher has not been started');
    return this.listeningPort;
  }

  /** Where the catcher transport sends, credentials included; never log it. */
  get smtpUrl(): string {
    return `smtp://${this.credentials.user}:${this.credentials.pass}@${HOST}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    this.credentials.pass = randomBytes(24).toString('base64url');
    const server = new SMTPServer({
      // Plain SMTP on loopback: STARTTLS would only offer smtp-server's published test certificate.
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      size: MAX_MESSAGE_BYTES,
      logger: false,
      // Loopback only: asking DNS who 127.0.0.1 is costs time and tells nothing.
      disableReverseLookup: true,
      banner: 'Hearth mail catcher',
      onAuth: (auth, _session, callback) => {
        const valid =
          equalSecret(auth.username, this.credentials.user) &&
          equalSecret(auth.password, this.credentials.pass);
        if (valid) callback(null, { user: 'hearth' });
        else callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 }));
      },
      onData: (stream, _session, callback) => {
        this.receive(stream).then(
          () => callback(),
          (error: Error) => callback(error),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => reject(this.startError(error));
      server.once('error', onError);
      server.listen(this.requestedPort, HOST, () => {
        server.off('error', onError);
        resolve();
      });
    });
    // Client connection errors (a peer that hangs up) arrive here; without a listener they would crash.
    server.on('error', () => {});
    const address = server.server.address();
    this.listeningPort = typeof address === 'object' && address !== null ? address.port : this.requestedPort;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.listeningPort = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Newest first; `before` is the id of the last message of the previous page. */
  list(options: { limit: number; before?: number }): { messages: CaughtMail[]; nextCursor: number | null } {
    const older = this.messages.filter((mail) => options.before === undefined || mail.id < options.before);
    const page = older.reverse().slice(0, options.limit);
    const last = page.at(-1);
    const more = last !== undefined && this.messages.some((mail) => mail.id < last.id);
    return { messages: page, nextCursor: more ? last.id : null };
  }

  get(id: number): CaughtMail | null {
    return this.messages.find((mail) => mail.id === id) ?? null;
  }

  private async receive(stream: SMTPServerDataStream): Promise<void> {
    const parsed = await simpleParser(stream);
    if (stream.sizeExceeded) {
      throw Object.assign(new Error('Message too large'), { responseCode: 552 });
    }
    const messageId = parsed.messageId ?? null;
    // The outbox may re-send after a crash between sending and recording it; the copy carries the same id.
    if (messageId !== null && this.messageIds.has(messageId)) return;
    this.messages.push({
      id: this.nextId++,
      messageId,
      from: addresses(parsed.from).join(', '),
      to: addresses(parsed.to),
      subject: parsed.subject ?? '',
      text: parsed.text ?? '',
      html: typeof parsed.html === 'string' ? parsed.html : null,
      receivedAt: this.clock(),
    });
    if (messageId !== null) this.messageIds.add(messageId);
    while (this.messages.length > this.capacity) {
      const dropped = this.messages.shift();
      if (dropped?.messageId) this.messageIds.delete(dropped.messageId);
    }
  }

  private startError(error: NodeJS.ErrnoException): Error {
    if (error.code === 'EADDRINUSE') {
      return new MailCatcherStartError(
        `Port ${this.requestedPort} on ${HOST} is already in use, so the mail catcher cannot start; set MAIL_CATCHER_PORT to a free port (0 for any) or SMTP_URL to send through a relay`,
      );
    }
    if (error.code === 'EACCES') {
      return new MailCatcherStartError(
        `Port ${this.requestedPort} needs more privileges; set MAIL_CATCHER_PORT to 1024 or above (0 for any free port)`,
      );
    }
    return error;
  }
}

/** Nodemailer pointed at the catcher, with the credentials of its current run. */
export class CatcherTransport implements MailTransport {
  private transport: SmtpTransport | null = null;
  private url: string | null = null;

  constructor(private readonly catcher: MailCatcher) {}

  async send(mail: OutgoingMail): Promise<void> {
    if (!this.catcher.running) {
      throw new MailTransportError('the mail catcher is not running');
    }
    // A restarted catcher has a new port and password.
    if (this.url !== this.catcher.smtpUrl) {
      this.transport?.close();
      this.url = this.catcher.smtpUrl;
      this.transport = new SmtpTransport({ url: this.url, timeoutMs: 10_000 });
    }
    await (this.transport as SmtpTransport).send(mail);
  }

  close(): void {
    this.transport?.close();
    this.transport = null;
    this.url = null;
  }
}
