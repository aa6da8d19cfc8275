import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonCanonicalIdError } from '../../src/crypto/errors.js';
import { canonicalId, hasOnlyCanonicalIds } from '../../src/schema/ids.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

/** A value sealed under `home:<ID in upper case>` would never open under the home's real id. */
describe('sealing under non-canonical ids', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await buildTestServices();
  });
  afterAll(() => services.close());

  const keyRows = (subject: string) =>
    services.database.db.selectFrom('key_vault').select('subject').where('subject', '=', subject).execute();

  it('refuses an upper- or mixed-case row id or subject before any key or value is written', async () => {
    const homeId = randomUUID();
    const rowId = randomUUID();
    const field = (id: string) => ({ table: 'homes', column: 'name', rowId: id });
    const attempts = [
      () => services.sealer.sealString(`home:${homeId.toUpperCase()}`, field(rowId), 'Cottage'),
      () => services.sealer.sealString(`home:${homeId}`, field(rowId.toUpperCase()), 'Cottage'),
      // Mixed case, one letter off.
      () => services.sealer.sealString('home:0190a6F1-7c3e-7d2a-9b1c-2f4e5d6a7b8c', field(rowId), 'x'),
      () =>
        services.sealer.sealJsonMany(`home:${homeId}`, [
          { field: field(rowId), value: 1 },
          { field: field('0190a6f1-7c3e-7d2a-9b1c-2f4e5d6a7B8c'), value: 2 },
        ]),
    ];
    for (const attempt of attempts) await expect(attempt()).rejects.toBeInstanceOf(NonCanonicalIdError);
    // Nothing reached the key vault: not the upper-case subject, not even the lower-case one.
    expect(await keyRows(`home:${homeId.toUpperCase()}`)).toEqual([]);
    expect(await keyRows(`home:${homeId}`)).toEqual([]);
  });

  it('never creates a data key for a non-canonical subject', async () => {
    const subject = `user:${randomUUID().toUpperCase()}`;
    await expect(services.vault.currentKey(subject)).rejects.toBeInstanceOf(NonCanonicalIdError);
    expect(await keyRows(subject)).toEqual([]);
  });

  it('erases a subject under every spelling it can name: keys earlier versions made for the upper case go too', async () => {
    /** A key stored the way the vault stored it before it refused such subjects. */
    const strayKey = async (subject: string) => {
      const { kekVersion, wrapped } = await services.keyring.wrap(randomBytes(32), {
        subject,
        dekVersion: 1,
      });
      await services.database.db
        .insertInto('key_vault')
        .values({ subject, dek_version: 1, kek_version: kekVersion, wrapped_dek: wrapped })
        .execute();
    };
    const live = async (subject: string) =>
      (
        await services.database.db
          .selectFrom('key_vault')
          .select('wrapped_dek')
          .where('subject', '=', subject)
          .executeTakeFirst()
      )?.wrapped_dek !== null;
    for (const given of ['lower', 'upper'] as const) {
      const homeId = randomUUID();
      const [canonical, upper] = [`home:${homeId}`, `home:${homeId.toUpperCase()}`];
      await services.vault.currentKey(canonical);
      await strayKey(upper);
      const { keysDestroyed } = await services.vault.destroy(given === 'lower' ? canonical : upper);
      expect(keysDestroyed).toBe(2);
      expect([await live(canonical), await live(upper)]).toEqual([false, false]);
      await expect(services.vault.currentKey(canonical)).rejects.toThrow(/erased/);
    }
  });

  it('still seals ids that are not UUIDs, and lower-case UUIDs', async () => {
    const homeId = randomUUID();
    const field = { table: 'homes', column: 'name', rowId: homeId };
    const sealed = await services.sealer.sealString(`home:${homeId}`, field, 'Cottage');
    expect(await services.sealer.openString(`home:${homeId}`, field, sealed)).toBe('Cottage');
    const system = { table: 'audit_log', column: 'details', rowId: 'ABC-not-a-uuid' };
    await expect(services.sealer.sealString('system:audit', system, 'x')).resolves.toBeInstanceOf(Buffer);
  });

  it('canonicalises UUIDs in any case and refuses everything else', () => {
    const id = randomUUID();
    expect(canonicalId(id.toUpperCase())).toBe(id);
    expect(canonicalId(` ${id} `)).toBe(id);
    expect(canonicalId(`{${id}}`)).toBeUndefined();
    expect(canonicalId(id.replaceAll('-', ''))).toBeUndefined();
    expect(canonicalId('ada@example.com')).toBeUndefined();
    expect(hasOnlyCanonicalIds(`home:${id}`)).toBe(true);
    expect(hasOnlyCanonicalIds(`home:${id.toUpperCase()}`)).toBe(false);
    expect(hasOnlyCanonicalIds('SN-ABCDEF')).toBe(true);
  });
});
