import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { messageSubject } from '../../src/mail/outbox.js';
import { MailTemplateError } from '../../src/mail/templates.js';
import { queuedMail } from '../helpers/mail.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const to = 'ada.lovelace@example.com';
const link = 'https://hearth.example/verify?token=hth_vfy_secret123';

describe('the mail outbox', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterEach(async () => {
    await services.database.db.deleteFrom('mail_outbox').execute();
  });
  afterAll(async () => {
    await services.close();
  });

  const verify = (idempotencyKey: string, extra: { sealUnder?: string; to?: string } = {}) => ({
    to,
    template: 'verify-email' as const,
    data: { name: 'Ada Lovelace', link },
    idempotencyKey,
    ...extra,
  });

  it('keeps one message per idempotency key, even when enqueued twice at once', async () => {
    const first = await services.mail.outbox.enqueue(verify('verify-email:u1:t1'));
    const again = await services.mail.outbox.enqueue({
      ...verify('verify-email:u1:t1'),
      to: 'other@example.com',
    });
    expect(first.created).toBe(true);
    expect(again).toEqual({ id: first.id, created: false });

    const racing = await Promise.all([
      services.mail.outbox.enqueue(verify('verify-email:u2:t1')),
      services.mail.outbox.enqueue(verify('verify-email:u2:t1')),
    ]);
    expect(racing[0].id).toBe(racing[1].id);
    expect(racing.filter((result) => result.created)).toHaveLength(1);

    const mail = await queuedMail(services);
    expect(mail.map((message) => message.id)).toEqual([first.id, racing[0].id]);
    expect(mail[0]).toMatchObject({ to, template: 'verify-email', status: 'queued' });
    expect(mail[0]?.subject).toBe('Confirm your e-mail address');
    expect(mail[0]?.text).toContain(link);
  });

  it('stores neither the recipient nor the content in clear', async () => {
    const { id } = await services.mail.outbox.enqueue(verify('verify-email:u1:t1'));
    const { rows } = await sql<{ row: string }>`select t::text as row from mail_outbox t`.execute(
      services.database.db,
    );
    const raw = rows[0]?.row ?? '';
    expect(raw).toContain(id);
    for (const secret of [to, 'Ada Lovelace', 'hth_vfy_secret123', 'Confirm your']) {
      expect(raw).not.toContain(secret);
      expect(raw).not.toContain(Buffer.from(secret).toString('hex'));
    }
    const row = await services.database.db
      .selectFrom('mail_outbox')
      .select('seal_subject')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.seal_subject).toBe(messageSubject(id));
  });

  it('reports status without any personal data', async () => {
    const { id } = await services.mail.outbox.enqueue(verify('verify-email:u1:t1'));
    const status = await services.mail.outbox.status(id);
    expect(status).toMatchObject({
      id,
      template: 'verify-email',
      status: 'queued',
      attempts: 0,
      lastError: null,
    });
    expect(JSON.stringify(status)).not.toMatch(/ada|Ada|hth_/);
    expect(await services.mail.outbox.status(randomUUID())).toBeNull();
  });

  it('cancels and shreds the queued mail of one subject only', async () => {
    const user = `user:${randomUUID()}`;
    const other = `user:${randomUUID()}`;
    const mine = await services.mail.outbox.enqueue(verify('a', { sealUnder: user }));
    const theirs = await services.mail.outbox.enqueue(verify('b', { sealUnder: other }));
    expect(await services.mail.outbox.cancelQueuedFor(user)).toBe(1);
    expect(await services.mail.outbox.cancelQueuedFor(user)).toBe(0);
    const mail = await queuedMail(services);
    expect(mail.find((message) => message.id === mine.id)).toMatchObject({ status: 'cancelled', to: null });
    expect(mail.find((message) => message.id === theirs.id)).toMatchObject({ status: 'queued', to });
  });

  it('enqueues inside a caller transaction, sealed beforehand, and rolls back with it', async () => {
    const { outbox } = services.mail;
    const kept = await outbox.prepare(verify('kept'));
    const alsoKept = await outbox.prepare(verify('also-kept'));
    const dropped = await outbox.prepare(verify('dropped'));
    await services.database.db.transaction().execute(async (trx) => {
      await outbox.enqueuePrepared(kept, trx);
      await outbox.enqueuePrepared(alsoKept, trx);
    });
    await expect(
      services.database.db.transaction().execute(async (trx) => {
        await outbox.enqueuePrepared(dropped, trx);
        throw new Error('the caller failed');
      }),
    ).rejects.toThrow('the caller failed');
    // In the order enqueued, even within one transaction.
    expect((await queuedMail(services)).map((message) => message.id)).toEqual([kept.id, alsoKept.id]);
  });

  it('enqueues many in one go: conflicting keys give the existing ids, in the order given', async () => {
    const { outbox } = services.mail;
    const earlier = await outbox.enqueue(verify('many:b'));
    const batch = [
      await outbox.prepare(verify('many:a')),
      await outbox.prepare(verify('many:b', { to: 'other@example.com' })),
      await outbox.prepare(verify('many:c')),
      // The same key twice in one call: one message, the first.
      await outbox.prepare(verify('many:a', { to: 'other@example.com' })),
    ];
    let woken = 0;
    const unsubscribe = outbox.onEnqueued(() => woken++);
    const results = await services.database.db
      .transaction()
      .execute((trx) => outbox.enqueuePreparedMany(batch, trx));
    unsubscribe();
    expect(results).toEqual([
      { id: batch[0]?.id, created: true },
      { id: earlier.id, created: false },
      { id: batch[2]?.id, created: true },
      { id: batch[0]?.id, created: false },
    ]);
    expect(woken).toBe(1);
    const mail = await queuedMail(services);
    expect(mail.map((message) => message.id)).toEqual([earlier.id, batch[0]?.id, batch[2]?.id]);
    expect(mail.map((message) => message.to)).toEqual([to, to, to]);

    // A re-run inserts nothing and finds every message.
    const again = await outbox.enqueuePreparedMany([
      await outbox.prepare(verify('many:c')),
      await outbox.prepare(verify('many:a')),
    ]);
    expect(again).toEqual([
      { id: batch[2]?.id, created: false },
      { id: batch[0]?.id, created: false },
    ]);
    expect(await outbox.enqueuePreparedMany([])).toEqual([]);
    expect(await queuedMail(services)).toHaveLength(3);
  });

  it('enqueues many inside a caller transaction, and rolls back with it', async () => {
    const { outbox } = services.mail;
    const dropped = [await outbox.prepare(verify('gone:1')), await outbox.prepare(verify('gone:2'))];
    await expect(
      services.database.db.transaction().execute(async (trx) => {
        await outbox.enqueuePreparedMany(dropped, trx);
        throw new Error('the caller failed');
      }),
    ).rejects.toThrow('the caller failed');
    expect(await queuedMail(services)).toEqual([]);
  });

  it('refuses bad input before anything is stored, without quoting it', async () => {
    const { outbox } = services.mail;
    await expect(outbox.enqueue({ ...verify('x'), data: { name: 'Ada' } } as never)).rejects.toBeInstanceOf(
      MailTemplateError,
    );
    await expect(outbox.enqueue(verify(`verify:${to}`))).rejects.toThrow(/idempotency key/);
    await expect(outbox.enqueue(verify(`verify:${to}`))).rejects.not.toThrow(to);
    await expect(outbox.enqueue(verify('x', { to: 'not an address' }))).rejects.toThrow(
      'The recipient is not an e-mail address',
    );
    await expect(outbox.enqueue(verify('x', { sealUnder: 'mail:abc' }))).rejects.toThrow(/sealUnder/);
    expect(await queuedMail(services)).toEqual([]);
  });
});
