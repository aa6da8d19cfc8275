import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { openTestDatabase, type TestDatabase, testDatabaseKind } from '../helpers/database.js';
import { cleanUp, hearth, makeTempDir, seedWrappedKeys, spawnHearth } from './harness.js';

/** Enough keys that rotating them in batches of 50 takes long enough to be killed in the middle. */
const SEEDED_KEYS = 20_000;

/**
 * With PostgreSQL the CLI works on the database directly, beside any running services. A rotation killed
 * with SIGKILL part-way must leave every data key usable, and running it again must finish the job.
 */
describe.runIf(testDatabaseKind === 'postgres')('hearth keys rotate killed part-way (PostgreSQL)', () => {
  let database: TestDatabase;
  let keyFile: string;
  let env: Record<string, string>;
  let deks: Map<string, Buffer>;

  beforeAll(async () => {
    database = await openTestDatabase();
    const dir = await makeTempDir('resume');
    keyFile = path.join(dir, 'master.key');
    env = { HEARTH_DATA_DIR: dir, HEARTH_KEY_FILE: keyFile, DATABASE_URL: database.url as string };
    deks = await seedWrappedKeys(database.db, keyFile, SEEDED_KEYS);
  });
  afterAll(async () => {
    await cleanUp();
    await database?.close();
  });

  async function keysByKekVersion(): Promise<Record<number, number>> {
    const rows = await database.db
      .selectFrom('key_vault')
      .select(['kek_version', database.db.fn.countAll<number>().as('keys')])
      .where('subject', 'like', 'user:%')
      .groupBy('kek_version')
      .execute();
    return Object.fromEntries(rows.map((row) => [row.kek_version, Number(row.keys)]));
  }

  it('is resumed by running it again: no extra KEK, every data key unwraps, the old KEK retired', async () => {
    const first = spawnHearth(['keys', 'rotate', '--batch-size', '50'], env);
    await first.waitFor('stderr', /^Re-wrapping data keys: \d+ done, \d+ to go$/m);
    // The first progress line comes as the first batch is written; kill once some batches have landed.
    const deadline = Date.now() + 10_000;
    while (!((await keysByKekVersion())[2] ?? 0) && Date.now() < deadline) await sleep(5);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const halfway = await keysByKekVersion();
    // Killed in the middle: some keys moved to version 2, others are still waiting under version 1.
    expect(halfway[1]).toBeGreaterThan(0);
    expect(halfway[2]).toBeGreaterThan(0);
    expect((halfway[1] ?? 0) + (halfway[2] ?? 0)).toBe(SEEDED_KEYS);
    const keyFileHalfway = JSON.parse(await readFile(keyFile, 'utf8'));
    expect(keyFileHalfway.current).toBe(2);

    const second = await hearth(['keys', 'rotate', '--batch-size', '50', '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      ok: true,
      createdVersion: null,
      currentVersion: 2,
      retiredVersions: [1],
      versionsInUse: [],
    });
    expect(await keysByKekVersion()).toEqual({ 2: SEEDED_KEYS });

    const keyFileAfter = JSON.parse(await readFile(keyFile, 'utf8'));
    expect(keyFileAfter.current).toBe(2);
    // Version 1 is retired but kept for HEARTH_KEK_RETENTION_DAYS, for backups taken before the rotation.
    expect(keyFileAfter.keys).toEqual([
      expect.objectContaining({ version: 1, key: expect.any(String) }),
      expect.objectContaining({ version: 2, key: expect.any(String) }),
    ]);
    expect(keyFileAfter.keys[0]).not.toHaveProperty('destroyedAt');

    // A node starting now, with nothing cached, opens every data key under the current KEK.
    const keyring = new Keyring(new FileKeyProvider(keyFile));
    const stored = await database.db
      .selectFrom('key_vault')
      .select(['subject', 'kek_version', 'wrapped_dek'])
      .where('subject', 'like', 'user:%')
      .execute();
    expect(stored).toHaveLength(SEEDED_KEYS);
    for (const row of stored) {
      const context = { subject: row.subject, dekVersion: 1 };
      const dek = await keyring.unwrap(row.wrapped_dek as Buffer, row.kek_version as number, context);
      expect(dek.equals(deks.get(row.subject) as Buffer)).toBe(true);
    }

    // Only the run that finished is in the audit log.
    const entries = await database.db.selectFrom('audit_log').select(['actor', 'action']).execute();
    expect(entries).toEqual([
      { actor: `host:${os.userInfo().username}@${os.hostname()}`, action: 'keys.rotate' },
    ]);
  }, 120_000);
});
