import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from '../helpers/database.js';
import {
  cleanUp,
  createEmptySchema,
  errorLines,
  type HearthResult,
  hearth,
  makeTempDir,
  withPglite,
  withPostgres,
} from './harness.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Commands with no service running: each opens the database itself. The embedded database starts from an
 * empty data directory, PostgreSQL from an empty schema, so `migrate` has real work to do.
 */
describe(`hearth commands on a directly opened database (${testDatabaseKind})`, () => {
  let env: Record<string, string>;
  let dataDir: string;
  let dropSchema: (() => Promise<void>) | undefined;
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    dataDir = await makeTempDir('direct');
    env = { HEARTH_DATA_DIR: dataDir };
    if (testDatabaseKind === 'postgres') {
      const schema = await createEmptySchema();
      dropSchema = schema.drop;
      databaseUrl = schema.url;
      env.DATABASE_URL = schema.url;
    }
  });
  afterAll(async () => {
    await cleanUp();
    await dropSchema?.();
  });

  const openedDirectly =
    testDatabaseKind === 'pglite'
      ? /\(opened .*\/pgdata directly; no service is running\)/
      : /\(opened the PostgreSQL database 127\.0\.0\.1:5432\/test directly\)/;

  function json(result: HearthResult) {
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  /** Reads and edits the database behind the CLI's back, as someone with database access could. */
  async function runSql(statements: string[]): Promise<unknown[][]> {
    const results: unknown[][] = [];
    if (testDatabaseKind === 'pglite') {
      await withPglite(dataDir, async (db) => {
        for (const statement of statements) results.push((await db.query(statement)).rows);
      });
    } else {
      await withPostgres(databaseUrl as string, async (client) => {
        for (const statement of statements) results.push((await client.query(statement)).rows);
      });
    }
    return results;
  }

  it('migrate creates the schema, and a second run finds nothing to do', async () => {
    const first = await hearth(['migrate'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Applied \d+ migrations: 0001-foundation(, \d{4}-[a-z-]+)+\n$/);
    expect(first.stderr).toMatch(openedDirectly);

    expect(json(await hearth(['migrate', '--json'], env))).toEqual({ ok: true, applied: [] });
  });

  it('keys status shows the first KEK version and the system data keys', async () => {
    const result = await hearth(['keys', 'status', '--json'], env);
    expect(result.stderr).toMatch(openedDirectly);
    expect(json(result)).toMatchObject({
      ok: true,
      currentKekVersion: 1,
      availableKekVersions: [1],
      retiredKekVersions: [],
      // The audit chain's and the blind index's root keys.
      dataKeysByKekVersion: { '1': 2 },
      erasedDataKeys: 0,
    });
  });

  it('keys rotate moves every data key to a new KEK and retires the old one, saying how long it is kept', async () => {
    const started = Date.now();
    const result = await hearth(['keys', 'rotate'], env);
    expect(result.code, result.stderr).toBe(0);
    const match = result.stdout.match(
      /^Created KEK version 2 and re-wrapped 2 data keys under it\nRetired KEK versions: 1\nKept so that backups taken before their rotation still open \(HEARTH_KEK_RETENTION_DAYS\): version 1 until (\S+Z); then destroyed\. To destroy them now: hearth keys rotate --destroy-previous\n$/,
    );
    expect(match, result.stdout).not.toBeNull();
    // The default retention is 30 days from the rotation.
    const keptUntil = new Date(match?.[1] as string).getTime();
    expect(keptUntil).toBeGreaterThanOrEqual(started + 30 * DAY_MS - 5_000);
    expect(keptUntil).toBeLessThanOrEqual(Date.now() + 30 * DAY_MS + 5_000);
  });

  it('audit verify passes on an intact chain, then fails with exit 1 naming an entry edited in the database', async () => {
    expect((await hearth(['keys', 'rotate'], env)).code).toBe(0);
    const intact = await hearth(['audit', 'verify'], env);
    expect(intact.code, intact.stderr).toBe(0);
    // One entry per rotation.
    expect(intact.stdout).toBe('OK: 2 entries verified, the audit chain is intact\n');

    const [entries] = await runSql([
      'select actor, action from audit_log order by seq',
      'alter table audit_log disable trigger audit_log_append_only',
      `update audit_log set actor = 'operator:someone-else' where seq = 2`,
      'alter table audit_log enable trigger audit_log_append_only',
    ]);
    expect(entries).toEqual([
      { actor: `host:${os.userInfo().username}@${os.hostname()}`, action: 'keys.rotate' },
      { actor: `host:${os.userInfo().username}@${os.hostname()}`, action: 'keys.rotate' },
    ]);

    const tampered = await hearth(['audit', 'verify'], env);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toBe('');
    expect(errorLines(tampered)).toEqual([
      'FAILED: audit entry 2 does not verify (entry 2 was altered); the 1 entry before it do',
    ]);
  });
  it('keys status lists each retired KEK version with the date it will be destroyed', async () => {
    const result = await hearth(['keys', 'status'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^Current KEK version: 3 \(key file .*master\.key\)\nData keys by KEK version: version 3: 2\nRetired KEK versions: 1 \(kept until \S+Z\), 2 \(kept until \S+Z\)\nErased data keys: 0\nKept so that backups taken before their rotation still open \(HEARTH_KEK_RETENTION_DAYS\): version 1 until \S+Z, version 2 until \S+Z; then destroyed\. To destroy them now: hearth keys rotate --destroy-previous\n$/,
    );
    const data = json(await hearth(['keys', 'status', '--json'], env));
    expect(data).toMatchObject({
      currentKekVersion: 3,
      availableKekVersions: [1, 2, 3],
      retiredKekVersions: [1, 2],
      kekRetentionDays: 30,
      destroyedKekVersions: [],
      retiredKeks: [
        { version: 1, state: 'kept', retiredAt: expect.any(String), destroyAt: expect.any(String) },
        { version: 2, state: 'kept', retiredAt: expect.any(String), destroyAt: expect.any(String) },
      ],
    });
  });

  it('keys status destroys a retired version whose retention has ended, and audits it', async () => {
    // Version 1 was retired 30 days ago, as far as the database knows.
    await runSql([
      `update kek_retired set retired_at = now() - interval '30 days 1 minute' where version = 1`,
    ]);
    const result = await hearth(['keys', 'status', '--json'], env);
    expect(json(result)).toMatchObject({
      availableKekVersions: [2, 3],
      destroyedKekVersions: [1],
      retiredKeks: [
        { version: 1, state: 'destroyed' },
        { version: 2, state: 'kept' },
      ],
    });
    const [entries] = await runSql([
      `select actor, action, target from audit_log where action = 'keys.destroy' order by seq`,
    ]);
    expect(entries).toEqual([
      { actor: `host:${os.userInfo().username}@${os.hostname()}`, action: 'keys.destroy', target: 'kek:1' },
    ]);
  });

  it('keys rotate --destroy-previous destroys every previous KEK version at once, and says so', async () => {
    const result = await hearth(['keys', 'rotate', '--destroy-previous'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      [
        'Created KEK version 4 and re-wrapped 2 data keys under it',
        'Retired KEK versions: 3',
        'Destroyed KEK versions: 2, 3 (backups taken before their rotation can no longer be opened)',
        '',
      ].join('\n'),
    );
    expect(json(await hearth(['keys', 'status', '--json'], env))).toMatchObject({
      availableKekVersions: [4],
      retiredKeks: [
        { version: 1, state: 'destroyed' },
        { version: 2, state: 'destroyed' },
        { version: 3, state: 'destroyed' },
      ],
    });
    const [entries] = await runSql([
      `select action, target from audit_log where action in ('keys.rotate', 'keys.destroy') order by seq desc limit 3`,
    ]);
    expect(entries).toEqual([
      { action: 'keys.destroy', target: 'kek:3' },
      { action: 'keys.destroy', target: 'kek:2' },
      { action: 'keys.rotate', target: null },
    ]);
  });

  it('keys rotate --help says how long the previous KEK is kept and how to destroy it at once', async () => {
    const result = await hearth(['keys', 'rotate', '--help'], env);
    expect(result.code).toBe(0);
    const help = result.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--destroy-previous destroy every previous KEK version once the re-wrap is done');
    expect(help).toContain(
      'their key material is kept for HEARTH_KEK_RETENTION_DAYS (default 30, the backup retention the README recommends)',
    );
    expect(help).toContain('"hearth keys rotate --destroy-previous" destroys every previous version');
    expect(help).toContain('With HEARTH_MASTER_KEY Hearth cannot delete keys itself');
  });
});
