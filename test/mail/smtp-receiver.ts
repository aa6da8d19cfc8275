import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  messageId: string | null;
  to: string[];
  subject: string;
  text: string;
}

export interface SmtpReceiver {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** How many messages reached DATA, refused or not. */
  attempts: number;
  close(): Promise<void>;
}

/**
 * A real SMTP server on a free loopback port. `refuse(attempt)` returns a reply code to refuse the
 * attempt-th message with (1-based), or null to accept it.
 */
export async function startSmtpReceiver(refuse: (attempt: number) => number | null = () => null) {
  const receiver: SmtpReceiver = { port: 0, url: '', received: [], attempts: 0, close: async () => {} };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    onData(stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        receiver.attempts += 1;
        const code = refuse(receiver.attempts);
        if (code !== null) {
          callback(Object.assign(new Error(`refused by the test (${code})`), { responseCode: code }));
          return;
        }
        receiver.received.push({
          messageId: parsed.messageId ?? null,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
        });
        callback();
      }, callback);
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  receiver.port = typeof address === 'object' && address ? address.port : 0;
  receiver.url = `smtp://127.0.0.1:${receiver.port}`;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver;
}
