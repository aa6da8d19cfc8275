import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SealedFieldError } from '../../src/crypto/errors.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const name = { table: 'users', column: 'name', rowId: 'u' };

describe('key vault', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(() => services.close());

  it('keeps one data key per subject, stored only wrapped', async () => {
    const first = await services.vault.currentKey('user:one');
    const again = await services.vault.currentKey('user:one');
    const other = await services.vault.currentKey('home:one');
    expect(first.key.equals(again.key)).toBe(true);
    expect(first.key.equals(other.key)).toBe(false);
    const rows = await services.database.db
      .selectFrom('key_vault')
      .selectAll()
      .where('subject', '=', 'user:one')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.wrapped_dek?.includes(first.key)).toBe(false);
  });

  it('gives concurrent first uses of a subject the same key', async () => {
    const fresh = new KeyVault({ db: services.database.db, keyring: services.keyring });
    const keys = await Promise.all(Array.from({ length: 8 }, () => fresh.currentKey('user:racing')));
    for (const { key } of keys) expect(key.equals(keys[0]?.key as Buffer)).toBe(true);
  });

  it('a destroyed subject no longer opens, even through a vault with a cold cache; others are untouched', async () => {
    const erased = await services.sealer.sealString('user:erase-me', name, 'Erin Example');
    const kept = await services.sealer.sealString('user:keep-me', name, 'Kim Example');
    await expect(services.vault.destroy('user:erase-me')).resolves.toEqual({ keysDestroyed: 1 });

    const error = await services.sealer.open('user:erase-me', name, erased).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SealedFieldError);
    expect((error as SealedFieldError).reason).toBe('erased');
    // A second node (its own cache) and a copy of the database both see only the tombstone.
    const otherNode = new KeyVault({ db: services.database.db, keyring: services.keyring });
    await expect(otherNode.keyFor('user:erase-me', 1)).rejects.toThrow(/erased/);
    const row = await services.database.db
      .selectFrom('key_vault')
      .selectAll()
      .where('subject', '=', 'user:erase-me')
      .executeTakeFirstOrThrow();
    expect(row.wrapped_dek).toBeNull();
    expect(row.destroyed_at).toBeInstanceOf(Date);

    expect(await services.sealer.openString('user:keep-me', name, kept)).toBe('Kim Example');
  });

  it('does not silently give an erased subject a new key', async () => {
    await services.vault.destroy('user:gone');
    await expect(services.sealer.sealString('user:gone', name, 'x')).rejects.toThrow(/erased/);
  });

  it('refuses to destroy the system keys and malformed subjects', async () => {
    await expect(services.vault.destroy('system:blind-index')).rejects.toThrow(/cannot be destroyed/);
    await expect(services.vault.currentKey('no spaces allowed')).rejects.toThrow(/kind:id/);
  });
});
