import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysRotate as anyRotate, keysStatus as anyStatus } from '../../src/cli/commands/keys.js';
import { EnvKeyProvider, type KeyProvider } from '../../src/crypto/key-provider.js';
import { testDatabaseKind } from '../helpers/database.js';
import { buildTestServices, type TestServices } from '../helpers/services.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// In this process, as the control socket would run them inside a service.
const keysRotate = anyRotate as Extract<typeof anyRotate, { needs: 'services' }>;
const keysStatus = anyStatus as Extract<typeof anyStatus, { needs: 'services' }>;

/** With HEARTH_MASTER_KEY the operator holds every version: Hearth can only say which to remove, and when. */
describe(`keys rotate and keys status with HEARTH_MASTER_KEY (${testDatabaseKind})`, () => {
  const v1 = randomBytes(32).toString('base64');
  const v2 = randomBytes(32).toString('base64');
  let masterKey = new EnvKeyProvider(`1:${v1}`);
  // What a restart with a new value of HEARTH_MASTER_KEY looks like to the keyring.
  const provider: KeyProvider = { description: 'HEARTH_MASTER_KEY', load: () => masterKey.load() };
  const context = { progress: () => {}, signal: new AbortController().signal };
  let services: TestServices;

  beforeAll(async () => {
    services = await buildTestServices({ keyProvider: provider });
  });
  afterAll(() => services?.close());

  it('keys rotate says from when the previous version may be removed from the variable', async () => {
    masterKey = new EnvKeyProvider(`1:${v1},2:${v2}`);
    const rotated = await keysRotate.run(services, {}, context);
    expect(rotated.text).toMatch(
      /^Finished an interrupted rotation to KEK version 2: re-wrapped 2 data keys\nRetired KEK versions: 1\nKept so that backups taken before their rotation still open \(HEARTH_KEK_RETENTION_DAYS\): version 1 until \S+Z\. Hearth cannot delete keys held in HEARTH_MASTER_KEY: remove each version from it after its date$/,
    );
    expect(rotated.data).toMatchObject({
      destroyedKekVersions: [],
      retiredKeks: [{ version: 1, state: 'kept' }],
    });
  });

  it('keys status says to remove it now once its retention is over, and destroys nothing', async () => {
    await services.database.db
      .updateTable('kek_retired')
      .set({ retired_at: new Date(Date.now() - 30 * DAY_MS - 1000) })
      .where('version', '=', 1)
      .execute();
    const status = await keysStatus.run(services, {}, context);
    expect(status.text.split('\n').slice(2)).toEqual([
      expect.stringMatching(/^Retired KEK versions: 1 \(retention ended \S+Z\)$/),
      'Erased data keys: 0',
      'Remove KEK versions 1 from HEARTH_MASTER_KEY now (Hearth cannot delete keys held in the environment)',
    ]);
    expect(status.data).toMatchObject({
      availableKekVersions: [1, 2],
      destroyedKekVersions: [],
      retiredKeks: [{ version: 1, state: 'remove' }],
    });
    const destroyed = (await services.audit.list()).filter((entry) => entry.action === 'keys.destroy');
    expect(destroyed).toEqual([]);
  });

  it('keys rotate --destroy-previous says to remove every previous version from the variable now', async () => {
    const v3 = randomBytes(32).toString('base64');
    masterKey = new EnvKeyProvider(`1:${v1},2:${v2},3:${v3}`);
    const rotated = await keysRotate.run(services, { destroyPrevious: true }, context);
    expect(rotated.text.split('\n')).toEqual([
      'Finished an interrupted rotation to KEK version 3: re-wrapped 2 data keys',
      'Retired KEK versions: 2',
      'Remove KEK versions 1, 2 from HEARTH_MASTER_KEY now (Hearth cannot delete keys held in the environment)',
    ]);
  });
});
