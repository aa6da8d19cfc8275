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

  it('keys rotate moves every data key to a new KEK and retires the old one', async () => {
    const result = await hearth(['keys', 'rotate'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      'Created KEK version 2 and re-wrapped 2 data keys under it\nRetired KEK versions: 1\n',
    );
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
});
