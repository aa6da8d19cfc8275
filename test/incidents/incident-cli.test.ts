import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServices, type Services } from '../../src/app.js';
import { FileKeyProvider } from '../../src/crypto/key-provider.js';
import { createLogger } from '../../src/log.js';
import { openDatabase } from '../../src/store/database.js';
import {
  cleanUp,
  createEmptySchema,
  errorLines,
  freePort,
  hearth,
  makeTempDir,
  seedPgliteDataDir,
  spawnHearth,
} from '../cli/harness.js';
import { createUser, TEST_PASSWORD } from '../helpers/accounts.js';
import { testDatabaseKind } from '../helpers/database.js';
import { createTestOperator, totpCode } from '../helpers/operators.js';
import { testConfig } from '../helpers/services.js';

const PEOPLE = 30;

const declaration = [
  '--title',
  'Backup bucket readable',
  '--description',
  'A nightly backup was readable from the internet for three days.',
  '--from',
  '2026-01-01T00:00:00Z',
  '--to',
  '2099-01-01T00:00:00Z',
  '--store',
  'backups',
];

/** Bad input to `hearth incident` is refused before anything runs, with the flag named. */
describe.runIf(testDatabaseKind === 'pglite')('hearth incident: bad input', () => {
  afterAll(cleanUp);

  it('names an unknown category, a backwards window and a missing scope, and exits 2', async () => {
    const env = { HEARTH_DATA_DIR: await makeTempDir('incident-usage') };
    const unknown = await hearth(
      ['incident', 'declare', ...declaration, '--category', 'name,shoe-size', '--everyone'],
      env,
    );
    expect(unknown.code).toBe(2);
    expect(errorLines(unknown)[0]).toMatch(/Unknown data category shoe-size; choose from name, email/);

    const backwards = await hearth(
      [
        'incident',
        'drill',
        ...declaration.slice(0, 4),
        '--from',
        '2026-03-02T00:00:00Z',
        '--to',
        '2026-03-01T00:00:00Z',
        '--store',
        'logs',
        '--category',
        'email',
        '--everyone',
      ],
      env,
    );
    expect(backwards.code).toBe(2);
    expect(errorLines(backwards)).toEqual([
      'hearth: Invalid value for --to: the exposure window ends before it starts',
    ]);

    const noScope = await hearth(['incident', 'declare', ...declaration, '--category', 'email'], env);
    expect(noScope.code).toBe(2);
    expect(errorLines(noScope)[0]).toMatch(/Give exactly one scope/);

    const help = await hearth(['incident', 'respond', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--rotate-device-credentials');
  });

  it('refuses dates outside 1900–9999 and a NUL in the list file, naming the flag, and exits 2', async () => {
    const dir = await makeTempDir('incident-dates');
    const env = { HEARTH_DATA_DIR: dir };
    const base = declaration.slice(0, 4);
    const window = ['--from', '2026-01-01T00:00:00Z', '--to', '2026-02-01T00:00:00Z'];
    const rest = ['--store', 'backups', '--category', 'email'];
    const range = 'must lie between 1900-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z';
    const form =
      'must be an ISO 8601 date and time with Z or an offset (such as 2026-11-03T14:00:00Z) or a date';
    const cases: Array<[string[], string]> = [
      [
        [...base, '--from', '-010000-01-01', '--to', '2026-02-01T00:00:00Z', ...rest, '--everyone'],
        `--from: ${form}`,
      ],
      [
        [...base, '--from', '0000-01-01T00:00:00Z', '--to', '2026-02-01T00:00:00Z', ...rest, '--everyone'],
        `--from: ${range}`,
      ],
      [
        [...base, '--from', '2026-01-01T00:00:00Z', '--to', '+275760-09-13T00:00:00Z', ...rest, '--everyone'],
        `--to: ${form}`,
      ],
      [
        [...base, ...window, '--detected-at', '0000-01-01T00:00:00Z', ...rest, '--everyone'],
        `--detected-at: ${range}`,
      ],
      [
        [...base, ...window, ...rest, '--created-before', '+275760-09-13T00:00:00Z'],
        `--created-before: ${form}`,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await hearth(['incident', 'declare', ...args], env);
      expect(result.code, result.stderr).toBe(2);
      expect(errorLines(result)).toEqual([`hearth: Invalid value for ${message}`]);
    }
    const listFile = path.join(dir, 'people.txt');
    await writeFile(listFile, 'ada@example.test\nbob\u0000@example.test\n');
    const nul = await hearth(
      ['incident', 'drill', ...base, ...window, ...rest, '--list-file', listFile],
      env,
    );
    expect(nul.code, nul.stderr).toBe(2);
    expect(errorLines(nul)).toEqual([
      'hearth: Invalid value for --list-file: line 2 contains a NUL character',
    ]);
  });
});

/**
 * On PostgreSQL the CLI works on the database directly. A notify run killed with SIGKILL part-way and run
 * again mails every affected person exactly once.
 */
describe.runIf(testDatabaseKind === 'postgres')('hearth incident notify killed part-way (PostgreSQL)', () => {
  let services: Services;
  let env: Record<string, string>;
  let dropSchema: () => Promise<void>;
  let incidentId: string;

  beforeAll(async () => {
    const dir = await makeTempDir('incident-kill');
    const keyFile = path.join(dir, 'keys', 'master.key');
    const schema = await createEmptySchema();
    dropSchema = schema.drop;
    env = { HEARTH_DATA_DIR: dir, HEARTH_KEY_FILE: keyFile, DATABASE_URL: schema.url };
    const database = await openDatabase({ kind: 'postgres', url: schema.url });
    services = await buildServices(testConfig({ HEARTH_DATA_DIR: dir }), {
      database,
      keyProvider: new FileKeyProvider(keyFile),
      logger: createLogger('silent'),
    });
    for (let i = 0; i < PEOPLE; i++) await createUser(services, { name: `Person ${i}` });
    const responder = await createTestOperator(services, 'responder');
    env.HEARTH_OPERATOR_TOKEN = responder.token;
    const incident = await services.incidents.declare(
      {
        title: 'Backup bucket readable',
        description: 'A nightly backup was readable from the internet for three days.',
        detectedAt: new Date(),
        windowFrom: new Date(Date.now() - 3_600_000),
        windowTo: new Date(Date.now() + 3_600_000),
        stores: ['backups'],
        categories: ['name', 'email'],
        scope: { kind: 'everyone' },
      },
      responder.principal,
    );
    incidentId = incident.id;
    await services.incidents.resolve(incidentId, responder.principal);
  });
  afterAll(async () => {
    await cleanUp();
    await services?.close();
    await dropSchema?.();
  });

  const notices = async () =>
    services.database.db
      .selectFrom('mail_outbox')
      .select('idempotency_key')
      .where('template', '=', 'incident-notice')
      .execute();

  it('mails each person exactly once after a kill -9 and a re-run', async () => {
    const unknown = await hearth(['incident', 'show', crypto.randomUUID()], env);
    expect(unknown.code).toBe(2);
    expect(errorLines(unknown)).toEqual(['hearth: There is no incident with that id.']);

    const first = spawnHearth(['incident', 'notify', incidentId, '--rate', '5'], env);
    const deadline = Date.now() + 30_000;
    while ((await notices()).length < 3 && Date.now() < deadline) await sleep(20);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const halfway = (await notices()).length;
    expect(halfway).toBeGreaterThan(0);
    expect(halfway).toBeLessThan(PEOPLE);

    const second = await hearth(['incident', 'notify', incidentId, '--rate', '1000', '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    // Not a terminal, so the progress bar arrives as lines; the last one says all are handed over.
    expect(second.stderr).toMatch(new RegExp(`^notices \\[#{30}\\] 100% \\d+/\\d+$`, 'm'));
    expect(JSON.parse(second.stdout)).toMatchObject({ ok: true, notices: { pending: 0, queued: PEOPLE } });

    const keys = (await notices()).map((row) => row.idempotency_key);
    expect(keys).toHaveLength(PEOPLE);
    const people = new Set(keys.map((key) => key.split(':')[2]));
    expect(people.size).toBe(PEOPLE);

    const incidentsBefore = await services.database.db.selectFrom('incidents').select('id').execute();
    const drill = await hearth(
      ['incident', 'drill', ...declaration, '--category', 'name,email,body-metrics', '--everyone', '--json'],
      env,
    );
    expect(drill.code, drill.stderr).toBe(0);
    expect(JSON.parse(drill.stdout)).toMatchObject({
      ok: true,
      affected: PEOPLE,
      categoryCounts: { name: PEOPLE, email: PEOPLE, 'body-metrics': 0 },
    });
    expect(await services.database.db.selectFrom('incidents').select('id').execute()).toEqual(
      incidentsBefore,
    );

    const report = await hearth(['incident', 'report', incidentId, '--format', 'markdown'], env);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain('72');
  });
});

/**
 * With the embedded database, `hearth incident` runs inside a running `hearth serve` over its control socket,
 * progress included.
 */
describe.runIf(testDatabaseKind === 'pglite')('hearth incident beside a running service (PGlite)', () => {
  let env: Record<string, string>;

  beforeAll(async () => {
    const dataDir = await makeTempDir('incident-serve');
    await seedPgliteDataDir(dataDir);
    env = { HEARTH_DATA_DIR: dataDir, PORT: String(await freePort()) };
  });
  afterAll(cleanUp);

  it('declares, resolves, responds and notifies through the service', async () => {
    const service = spawnHearth(['serve'], env);
    await service.waitFor('stdout', /^Hearth listening on/m);
    const signUp = await fetch(`http://127.0.0.1:${env.PORT}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.test', password: TEST_PASSWORD, name: 'Ada' }),
    });
    expect(signUp.status).toBeLessThan(300);

    const added = await hearth(
      ['operators', 'add', '--email', 'ops@example.test', '--role', 'admin', '--json'],
      env,
    );
    expect(added.code, added.stderr).toBe(0);
    const operator = JSON.parse(added.stdout) as { password: string; totpSecret: string };
    const login = await hearth(
      [
        'operators',
        'login',
        '--email',
        'ops@example.test',
        '--code',
        totpCode(operator.totpSecret),
        '--json',
      ],
      { ...env, HEARTH_OPERATOR_PASSWORD: operator.password },
    );
    expect(login.code, login.stderr).toBe(0);
    const session = { ...env, HEARTH_OPERATOR_TOKEN: (JSON.parse(login.stdout) as { token: string }).token };

    const declared = await hearth(
      ['incident', 'declare', ...declaration, '--category', 'name,email', '--everyone', '--json'],
      session,
    );
    expect(declared.code, declared.stderr).toBe(0);
    expect(declared.stderr).toMatch(/via the running service/);
    const id = (JSON.parse(declared.stdout) as { incident: { id: string } }).incident.id;

    const resolved = await hearth(['incident', 'resolve', id], session);
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(resolved.stdout).toMatch(/^Affected: 1 people$/m);

    const responded = await hearth(['incident', 'respond', id, '--end-sessions', '--force-reset'], session);
    expect(responded.code, responded.stderr).toBe(0);
    expect(responded.stderr).toMatch(/^end-sessions \[#{30}\] 100% 1\/1$/m);
    expect(responded.stdout).toMatch(/^force-reset\s+done\s+1\/1$/m);

    const notified = await hearth(['incident', 'notify', id], session);
    expect(notified.code, notified.stderr).toBe(0);
    const shown = await hearth(['incident', 'show', id, '--json'], session);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      incident: { status: 'notifying', affectedCount: 1 },
      notices: { pending: 0 },
    });
  });
});
