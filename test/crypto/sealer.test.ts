import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SealedFieldError } from '../../src/crypto/errors.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { associatedData, describeSealed, Sealer } from '../../src/crypto/sealer.js';
import { KeyVault } from '../../src/crypto/vault.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const nickname = { table: 'devices', column: 'nickname', rowId: 'd-1' };

describe('sealer', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(() => services.close());

  it('opens what it sealed, and the stored bytes do not contain the value', async () => {
    const sealed = await services.sealer.sealString('user:alice', nickname, 'Baby monitor');
    expect(sealed.includes(Buffer.from('Baby monitor'))).toBe(false);
    expect(await services.sealer.openString('user:alice', nickname, sealed)).toBe('Baby monitor');
  });

  it('writes a self-describing format with a fresh IV each time', async () => {
    const a = await services.sealer.sealString('user:alice', nickname, 'same');
    const b = await services.sealer.sealString('user:alice', nickname, 'same');
    expect(describeSealed(a)).toEqual({ formatVersion: 1, dekVersion: 1 });
    expect(a.equals(b)).toBe(false);
    expect(a.length).toBe(5 + 12 + 4 + 16);
  });

  it('round-trips numbers and JSON', async () => {
    const weight = { table: 'scale_readings', column: 'weight', rowId: 'r-1' };
    expect(
      await services.sealer.openNumber(
        'user:bob',
        weight,
        await services.sealer.sealNumber('user:bob', weight, 81.4),
      ),
    ).toBe(81.4);
    const details = { table: 'events', column: 'details', rowId: 'e-1' };
    const value = { ssid: 'Home-5G', rssi: -61, tags: ['a'] };
    expect(
      await services.sealer.openJson(
        'user:bob',
        details,
        await services.sealer.sealJson('user:bob', details, value),
      ),
    ).toEqual(value);
  });

  it('seals many values of one subject at once, each bound to its own row', async () => {
    const rows = ['e-1', 'e-2', 'e-3'].map((rowId) => ({ table: 'device_events', column: 'details', rowId }));
    const sealed = await services.sealer.sealJsonMany(
      'home:h-1',
      rows.map((field, i) => ({ field, value: { zone: `Zone ${i}` } })),
    );
    expect(sealed).toHaveLength(3);
    for (const [i, field] of rows.entries()) {
      expect(await services.sealer.openJson('home:h-1', field, sealed[i] as Buffer)).toEqual({
        zone: `Zone ${i}`,
      });
    }
    await expect(
      services.sealer.openJson('home:h-1', rows[1] as (typeof rows)[number], sealed[0] as Buffer),
    ).rejects.toThrow(SealedFieldError);
    await expect(
      services.sealer.openJson('home:h-2', rows[0] as (typeof rows)[number], sealed[0] as Buffer),
    ).rejects.toThrow(SealedFieldError);
  });

  it('refuses a tampered ciphertext', async () => {
    const sealed = await services.sealer.sealString('user:alice', nickname, 'Front door');
    for (const index of [sealed.length - 1, 20, 8]) {
      const tampered = Buffer.from(sealed);
      tampered[index] = (tampered[index] as number) ^ 0x01;
      await expect(services.sealer.open('user:alice', nickname, tampered)).rejects.toThrow(
        /does not open: it was altered/,
      );
    }
  });

  it('refuses a ciphertext moved to another row, column or table', async () => {
    const sealed = await services.sealer.sealString('user:alice', nickname, 'Front door');
    for (const elsewhere of [
      { ...nickname, rowId: 'd-2' },
      { ...nickname, column: 'room' },
      { ...nickname, table: 'homes' },
    ]) {
      const error = await services.sealer.open('user:alice', elsewhere, sealed).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SealedFieldError);
      expect((error as SealedFieldError).reason).toBe('unauthentic');
    }
  });

  it('refuses to open under another subject or with another master key', async () => {
    const sealed = await services.sealer.sealString('user:alice', nickname, 'Front door');
    await services.sealer.sealString('user:mallory', nickname, 'x');
    await expect(services.sealer.open('user:mallory', nickname, sealed)).rejects.toThrow(SealedFieldError);

    // Same database, a different KEK: the stored data keys do not unwrap.
    const otherKeyring = new Keyring(new EnvKeyProvider(randomBytes(32).toString('base64')));
    const otherSealer = new Sealer(new KeyVault({ db: services.database.db, keyring: otherKeyring }));
    await expect(otherSealer.open('user:alice', nickname, sealed)).rejects.toThrow(
      /does not unwrap under KEK version 1/,
    );
  });

  it('refuses bytes that are not a sealed value', async () => {
    await expect(services.sealer.open('user:alice', nickname, Buffer.from('plain text'))).rejects.toThrow(
      /known format/,
    );
    const wrongVersion = await services.sealer.sealString('user:alice', nickname, 'x');
    wrongVersion[0] = 9;
    await expect(services.sealer.open('user:alice', nickname, wrongVersion)).rejects.toThrow(/known format/);
  });

  it('binds a value to its place with the same bytes as ever, whatever the names contain', () => {
    // Values sealed before are opened with this text: it must stay JSON.stringify of the same array.
    for (const [table, column, rowId, subject] of [
      ['users', 'email', '0b0e7c1a-55b4-4d3c-9f5e-2b8f1d3c4e5a', 'user:0b0e7c1a-55b4-4d3c-9f5e-2b8f1d3c4e5a'],
      ['t"able', 'col\\umn', 'row\u0000"id', 'subject with "quotes" and ünïcode'],
      ['users', 'email', 'other', 'home:1'],
    ] as const) {
      expect(associatedData(subject, { table, column, rowId }).toString('utf8')).toBe(
        JSON.stringify(['hearth-field', 1, table, column, rowId, subject]),
      );
    }
  });
});
