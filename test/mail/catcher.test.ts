import net from 'node:net';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { CatcherTransport, MailCatcher, MailCatcherStartError } from '../../src/mail/catcher.js';
import { MailTransportError, type OutgoingMail } from '../../src/mail/transport.js';

const mail = (n: number, messageId = `<m${n}@hearth.localhost>`): OutgoingMail => ({
  messageId,
  from: 'Hearth <no-reply@hearth.localhost>',
  to: 'ada@example.com',
  subject: `Message ${n}`,
  text: `Open https://hearth.example/verify?n=${n} to continue.`,
  html: `<p>Open <a href="https://hearth.example/verify?n=${n}">this</a>.</p>`,
});

describe('the mail catcher', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function started(options: { port?: number; capacity?: number } = {}) {
    const catcher = new MailCatcher({ port: options.port ?? 0, capacity: options.capacity ?? 500 });
    await catcher.start();
    const transport = new CatcherTransport(catcher);
    stops.push(async () => {
      transport.close();
      await catcher.stop();
    });
    return { catcher, transport };
  }

  it('keeps what it receives, newest first, parsed', async () => {
    const { catcher, transport } = await started();
    expect(catcher.port).toBeGreaterThan(0);
    await transport.send(mail(1));
    await transport.send(mail(2));
    const { messages, nextCursor } = catcher.list({ limit: 10 });
    expect(messages.map((message) => message.subject)).toEqual(['Message 2', 'Message 1']);
    expect(nextCursor).toBeNull();
    expect(messages[1]).toMatchObject({
      messageId: '<m1@hearth.localhost>',
      from: 'no-reply@hearth.localhost',
      to: ['ada@example.com'],
      text: 'Open https://hearth.example/verify?n=1 to continue.',
    });
    expect(messages[1]?.html).toContain('href="https://hearth.example/verify?n=1"');
    expect(catcher.get(messages[1]?.id as number)?.subject).toBe('Message 1');
  });

  it('refuses SMTP without its credentials, so nothing on the machine can use it unauthenticated', async () => {
    const { catcher } = await started();
    const anonymous = nodemailer.createTransport({ host: '127.0.0.1', port: catcher.port, ignoreTLS: true });
    await expect(anonymous.sendMail(mail(1))).rejects.toMatchObject({ responseCode: 530 });
    const guessing = nodemailer.createTransport({
      host: '127.0.0.1',
      port: catcher.port,
      auth: { user: 'hearth', pass: 'guess' },
    });
    await expect(guessing.sendMail(mail(1))).rejects.toMatchObject({ responseCode: 535 });
    expect(catcher.list({ limit: 10 }).messages).toHaveLength(0);
  });

  it('drops a copy with a Message-ID it already holds', async () => {
    const { catcher, transport } = await started();
    await transport.send(mail(1));
    await transport.send(mail(1));
    await transport.send(mail(2, '<m1@hearth.localhost>'));
    expect(catcher.list({ limit: 10 }).messages).toHaveLength(1);
  });

  it('keeps only the newest messages and pages through them', async () => {
    const { catcher, transport } = await started({ capacity: 3 });
    for (let n = 1; n <= 5; n++) await transport.send(mail(n));
    const first = catcher.list({ limit: 2 });
    expect(first.messages.map((message) => message.subject)).toEqual(['Message 5', 'Message 4']);
    const second = catcher.list({ limit: 2, before: first.nextCursor as number });
    expect(second).toMatchObject({ messages: [{ subject: 'Message 3' }], nextCursor: null });
    // An evicted id may arrive again and is kept again.
    await transport.send(mail(1));
    expect(catcher.list({ limit: 1 }).messages[0]?.subject).toBe('Message 1');
  });

  it('stops start-up with one line naming MAIL_CATCHER_PORT when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as net.AddressInfo).port;
    const catcher = new MailCatcher({ port });
    const start = catcher.start();
    await expect(start).rejects.toBeInstanceOf(MailCatcherStartError);
    await expect(start).rejects.toThrow(
      `Port ${port} on 127.0.0.1 is already in use, so the mail catcher cannot start; set MAIL_CATCHER_PORT to a free port (0 for any) or SMTP_URL to send through a relay`,
    );
    expect(catcher.running).toBe(false);
  });

  it('makes new credentials on each start, and its transport follows them', async () => {
    const { catcher, transport } = await started();
    const before = catcher.smtpUrl;
    await transport.send(mail(1));
    await catcher.stop();
    await expect(transport.send(mail(2))).rejects.toBeInstanceOf(MailTransportError);
    await catcher.start();
    expect(catcher.smtpUrl).not.toBe(before);
    await transport.send(mail(3));
    expect(catcher.list({ limit: 10 }).messages.map((message) => message.subject)).toContain('Message 3');
  });
});
