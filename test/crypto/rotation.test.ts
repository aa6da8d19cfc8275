import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { BlindIndex, normalise } from '../../src/crypto/blind-index.js';
import { KekRegistry } from '../../src/crypto/kek-registry.js';
import { EnvKeyProvider, FileKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { rotateKeys } from '../../src/crypto/rotation.js';
import { Sealer } from '../../src/crypto/sealer.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const field = (rowId: string) => ({ table: 'users', column: 'name', rowId });

async function kekVersionsInUse(services: TestServices) {
  const rows = await services.database.db
    .selectFrom('key_vault')
    .select('kek_version')
    .distinct()
    .where('wrapped_dek', 'is not', null)
    .execute();
  return rows.map((row) => row.kek_version).sort();
}

describe('KEK rotation', () => {
  let dir: string;
  let services: TestServices;
  let provider: FileKeyProvider;
  const sealed = new Map<string, Buffer>();
  let emailIndexBefore: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hearth-rotate-'));
    provider = new FileKeyProvider(path.join(dir, 'master.key'));
    services = await buildTestServices({ keyProvider: provider });
    emailIndexBefore = services.blindIndex.compute('users', 'email', 'a@example.com', normalise.email);
    await services.audit.append({ actor: 'system', action: 'test.before-rotation', details: { note: 'x' } });
    for (let i = 0; i < 120; i++) {
      const subject = `user:${i}`;
      sealed.set(subject, await services.sealer.sealString(subject, field(subject), `Person ${i}`));
    }
  });
  afterAll(async () => {
    await services.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A node that starts now: a fresh keyring and vault, nothing cached. */
  function freshSealer() {
    return new Sealer(
      new KeyVault({
        db: services.database.db,
        keyring: new Keyring(new FileKeyProvider(path.join(dir, 'master.key'))),
      }),
    );
  }

  async function expectAllOpen(sealer: Sealer) {
    for (const [subject, value] of sealed) {
      expect(await sealer.openString(subject, field(subject), value)).toBe(`Person ${subject.slice(5)}`);
    }
  }

  it('re-wraps every data key under a new KEK and retires the old one, keeping its key material', async () => {
    const progress: number[] = [];
    const report = await rotateKeys(services.database.db, services.keyring, {
      batchSize: 25,
      onProgress: (p) => {
        progress.push(p.remaining);
      },
    });
    // 120 users plus the system's blind-index and audit roots.
    expect(report).toMatchObject({
      createdVersion: 2,
      currentVersion: 2,
      rewrapped: 122,
      retiredVersions: [1],
      versionsInUse: [],
    });
    expect(progress.at(-1)).toBe(0);
    expect(await kekVersionsInUse(services)).toEqual([2]);
    // Retired in the database, its key kept for backups taken before (retention destroys it later).
    expect(await new KekRegistry(services.database.db).retired()).toEqual([1]);
    expect(await provider.load()).toMatchObject({ current: 2, destroyed: [] });
    expect([...(await provider.load()).keys.keys()]).toEqual([1, 2]);
    await expectAllOpen(freshSealer());
  });

  it('finishes an interrupted rotation when run again, without skipping or creating another KEK', async () => {
    let batches = 0;
    const crash = rotateKeys(services.database.db, services.keyring, {
      batchSize: 20,
      onProgress: () => {
        batches += 1;
        if (batches === 3) throw new Error('simulated crash');
      },
    });
    await expect(crash).rejects.toThrow('simulated crash');
    // Half-way: some keys on v3, some still on v2, and every value still opens.
    expect(await kekVersionsInUse(services)).toEqual([2, 3]);
    await expectAllOpen(freshSealer());

    const report = await rotateKeys(
      services.database.db,
      new Keyring(new FileKeyProvider(path.join(dir, 'master.key'))),
      {
        batchSize: 20,
      },
    );
    expect(report.createdVersion).toBeUndefined();
    expect(report.currentVersion).toBe(3);
    expect(report.retiredVersions).toEqual([2]);
    expect(await kekVersionsInUse(services)).toEqual([3]);
    await expectAllOpen(freshSealer());
  });

  it('leaves blind indexes and the audit chain valid, since their roots are re-wrapped, not replaced', async () => {
    const vault = new KeyVault({ db: services.database.db, keyring: new Keyring(provider) });
    const restarted = await BlindIndex.create(vault);
    expect(restarted.compute('users', 'email', 'a@example.com', normalise.email)).toEqual(emailIndexBefore);
    const audit = await AuditLog.create({ db: services.database.db, vault, sealer: new Sealer(vault) });
    await audit.append({ actor: 'system', action: 'test.after-rotation' });
    expect(await audit.verify()).toMatchObject({ ok: true, count: 2 });
  });

  it('finishes a rotation killed after its last batch by retiring, without creating another KEK', async () => {
    const crash = rotateKeys(services.database.db, services.keyring, {
      onProgress: ({ remaining }) => {
        if (remaining === 0) throw new Error('simulated crash before retiring');
      },
    });
    await expect(crash).rejects.toThrow('simulated crash before retiring');
    const current = (await provider.load()).current;
    expect(await kekVersionsInUse(services)).toEqual([current]);

    const report = await rotateKeys(services.database.db, services.keyring);
    expect(report).toMatchObject({ currentVersion: current, rewrapped: 0, retiredVersions: [current - 1] });
    expect(report.createdVersion).toBeUndefined();
    expect(await new KekRegistry(services.database.db).retired()).toEqual(
      Array.from({ length: current - 1 }, (_, i) => i + 1),
    );
    await expectAllOpen(freshSealer());
  });

  it('keeps sealing and opening while a rotation runs', async () => {
    const rotation = rotateKeys(services.database.db, services.keyring, { batchSize: 10 });
    const during = await services.sealer.sealString('user:during', field('user:during'), 'Dana');
    await rotation;
    sealed.set('user:during', during);
    expect(await freshSealer().openString('user:during', field('user:during'), during)).toBe('Dana');
  });

  it('never strands a key written by a node that missed the rotation', async () => {
    // Node B loaded its keys before the rotation and has already written with the then-current KEK.
    const nodeB = new KeyVault({
      db: services.database.db,
      keyring: new Keyring(new FileKeyProvider(path.join(dir, 'master.key'))),
    });
    await nodeB.currentKey('user:b-before');
    const before = (await provider.load()).current;

    // While the rotation finishes, node B writes one more key with the old KEK: that version stays in use.
    let wroteLate = false;
    const report = await rotateKeys(services.database.db, services.keyring, {
      batchSize: 50,
      onProgress: async ({ remaining }) => {
        if (remaining === 0 && !wroteLate) {
          wroteLate = true;
          await nodeB.currentKey('user:b-late');
        }
      },
    });
    expect(report.versionsInUse).toEqual([before]);
    expect(report.retiredVersions).toEqual([]);
    expect((await provider.load()).keys.has(before)).toBe(true);

    // The next run re-wraps the late key and retires the old version; node B then learns the new KEK.
    const finish = await rotateKeys(services.database.db, services.keyring);
    expect(finish).toMatchObject({ rewrapped: 1, retiredVersions: [before], versionsInUse: [] });
    const late = await nodeB.currentKey('user:b-after');
    const fresh = new KeyVault({ db: services.database.db, keyring: new Keyring(provider) });
    for (const subject of ['user:b-before', 'user:b-late', 'user:b-after']) {
      expect(await fresh.keyFor(subject, 1)).toHaveLength(32);
    }
    expect(late.key).toEqual(await fresh.keyFor('user:b-after', 1));
    expect(await kekVersionsInUse(services)).toEqual([before + 1]);
  });

  it('with HEARTH_MASTER_KEY, asks the operator for a new version instead of inventing one', async () => {
    const envServices = await buildTestServices({
      keyProvider: new EnvKeyProvider(Buffer.alloc(32, 7).toString('base64')),
    });
    try {
      await envServices.vault.currentKey('user:x');
      await expect(rotateKeys(envServices.database.db, envServices.keyring)).rejects.toThrow(
        /already wrapped by KEK version 1; to rotate, add a new version to HEARTH_MASTER_KEY/,
      );
      const next = new Keyring(
        new EnvKeyProvider(
          `1:${Buffer.alloc(32, 7).toString('base64')},2:${Buffer.alloc(32, 8).toString('base64')}`,
        ),
      );
      const report = await rotateKeys(envServices.database.db, next);
      // Version 1 is retired in the database; the operator may now drop it from HEARTH_MASTER_KEY.
      expect(report).toMatchObject({ currentVersion: 2, rewrapped: 3, retiredVersions: [1] });
      // A node still configured with only version 1 can no longer write keys with it.
      await expect(envServices.vault.currentKey('user:stale-node')).rejects.toThrow(
        "KEK version 1 was retired; this node's key provider is out of date",
      );
      expect(
        await new KeyVault({ db: envServices.database.db, keyring: next }).keyFor('user:x', 1),
      ).toHaveLength(32);
    } finally {
      await envServices.close();
    }
  });
});
