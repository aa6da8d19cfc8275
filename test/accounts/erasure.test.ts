import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServices, type Services } from '../../src/app.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { createLogger } from '../../src/log.js';
import { type OpenDatabase, openDatabase } from '../../src/store/database.js';
import { signUpAndLogIn } from '../helpers/accounts.js';
import { testDatabaseKind } from '../helpers/database.js';
import { testConfig } from '../helpers/services.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';

/**
 * "Deleting a customer's key erases them everywhere": after `DELETE /v1/me`, a copy of the database opened
 * with the service's own master key still cannot open anything that was sealed for that person.
 */
describe('erasure', () => {
  const masterKey = randomBytes(32).toString('base64');
  let http: TestHttp;

  beforeAll(async () => {
    http = await buildTestHttp({ services: { keyProvider: new EnvKeyProvider(masterKey) } });
  });
  afterAll(async () => {
    await http.close();
  });

  /** A copy as a backup or a leaked dump would be: PGlite's data directory, or the PostgreSQL schema as it is. */
  async function copyOfDatabase(): Promise<OpenDatabase> {
    const dump = await http.services.database.dumpDataDir?.();
    if (dump) return openDatabase({ kind: 'pglite', dataDir: null }, { loadDataDir: dump });
    // On PostgreSQL, a new connection with no caches reads exactly what a dump would hold.
    return openDatabase({ kind: 'postgres', url: http.services.database.url as string });
  }

  it(`leaves nothing of the person readable, even with the master key (${testDatabaseKind})`, async () => {
    const user = await signUpAndLogIn(http, { name: 'Erased Person' });
    const { db } = http.services.database;
    const subject = `user:${user.id}`;
    // What an earlier leak of the rows (without their keys) would have given someone.
    const leakedUser = await db
      .selectFrom('users')
      .select(['name', 'email'])
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    const leakedSession = await db
      .selectFrom('sessions')
      .select(['id', 'ip'])
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();

    const deleted = await http.app.inject({
      method: 'DELETE',
      url: '/v1/me',
      headers: { authorization: `Bearer ${user.accessToken}` },
      payload: { password: user.password },
    });
    expect(deleted.statusCode).toBe(204);

    const database = await copyOfDatabase();
    let copy: Services | undefined;
    try {
      copy = await buildServices(testConfig(), {
        database,
        keyProvider: new EnvKeyProvider(masterKey),
        logger: createLogger('silent'),
        migrate: false,
      });
      const opened = copy.sealer;
      await expect(
        opened.openString(subject, { table: 'users', column: 'name', rowId: user.id }, leakedUser.name),
      ).rejects.toMatchObject({ name: 'SealedFieldError', reason: 'erased' });
      await expect(
        opened.openString(
          subject,
          { table: 'sessions', column: 'ip', rowId: leakedSession.id },
          leakedSession.ip as Buffer,
        ),
      ).rejects.toMatchObject({ name: 'SealedFieldError' });

      // What the copy still holds about the person: audit entries, whose details are now unreadable.
      const sealedForThem = await copy.database.db
        .selectFrom('audit_log')
        .select('seq')
        .where('details_subject', '=', subject)
        .execute();
      expect(sealedForThem.length).toBeGreaterThan(0);
      const seqs = new Set(sealedForThem.map((row) => row.seq));
      const entries = (await copy.audit.list({ limit: 500 })).filter((entry) => seqs.has(entry.seq));
      expect(entries.map((entry) => entry.details)).toEqual(entries.map(() => 'erased'));
      expect((await copy.audit.verify()).ok).toBe(true);
    } finally {
      await (copy ? copy.close() : database.close());
    }
  });
});
