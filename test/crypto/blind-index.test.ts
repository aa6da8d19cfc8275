import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindIndex, normalise } from '../../src/crypto/blind-index.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

describe('blind index', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(() => services.close());

  it('is equal for e-mails that are equal after normalisation', () => {
    const index = (value: string) => services.blindIndex.compute('users', 'email', value, normalise.email);
    const reference = index('alice@example.com');
    for (const variant of ['  Alice@Example.COM ', 'ALICE@EXAMPLE.COM', 'ａｌｉｃｅ@example.com']) {
      expect(index(variant).equals(reference)).toBe(true);
    }
    expect(index('alice@example.org').equals(reference)).toBe(false);
    expect(reference).toHaveLength(32);
  });

  it('differs across columns and tables for the same value', () => {
    const a = services.blindIndex.compute('users', 'email', 'x@example.com', normalise.email);
    const b = services.blindIndex.compute('invitations', 'email', 'x@example.com', normalise.email);
    const c = services.blindIndex.compute('users', 'recovery_email', 'x@example.com', normalise.email);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(c)).toBe(false);
  });

  it('normalises MAC addresses and serials', () => {
    const mac = (value: string) => services.blindIndex.compute('devices', 'mac', value, normalise.mac);
    expect(mac('AA:BB:CC:00:11:22').equals(mac('aa-bb-cc-00-11-22'))).toBe(true);
    expect(mac('aabb.cc00.1122').equals(mac('AABBCC001122'))).toBe(true);
    const serial = (value: string) =>
      services.blindIndex.compute('devices', 'serial', value, normalise.identifier);
    expect(serial(' sn-123x ').equals(serial('SN-123X'))).toBe(true);
  });

  it('is keyed: another installation (another KEK) computes other indexes, and it survives a restart', async () => {
    const value = 'alice@example.com';
    const mine = services.blindIndex.compute('users', 'email', value, normalise.email);
    const restarted = await BlindIndex.create(
      new KeyVault({ db: services.database.db, keyring: services.keyring }),
    );
    expect(restarted.compute('users', 'email', value, normalise.email).equals(mine)).toBe(true);

    const elsewhere = await buildTestServices({
      keyProvider: new EnvKeyProvider(randomBytes(32).toString('hex')),
    });
    try {
      expect(elsewhere.blindIndex.compute('users', 'email', value, normalise.email).equals(mine)).toBe(false);
    } finally {
      await elsewhere.close();
    }
  });
});
