import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServices } from '../../src/app.js';
import { EnvKeyProvider } from '../../src/crypto/key-provider.js';
import { createLogger } from '../../src/log.js';
import { openDatabase } from '../../src/store/database.js';
import { cleanUp, errorLines, hearth, makeTempDir, seedPgliteDataDir } from '../cli/harness.js';
import { createUser } from '../helpers/accounts.js';
import { testDatabaseKind } from '../helpers/database.js';
import { createTestOperator } from '../helpers/operators.js';
import { testConfig } from '../helpers/services.js';

/** `hearth incident resolve` explains a 0-people answer, and `hearth incident amend` corrects the window. */
describe.runIf(testDatabaseKind === 'pglite')('hearth incident amend', () => {
  let env: Record<string, string>;
  let incidentId: string;
  const earlyEnd = '2026-01-01T00:00:00.000Z';

  beforeAll(async () => {
    const dataDir = await makeTempDir('incident-amend');
    await seedPgliteDataDir(dataDir);
    const masterKey = Buffer.alloc(32, 5).toString('base64');
    const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pgdata') });
    const services = await buildServices(testConfig({ HEARTH_DATA_DIR: dataDir }), {
      database,
      keyProvider: new EnvKeyProvider(masterKey),
      logger: createLogger('silent'),
      migrate: false,
    });
    try {
      await createUser(services);
      await createUser(services);
      const responder = await createTestOperator(services, 'responder');
      const incident = await services.incidents.declare(
        {
          title: 'Backup bucket readable',
          description: 'A nightly backup was readable from the internet for three days.',
          detectedAt: new Date(),
          windowFrom: new Date('2025-12-01T00:00:00Z'),
          windowTo: new Date(earlyEnd),
          stores: ['backups'],
          categories: ['name', 'email'],
          scope: { kind: 'everyone' },
        },
        responder.principal,
      );
      incidentId = incident.id;
      env = {
        HEARTH_DATA_DIR: dataDir,
        HEARTH_MASTER_KEY: masterKey,
        HEARTH_OPERATOR_TOKEN: responder.token,
      };
    } finally {
      // Closes the database too, so the CLI can take the data directory.
      await services.close();
    }
  });
  afterAll(cleanUp);

  it('warns on stderr at resolve, amends the window, and refuses once actions ran', async () => {
    const early = await hearth(['incident', 'resolve', incidentId], env);
    expect(early.code, early.stderr).toBe(0);
    expect(early.stdout).toMatch(/^Affected: 0 people$/m);
    expect(errorLines(early)).toEqual([
      `Warning: 2 customer accounts were created after the exposure window ended (${earlyEnd}) and cannot be affected by it; if the window should end later, correct it with "hearth incident amend ${incidentId} --to <date-time>" (PATCH /v1/admin/incidents/${incidentId}) and resolve again.`,
    ]);

    const nothing = await hearth(['incident', 'amend', incidentId], env);
    expect(nothing.code).toBe(2);
    expect(errorLines(nothing)).toEqual([
      'hearth: Name at least one thing to change, e.g. --to <date-time> (see --help)',
    ]);
    const backwards = await hearth(['incident', 'amend', incidentId, '--to', '2025-11-01T00:00:00Z'], env);
    expect(backwards.code).toBe(2);
    expect(errorLines(backwards)).toEqual([
      'hearth: Invalid amendment of windowTo: the exposure window ends before it starts.',
    ]);

    const windowTo = new Date(Date.now() + 3_600_000).toISOString();
    const amended = await hearth(['incident', 'amend', incidentId, '--to', windowTo], env);
    expect(amended.code, amended.stderr).toBe(0);
    expect(amended.stdout).toContain(`exposed 2025-12-01T00:00:00.000Z to ${windowTo}`);
    expect(amended.stdout).toContain('affected: not resolved yet ("hearth incident resolve")');

    const resolved = await hearth(['incident', 'resolve', incidentId], env);
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(resolved.stdout).toMatch(/^Affected: 2 people$/m);
    expect(errorLines(resolved)).toEqual([]);

    const respond = await hearth(['incident', 'respond', incidentId, '--end-sessions'], env);
    expect(respond.code, respond.stderr).toBe(0);
    const refused = await hearth(['incident', 'amend', incidentId, '--title', 'Renamed'], env);
    expect(refused.code).toBe(1);
    expect(errorLines(refused)).toEqual([
      'hearth: Response actions (end-sessions) already ran on this snapshot, so the incident can no longer be amended; declare a new incident for what it missed.',
    ]);

    const shown = await hearth(['incident', 'show', incidentId], env);
    expect(shown.stdout).toMatch(
      /Incident amended: windowTo; the resolved affected set was discarded, resolve again/,
    );
    // Nine commands, each opening the embedded database afresh.
  }, 180_000);
});
