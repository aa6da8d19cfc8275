import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encrypt } from '../../src/crypto/aead.js';
import { associatedData } from '../../src/crypto/sealer.js';
import { freePort } from '../cli/harness.js';
import { recordingBroker } from '../devices/pairing-fixtures.js';
import { createUser } from '../helpers/accounts.js';
import { testDatabaseKind } from '../helpers/database.js';
import { createTestOperator, type TestOperator } from '../helpers/operators.js';
import { caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

interface Report {
  ok: boolean;
  checks: { id: string; findings: { id: string; severity: string; evidence: string; fix: string }[] }[];
  counts: Record<string, number>;
}

/** GET /v1/admin/doctor on the real services: what the checks find in this deployment's own database. */
describe('GET /v1/admin/doctor', () => {
  let http: TestHttp;
  let operator: TestOperator;

  beforeAll(async () => {
    // Nothing listens on the configured MQTT port: the broker check says so (info) and touches no other broker.
    http = await buildTestHttp({
      services: { broker: recordingBroker(), env: { MQTT_PORT: String(await freePort()) } },
    });
    operator = await createTestOperator(http.services, 'viewer');
  });
  afterAll(() => http?.close());

  const db = () => http.services.database.db;

  async function doctor(): Promise<Report> {
    const response = await http.app.inject({
      method: 'GET',
      url: '/v1/admin/doctor',
      headers: operator.headers,
    });
    expect(response.statusCode).toBe(200);
    return response.json() as Report;
  }

  function findingsOf(report: Report, check: string) {
    return (report.checks.find((candidate) => candidate.id === check)?.findings ?? []).map(
      (finding) => `${finding.id}:${finding.severity}`,
    );
  }

  it('needs an operator session', async () => {
    const response = await http.app.inject({ method: 'GET', url: '/v1/admin/doctor' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });

  it('answers the whole report, quiet on a healthy loopback deployment, and audits the run', async () => {
    // HEAD is no way to run it: no answer, so no walk of the database and no audit entry.
    const head = await http.app.inject({
      method: 'HEAD',
      url: '/v1/admin/doctor',
      headers: operator.headers,
    });
    expect(head.statusCode).toBe(405);
    const report = await doctor();
    expect(report.ok).toBe(true);
    // The suite's PostgreSQL accepts trust connections on loopback: a real finding, medium.
    const trust = testDatabaseKind === 'postgres' ? ['database.no-password:medium'] : [];
    expect(report.counts).toEqual({ high: 0, medium: trust.length, low: 0, info: 1 });
    for (const check of report.checks.filter((candidate) => !['mqtt', 'database'].includes(candidate.id))) {
      expect(check.findings, check.id).toEqual([]);
    }
    expect(findingsOf(report, 'database')).toEqual(trust);
    expect(findingsOf(report, 'mqtt')).toEqual(['mqtt.unreachable:info']);
    const audited = await db()
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('action', '=', 'doctor.run')
      .execute();
    expect(audited).toEqual([{ actor: operator.principal.actor, action: 'doctor.run' }]);
  });

  it('finds plaintext in a sealed column, naming the column and never the value', async () => {
    const user = await createUser(http.services, { email: 'plain.ada@example.com' });
    const sealed = await db()
      .selectFrom('users')
      .select('email')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    await db()
      .updateTable('users')
      .set({ email: Buffer.from('plain.ada@example.com') })
      .where('id', '=', user.id)
      .execute();
    try {
      const report = await doctor();
      expect(report.ok).toBe(false);
      expect(findingsOf(report, 'sealed-columns')).toEqual(['sealed-columns.not-sealed:high']);
      expect(JSON.stringify(report)).not.toContain('plain.ada');
    } finally {
      await db().updateTable('users').set({ email: sealed.email }).where('id', '=', user.id).execute();
    }
    expect(findingsOf(await doctor(), 'sealed-columns')).toEqual([]);
  });

  it('lists values sealed under an upper-case id, pointing at hearth repair sealed-ids', async () => {
    const owner = await caller(http);
    const homeId = await createHome(http, owner);
    const homeKey = await http.services.vault.keyFor(`home:${homeId}`, 1);
    const subject = `home:${homeId}`;
    const field = { table: 'homes', column: 'name', rowId: homeId.toUpperCase() };
    await db()
      .updateTable('homes')
      .set({
        name: encrypt(
          homeKey,
          Buffer.from('Lighthouse'),
          associatedData(subject, field),
          Buffer.from([1, 0, 0, 0, 1]),
        ),
      })
      .where('id', '=', homeId)
      .execute();
    const report = await doctor();
    const found = report.checks.find((check) => check.id === 'sealed-ids')?.findings;
    expect(found?.map((finding) => finding.id)).toEqual(['sealed-ids.repairable']);
    expect(found?.[0]?.evidence).toBe('1 values: homes.name 1');
    expect(found?.[0]?.fix).toContain('hearth repair sealed-ids');
  });

  it('reports pending migrations, without applying them', async () => {
    const { rows } = await sql<{ name: string; timestamp: string }>`
      select name, timestamp from kysely_migration where name = '0007-incidents'`.execute(db());
    await sql`delete from kysely_migration where name = '0007-incidents'`.execute(db());
    try {
      expect(findingsOf(await doctor(), 'migrations')).toEqual(['migrations.pending:medium']);
      const still = await sql`select 1 from kysely_migration where name = '0007-incidents'`.execute(db());
      expect(still.rows).toEqual([]);
    } finally {
      await sql`insert into kysely_migration (name, timestamp) values (${rows[0]?.name}, ${rows[0]?.timestamp})`.execute(
        db(),
      );
    }
  });

  it('reports a current KEK older than HEARTH_KEK_MAX_AGE_DAYS (default 365)', async () => {
    const { current } = await http.services.keyring.load();
    await sql`update kek_versions set registered_at = now() - interval '400 days' where version = ${current}`.execute(
      db(),
    );
    expect(findingsOf(await doctor(), 'kek-age')).toEqual(['kek-age.too-old:medium']);
    await sql`update kek_versions set registered_at = now() where version = ${current}`.execute(db());
    expect(findingsOf(await doctor(), 'kek-age')).toEqual([]);
  });

  it('reports erasures this node’s journal lacks: made through a node with a journal of its own', async () => {
    // Erased here: journalled here, so nothing to report.
    await http.services.vault.destroy(`user:${randomUUID()}`);
    expect(findingsOf(await doctor(), 'erasure-journal')).toEqual([]);

    // Erased through another node, whose journal is its own file: the vault knows, this journal does not.
    const elsewhere = `user:${randomUUID()}`;
    await db()
      .insertInto('key_vault')
      .values({
        subject: elsewhere,
        dek_version: 1,
        kek_version: null,
        wrapped_dek: null,
        destroyed_at: new Date(),
      })
      .execute();
    try {
      const report = await doctor();
      expect(findingsOf(report, 'erasure-journal')).toEqual(['erasure-journal.incomplete:high']);
      expect(report.ok).toBe(false);
    } finally {
      await db().deleteFrom('key_vault').where('subject', '=', elsewhere).execute();
    }
  });

  it('reports a broken audit chain', async () => {
    await sql`alter table audit_log disable trigger audit_log_append_only`.execute(db());
    await sql`update audit_log set action = 'tampered' where seq = (select min(seq) from audit_log)`.execute(
      db(),
    );
    await sql`alter table audit_log enable trigger audit_log_append_only`.execute(db());
    const report = await doctor();
    expect(findingsOf(report, 'audit-chain')).toEqual(['audit-chain.broken:high']);
    expect(report.ok).toBe(false);
  });
});
