import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { MailTransportError, SmtpTransport, toTransportError } from '../../src/mail/transport.js';

const to = 'ada@example.com';

describe('SMTP failures as the outbox records them', () => {
  it.each([
    [{ code: 'EMESSAGE', responseCode: 451 }, 'SMTP 451: the relay refused the message for now', false],
    [{ code: 'EMESSAGE', responseCode: 554 }, 'SMTP 554: the relay refused the message permanently', true],
    [{ code: 'EENVELOPE', responseCode: 550 }, 'SMTP 550: the relay refused the sender or recipient', true],
    [{ code: 'EENVELOPE', responseCode: 503 }, 'SMTP 503: the relay refused the sender or recipient', false],
    [{ code: 'EAUTH', responseCode: 535 }, 'SMTP 535: the relay refused the credentials', false],
    [{ code: 'ETIMEDOUT' }, 'the relay did not answer in time', false],
    [{}, 'the message could not be handed to the relay', false],
  ])('%o → "%s", permanent: %s', (fields, message, permanent) => {
    const thrown = Object.assign(new Error(`refused <${to}>`), fields, {
      response: `550 <${to}> unknown`,
      recipient: to,
    });
    const error = toTransportError(thrown);
    expect(error).toBeInstanceOf(MailTransportError);
    expect(error.message).toBe(message);
    expect(error.permanent).toBe(permanent);
  });

  it('reports an unreachable relay as a temporary failure without its address', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const transport = new SmtpTransport({ url: `smtp://user:s3cret@127.0.0.1:${port}` });
    const failure = transport.send({
      messageId: '<x@hearth.localhost>',
      from: 'no-reply@hearth.localhost',
      to,
      subject: 's',
      text: 't',
      html: '<p>h</p>',
    });
    await expect(failure).rejects.toMatchObject({ permanent: false, responseCode: null });
    await expect(failure).rejects.toThrow(/^the (relay could not be reached|connection to the relay closed)/);
  });
});
