import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestServices, type TestServices } from '../helpers/services.js';

describe('audit log', () => {
  let services: TestServices;
  beforeEach(async () => {
    services = await buildTestServices();
    for (const [i, action] of [
      'account.create',
      'session.login',
      'mfa.enable',
      'session.revoke',
      'account.export',
    ].entries()) {
      await services.audit.append({
        actor: `user:${i}`,
        action,
        target: `user:${i}`,
        details: { email: `person${i}@example.com` },
        detailsSubject: `user:${i}`,
      });
    }
  });
  afterEach(() => services.close());

  /** Tampering takes deliberate DDL: the table refuses updates and deletes. */
  async function tamper(statement: ReturnType<typeof sql>) {
    await sql`alter table audit_log disable trigger audit_log_append_only`.execute(services.database.db);
    await statement.execute(services.database.db);
    await sql`alter table audit_log enable trigger audit_log_append_only`.execute(services.database.db);
  }

  it('verifies an intact chain and counts its entries', async () => {
    expect(await services.audit.verify()).toMatchObject({ ok: true, count: 5 });
    expect(await services.audit.verify({ batchSize: 2 })).toMatchObject({ ok: true, count: 5 });
  });

  it('seals details and keeps personal values out of the table', async () => {
    const rows = await services.database.db.selectFrom('audit_log').selectAll().execute();
    for (const row of rows) expect(JSON.stringify(row)).not.toMatch(/example\.com/);
    const [newest] = await services.audit.list({ limit: 1 });
    expect(newest).toMatchObject({
      seq: 5,
      action: 'account.export',
      details: { email: 'person4@example.com' },
    });
  });

  it('refuses updates and deletes in the database itself', async () => {
    await expect(sql`update audit_log set action = 'x'`.execute(services.database.db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`delete from audit_log`.execute(services.database.db)).rejects.toThrow(/append-only/);
  });

  it('detects an edited entry', async () => {
    await tamper(sql`update audit_log set action = 'session.logout' where seq = 3`);
    expect(await services.audit.verify()).toEqual({
      ok: false,
      count: 2,
      firstBadSeq: 3,
      problem: 'entry 3 was altered',
    });
  });

  it('detects edited sealed details and an edited time', async () => {
    await tamper(
      sql`update audit_log set details = (select details from audit_log where seq = 1) where seq = 2`,
    );
    expect(await services.audit.verify()).toMatchObject({ ok: false, firstBadSeq: 2 });
  });

  it('detects a deleted entry', async () => {
    await tamper(sql`delete from audit_log where seq = 2`);
    expect(await services.audit.verify()).toMatchObject({
      ok: false,
      count: 1,
      firstBadSeq: 2,
      problem: 'entry 2 is missing',
    });
  });

  it('detects a deleted entry whose successors were renumbered', async () => {
    await tamper(sql`delete from audit_log where seq = 2`);
    await tamper(sql`update audit_log set seq = seq - 1 where seq > 2`);
    expect(await services.audit.verify()).toMatchObject({
      ok: false,
      firstBadSeq: 2,
      problem: expect.stringMatching(/does not follow/),
    });
  });

  it('detects two swapped entries', async () => {
    await tamper(sql`update audit_log set seq = -2 where seq = 2`);
    await tamper(sql`update audit_log set seq = 2 where seq = 4`);
    await tamper(sql`update audit_log set seq = 4 where seq = -2`);
    expect(await services.audit.verify()).toMatchObject({ ok: false, firstBadSeq: 2 });
  });

  it('keeps verifying after a subject is erased, while their details no longer open', async () => {
    await services.vault.destroy('user:1');
    expect(await services.audit.verify()).toMatchObject({ ok: true, count: 5 });
    const entries = await services.audit.list();
    expect(entries.find((entry) => entry.seq === 2)?.details).toBe('erased');
    expect(entries.find((entry) => entry.seq === 3)?.details).toEqual({ email: 'person2@example.com' });
  });

  it('never forks under concurrent appends', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => services.audit.append({ actor: 'system', action: `burst.${i}` })),
    );
    expect(await services.audit.verify()).toMatchObject({ ok: true, count: 25 });
  });
});
