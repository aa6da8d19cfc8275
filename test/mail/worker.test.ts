import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CatcherTransport, MailCatcher } from '../../src/mail/catcher.js';
import { type MailTransport, SmtpTransport } from '../../src/mail/transport.js';
import { MailWorker, type MailWorkerOptions, messageIdFor } from '../../src/mail/worker.js';
import { CapturingTransport } from '../helpers/mail.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';
import { type SmtpReceiver, startSmtpReceiver } from './smtp-receiver.js';

const to = 'grace.hopper@example.com';
const FROM = 'Hearth <no-reply@hearth.localhost>';

describe('the mail worker', () => {
  let services: TestServices;
  let offsetMs = 0;
  const stops: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await services.database.db.deleteFrom('mail_outbox').execute();
    offsetMs = 0;
  });
  afterAll(async () => {
    await services.close();
  });

  /** A worker on the test database with tiny delays and a clock the test moves forward. */
  function worker(transport: MailTransport, options: Partial<MailWorkerOptions> = {}): MailWorker {
    return new MailWorker({
      db: services.database.db,
      sealer: services.sealer,
      vault: services.vault,
      transport,
      from: FROM,
      clock: () => new Date(Date.now() + offsetMs),
      random: () => 1,
      baseDelayMs: 1_000,
      maxDelayMs: 60_000,
      maxAttempts: 5,
      ...options,
    });
  }

  async function receiver(refuse?: (attempt: number) => number | null): Promise<SmtpReceiver> {
    const started = await startSmtpReceiver(refuse);
    stops.push(() => started.close());
    return started;
  }

  const enqueue = (sealUnder?: string) =>
    services.mail.outbox.enqueue({
      to,
      template: 'password-reset',
      data: { name: 'Grace', link: 'https://hearth.example/reset?t=hth_rst_x', expiresInMinutes: 30 },
      idempotencyKey: `password-reset:${randomUUID()}`,
      ...(sealUnder ? { sealUnder } : {}),
    });

  async function row(id: string) {
    return services.database.db
      .selectFrom('mail_outbox')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  async function keyDestroyed(subject: string): Promise<boolean> {
    const keys = await services.database.db
      .selectFrom('key_vault')
      .select(['wrapped_dek', 'destroyed_at'])
      .where('subject', '=', subject)
      .execute();
    return keys.length > 0 && keys.every((key) => key.wrapped_dek === null && key.destroyed_at !== null);
  }

  it('retries after a temporary SMTP failure and delivers exactly once, then shreds the message', async () => {
    const smtp = await receiver((attempt) => (attempt === 1 ? 451 : null));
    const mailer = worker(new SmtpTransport({ url: smtp.url }));
    const { id } = await enqueue();

    expect(await mailer.runOnce()).toEqual({ sent: 0, retried: 1, failed: 0, cancelled: 0 });
    const retrying = await row(id);
    expect(retrying).toMatchObject({ status: 'queued', attempts: 1, lease_until: null });
    expect(retrying.last_error).toBe('SMTP 451: the relay refused the message for now');
    // random() = 1: the full first delay, base × 2^0.
    expect(retrying.next_attempt_at.getTime() - Date.now()).toBeGreaterThan(500);
    expect(await mailer.runOnce()).toEqual({ sent: 0, retried: 0, failed: 0, cancelled: 0 });

    offsetMs = 1_500;
    expect(await mailer.runOnce()).toEqual({ sent: 1, retried: 0, failed: 0, cancelled: 0 });
    expect(await mailer.runOnce()).toEqual({ sent: 0, retried: 0, failed: 0, cancelled: 0 });
    expect(smtp.attempts).toBe(2);
    expect(smtp.received).toHaveLength(1);
    expect(smtp.received[0]).toMatchObject({
      to: [to],
      subject: 'Reset your password',
      messageId: messageIdFor(id, FROM),
    });
    expect(smtp.received[0]?.messageId).toBe(`<${id}@hearth.localhost>`);
    expect(smtp.received[0]?.text).toContain('https://hearth.example/reset?t=hth_rst_x');

    const sent = await row(id);
    expect(sent).toMatchObject({
      status: 'sent',
      attempts: 2,
      recipient: null,
      content: null,
      last_error: null,
    });
    expect(sent.sent_at).toBeInstanceOf(Date);
    expect(await keyDestroyed(`mail:${id}`)).toBe(true);
  });

  it('fails a permanently refused message at once and shreds it', async () => {
    const smtp = await receiver(() => 550);
    const { id } = await enqueue();
    expect(await worker(new SmtpTransport({ url: smtp.url })).runOnce()).toMatchObject({ failed: 1 });
    expect(await row(id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: 'SMTP 550: the relay refused the message permanently',
      recipient: null,
      content: null,
    });
    expect(await keyDestroyed(`mail:${id}`)).toBe(true);
  });

  it('backs off exponentially and fails after the last allowed attempt', async () => {
    const smtp = await receiver(() => 421);
    const mailer = worker(new SmtpTransport({ url: smtp.url }), { maxAttempts: 3 });
    const { id } = await enqueue();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = Date.now() + offsetMs;
      await mailer.runOnce();
      const state = await row(id);
      if (state.status === 'queued') delays.push(state.next_attempt_at.getTime() - before);
      offsetMs += 10_000;
    }
    expect(delays[0]).toBeGreaterThanOrEqual(1_000);
    expect(delays[0]).toBeLessThan(1_500);
    expect(delays[1]).toBeGreaterThanOrEqual(2_000);
    expect(delays[1]).toBeLessThan(2_500);
    expect(await row(id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      last_error: expect.stringMatching(/^SMTP 421/),
    });
    expect(smtp.attempts).toBe(3);
    expect(smtp.received).toHaveLength(0);
  });

  it('never puts the recipient or the relay reply into last_error', async () => {
    const transport = new CapturingTransport();
    transport.failNext(
      Object.assign(new Error(`550 5.1.1 <${to}>: Recipient address rejected`), {
        code: 'EENVELOPE',
        responseCode: 550,
        response: `550 5.1.1 <${to}>: Recipient address rejected`,
        recipient: to,
      }),
    );
    const { id } = await enqueue();
    await worker(transport).runOnce();
    const failed = await row(id);
    expect(failed.last_error).toBe('SMTP 550: the relay refused the sender or recipient');
    expect(failed.last_error).not.toContain('example.com');
  });

  it('sends again a message left "sending" by a crashed worker, and the receiver keeps one copy', async () => {
    const catcher = new MailCatcher({ port: 0 });
    await catcher.start();
    stops.push(() => catcher.stop());
    const viaCatcher = new CatcherTransport(catcher);
    stops.push(async () => viaCatcher.close());
    // The first worker hands the message over, then "crashes": it never records the outcome.
    let resume!: () => void;
    const crashed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const crashing = worker(
      {
        send: async (mail) => {
          await viaCatcher.send(mail);
          await crashed;
        },
        close: () => {},
      },
      { leaseMs: 60_000 },
    );
    const { id } = await enqueue();
    const firstRun = crashing.runOnce();
    await expect.poll(() => catcher.list({ limit: 10 }).messages.length).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'sending', attempts: 1 });

    // Before the lease runs out nobody else takes it; after, another worker does.
    const rescuer = worker(viaCatcher);
    expect(await rescuer.runOnce()).toMatchObject({ sent: 0 });
    offsetMs = 61_000;
    expect(await rescuer.runOnce()).toMatchObject({ sent: 1 });
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 2, content: null });
    expect(catcher.list({ limit: 10 }).messages).toHaveLength(1);

    // The first worker wakes up late: its stale claim cannot overwrite the outcome.
    resume();
    await firstRun;
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('shares the outbox between several workers without sending any message twice', async () => {
    const ids = new Set<string>();
    for (let n = 0; n < 20; n++) ids.add((await enqueue()).id);
    const transports = [new CapturingTransport(), new CapturingTransport(), new CapturingTransport()];
    const counts = await Promise.all(transports.map((transport) => worker(transport).runOnce()));
    expect(counts.reduce((sum, count) => sum + count.sent, 0)).toBe(20);
    const sent = transports.flatMap((transport) => transport.sent.map((mail) => mail.messageId));
    expect(new Set(sent).size).toBe(20);
    expect(new Set(sent)).toEqual(new Set([...ids].map((id) => messageIdFor(id, FROM))));
  });

  it('gives up on a message whose sending keeps interrupting its worker', async () => {
    const transport = new CapturingTransport();
    const { id } = await enqueue();
    // Earlier tests' retries may come due in a slow run; this test is about its own message only.
    await services.database.db
      .updateTable('mail_outbox')
      .set({ status: 'cancelled' })
      .where('id', '!=', id)
      .where('status', 'in', ['queued', 'sending'])
      .execute();
    // As a worker that died mid-send on its last allowed attempt leaves it.
    await services.database.db
      .updateTable('mail_outbox')
      .set({ status: 'sending', attempts: 2, lease_until: new Date(Date.now() - 1_000) })
      .where('id', '=', id)
      .execute();
    expect(await worker(transport, { maxAttempts: 2 }).runOnce()).toMatchObject({ failed: 1 });
    expect(transport.sent).toHaveLength(0);
    expect(await row(id)).toMatchObject({
      status: 'failed',
      attempts: 3,
      last_error: 'too many interrupted attempts',
      content: null,
    });
  });

  it('cancels a message whose subject was erased, without sending it', async () => {
    const transport = new CapturingTransport();
    const user = `user:${randomUUID()}`;
    const { id } = await enqueue(user);
    await services.vault.destroy(user);
    expect(await worker(transport).runOnce()).toEqual({ sent: 0, retried: 0, failed: 0, cancelled: 1 });
    expect(transport.sent).toHaveLength(0);
    expect(await row(id)).toMatchObject({ status: 'cancelled', recipient: null, content: null });
  });

  it('starts at once on enqueue, and stop() finishes the message in flight', async () => {
    const transport = new CapturingTransport();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let sending = false;
    const mailer = worker(
      {
        send: async (mail) => {
          sending = true;
          await gate;
          await transport.send(mail);
        },
        close: () => {},
      },
      { pollIntervalMs: 60_000, outbox: services.mail.outbox },
    );
    mailer.start();
    stops.push(() => mailer.stop());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { id } = await enqueue();
    await expect.poll(() => sending).toBe(true);
    const stopped = mailer.stop();
    release();
    await stopped;
    expect(mailer.running).toBe(false);
    expect(transport.sent).toHaveLength(1);
    expect(await row(id)).toMatchObject({ status: 'sent' });

    // Stopped means stopped: new mail waits in the outbox.
    const { id: later } = await enqueue();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await row(later)).toMatchObject({ status: 'queued', attempts: 0 });
  });
});
