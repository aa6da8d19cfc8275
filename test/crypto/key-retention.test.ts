import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Selectable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvKeyProvider, FileKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { rotateKeys } from '../../src/crypto/rotation.js';
import { Sealer } from '../../src/crypto/sealer.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { KeyRetention, MAINTENANCE_ACTOR } from '../../src/key-retention.js';
import type { Db } from '../../src/store/database.js';
import type { KekVersionsTable, KeyVaultTable } from '../../src/store/types.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createTestOperator } from '../helpers/operators.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const field = { table: 'users', column: 'name', rowId: 'user:ada' };

/** What a backup of the key tables holds: the wrapped data keys, as they were when it was taken. */
interface Backup {
  kekVersions: Selectable<KekVersionsTable>[];
  keyVault: Selectable<KeyVaultTable>[];
}

async function takeBackup(db: Db): Promise<Backup> {
  return {
    kekVersions: await db.selectFrom('kek_versions').selectAll().execute(),
    keyVault: await db.selectFrom('key_vault').selectAll().execute(),
  };
}

async function retiredAt(db: Db, version: number): Promise<Date> {
  const row = await db
    .selectFrom('kek_retired')
    .select('retired_at')
    .where('version', '=', version)
    .executeTakeFirstOrThrow();
  return new Date(row.retired_at);
}

