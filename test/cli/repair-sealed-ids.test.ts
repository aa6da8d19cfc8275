import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repairSealedIdsOperation } from '../../src/cli/commands/repair.js';
import { encrypt } from '../../src/crypto/aead.js';
import { associatedData, type FieldRef } from '../../src/crypto/sealer.js';
import { DEK_BYTES } from '../../src/crypto/vault.js';
import { hardware, pair, recordingBroker } from '../devices/pairing-fixtures.js';
import { testDatabaseKind } from '../helpers/database.js';
import { type Caller, caller, createHome } from '../homes/helpers.js';
import { buildTestHttp, type TestHttp } from '../http/build.js';
import { ADA_PROFILE, createProfile } from '../scale/helpers.js';
import { cleanUp, type HearthResult, hearth, makeTempDir } from './harness.js';

/**
 * Rows sealed the way earlier versions did when a client spelled an id in upper case: under the id as sent
 * (and a data key created for `home:<ID IN UPPER CASE>`). The sealer now refuses that, so the test writes
 * them below it, with the AES-GCM primitive and the key vault table, exactly as the old code left them.
 */
describe(`hearth repair sealed-ids (${testDatabaseKind})`, () => {
  let http: TestHttp;
  let owner: Caller;
  let homeId: string;
  let profileId: string;
  let deviceId: string;
  let invitationId: string;
  const upperKey = randomBytes(DEK_BYTES);

  beforeAll(async () => {
    http = await buildTestHttp({ services: { broker: recordingBroker() } });
    owner = await caller(http);
    homeId = await createHome(http, owner);
    profileId = (await createProfile(http, owner, homeId)).id;
    deviceId = (await pair(http, owner, homeId, hardware('plug'))).deviceId;
    const invited = await http.app.inject({
      method: 'POST',
      url: `/v1/homes/${homeId}/invitations`,
      headers: owner.headers,
      payload: { email: 'someone@example.com', role: 'guest' },
    });
    invitationId = invited.json().id;

    // The key old code created for the upper-case spelling of the home's subject.
    const upperSubject = `home:${homeId.toUpperCase()}`;
    const { kekVersion, wrapped } = await http.services.keyring.wrap(upperKey, {
      subject: upperSubject,
      dekVersion: 1,
    });
    await db()
      .insertInto('key_vault')
      .values({ subject: upperSubject, dek_version: 1, kek_version: kekVersion, wrapped_dek: wrapped })
      .execute();
    const homeKey = await http.services.vault.keyFor(`home:${homeId}`, 1);

    // POST /v1/homes/{ID}/body-profiles: the home's id as sent, the profile's own id generated.
    await db()
      .updateTable('body_profiles')
      .set({
        profile: sealOldWay(upperKey, upperSubject, 'body_profiles', 'profile', profileId, {
          name: 'Ada Renamed',
          heightCm: 170,
          birthDate: '1985-12-10',
          sex: 'female',
        }),
      })
      .where('id', '=', profileId)
      .execute();
    // PATCH /v1/homes/{ID}: both spelled as sent.
    await db()
      .updateTable('homes')
      .set({ name: sealOldWay(upperKey, upperSubject, 'homes', 'name', homeId.toUpperCase(), 'Lighthouse') })
      .where('id', '=', homeId)
      .execute();
    // PATCH /v1/devices/{ID}: the home id came from the database, the device id from the path.
    await db()
      .updateTable('devices')
      .set({
        nickname: sealOldWay(
          homeKey,
          `home:${homeId}`,
          'devices',
          'nickname',
          deviceId.toUpperCase(),
          'Kettle',
        ),
      })
      .where('id', '=', deviceId)
      .execute();
    // A spelling no repair can guess (mixed case): reported, left alone.
    let letters = 0;
    const mixed = invitationId.replace(/[a-f]/g, (letter) => (letters++ % 2 ? letter.toUpperCase() : letter));
    await db()
      .updateTable('home_invitations')
      .set({
        email: sealOldWay(homeKey, `home:${homeId}`, 'home_invitations', 'email', mixed, 'x@example.com'),
      })
      .where('id', '=', invitationId)
      .execute();
  });
  afterAll(async () => {
    await cleanUp();
    await http?.close();
  });

  const db = () => http.services.database.db;
  const get = (url: string) => http.app.inject({ method: 'GET', url, headers: owner.headers });
  // In this process, as the control socket would run it inside a service.
  const operation = repairSealedIdsOperation as Extract<
    typeof repairSealedIdsOperation,
    { needs: 'services' }
  >;
  const run = (args: { dryRun?: boolean }) =>
    operation.run(http.services, args, {
      progress: () => {},
      signal: new AbortController().signal,
    });
  const counts = (data: Record<string, unknown>, table: string, column: string) =>
    (data.columns as { table: string; column: string }[]).find(
      (entry) => entry.table === table && entry.column === column,
    );

  it('lists the unreadable rows without writing on a dry run', async () => {
    expect((await get(`/v1/body-profiles/${profileId}`)).statusCode).toBe(500);
    const outcome = await run({ dryRun: true });
    expect(outcome.ok).toBe(false);
    expect(outcome.data.totals).toMatchObject({ repaired: 3, unrecoverable: 1, erased: 0 });
    expect(counts(outcome.data, 'body_profiles', 'profile')).toMatchObject({ repaired: 1, unrecoverable: 0 });
    expect(counts(outcome.data, 'home_invitations', 'email')).toMatchObject({
      repaired: 0,
      unrecoverable: 1,
    });
    expect(outcome.data.nonCanonicalKeys).toBe(1);
    expect(outcome.text).toContain('3 to repair (dry run, nothing written)');
    expect((await get(`/v1/body-profiles/${profileId}`)).statusCode).toBe(500);
  });

  it('seals them again under the canonical ids, so the API reads them', async () => {
    const outcome = await run({});
    expect(outcome.data.totals).toMatchObject({ repaired: 3, unrecoverable: 1 });
    expect(outcome.text).toMatch(/body_profiles\.profile\s+1 repaired, 0 unreadable and not recoverable/);

    const profile = await get(`/v1/body-profiles/${profileId}`);
    expect(profile.statusCode, profile.body).toBe(200);
    expect(profile.json()).toMatchObject({ name: 'Ada Renamed', heightCm: 170 });
    expect((await get(`/v1/homes/${homeId}/body-profiles`)).statusCode).toBe(200);
    const home = await get(`/v1/homes/${homeId}`);
    expect(home.statusCode, home.body).toBe(200);
    expect(home.json()).toMatchObject({ name: 'Lighthouse', timeZone: 'Europe/Lisbon' });
    const device = await get(`/v1/devices/${deviceId}`);
    expect(device.statusCode, device.body).toBe(200);
    expect(device.json()).toMatchObject({ nickname: 'Kettle' });
    const exported = await get('/v1/me/export');
    expect(exported.statusCode, exported.body).toBe(200);
    expect(exported.body).toContain('Ada Renamed');

    const again = await run({});
    expect(again.data.totals).toMatchObject({ repaired: 0, unrecoverable: 1 });
  });

  it('runs as a hearth command, with --dry-run and --json', async () => {
    // A fresh data directory: the command migrates it on opening, then finds nothing to repair.
    const env = { HEARTH_DATA_DIR: await makeTempDir('repair') };
    const result: HearthResult = await hearth(['repair', 'sealed-ids', '--dry-run', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      dryRun: true,
      totals: { repaired: 0, unrecoverable: 0, erased: 0 },
    });
  }, 90_000);
});

/** What the sealer did before it refused non-canonical ids: header, IV, ciphertext and tag. */
function sealOldWay(
  key: Buffer,
  subject: string,
  table: string,
  column: string,
  rowId: string,
  value: unknown,
): Buffer {
  const field: FieldRef = { table, column, rowId };
  const header = Buffer.from([1, 0, 0, 0, 1]);
  const plaintext = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  return encrypt(key, plaintext, associatedData(subject, field), header);
}
