import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  cleanUp,
  createEmptySchema,
  freePort,
  makeTempDir,
  spawnHearth,
  withPostgres,
} from '../cli/harness.js';
import { waitUntil } from '../helpers/cluster.js';
import { testDatabaseKind } from '../helpers/database.js';

describe.runIf(testDatabaseKind === 'postgres')('hearth serve on PostgreSQL', () => {
  let dropSchema: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  it('listens for other nodes’ signals on a connection of its own, and closes it when stopped', async () => {
    const schema = await createEmptySchema();
    dropSchema = schema.drop;
    const listening = () =>
      withPostgres(inject('postgresUrl'), async (client) => {
        const { rows } = await client.query<{ application_name: string }>(
          `select application_name from pg_stat_activity
           where application_name like 'hearth-signals %' and query like $1`,
          [`listen "hearth:${schema.schema}:%`],
        );
        return rows.map((row) => row.application_name);
      });
    const run = spawnHearth(['serve'], {
      HEARTH_DATA_DIR: await makeTempDir('serve-signals'),
      HEARTH_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      DATABASE_URL: schema.url,
      PORT: String(await freePort()),
    });
    await run.waitFor('stdout', /^Hearth listening on/m);

    expect(await listening()).toEqual([expect.stringMatching(/^hearth-signals [0-9a-f]{12}$/)]);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    // The server ends the session a moment after the client says goodbye.
    await waitUntil(async () => (await listening()).length === 0, 2_000);
  });
});