describe('KEK retention', () => {
  let dir: string;
  let keyFile: string;
  let services: TestServices;
  let restored: TestDatabase;
  let sealedName: Buffer;

  /** A node reading the restored backup with the host's key file as it is now, nothing cached. */
  function backupOpener() {
    return new Sealer(new KeyVault({ db: restored.db, keyring: new Keyring(new FileKeyProvider(keyFile)) }));
  }

  function retention(clock: () => Date) {
    return new KeyRetention({
      db: services.database.db,
      keyring: services.keyring,
      audit: services.audit,
      retentionDays: 30,
      clock,
    });
  }

  async function lastAudit() {
    const [entry] = await services.audit.list({ limit: 1 });
    return { actor: entry?.actor, action: entry?.action, target: entry?.target, details: entry?.details };
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-retention-'));
    keyFile = path.join(dir, 'master.key');
    services = await buildTestServices({ keyProvider: new FileKeyProvider(keyFile) });
    sealedName = await services.sealer.sealString('user:ada', field, 'Ada Lovelace');
    // The backup is taken before any rotation and restored into a database of its own.
    const backup = await takeBackup(services.database.db);
    restored = await openTestDatabase();
    await restored.db.insertInto('kek_versions').values(backup.kekVersions).execute();
    await restored.db.insertInto('key_vault').values(backup.keyVault).execute();
  });
  afterAll(async () => {
    await restored?.close();
    await services?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the previous KEK after a rotation, so a backup taken before still opens until its retention ends', async () => {
    const report = await rotateKeys(services.database.db, services.keyring);
    expect(report).toMatchObject({ createdVersion: 2, retiredVersions: [1] });
    expect(await backupOpener().openString('user:ada', field, sealedName)).toBe('Ada Lovelace');

    const retired = await retiredAt(services.database.db, 1);
    const destroyAt = new Date(retired.getTime() + 30 * DAY_MS);
    const beforeEnd = await retention(() => new Date(destroyAt.getTime() - 1000)).enforce('host:test@h');
    expect(beforeEnd).toEqual({
      destroyed: [],
      retired: [{ version: 1, retiredAt: retired, destroyAt, state: 'kept' }],
    });
    expect([...(await new FileKeyProvider(keyFile).load()).keys.keys()]).toEqual([1, 2]);
    expect(await backupOpener().openString('user:ada', field, sealedName)).toBe('Ada Lovelace');
  });

  it('destroys it once the retention has passed and audits it; the earlier backup then no longer opens', async () => {
    const retired = await retiredAt(services.database.db, 1);
    const destroyAt = new Date(retired.getTime() + 30 * DAY_MS);
    const report = await retention(() => destroyAt).enforce('operator:0b5c');
    expect(report).toEqual({
      destroyed: [1],
      retired: [{ version: 1, retiredAt: retired, destroyAt, state: 'destroyed' }],
    });
    expect(await lastAudit()).toEqual({
      actor: 'operator:0b5c',
      action: 'keys.destroy',
      target: 'kek:1',
      details: { version: 1, retiredAt: retired.toISOString(), reason: 'retention-ended', retentionDays: 30 },
    });
    expect(await new FileKeyProvider(keyFile).load()).toMatchObject({ current: 2, destroyed: [1] });
    await expect(backupOpener().openString('user:ada', field, sealedName)).rejects.toThrow(
      'KEK version 1 was destroyed; keys wrapped by it can no longer be opened',
    );
    // The live database was re-wrapped: it opens as before.
    const live = new Sealer(
      new KeyVault({ db: services.database.db, keyring: new Keyring(new FileKeyProvider(keyFile)) }),
    );
    expect(await live.openString('user:ada', field, sealedName)).toBe('Ada Lovelace');

    // Running again destroys and audits nothing twice.
    const auditedBefore = (await services.audit.list({ limit: 1 }))[0]?.seq;
    expect((await retention(() => destroyAt).enforce('operator:0b5c')).destroyed).toEqual([]);
    expect((await services.audit.list({ limit: 1 }))[0]?.seq).toBe(auditedBefore);
  });

  it('destroys every previous version at once when asked, whatever is left of its retention', async () => {
    expect(await rotateKeys(services.database.db, services.keyring)).toMatchObject({
      createdVersion: 3,
      retiredVersions: [2],
    });
    const report = await retention(() => new Date()).enforce('host:test@h', { immediately: true });
    expect(report.destroyed).toEqual([2]);
    expect(report.retired.map((kek) => [kek.version, kek.state])).toEqual([
      [1, 'destroyed'],
      [2, 'destroyed'],
    ]);
    expect(await lastAudit()).toMatchObject({
      actor: 'host:test@h',
      action: 'keys.destroy',
      target: 'kek:2',
      details: { version: 2, reason: 'destroyed-at-once' },
    });
    expect([...(await new FileKeyProvider(keyFile).load()).keys.keys()]).toEqual([3]);
  });

  it('the maintenance job destroys a version whose retention (HEARTH_KEK_RETENTION_DAYS) has ended', async () => {
    await rotateKeys(services.database.db, services.keyring);
    expect([...(await new FileKeyProvider(keyFile).load()).keys.keys()]).toEqual([3, 4]);
    await services.maintenance.runOnce();
    expect([...(await new FileKeyProvider(keyFile).load()).keys.keys()]).toEqual([3, 4]);

    // Retired 30 days ago, as the database records it: the default retention is over.
    await services.database.db
      .updateTable('kek_retired')
      .set({ retired_at: new Date(Date.now() - 30 * DAY_MS - 1000) })
      .where('version', '=', 3)
      .execute();
    await services.maintenance.runOnce();
    expect([...(await new FileKeyProvider(keyFile).load()).keys.keys()]).toEqual([4]);
    expect(await lastAudit()).toMatchObject({
      actor: MAINTENANCE_ACTOR,
      action: 'keys.destroy',
      target: 'kek:3',
      details: { version: 3, reason: 'retention-ended', retentionDays: 30 },
    });
  });

  it("an incident's rotate-kek destroys the previous KEK versions at once, audited under the operator", async () => {
    const admin = await createTestOperator(services, 'admin');
    const incident = await services.incidents.declare(
      {
        title: 'Key file copied',
        description: 'The key file was in a directory synchronised to a shared drive.',
        detectedAt: new Date(),
        windowFrom: new Date(Date.now() - 3_600_000),
        windowTo: new Date(),
        stores: ['backups'],
        categories: ['name'],
        scope: { kind: 'everyone' },
      },
      admin.principal,
    );
    await services.incidents.resolve(incident.id, admin.principal);
    await services.incidents.respond(incident.id, [{ action: 'rotate-kek' }], admin.principal);

    expect([...(await new FileKeyProvider(keyFile).load()).keys.keys()]).toEqual([5]);
    const destroyed = (await services.audit.list({ limit: 20 })).filter(
      (entry) => entry.action === 'keys.destroy' && entry.target === 'kek:4',
    );
    expect(destroyed).toEqual([
      expect.objectContaining({
        actor: admin.principal.actor,
        details: expect.objectContaining({ version: 4, reason: 'destroyed-at-once' }),
      }),
    ]);
  });

  it('with HEARTH_MASTER_KEY, destroys nothing itself and names the versions to remove and from when', async () => {
    const v1 = randomBytes(32).toString('base64');
    const v2 = randomBytes(32).toString('base64');
    const envServices = await buildTestServices({ keyProvider: new EnvKeyProvider(v1) });
    try {
      const next = new Keyring(new EnvKeyProvider(`1:${v1},2:${v2}`));
      await rotateKeys(envServices.database.db, next);
      const retired = await retiredAt(envServices.database.db, 1);
      const destroyAt = new Date(retired.getTime() + 30 * DAY_MS);
      const envRetention = (clock: () => Date) =>
        new KeyRetention({
          db: envServices.database.db,
          keyring: next,
          audit: envServices.audit,
          retentionDays: 30,
          clock,
        });
      const auditedBefore = (await envServices.audit.list({ limit: 1 }))[0]?.seq;

      expect(await envRetention(() => retired).enforce('host:test@h')).toEqual({
        destroyed: [],
        retired: [{ version: 1, retiredAt: retired, destroyAt, state: 'kept' }],
      });
      expect(await envRetention(() => destroyAt).enforce('host:test@h')).toEqual({
        destroyed: [],
        retired: [{ version: 1, retiredAt: retired, destroyAt, state: 'remove' }],
      });
      expect(
        (await envRetention(() => retired).enforce('host:test@h', { immediately: true })).retired[0]?.state,
      ).toBe('remove');
      expect((await envServices.audit.list({ limit: 1 }))[0]?.seq).toBe(auditedBefore);
    } finally {
      await envServices.close();
    }
  });
});
