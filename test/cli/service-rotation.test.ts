import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import {
  cleanUp,
  errorLines,
  freePort,
  hearth,
  makeTempDir,
  seedPgliteDataDir,
  seedWrappedKeys,
  spawnHearth,
  withPglite,
} from './harness.js';

/** With one key per batch inside the service, a few thousand keys keep the rotation going for seconds. */
const SEEDED_KEYS = 5_000;

/**
 * A long rotation inside the service (PGlite) must neither freeze the service nor hold up its shutdown:
 * SIGTERM stops it between batches, the CLI is told to run it again, and running it again finishes it.
 */
describe.runIf(testDatabaseKind === 'pglite')('hearth keys rotate inside a stopping service (PGlite)', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await makeTempDir('service-rotation');
    await seedPgliteDataDir(dataDir, async (db) => {
      await seedWrappedKeys(db, path.join(dataDir, 'master.key'), SEEDED_KEYS);
    });
    env = { HEARTH_DATA_DIR: dataDir, PORT: String(await freePort()) };
  });
  afterAll(cleanUp);

  it('answers HTTP during the rotation, stops it on SIGTERM, and a second run finishes it', async () => {
    const service = spawnHearth(['serve'], env);
    await service.waitFor('stdout', /^Hearth listening on /);

    const rotate = spawnHearth(['keys', 'rotate', '--batch-size', '1'], env);
    await rotate.waitFor('stderr', /^Re-wrapping data keys: /m);
    const started = Date.now();
    const health = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
    expect(health.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);

    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
    const stopped = await rotate.exited;
    expect(stopped.code).toBe(130);
    expect(errorLines(stopped).at(-1)).toMatch(
      /^hearth: Key rotation stopped part-way .*run "hearth keys rotate" again to finish$/,
    );

    const again = await hearth(['keys', 'rotate', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/\(opened .* directly; no service is running\)/);
    expect(JSON.parse(again.stdout)).toMatchObject({
      createdVersion: null,
      currentVersion: 2,
      retiredVersions: [1],
    });
    const versions = await withPglite(dataDir, async (db) => {
      const result = await db.query<{ kek_version: number; keys: number }>(
        'select kek_version, count(*)::int as keys from key_vault group by kek_version',
      );
      return result.rows;
    });
    expect(versions).toEqual([{ kek_version: 2, keys: SEEDED_KEYS + 2 }]);
  }, 120_000);
});
